"""Privacy of synthetic data, measured against fresh real people (a holdout), fast enough for whole releases.

**Distance to closest record (DCR)** is SDMetrics' distance, computed exactly but without its
quadratic cross join: per column, ``min(1, |a - b| / range)`` for numbers and times, 0/1 for codes
(null = null is a match, null against a value is 1), averaged over the columns. The nearest record
is found exactly with k-d trees (``scipy.spatial.cKDTree``, L1 metric) over the numbers scaled by
their range, and an exact decomposition for the codes: the codes (and the null pattern of numbers)
partition the records, and ``DCR(q) = min over T ⊆ S of (|S \\ T| + nearest record among those that
agree with q on T)``, searched from most to least agreement with branch-and-bound pruning (almost
every query is settled in its own partition). Beyond ``MAX_PARTITIONS`` codes, the codes with fewest
values are one-hot encoded at weight ½ instead (two different codes are then exactly 1 apart). Queries outside a reference column's range (where the cap
of 1 binds) are finished by exact brute force. So the values equal SDMetrics' to rounding, while the
cost is ``O(n log n)``: a million rows in minutes, not days.

**The range flaw, fixed.** SDMetrics normalises distances to the training data by the training
data's ranges and distances to the holdout by the holdout's ranges, which biases "is this synthetic
row closer to training than to holdout" (0.37–0.56 where 0.5 is expected, in the issue's runs). Here
``ranges="fixed"`` (the default for relative tests) uses one range per column for both, taken over
training, holdout and synthetic data together (or public contract bounds); ``ranges="reference"``
reproduces SDMetrics exactly, for comparison. The training side is also subsampled to the holdout's
size, as a larger reference set is closer to everything by construction.

Relative tests (never absolute thresholds): median DCR of synthetic rows to training vs to an
equally large holdout (a synthesizer that did not memorise is as far from one as from the other;
comparing with the holdout's own distance to training instead is confounded by what the synthesizer
does on purpose, such as never generating rare values); the share of synthetic rows closer to training than to the holdout; a
distance-based membership-inference AUC (are training rows closer to the synthetic data than holdout
rows are?); exact copies of records rare in a training sample against those of records rare in an
equally large holdout sample, with a permutation test (:mod:`hdc_toolkit.synth.matches`; the plain
share of rows equal to any training row is reported too, but common combinations coincide
naturally in coarse tables, so it is not tested); values seen fewer than ``k`` times in the
training data appearing verbatim; and attribute disclosure on quasi-identifier combinations that are
rare in the training data, against the same attack run with the holdout as the "release".
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MAX_PARTITIONS",
    "DCREncoder",
    "PrivacyResult",
    "attribute_disclosure",
    "dcr",
    "dcr_baseline_protection",
    "dcr_overfitting_protection",
    "disclosure_protection",
    "evaluate_privacy",
    "exact_match_rate",
    "membership_auc",
    "rare_value_leakage",
]

#: At most this many codes and null patterns partition the records; further codes are one-hot encoded.
MAX_PARTITIONS = 8
_CHUNK = 256


# ---------------------------------------------------------------------------------------------------
# encoding


@dataclass
class DCREncoder:
    """How each column enters the distance: ``numeric`` columns with a range, ``categorical`` ones."""

    numeric: list[str]
    categorical: list[str]
    ranges: dict[str, float]

    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, str],
        reference: pd.DataFrame,
        *,
        ranges: Mapping[str, float] | None = None,
    ) -> DCREncoder:
        """``columns`` maps a column to ``numerical``/``datetime``/``categorical``/``boolean`` (SDMetrics sdtypes).

        Ranges are ``max - min`` of ``reference`` unless given. A numeric column with range 0 is an
        equality test, as in SDMetrics (``diff > 0`` counts 1).
        """
        numeric, cats, rng = [], [], {}
        for col, sdtype in columns.items():
            if col not in reference.columns:
                continue
            if sdtype in ("numerical", "datetime"):
                r = float(ranges[col]) if ranges and col in ranges else _range(reference[col])
                if not np.isfinite(r) or r == 0:
                    cats.append(col)
                else:
                    numeric.append(col)
                    rng[col] = r
            elif sdtype in ("categorical", "boolean"):
                cats.append(col)
        if not numeric and not cats:
            raise ValueError("There are no overlapping statistical columns to measure.")
        return cls(numeric, cats, rng)

    @property
    def n_columns(self) -> int:
        return len(self.numeric) + len(self.categorical)


def _as_float(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.to_numpy(dtype="datetime64[ns]")
        out = v.astype("int64").astype("float64") / 1e9
        out[np.isnat(v)] = np.nan
        return out
    if pd.api.types.is_timedelta64_dtype(s):
        return s.dt.total_seconds().to_numpy(dtype="float64")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _range(s: pd.Series) -> float:
    v = _as_float(s)
    v = v[~np.isnan(v)]
    return float(v.max() - v.min()) if len(v) else 0.0


def fixed_ranges(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> dict[str, float]:
    """One range per column over all ``frames`` together (the fix for the range-normalisation bias)."""
    out = {}
    for c in columns:
        vals = [_as_float(f[c]) for f in frames if c in f.columns]
        v = np.concatenate(vals) if vals else np.array([])
        v = v[~np.isnan(v)]
        out[c] = float(v.max() - v.min()) if len(v) else 0.0
    return out


@dataclass
class _Encoded:
    num: np.ndarray  # n x p, scaled by range, NaN for null
    cat: np.ndarray  # n x q, int codes (null has its own code)


def _encode(enc: DCREncoder, frames: Sequence[pd.DataFrame]) -> list[_Encoded]:
    n_num = [
        np.column_stack([_as_float(f[c]) / enc.ranges[c] for c in enc.numeric])
        if enc.numeric
        else np.zeros((len(f), 0))
        for f in frames
    ]
    cat_cols = []
    for c in enc.categorical:
        values = [f[c] for f in frames]
        is_num = all(
            pd.api.types.is_numeric_dtype(v) or pd.api.types.is_datetime64_any_dtype(v) for v in values
        )
        if is_num:
            keys = [_as_float(v) for v in values]
            joined = np.concatenate(keys)
            codes, _ = pd.factorize(pd.Series(joined), use_na_sentinel=False)
        else:
            joined = pd.concat([v.astype(object).where(v.notna(), None) for v in values], ignore_index=True)
            kinds = {type(x) for x in joined.dropna().unique()[:10_000]}
            if (
                len(kinds) > 1
            ):  # mixed types: 1, 1.0 and True are different codes, as in SDMetrics' ==... mostly
                joined = joined.map(lambda x: x if x is None else (x, type(x).__name__))
            codes, _ = pd.factorize(joined, use_na_sentinel=False)
        cat_cols.append(np.asarray(codes, dtype=np.int64))
    out = []
    start = 0
    for i, f in enumerate(frames):
        n = len(f)
        cat = (
            np.column_stack([c[start : start + n] for c in cat_cols])
            if cat_cols
            else np.zeros((n, 0), dtype=np.int64)
        )
        out.append(_Encoded(n_num[i], cat))
        start += n
    return out


# ---------------------------------------------------------------------------------------------------
# exact nearest records


@dataclass
class DCRStats:
    seconds: float = 0.0
    brute_force_rows: int = 0
    subsets: int = 0


def dcr(
    data: pd.DataFrame,
    reference: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    ranges: Mapping[str, float] | None = None,
    stats: DCRStats | None = None,
) -> np.ndarray:
    """Distance from every row of ``data`` to its closest row of ``reference`` (SDMetrics' DCR).

    ``columns``: column → SDMetrics sdtype. ``ranges`` default to the reference's (as SDMetrics).
    """
    enc = DCREncoder.from_columns(columns, reference, ranges=ranges)
    q, r = _encode(enc, [data, reference])
    t0 = time.perf_counter()
    best = _nearest(q, r, stats or DCRStats())
    if stats is not None:
        stats.seconds += time.perf_counter() - t0
    return best / enc.n_columns


def _nearest(q: _Encoded, r: _Encoded, stats: DCRStats) -> np.ndarray:
    """Exact min over reference rows of the summed per-column distance (not yet averaged)."""
    from scipy.spatial import cKDTree

    nq, nr = len(q.num), len(r.num)
    if nr == 0:
        return np.full(nq, np.inf)
    p = q.num.shape[1]
    # capped columns: a query farther than 1 (one range) from every reference value
    rmin = np.nanmin(r.num, axis=0) if p and np.isfinite(r.num).any() else np.zeros(p)
    rmax = np.nanmax(r.num, axis=0) if p and np.isfinite(r.num).any() else np.zeros(p)
    with np.errstate(invalid="ignore"):
        outside = (
            np.any((q.num > rmin + 1 + 1e-12) | (q.num < rmax - 1 - 1e-12), axis=1)
            if p
            else np.zeros(nq, bool)
        )
    # partition columns: many-valued codes and the null pattern of numbers with nulls
    card = [
        int(max(q.cat[:, j].max(initial=-1), r.cat[:, j].max(initial=-1)) + 1) for j in range(q.cat.shape[1])
    ]
    nullable = [j for j in range(p) if np.isnan(q.num[:, j]).any() or np.isnan(r.num[:, j]).any()]
    # codes partition the records (k-d trees then search only the numbers, where they are fast); past
    # MAX_PARTITIONS, the codes with fewest values are one-hot encoded instead
    order = sorted(range(q.cat.shape[1]), key=lambda j: -card[j])
    room = max(MAX_PARTITIONS - len(nullable), 0)
    part_cat = sorted(order[:room])
    onehot = sorted(order[room:])
    qkeys = [q.cat[:, j] for j in part_cat] + [np.isnan(q.num[:, j]).astype(np.int64) for j in nullable]
    rkeys = [r.cat[:, j] for j in part_cat] + [np.isnan(r.num[:, j]).astype(np.int64) for j in nullable]
    S = len(qkeys)
    bases = [card[j] + 1 for j in part_cat] + [2] * len(nullable)
    qoh = _onehot(q.cat, onehot, card)
    roh = _onehot(r.cat, onehot, card)
    best = np.full(nq, np.inf)
    active = ~outside
    for size in range(S, -1, -1):
        for T in itertools.combinations(range(S), size):
            offset = S - size
            todo = active & (best > offset + 1e-12)
            if not todo.any():
                continue
            stats.subsets += 1
            Tl = list(T)
            dropped_nulls = {
                nullable[i - len(part_cat)] for i in range(S) if i not in T and i >= len(part_cat)
            }
            qk, rk = _combine([qkeys[i] for i in Tl], [rkeys[i] for i in Tl], [bases[i] for i in Tl], nq, nr)
            r_order = np.argsort(rk, kind="stable")
            rk_sorted = rk[r_order]
            q_idx = np.flatnonzero(todo)
            uq = np.unique(qk[q_idx])
            starts = np.searchsorted(rk_sorted, uq, side="left")
            ends = np.searchsorted(rk_sorted, uq, side="right")
            q_sorted = q_idx[np.argsort(qk[q_idx], kind="stable")]
            q_bounds = np.searchsorted(qk[q_sorted], uq, side="left")
            q_bounds = np.append(q_bounds, len(q_sorted))
            for g, key in enumerate(uq):
                a, b = starts[g], ends[g]
                if a == b:
                    continue
                qs = q_sorted[q_bounds[g] : q_bounds[g + 1]]
                refs = r_order[a:b]
                # numeric dims present in this group: not dropped, and (nullable) not null here
                dims = [
                    j
                    for j in range(p)
                    if j not in dropped_nulls and not (j in nullable and np.isnan(q.num[qs[0], j]))
                ]
                qx = np.concatenate([q.num[qs][:, dims], qoh[qs]], axis=1)
                rx = np.concatenate([r.num[refs][:, dims], roh[refs]], axis=1)
                if rx.shape[1] == 0:
                    d = np.zeros(len(qs))
                else:
                    bound = float(np.max(best[qs] - offset))
                    tree = cKDTree(rx, leafsize=24, balanced_tree=False, compact_nodes=False)
                    d, _ = tree.query(qx, k=1, p=1, distance_upper_bound=bound + 1e-9 if np.isfinite(bound) else np.inf,
                                      workers=-1 if len(qs) > 20_000 else 1)  # fmt: skip
                best[qs] = np.minimum(best[qs], d + offset)
    if outside.any():
        best[outside] = _brute(q, r, np.flatnonzero(outside), stats)
    return best


def _combine(
    qkeys: list[np.ndarray], rkeys: list[np.ndarray], bases: list[int], nq: int, nr: int
) -> tuple[np.ndarray, np.ndarray]:
    """One int64 key per row from several code columns, consistent between queries and references."""
    qk = np.zeros(nq, dtype=np.int64)
    rk = np.zeros(nr, dtype=np.int64)
    span = 1
    for qc, rc, base in zip(qkeys, rkeys, bases, strict=True):
        if span * base > 2**40:  # compact the keys so far before they could overflow
            _, inv = np.unique(np.concatenate([qk, rk]), return_inverse=True)
            qk, rk = inv[: len(qk)].astype(np.int64), inv[len(qk) :].astype(np.int64)
            span = int(inv.max(initial=0)) + 1
        qk = qk * base + qc
        rk = rk * base + rc
        span *= base
    return qk, rk


def _onehot(cat: np.ndarray, cols: list[int], card: list[int]) -> np.ndarray:
    n = len(cat)
    width = sum(card[j] for j in cols)
    out = np.zeros((n, width), dtype="float64")
    off = 0
    for j in cols:
        out[np.arange(n), off + cat[:, j]] = 0.5
        off += card[j]
    return out


def _brute(q: _Encoded, r: _Encoded, rows: np.ndarray, stats: DCRStats) -> np.ndarray:
    """Exact DCR sums for ``rows`` of the query by chunked brute force (caps and nulls as SDMetrics)."""
    stats.brute_force_rows += len(rows)
    out = np.empty(len(rows))
    rnan = np.isnan(r.num)
    rnum = np.where(rnan, 0.0, r.num)
    for s in range(0, len(rows), _CHUNK):
        idx = rows[s : s + _CHUNK]
        total = np.zeros((len(idx), len(r.num)))
        for j in range(q.num.shape[1]):
            qv = q.num[idx, j][:, None]
            qn = np.isnan(qv)
            diff = np.minimum(np.abs(np.where(qn, 0.0, qv) - rnum[None, :, j]), 1.0)
            diff = np.where(qn ^ rnan[None, :, j], 1.0, np.where(qn & rnan[None, :, j], 0.0, diff))
            total += diff
        for j in range(q.cat.shape[1]):
            total += q.cat[idx, j][:, None] != r.cat[None, :, j]
        out[s : s + len(idx)] = total.min(axis=1)
    return out


# ---------------------------------------------------------------------------------------------------
# SDMetrics-compatible scores


def random_baseline(real: pd.DataFrame, n: int, seed: int | None = None) -> pd.DataFrame:
    """Uniformly random rows within the real data's ranges and values (SDMetrics' baseline)."""
    rng = np.random.default_rng(seed)
    out = {}
    for col in real.columns:
        s = real[col]
        nan_ratio = s.isna().mean()
        if pd.api.types.is_integer_dtype(s):
            vals: Any = rng.integers(low=s.min(), high=s.max() + 1, size=n).astype("float64")
        elif pd.api.types.is_float_dtype(s):
            vals = rng.uniform(low=s.min(), high=s.max(), size=n)
        elif pd.api.types.is_datetime64_any_dtype(s):
            lo, hi = s.min(), s.max()
            vals = lo + pd.to_timedelta(rng.uniform(0, (hi - lo).total_seconds(), size=n), unit="s")
            vals = pd.Series(vals).astype("datetime64[ns]")
        else:
            uniq = s.dropna().unique()
            vals = rng.choice(uniq, size=n) if len(uniq) else np.full(n, None, dtype=object)
        ser = pd.Series(vals)
        mask = rng.random(n) < nan_ratio
        if pd.api.types.is_datetime64_any_dtype(ser):
            ser[mask] = pd.NaT
        else:
            ser = ser.astype(object) if ser.dtype == object else ser
            ser[mask] = np.nan
        out[col] = ser
    return pd.DataFrame(out)


def dcr_baseline_protection(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    seed: int | None = None,
    random_data: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """SDMetrics' DCRBaselineProtection: median DCR of synthetic rows vs of random rows (ratio, ≤ 1).

    Not a pass/fail test: fresh real people score *worse* than synthesizers on it (see the notes).
    """
    rnd = random_data if random_data is not None else random_baseline(real, len(synthetic), seed)
    d_syn = dcr(synthetic, real, columns)
    d_rnd = dcr(rnd, real, columns)
    m_syn, m_rnd = float(np.median(d_syn)), float(np.median(d_rnd))
    score = float("nan") if m_rnd == 0 else min(m_syn / m_rnd, 1.0)
    return {
        "score": score,
        "median_DCR_to_real_data": {"synthetic_data": m_syn, "random_data_baseline": m_rnd},
    }


def dcr_overfitting_protection(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    ranges: str | Mapping[str, float] = "reference",
    equal_size: bool = False,
    seed: int | None = None,
) -> dict[str, Any]:
    """SDMetrics' DCROverfittingProtection: the share of synthetic rows closer to training than holdout.

    ``ranges="reference"`` is SDMetrics' (biased) normalisation; ``"fixed"`` uses one range per column
    over all three datasets; a mapping gives public ranges. ``equal_size`` subsamples the training data
    to the holdout's size.
    """
    if equal_size and len(train) > len(holdout):
        train = train.sample(n=len(holdout), random_state=seed).reset_index(drop=True)
    if ranges == "reference":
        r_train = r_hold = None
    elif ranges == "fixed":
        r_train = r_hold = fixed_ranges(
            [train, holdout, synthetic], [c for c, t in columns.items() if t in ("numerical", "datetime")]
        )
    else:
        r_train = r_hold = dict(ranges)  # type: ignore[arg-type]
    d_train = dcr(synthetic, train, columns, ranges=r_train)
    d_hold = dcr(synthetic, holdout, columns, ranges=r_hold)
    closer = float(np.mean(d_train < d_hold))
    return {
        "score": min((1.0 - closer) * 2, 1.0),
        "synthetic_data_percentages": {"closer_to_training": closer, "closer_to_holdout": 1.0 - closer},
        "median_dcr": {"to_training": float(np.median(d_train)), "to_holdout": float(np.median(d_hold))},
    }


def disclosure_protection(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    known_column_names: list[str],
    sensitive_column_names: list[str],
    *,
    continuous_column_names: list[str] | None = None,
    num_discrete_bins: int = 10,
) -> dict[str, float]:
    """SDMetrics' DisclosureProtection (CAP), vectorised with group-bys instead of a row loop."""
    real, synthetic = _discretize_and_fillna(real, synthetic, known_column_names, sensitive_column_names,
                                             continuous_column_names, num_discrete_bins)  # fmt: skip
    n_unique = np.prod([real[c].nunique(dropna=False) for c in sensitive_column_names])
    baseline = 1 - float(1 / n_unique)
    cols = known_column_names + sensitive_column_names
    syn_key = synthetic.groupby(known_column_names, dropna=False).size().rename("n_key")
    syn_pair = synthetic.groupby(cols, dropna=False).size().rename("n_pair")
    r = real[cols].merge(syn_key, left_on=known_column_names, right_index=True, how="inner")
    if r.empty:
        cap = float("nan")
    else:
        r = r.merge(syn_pair, left_on=cols, right_index=True, how="left")
        cap = 1.0 - float((r["n_pair"].fillna(0) / r["n_key"]).mean())
    score = float("nan") if baseline == 0 else min(cap / baseline, 1.0)
    return {"score": score, "cap_protection": cap, "baseline_protection": baseline}


def _discretize_and_fillna(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    known: list[str],
    sensitive: list[str],
    continuous: list[str] | None,
    bins: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    real = real[known + sensitive].copy()
    synthetic = synthetic[known + sensitive].copy()
    for col in continuous or []:
        labels = [str(x) for x in range(bins)]
        r_binned, edges = pd.cut(pd.to_numeric(_as_float(real[col])), bins, labels=labels, retbins=True)
        edges[0], edges[-1] = -np.inf, np.inf
        s_binned = pd.cut(pd.to_numeric(_as_float(synthetic[col])), edges, labels=labels)
        real[col] = np.asarray(r_binned)
        synthetic[col] = np.asarray(s_binned)
    for col in known + sensitive:
        null = "__NULL_VALUE__"
        cats = set(real[col].dropna().unique()) | set(synthetic[col].dropna().unique())
        while null in cats:
            null += "_"
        real[col] = real[col].astype(object).where(real[col].notna(), null)
        synthetic[col] = synthetic[col].astype(object).where(synthetic[col].notna(), null)
    return real, synthetic


# ---------------------------------------------------------------------------------------------------
# relative tests


def membership_auc(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, columns: Mapping[str, str],
                   *, ranges: Mapping[str, float] | None = None, seed: int | None = None) -> float:  # fmt: skip
    """AUC of "a training row is closer to the synthetic data than a holdout row" (0.5: no signal)."""
    if len(train) > len(holdout):
        train = train.sample(n=len(holdout), random_state=seed).reset_index(drop=True)
    d_in = dcr(train, synthetic, columns, ranges=ranges)
    d_out = dcr(holdout, synthetic, columns, ranges=ranges)
    scores = np.concatenate([-d_in, -d_out])
    labels = np.concatenate([np.ones(len(d_in)), np.zeros(len(d_out))])
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    n1, n0 = len(d_in), len(d_out)
    return float((ranks[labels == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _row_hash(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    norm = {}
    for c in columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            norm[c] = s.astype("datetime64[ns]").astype("int64").where(s.notna(), -1).astype("int64")
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = pd.to_numeric(s, errors="coerce").astype("float64")
            norm[c] = v.round(9).fillna(-np.inf)
        else:
            norm[c] = s.astype(object).where(s.notna(), "\x00null").astype(str)
    return pd.util.hash_pandas_object(pd.DataFrame(norm), index=False).to_numpy()


def exact_match_rate(data: pd.DataFrame, reference: pd.DataFrame, columns: Sequence[str]) -> float:
    """Share of ``data`` rows identical (on ``columns``) to some ``reference`` row."""
    if len(data) == 0:
        return 0.0
    return float(np.isin(_row_hash(data, columns), _row_hash(reference, columns)).mean())


def rare_value_leakage(
    train: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str], k: int
) -> dict[str, dict[str, int]]:
    """Per code column: how many values seen 1..k-1 times in ``train`` appear in ``synthetic`` (and in how many rows)."""
    out = {}
    for c in columns:
        counts = train[c].value_counts(dropna=True)
        rare = counts[(counts > 0) & (counts < k)].index
        if len(rare) == 0:
            continue
        present = synthetic[c].isin(rare)
        n_values = int(pd.Series(synthetic[c][present].unique()).nunique())
        out[c] = {"rare_values": len(rare), "leaked_values": n_values, "leaked_rows": int(present.sum())}
    return out


def attribute_disclosure(
    train: pd.DataFrame,
    release: pd.DataFrame,
    quasi_identifiers: list[str],
    sensitive: list[str],
    *,
    k: int,
    continuous: list[str] | None = None,
    bins: int = 10,
) -> dict[str, float]:
    """How often an attacker who knows a person's quasi-identifiers learns their sensitive value.

    For training rows whose quasi-identifier combination is shared by fewer than ``k`` training rows
    (the people at risk), the attacker guesses the most frequent sensitive value among ``release``
    rows with the same combination. Returns the share guessed right (over all at-risk rows; no match
    counts as a miss) and the share of at-risk rows with any match. Run it with the holdout as the
    release to get what fresh real data would give.
    """
    tr, rel = _discretize_and_fillna(train, release, quasi_identifiers, sensitive, continuous, bins)
    key_counts = tr.groupby(quasi_identifiers, dropna=False).size().rename("n")
    at_risk = tr.merge(key_counts, left_on=quasi_identifiers, right_index=True)
    at_risk = at_risk[at_risk["n"] < k]
    if at_risk.empty:
        return {"at_risk_rows": 0, "correct": 0.0, "matched": 0.0}
    cols = quasi_identifiers + sensitive
    counts = rel.groupby(cols, dropna=False).size().rename("c").reset_index()
    counts = counts.sort_values("c", ascending=False, kind="stable").drop_duplicates(quasi_identifiers)
    guess = counts.set_index(quasi_identifiers)[sensitive]
    guess.columns = [f"{c}__guess" for c in sensitive]
    merged = at_risk.merge(guess, left_on=quasi_identifiers, right_index=True, how="left")
    matched = merged[f"{sensitive[0]}__guess"].notna()
    correct = matched.copy()
    for c in sensitive:
        correct &= merged[c].astype(str) == merged[f"{c}__guess"].astype(str)
    return {"at_risk_rows": len(at_risk), "correct": float(correct.mean()), "matched": float(matched.mean())}


# ---------------------------------------------------------------------------------------------------
# everything for one table


@dataclass
class PrivacyResult:
    table: str
    rows: dict[str, int]
    median_dcr_synthetic: float  # synthetic -> training
    median_dcr_synthetic_holdout: float  # synthetic -> holdout (same size, same ranges)
    median_dcr_holdout: float  # holdout -> training (fresh real people)
    closer_to_training: float
    closer_to_training_sdmetrics: float | None
    membership_auc: float
    exact_match_synthetic: float
    exact_match_holdout: float
    rare_values: dict[str, dict[str, int]]
    disclosure_synthetic: dict[str, float] | None
    disclosure_holdout: dict[str, float] | None
    rare_matches: dict[str, Any] | None = None  # see hdc_toolkit.synth.matches
    dcr_histogram: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def evaluate_privacy(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    table: str = "",
    k: int = 10,
    quasi_identifiers: list[str] | None = None,
    sensitive: list[str] | None = None,
    ranges: Mapping[str, float] | None = None,
    sdmetrics_share: bool = False,
    max_rows: int | None = None,
    seed: int = 0,
    train_groups: np.ndarray | None = None,
    holdout_groups: np.ndarray | None = None,
) -> PrivacyResult:
    """Every relative privacy measure of one table (see the module docstring).

    ``ranges``: public ranges per numeric column; by default one range over all three datasets.
    ``max_rows`` caps each side by random subsampling (None: whole tables). ``*_groups``: the person
    of each training / holdout row (:func:`hdc_toolkit.synth.matches.person_keys`), for the rare-record
    exact-match test; None: every row is a person.
    """
    from hdc_toolkit.synth.matches import rare_record_matches

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    cols = {
        c: t
        for c, t in columns.items()
        if c in train.columns and c in synthetic.columns and c in holdout.columns
    }

    def cap(df: pd.DataFrame, groups: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
        if max_rows is not None and len(df) > max_rows:
            rows = np.sort(
                np.random.default_rng(int(rng.integers(2**31))).choice(len(df), max_rows, replace=False)
            )
            return df.iloc[rows].reset_index(drop=True), None if groups is None else np.asarray(groups)[rows]
        return df.reset_index(drop=True), groups

    (train, train_groups), (synthetic, _), (holdout, holdout_groups) = (
        cap(train, train_groups), cap(synthetic), cap(holdout, holdout_groups))  # fmt: skip
    numeric = [c for c, t in cols.items() if t in ("numerical", "datetime")]
    fixed = dict(ranges) if ranges is not None else fixed_ranges([train, holdout, synthetic], numeric)
    train_eq = (
        train.sample(n=len(holdout), random_state=seed).reset_index(drop=True)
        if len(train) > len(holdout)
        else train
    )
    d_syn_train = dcr(synthetic, train_eq, cols, ranges=fixed)
    d_syn_hold = dcr(synthetic, holdout, cols, ranges=fixed)
    d_hold_train = dcr(holdout, train_eq, cols, ranges=fixed)
    d_train_syn = dcr(train_eq, synthetic, cols, ranges=fixed)
    d_hold_syn = dcr(holdout, synthetic, cols, ranges=fixed)
    closer = float(np.mean(d_syn_train < d_syn_hold))
    sdm = None
    if sdmetrics_share:
        sdm = dcr_overfitting_protection(train, synthetic, holdout, cols, ranges="reference")[
            "synthetic_data_percentages"
        ]["closer_to_training"]
    scores = np.concatenate([-d_train_syn, -d_hold_syn])
    labels = np.concatenate([np.ones(len(d_train_syn)), np.zeros(len(d_hold_syn))])
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    n1, n0 = len(d_train_syn), len(d_hold_syn)
    auc = float((ranks[labels == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else float("nan")
    col_list = list(cols)
    h_train, h_syn, h_hold = (_row_hash(d, col_list) for d in (train, synthetic, holdout))
    rare = rare_record_matches(h_train, h_syn, h_hold, k=k, train_groups=train_groups,
                               holdout_groups=holdout_groups, seed=seed)  # fmt: skip
    codes = [c for c, t in cols.items() if t in ("categorical", "boolean")]
    disc_s = disc_h = None
    qi = [c for c in (quasi_identifiers or []) if c in cols]
    sens = [c for c in (sensitive or []) if c in cols and c not in qi]
    if qi and sens:
        cont = [c for c in qi + sens if cols[c] in ("numerical", "datetime")]
        disc_s = attribute_disclosure(train, synthetic, qi, sens, k=k, continuous=cont)
        disc_h = attribute_disclosure(train, holdout, qi, sens, k=k, continuous=cont)
    edges = np.linspace(
        0, max(float(np.quantile(np.concatenate([d_syn_train, d_hold_train]), 0.99)), 1e-9), 31
    )
    hist = {
        "edges": edges.tolist(),
        "synthetic": np.histogram(np.clip(d_syn_train, 0, edges[-1]), edges)[0].tolist(),
        "holdout": np.histogram(np.clip(d_hold_train, 0, edges[-1]), edges)[0].tolist(),
    }
    return PrivacyResult(
        table=table,
        rows={
            "train": len(train),
            "train_compared": len(train_eq),
            "holdout": len(holdout),
            "synthetic": len(synthetic),
        },
        median_dcr_synthetic=float(np.median(d_syn_train)),
        median_dcr_synthetic_holdout=float(np.median(d_syn_hold)),
        median_dcr_holdout=float(np.median(d_hold_train)),
        closer_to_training=closer,
        closer_to_training_sdmetrics=sdm,
        membership_auc=auc,
        exact_match_synthetic=float(np.isin(h_syn, h_train).mean()) if len(h_syn) else 0.0,
        exact_match_holdout=float(np.isin(h_hold, h_train).mean()) if len(h_hold) else 0.0,
        rare_matches=rare.to_dict(),
        rare_values=rare_value_leakage(train, synthetic, codes, k),
        disclosure_synthetic=disc_s,
        disclosure_holdout=disc_h,
        dcr_histogram=hist,
        seconds=time.perf_counter() - t0,
    )
