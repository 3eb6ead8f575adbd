"""Tables in memory for synthesis: read a release into pandas, write synthetic tables as Parquet.

Conventions inside :mod:`hdc_toolkit.synth`: one ``pandas.DataFrame`` per table; dates and timestamps
are ``datetime64`` without a time zone (a time-zone-aware column is converted to UTC and its zone is
restored on writing: see :func:`normalise_frame`); nulls are ``NaN``/``NaT``/``None``. Writing casts
every column to the arrow type its contract declares, so the validator sees exactly the physical
layout a real release has.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import DataError

__all__ = ["normalise_frame", "read_tables", "to_arrow", "write_tables"]

TZ_ATTR = "hdc_time_zones"


def normalise_frame(df: pd.DataFrame, contract: Contract | None = None) -> pd.DataFrame:
    """Time-zone-aware timestamps → naive UTC (zones kept in ``df.attrs``); date objects → datetime64."""
    df = df.copy()
    zones: dict[str, str] = dict(df.attrs.get(TZ_ATTR, {}))
    for col in df.columns:
        s = df[col]
        lt = None
        if contract is not None and contract.has_column(str(col)):
            lt = contract.column(str(col)).logical_type
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            zones[str(col)] = str(s.dtype.tz)
            df[col] = s.dt.tz_convert("UTC").dt.tz_localize(None)
        elif lt in ("date", "timestamp") and not pd.api.types.is_datetime64_any_dtype(s):
            converted = pd.to_datetime(s, errors="coerce", utc=True)
            if converted.notna().sum() < s.notna().sum():
                raise DataError(f"column {col!r} is declared {lt} but holds values that are not dates")
            if s.dropna().map(lambda v: getattr(v, "tzinfo", None) is not None).any():
                zones[str(col)] = "UTC"
            df[col] = converted.dt.tz_localize(None)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            df[col] = s.astype(object).where(s.notna(), None)
    df.attrs[TZ_ATTR] = zones
    return df


def read_tables(root: str | os.PathLike[str], contracts: Mapping[str, Contract]) -> dict[str, pd.DataFrame]:
    """Read ``root/<table>/`` (or ``root/<table>.parquet``) for every contract into DataFrames."""
    from hdc_toolkit.contracts.validate import find_table_data

    root = Path(root)
    out = {}
    for name, contract in contracts.items():
        where = find_table_data(root, name)
        if where is None:
            raise DataError(
                f"no data for table {name!r} (expected {name}/ or {name}.parquet)", location=str(root)
            )
        try:
            table = pq.read_table(where)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read: {str(exc).splitlines()[0]}", location=str(where)) from None
        df = table.to_pandas(date_as_object=False)
        missing = [c for c in contract.column_names if c not in df.columns]
        if missing:
            raise DataError(
                f"table {name!r} lacks contract column(s) {', '.join(missing)}", location=str(where)
            )
        out[name] = normalise_frame(df[list(contract.column_names)], contract)
    return out


def to_arrow(df: pd.DataFrame, contract: Contract) -> pa.Table:
    """``df`` as an arrow table with the contract's schema (column order and physical types)."""
    from hdc_toolkit.contracts.export_arrow import contract_to_arrow_schema

    schema = contract_to_arrow_schema(contract, all_nullable=True)
    zones = df.attrs.get(TZ_ATTR, {})
    arrays = []
    for field in schema:
        s = df[field.name] if field.name in df.columns else pd.Series([None] * len(df))
        arrays.append(_array(s, field.type, zones.get(field.name)))
    return pa.Table.from_arrays(arrays, schema=schema)


def _array(s: pd.Series, t: pa.DataType, zone: str | None) -> pa.Array:
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        values = pd.to_datetime(s)
        if pa.types.is_timestamp(t) and t.tz:
            values = values.dt.tz_localize("UTC").dt.tz_convert(t.tz)
        # else: naive values (UTC for a column that had a zone) are written naive, as the contract declares
        arr = pa.array(values, from_pandas=True)
        if pa.types.is_date(t):
            arr = (
                arr.cast(pa.timestamp("ms"), safe=False).cast(t)
                if not pa.types.is_date(arr.type)
                else arr.cast(t)
            )
            return arr
        return arr.cast(t, safe=False)
    if pa.types.is_integer(t):
        mask = s.isna().to_numpy()
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        vals = np.where(mask, 0, np.round(vals)).astype(np.int64)
        return pa.array(vals, mask=mask).cast(t)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return pa.array(vals, mask=np.isnan(vals)).cast(t)
    if pa.types.is_boolean(t):
        return pa.array(s.astype(object).where(s.notna(), None).tolist(), type=pa.bool_())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        obj = s.astype(object).where(s.notna(), None)
        return pa.array([None if v is None else str(v) for v in obj.tolist()], type=t)
    return pa.array(s.tolist()).cast(t)


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    contracts: Mapping[str, Contract],
    out_dir: str | os.PathLike[str],
    *,
    row_group_size: int = 512 * 1024,
) -> dict[str, Path]:
    """Write ``out_dir/<table>/part-00000.parquet`` for every table, typed by its contract."""
    out_dir = Path(out_dir)
    paths = {}
    for name, df in tables.items():
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        path = target / "part-00000.parquet"
        pq.write_table(to_arrow(df, contracts[name]), path, row_group_size=row_group_size)
        paths[name] = path
    return paths


def attrs_zones(df: pd.DataFrame) -> dict[str, Any]:
    return dict(df.attrs.get(TZ_ATTR, {}))
