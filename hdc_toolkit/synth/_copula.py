"""The fast default synthesizer: a vectorised Gaussian copula with empirical marginals, multi-table.

**Marginals.** A number or time is kept as a grid of at most 2,048 empirical quantiles (one per ``k``
values, so each piece of the quantile function spans at least ``k`` people) between the ``k``-th
smallest and ``k``-th largest values (``k`` = the risk profile's smallest safe count); sampled values
are interpolated between grid points and rounded to the column's own granularity (integers, decimals,
whole minutes, days, first of the month...). Beyond the grid (probability ``k/n`` at each end) a
number comes from an exponential tail (on the log scale for a positive number) fitted to the ``4k``
values at that end using only the ``k``-th to ``4k``-th most extreme (so the ``k - 1`` most extreme
people never affect the model, as with bottom/top coding) and truncated at the extreme those ``4k``
are expected to reach; dates and times stay between their ``k``-th extremes (an extraction window
bounds them). So no real extreme is reproduced, yet a number's synthetic range is about as wide as
fresh real data's: SDMetrics bins each dataset over its own min-max, and top-coding (flchain's kappa
and lambda stopped at a third of the real maximum) misaligned those bins and cost 0.05 of quality.
A group's tails never pass the column's. A code keeps the frequencies of the values that occur at
least ``k`` times; rarer values are never generated. Nulls are a dimension of their own.

**Dependence.** Every value becomes a normal score by its randomised rank (ties broken at random, so
discrete columns are handled exactly); the correlation matrix is estimated pairwise over the rows
where both values exist and projected to the nearest valid correlation matrix. Sampling is one matrix
product: ``z = L ε``.

**Tables.** A parent table carries one extra dimension per child table: the number of children of
each row. A child table is modelled *jointly with its parent's normal scores*, and sampled from the
conditional normal given the synthetic parent row (``z_c = B z_p + L ε``), so children resemble their
own parent (age at admission, diagnoses of the episode's department...).

**Constraints built in.** An ordered pair (discharge after admission) is modelled as the lower value
plus a non-negative gap; a child time tightly tied to its parent (a diagnosis date in its episode) is
modelled as an offset from the parent's time; a child row outside its time bounds (an event after
death) is re-drawn from its conditional distribution up to eight times. What remains is fixed by
:func:`hdc_toolkit.synth.constraints.repair`.

Fitting and sampling are O(n log n) numpy: a million rows take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtri

from hdc_toolkit.exceptions import DataError
from hdc_toolkit.synth._marginals import (  # noqa: F401 - re-exported
    _EPS,
    _NULL,
    GRID,
    SECONDS_PER_DAY,
    CategoricalMarginal,
    Granularity,
    NumericMarginal,
    _unit_factor,
    from_units,
    to_units,
)
from hdc_toolkit.synth.constraints import Bound, ConstraintSet, Order, as_datetime64, follow
from hdc_toolkit.synth.metadata import ColumnPlan, SchemaPlan, TablePlan

__all__ = ["CategoricalMarginal", "FastModel", "NumericMarginal", "from_units", "to_units"]

_REDRAW_ROUNDS = 8
#: Ridge added to the parent block before conditioning on it.
RIDGE = 0.02


def _order_categories(
    dims: list[Dim], z: np.ndarray, source: Mapping[str, pd.Series], rng: np.random.Generator
) -> np.ndarray:
    """Order each code's values along the first principal axis of their mean normal scores.

    A Gaussian copula links a code to the rest through the order of its values on [0, 1]; ordering
    values by how they co-vary with the other columns (optimal scoring) lets the copula carry most of
    a nominal column's associations instead of the arbitrary ones of a frequency order.
    """
    if z.shape[1] < 2:
        return z
    mask = ~np.isnan(z)
    z0 = np.where(mask, z, 0.0)
    maskf = mask.astype("float64")
    for j, d in enumerate(dims):
        if d.name not in source or len(d.marginal.values) < 3:
            continue
        m = d.marginal
        idx = m.index(source[d.name])
        ok = idx >= 0
        k = len(m.values)
        others = [i for i in range(z.shape[1]) if i != j]
        rows = np.flatnonzero(ok)
        group = sparse.csr_matrix((np.ones(len(rows)), (idx[rows], rows)), shape=(k, len(idx)))
        sums = np.asarray(group @ z0)[:, others]
        cnts = np.asarray(group @ maskf)[:, others]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(cnts > 0, sums / cnts, 0.0)
        w = np.bincount(idx[ok], minlength=k).astype("float64")
        centred = means - (w @ means) / max(w.sum(), 1.0)
        cov = (centred * w[:, None]).T @ centred
        _, vecs = np.linalg.eigh(cov)
        score = centred @ vecs[:, -1]
        order = np.argsort(score, kind="stable")
        d.marginal = m.reordered(order)
        inverse = np.empty(k, dtype=np.int64)
        inverse[order] = np.arange(k)
        z[:, j] = d.marginal.encode(None, rng, idx=np.where(ok, inverse[np.maximum(idx, 0)], -1))
        z0[:, j] = np.where(np.isnan(z[:, j]), 0.0, z[:, j])
        maskf[:, j] = ~np.isnan(z[:, j])
    return z


def _functional_dependencies(
    df: pd.DataFrame, columns: list[str], k: int
) -> dict[str, tuple[str, dict[Any, Any]]]:
    """Code columns that are a function of another code column (``unit`` of ``analysis_code``).

    Only values seen at least ``k`` times count. A Gaussian copula cannot reproduce such a mapping;
    the toolkit derives the dependent column from the one it depends on instead.
    """
    out: dict[str, tuple[str, dict[Any, Any]]] = {}
    if len(columns) < 2 or len(df) == 0:
        return out
    codes = {}
    for c in columns:
        obj = df[c].astype(object).where(df[c].notna(), _NULL)
        f, uniques = pd.factorize(obj)
        counts = np.bincount(f, minlength=len(uniques))
        codes[c] = (f, uniques, counts)
    for a in columns:
        fa, ua, ca = codes[a]
        frequent = ca[fa] >= k
        if frequent.sum() < max(2 * k, 20) or len(ua) < 2:
            continue
        for b in columns:
            if b == a or b in out or a in out:
                continue
            fb, ub, _ = codes[b]
            if len(ub) < 2 or len(ub) > len(ua):
                continue
            pair = np.unique(fa[frequent].astype(np.int64) * len(ub) + fb[frequent])
            if len(pair) == len(np.unique(fa[frequent])):
                amap = {}
                for code in pair:
                    amap[ua[code // len(ub)]] = ub[code % len(ub)]
                mapping = {x: (None if y == _NULL else y) for x, y in amap.items()}
                out[b] = (a, mapping)
    return out


def _map_codes(values: np.ndarray, mapping: Mapping[Any, Any]) -> np.ndarray:
    keys = list(mapping)
    idx = pd.Index(keys).get_indexer(np.where(pd.isna(values), _NULL, values))
    table = np.array([mapping[x] for x in keys] + [None], dtype=object)
    return table[np.where(idx >= 0, idx, len(keys))]


def _best_code(
    df: pd.DataFrame, column: str, values: np.ndarray, codes: list[Dim], k: int
) -> tuple[str, list[Any]] | None:
    """The code column that explains most of a number's variation (rank correlation ratio ≥ 0.3)."""
    ok = ~np.isnan(values)
    if ok.sum() < 100 or not codes:
        return None
    r = pd.Series(values[ok]).rank().to_numpy()
    r = (r - r.mean()) / (r.std() or 1.0)
    best, best_eta = None, 0.3
    min_rows = max(5 * k, 50)
    for d in codes:
        keys = df[d.column].astype(object).where(df[d.column].notna(), _NULL).to_numpy()[ok]
        f, uniques = pd.factorize(keys)
        if len(uniques) < 2 or len(uniques) > 500:
            continue
        counts = np.bincount(f)
        means = np.bincount(f, weights=r) / counts
        eta = float((counts * means**2).sum() / len(r))
        if eta > best_eta:
            groups = [uniques[i] for i in np.flatnonzero(counts >= min_rows)]
            if groups:
                best, best_eta = (d.column, groups), eta
    return best  # type: ignore[return-value]


def _normal_ranks(z: np.ndarray) -> np.ndarray:
    """Each column replaced by exact normal scores of its ranks: conditional draws keep their order
    (and so their dependence on the parent) while every marginal stays exactly standard normal, even
    where the synthetic parents are distributed a little differently from the real ones."""
    n = z.shape[0]
    ranks = np.argsort(np.argsort(z, axis=0, kind="stable"), axis=0)
    return ndtri((ranks + 0.5) / n)


def tie_attenuation(v: np.ndarray) -> float:
    x = v[~np.isnan(v)]
    if len(x) == 0:
        return 1.0
    _, counts = np.unique(x, return_counts=True)
    if len(counts) > 2000:
        return 1.0
    return attenuation(np.concatenate([[0.0], np.cumsum(counts) / len(x)]))


def rank_normal(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores by randomised rank (ties split at random); NaN stays NaN."""
    z = np.full(len(v), np.nan)
    ok = ~np.isnan(v)
    x = v[ok]
    n = len(x)
    if n == 0:
        return z
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    before = np.cumsum(counts) - counts
    u = (before[inv] + rng.random(n) * counts[inv]) / n
    z[ok] = ndtri(np.clip(u, _EPS, 1 - _EPS))
    return z


def attenuation(edges: np.ndarray) -> float:
    """How much a coarse dimension's jittered scores understate its latent correlations.

    A value in cell ``k`` (probabilities between ``edges[k]`` and ``edges[k+1]``) is scored by a
    random point of the cell; its correlation with any other normal variable is the latent one times
    ``Var(E[X | cell]) = sum_k p_k m_k**2`` with ``m_k = (phi(a_k) - phi(b_k)) / p_k`` (exact against
    a continuous variable, first order between two coarse ones). 1 for a continuous column.
    """
    e = np.clip(np.asarray(edges, dtype="float64"), 0.0, 1.0)
    p = np.diff(e)
    keep = p > 0
    if keep.sum() <= 1:
        return 1.0
    x = ndtri(np.clip(e, 1e-300, 1 - 1e-16))
    x[0], x[-1] = -np.inf, np.inf
    phi = np.exp(-0.5 * np.where(np.isfinite(x), x, 0.0) ** 2) / np.sqrt(2 * np.pi)
    phi[~np.isfinite(x)] = 0.0
    m = (phi[:-1] - phi[1:])[keep] / p[keep]
    return float(np.clip((p[keep] * m * m).sum(), 1e-3, 1.0))


def correlation(z: np.ndarray, factors: np.ndarray | None = None) -> np.ndarray:
    """Pairwise-complete correlation of normal scores, projected to a valid correlation matrix.

    ``factors`` (see :func:`attenuation`) undo the attenuation of coarse dimensions, so the matrix
    estimates the latent (polyserial / polychoric) correlations the sampler needs.
    """
    d = z.shape[1]
    if d == 0:
        return np.zeros((0, 0))
    mask = ~np.isnan(z)
    z0 = np.where(mask, z, 0.0)
    m = mask.astype("float64")
    counts = m.T @ m
    cross = z0.T @ z0
    sq = (z0 * z0).T @ m  # sum of z_i^2 over rows where j is present
    with np.errstate(invalid="ignore", divide="ignore"):
        c = cross / np.sqrt(sq * sq.T)
    c = np.where((counts > 2) & np.isfinite(c), c, 0.0)
    if factors is not None:
        c = np.clip(c / np.outer(factors, factors), -0.995, 0.995)
    np.fill_diagonal(c, 1.0)
    return nearest_correlation(c)


def nearest_correlation(c: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    c = (c + c.T) / 2
    w, v = np.linalg.eigh(c)
    if w.min() >= floor:
        return c
    w = np.maximum(w, floor)
    c = (v * w) @ v.T
    s = np.sqrt(np.diag(c))
    c = c / np.outer(s, s)
    np.fill_diagonal(c, 1.0)
    return c


# ---------------------------------------------------------------------------------------------------
# one table


@dataclass
class Dim:
    """One dimension of a table's copula."""

    name: str  # the column it encodes, or __n__<child>, or <col>__null, or <fk>__linked
    kind: str  # numeric | categorical
    column: str | None
    logical_type: str = "number"
    marginal: Any = None
    factor: float = 1.0  # attenuation of its jittered scores (see ``attenuation``)
    cond_on: str | None = None  # a code column whose value selects the marginal (lab value given analysis)
    cond_marginals: dict[Any, NumericMarginal] = field(default_factory=dict)


@dataclass(frozen=True)
class Anchor:
    """A child time expressed relative to a parent row: an offset from ``start`` or a position in [start, end]."""

    kind: str  # offset | interval
    start: Bound
    end: Bound | None = None


def _parent_units(b: Bound, plan: SchemaPlan, child: ColumnPlan, values: pd.Series) -> np.ndarray:
    """A parent time in the child column's units (floored to days for a date child)."""
    pcol = plan.tables[b.parent].column(b.parent_column)
    v = to_units(values, pcol.logical_type) * _unit_factor(pcol.logical_type, child.logical_type)
    if child.logical_type == "date" and pcol.logical_type == "timestamp":
        v = np.floor(v)
    return v


@dataclass
class TableModel:
    name: str
    n_rows: int
    dims: list[Dim]
    corr: np.ndarray  # joint: parent context dims first, then own dims
    n_context: int
    gaps: dict[str, Order] = field(default_factory=dict)  # upper column -> order (modelled as gap)
    anchors: dict[str, Anchor] = field(default_factory=dict)  # primary-parent anchored columns
    placed: dict[str, Anchor] = field(default_factory=dict)  # columns placed inside a sibling's interval
    own_limits: dict[str, tuple[float, float]] = field(default_factory=dict)  # of reconstructed columns
    text: dict[str, dict[str, Any]] = field(default_factory=dict)  # generated free-text columns
    own_granularity: dict[str, Granularity] = field(default_factory=dict)  # of gap / anchored columns
    derived: dict[str, tuple[str, dict[Any, Any]]] = field(
        default_factory=dict
    )  # code -> (code it is a function of, map)
    empty: list[str] = field(default_factory=list)  # all-null columns
    # conditional sampling matrices
    B: np.ndarray | None = None
    L: np.ndarray | None = None

    def prepare(self) -> None:
        p = self.n_context
        c = self.corr
        if p == 0:
            self.B = np.zeros((c.shape[0], 0))
            self.L = (
                np.linalg.cholesky(nearest_correlation(c) + 1e-9 * np.eye(len(c)))
                if len(c)
                else np.zeros((0, 0))
            )
            return
        spp, spc, scc = c[:p, :p], c[:p, p:], c[p:, p:]
        sol = np.linalg.solve(
            spp + RIDGE * np.eye(p), spc
        )  # p x d (ridge: the parent block is often near-singular)
        self.B = sol.T
        s = scc - spc.T @ sol
        s = (s + s.T) / 2
        w, v = np.linalg.eigh(s)
        w = np.maximum(w, 1e-9)
        self.L = v * np.sqrt(w)

    def draw(self, n: int, context: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        assert self.B is not None and self.L is not None
        d = self.L.shape[0]
        eps = rng.standard_normal((n, d))
        z = eps @ self.L.T
        if context is not None and self.n_context:
            z += context @ self.B.T
            if n > 50:
                z = _normal_ranks(z)
        return z


class FastModel:
    """Fits and samples every table of a schema (see the module docstring)."""

    def __init__(
        self,
        plan: SchemaPlan,
        constraints: ConstraintSet,
        *,
        k: int = 10,
        seed: int | None = None,
        protect_extremes: bool = True,
    ) -> None:
        self.plan = plan
        self.constraints = constraints
        self.k = max(int(k), 1)
        self.protect_extremes = protect_extremes
        self.seed = seed
        self.tables: dict[str, TableModel] = {}
        self.notes: list[str] = []
        self._plans: dict[str, TablePlan] = plan.tables

    # ----------------------------------------------------------------------------------------- fit
    def fit(self, data: Mapping[str, pd.DataFrame]) -> FastModel:
        rng = np.random.default_rng(self.seed)
        scores: dict[str, np.ndarray] = {}  # own normal scores per table (rows of the real table)
        for t in self.plan.order:
            tp = self.plan.tables[t]
            df = data[t]
            own_dims, own_z = self._fit_own(tp, df, data, rng)
            parent = tp.parent
            n_ctx = 0
            ctx = np.zeros((len(df), 0))
            if parent is not None:
                link = tp.primary_link
                assert link is not None
                pos = pd.Index(data[parent][link.parent_column].to_numpy()).get_indexer(
                    df[link.column].to_numpy()
                )
                pz = scores[parent]
                ctx = np.where((pos >= 0)[:, None], pz[np.maximum(pos, 0)], np.nan)
                n_ctx = pz.shape[1]
            joint = np.concatenate([ctx, own_z], axis=1) if n_ctx else own_z
            factors = np.array(
                ([d.factor for d in self.tables[parent].dims] if n_ctx else []) + [d.factor for d in own_dims]
            )
            corr = correlation(joint, factors)
            tm = self.tables[t]
            tm.dims, tm.corr, tm.n_context = own_dims, corr, n_ctx
            tm.prepare()
            scores[t] = np.where(np.isnan(own_z), 0.0, own_z)
        return self

    def _fit_own(
        self, tp: TablePlan, df: pd.DataFrame, data: Mapping[str, pd.DataFrame], rng: np.random.Generator
    ) -> tuple[list[Dim], np.ndarray]:
        t = tp.name
        tm = TableModel(t, len(df), [], np.zeros((0, 0)), 0)
        self.tables[t] = tm
        dims: list[Dim] = []
        cols: list[np.ndarray] = []
        raw: list[np.ndarray | None] = []
        orders = {o.upper: o for o in self.constraints.orders_of(t)}
        modelled = {c.name: c for c in tp.columns if c.modelled}
        derived = _functional_dependencies(
            df, [c.name for c in tp.columns if c.modelled and c.role == "categorical"], self.k
        )
        for b, (a, _) in derived.items():
            self.notes.append(
                f"{t}.{b} is a function of {t}.{a} in the real data: derived from it, not modelled"
            )
        for c in tp.columns:
            if c.role == "unsupported":
                if df[c.name].notna().any() or c.required:
                    raise DataError(
                        f"{t}.{c.name}: logical type {c.logical_type} cannot be synthesized; leave the column out of the release"
                    )
                tm.empty.append(c.name)
                continue
            if not c.modelled:
                continue
            s = df[c.name]
            if s.isna().all():
                if c.required:
                    raise DataError(f"{t}.{c.name} is required but every value is null")
                tm.empty.append(c.name)
                self.notes.append(f"{t}.{c.name}: every value is null; the synthetic column is null too")
                continue
            if c.role in ("numerical", "datetime"):
                v = to_units(s, c.logical_type)
                o = orders.get(c.name)
                if (
                    o is not None
                    and o.lower in modelled
                    and modelled[o.lower].role in ("numerical", "datetime")
                ):
                    lower = to_units(df[o.lower], modelled[o.lower].logical_type) * _unit_factor(
                        modelled[o.lower].logical_type, c.logical_type
                    )
                    gap = v - lower
                    if not np.any(~np.isnan(v) & np.isnan(lower)) and _tight(gap, v):
                        v = gap
                        tm.gaps[c.name] = o
                if c.name not in tm.gaps:
                    anchored = self._anchor(tp, c, v, df, data)
                    if anchored is not None:
                        v = anchored
                if c.name in tm.gaps or c.name in tm.anchors:
                    own = to_units(s, c.logical_type)
                    tm.own_granularity[c.name] = Granularity.detect(own, c.logical_type)
                    tm.own_limits[c.name] = _tail_limits(own, self.k)
                lo, hi = (
                    _contract_limits(c)
                    if (c.name not in tm.gaps and c.name not in tm.anchors)
                    else (-np.inf, np.inf)
                )
                if c.name in tm.gaps and tm.gaps[c.name].strict is False:
                    lo = 0.0
                if c.name in tm.anchors:
                    lo, hi = (0.0, 1.0) if tm.anchors[c.name].kind == "interval" else (0.0, np.inf)
                marg = NumericMarginal.fit(
                    v, self.k, c.logical_type, lo, hi, protect_extremes=self.protect_extremes
                )
                dims.append(Dim(c.name, "numeric", c.name, c.logical_type, marg))
                cols.append(rank_normal(v, rng))
                raw.append(v)
                nulls = np.isnan(v)
                if nulls.any() and not c.required:
                    nm, _ = CategoricalMarginal.fit(pd.Series(nulls), self.k)
                    if nm is not None and len(nm.values) > 1:
                        dims.append(Dim(f"{c.name}__null", "categorical", c.name, "boolean", nm))
                        cols.append(nm.encode(pd.Series(nulls), rng))
                        raw.append(None)
                    elif nm is not None and bool(nm.values[0]) is True:
                        tm.empty.append(c.name)
                        dims.pop()
                        cols.pop()
                        raw.pop()
                placed = self._placement(tp, c, df, data)
                if placed is not None:
                    anchor, pos = placed
                    tm.placed[c.name] = anchor
                    dims.append(
                        Dim(
                            f"{c.name}__pos",
                            "numeric",
                            c.name,
                            "number",
                            NumericMarginal.fit(pos, self.k, "number", 0.0, 1.0),
                        )
                    )
                    cols.append(rank_normal(pos, rng))
                    raw.append(pos)
                continue
            # categorical
            if c.name in derived:
                tm.derived[c.name] = derived[c.name]
                continue
            marg, share = CategoricalMarginal.fit(s, self.k)
            if marg is None or share < 0.5:
                tm.text[c.name] = _text_spec(c, s, self.k, share)
                self.notes.append(
                    f"{t}.{c.name}: {s.nunique()} distinct values, {share:.0%} of rows in values seen at least "
                    f"{self.k} times: treated as free text and generated {'from the pattern' if c.pattern else 'as random tokens'}"
                )
                continue
            dims.append(Dim(c.name, "categorical", c.name, c.logical_type, marg))
            cols.append(marg.encode(s, rng))
            raw.append(None)
        # foreign keys that are sometimes null: whether the row links at all
        for link in tp.links:
            if link.kind in ("sibling", "random") and not link.required:
                linked = df[link.column].notna()
                if linked.all() or (~linked).all():
                    continue
                m, _ = CategoricalMarginal.fit(linked, 1)
                if m is not None:
                    dims.append(Dim(f"{link.column}__linked", "categorical", link.column, "boolean", m))
                    cols.append(m.encode(linked, rng))
                    raw.append(None)
        # number of children per row
        for child in self.plan.children(t):
            ctp = self.plan.tables[child]
            link = ctp.primary_link
            assert link is not None
            keys = df[link.parent_column].to_numpy()
            child_keys = data[child][link.column]
            counts = child_keys.value_counts()
            n = pd.Series(keys).map(counts).fillna(0).to_numpy(dtype="float64")
            marg = NumericMarginal.fit(n, self.k, "integer", 0.0, np.inf)
            dims.append(Dim(f"__n__{child}", "numeric", None, "integer", marg))
            cols.append(rank_normal(n, rng))
            raw.append(n)
        for j, d in enumerate(dims):
            if (
                d.kind != "numeric"
                or d.column is None
                or d.name != d.column
                or d.column in tm.gaps
                or d.column in tm.anchors
            ):
                continue
            if modelled.get(d.column) is None or modelled[d.column].temporal:
                continue
            best = _best_code(
                df,
                d.column,
                raw[j],
                [x for x in dims if x.kind == "categorical" and x.name == x.column],
                self.k,
            )
            if best is None:
                continue
            code, groups = best
            lo, hi = d.marginal.lo, d.marginal.hi
            keys = df[code].astype(object).where(df[code].notna(), _NULL).to_numpy()
            v = raw[j]
            zj = cols[j]
            for g in groups:
                rows = keys == g
                gm = NumericMarginal.fit(
                    v[rows], self.k, d.logical_type, lo, hi, protect_extremes=self.protect_extremes
                )
                d.cond_marginals[g] = gm.within(d.marginal)
                zj[rows] = rank_normal(v[rows], rng)
            d.cond_on = code
        z = np.column_stack(cols) if cols else np.zeros((len(df), 0))
        source = {
            d.name: df[d.column]
            for d in dims
            if d.kind == "categorical"
            and d.column in df.columns
            and not d.name.endswith(("__null", "__linked"))
        }
        for _ in range(2):
            z = _order_categories(dims, z, source, rng)
        for j, d in enumerate(dims):
            if d.kind == "categorical":
                d.factor = attenuation(d.marginal.edges)
            else:
                d.factor = tie_attenuation(raw[j]) if raw[j] is not None else 1.0
        return dims, z

    def _anchor(
        self, tp: TablePlan, c: ColumnPlan, v: np.ndarray, df: pd.DataFrame, data: Mapping[str, pd.DataFrame]
    ) -> np.ndarray | None:
        """``c`` relative to its primary parent (a position in the parent's interval, or a tight offset)."""
        link = tp.primary_link
        if link is None or not c.temporal:
            return None
        found = self._interval(tp, c, df, data, link.column)
        if found is not None:
            anchor, pos = found
            self.tables[tp.name].anchors[c.name] = anchor
            return pos
        for b in self.constraints.bounds_of(tp.name):
            if b.column != c.name or b.op != ">=" or len(b.path) != 1 or b.path[0][0] != link.column:
                continue
            start = _parent_units(
                b, self.plan, c, follow(b.path, data, df, [b.parent_column])[b.parent_column]
            )
            off = v - start
            if (~np.isnan(off)).sum() < 20:
                continue
            if _tight(off, v, 0.02) and np.nanmin(off) >= 0:
                self.tables[tp.name].anchors[c.name] = Anchor("offset", b)
                return off
        return None

    def _placement(
        self, tp: TablePlan, c: ColumnPlan, df: pd.DataFrame, data: Mapping[str, pd.DataFrame]
    ) -> tuple[Anchor, np.ndarray] | None:
        """Position of ``c`` in the interval of a sibling row (a lab sample within its episode)."""
        if not c.temporal or c.name in self.tables[tp.name].anchors:
            return None
        for link in tp.links:
            if link.kind == "sibling":
                found = self._interval(tp, c, df, data, link.column, linked_only=True)
                if found is not None:
                    return found
        return None

    def _interval(
        self,
        tp: TablePlan,
        c: ColumnPlan,
        df: pd.DataFrame,
        data: Mapping[str, pd.DataFrame],
        hop: str,
        *,
        linked_only: bool = False,
    ) -> tuple[Anchor, np.ndarray] | None:
        bounds = [
            b
            for b in self.constraints.bounds_of(tp.name)
            if b.column == c.name and len(b.path) == 1 and b.path[0][0] == hop
        ]
        for ge in (b for b in bounds if b.op == ">="):
            for le in (b for b in bounds if b.op == "<=" and b.parent == ge.parent):
                pv = follow(ge.path, data, df, [ge.parent_column, le.parent_column])
                start = _parent_units(ge, self.plan, c, pv[ge.parent_column])
                end = _parent_units(le, self.plan, c, pv[le.parent_column])
                v = to_units(df[c.name], c.logical_type)
                width = end - start
                rows = df[hop].notna().to_numpy() if linked_only else np.ones(len(df), dtype=bool)
                if np.any(rows & ~np.isnan(v) & np.isnan(width)) or not _tight((v - start)[rows], v, 0.25):
                    continue  # open intervals (no death date) and wide ones are better modelled absolutely
                with np.errstate(invalid="ignore", divide="ignore"):
                    pos = np.where(width > 0, (v - start) / width, np.nan)
                if (~np.isnan(pos)).sum() < 20:
                    continue
                return Anchor("interval", ge, le), np.clip(pos, 0.0, 1.0)
        return None

    # -------------------------------------------------------------------------------------- sample
    def sample(
        self, *, scale: float = 1.0, num_rows: int | None = None, seed: int | None = None
    ) -> dict[str, pd.DataFrame]:
        rng = np.random.default_rng(seed)
        out: dict[str, pd.DataFrame] = {}
        zs: dict[str, np.ndarray] = {}
        counts: dict[str, np.ndarray] = {}
        for t in self.plan.order:
            tp = self.plan.tables[t]
            tm = self.tables[t]
            parent = tp.parent
            if parent is None:
                n = int(
                    num_rows
                    if (num_rows is not None and len(self.plan.roots) == 1)
                    else round(tm.n_rows * scale)
                )
                ctx = None
                parent_idx = None
            else:
                per = counts[f"{parent}->{t}"]
                parent_idx = np.repeat(np.arange(len(per)), per)
                n = len(parent_idx)
                ctx = zs[parent][parent_idx] if tm.n_context else None
            z = tm.draw(n, ctx, rng)
            df = self._decode(tp, tm, z, out, parent_idx, rng)
            fill_keys(tp, df, out, rng, self.plan)
            # re-draw rows outside their time bounds, then link siblings on the final times
            df, z = self._redraw(tp, tm, df, z, ctx, out, parent_idx, rng)
            fill_keys(tp, df, out, rng, self.plan, kinds=("sibling",))
            self._place_in_siblings(tp, tm, df, out)
            zs[t] = z
            for child in self.plan.children(t):
                j = next(i for i, d in enumerate(tm.dims) if d.name == f"__n__{child}")
                v = tm.dims[j].marginal.decode(z[:, j], "integer")
                counts[f"{t}->{child}"] = np.maximum(np.round(v), 0).astype("int64")
            out[t] = df
        return {
            t: df.drop(columns=[c for c in df.columns if c.startswith("__") or c.endswith("__linked")])
            for t, df in out.items()
        }

    def _decode(
        self,
        tp: TablePlan,
        tm: TableModel,
        z: np.ndarray,
        done: Mapping[str, pd.DataFrame],
        parent_idx: np.ndarray | None,
        rng: np.random.Generator,
    ) -> pd.DataFrame:
        n = z.shape[0]
        cols: dict[str, Any] = {}
        nulls: dict[str, np.ndarray] = {}
        for j, d in enumerate(tm.dims):
            if d.name.endswith("__null"):
                nulls[d.column] = d.marginal.decode(z[:, j]).astype(bool)  # type: ignore[index]
            elif d.name.endswith("__linked"):
                cols[d.name] = d.marginal.decode(z[:, j]).astype(bool)
            elif d.name.startswith("__n__") or d.name.endswith("__pos"):
                continue
            elif d.kind == "numeric" and d.cond_on is None:
                cols[d.column] = d.marginal.decode(z[:, j], d.logical_type)  # type: ignore[index]
            elif d.kind == "numeric":
                continue
            else:
                vals = d.marginal.decode(z[:, j])
                vals = np.where(vals == _NULL, None, vals)
                cols[d.column] = vals  # type: ignore[index]
        for b, (a, mapping) in tm.derived.items():
            if a in cols:
                cols[b] = _map_codes(np.asarray(cols[a], dtype=object), mapping)
        for j, d in enumerate(tm.dims):
            if d.kind == "numeric" and d.cond_on is not None:
                keys = np.asarray(cols.get(d.cond_on, np.full(n, None)), dtype=object)
                keys = np.where(pd.isna(keys), _NULL, keys)
                v = d.marginal.decode(z[:, j], d.logical_type)
                for g, gm in d.cond_marginals.items():
                    rows = keys == g
                    if rows.any():
                        v[rows] = gm.decode(z[rows, j], d.logical_type)
                cols[d.column] = v  # type: ignore[index]
        for col, mask in nulls.items():
            if col in cols:
                cols[col] = np.where(mask, np.nan, cols[col])
        # gaps and anchors back to values (model units), in dependency order
        modelled = {c.name: c for c in tp.columns if c.modelled}
        pending = [c for c in tm.gaps]
        for _ in range(len(pending) + 1):
            for upper in list(pending):
                o = tm.gaps[upper]
                if o.lower in tm.gaps and o.lower in pending:
                    continue
                lower = cols.get(o.lower)
                if lower is None:
                    cols[upper] = np.full(n, np.nan)
                else:
                    f = _unit_factor(modelled[o.lower].logical_type, modelled[upper].logical_type)
                    cu = modelled[upper]
                    v = lower * f + cols[upper]
                    v = tm.own_granularity[upper].apply(v, cu.logical_type)
                    lo, hi = _contract_limits(cu)
                    cols[upper] = np.clip(v, lo, hi)
                pending.remove(upper)
        if tm.anchors and parent_idx is not None:
            for col, anchor in tm.anchors.items():
                cu = modelled[col]
                parent = done[anchor.start.parent]
                start = _parent_units(anchor.start, self.plan, cu, parent[anchor.start.parent_column])[
                    parent_idx
                ]
                if anchor.kind == "interval":
                    assert anchor.end is not None
                    end = _parent_units(anchor.end, self.plan, cu, parent[anchor.end.parent_column])[
                        parent_idx
                    ]
                    v = _place(start, end, cols[col], cu, tm.own_granularity[col])
                else:
                    v = tm.own_granularity[col].apply(start + cols[col], cu.logical_type)
                lo, hi = _contract_limits(cu)
                cols[col] = np.clip(v, lo, hi)
        for col in tm.placed:
            j = next(i for i, d in enumerate(tm.dims) if d.name == f"{col}__pos")
            cols[f"{col}__pos"] = tm.dims[j].marginal.decode(z[:, j], "number")
        frame: dict[str, Any] = {}
        for c in tp.columns:
            if c.name in tm.empty or (not c.modelled):
                frame[c.name] = _empty(c, n)
            elif c.name in tm.text and (c.name not in cols):
                frame[c.name] = _generate_text(tm.text[c.name], n, rng)
            elif c.name in cols:
                frame[c.name] = _finish(cols[c.name], c)
            else:
                frame[c.name] = _empty(c, n)
        for name, v in cols.items():
            if name.endswith(("__linked", "__pos")):
                frame[name] = v
        df = pd.DataFrame(frame)
        if parent_idx is not None:
            df["__parent__"] = parent_idx
        return df

    def _place_in_siblings(
        self, tp: TablePlan, tm: TableModel, df: pd.DataFrame, done: Mapping[str, pd.DataFrame]
    ) -> None:
        for col, anchor in tm.placed.items():
            cu = tp.column(col)
            assert anchor.end is not None
            pv = follow(anchor.start.path, done, df, [anchor.start.parent_column, anchor.end.parent_column])
            start = _parent_units(anchor.start, self.plan, cu, pv[anchor.start.parent_column])
            end = _parent_units(anchor.end, self.plan, cu, pv[anchor.end.parent_column])
            pos = df[f"{col}__pos"].to_numpy(dtype="float64")
            v = _place(
                start,
                end,
                pos,
                cu,
                tm.own_granularity.get(col)
                or Granularity.detect(to_units(df[col], cu.logical_type), cu.logical_type),
            )
            ok = ~np.isnan(v)
            if ok.any():
                current = to_units(df[col], cu.logical_type)
                df[col] = _finish(np.where(ok, v, current), cu)

    def _redraw(
        self,
        tp: TablePlan,
        tm: TableModel,
        df: pd.DataFrame,
        z: np.ndarray,
        ctx: np.ndarray | None,
        done: Mapping[str, pd.DataFrame],
        parent_idx: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        from hdc_toolkit.synth.constraints import _bound_arrays, _outside

        hops = {link.column for link in tp.links if link.kind in ("primary", "derived")}
        bounds = [
            b for b in self.constraints.bounds_of(tp.name)
            if b.path and b.path[0][0] in hops and b.column not in tm.anchors and all(h[1] in done for h in b.path)
        ]  # fmt: skip
        orders = [o for o in self.constraints.orders_of(tp.name) if o.upper not in tm.gaps]
        if not bounds and not tm.own_limits and not orders:
            return df, z
        from hdc_toolkit.synth.constraints import _order_bad

        for _ in range(_REDRAW_ROUNDS):
            bad = np.zeros(len(df), dtype=bool)
            for col in {b.column for b in bounds}:
                bs = [b for b in bounds if b.column == col]
                lo, hi = _bound_arrays(df, bs, done, self.plan)
                bad |= _outside(df[col], lo, hi, tp.column(col))
            for o in orders:
                bad |= _order_bad(df, o)
            for col, (lo_u, hi_u) in tm.own_limits.items():
                v = to_units(df[col], tp.column(col).logical_type)
                bad |= ~np.isnan(v) & ((v < lo_u) | (v > hi_u))
            if not bad.any():
                break
            rows = np.flatnonzero(bad)
            zn = tm.draw(len(rows), ctx[rows] if ctx is not None else None, rng)
            z[rows] = zn
            redone = self._decode(tp, tm, zn, done, None if parent_idx is None else parent_idx[rows], rng)
            keep = [c.name for c in tp.columns if c.modelled] + [
                c for c in redone.columns if c.endswith(("__linked", "__pos"))
            ]
            for c in keep:
                if c in redone.columns and c in df.columns:
                    df[c] = _assign(df[c], rows, redone[c])
        return df, z


# ---------------------------------------------------------------------------------------------------
# helpers shared with the other synthesizers


def fill_keys(
    tp: TablePlan,
    df: pd.DataFrame,
    done: Mapping[str, pd.DataFrame],
    rng: np.random.Generator,
    plan: SchemaPlan,
    *,
    kinds: tuple[str, ...] = ("key", "primary", "derived", "sibling", "random"),
) -> None:
    """Fresh keys and identifiers; foreign keys from the parent row (``__parent__``) or by link kind."""
    from hdc_toolkit.synth.constraints import primary_path

    n = len(df)
    if "key" in kinds:
        for c in tp.columns:
            if c.role == "key" or (c.role == "identifier"):
                df[c.name] = fresh_ids(c, n, rng)
    for link in tp.links:
        if link.kind not in kinds:
            continue
        if link.kind == "primary":
            parent_keys = done[link.parent][link.parent_column].to_numpy()
            if "__parent__" in df.columns:
                df[link.column] = parent_keys[df["__parent__"].to_numpy()]
            elif len(parent_keys):
                df[link.column] = parent_keys[rng.integers(0, len(parent_keys), size=n)]
    for link in tp.links:
        if link.kind not in kinds:
            continue
        if link.kind == "derived":
            path = primary_path(plan, tp.name, link.parent)
            if path is not None:
                df[link.column] = follow(path, done | {tp.name: df}, df, [link.parent_column])[
                    link.parent_column
                ].to_numpy()
        elif link.kind == "sibling":
            df[link.column] = _sibling_keys(tp, link, df, done, plan, rng)
        elif link.kind == "random":
            source = done.get(link.parent, df)
            keys = source[link.parent_column].to_numpy()
            vals = (
                keys[rng.integers(0, len(keys), size=n)].astype(object)
                if len(keys)
                else np.full(n, None, dtype=object)
            )
            wanted = df.get(f"{link.column}__linked")
            if wanted is not None:
                vals = np.where(wanted.to_numpy(dtype=bool), vals, None)
            df[link.column] = vals


def fresh_ids(c: ColumnPlan, n: int, rng: np.random.Generator) -> Any:
    """Fresh, unique-where-needed ids: 1..n for integers, pattern strings otherwise."""
    from hdc_toolkit.synth._regex import random_strings, unique_random_strings

    if c.logical_type == "integer":
        return (
            np.arange(1, n + 1, dtype="int64")
            if c.unique or c.role == "key"
            else rng.integers(1, 2**31, size=n)
        )
    pattern = c.pattern or "^[0-9a-f]{16}$"
    vals = (
        unique_random_strings(pattern, n, rng)
        if (c.unique or c.role == "key")
        else random_strings(pattern, n, rng)
    )
    if c.code_system and c.code_system.lower() in ("fodselsnummer", "fødselsnummer") and len(vals):
        vals = invalidate_national_ids(vals)
    return vals.astype(object)


def invalidate_national_ids(vals: np.ndarray) -> np.ndarray:
    """Make 11-digit ids fail the fødselsnummer check digits, so none can be a real person's number."""
    if vals.dtype.itemsize // 4 != 11:
        return vals
    m = vals.view(np.uint32).reshape(len(vals), 11).copy()
    if not np.all((m >= 48) & (m <= 57)):
        return vals
    d = (m - 48).astype(np.int64)
    w1 = np.array([3, 7, 6, 1, 8, 9, 4, 5, 2])
    k1 = (11 - (d[:, :9] @ w1) % 11) % 11  # 10 = never valid
    wrong = np.where(k1 >= 10, d[:, 9], (k1 + 1) % 10)  # any digit but the right one
    d[:, 9] = wrong
    m = (d + 48).astype(np.uint32)
    return np.ascontiguousarray(m).view("<U11").reshape(len(vals))


def _sibling_keys(
    tp: TablePlan,
    link: Any,
    df: pd.DataFrame,
    done: Mapping[str, pd.DataFrame],
    plan: SchemaPlan,
    rng: np.random.Generator,
) -> np.ndarray:
    """A row of the sibling table with the same primary parent, nearest in time where both have a time."""
    n = len(df)
    out = np.full(n, None, dtype=object)
    sib = done.get(link.parent)
    prim = tp.primary_link
    sib_link = plan.tables[link.parent].primary_link
    if sib is None or prim is None or sib_link is None or len(sib) == 0:
        return out
    wanted = df.get(f"{link.column}__linked")
    want = np.ones(n, dtype=bool) if wanted is None else wanted.to_numpy(dtype=bool)
    if link.required:
        want[:] = True
    my_time = next((c.name for c in tp.columns if c.temporal and c.modelled), None)
    sib_time = next((c.name for c in plan.tables[link.parent].columns if c.temporal and c.modelled), None)
    left = pd.DataFrame({"row": np.arange(n), "owner": df[prim.column].astype(object).to_numpy()})
    right = pd.DataFrame(
        {"owner": sib[sib_link.column].astype(object).to_numpy(), "key": sib[link.parent_column].to_numpy()}
    )
    if my_time and sib_time:
        left["t"] = as_datetime64(df[my_time])
        right["t"] = as_datetime64(sib[sib_time])
        left = left[~left["t"].isna()]
        right = right[~right["t"].isna()]
        left["owner"] = left["owner"].astype(str)
        right["owner"] = right["owner"].astype(str)
        merged = pd.merge_asof(
            left.sort_values("t"), right.sort_values("t"), on="t", by="owner", direction="nearest"
        )
        out[merged["row"].to_numpy()] = merged["key"].to_numpy(dtype=object)
    else:
        first = right.drop_duplicates("owner").set_index("owner")["key"]
        out = left["owner"].map(first).to_numpy(dtype=object)
    out = np.where(want, out, None)
    if link.required:
        missing = pd.isna(out)
        keys = sib[link.parent_column].to_numpy()
        out[missing] = keys[rng.integers(0, len(keys), size=int(missing.sum()))]
    return out


def _place(
    start: np.ndarray, end: np.ndarray, pos: np.ndarray, c: ColumnPlan, gran: Granularity
) -> np.ndarray:
    """``start + pos * (end - start)`` rounded down to the column's granularity, kept within [start, end]."""
    width = np.maximum(end - start, 0.0)
    v = start + np.nan_to_num(pos, nan=0.0) * width
    if gran.period is not None:
        v = gran.apply(v, c.logical_type)
    elif gran.step:
        v = np.floor(v / gran.step + 1e-9) * gran.step
    return np.clip(v, start, np.maximum(start, end))


def _tight(offset: np.ndarray, values: np.ndarray, share: float = 0.1) -> bool:
    """True when the typical offset is small next to the spread of the values themselves."""
    off = offset[~np.isnan(offset)]
    val = values[~np.isnan(values)]
    if len(off) < 20 or len(val) < 20:
        return False
    spread = float(np.subtract(*np.quantile(val, [0.95, 0.05])))
    return spread > 0 and float(np.median(np.abs(off))) <= share * spread


def _tail_limits(v: np.ndarray, k: int) -> tuple[float, float]:
    x = np.sort(v[~np.isnan(v)])
    if len(x) == 0:
        return -np.inf, np.inf
    i = min(max(k - 1, 0), (len(x) - 1) // 2)
    return float(x[i]), float(x[len(x) - 1 - i])


def _assign(target: pd.Series, rows: np.ndarray, values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(target):
        arr = target.to_numpy(dtype="datetime64[us]").copy()
        arr[rows] = as_datetime64(values)
        return pd.Series(arr, index=target.index)
    arr = target.to_numpy(dtype=object if target.dtype == object else None).copy()
    try:
        arr[rows] = values.to_numpy()
    except (TypeError, ValueError):
        arr = arr.astype(object)
        arr[rows] = values.to_numpy(dtype=object)
    return pd.Series(arr, index=target.index)


def _contract_limits(c: ColumnPlan) -> tuple[float, float]:
    lo = -np.inf
    hi = np.inf
    if c.minimum is not None:
        lo = (
            float(to_units(pd.Series([pd.Timestamp(c.minimum)]), c.logical_type)[0])
            if c.temporal
            else float(c.minimum)
        )
    if c.maximum is not None:
        if c.temporal:
            hi = float(to_units(pd.Series([pd.Timestamp(c.maximum)]), c.logical_type)[0])
            if c.logical_type == "date":
                hi = np.floor(hi)
        else:
            hi = float(c.maximum)
    return lo, hi


def _finish(v: np.ndarray, c: ColumnPlan) -> Any:
    if c.role == "numerical":
        if c.logical_type == "integer":
            if np.isnan(v.astype("float64")).any():
                return pd.array(np.round(v), dtype="Float64").astype("Int64")
            return np.round(v).astype("int64")
        return v.astype("float64")
    if c.role == "datetime":
        return from_units(v.astype("float64"), c.logical_type)
    if c.logical_type == "boolean":
        return pd.array([None if x is None else bool(x) for x in v], dtype="boolean")
    return v


def _empty(c: ColumnPlan, n: int) -> Any:
    if c.temporal:
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if c.logical_type in ("integer", "number"):
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


def _text_spec(c: ColumnPlan, s: pd.Series, k: int, share: float) -> dict[str, Any]:
    lengths = s.dropna().astype(str).str.len()
    lo = int(lengths.quantile(0.05)) if len(lengths) else 1
    hi = int(lengths.quantile(0.95)) if len(lengths) else 8
    if c.min_length is not None:
        lo = max(lo, c.min_length)
    if c.max_length is not None:
        hi = min(hi, c.max_length)
    hi = max(hi, lo, 1)
    return {
        "pattern": c.pattern,
        "null_rate": float(s.isna().mean()),
        "min_len": max(lo, 1),
        "max_len": hi,
        "share": share,
    }


def _generate_text(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    from hdc_toolkit.synth._regex import random_strings

    if spec["pattern"]:
        vals = random_strings(spec["pattern"], n, rng).astype(object)
    else:
        pattern = f"^[a-z]{{{spec['min_len']},{spec['max_len']}}}$"
        vals = random_strings(pattern, n, rng).astype(object)
    if spec["null_rate"] > 0:
        vals[rng.random(n) < spec["null_rate"]] = None
    return vals
