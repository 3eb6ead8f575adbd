"""The notebook API: disclosure-checked tables that are ready for an output request.

Each function takes pandas or Dask data and returns a :class:`SafeTable`: the table that may be
released (already mitigated as the risk profile says), the raw table (which stays in the sandbox),
the flagged cells, and a :class:`~hdc_toolkit.results.Run` of the checks::

    from hdc_toolkit.outputs import frequency_table, magnitude_table
    t = frequency_table(df, index="county", columns="sex", profile="acro-default")
    t.run.verdict            # passed / warning ("review") / failed
    t.save("outputs/")      # outputs/frequency_county_sex.csv + .sdc.json for the airlock

=============  ===================================================================================
function       checks
=============  ===================================================================================
frequency      minimum count, zeros; suppress + round (profile), margins recomputed
magnitude      minimum contributors, zeros, N-K dominance, p-percent; negative, non-numeric and
               missing-contributor values are reported for review; failing cells suppressed
regression     minimum residual degrees of freedom (statsmodels results)
survival       minimum count of events, censorings and people at risk per interval
histogram      minimum count, zeros; outer bin edges taken from the data are flagged for review
=============  ===================================================================================

A check's verdict is ``failed`` when the *published* table still breaks a rule, ``warning`` (review)
when the raw table broke it and a mitigation was applied or when the input was unusual, and
``passed`` otherwise. Bad input is a result, not an exception: only a missing column (the table
cannot be built at all) raises :class:`~hdc_toolkit.exceptions.DataError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.outputs import _aggregate as agg
from hdc_toolkit.outputs import rules
from hdc_toolkit.outputs._safetable import (
    AGGFUNCS,
    FREQUENCY,
    HISTOGRAM,
    KINDS,
    MAGNITUDE,
    REGRESSION,
    SIDECAR_SUFFIX,
    SURVIVAL,
    SafeTable,
    finish_table,
    flag_cells,
    review_check,
    rule_check,
    rule_text,
)
from hdc_toolkit.outputs.mitigate import (
    RULE_ROUNDING,
    add_margins,
    count_rule_masks,
    mitigate_counts,
    suppress,
)
from hdc_toolkit.outputs.profiles import Profile, get_profile
from hdc_toolkit.results import Check, Verdict

__all__ = [
    "KINDS",
    "SIDECAR_SUFFIX",
    "SafeTable",
    "frequency_table",
    "histogram",
    "magnitude_table",
    "regression",
    "survival_table",
]


def _dims(index: str | Sequence[str], columns: str | None) -> tuple[list[str], str | None]:
    rows = [index] if isinstance(index, str) else list(index)
    if not rows:
        raise ValueError("index needs at least one column")
    return rows, columns


def _plain_labels(index: pd.Index) -> pd.Index:
    """String-typed labels (Dask hands back Arrow strings) as plain objects, so pandas and Dask agree."""
    if isinstance(index, pd.MultiIndex):
        levels = [lv.astype(object) if pd.api.types.is_string_dtype(lv.dtype) else lv for lv in index.levels]
        return index.set_levels(levels)  # type: ignore[arg-type]
    return index.astype(object) if pd.api.types.is_string_dtype(index.dtype) else index


def _wide(series: pd.Series, columns: str | None, fill: float | None) -> pd.DataFrame:
    series = series.copy()
    series.index = _plain_labels(series.index)
    if columns is None:
        frame = series.to_frame(series.name or "value")
    else:
        if fill is not None:
            frame = series.unstack(columns, fill_value=fill)  # type: ignore[arg-type]  # stubs: int only
        else:
            frame = series.unstack(columns)
        frame.columns.name = columns
    try:
        return frame.sort_index()
    except TypeError:  # mixed label types: keep the data's order
        return frame


def _count_checks(
    name: str,
    inner: pd.DataFrame,
    profile: Profile,
    *,
    margins: bool,
    mitigate: bool,
    column_margin: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Check], dict[tuple[int, int], list[str]], list[str]]:
    """The shared core of count tables: raw rules, mitigation, published re-check."""
    raw_masks = count_rule_masks(inner, profile)
    raw_masks.pop(RULE_ROUNDING, None)  # raw counts are not expected to be rounded
    mask = pd.DataFrame(False, index=inner.index, columns=inner.columns)
    for m in raw_masks.values():
        mask |= m
    raw_table = add_margins(inner, columns=column_margin) if margins else inner.astype("float64")
    if mitigate:
        table, done = mitigate_counts(inner, mask, profile, margins=margins, column_margin=column_margin)
    else:
        table, done = raw_table, []
    published = count_rule_masks(table, profile)
    flags: dict[tuple[int, int], list[str]] = {}
    checks = []
    for rule in (rules.RULE_THRESHOLD, rules.RULE_ZERO, RULE_ROUNDING):
        if rule not in published or (rule == rules.RULE_ZERO and not profile.zeros_disclosive):
            continue
        raw_mask = raw_masks.get(rule, pd.DataFrame(False, index=inner.index, columns=inner.columns))
        flag_cells(flags, raw_mask, rule)
        flag_cells(flags, published[rule], rule)
        raw_n, left = int(raw_mask.to_numpy().sum()), int(published[rule].to_numpy().sum())
        checks.append(rule_check(name, rule, inner.size, raw_n, left, done, rule_text(rule, profile)))
    return table, raw_table, checks, flags, done


# ---------------------------------------------------------------- frequency tables


def frequency_table(
    data: Any,
    index: str | Sequence[str],
    columns: str | None = None,
    *,
    profile: str | Profile | None = None,
    margins: bool = True,
    mitigate: bool = True,
    name: str | None = None,
) -> SafeTable:
    """Counts of records per category of ``index`` (and ``columns``), like :func:`pandas.crosstab`.

    Missing values form their own category. Combinations that do not occur are zero cells.
    """
    prof = get_profile(profile)
    rows, col = _dims(index, columns)
    name = name or "_".join([FREQUENCY, *rows, *([col] if col else [])])
    counts = agg.count_cells(data, rows + ([col] if col else []))
    counts.name = "count"
    inner = _wide(counts, col, fill=0).astype("float64")
    table, raw, checks, flags, done = _count_checks(
        name, inner, prof, margins=margins, mitigate=mitigate, column_margin=col is not None
    )
    props = {
        "index": rows,
        "columns": col,
        "margins": margins,
        "mitigation": done,
        "dims": rows + ([col] if col else []),
    }
    return finish_table(FREQUENCY, name, table, raw, checks, flags, prof, props)


# ---------------------------------------------------------------- magnitude tables


def magnitude_table(
    data: Any,
    index: str | Sequence[str],
    columns: str | None = None,
    *,
    values: str,
    aggfunc: str = "sum",
    contributor: str | None = None,
    profile: str | Profile | None = None,
    mitigate: bool = True,
    name: str | None = None,
) -> SafeTable:
    """The sum or mean of ``values`` per cell, checked on its *contributors*.

    ``contributor`` names the column identifying who a value belongs to (a patient, a clinic); values
    are first totalled per contributor, so one person with many records is one contributor. Without
    it every record is a contributor. Non-numeric values are left out, rows without a contributor id
    count as contributors of their own, and negative values make the dominance rules unreliable: each
    is reported for review. Magnitude tables have no margins (they could not be recomputed safely).
    """
    if aggfunc not in AGGFUNCS:
        raise ValueError(f"aggfunc must be one of {AGGFUNCS}, got {aggfunc!r}")
    prof = get_profile(profile)
    rows, col = _dims(index, columns)
    dims = rows + ([col] if col else [])
    name = name or "_".join([MAGNITUDE, aggfunc, values, *dims])
    extra: list[Check] = []
    if contributor is not None and contributor not in data.columns:
        extra.append(
            review_check(
                name,
                "missing-contributors",
                f"contributor column {contributor!r} is not in the data: every record counted as one "
                "contributor, so dominance may be understated",
                column=contributor,
            )
        )
        contributor = None
    contrib = agg.contributions(data, dims, values, contributor)
    extra += _input_reviews(name, values, contrib, contributor)
    stats = _cell_stats(contrib, dims, prof)
    statistic = stats["total"] if aggfunc == "sum" else stats["total"] / stats["rows"]
    statistic.name = f"{aggfunc}({values})"
    inner = _wide(statistic, col, fill=None)
    shape = {
        str(k): _wide(stats[k].rename(statistic.name), col, fill=0).reindex_like(inner).fillna(0)
        for k in stats
    }
    masks = _magnitude_masks(shape, prof)
    table, flags, checks, done = _mitigate_magnitude(name, inner, masks, prof, mitigate)
    negative = shape["negative"].to_numpy() > 0
    if negative.any():
        flag_cells(flags, shape["negative"] > 0, rules.RULE_NEGATIVE)
        extra.append(
            review_check(
                name,
                rules.RULE_NEGATIVE,
                f"{int(negative.sum())} cell(s) contain negative values: dominance was judged on absolute "
                "values; review",
                cells=int(negative.sum()),
            )
        )
    props = {
        "index": rows,
        "columns": col,
        "values": values,
        "aggfunc": aggfunc,
        "contributor": contributor,
        "margins": False,
        "mitigation": done,
        "dims": dims,
        "records": contrib.rows,
    }
    return finish_table(MAGNITUDE, name, table, inner, checks + extra, flags, prof, props)


def _input_reviews(
    name: str, values: str, contrib: agg.Contributions, contributor: str | None
) -> list[Check]:
    out = []
    if contrib.nonnumeric:
        out.append(
            review_check(
                name,
                "non-numeric",
                f"{contrib.nonnumeric} of {contrib.rows} value(s) in {values!r} are not numbers and were "
                "left out; review",
                column=values,
                count=contrib.nonnumeric,
            )
        )
    if contributor is not None and contrib.missing_contributors:
        out.append(
            review_check(
                name,
                "missing-contributors",
                f"{contrib.missing_contributors} record(s) have no {contributor!r}: each was counted as a "
                "contributor of its own; review",
                column=contributor,
                count=contrib.missing_contributors,
            )
        )
    return out


def _cell_stats(contrib: agg.Contributions, dims: list[str], profile: Profile) -> pd.DataFrame:
    frame = contrib.frame
    levels = list(range(len(dims)))
    grouped = frame.groupby(level=levels, dropna=False, observed=True, sort=False)
    stats = pd.DataFrame(
        {
            "contributors": grouped.size(),
            "total": grouped[contrib.value].sum(),
            "rows": grouped[contrib.n_rows].sum(),
            "negative": grouped[contrib.negative].sum(),
        }
    )
    lists = grouped[contrib.value].apply(list)
    n, k, p = profile.nk_n, profile.nk_k, profile.p_ratio
    nk = lists.map(lambda v: n is not None and k is not None and rules.nk_dominated(v, n, k))
    pp = lists.map(lambda v: p is not None and rules.p_percent_fails(v, p))
    stats["nk"] = nk.astype("int64")
    stats["p"] = pp.astype("int64")
    stats.index.names = dims
    return stats


def _magnitude_masks(shape: dict[str, pd.DataFrame], profile: Profile) -> dict[str, pd.DataFrame]:
    n = shape["contributors"]
    masks = {
        rules.RULE_THRESHOLD: n.map(lambda v: rules.below_threshold(v, profile.threshold)).astype(bool),
    }
    if profile.zeros_disclosive:
        masks[rules.RULE_ZERO] = n.map(lambda v: rules.disclosive_zero(v, True)).astype(bool)
    if profile.nk_n is not None:
        masks[rules.RULE_NK] = shape["nk"] > 0
    if profile.p_ratio is not None:
        masks[rules.RULE_P_PERCENT] = shape["p"] > 0
    return masks


def _mitigate_magnitude(
    name: str, inner: pd.DataFrame, masks: dict[str, pd.DataFrame], profile: Profile, mitigate: bool
) -> tuple[pd.DataFrame, dict[tuple[int, int], list[str]], list[Check], list[str]]:
    any_mask = pd.DataFrame(False, index=inner.index, columns=inner.columns)
    for m in masks.values():
        any_mask |= m
    done: list[str] = []
    table = inner.astype("float64")
    if mitigate and bool(any_mask.to_numpy().any()):
        table = suppress(table, any_mask)
        done.append(f"{int(any_mask.to_numpy().sum())} cell(s) suppressed")
    flags: dict[tuple[int, int], list[str]] = {}
    checks = []
    for rule, mask in masks.items():
        flag_cells(flags, mask, rule)
        raw = int(mask.to_numpy().sum())
        left = 0 if done else raw
        checks.append(rule_check(name, rule, inner.size, raw, left, done, rule_text(rule, profile)))
    return table, flags, checks, done


# ---------------------------------------------------------------- regression


def regression(results: Any, *, profile: str | Profile | None = None, name: str | None = None) -> SafeTable:
    """The coefficient table of a fitted statsmodels model, checked for residual degrees of freedom.

    Anything without ``params`` (not a fitted model) gives a table-less result for review.
    """
    prof = get_profile(profile)
    model = getattr(results, "model", None)
    name = name or f"{REGRESSION}_{type(model).__name__.lower() if model is not None else 'model'}"
    try:
        table = _coefficients(results)
    except (AttributeError, TypeError, ValueError) as exc:
        check = review_check(name, "not-a-model", f"not a fitted statsmodels result ({exc}); review by hand")
        empty = pd.DataFrame()
        return finish_table(REGRESSION, name, empty, empty, [check], {}, prof, {"margins": False})
    dof = getattr(results, "df_resid", None)
    checks = []
    props: dict[str, Any] = {"margins": False, "model": type(model).__name__, "dof": None, "nobs": None}
    if dof is None or (isinstance(dof, float) and math.isnan(dof)):
        checks.append(
            review_check(name, rules.RULE_DOF, "the residual degrees of freedom are unknown; review")
        )
    else:
        dof = float(dof)
        props |= {"dof": dof, "nobs": float(getattr(results, "nobs", float("nan")))}
        if prof.min_dof is not None:
            low = rules.dof_too_low(dof, prof.min_dof)
            checks.append(
                Check(
                    key=f"{name}.{rules.RULE_DOF}",
                    kind=rules.RULE_DOF,
                    verdict=Verdict.FAILED if low else Verdict.PASSED,
                    table=name,
                    message=f"residual degrees of freedom {dof:g} "
                    + (f"< the minimum {prof.min_dof}" if low else f">= the minimum {prof.min_dof}"),
                    element_count=1,
                    failing_count=int(low),
                    details={"dof": dof, "min_dof": prof.min_dof},
                )
            )
    return finish_table(REGRESSION, name, table, table, checks, {}, prof, props)


def _coefficients(results: Any) -> pd.DataFrame:
    params = pd.Series(results.params)
    table = pd.DataFrame(
        {
            "coef": params,
            "std err": pd.Series(results.bse, index=params.index),
            "stat": pd.Series(results.tvalues, index=params.index),
            "P>|stat|": pd.Series(results.pvalues, index=params.index),
        }
    )
    ci = pd.DataFrame(results.conf_int(), index=params.index)
    table["[0.025"] = ci.iloc[:, 0]
    table["0.975]"] = ci.iloc[:, 1]
    table.index.name = "term"
    return table


# ---------------------------------------------------------------- survival


def survival_table(
    data: Any,
    duration: str,
    event: str,
    *,
    times: Sequence[float],
    group: str | None = None,
    profile: str | Profile | None = None,
    mitigate: bool = True,
    name: str | None = None,
) -> SafeTable:
    """An actuarial life table over the intervals ``[t0, t1), [t1, t2), ..., [tn, inf)``.

    Per interval: people at risk at its start, events, censorings, and survival at its end. The
    count rule applies to all three counts (an interval with no events is not disclosive, so zeros
    are retained). Survival is computed from the *published* counts, so it reveals nothing the
    counts do not; once an interval's counts are suppressed, survival after it is unknown.
    """
    prof = get_profile(profile)
    edges = sorted(float(t) for t in times)
    if not edges:
        raise ValueError("survival_table needs at least one interval edge in times")
    name = name or f"{SURVIVAL}_{duration}" + (f"_{group}" if group else "")
    counts, bad = _survival_counts(data, duration, event, group, edges)
    labels = [f"[{_num(a)}, {_num(b)})" for a, b in zip(edges, edges[1:] + [math.inf], strict=True)]
    raw = _life_table(counts, labels, group)
    count_cols = ["at_risk", "events", "censored"]
    small = raw[count_cols].map(lambda v: rules.below_threshold(v, prof.threshold)).astype(bool)
    published = raw[count_cols].astype("float64")
    done: list[str] = []
    if mitigate and bool(small.to_numpy().any()):
        hide = _survival_suppression(small, group)
        published = suppress(published, hide)
        done.append(
            f"{int(hide.to_numpy().sum())} cell(s) suppressed (from the first small count on, so that "
            "no count can be derived from the rows above)"
        )
    if mitigate and prof.round_base and "round" in prof.mitigation:
        base = prof.round_base
        published = published.map(lambda v: rules.round_to_base(v, base))
        done.append(f"counts rounded to base {prof.round_base}")
    table = published.copy()
    table["survival"] = _survival_column(published, group)
    flags: dict[tuple[int, int], list[str]] = {}
    flag_cells(flags, small.reindex(columns=table.columns, fill_value=False), rules.RULE_THRESHOLD)
    left_mask = table[count_cols].map(lambda v: rules.below_threshold(v, prof.threshold)).astype(bool)
    raw_n, left = int(small.to_numpy().sum()), int(left_mask.to_numpy().sum())
    what = rule_text(rules.RULE_THRESHOLD, prof)
    checks = [rule_check(name, rules.RULE_THRESHOLD, small.size, raw_n, left, done, what)]
    if bad:
        checks.append(
            review_check(
                name,
                "invalid-rows",
                f"{bad} row(s) with a missing or negative duration, a duration before the first interval, "
                "or an event value other than 0/1 were left out; review",
                count=bad,
            )
        )
    props = {
        "duration": duration,
        "event": event,
        "group": group,
        "times": edges,
        "margins": False,
        "mitigation": done,
        "dims": ([group] if group else []) + ["interval"],
    }
    return finish_table(SURVIVAL, name, table, raw, checks, flags, prof, props)


def _num(x: float) -> str:
    return "inf" if math.isinf(x) else (str(int(x)) if float(x).is_integer() else f"{x:g}")


def _survival_part(
    part: pd.DataFrame, duration: str, event: str, group: str | None, edges: list[float]
) -> pd.DataFrame:
    t = pd.to_numeric(part[duration], errors="coerce")
    e = pd.to_numeric(part[event], errors="coerce")
    code = pd.Series(pd.cut(t, bins=edges + [math.inf], right=False).cat.codes, index=part.index)
    ok = t.notna() & (code >= 0) & e.isin([0, 1])
    out = pd.DataFrame(
        {
            "__g": part[group] if group else 0,
            "__i": code,
            "__e": (ok & (e == 1)).astype("int64"),
            "__c": (ok & (e == 0)).astype("int64"),
            "__bad": (~ok).astype("int64"),
        },
        index=part.index,
    )
    return out


def _survival_counts(
    data: Any, duration: str, event: str, group: str | None, edges: list[float]
) -> tuple[pd.DataFrame, int]:
    agg._check_columns(data, [duration, event] + ([group] if group else []))
    if agg.is_dask(data):
        meta = _survival_part(data._meta, duration, event, group, edges)
        prepared = data.map_partitions(_survival_part, duration, event, group, edges, meta=meta)
    else:
        prepared = _survival_part(data, duration, event, group, edges)
    good = prepared[prepared["__bad"] == 0]
    summed = good.groupby(["__g", "__i"], dropna=False)[["__e", "__c"]].sum()
    counts, bad = agg.compute(summed, prepared["__bad"].sum())
    return counts, int(bad)


def _life_table(counts: pd.DataFrame, labels: list[str], group: str | None) -> pd.DataFrame:
    frames = []
    groups = counts.index.get_level_values("__g").unique()
    for g in groups:
        part = counts.xs(g, level="__g").reindex(range(len(labels)), fill_value=0)
        exits = part["__e"] + part["__c"]
        at_risk = exits[::-1].cumsum()[::-1]
        frame = pd.DataFrame(
            {
                "at_risk": at_risk.to_numpy(),
                "events": part["__e"].to_numpy(),
                "censored": part["__c"].to_numpy(),
            },
            index=pd.Index(labels, name="interval"),
        ).astype("float64")
        if group:
            frame.index = pd.MultiIndex.from_product([[g], labels], names=[group, "interval"])
        frames.append(frame)
    empty = pd.DataFrame(columns=["at_risk", "events", "censored"], dtype="float64")
    raw = pd.concat(frames) if frames else empty
    raw["survival"] = _survival_column(raw, group)
    return raw


def _survival_suppression(small: pd.DataFrame, group: str | None) -> pd.DataFrame:
    """Which counts to hide: everything from the first interval with a small count on.

    People at risk at the start of an interval equal those at risk at the start of the previous one
    minus its events and censorings, so when the first small count is an at-risk count, the previous
    interval's events and censorings are hidden too (its at-risk count stays).
    """
    hide = pd.DataFrame(False, index=small.index, columns=small.columns)
    keys = small.index.get_level_values(0) if group else pd.Index([0] * len(small))
    for key in pd.unique(keys):
        rows = np.flatnonzero(keys == key)
        bad = [i for i, r in enumerate(rows) if small.iloc[r].any()]
        if not bad:
            continue
        first = bad[0]
        start = first - 1 if small.iloc[rows[first]]["at_risk"] and first > 0 else first
        for i, r in enumerate(rows[start:], start=start):
            label = hide.index[r]
            hide.loc[[label], ["events", "censored"]] = True
            if i > start or small.iloc[r]["at_risk"]:
                hide.loc[[label], "at_risk"] = True
    return hide


def _survival_column(counts: pd.DataFrame, group: str | None) -> pd.Series:
    step = 1 - counts["events"] / counts["at_risk"].where(counts["at_risk"] > 0)
    if group:
        return step.groupby(level=0, sort=False).cumprod(skipna=False)
    return step.cumprod(skipna=False)


# ---------------------------------------------------------------- histograms


def histogram(
    data: Any,
    column: str,
    *,
    bins: int | Sequence[float] = 10,
    profile: str | Profile | None = None,
    mitigate: bool = True,
    name: str | None = None,
) -> SafeTable:
    """Counts per bin ``[a, b)`` (the last bin closed) of a numeric column.

    With ``bins`` a number, the edges span the data's minimum and maximum, which are individual values:
    that is flagged for review; pass explicit edges to avoid it.
    """
    prof = get_profile(profile)
    name = name or f"{HISTOGRAM}_{column}"
    extra: list[Check] = []
    if isinstance(bins, int):
        lo, hi = agg.numeric_range(data, column)
        edges = [float(x) for x in np.linspace(lo, hi, bins + 1)] if hi > lo else [lo, lo + 1.0]
        extra.append(
            review_check(
                name,
                "bin-edges",
                "the outer bin edges are the data's minimum and maximum, which are individual values; "
                "pass explicit bins",
            )
        )
    else:
        edges = sorted(float(b) for b in bins)
    counts, outside, nonnumeric = agg.bin_counts(data, column, edges)
    if nonnumeric:
        extra.append(
            review_check(
                name,
                "non-numeric",
                f"{nonnumeric} value(s) in {column!r} are not numbers and were left out; review",
                column=column,
                count=nonnumeric,
            )
        )
    last = len(edges) - 2
    labels = [
        f"[{_num(a)}, {_num(b)}" + ("]" if i == last else ")")
        for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False))
    ]
    inner = pd.DataFrame({"count": counts.astype("float64")}, index=pd.Index(labels, name=column))
    table, raw, checks, flags, done = _count_checks(
        name, inner, prof, margins=False, mitigate=mitigate, column_margin=False
    )
    props = {
        "column": column,
        "bins": edges,
        "outside_bins": outside,
        "margins": False,
        "mitigation": done,
        "dims": [column],
    }
    return finish_table(HISTOGRAM, name, table, raw, checks + extra, flags, prof, props)
