"""Epidemiology helpers: cohorts from code lists, follow-up, person-time, incidence and prevalence.

Every function takes pandas *or* Dask DataFrames (as :func:`~hdc_toolkit.analysis.open_table` returns
them) and gives back **pandas** results: a cohort is one row per person, a table of counts is one row
per cell, ready for output checking. Row-level data never has to leave the cluster.

Conventions (the same in every function, and in the tests' hand computations)
------------------------------------------------------------------------------
* **Dates are days.** Timestamps are cut to their day. ``start`` and ``end`` are inclusive days.
* **Index date**: a person's first event with a code that *starts with* one of the listed prefixes
  (ICD-10 ``E11`` matches ``E11``, ``E119``; ATC ``A10B`` matches ``A10BA02``).
* **Follow-up** for incidence: from ``entry = max(start, birth)`` (and, with ``entry=`` a cohort such
  as the day of diagnosis, not before that person's day; people without one are left out) to
  ``exit = min(end + 1 day, death, index date)``, i.e. the interval ``[entry, exit)`` in days.
  People whose index date is before ``start`` are *prevalent* and excluded; so are people with
  ``exit < entry`` (dead or not yet born in the window) and people without a birth date.
  An **event** is counted when the index date is the exit day and lies in ``[start, end]``; it belongs
  to the calendar year of the index date and the age band of the age at the index date.
* **Person-time** is split exactly at 1 January and at birthdays (Lexis diagram), so every day is
  counted in the calendar year and the age band in which it was lived. ``person_years = days / 365.25``.
* **Age** is completed years (the age on the last birthday). A 29 February birthday falls on 1 March in
  other years. **Age bands** are given by their lower edges, e.g. ``(0, 20, 30, …, 80)`` gives
  ``0-19, 20-29, …, 80+``; an age below the first edge is left out.
* **Prevalence** at a reference day ``d`` (by default 31 December of each year): the population is
  everyone born on or before ``d`` and not dead on or before ``d``; cases are those of them whose
  index date is on or before ``d``.
* **Confidence intervals** are exact: for a rate, the Poisson (Garwood) interval
  ``[χ²(α/2; 2k)/2, χ²(1-α/2; 2k+2)/2] / person-time``; for a prevalence proportion, the
  Clopper–Pearson interval (``beta``), or the Poisson one with ``method="poisson"``.

How it is fast on Dask: the cohort (small) is broadcast to every partition of the population; each
partition computes its cells with vectorised NumPy (bincount over integer cell codes: year × age band ×
the categorical codes of the other dimensions) and returns a few hundred rows; only those are
gathered. No shuffle, no per-row Python.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.exceptions import DataError, NotFoundError

__all__ = [
    "DEFAULT_AGE_BANDS",
    "INDEX_DATE",
    "age_at",
    "age_band_labels",
    "binomial_ci",
    "broadcast_merge",
    "code_filter",
    "follow_up",
    "incidence",
    "match_codes",
    "person_time",
    "poisson_ci",
    "prevalence",
    "select_cohort",
]

#: Lower edges of the default age bands: 0-19, 20-29, …, 70-79, 80+.
DEFAULT_AGE_BANDS: tuple[int, ...] = (0, 20, 30, 40, 50, 60, 70, 80)
INDEX_DATE = "index_date"
DAYS_PER_YEAR = 365.25
_NEVER = np.iinfo(np.int64).max // 4  # a day after every real day (missing death / no index date)
_MAX_AGE = 150
_CALCULATED = ("year", "age_band")


# ---------------------------------------------------------------------------------------------------
# small pieces


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "dask")


def _day(value: Any, what: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{what} must be a date such as '2016-01-01', got {value!r} ({exc})") from None
    if pd.isna(ts):
        raise DataError(f"{what} must be a date, got {value!r}")
    return int(np.datetime64(ts.date(), "D").astype(np.int64))


def _window(start: Any, end: Any) -> tuple[int, int]:
    s, e = _day(start, "start"), _day(end, "end")
    if e < s:
        raise DataError(f"the window ends ({end}) before it starts ({start})")
    return s, e + 1


def _days(values: Any, missing: int = _NEVER) -> np.ndarray:
    """Days since 1970-01-01 (int64) of a date/timestamp Series or array; missing → ``missing``."""
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        try:
            s = pd.to_datetime(s)
        except (ValueError, TypeError) as exc:
            raise DataError(f"column {s.name!r} does not hold dates ({exc})") from None
    if getattr(s.dtype, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    raw = s.to_numpy()  # datetime64 in the column's own unit: one conversion to days, flooring
    days = raw.astype("datetime64[D]")
    out = days.view(np.int64)
    nat = np.isnat(days)
    if nat.any():
        out = np.where(nat, missing, out)
    return out


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month 0–11, day of month − 1) of day numbers (H. Hinnant's civil_from_days)."""
    z = np.asarray(days, dtype=np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    offset = doy - (153 * mp + 2) // 5
    month = np.where(mp < 10, mp + 2, mp - 10)
    year = yoe + era * 400 + (month <= 1)
    return year, month, offset


def _month_starts(year: int) -> np.ndarray:
    """Day numbers of the first day of each month of ``year``."""
    return (
        np.arange(f"{year}-01", f"{year + 1}-01", dtype="datetime64[M]")
        .astype("datetime64[D]")
        .view(np.int64)
    )


def _birthday_in(year: int | np.ndarray, birth_month: np.ndarray, birth_offset: np.ndarray) -> np.ndarray:
    """The day of the birthday in ``year`` (29 February → 1 March in other years)."""
    if np.ndim(year) == 0:
        return _month_starts(int(year))[birth_month] + birth_offset
    months = (np.asarray(year, dtype=np.int64) - 1970) * 12 + birth_month
    return months.astype("datetime64[M]").astype("datetime64[D]").view(np.int64) + birth_offset


def age_at(birth: Any, when: Any) -> np.ndarray:
    """Age in completed years at ``when`` (arrays or scalars of dates); -1 where either is missing."""
    b = _days(pd.Series(np.atleast_1d(birth) if np.ndim(birth) == 0 else birth))
    w = _days(pd.Series(np.atleast_1d(when) if np.ndim(when) == 0 else when))
    w = np.broadcast_to(w, b.shape) if w.shape != b.shape else w
    by, bm, bo = _civil(np.where(b == _NEVER, 0, b))
    wy = _civil(np.where(w == _NEVER, 0, w))[0]
    age = wy - by - (w < _birthday_in(wy, bm, bo))
    return np.where((b == _NEVER) | (w == _NEVER), -1, age)


def _edges(age_bands: Sequence[int]) -> np.ndarray:
    edges = np.asarray(list(age_bands), dtype=np.int64)
    if edges.ndim != 1 or len(edges) == 0 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise DataError(f"age bands are increasing lower edges such as (0, 20, 30), got {list(age_bands)!r}")
    return edges


def age_band_labels(age_bands: Sequence[int] = DEFAULT_AGE_BANDS) -> list[str]:
    """``(0, 20, 30)`` → ``['0-19', '20-29', '30+']``."""
    edges = _edges(age_bands)
    labels = [f"{lo}-{hi - 1}" if hi - lo > 1 else f"{lo}" for lo, hi in itertools.pairwise(edges)]
    return [*labels, f"{edges[-1]}+"]


def _band_lookup(edges: np.ndarray) -> np.ndarray:
    """Band index for every age 0…_MAX_AGE; ``len(edges)`` (the discard bin) below the first edge."""
    band = np.searchsorted(edges, np.arange(_MAX_AGE + 1), side="right") - 1
    return np.where(band < 0, len(edges), band)


def _band_of(age: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    return lookup[np.clip(age, 0, _MAX_AGE)] if len(age) else age.astype(np.int64)


def poisson_ci(events: Any, exposure: Any = 1.0, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) Poisson interval of ``events / exposure``: ``(lower, upper)`` arrays.

    ``lower = χ²(α/2; 2k) / 2``, ``upper = χ²(1 − α/2; 2k + 2) / 2``, divided by the exposure; the
    lower limit is 0 when ``k`` is 0.
    """
    chi2 = _scipy_stats().chi2
    k = np.asarray(events, dtype=float)
    t = np.asarray(exposure, dtype=float)
    _check_alpha(alpha)
    if np.any(k < 0):
        raise DataError("event counts must not be negative")
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(k > 0, chi2.ppf(alpha / 2, 2 * k) / 2, 0.0) / t
        upper = chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2 / t
    return lower, upper


def binomial_ci(cases: Any, total: Any, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper–Pearson) interval of the proportion ``cases / total``: ``(lower, upper)``."""
    beta = _scipy_stats().beta
    k = np.asarray(cases, dtype=float)
    n = np.asarray(total, dtype=float)
    _check_alpha(alpha)
    if np.any(k < 0) or np.any(k > n):
        raise DataError("cases must lie between 0 and the population")
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        upper = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return np.where(n > 0, lower, np.nan), np.where(n > 0, upper, np.nan)


def _scipy_stats() -> Any:
    try:
        import scipy.stats
    except ImportError:
        from hdc_toolkit.exceptions import MissingExtraError

        raise MissingExtraError("analysis", "scipy") from None
    return scipy.stats


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise DataError(f"alpha must lie between 0 and 1, got {alpha!r}")


# ---------------------------------------------------------------------------------------------------
# code lists and cohorts


def _prefixes(codes: str | Iterable[str]) -> tuple[str, ...]:
    prefixes = (codes,) if isinstance(codes, str) else tuple(codes)
    if not prefixes or not all(isinstance(c, str) and c.strip() for c in prefixes):
        raise DataError(f"a code list is one or more code prefixes such as ['E11'], got {codes!r}")
    return tuple(c.strip().upper().replace(".", "") for c in prefixes)


def code_filter(column: str, codes: str | Iterable[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Filters for :func:`open_table` selecting rows whose ``column`` starts with one of ``codes``.

    ``open_table("diagnoses", filters=code_filter("icd10_code", ["E11"]))``; the prefixes are
    evaluated once per distinct code while the file is read.
    """
    return [(column, "startswith", _prefixes(codes))]


def _match_part(series: pd.Series, prefixes: tuple[str, ...]) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = pd.Index(series.cat.categories.astype(str))
        hit = np.asarray(cats.str.startswith(prefixes), dtype=bool)
        codes = series.cat.codes.to_numpy()
        return pd.Series(np.where(codes >= 0, hit[codes], False), index=series.index)
    return series.astype("string[pyarrow]").str.startswith(prefixes).fillna(False).astype(bool)


def match_codes(series: Any, codes: str | Iterable[str]) -> Any:
    """Boolean mask: the code starts with one of ``codes`` (pandas or Dask Series; categories fast)."""
    prefixes = _prefixes(codes)
    if _is_dask(series):
        return series.map_partitions(_match_part, prefixes, meta=(series.name, bool))
    return _match_part(series, prefixes)


def _require(frame: Any, columns: Iterable[str], what: str) -> None:
    have = list(frame.columns)
    missing = [c for c in columns if c not in have]
    if missing:
        raise NotFoundError(
            f"{what} has no column(s) {', '.join(repr(c) for c in missing)}; it has: {', '.join(map(str, have))}"
        )


def select_cohort(
    events: Any,
    codes: str | Iterable[str] | None = None,
    *,
    date: str,
    code: str | None = None,
    person: str = "pid",
    window: tuple[Any, Any] | None = None,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """The cohort: one row per person with the day of their first matching event (``index_date``).

    ``events`` holds ``person``, ``date`` and (when ``codes`` is given) the ``code`` column; already
    filtered events (e.g. opened with :func:`code_filter`) need no ``codes``. ``window=(start, end)``
    keeps only events in it (leave it out for *incident* cohorts: the first event ever must be seen).
    An empty cohort raises :class:`DataError` unless ``allow_empty``.
    """
    if codes is not None and code is None:
        raise DataError("select_cohort(codes=...) needs code='<the code column>'")
    _require(events, [person, date, *([code] if codes is not None else [])], "the events")
    frame = events
    if codes is not None:
        frame = frame[match_codes(frame[code], codes)]
    frame = frame[[person, date]]
    if window is not None:
        lo, hi = _window(*window)
        frame = (
            frame.map_partitions(_in_window, date, lo, hi)
            if _is_dask(frame)
            else _in_window(frame, date, lo, hi)
        )
    if _is_dask(frame):
        first = frame.groupby(person, observed=True, dropna=True)[date].min().compute()
    else:
        first = frame.groupby(person, observed=True, dropna=True)[date].min()
    cohort = pd.DataFrame({person: first.index.to_numpy(), INDEX_DATE: _days(first.reset_index(drop=True))})
    cohort = cohort[cohort[INDEX_DATE] != _NEVER]  # people whose event dates are all missing
    cohort[INDEX_DATE] = cohort[INDEX_DATE].to_numpy().astype("datetime64[D]").astype("datetime64[s]")
    cohort = cohort.sort_values(INDEX_DATE, kind="stable").reset_index(drop=True)
    if cohort[person].dtype == object:
        cohort[person] = cohort[person].astype("string[pyarrow]")
    if cohort.empty and not allow_empty:
        what = (
            f"codes starting with {', '.join(_prefixes(codes))}" if codes is not None else "the given events"
        )
        raise DataError(
            f"the cohort is empty: no person has {what}"
            + (f" between {window[0]} and {window[1]}" if window else "")
            + "; check the code list and the window (pass allow_empty=True to accept an empty cohort)"
        )
    cohort.attrs["codes"] = list(_prefixes(codes)) if codes is not None else None
    return cohort


def _in_window(frame: pd.DataFrame, date: str, lo: int, hi: int) -> pd.DataFrame:
    d = _days(frame[date])
    return frame[(d >= lo) & (d < hi)]


class _Prepared:
    """A broadcast frame sorted by its (single) key, with a hash index of the distinct keys.

    Built once per broadcast object and shared by every task on a worker (threads share the object),
    so a partition's join is one hash probe per row instead of a new hash table per partition.
    """

    def __init__(self, small: pd.DataFrame, key: str) -> None:
        order = np.argsort(small[key].to_numpy(), kind="stable")
        frame = small.iloc[order].reset_index(drop=True)
        keys = frame[key].to_numpy()
        self.rest = frame.drop(columns=[key])
        starts = (
            np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([], dtype=np.int64)
        )
        self.index = pd.Index(keys[starts])
        # build the hash table now, in one thread: pandas fills an index's engine lazily and not
        # thread-safely (two tasks probing a fresh index at once can see it as non-unique)
        self.index.get_indexer(self.index[:1])
        self.starts = starts
        self.counts = np.diff(np.r_[starts, len(keys)])
        self.unique = bool(len(starts) == len(keys))


def _prepared(small: pd.DataFrame, key: str) -> _Prepared:
    """The :class:`_Prepared` form of a broadcast frame, kept on the frame itself (freed with it)."""
    name = f"_hdc_prepared_{key}"
    prep = small.__dict__.get(name)
    if prep is None:
        prep = _Prepared(small, key)
        object.__setattr__(small, name, prep)  # not a column; never pickled; dies with the frame
    return prep


def _merge_part(part: pd.DataFrame, small: pd.DataFrame, on: list[str], how: str) -> pd.DataFrame:
    key = on[0]
    if how != "inner" or len(on) != 1 or small[key].dtype == object or part[key].dtype != small[key].dtype:
        return part.merge(small, on=on, how=how)
    prep = _prepared(small, key)
    pos = prep.index.get_indexer(part[key].to_numpy())
    rows = np.flatnonzero(pos >= 0)
    pos = pos[rows]
    if not prep.unique:  # several small rows per key: repeat the large row once for each
        counts = prep.counts[pos]
        rows = np.repeat(rows, counts)
        first = np.repeat(prep.starts[pos] - np.cumsum(counts) + counts, counts)
        pos = first + np.arange(len(rows))
    else:
        pos = prep.starts[pos]
    left = part.iloc[rows].reset_index(drop=True)
    right = prep.rest.iloc[pos].reset_index(drop=True)
    return pd.concat([left, right], axis=1)


def broadcast_merge(large: Any, small: Any, on: str | Sequence[str], how: str = "inner") -> Any:
    """Join a small frame to every partition of a large one: no shuffle of the large side.

    ``small`` (pandas, or a Dask frame that fits in memory, e.g. filtered events) is gathered into one
    partition and sent to every worker; an inner join first drops the large side's rows whose key is
    not in the small side (a hash semi-join), then merges what is left.
    """
    if how not in ("inner", "left"):
        raise DataError("broadcast_merge joins with how='inner' or how='left'")
    keys = [on] if isinstance(on, str) else list(on)
    _require(large, keys, "the large frame")
    _require(small, keys, "the small frame")
    if not _is_dask(large):
        return _merge_part(large, small.compute() if _is_dask(small) else small, keys, how)
    import dask.dataframe as dd

    one = small.repartition(npartitions=1) if _is_dask(small) else dd.from_pandas(small, npartitions=1)
    meta = _merge_part(large._meta, one._meta, keys, how)
    return large.map_partitions(_merge_part, one, keys, how, meta=meta, align_dataframes=False)


# ---------------------------------------------------------------------------------------------------
# follow-up and the Lexis split


class _Spec:
    """What the per-partition functions need (pickled once per task)."""

    def __init__(
        self,
        *,
        person: str,
        birth: str,
        death: str | None,
        start: Any,
        end: Any,
        age_bands: Sequence[int],
        dims: Sequence[str],
    ) -> None:
        self.person, self.birth, self.death = person, birth, death
        self.lo, self.hi = _window(start, end)
        self.edges = _edges(age_bands)
        self.lookup = _band_lookup(self.edges)
        self.dims = [d for d in dims if d not in _CALCULATED]
        first, last = _civil(np.array([self.lo, self.hi - 1]))[0]
        self.years = np.arange(first, last + 1)
        self.reference = np.array([], dtype=np.int64)  # prevalence: the reference day of each year

    def columns(self) -> list[str]:
        return list(
            dict.fromkeys([self.person, self.birth, *([self.death] if self.death else []), *self.dims])
        )


def _lookup_days(part: pd.DataFrame, person: str, cohort: pd.DataFrame | None) -> np.ndarray:
    """Each row's day in the broadcast ``cohort`` (``_NEVER`` for people not in it)."""
    if cohort is None or cohort.empty:
        return np.full(len(part), _NEVER, dtype=np.int64)
    import pyarrow as pa
    import pyarrow.compute as pc

    def arrow(series: pd.Series) -> Any:
        return pa.array(series.astype(str) if series.dtype == object else series)

    keys, values = arrow(cohort[person]), arrow(part[person])
    if keys.type != values.type:
        keys, values = keys.cast(pa.string()), values.cast(pa.string())
    pos = pc.index_in(values, value_set=keys)
    found = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    days = np.full(len(part), _NEVER, dtype=np.int64)
    where = pc.drop_null(pos).to_numpy(zero_copy_only=False).astype(np.int64)
    days[found] = _days(cohort[INDEX_DATE])[where]
    return days


def _follow(
    part: pd.DataFrame, spec: _Spec, cohort: pd.DataFrame | None, entry: pd.DataFrame | None
) -> dict[str, np.ndarray]:
    birth = _days(part[spec.birth])
    death = _days(part[spec.death]) if spec.death else np.full(len(part), _NEVER, dtype=np.int64)
    index = _lookup_days(part, spec.person, cohort)
    start = np.maximum(birth, spec.lo)
    if entry is not None:
        own = _lookup_days(part, spec.person, entry)
        start = np.maximum(start, own)
        known = own != _NEVER
    else:
        known = np.ones(len(part), dtype=bool)
    exit_ = np.minimum(np.minimum(death, index), spec.hi)
    keep = known & (birth != _NEVER) & (index >= spec.lo) & (exit_ >= start)
    event = keep & (index == exit_) & (index < spec.hi)
    return {"birth": birth, "index": index, "entry": start, "exit": exit_, "keep": keep, "event": event}


def _group_codes(part: pd.DataFrame, dims: list[str], keep: np.ndarray) -> tuple[np.ndarray, int, list[Any]]:
    """One integer per kept row for the combination of ``dims`` (categorical codes), with the labels."""
    code = np.zeros(int(keep.sum()), dtype=np.int64)
    size, levels = 1, []
    for dim in dims:
        values = part[dim] if keep.all() else part[dim][keep]
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        uniques = pd.Index(uniques)
        code = code * max(len(uniques), 1) + codes
        size *= max(len(uniques), 1)
        levels.append(uniques)
    return code, size, levels


def _decode(cells: np.ndarray, shape: tuple[int, ...], levels: list[Any], spec: _Spec) -> dict[str, Any]:
    parts = np.unravel_index(cells, shape)
    out: dict[str, Any] = {"year": spec.years[parts[0]], "age_band": parts[1]}
    for dim, level, codes in zip(spec.dims, levels, parts[2:], strict=True):
        out[dim] = np.asarray(level, dtype=object)[codes] if len(level) else np.array([], dtype=object)
    return out


def _compact(
    birth: np.ndarray, entry: np.ndarray, exit_: np.ndarray, g: np.ndarray, ngroups: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse people followed from the window's start (or birth) to its end: (birth, group) decides.

    Most people are at risk all through the window, so the Lexis split runs over distinct
    (birth day, group) pairs with a count instead of over people. Returns birth, entry, exit, group
    and weight arrays.
    """
    ones = np.ones(len(birth), dtype=np.float64)
    full = (exit_ == hi) & (entry == np.maximum(birth, lo))
    n_full = int(full.sum())
    if n_full < 1024:
        return birth, entry, exit_, g, ones
    b0 = int(birth[full].min())
    span = (int(birth[full].max()) - b0 + 1) * ngroups
    if span > 4 * n_full + 65536:  # too sparse to pay off
        return birth, entry, exit_, g, ones
    counts = np.bincount((birth[full] - b0) * ngroups + g[full], minlength=span)
    keys = np.flatnonzero(counts)
    kb = keys // ngroups + b0
    rest = ~full
    return (
        np.concatenate([kb, birth[rest]]),
        np.concatenate([np.maximum(kb, lo), entry[rest]]),
        np.concatenate([np.full(len(keys), hi, dtype=np.int64), exit_[rest]]),
        np.concatenate([keys % ngroups, g[rest]]),
        np.concatenate([counts[keys].astype(np.float64), ones[rest]]),
    )


def _shape(spec: _Spec, levels: list[Any]) -> tuple[tuple[int, ...], int, int]:
    nbands = len(spec.edges) + 1  # the last bin collects ages below the first edge (dropped)
    shape = (len(spec.years), nbands, *[max(len(lv), 1) for lv in levels])
    return shape, nbands, int(np.prod(shape))


def _person_time_part(
    part: pd.DataFrame, cohort: pd.DataFrame | None, entry: pd.DataFrame | None, spec: _Spec
) -> pd.DataFrame:
    f = _follow(part, spec, cohort, entry)
    keep = f["keep"]
    g, ngroups, levels = _group_codes(part, spec.dims, keep)
    birth, start, exit_, index, event = (f[k][keep] for k in ("birth", "entry", "exit", "index", "event"))
    shape, nbands, ncells = _shape(spec, levels)
    days = np.zeros(ncells, dtype=np.float64)
    events = np.zeros(ncells, dtype=np.int64)
    if len(birth) and event.any():  # events on the people themselves: year and age at the index day
        eidx = index[event]
        ey = _civil(eidx)[0]
        eby, ebm, ebo = _civil(birth[event])
        eage = ey - eby - (eidx < _birthday_in(ey, ebm, ebo))
        cell = ((ey - spec.years[0]) * nbands + _band_of(eage, spec.lookup)) * ngroups + g[event]
        events += np.bincount(cell, minlength=ncells)
    if len(birth):
        cb, ce, cx, cg, w = _compact(birth, start, exit_, g, ngroups, spec.lo, spec.hi)
        by, bm, bo = _civil(cb)
        # cell = band * ngroups + group + the year's base; the band is looked up by the age reached on
        # the birthday in that year: the part of the year before the birthday is one year younger
        after_cell = spec.lookup * ngroups
        before_cell = np.concatenate([[len(spec.edges)], spec.lookup[:-1]]) * ngroups
        for yi, year in enumerate(spec.years):
            y0 = int(np.datetime64(f"{year}-01-01", "D").view(np.int64))
            y1 = int(np.datetime64(f"{year + 1}-01-01", "D").view(np.int64))
            lo = np.maximum(ce, y0)
            hi = np.minimum(cx, y1)
            bday = _birthday_in(year, bm, bo)
            before = np.minimum(hi, bday) - lo
            np.maximum(before, 0, out=before)
            after = hi - np.maximum(lo, bday)
            np.maximum(after, 0, out=after)
            age = np.clip(year - by, 0, _MAX_AGE)
            base = cg + yi * nbands * ngroups
            days += np.bincount(before_cell[age] + base, weights=before * w, minlength=ncells)
            days += np.bincount(after_cell[age] + base, weights=after * w, minlength=ncells)
    return _cells_frame({"events": events, "days": days}, shape, levels, spec)


def _prevalence_part(
    part: pd.DataFrame, cohort: pd.DataFrame | None, entry: pd.DataFrame | None, spec: _Spec
) -> pd.DataFrame:
    birth = _days(part[spec.birth])
    death = _days(part[spec.death]) if spec.death else np.full(len(part), _NEVER, dtype=np.int64)
    index = _lookup_days(part, spec.person, cohort)
    keep = birth != _NEVER
    g, ngroups, levels = _group_codes(part, spec.dims, keep)
    birth, death, index = birth[keep], death[keep], index[keep]
    shape, nbands, ncells = _shape(spec, levels)
    population = np.zeros(ncells, dtype=np.int64)
    cases = np.zeros(ncells, dtype=np.int64)
    if len(birth):
        by, bm, bo = _civil(birth)
        for yi, year in enumerate(spec.years):
            ref = int(spec.reference[yi])
            alive = (birth <= ref) & (death > ref)
            age = year - by - (ref < _birthday_in(year, bm, bo))
            cell = ((yi * nbands + _band_of(age, spec.lookup)) * ngroups + g)[alive]
            population += np.bincount(cell, minlength=ncells)
            cases += np.bincount(cell[index[alive] <= ref], minlength=ncells)
    return _cells_frame({"cases": cases, "population": population}, shape, levels, spec)


def _cells_frame(
    values: dict[str, np.ndarray], shape: tuple[int, ...], levels: list[Any], spec: _Spec
) -> pd.DataFrame:
    """The non-empty cells as rows (ages below the first band edge dropped)."""
    nbands = shape[1]
    cells = np.flatnonzero(np.logical_or.reduce([v > 0 for v in values.values()]))
    frame = pd.DataFrame(_decode(cells, shape, levels, spec))
    for name, v in values.items():
        frame[name] = v[cells]
    frame = frame[frame["age_band"] < nbands - 1]
    return _typed(frame, spec, tuple(values))


def _typed(frame: pd.DataFrame, spec: _Spec, names: tuple[str, ...]) -> pd.DataFrame:
    out = frame.astype({"year": np.int64, "age_band": np.int64})
    for dim in spec.dims:
        out[dim] = out[dim].astype(object)
    return out[["year", "age_band", *spec.dims, *names]].reset_index(drop=True)


def _meta(spec: _Spec, names: dict[str, str]) -> pd.DataFrame:
    cols: dict[str, Any] = {"year": pd.Series([], dtype=np.int64), "age_band": pd.Series([], dtype=np.int64)}
    cols |= {d: pd.Series([], dtype=object) for d in spec.dims}
    cols |= {n: pd.Series([], dtype=t) for n, t in names.items()}
    return pd.DataFrame(cols)


def _check_population(population: Any, spec: _Spec, by: Sequence[str]) -> None:
    unknown = [d for d in by if d not in _CALCULATED and d not in population.columns]
    if unknown:
        raise NotFoundError(
            f"cannot group by {unknown}: not a column of the population ({', '.join(map(str, population.columns))}) "
            f"nor one of {', '.join(_CALCULATED)}"
        )
    _require(population, spec.columns(), "the population")


def _prepare_cohort(cohort: Any, person: str, what: str = "the cohort") -> pd.DataFrame | None:
    if cohort is None:
        return None
    if _is_dask(cohort):
        cohort = cohort.compute()
    _require(cohort, [person, INDEX_DATE], what)
    if cohort[person].duplicated().any():
        raise DataError(f"{what} must have one row per person (use select_cohort)")
    return cohort[[person, INDEX_DATE]]


def _broadcast(frame: pd.DataFrame | None) -> Any:
    if frame is None:
        return None
    import dask.dataframe as dd

    return dd.from_pandas(frame, npartitions=1, sort=False)


def _run(
    population: Any,
    func: Any,
    cohort: pd.DataFrame | None,
    entry: pd.DataFrame | None,
    spec: _Spec,
    names: dict[str, str],
) -> pd.DataFrame:
    """Cells of every partition (the small cohorts broadcast to each), summed in pandas."""
    pop = population[spec.columns()]
    if _is_dask(population):
        partials = pop.map_partitions(
            func, _broadcast(cohort), _broadcast(entry), spec, meta=_meta(spec, names), align_dataframes=False
        )
        cells = partials.compute()
    else:
        cells = func(pop, cohort, entry, spec)
    if cells.empty:
        return cells.reset_index(drop=True)
    keys = ["year", "age_band", *spec.dims]
    return cells.groupby(keys, dropna=False, sort=True, observed=True)[list(names)].sum().reset_index()


def _finish(cells: pd.DataFrame, spec: _Spec, by: Sequence[str], names: Sequence[str]) -> pd.DataFrame:
    labels = age_band_labels(spec.edges)
    out = cells.copy()
    codes = out["age_band"].astype(int) if len(out) else []
    out["age_band"] = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
    by = list(by)
    if by:
        return out.groupby(by, dropna=False, sort=True, observed=True)[list(names)].sum().reset_index()
    return pd.DataFrame({n: [out[n].sum()] for n in names})


def person_time(
    population: Any,
    cohort: pd.DataFrame | None = None,
    *,
    start: Any,
    end: Any,
    by: Sequence[str] = ("year", "age_band", "sex"),
    age_bands: Sequence[int] = DEFAULT_AGE_BANDS,
    entry: pd.DataFrame | None = None,
    person: str = "pid",
    birth: str = "birth_date",
    death: str | None = "death_date",
) -> pd.DataFrame:
    """Events and person-years at risk per cell of ``by`` (see the module conventions).

    ``population`` has one row per person (``person``, ``birth``, ``death``, and any ``by`` column
    that is not ``year`` / ``age_band``); ``cohort`` is :func:`select_cohort`'s result, whose index
    dates are the events (no cohort: person-time only). ``entry`` (a cohort too, e.g. the day of
    diagnosis) starts each person's follow-up on their own day instead of ``start``; people without
    one are left out. Returns pandas: ``by…, events, person_years``.
    """
    spec = _Spec(person=person, birth=birth, death=death, start=start, end=end, age_bands=age_bands, dims=by)
    _check_population(population, spec, by)
    names = {"events": "int64", "days": "float64"}
    cells = _run(population, _person_time_part, _prepare_cohort(cohort, person),
                 _prepare_cohort(entry, person, "the entry cohort"), spec, names)  # fmt: skip
    if cells.empty:
        cells = _meta(spec, names)
    out = _finish(cells, spec, by, list(names))
    out["events"] = out["events"].astype(np.int64)
    out["person_years"] = out.pop("days") / DAYS_PER_YEAR
    return out


def incidence(
    population: Any,
    cohort: pd.DataFrame,
    *,
    start: Any,
    end: Any,
    by: Sequence[str] = ("year", "age_band", "sex"),
    age_bands: Sequence[int] = DEFAULT_AGE_BANDS,
    entry: pd.DataFrame | None = None,
    per: float = 100_000,
    alpha: float = 0.05,
    person: str = "pid",
    birth: str = "birth_date",
    death: str | None = "death_date",
) -> pd.DataFrame:
    """Incidence rates per ``per`` person-years with exact Poisson intervals, per cell of ``by``.

    The events are ``cohort``'s index dates (e.g. first E11 diagnosis; or deaths, with
    ``entry`` = the diagnosis cohort, for mortality after diagnosis). Returns pandas:
    ``by…, events, person_years, rate, rate_lower, rate_upper`` for the cells with person-time or
    events (a cell with no events has rate 0 and a finite upper limit).
    """
    if cohort is None:
        raise DataError("incidence needs a cohort (select_cohort) whose index dates are the events")
    out = person_time(population, cohort, start=start, end=end, by=by, age_bands=age_bands, entry=entry,
                      person=person, birth=birth, death=death)  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate"] = np.where(out["person_years"] > 0, out["events"] / out["person_years"] * per, np.nan)
    lower, upper = poisson_ci(out["events"], out["person_years"], alpha)
    out["rate_lower"], out["rate_upper"] = lower * per, upper * per
    out.attrs.update({"per": per, "alpha": alpha, "start": str(start), "end": str(end)})
    return out


def prevalence(
    population: Any,
    cohort: pd.DataFrame,
    *,
    years: Iterable[int],
    at: str = "12-31",
    by: Sequence[str] = ("year", "age_band", "sex"),
    age_bands: Sequence[int] = DEFAULT_AGE_BANDS,
    per: float = 100,
    alpha: float = 0.05,
    method: str = "exact",
    person: str = "pid",
    birth: str = "birth_date",
    death: str | None = "death_date",
) -> pd.DataFrame:
    """Point prevalence on day ``at`` (``"MM-DD"``) of each of ``years``, per cell of ``by``.

    Returns pandas: ``by…, cases, population, prevalence`` (per ``per``: 100 gives percent) and its
    exact interval ``prevalence_lower, prevalence_upper`` (Clopper–Pearson; ``method="poisson"`` for
    the exact Poisson interval, the usual choice for a rare condition per 100 000).
    """
    if method not in ("exact", "poisson"):
        raise DataError("method is 'exact' (Clopper–Pearson) or 'poisson'")
    if cohort is None:
        raise DataError("prevalence needs a cohort (select_cohort) whose index dates make people cases")
    years = sorted({int(y) for y in years})
    if not years:
        raise DataError("prevalence needs at least one year")
    spec = _Spec(person=person, birth=birth, death=death, start=f"{years[0]}-01-01",
                 end=f"{years[-1]}-12-31", age_bands=age_bands, dims=by)  # fmt: skip
    spec.years = np.asarray(years, dtype=np.int64)
    try:
        spec.reference = np.array([_day(f"{y}-{at}", "at") for y in years], dtype=np.int64)
    except DataError:
        raise DataError(f"at is a day of the year as 'MM-DD', got {at!r}") from None
    _check_population(population, spec, by)
    names = {"cases": "int64", "population": "int64"}
    cells = _run(population, _prevalence_part, _prepare_cohort(cohort, person), None, spec, names)
    if cells.empty:
        cells = _meta(spec, names)
    out = _finish(cells, spec, by, list(names))
    out["cases"] = out["cases"].astype(np.int64)
    out["population"] = out["population"].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["prevalence"] = out["cases"] / out["population"] * per
    if method == "exact":
        lower, upper = binomial_ci(out["cases"], out["population"], alpha)
    else:
        lower, upper = poisson_ci(out["cases"], out["population"], alpha)
    out["prevalence_lower"], out["prevalence_upper"] = lower * per, upper * per
    out.attrs.update({"per": per, "alpha": alpha, "at": at, "method": method})
    return out


def _follow_up_part(
    part: pd.DataFrame, cohort: pd.DataFrame | None, entry: pd.DataFrame | None, spec: _Spec
) -> pd.DataFrame:
    f = _follow(part, spec, cohort, entry)
    keep = f["keep"]
    start, stop = f["entry"][keep], f["exit"][keep]
    return pd.DataFrame({
        spec.person: part[spec.person].to_numpy()[keep],
        "entry": start.astype("datetime64[D]").astype("datetime64[s]"),
        "exit": stop.astype("datetime64[D]").astype("datetime64[s]"),
        "event": f["event"][keep],
        "person_years": (stop - start) / DAYS_PER_YEAR,
    })  # fmt: skip


def follow_up(
    population: Any,
    cohort: pd.DataFrame | None = None,
    *,
    start: Any,
    end: Any,
    entry: pd.DataFrame | None = None,
    person: str = "pid",
    birth: str = "birth_date",
    death: str | None = "death_date",
) -> Any:
    """One row per person at risk: ``person, entry, exit, event, person_years`` (``exit`` exclusive).

    Row level, so it stays where the population is: a Dask frame in, a lazy Dask frame out (for
    survival models); pandas in, pandas out.
    """
    spec = _Spec(
        person=person, birth=birth, death=death, start=start, end=end, age_bands=DEFAULT_AGE_BANDS, dims=()
    )
    _require(population, spec.columns(), "the population")
    cohort = _prepare_cohort(cohort, person)
    entry = _prepare_cohort(entry, person, "the entry cohort")
    pop = population[spec.columns()]
    if not _is_dask(population):
        return _follow_up_part(pop, cohort, entry, spec)
    meta = _follow_up_part(pop._meta, None, None, spec)
    return pop.map_partitions(_follow_up_part, _broadcast(cohort), _broadcast(entry), spec, meta=meta,
                              align_dataframes=False)  # fmt: skip
