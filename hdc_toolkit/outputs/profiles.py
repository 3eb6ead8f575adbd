"""Risk profiles: the disclosure-control settings a project's permit selects (``risk_profile``).

Three built-in, versioned profiles; the permit names one and every output record copies the profile
it was checked with (name, version, settings and their hash)::

    acro-default  ACRO defaults: counts under 10 fail, zeros disclosive, N-K 2/0.9, p-percent 0.1,
                  residual DoF 10; failing cells are suppressed
    opensafely    counts of 7 or less redacted, the rest rounded to 5; zeros retained; no dominance
    nhs-sde       counts under 10 suppressed, the rest rounded to 5; zeros retained; no dominance

A rule a profile does not use is ``None`` and is not run (the run's metadata lists it). Changing a
setting means a new ``version`` so that earlier records still say what they were checked with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from hdc_toolkit.exceptions import NotFoundError
from hdc_toolkit.outputs import rules

__all__ = [
    "ACRO_DEFAULT",
    "DEFAULT_PROFILE",
    "MITIGATIONS",
    "NHS_SDE",
    "OPENSAFELY",
    "PROFILES",
    "Profile",
    "get_profile",
]

SUPPRESS = "suppress"
ROUND = "round"
MITIGATIONS: tuple[str, ...] = (SUPPRESS, ROUND)


@dataclass(frozen=True)
class Profile:
    """One risk appetite. ``threshold`` is the smallest safe count (a positive count below it fails)."""

    name: str
    version: int
    description: str
    threshold: int
    zeros_disclosive: bool
    nk_n: int | None = None
    nk_k: float | None = None
    p_ratio: float | None = None
    min_dof: int | None = None
    round_base: int | None = None
    mitigation: tuple[str, ...] = (SUPPRESS,)

    def __post_init__(self) -> None:
        unknown = set(self.mitigation) - set(MITIGATIONS)
        if unknown:
            raise ValueError(f"Profile.mitigation: unknown {sorted(unknown)}, expected some of {MITIGATIONS}")
        if ROUND in self.mitigation and not self.round_base:
            raise ValueError(f"Profile {self.name!r}: rounding needs round_base")
        if (self.nk_n is None) != (self.nk_k is None):
            raise ValueError(f"Profile {self.name!r}: set both nk_n and nk_k, or neither")

    @property
    def uses_dominance(self) -> bool:
        return self.nk_n is not None or self.p_ratio is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mitigation"] = list(self.mitigation)
        return d

    @property
    def sha256(self) -> str:
        """Hash of the settings (canonical JSON), copied into every output record."""
        body = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    def rules_not_applied(self) -> list[str]:
        off = {
            rules.RULE_ZERO: not self.zeros_disclosive,
            rules.RULE_NK: self.nk_n is None,
            rules.RULE_P_PERCENT: self.p_ratio is None,
            rules.RULE_DOF: self.min_dof is None,
        }
        return [rule for rule, is_off in off.items() if is_off]


ACRO_DEFAULT = Profile(
    name="acro-default",
    version=1,
    description="ACRO defaults: minimum cell 10, zeros disclosive, N-K 2/90 %, p-percent 10 %, DoF 10",
    threshold=rules.ACRO_THRESHOLD,
    zeros_disclosive=rules.ACRO_ZEROS_DISCLOSIVE,
    nk_n=rules.ACRO_NK_N,
    nk_k=rules.ACRO_NK_K,
    p_ratio=rules.ACRO_P_RATIO,
    min_dof=rules.ACRO_DOF_THRESHOLD,
    round_base=rules.ACRO_ROUND_BASE,
    mitigation=(SUPPRESS,),
)

OPENSAFELY = Profile(
    name="opensafely",
    version=1,
    description="OpenSAFELY: counts 7 or less redacted, the rest rounded to the nearest 5",
    threshold=rules.OPENSAFELY_REDACT_AT_OR_BELOW + 1,
    zeros_disclosive=False,
    round_base=rules.OPENSAFELY_ROUND_BASE,
    mitigation=(SUPPRESS, ROUND),
)

NHS_SDE = Profile(
    name="nhs-sde",
    version=1,
    description="NHS England SDE: counts under 10 suppressed, the rest rounded to the nearest 5",
    threshold=rules.NHS_SUPPRESS_BELOW,
    zeros_disclosive=False,
    round_base=rules.NHS_ROUND_BASE,
    mitigation=(SUPPRESS, ROUND),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (ACRO_DEFAULT, OPENSAFELY, NHS_SDE)}
DEFAULT_PROFILE = ACRO_DEFAULT.name


def get_profile(profile: str | Profile | None = None) -> Profile:
    """The profile named ``profile`` (a :class:`Profile` is returned as is; None means the default)."""
    if isinstance(profile, Profile):
        return profile
    name = profile or DEFAULT_PROFILE
    try:
        return PROFILES[name]
    except KeyError:
        raise NotFoundError(
            f"unknown risk profile {name!r}; expected one of {', '.join(sorted(PROFILES))}"
        ) from None
