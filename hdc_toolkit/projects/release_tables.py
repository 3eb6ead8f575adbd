"""The data half of a release: the cohort, and each table filtered, coarsened, pseudonymised and written.

:func:`find_cohort` scans the cohort's code columns (ICD-10 / ATC prefixes, in the time window) for
the distinct person ids; :func:`write_tables` releases every source file of every table of a
:class:`~hdc_toolkit.projects.derive.ReleaseSpec`, file by file and row group by row group in a
thread pool: only the cohort's rows (one hash lookup per row, which also yields the pid), only events
in the window, only the permitted columns, coarsened, surrogate keys re-keyed, rows ordered by pid.
:mod:`.provision` runs these, then the release gate and the manifest.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hdc_toolkit.contracts.dataset import ParquetDataset, open_dataset
from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import DataError
from hdc_toolkit.projects.coarsen import coarsen, distinct_dictionary
from hdc_toolkit.projects.derive import CohortColumn, EventTime, ReleaseSpec, TableSpec
from hdc_toolkit.projects.pseudonymise import PseudonymMap, SurrogateKeyer

__all__ = ["find_cohort", "surrogate_keyers", "write_tables"]


def _open_source(source_dir: str | os.PathLike[str], table: str) -> ParquetDataset:
    from hdc_toolkit.contracts.validate import find_table_data

    path = find_table_data(Path(source_dir), table)
    if path is None:
        raise DataError(
            f"no data for table {table!r} (expected {table}/ or {table}.parquet)", location=str(source_dir)
        )
    return open_dataset(path)


def _need(ds: ParquetDataset, table: str, columns: tuple[str, ...] | list[str]) -> None:
    missing = [c for c in columns if c not in ds.schema.names]
    if missing:
        raise DataError(
            f"table {table!r} of the source extract has no column(s) {', '.join(missing)}",
            location=str(ds.root),
        )


# -- the cohort


def find_cohort(
    spec: ReleaseSpec, cohort: Any, source_dir: str | os.PathLike[str], *, threads: int | None = None
) -> pa.Array:
    """The distinct person ids with a cohort code in the window (a string array)."""
    jobs: list[tuple[CohortColumn, tuple[str, ...], ParquetDataset, int, int]] = []
    for cc in spec.cohort_columns:
        prefixes = tuple(entry.code for entry in getattr(cohort, cc.field))
        if not prefixes:
            continue
        ds = _open_source(source_dir, cc.table)
        _need(ds, cc.table, [cc.person_column, cc.column, *(cc.event_time.columns if cc.event_time else ())])
        jobs += [(cc, prefixes, ds, f, g) for f, g in ds.units()]

    def scan(job: tuple[CohortColumn, tuple[str, ...], ParquetDataset, int, int]) -> pa.Array:
        cc, prefixes, ds, f, g = job
        cols = [cc.person_column, cc.column, *(cc.event_time.columns if cc.event_time else ())]
        encoded = _dictionary_encoded(ds.metadata[f], ds.schema, (cc.person_column,))
        pf = pq.ParquetFile(ds.files[f], metadata=ds.metadata[f], read_dictionary=[*encoded, cc.column])
        tbl = pf.read_row_group(g, columns=list(dict.fromkeys(cols)), use_threads=False)
        mask = _prefix_mask(_array(tbl.column(cc.column)), prefixes)
        if cc.event_time is not None and spec.window is not None:
            mask = pc.and_(mask, _window_mask(tbl, cc.event_time, spec.window))
        ids = _array(tbl.column(cc.person_column)).filter(mask)
        ids = pc.unique(ids)
        return (ids.dictionary_decode() if pa.types.is_dictionary(ids.type) else ids).cast(pa.string())

    with ThreadPoolExecutor(threads or os.cpu_count() or 2) as pool:
        parts = [p for p in pool.map(scan, jobs) if len(p)]
    return pc.unique(pa.concat_arrays(parts)) if parts else pa.array([], pa.string())


def _prefix_mask(arr: pa.Array, prefixes: tuple[str, ...]) -> pa.Array:
    """True where the code starts with one of ``prefixes`` (per dictionary entry for dictionaries)."""
    if pa.types.is_dictionary(arr.type):
        return pc.take(_prefix_mask(arr.dictionary, prefixes), arr.indices)
    mask = pc.starts_with(arr, prefixes[0])
    for p in prefixes[1:]:
        mask = pc.or_(mask, pc.starts_with(arr, p))
    return mask


def _window_mask(tbl: pa.Table, event: EventTime, window: tuple[dt.date, dt.date]) -> pa.Array:
    """True for events in the window: a point in ``[start, end]``, an interval overlapping it."""
    start, end = window
    s = _array(tbl.column(event.start))
    lo, hi = _instant(start, s.type), _instant(end + dt.timedelta(days=1), s.type)
    if event.end is None:
        return pc.and_(pc.greater_equal(s, lo), pc.less(s, hi))
    e = pc.coalesce(_array(tbl.column(event.end)).cast(s.type), s)
    return pc.and_(pc.less(s, hi), pc.greater_equal(e, lo))


def _instant(day: dt.date, t: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(t):
        return pa.scalar(dt.datetime.combine(day, dt.time(0)), pa.timestamp(t.unit)).cast(t)
    return pa.scalar(day, pa.date32()).cast(t)


def _array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


# -- the tables


def surrogate_keyers(spec: ReleaseSpec, source_dir: Path, key: bytes) -> dict[str, SurrogateKeyer]:
    """One keyer per surrogate key domain, sized by the domain column's largest source value."""
    out = {}
    for domain in sorted(
        {c.domain for t in spec.tables for c in t.columns if c.role == "surrogate" and c.domain}
    ):
        table, column = domain.rsplit(".", 1)
        ds = _open_source(source_dir, table)
        _need(ds, table, [column])
        out[domain] = SurrogateKeyer(key, domain, _max_value(ds, column) + 1).prepare()
    return out


def _max_value(ds: ParquetDataset, column: str) -> int:
    """The largest value of an integer column: from the footer statistics, else by reading it."""
    highest = -1
    for f, g in ds.units():
        stats = ds.column_stats(f, g, column)
        if stats is None or not stats.has_min_max:
            values = pq.read_table(ds.root, columns=[column]).column(column)
            top = pc.max(values).as_py()
            low = pc.min(values).as_py()
            if low is not None and low < 0:
                raise DataError(
                    f"{column} has negative values: surrogate keys must be >= 0", location=str(ds.root)
                )
            return -1 if top is None else int(top)
        if stats.min < 0:
            raise DataError(
                f"{column} has negative values: surrogate keys must be >= 0", location=str(ds.root)
            )
        highest = max(highest, int(stats.max))
    return highest


def write_tables(
    spec: ReleaseSpec,
    contracts: Mapping[str, Contract],
    source_dir: Path,
    out: Path,
    pmap: PseudonymMap,
    keyers: Mapping[str, SurrogateKeyer],
    threads: int | None,
    progress: Callable[[str], None] | None,
) -> tuple[dict[str, int], dict[str, int]]:
    from hdc_toolkit.contracts.export_arrow import contract_to_arrow_schema

    jobs = []
    for t in spec.tables:
        ds = _open_source(source_dir, t.name)
        _need(ds, t.name, t.source_columns)
        schema = contract_to_arrow_schema(contracts[t.name], all_nullable=True)
        (out / t.name).mkdir()
        jobs += [(t, ds, i, schema, out / t.name / f"part-{i:05d}.parquet") for i in range(len(ds.files))]

    def run(job: tuple[TableSpec, ParquetDataset, int, pa.Schema, Path]) -> tuple[str, int, int]:
        t, ds, i, schema, path = job
        kept, seen = _write_file(
            t, ds, i, schema, path, pmap, keyers, spec.window, person=t.name == spec.person_table
        )
        if progress is not None:
            progress(f"written:{t.name}/{path.name}")
        return t.name, kept, seen

    rows = {t.name: 0 for t in spec.tables}
    source_rows = dict(rows)
    with ThreadPoolExecutor(threads or os.cpu_count() or 2) as pool:
        for name, kept, seen in pool.map(run, jobs):
            rows[name] += kept
            source_rows[name] += seen
    return rows, source_rows


def _write_file(
    t: TableSpec,
    ds: ParquetDataset,
    i: int,
    schema: pa.Schema,
    path: Path,
    pmap: PseudonymMap,
    keyers: Mapping[str, SurrogateKeyer],
    window: tuple[dt.date, dt.date] | None,
    *,
    person: bool,
) -> tuple[int, int]:
    """Release one source file into ``path``, row group by row group; returns (rows kept, rows read).

    String columns that the source file stores dictionary-encoded (codes, categories, and the person
    key where ids repeat) are read as dictionaries: the cohort lookup runs once per distinct id, the
    pid-order ``take`` moves small indices, and the writer writes the dictionaries as they are. The
    file's stored Arrow schema is the release schema (plain strings, with the contract's metadata),
    exactly as if the strings had been written plain. Re-keyed surrogates are written without
    Parquet dictionary encoding (every value is distinct; trying a dictionary first only costs time).
    """
    meta = ds.metadata[i]
    encoded = _dictionary_encoded(meta, ds.schema, t.source_columns)
    if person and t.person_column in encoded:
        encoded.remove(t.person_column)  # unique in the person table: a dictionary only costs
    pf = pq.ParquetFile(ds.files[i], metadata=meta, read_dictionary=encoded or None)
    write_schema = _write_schema(t, schema, encoded)
    plain = {c.name for c in t.columns if c.role == "surrogate"}
    kept = seen = 0
    with pq.ParquetWriter(
        path,
        write_schema,
        use_dictionary=[f.name for f in schema if f.name not in plain],
        store_schema=write_schema == schema,
    ) as writer:
        for g in range(pf.num_row_groups):
            tbl = pf.read_row_group(g, columns=list(t.source_columns))
            seen += tbl.num_rows
            out = _release_rows(t, tbl, write_schema, pmap, keyers, window)
            kept += out.num_rows
            writer.write_table(out)
        if write_schema != schema:  # readers see the release schema, as pyarrow itself stores it
            stored = base64.b64encode(schema.serialize().to_pybytes())
            writer.add_key_value_metadata({**(schema.metadata or {}), b"ARROW:schema": stored})
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    return kept, seen


def _dictionary_encoded(meta: pq.FileMetaData, schema: pa.Schema, columns: tuple[str, ...]) -> list[str]:
    """The string ``columns`` whose first column chunk in this file has a dictionary page."""
    if not meta.num_row_groups:
        return []
    rg = meta.row_group(0)
    out = []
    for name in columns:
        idx = schema.get_field_index(name)
        if idx >= 0 and pa.types.is_string(schema.field(idx).type) and rg.column(idx).has_dictionary_page:
            out.append(name)
    return out


def _write_schema(t: TableSpec, schema: pa.Schema, encoded: list[str]) -> pa.Schema:
    """The release schema with dictionary types where an as-read dictionary column is written as is."""
    fields = []
    for spec, fld in zip(t.columns, schema, strict=True):
        if spec.role == "value" and spec.source in encoded and pa.types.is_string(fld.type):
            fld = fld.with_type(pa.dictionary(pa.int32(), fld.type))
        fields.append(fld)
    return pa.schema(fields, metadata=schema.metadata)


def _release_rows(
    t: TableSpec,
    tbl: pa.Table,
    schema: pa.Schema,
    pmap: PseudonymMap,
    keyers: Mapping[str, SurrogateKeyer],
    window: tuple[dt.date, dt.date] | None,
) -> pa.Table:
    """One row group: cohort and window filter, then the released columns in the schema's types.

    Rows of a person-linked table are kept and put in pid order by one ``take`` (no separate filter).
    """
    keep = located = positions = None
    if t.person_column is not None:
        located = pmap.locate(tbl.column(t.person_column))
        keep = located >= 0
    if t.event_time is not None and window is not None:
        in_window = _window_mask(tbl, t.event_time, window).fill_null(False).to_numpy(zero_copy_only=False)
        keep = in_window if keep is None else keep & in_window
    if located is not None:  # rows in pid order: the pseudonyms are then read from the map in order
        assert keep is not None
        rows = np.flatnonzero(keep)
        order = rows[_pid_order(located[rows])]
        tbl = tbl.select(list(dict.fromkeys(c.source for c in t.columns if c.role != "pseudonym"))).take(order)
        positions = pa.array(located[order])
    elif keep is not None:
        tbl = tbl.filter(pa.array(keep))
    arrays = []
    for spec, fld in zip(t.columns, schema, strict=True):
        if spec.role == "pseudonym":
            arr: Any = pmap.take(positions)
        elif spec.role == "surrogate":
            arr = keyers[spec.domain or ""].rekey(tbl.column(spec.source))
        else:
            arr = coarsen(tbl.column(spec.source), spec.granularity)
        arrays.append(_cast(arr, fld, t.name))
    return pa.Table.from_arrays(arrays, schema=schema)


def _pid_order(pos: np.ndarray) -> np.ndarray:
    """Row order by pid (the map is sorted by pid), a random order among each person's rows.

    Nothing of the source's row order survives inside a row group: not the order of national ids
    (birth dates) in the person table, not the exact order of a person's events.
    """
    rng = np.random.default_rng(secrets.randbits(128))
    return np.argsort((pos << 32) | rng.integers(0, 1 << 32, size=len(pos), dtype=np.int64))


def _cast(arr: Any, fld: pa.Field, table: str) -> Any:
    if pa.types.is_dictionary(arr.type):
        if not pa.types.is_dictionary(fld.type):
            arr = arr.cast(arr.type.value_type)
        else:
            arr = distinct_dictionary(arr)  # also a source dictionary that repeats a value
    if arr.type == fld.type:
        return arr
    try:
        return arr.cast(fld.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"{table}.{fld.name}: cannot convert source values of type {arr.type} to {fld.type}: {exc}"
        ) from None
