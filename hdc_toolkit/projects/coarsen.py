"""Coarsening: values reduced to the granularity the permit grants, keeping each column's type.

========================  ===========================================================================
granularity               effect (the column keeps its arrow type)
========================  ===========================================================================
``as_is``                 unchanged
``day``                   timestamp → midnight of its day (a date is already a day)
``month`` / ``year``      date or timestamp → the first day (midnight) of its month / year
``5y_band`` / ``10y_band``  date or timestamp → 1 January of its 5- / 10-year band (bands start at
                          years divisible by 5 / 10); integer or number (an age) → the band's lower
                          bound (``floor(x / 5) * 5``)
``county``                municipality number → its county, the first two digits (``5001`` → ``50``)
``3char``                 a code → its first three characters (ICD-10 ``E119`` → ``E11``)
========================  ===========================================================================

``five_year_band`` (the application vocabulary's name) means ``5y_band``. Every function here is pure
and vectorised; :func:`coarsen_value` applies the same rule to one Python value (contract bounds).
Coarsening is monotone (``a <= b`` implies ``coarsen(a) <= coarsen(b)``) for dates, times and
numbers, so order rules between two columns of the same granularity still hold afterwards.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from hdc_toolkit.exceptions import ContractError

__all__ = [
    "ALIASES",
    "GRANULARITIES",
    "TEMPORAL",
    "allowed",
    "coarsen",
    "coarsen_value",
    "normalise",
]

#: Names the application vocabulary uses for a contract granularity.
ALIASES: dict[str, str] = {"five_year_band": "5y_band", "ten_year_band": "10y_band"}
TEMPORAL: dict[str, tuple[int, str]] = {
    "day": (1, "day"),
    "month": (1, "month"),
    "year": (1, "year"),
    "5y_band": (5, "year"),
    "10y_band": (10, "year"),
}
_BANDS = {"5y_band": 5, "10y_band": 10}
_PREFIX = {"county": 2, "3char": 3}
#: Which granularities apply to which logical types.
GRANULARITIES: dict[str, frozenset[str]] = {
    "date": frozenset({"as_is", "day", "month", "year", "5y_band", "10y_band"}),
    "timestamp": frozenset({"as_is", "day", "month", "year", "5y_band", "10y_band"}),
    "integer": frozenset({"as_is", "5y_band", "10y_band"}),
    "number": frozenset({"as_is", "5y_band", "10y_band"}),
    "string": frozenset({"as_is", "county", "3char"}),
}


def normalise(granularity: str) -> str:
    """The contract name of a granularity (``five_year_band`` → ``5y_band``)."""
    return ALIASES.get(granularity, granularity)


def allowed(granularity: str, logical_type: str, contract_coarsening: tuple[str, ...]) -> str | None:
    """Why ``granularity`` may not be applied to a column, or None when it may."""
    g = normalise(granularity)
    if g == "as_is":
        return None
    if g not in contract_coarsening:
        offered = ", ".join(("as_is", *contract_coarsening))
        return f"granularity {granularity!r} is not allowed by the column's contract (allowed: {offered})"
    if g not in GRANULARITIES.get(logical_type, frozenset({"as_is"})):
        return f"granularity {granularity!r} does not apply to a {logical_type} column"
    return None


def coarsen(values: pa.Array | pa.ChunkedArray, granularity: str) -> pa.Array | pa.ChunkedArray:
    """``values`` coarsened to ``granularity`` (see the module table); the type is kept."""
    g = normalise(granularity)
    if g == "as_is":
        return values
    t = values.type
    if pa.types.is_dictionary(t):
        return _coarsen_dictionary(values, g)
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        if g not in TEMPORAL:
            raise ContractError(f"granularity {granularity!r} does not apply to {t} values")
        if g == "day" and pa.types.is_date(t):
            return values
        multiple, unit = TEMPORAL[g]
        return pc.floor_temporal(values, multiple=multiple, unit=unit)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        if g not in _BANDS:
            raise ContractError(f"granularity {granularity!r} does not apply to numbers")
        band = _BANDS[g]
        banded = pc.multiply(pc.floor(pc.divide(pc.cast(values, pa.float64()), band)), band)
        return pc.cast(banded, t, safe=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if g not in _PREFIX:
            raise ContractError(f"granularity {granularity!r} does not apply to text")
        return pc.utf8_slice_codeunits(values, 0, _PREFIX[g])
    raise ContractError(f"cannot coarsen values of type {t} to {granularity!r}")


def _coarsen_dictionary(values: Any, g: str) -> Any:
    """Coarsen the dictionary, not every row; values that become equal share one entry."""
    if isinstance(values, pa.ChunkedArray):
        return pa.chunked_array([_coarsen_dictionary(c, g) for c in values.chunks], values.type)
    return distinct_dictionary(pa.DictionaryArray.from_arrays(values.indices, coarsen(values.dictionary, g)))


def distinct_dictionary(arr: Any) -> Any:
    """``arr`` with every chunk's dictionary free of repeated values (indices remapped).

    Coarsening a dictionary (municipality -> county) repeats values. The Parquet writer (Arrow 26)
    sizes a dictionary page by *all* the values it is given but fills it with the distinct ones:
    the rest of the page is uninitialised memory, which was seen to hold national ids freed
    earlier in the process. So no dictionary reaches the writer with a repeated value.
    """
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for chunk in chunks:
        distinct = pc.unique(chunk.dictionary)
        if len(distinct) != len(chunk.dictionary):
            remap = pc.index_in(chunk.dictionary, value_set=distinct)
            chunk = pa.DictionaryArray.from_arrays(pc.take(remap, chunk.indices), distinct)
        out.append(chunk)
    return pa.chunked_array(out, arr.type) if isinstance(arr, pa.ChunkedArray) else out[0]


def coarsen_value(value: Any, granularity: str) -> Any:
    """One Python value coarsened like :func:`coarsen` (used for contract bounds)."""
    g = normalise(granularity)
    if value is None or g == "as_is":
        return value
    if isinstance(value, dt.datetime):
        return dt.datetime.combine(coarsen_value(value.date(), g), dt.time(0), value.tzinfo)
    if isinstance(value, dt.date):
        if g == "day":
            return value
        if g == "month":
            return value.replace(day=1)
        if g == "year":
            return value.replace(month=1, day=1)
        if g in _BANDS:
            band = _BANDS[g]
            return dt.date(value.year - (value.year - 1970) % band, 1, 1)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and g in _BANDS:
        banded = math.floor(value / _BANDS[g]) * _BANDS[g]
        return int(banded) if isinstance(value, int) else float(banded)
    if isinstance(value, str) and g in _PREFIX:
        return value[: _PREFIX[g]]
    raise ContractError(f"granularity {granularity!r} does not apply to {value!r}")
