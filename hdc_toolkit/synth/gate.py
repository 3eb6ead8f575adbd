"""The synthetic-data release gate: quality, contract validity and privacy relative to fresh real people.

The gate returns a :class:`~hdc_toolkit.results.Run` (never raises for bad synthetic data) with these
checks, each against the project's risk profile (:func:`risk_settings`):

=====================================  ============================================================
check key                              passes when
=====================================  ============================================================
``synth.<t>.contract``                 the foundation validator finds zero failures in table ``t``
``synth.quality``                      SDMetrics quality score (tables and relationships) ≥ minimum
``synth.<t>.diagnostic``               SDMetrics diagnostic (validity, structure) ≥ minimum
``synth.utility``                      TSTR ≥ TRTR − allowed gap (only when a target is given)
``synth.<t>.dcr``                      median DCR synthetic→training ≥ ratio × synthetic→holdout
                                       (ratio 0.75, less 2.5/√n for a holdout of n rows, at least 0.5)
``synth.<t>.closer_to_training``       share of synthetic rows closer to training than holdout
                                       ≤ 0.5 + margin (fixed ranges, equal sizes); the margin is at
                                       least three standard errors, so small tables do not fail by chance
``synth.<t>.membership``               distance-based membership-inference AUC ≤ maximum (at least
                                       0.5 + three standard errors)
``synth.<t>.exact_match``              synthetic rows do not copy rare records: of the real records
                                       seen < k times that synthetic rows equal, the training share is
                                       not above chance (refused when a one-sided permutation test gives
                                       p < ``exact_match_alpha`` *and* the estimated copies are
                                       ≥ ``exact_match_margin`` of the synthetic rows)
``synth.<t>.rare_values``              no value seen fewer than ``k`` times in training appears
``synth.<t>.attribute_disclosure``     at-risk people (rare quasi-identifier combinations) are not
                                       guessed more often than from fresh real data + margin
=====================================  ============================================================

Every privacy test compares with a real holdout (people the synthesizer never saw) instead of an
absolute threshold: SDMetrics' own scores rate fresh real people worse than synthesizers.

**Why the exact-match test counts rare records only, and tests instead of adding a fixed margin.**
In a low-dimensional, coarsened table (diagnoses: code, type, month) most rows equal some training
row by nature: 55-60% of fresh real rows do. Matching a common combination discloses no one, while
the plain share moves a few points either way with how a synthesizer smooths (the default one never
generates values rarer than ``k``, which concentrates rows on common combinations), so "synthetic
share ≤ holdout share + 1 point" refused sound synthesizers at random, and passed a copier whose
child rows were re-linked. What would disclose someone is reproducing a record that fewer than ``k``
real rows share. So the test takes the synthetic rows that equal such a rare record (rare in training
and holdout together) and asks whether the real rows they equal are training rows more often than
chance; chance comes from re-splitting the people at random (:mod:`hdc_toolkit.synth.matches`).
``exact_match_alpha`` is the one-sided significance (0.001: several tables are tested, and a false
refusal is costly); ``exact_match_margin`` (0.01) is the smallest estimated share of synthetic rows
copying rare training records that refuses, so that a vast release is not refused for a negligible
difference. The plain shares of rows equal to any training row are still reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.results import Check, Run, Verdict
from hdc_toolkit.synth.metadata import SchemaPlan, TablePlan, sdmetrics_metadata

__all__ = ["GateResult", "RiskSettings", "release_gate", "risk_settings"]


@dataclass(frozen=True)
class RiskSettings:
    """The thresholds one risk profile sets for synthetic releases."""

    name: str
    min_count: int
    min_quality: float = 0.80
    min_diagnostic: float = 0.90
    max_utility_gap: float = 0.10
    dcr_ratio: float = 0.75
    share_margin: float = 0.05
    max_membership_auc: float = 0.55
    exact_match_margin: float = 0.01  # minimum effect: estimated excess share of synthetic rows
    exact_match_alpha: float = 0.001  # one-sided significance of the rare-record exact-match test
    disclosure_margin: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# Smallest safe counts of the output-checking profiles (ACRO minimum cell 10; OpenSAFELY redacts
# counts of 7 or less; NHS England SDE suppresses counts under 10). The output module's profiles are
# used when they are installed, so the two never disagree.
_FALLBACK_MIN_COUNT = {"acro-default": 10, "opensafely": 8, "nhs-sde": 10}
DEFAULT_PROFILE = "acro-default"


def risk_settings(profile: str | RiskSettings | None = None, **overrides: Any) -> RiskSettings:
    """The synthetic-release settings of a risk profile (``acro-default``, ``opensafely``, ``nhs-sde``)."""
    if isinstance(profile, RiskSettings):
        return replace(profile, **overrides) if overrides else profile
    name = profile or DEFAULT_PROFILE
    k = None
    try:
        from hdc_toolkit.outputs.profiles import get_profile

        k = int(get_profile(name).threshold)
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - an unknown name is reported below
        k = None
    if k is None:
        if name not in _FALLBACK_MIN_COUNT:
            from hdc_toolkit.exceptions import NotFoundError

            raise NotFoundError(
                f"unknown risk profile {name!r}; expected one of {', '.join(sorted(_FALLBACK_MIN_COUNT))}"
            )
        k = _FALLBACK_MIN_COUNT[name]
    return replace(RiskSettings(name=name, min_count=k), **overrides)


@dataclass
class GateResult:
    """The gate's run plus everything it measured (for the report)."""

    run: Run
    settings: RiskSettings
    quality: Any = None
    privacy: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Run] = field(default_factory=dict)
    synthesis: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.run.passed

    def report(self, **kwargs: Any) -> Any:
        from hdc_toolkit.synth.report import SynthReport

        return SynthReport.from_gate(self, **kwargs)

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        d = self.run.to_dict()
        d["metadata"] = {**d.get("metadata", {}), "settings": self.settings.to_dict()}
        return d


def release_gate(
    train: Mapping[str, pd.DataFrame],
    synthetic: Mapping[str, pd.DataFrame],
    holdout: Mapping[str, pd.DataFrame] | None,
    plan: SchemaPlan,
    *,
    risk_profile: str | RiskSettings | None = None,
    target: str | None = None,
    target_table: str | None = None,
    exclude: tuple[str, ...] = (),
    validation: Mapping[str, Run] | None = None,
    dp_certificate: str | None = None,
    max_quality_rows: int | None = 100_000,
    max_privacy_rows: int | None = None,
    synthesis: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> GateResult:
    """Decide whether ``synthetic`` may be released; see the module docstring for the checks.

    ``validation``: the foundation validator's runs over the synthetic tables (computed here when
    omitted). ``holdout``: real rows the synthesizer was not fitted on; without it every privacy check
    is an error ("could not run"), so the gate fails.
    """
    from hdc_toolkit.synth.constraints import validate_synthetic
    from hdc_toolkit.synth.privacy import evaluate_privacy
    from hdc_toolkit.synth.quality import evaluate_quality

    settings = risk_settings(risk_profile)
    contracts = {t: plan.tables[t].contract for t in plan.order}
    described = {
        k: v for k, v in dict(synthesis or {}).items() if k != "columns"
    }  # the plots' data stays in the report
    run = Run(name="synth:release-gate", metadata={"risk_profile": settings.name, "settings": settings.to_dict(),
                                                    "dp_certificate": dp_certificate, **described})  # fmt: skip
    checks: list[Check] = []
    tables = [t for t in plan.order if t in synthetic]
    # 1. contract validity
    if validation is None:
        validation = validate_synthetic({t: synthetic[t] for t in tables}, {t: contracts[t] for t in tables})
    for t in tables:
        vr = validation.get(t)
        if vr is None:
            checks.append(
                Check(f"synth.{t}.contract", "contract", Verdict.ERROR, table=t, message="not validated")
            )
            continue
        failing = [c for c in vr.checks if c.verdict in (Verdict.FAILED, Verdict.ERROR)]
        checks.append(Check(
            f"synth.{t}.contract", "contract", Verdict.PASSED if not failing else Verdict.FAILED, table=t,
            element_count=len(vr.checks), failing_count=len(failing),
            message="the foundation validator finds no failure" if not failing else
            "validator failures: " + "; ".join(f"{c.key} ({c.failing_count})" for c in failing[:5]),
            details={"counts": vr.counts()},
        ))  # fmt: skip
    # 2. quality
    quality = None
    try:
        quality = evaluate_quality({t: train[t] for t in tables}, {t: synthetic[t] for t in tables}, plan,
                                   holdout=holdout, target=target, target_table=target_table, exclude=exclude,
                                   max_rows=max_quality_rows)  # fmt: skip
        q = quality.score
        checks.append(_threshold("synth.quality", "quality", q, settings.min_quality, ">=",
                                 f"quality score {q:.3f} (minimum {settings.min_quality:.2f})",
                                 details={"tables": {t: v.score for t, v in quality.tables.items()}, "relationships": quality.relationships}))  # fmt: skip
        for t, tq in quality.tables.items():
            if tq.diagnostic is not None:
                checks.append(_threshold(f"synth.{t}.diagnostic", "diagnostic", tq.diagnostic, settings.min_diagnostic, ">=",
                                         f"SDMetrics diagnostic {tq.diagnostic:.3f} (minimum {settings.min_diagnostic:.2f})", table=t))  # fmt: skip
        if quality.utility is not None:
            u = quality.utility
            checks.append(_threshold("synth.utility", "utility", u.tstr, u.trtr - settings.max_utility_gap, ">=",
                                     f"train on synthetic, test on real: {u.metric} {u.tstr:.3f} vs {u.trtr:.3f} on real "
                                     f"(allowed gap {settings.max_utility_gap:.2f})", details=u.to_dict()))  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a check that cannot run is an error result, not a crash
        checks.append(
            Check(
                "synth.quality",
                "quality",
                Verdict.ERROR,
                message=f"could not run: {type(exc).__name__}: {exc}",
            )
        )
    # 3. privacy, relative to the holdout
    privacy: dict[str, Any] = {}
    soft = dp_certificate is not None
    persons = {}
    if holdout is not None:
        from hdc_toolkit.synth.matches import person_keys

        persons = {"train": person_keys(train, plan), "holdout": person_keys(holdout, plan)}
    for t in tables:
        tp = plan.tables[t]
        cols = {
            c: v["sdtype"] for c, v in sdmetrics_metadata(tp)["columns"].items() if c in synthetic[t].columns
        }
        if holdout is None or t not in holdout or len(holdout[t]) == 0:
            checks.append(Check(f"synth.{t}.privacy", "privacy", Verdict.ERROR, table=t,
                                message="could not run: no real holdout to compare with (privacy is only judged against fresh real people)"))  # fmt: skip
            continue
        if not cols:
            continue
        try:
            from hdc_toolkit.synth.quality import eval_frame

            tr, sy, ho = (eval_frame(d[t], tp, list(cols)) for d in (train, synthetic, holdout))
            qi = [c.name for c in tp.columns if c.classification == "quasi_identifier" and c.name in cols]
            sens = [c.name for c in tp.columns if c.classification == "sensitive" and c.name in cols]
            p = evaluate_privacy(tr, sy, ho, cols, table=t, k=settings.min_count, quasi_identifiers=qi, sensitive=sens,
                                 ranges=_fixed_ranges(tp, cols, [tr, sy, ho]), max_rows=max_privacy_rows, seed=seed,
                                 train_groups=persons.get("train", {}).get(t), holdout_groups=persons.get("holdout", {}).get(t))  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            checks.append(
                Check(
                    f"synth.{t}.privacy",
                    "privacy",
                    Verdict.ERROR,
                    table=t,
                    message=f"could not run: {type(exc).__name__}: {exc}",
                )
            )
            continue
        privacy[t] = p
        checks += _privacy_checks(t, p, settings, soft)
    run.checks = checks
    run.finish()
    return GateResult(run, settings, quality, privacy, dict(validation), dict(synthesis or {}))


def _fixed_ranges(tp: TablePlan, cols: Mapping[str, str], frames: list[pd.DataFrame]) -> dict[str, float]:
    """One range per numeric column over training, synthetic and holdout data together (contract bounds
    are not used: they are often far wider than the data and would make every distance look small)."""
    from hdc_toolkit.synth.privacy import fixed_ranges

    return fixed_ranges(frames, [c for c, t in cols.items() if t in ("numerical", "datetime")])


def _threshold(key: str, kind: str, value: float, limit: float, op: str, message: str, *, table: str | None = None,
               details: dict[str, Any] | None = None, soft: bool = False) -> Check:  # fmt: skip
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return Check(
            key,
            kind,
            Verdict.ERROR,
            table=table,
            message=f"could not compute: {message}",
            details=details or {},
        )
    ok = value >= limit - 1e-12 if op == ">=" else value <= limit + 1e-12
    verdict = Verdict.PASSED if ok else (Verdict.WARNING if soft else Verdict.FAILED)
    return Check(key, kind, verdict, table=table, message=message,
                 details={"value": value, "limit": limit, "op": op, **(details or {})})  # fmt: skip


def _privacy_checks(t: str, p: Any, s: RiskSettings, soft: bool) -> list[Check]:
    n_syn = max(int(p.rows.get("synthetic", 1)), 1)
    n1 = max(int(p.rows.get("train_compared", 1)), 1)
    n0 = max(int(p.rows.get("holdout", 1)), 1)
    share_limit = 0.5 + max(s.share_margin, 3 * float(np.sqrt(0.25 / min(n_syn, n0))))
    auc_limit = max(s.max_membership_auc, 0.5 + 3 * float(np.sqrt((n1 + n0 + 1) / (12.0 * n1 * n0))))
    # the median of distances to n0 reference rows is noisy for small holdouts: widen as 1/sqrt(n0)
    dcr_ratio = max(0.5, s.dcr_ratio - 2.5 / float(np.sqrt(n0)))
    out = [
        _threshold(f"synth.{t}.dcr", "privacy", p.median_dcr_synthetic, dcr_ratio * p.median_dcr_synthetic_holdout, ">=",
                   f"median distance of synthetic rows to the closest training record {p.median_dcr_synthetic:.4f}, to the "
                   f"closest holdout record {p.median_dcr_synthetic_holdout:.4f} (must be at least {dcr_ratio:.0%} of it; "
                   f"fresh real people to training: {p.median_dcr_holdout:.4f})", table=t, soft=soft),
        _threshold(f"synth.{t}.closer_to_training", "privacy", p.closer_to_training, share_limit, "<=",
                   f"{p.closer_to_training:.1%} of synthetic rows are closer to training than to holdout rows "
                   f"(expected 50%, at most {share_limit:.1%})", table=t, soft=soft,
                   details={"sdmetrics_ranges_share": p.closer_to_training_sdmetrics}),
        _threshold(f"synth.{t}.membership", "privacy", p.membership_auc, auc_limit, "<=",
                   f"membership inference AUC {p.membership_auc:.3f} (0.5 = no signal; at most {auc_limit:.3f})",
                   table=t, soft=soft),
        _exact_match_check(t, p, s, soft),
    ]  # fmt: skip
    leaked = {c: v for c, v in p.rare_values.items() if v["leaked_values"]}
    n_leaked = sum(v["leaked_values"] for v in leaked.values())
    out.append(Check(
        f"synth.{t}.rare_values", "privacy", Verdict.PASSED if not leaked else (Verdict.WARNING if soft else Verdict.FAILED), table=t,
        element_count=sum(v["rare_values"] for v in p.rare_values.values()), failing_count=n_leaked,
        message=("no value seen fewer than k times in the training data appears" if not leaked else
                 f"{n_leaked} rare value(s) appear verbatim in: {', '.join(leaked)}"),
        details={"k": s.min_count, "columns": {c: {"leaked_values": v["leaked_values"], "leaked_rows": v["leaked_rows"]} for c, v in p.rare_values.items()}},
    ))  # fmt: skip
    ds, dh = p.disclosure_synthetic, p.disclosure_holdout
    if ds is not None and dh is not None and ds.get("at_risk_rows"):
        out.append(_threshold(
            f"synth.{t}.attribute_disclosure", "privacy", ds["correct"], dh["correct"] + s.disclosure_margin, "<=",
            f"people with rare quasi-identifier combinations ({ds['at_risk_rows']} rows): sensitive value guessed for "
            f"{ds['correct']:.1%} from the synthetic data, {dh['correct']:.1%} from fresh real data", table=t, soft=soft,
            details={"synthetic": ds, "holdout": dh},
        ))  # fmt: skip
    return out


def _exact_match_check(t: str, p: Any, s: RiskSettings, soft: bool) -> Check:
    """Refuse copies of rare records: significant (p < alpha) and material (excess ≥ margin)."""
    r = p.rare_matches or {}
    key = f"synth.{t}.exact_match"
    if not r or r.get("p_value") is None or np.isnan(r["p_value"]):
        return Check(
            key,
            "privacy",
            Verdict.ERROR,
            table=t,
            message="could not compute the rare-record exact-match test",
        )
    refused = r["p_value"] < s.exact_match_alpha and r["excess"] >= s.exact_match_margin
    if r["permutations"]:
        found = (
            f"{r['rare_rows']:.2%} of synthetic rows equal a real record seen fewer than {r['k']} times; "
            f"{r['training_share']:.1%} of the real rows they equal are training rows, {r['expected_share']:.1%} "
            f"by chance (estimated copies {r['excess']:+.2%} of rows, z = {r['z']:.2f}, one-sided p = {r['p_value']:.2g})"
        )
    else:
        found = f"no synthetic row equals a real record seen fewer than {r['k']} times"
    message = (
        f"{found}; refused when p < {s.exact_match_alpha:g} and copies ≥ {s.exact_match_margin:.0%}. "
        f"Rows equal to any training row: synthetic {p.exact_match_synthetic:.1%}, fresh real people "
        f"{p.exact_match_holdout:.1%}"
    )
    return Check(
        key,
        "privacy",
        Verdict.PASSED if not refused else (Verdict.WARNING if soft else Verdict.FAILED),
        table=t,
        message=message,
        details={
            **r,
            "alpha": s.exact_match_alpha,
            "min_excess": s.exact_match_margin,
            "any_match_synthetic": p.exact_match_synthetic,
            "any_match_holdout": p.exact_match_holdout,
        },
    )
