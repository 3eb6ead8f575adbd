"""Aggregations behind the notebook tables, identical on pandas and Dask DataFrames.

Everything here reduces row-level data to small per-cell summaries with ``groupby(...).sum()`` /
``.size()``, which pandas and Dask both implement (Dask as a tree reduction), then finishes in
pandas. Only these summaries are collected from a Dask cluster: counts per cell, and for magnitude
tables one row per (cell, contributor) so that dominance is judged on contributors, not records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Contributions",
    "bin_counts",
    "compute",
    "contributions",
    "count_cells",
    "is_dask",
    "numeric_range",
]

_VALUE = "__hdc_value"
_CONTRIB = "__hdc_contributor"
_ROWS = "__hdc_rows"
_NEG = "__hdc_negative"
_BAD = "__hdc_nonnumeric"
_NOVAL = "__hdc_missing_value"
_NOCONTRIB = "__hdc_missing_contributor"


def is_dask(obj: Any) -> bool:
    """True for a Dask collection (DataFrame or Series), without importing Dask."""
    return type(obj).__module__.split(".")[0] == "dask" and hasattr(obj, "dask")


def compute(*objs: Any) -> tuple[Any, ...]:
    """Compute Dask collections together (one pass); pandas objects are returned as they are."""
    if any(is_dask(o) for o in objs):
        from dask.base import compute as dask_compute

        return tuple(dask_compute(*objs))  # type: ignore[no-untyped-call]
    return objs


def _check_columns(data: Any, columns: list[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        from hdc_toolkit.exceptions import DataError

        raise DataError(f"no column(s) {missing} in the data; it has {list(data.columns)}")


def count_cells(data: Any, dims: list[str]) -> pd.Series:
    """Row counts per combination of ``dims`` (missing values form their own category)."""
    _check_columns(data, dims)
    (counts,) = compute(data.groupby(dims, dropna=False, observed=True).size())
    return pd.Series(counts)


@dataclass
class Contributions:
    """Per-(cell, contributor) totals of a magnitude table and the problems met on the way."""

    frame: pd.DataFrame  # index: dims + contributor; columns: value, rows, negative
    rows: int
    nonnumeric: int
    missing_values: int
    missing_contributors: int
    value: str = _VALUE
    n_rows: str = _ROWS
    negative: str = _NEG


def _prepare(part: pd.DataFrame, dims: list[str], value: str, contributor: str | None) -> pd.DataFrame:
    raw = part[value]
    numeric = pd.to_numeric(raw, errors="coerce")
    out = part[dims].copy()
    out[_BAD] = (numeric.isna() & raw.notna()).astype("int64")
    out[_NOVAL] = raw.isna().astype("int64")
    out[_VALUE] = numeric.astype("float64")
    out[_ROWS] = numeric.notna().astype("int64")
    out[_NEG] = (numeric < 0).astype("int64")
    if contributor is None:
        ids = pd.Series(np.arange(len(part)), index=part.index).astype("string")
        out[_NOCONTRIB] = 0
    else:
        ids = part[contributor].astype("string")
        out[_NOCONTRIB] = ids.isna().astype("int64")
    # rows without a contributor id count as contributors of their own (reported as a problem)
    token = uuid.uuid4().hex
    fill = pd.Series([f"{token}-{i}" for i in range(len(part))], index=part.index, dtype="string")
    out[_CONTRIB] = ids.fillna(fill) if contributor is not None else fill
    return out


def contributions(data: Any, dims: list[str], value: str, contributor: str | None) -> Contributions:
    """Sum ``value`` per cell and contributor; count non-numeric, missing and negative values."""
    _check_columns(data, dims + [value] + ([contributor] if contributor else []))
    if is_dask(data):
        meta = _prepare(data._meta, dims, value, contributor)
        prepared = data.map_partitions(_prepare, dims, value, contributor, meta=meta)
    else:
        prepared = _prepare(data, dims, value, contributor)
    problems = prepared[[_ROWS, _BAD, _NOVAL, _NOCONTRIB]].sum()
    usable = prepared[prepared[_ROWS] == 1]
    per = usable.groupby(dims + [_CONTRIB], dropna=False, observed=True)[[_VALUE, _ROWS, _NEG]].sum()
    per, problems = compute(per, problems)
    return Contributions(
        frame=per,
        rows=int(problems[_ROWS] + problems[_BAD] + problems[_NOVAL]),
        nonnumeric=int(problems[_BAD]),
        missing_values=int(problems[_NOVAL]),
        missing_contributors=int(problems[_NOCONTRIB]),
    )


def numeric_range(data: Any, column: str) -> tuple[float, float]:
    """(min, max) of a column, for bins derived from the data."""
    _check_columns(data, [column])
    values = data[column]
    lo, hi = compute(values.min(), values.max())
    return float(lo), float(hi)


def _bin_part(part: pd.DataFrame, column: str, edges: list[float]) -> pd.Series:
    numeric = pd.to_numeric(part[column], errors="coerce")
    codes = pd.Series(
        pd.cut(numeric, bins=edges, right=False, include_lowest=True).cat.codes, index=part.index
    )
    codes = codes.where(numeric.notna(), -2)  # missing
    return codes.where(numeric.notna() | part[column].isna(), -3).value_counts()  # -3: not a number


def bin_counts(data: Any, column: str, edges: list[float]) -> tuple[np.ndarray, int, int]:
    """Counts per bin ``[a, b)`` (the last bin closed), the number of values outside every bin and
    the number of values that are not numbers."""
    _check_columns(data, [column])
    if is_dask(data):
        parts = data.map_partitions(_bin_part, column, edges, meta=pd.Series(dtype="int64"))
    else:
        parts = _bin_part(data, column, edges)
    (codes,) = compute(parts)
    by_code = codes.groupby(level=0).sum()
    counts = np.array([int(by_code.get(i, 0)) for i in range(len(edges) - 1)])
    return counts, int(by_code.get(-1, 0)), int(by_code.get(-3, 0))
