"""Units, granularity and the marginals of the fast synthesizer (see :mod:`hdc_toolkit.synth._copula`)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from hdc_toolkit.synth.constraints import as_datetime64

__all__ = ["CategoricalMarginal", "Granularity", "NumericMarginal", "from_units", "to_units"]

GRID = 2048
_EPS = 1e-9
_NULL = "__hdc_null__"
SECONDS_PER_DAY = 86_400.0


# ---------------------------------------------------------------------------------------------------
# units


def to_units(s: pd.Series, logical_type: str) -> np.ndarray:
    """Model units: days since 1970 for dates, seconds for timestamps, the number itself otherwise."""
    if logical_type == "date":
        v = as_datetime64(s, "D")
        out = v.astype("int64").astype("float64")
        out[np.isnat(v)] = np.nan
        return out
    if logical_type == "timestamp":
        v = as_datetime64(s)
        out = v.astype("int64").astype("float64") / 1e6
        out[np.isnat(v)] = np.nan
        return out
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype="float64")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def from_units(v: np.ndarray, logical_type: str) -> np.ndarray | pd.Series:
    if logical_type == "date":
        out = np.full(len(v), np.datetime64("NaT"), dtype="datetime64[us]")
        ok = ~np.isnan(v)
        out[ok] = np.floor(v[ok]).astype("int64").astype("datetime64[D]").astype("datetime64[us]")
        return out
    if logical_type == "timestamp":
        out = np.full(len(v), np.datetime64("NaT"), dtype="datetime64[us]")
        ok = ~np.isnan(v)
        out[ok] = np.round(v[ok] * 1e6).astype("int64").astype("datetime64[us]")
        return out
    return v


def _unit_factor(from_type: str, to_type: str) -> float:
    """Multiply a value in ``from_type`` units to get ``to_type`` units (days ↔ seconds)."""
    if from_type == to_type:
        return 1.0
    if from_type == "date" and to_type == "timestamp":
        return SECONDS_PER_DAY
    if from_type == "timestamp" and to_type == "date":
        return 1.0 / SECONDS_PER_DAY
    return 1.0


# ---------------------------------------------------------------------------------------------------
# granularity


@dataclass(frozen=True)
class Granularity:
    """How sampled values are rounded: ``step`` in model units, or a calendar ``period`` (M / Y)."""

    step: float = 0.0
    period: str | None = None
    is_integer: bool = False

    @classmethod
    def detect(cls, values: np.ndarray, logical_type: str) -> Granularity:
        v = values[~np.isnan(values)]
        if len(v) == 0:
            return cls()
        sample = v if len(v) <= 200_000 else v[:: max(1, len(v) // 200_000)]
        if logical_type in ("date", "timestamp"):
            days = sample if logical_type == "date" else sample / SECONDS_PER_DAY
            if np.all(days == np.floor(days)):
                d = days.astype("int64").astype("datetime64[D]")
                if np.all(d.astype("datetime64[Y]").astype("datetime64[D]") == d):
                    return cls(period="Y")
                if np.all(d.astype("datetime64[M]").astype("datetime64[D]") == d):
                    return cls(period="M")
            if logical_type == "date":
                return cls(step=1.0)
            for step in (SECONDS_PER_DAY, 3600.0, 60.0, 1.0, 0.001):
                if np.all(np.abs(sample / step - np.round(sample / step)) < 1e-6):
                    return cls(step=step)
            return cls()
        if logical_type == "integer" or np.all(sample == np.round(sample)):
            return cls(step=1.0, is_integer=True)
        for d in range(1, 7):
            scaled = sample * 10**d
            if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
                return cls(step=10.0**-d)
        return cls()

    def apply(self, v: np.ndarray, logical_type: str) -> np.ndarray:
        if self.period is not None:
            days = v if logical_type == "date" else v / SECONDS_PER_DAY
            ok = ~np.isnan(days)
            out = np.full(len(v), np.nan)
            d = np.floor(days[ok]).astype("int64").astype("datetime64[D]")
            d = (
                d.astype(f"datetime64[{self.period}]")
                .astype("datetime64[D]")
                .astype("int64")
                .astype("float64")
            )
            out[ok] = d if logical_type == "date" else d * SECONDS_PER_DAY
            return out
        if self.step:
            return np.round(v / self.step) * self.step
        return v


# ---------------------------------------------------------------------------------------------------
# marginals


@dataclass
class NumericMarginal:
    grid: np.ndarray
    granularity: Granularity
    lo: float
    hi: float
    tail: float = 0.0  # probability beyond each end of the grid (k / n; 0: the grid spans everything)
    log_tail: bool = False  # tails modelled on the log scale (a positive number)
    scale_lo: float = 0.0  # exponential tail scales beyond the grid (on the tail scale)
    scale_hi: float = 0.0
    cap_lo: float = -np.inf  # the tails' expected extremes (model units): never passed
    cap_hi: float = np.inf

    @classmethod
    def fit(
        cls,
        v: np.ndarray,
        k: int,
        logical_type: str,
        lo: float = -np.inf,
        hi: float = np.inf,
        *,
        protect_extremes: bool = True,
    ) -> NumericMarginal:
        x = v[~np.isnan(v)]
        if len(x) == 0:
            return cls(np.zeros(2), Granularity(), lo, hi)
        q = min(k / len(x), 0.25) if (k > 1 and protect_extremes) else 0.0
        # one grid point per k values: the quantile function is smoothed over at least k people, so a
        # sample is never pulled towards one person's value (and with n / k >= GRID, GRID points)
        m = int(min(GRID, max(2, len(x) // max(k, 1))))
        grid = np.quantile(x, np.linspace(q, 1 - q, m))
        out = cls(grid, Granularity.detect(x, logical_type), lo, hi)
        # measurements get tails; calendar times keep the k-th extremes (an extraction window bounds them)
        if q > 0 and len(x) >= 16 * k and logical_type in ("number", "integer"):
            out._fit_tails(x, k, log=bool(x.min() > 0))
            if x.min() >= 0:  # a non-negative quantity stays non-negative (the sign is all that is used)
                out.lo = max(out.lo, 0.0)
        return out

    def _fit_tails(self, x: np.ndarray, k: int, *, log: bool) -> None:
        """Exponential tails beyond the k-th smallest / largest values (see :mod:`._copula`)."""
        t = np.sort(np.log(x) if log else x)
        m = 4 * k
        # the i-th largest of m exponential excesses over the (m+1)-th value has mean scale * (H_m - H_(i-1));
        # only i >= k is used, so the k - 1 most extreme people at each end never affect the fit
        harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, m + 1))])
        expected = float(np.sum(harmonic[m] - harmonic[k - 1 : m]))
        self.tail, self.log_tail = k / len(x), log
        self.scale_hi = float(np.sum(t[-k::-1][: m - k + 1] - t[-m - 1]) / expected)
        self.scale_lo = float(np.sum(t[m] - t[k - 1 : m]) / expected)
        reach = harmonic[m]  # the expected largest of m excesses, in scales
        finv = np.exp if log else float
        self.cap_hi = float(finv(t[-m - 1] + self.scale_hi * reach))
        self.cap_lo = float(finv(t[m] - self.scale_lo * reach))

    def within(self, other: NumericMarginal) -> NumericMarginal:
        """This marginal with its tails kept inside ``other``'s (a group's extremes stay the column's)."""
        return replace(self, cap_lo=max(self.cap_lo, other.cap_lo), cap_hi=min(self.cap_hi, other.cap_hi),
                       granularity=other.granularity)  # fmt: skip

    def decode(self, z: np.ndarray, logical_type: str) -> np.ndarray:
        u = ndtr(z)
        n = len(self.grid) - 1
        q = self.tail
        pos = np.clip((u - q) / (1 - 2 * q), 0.0, 1.0) * n
        out = np.interp(pos, np.arange(n + 1), self.grid)
        if q > 0 and (self.scale_hi > 0 or self.scale_lo > 0):
            f, finv = (_log, np.exp) if self.log_tail else (float, np.asarray)
            top, bottom = f(self.grid[-1]), f(self.grid[0])
            up, down = u > 1 - q, u < q
            room = f(min(self.cap_hi, self.hi)) - top
            out[up] = finv(top + _exp_tail(self.scale_hi, (1 - u[up]) / q, room))
            room = bottom - f(max(self.cap_lo, self.lo))
            out[down] = finv(bottom - _exp_tail(self.scale_lo, u[down] / q, room))
        out = self.granularity.apply(out, logical_type)
        return np.clip(out, self.lo, self.hi)


def _log(v: float) -> float:
    return float(np.log(v)) if v > 0 else -np.inf


def _exp_tail(scale: float, survival: np.ndarray, room: float) -> np.ndarray:
    """Distance beyond the grid's end of an exponential tail truncated at ``room`` (no pile-up at a bound)."""
    if scale <= 0 or not room > 0:
        return np.zeros(len(survival))
    reach = 1.0 if not np.isfinite(room) else -np.expm1(-room / scale)
    return -scale * np.log1p(-(1 - np.clip(survival, 1e-12, 1.0)) * reach)


@dataclass
class CategoricalMarginal:
    values: np.ndarray  # object array; _NULL stands for a null
    edges: np.ndarray  # cumulative probabilities, len(values) + 1

    @classmethod
    def fit(cls, s: pd.Series | np.ndarray, k: int) -> tuple[CategoricalMarginal | None, float]:
        """The marginal of the values occurring at least ``k`` times, and the share of rows that do."""
        obj = pd.Series(s, dtype=object).where(pd.notna(s), _NULL)
        counts = obj.value_counts(sort=True)
        total = int(counts.sum())
        kept = counts[counts >= max(k, 1)]
        if total == 0 or kept.empty:
            return None, 0.0
        p = kept.to_numpy(dtype="float64")
        edges = np.concatenate([[0.0], np.cumsum(p) / p.sum()])
        edges[-1] = 1.0
        return cls(np.array(kept.index.tolist(), dtype=object), edges), float(kept.sum()) / total

    def index(self, s: pd.Series | np.ndarray) -> np.ndarray:
        """Position of each value in ``values`` (-1: a value not modelled, e.g. a rare one)."""
        arr = np.asarray(s, dtype=object)
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        uniq = np.array(
            [_NULL if (u is None or (isinstance(u, float) and np.isnan(u))) else u for u in uniques]
            + [_NULL],
            dtype=object,
        )
        pos = pd.Index(self.values).get_indexer(uniq)
        return pos[np.where(codes < 0, len(uniq) - 1, codes)]

    def encode(
        self, s: pd.Series | np.ndarray, rng: np.random.Generator, idx: np.ndarray | None = None
    ) -> np.ndarray:
        idx = self.index(s) if idx is None else idx
        z = np.full(len(idx), np.nan)
        ok = idx >= 0
        lo = self.edges[idx[ok]]
        hi = self.edges[idx[ok] + 1]
        u = lo + rng.random(int(ok.sum())) * (hi - lo)
        z[ok] = ndtri(np.clip(u, _EPS, 1 - _EPS))
        return z

    def reordered(self, order: np.ndarray) -> CategoricalMarginal:
        p = np.diff(self.edges)[order]
        edges = np.concatenate([[0.0], np.cumsum(p)])
        edges[-1] = 1.0
        return CategoricalMarginal(self.values[order], edges)

    def decode(self, z: np.ndarray) -> np.ndarray:
        u = ndtr(z)
        idx = np.searchsorted(self.edges, u, side="right") - 1
        idx = np.clip(idx, 0, len(self.values) - 1)
        return self.values[idx]
