"""Vectorised sampling helpers shared by the table generators: categorical draws, calendars, ages.

Times are plain integers: days since 1970-01-01 (``int64``) for dates and milliseconds since
1970-01-01 for timestamps. Every function takes its ``numpy.random.Generator`` explicitly and draws
the same numbers for the same inputs, which keeps the extract deterministic per seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "DAY_MS",
    "MINUTE_MS",
    "PERIOD_END",
    "PERIOD_START",
    "GroupedChoice",
    "age_bands",
    "categorical_rows",
    "day_of",
    "epoch_day",
    "seasonal_days",
    "uniform_days",
]

DAY_MS = 86_400_000
MINUTE_MS = 60_000


def epoch_day(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int((np.datetime64(iso, "D") - np.datetime64("1970-01-01", "D")).astype(np.int64))


#: The extract covers hospital activity from PERIOD_START to PERIOD_END (inclusive).
PERIOD_START = epoch_day("2012-01-01")
PERIOD_END = epoch_day("2025-12-31")

#: Edges of the age bands used to apply age limits of codes (years, upper edge exclusive).
AGE_EDGES: tuple[int, ...] = (
    0,
    1,
    2,
    3,
    5,
    6,
    10,
    12,
    15,
    16,
    18,
    20,
    25,
    30,
    35,
    40,
    45,
    50,
    55,
    60,
    65,
    70,
    75,
    80,
    85,
    200,
)


def age_bands(age_years: np.ndarray) -> np.ndarray:
    """Index of the age band (see ``AGE_EDGES``) of each age in whole years."""
    return np.searchsorted(np.asarray(AGE_EDGES[1:]), age_years, side="right")


def day_of(ms: np.ndarray) -> np.ndarray:
    """The day (since 1970) of a timestamp in milliseconds."""
    return np.floor_divide(ms, DAY_MS)


def categorical_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One draw per row of a (n, k) matrix of non-negative weights; every row needs a positive sum.

    A zero-weight item is never drawn. Works in float32, which is ample for sampling and twice as fast.
    """
    cum = np.cumsum(weights.astype(np.float32, copy=False), axis=1)
    # strictly below the row total, so the draw always lands on an item of positive weight
    u = rng.random(len(weights), dtype=np.float32) * cum[:, -1] * np.float32(0.99999)
    return np.minimum((cum <= u[:, None]).sum(axis=1), weights.shape[1] - 1)


class GroupedChoice:
    """Draws one of ``k`` items for each row, with a different probability vector per group.

    ``weights`` is a (groups, k) matrix; a group whose weights are all zero draws ``fallback``.
    Only items of positive weight are kept; sampling is one ``searchsorted`` over the groups'
    cumulative distributions laid end to end (group ``g`` occupies the interval ``(g, g + 1]``), so a
    zero-weight item is never drawn.
    """

    def __init__(self, weights: np.ndarray, fallback: int = 0) -> None:
        weights = np.array(weights, dtype=np.float64)
        empty = weights.sum(axis=1) <= 0
        weights[empty] = 0.0
        weights[empty, fallback] = 1.0
        self.k = weights.shape[1]
        group, item = np.nonzero(weights > 0)
        w = weights[group, item]
        cum = np.cumsum(w)
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        ends = np.r_[starts[1:], len(group)] - 1
        before = np.r_[0.0, cum][starts]
        total = cum[ends] - before
        within = (cum - np.repeat(before, ends - starts + 1)) / np.repeat(total, ends - starts + 1)
        within[ends] = 1.0
        self._flat = group + np.minimum(within, 1.0)
        self._items = item

    def sample(self, rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
        """Item indices in ``[0, k)`` for rows of the given groups."""
        u = rng.random(len(groups))
        return self._items[np.searchsorted(self._flat, groups + u, side="right")]


def uniform_days(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """A day drawn uniformly between ``first`` and ``last`` inclusive, per row."""
    span = np.asarray(last) - np.asarray(first) + 1
    return np.asarray(first) + np.floor(rng.random(len(span)) * span).astype(np.int64)


def _day_of_year(days: np.ndarray) -> np.ndarray:
    d = days.astype("datetime64[D]")
    return (d - d.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)


def seasonal_days(
    rng: np.random.Generator,
    first: np.ndarray,
    last: np.ndarray,
    elective: np.ndarray,
    *,
    winter_peak: float = 0.18,
    weekday_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 0.95, 0.12, 0.08),
    summer_holiday: float = 0.55,
    max_rounds: int = 30,
) -> np.ndarray:
    """Days between ``first`` and ``last`` with a winter peak, and for elective contacts weekdays.

    Rejection sampling, vectorised: all rows draw a day, rows whose day is rejected draw again, at
    most ``max_rounds`` times (then the last draw stands). The season weight is
    ``1 + winter_peak * cos(2π (doy - 20) / 365.25)`` (highest in late January); elective contacts are
    rarer at weekends and in the July holidays.
    """
    first = np.asarray(first, dtype=np.int64)
    last = np.asarray(last, dtype=np.int64)
    elective = np.asarray(elective, dtype=bool)
    wd = np.asarray(weekday_weights, dtype=np.float64)
    out = uniform_days(rng, first, last)
    todo = np.arange(len(out))
    top = 1.0 + winter_peak
    for _ in range(max_rounds):
        if not len(todo):
            break
        days = out[todo]
        doy = _day_of_year(days)
        w = 1.0 + winter_peak * np.cos(2 * np.pi * (doy - 20) / 365.25)
        el = elective[todo]
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        w = np.where(el, w * wd[weekday] * np.where((doy >= 182) & (doy < 213), summer_holiday, 1.0), w)
        rejected = rng.random(len(todo)) * top > w
        todo = todo[rejected]
        out[todo] = uniform_days(rng, first[todo], last[todo])
    return out
