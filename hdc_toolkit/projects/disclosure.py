"""Disclosure risk of a release: k-anonymity of the person table over its quasi-identifiers.

``k`` is the size of the smallest group of persons who share every released quasi-identifier value
(birth month, sex, county, death month, ...; nulls form a value of their own). Pseudonym columns are
not quasi-identifiers here: they identify nobody outside the project and every value is unique.

What a small ``k`` does depends on the permit's risk profile (:data:`K_RULES`, one line each):
``warn`` records the risk and releases (row-level data enter the project's closed sandbox, and only
checked aggregate outputs leave it); ``refuse`` fails the release gate, so nothing is released. A
profile missing from the table refuses below :data:`DEFAULT_RULE`'s ``k``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hdc_toolkit.outputs.profiles import PROFILES

from hdc_toolkit.results import Check, Verdict

__all__ = [
    "DEFAULT_RULE",
    "K_RULES",
    "REFUSE",
    "WARN",
    "KAnonymity",
    "KRule",
    "check_k_anonymity",
    "k_anonymity",
    "rule_for",
]

WARN = "warn"
REFUSE = "refuse"


@dataclass(frozen=True)
class KRule:
    """Groups smaller than ``k`` are a risk; ``action`` says whether the release goes ahead."""

    k: int
    action: str  # WARN or REFUSE


#: Per risk profile: the smallest safe group is the profile's minimum cell count (one table of thresholds,
#: in :mod:`hdc_toolkit.outputs.profiles`: ACRO 10, OpenSAFELY 8 (≤ 7 redacted), NHS 10); a smaller
#: group warns, because row-level releases stay inside the sandbox and only checked outputs leave it.
K_RULES: dict[str, KRule] = {name: KRule(k=p.threshold, action=WARN) for name, p in PROFILES.items()}
DEFAULT_RULE = KRule(k=10, action=REFUSE)


def rule_for(profile: str | None, rules: dict[str, KRule] | None = None) -> KRule:
    """The rule of ``profile`` (unknown or missing: :data:`DEFAULT_RULE`)."""
    return (K_RULES if rules is None else rules).get(profile or "", DEFAULT_RULE)


@dataclass(frozen=True)
class KAnonymity:
    """Group sizes of one table over ``quasi_identifiers``."""

    quasi_identifiers: tuple[str, ...]
    records: int
    groups: int
    k: int
    threshold: int
    records_below: int
    groups_below: int

    @property
    def share_below(self) -> float:
        return self.records_below / self.records if self.records else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "quasi_identifiers": list(self.quasi_identifiers),
            "share_below": round(self.share_below, 6),
        }


def k_anonymity(
    table: pa.Table, quasi_identifiers: list[str] | tuple[str, ...], threshold: int
) -> KAnonymity:
    """Group sizes of ``table`` over ``quasi_identifiers``; no quasi-identifier means one group."""
    qi = tuple(quasi_identifiers)
    n = table.num_rows
    if n == 0:
        return KAnonymity(qi, 0, 0, 0, threshold, 0, 0)
    if not qi:
        below = n if n < threshold else 0
        return KAnonymity(qi, n, 1, n, threshold, below, int(below > 0))
    sizes = table.select(list(qi)).group_by(list(qi)).aggregate([([], "count_all")]).column("count_all")
    small = pc.less(sizes, threshold)
    return KAnonymity(
        quasi_identifiers=qi,
        records=n,
        groups=len(sizes),
        k=int(pc.min(sizes).as_py()),
        threshold=threshold,
        records_below=int(pc.sum(pc.if_else(small, sizes, 0)).as_py() or 0),
        groups_below=int(pc.sum(small.cast(pa.int64())).as_py() or 0),
    )


def check_k_anonymity(
    table: pa.Table, quasi_identifiers: list[str], profile: str | None, *, name: str
) -> Check:
    """The release gate's k-anonymity check of ``table`` (``name``) under ``profile``'s rule."""
    rule = rule_for(profile)
    result = k_anonymity(table, quasi_identifiers, rule.k)
    risky = result.records > 0 and result.k < rule.k
    verdict = Verdict.PASSED if not risky else (Verdict.FAILED if rule.action == REFUSE else Verdict.WARNING)
    qi = ", ".join(result.quasi_identifiers) or "none"
    if risky:
        message = (
            f"k = {result.k} < {rule.k}: {result.records_below} of {result.records} records are in "
            f"{result.groups_below} groups smaller than {rule.k} over ({qi}); profile {profile!r} says {rule.action}"
        )
    else:
        message = f"k = {result.k} >= {rule.k} over ({qi})"
    return Check(
        key=f"{name}.disclosure.k_anonymity",
        kind="k_anonymity",
        verdict=verdict,
        table=name,
        message=message,
        element_count=result.records,
        failing_count=result.records_below,
        details={**result.to_dict(), "profile": profile, "rule": asdict(rule)},
    )
