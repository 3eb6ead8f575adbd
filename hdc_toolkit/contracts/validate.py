"""The fast validator: a contract's compiled checks run over Parquet at close to scan speed.

How it stays fast and bounded:

* work is split into row groups, processed by a thread pool (pyarrow decodes and computes without
  the GIL); each task returns additive counts, a few examples and key arrays;
* only the columns some check needs are read; low-cardinality code columns are read as dictionaries
  so allowed-value and regex checks run once per distinct value, not once per row;
* Parquet footer statistics answer ``not_null`` and ``range`` for a row group without reading it
  when they prove the row group clean, and bound the span of integer ids (``use_statistics=False``
  turns both off);
* uniqueness and foreign keys are global, on keys decoded to integers where the text allows
  (:mod:`.keys`, :mod:`.key_index`): a unique id whose span the footer bounds is counted in a dense
  array of flags, other keys are gathered and sorted (spilled to disk buckets past a budget); a
  referenced column is loaded as a hash set by a thread of its own while the scan runs, and row
  groups read before it is ready keep their child keys (up to ``DEFERRED_KEYS_BUDGET``). Memory
  grows with the key columns only, never with the width of the table.

Values of direct-identifier and sensitive columns never appear in examples or the profile.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hdc_toolkit.contracts.checks import CheckKind, CheckSpec, compile_checks
from hdc_toolkit.contracts.dataset import ParquetDataset, open_dataset, type_matches
from hdc_toolkit.contracts.key_index import DenseCounter
from hdc_toolkit.contracts.keys import KeyColumn, count_orphans, prepare_parent, to_keys
from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import DataError
from hdc_toolkit.results import Check, Run, Verdict

__all__ = ["MASK", "find_table_data", "validate", "validate_extract"]

MASK = "***"
#: Columns checked against a value list or a regex are read as dictionaries (one test per distinct value).
_DICTIONARY_KINDS = {CheckKind.ALLOWED_VALUES, CheckKind.PATTERN, CheckKind.LENGTH}
#: Columns also used as keys stay plain: a dictionary over unique ids costs a hash per row.
_KEY_KINDS = {CheckKind.UNIQUE, CheckKind.FOREIGN_KEY, CheckKind.COMPOUND_UNIQUE}
_ROW_KINDS = {
    CheckKind.NOT_NULL, CheckKind.RANGE, CheckKind.ALLOWED_VALUES, CheckKind.PATTERN, CheckKind.LENGTH,
    CheckKind.PAIR, CheckKind.UNIQUE, CheckKind.FOREIGN_KEY, CheckKind.COMPOUND_UNIQUE,
}  # fmt: skip
ProgressFn = Callable[[int, int], None]
#: Bytes a unique integer id may take as one byte of flags per possible value (its span from the footer)
#: before its keys are collected, sorted and spilled instead.
DENSE_COUNTER_BUDGET = 64 * 2**20
#: Bytes of child keys that row groups read before their foreign key's parent is loaded may hold;
#: past it, a row group waits for the parent instead.
DEFERRED_KEYS_BUDGET = 32 * 2**20


@dataclass
class _Partial:
    """What one row group contributes to one check."""

    failing: int = 0
    examples: list[Any] = field(default_factory=list)
    keys: Any = None


def validate(
    contract: Contract,
    data: str | os.PathLike[str],
    *,
    references: Mapping[str, str | os.PathLike[str]] | None = None,
    sample_size: int = 5,
    threads: int | None = None,
    use_statistics: bool = True,
    progress: ProgressFn | None = None,
    parent_cache: dict[tuple[str, str], Future[Any]] | None = None,
) -> Run:
    """Validate the Parquet file or dataset directory ``data`` against ``contract``.

    ``references`` maps a referenced table name to its data (for foreign keys); by default a
    sibling directory named after the table is used. ``parent_cache`` lets several calls share the
    loaded keys of a referenced column (:func:`validate_extract` passes one). Returns a :class:`Run`
    (never raises for bad data); raises :class:`DataError` only when ``data`` cannot be read at all.
    """
    ds = open_dataset(data)
    specs = compile_checks(contract)
    run = Run(name=f"contract:{contract.name}", metadata=_metadata(contract, ds))
    results: dict[str, Check] = {}
    usable = _schema_checks(contract, ds, specs, results)
    row_specs = [s for s in specs if s.kind in _ROW_KINDS and s.key not in results]
    runnable = []
    for s in row_specs:
        missing = [c for c in s.columns if c not in usable]
        if missing:
            results[s.key] = _check(s, Verdict.ERROR, message=f"not run: column {', '.join(missing)} is missing or of the wrong type")
        else:
            runnable.append(s)
    with ThreadPoolExecutor(1, thread_name_prefix="hdc-parents") as loader:
        # parents load while the scan runs; row groups read before they are ready keep their child keys
        parents = _load_parents(contract, ds, runnable, references, threads, loader, parent_cache)
        partials = _scan(ds, runnable, parents, sample_size, threads, use_statistics, progress)
    for s in runnable:
        if s.kind is not CheckKind.FOREIGN_KEY or (exc := parents[_parent_id(s)].exception()) is None:
            continue
        if not isinstance(exc, DataError):
            raise exc
        results[s.key] = _check(s, Verdict.ERROR, message=f"not run: referenced table {s.params['ref_table']} could not be read: {exc}")
    runnable = [s for s in runnable if s.key not in results]
    rows = ds.num_rows
    for s in runnable:
        parts = partials[s.key]
        if s.kind in (CheckKind.UNIQUE, CheckKind.COMPOUND_UNIQUE):
            failing, examples = _global_duplicates(s, parts, sample_size)
        else:
            failing = sum(p.failing for p in parts)
            examples = list(dict.fromkeys(e for p in parts for e in p.examples))[:sample_size]
        results[s.key] = _counted(s, failing, rows, examples)
    for s in specs:
        if s.kind is CheckKind.ROW_COUNT:
            lo, hi = s.params["min"], s.params["max"]
            ok = (lo is None or rows >= lo) and (hi is None or rows <= hi)
            results[s.key] = _check(s, Verdict.PASSED if ok else Verdict.FAILED, element_count=rows, failing_count=0 if ok else 1,
                                    message=f"{rows} rows; expected {s.description.removeprefix('row count ')}")  # fmt: skip
    run.checks = [results[s.key] for s in specs if s.key in results]
    run.metadata["profile"] = _profile(contract, ds, usable)
    return run.finish()


def validate_extract(
    contracts: Mapping[str, Contract], root: str | os.PathLike[str], **kwargs: Any
) -> dict[str, Run]:
    """Validate every table of an extract directory (``root/<table>/``) against its contract."""
    out = {}
    kwargs.setdefault("parent_cache", {})  # a parent referenced by several tables is read once
    for name, contract in contracts.items():
        data = find_table_data(Path(root), name)
        if data is None:
            raise DataError(f"no data for table {name!r} (expected {name}/ or {name}.parquet)", location=str(root))
        refs = {r.table: p for c in contract.columns for r in c.references if (p := find_table_data(Path(root), r.table))}
        out[name] = validate(contract, data, references=refs, **kwargs)
    return out


def find_table_data(root: Path, table: str) -> Path | None:
    """``root/table`` (a directory) or ``root/table.parquet`` when ``root`` is an extract, else None."""
    if root.is_dir():
        for candidate in (root / table, root / f"{table}.parquet"):
            if candidate.exists():
                return candidate
    return None


# ---------------------------------------------------------------------------------------------------
# schema


def _schema_checks(contract: Contract, ds: ParquetDataset, specs: tuple[CheckSpec, ...], results: dict[str, Check]) -> set[str]:
    present = {f.name: f.type for f in ds.schema}
    usable: set[str] = set()
    for s in specs:
        if s.kind is CheckKind.SCHEMA:
            expected = list(s.params["columns"])
            missing = [c for c in expected if c not in present]
            extra = [c for c in present if c not in expected]
            parts = []
            if missing:
                parts.append(f"missing column(s): {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected column(s) not in the contract: {', '.join(extra)}")
            results[s.key] = _check(s, Verdict.FAILED if parts else Verdict.PASSED, element_count=len(expected),
                                    failing_count=len(missing) + len(extra), message="; ".join(parts) or "columns match the contract",
                                    details={"missing": missing, "extra": extra})  # fmt: skip
        elif s.kind is CheckKind.TYPE:
            col = s.column
            assert col is not None
            if col not in present:
                results[s.key] = _check(s, Verdict.ERROR, message=f"not run: column {col} is missing")
                continue
            ok = type_matches(s.params["logical_type"], present[col])
            if ok:
                usable.add(col)
            msg = f"expected a {s.params['logical_type']} type; got {present[col]}"
            results[s.key] = _check(s, Verdict.PASSED if ok else Verdict.FAILED, element_count=1, failing_count=0 if ok else 1,
                                    message=msg, details={"physical_type": str(present[col])})  # fmt: skip
    return usable


# ---------------------------------------------------------------------------------------------------
# foreign keys: parents are loaded (as a hash set or sorted unique keys) beside the scan


def _parent_id(s: CheckSpec) -> str:
    return f"{s.params['ref_table']}.{s.params['ref_column']}"


def _load_parents(
    contract: Contract,
    ds: ParquetDataset,
    specs: list[CheckSpec],
    references: Mapping[str, Any] | None,
    threads: int | None,
    loader: ThreadPoolExecutor,
    cache: dict[tuple[str, str], Future[Any]] | None,
) -> dict[str, Future[Any]]:
    """One future per referenced column: its prepared keys, or a :class:`DataError` saying why not."""
    parents: dict[str, Future[Any]] = {}
    for s in specs:
        if s.kind is not CheckKind.FOREIGN_KEY or (ident := _parent_id(s)) in parents:
            continue
        table, column = s.params["ref_table"], s.params["ref_column"]
        if references and table in references:
            where = Path(references[table])
        else:
            where = find_table_data(ds.root.parent, table) or ds.root.parent / table

        def load(table: str = table, column: str = column, where: Path = where) -> Any:
            if table == contract.name and where.resolve() == ds.root.resolve():
                parent_ds = ds
            else:
                parent_ds = open_dataset(where)
            if column not in parent_ds.schema.names:
                raise DataError(f"has no column {column}", location=str(where))
            return prepare_parent(_read_keys(parent_ds, column, threads))

        cached = (str(where.resolve()), column)
        if cache is not None and cached in cache and not cache[cached].cancelled():
            parents[ident] = cache[cached]
            continue
        parents[ident] = loader.submit(load)
        if cache is not None:
            cache[cached] = parents[ident]
    return parents


def _read_keys(ds: ParquetDataset, column: str, threads: int | None) -> Any:
    keys = KeyColumn()

    def read(unit: tuple[int, int]) -> Any:
        f, g = unit
        try:
            pf = pq.ParquetFile(ds.files[f], metadata=ds.metadata[f])
            return to_keys(pf.read_row_group(g, columns=[column], use_threads=False).column(0))
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"cannot read row group {g}: {str(exc).splitlines()[0]}", location=str(ds.files[f])) from None

    with ThreadPoolExecutor(threads or os.cpu_count() or 2) as pool:
        for part in pool.map(read, ds.units()):
            keys.add(part)
    return keys.combined()


# ---------------------------------------------------------------------------------------------------
# the scan


def _scan(
    ds: ParquetDataset,
    specs: list[CheckSpec],
    parents: dict[str, Future[Any]],
    sample: int,
    threads: int | None,
    use_statistics: bool,
    progress: ProgressFn | None,
) -> dict[str, list[_Partial]]:
    dict_cols = {c for s in specs if s.kind in _DICTIONARY_KINDS for c in s.columns}
    dict_cols -= {c for s in specs if s.kind in _KEY_KINDS or s.kind is CheckKind.PAIR for c in s.columns}
    dict_cols = {c for c in dict_cols if pa.types.is_string(ds.schema.field(c).type)}
    units = ds.units()
    out: dict[str, list[_Partial]] = {s.key: [] for s in specs}

    def task(unit: tuple[int, int]) -> dict[str, _Partial]:
        f, g = unit
        todo = [s for s in specs if not (use_statistics and _proved_by_statistics(ds, f, g, s))]
        cols = sorted({c for s in todo for c in s.columns})
        res = {s.key: _Partial() for s in specs}
        if not cols:
            return res
        try:
            pf = pq.ParquetFile(ds.files[f], metadata=ds.metadata[f], read_dictionary=sorted(dict_cols & set(cols)) or None, memory_map=True)
            table = pf.read_row_group(g, columns=cols, use_threads=False)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"cannot read row group {g}: {str(exc).splitlines()[0]}", location=str(ds.files[f])) from None
        arrays = {name: table.column(name).combine_chunks() for name in cols}
        for s in todo:
            res[s.key] = _evaluate(s, arrays, parents, 0 if s.masked else sample, held)
        return res

    done = 0
    collectors = {s.key: _collector(ds, s.column, use_statistics) for s in specs if s.kind is CheckKind.UNIQUE}
    deferred: list[tuple[CheckSpec, _Partial]] = []
    held = _Held(DEFERRED_KEYS_BUDGET)
    fk = {s.key: s for s in specs if s.kind is CheckKind.FOREIGN_KEY}
    with ThreadPoolExecutor(threads or os.cpu_count() or 2) as pool:
        for part in pool.map(task, units):
            for key, p in part.items():
                if key in collectors and p.keys is not None:  # keys go to a (possibly spilling) collector
                    _collect(collectors[key], p.keys, ds, key)
                    p.keys = None
                elif key in fk and p.keys is not None:  # read before its parent was ready
                    deferred.append((fk[key], p))
                out[key].append(p)
            deferred = [d for d in deferred if not _resolve(*d, parents, sample, held)]
            done += 1
            if progress:
                progress(done, len(units))
    for d in deferred:
        parents[_parent_id(d[0])].exception()  # waits for the parent
        _resolve(*d, parents, sample, held)
    for key, collector in collectors.items():
        out[key].append(_Partial(keys=collector))
    return out


def _collector(ds: ParquetDataset, column: str | None, use_statistics: bool) -> KeyColumn | DenseCounter:
    """Where a unique column's keys go: a dense counter when the footer bounds an integer id's span."""
    assert column is not None
    if use_statistics and pa.types.is_integer(ds.schema.field(column).type):
        lo = hi = None
        for f, g in ds.units():
            st = ds.column_stats(f, g, column)
            if st is None or not st.has_min_max:
                if st is not None and st.has_null_count and st.null_count == ds.metadata[f].row_group(g).num_rows:
                    continue  # an all-null row group contributes no keys
                return KeyColumn()
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
        if lo is not None and hi - lo + 1 <= DENSE_COUNTER_BUDGET:
            return DenseCounter(int(lo), int(hi - lo + 1))
    return KeyColumn()


def _collect(collector: KeyColumn | DenseCounter, keys: Any, ds: ParquetDataset, key: str) -> None:
    try:
        collector.add(keys)
    except ValueError as exc:  # a dense counter met a key outside the span the footer declared
        raise DataError(
            f"{key}: the Parquet footer statistics do not match the values ({exc}); the file is damaged, "
            "or validate without statistics (--no-statistics)",
            location=str(ds.root),
        ) from None


class _Held:
    """Bytes of child keys held back until their parent is loaded, capped (thread-safe)."""

    def __init__(self, budget: int) -> None:
        self.budget, self.used, self.lock = budget, 0, threading.Lock()

    def take(self, nbytes: int) -> bool:
        with self.lock:
            if self.used + nbytes > self.budget:
                return False
            self.used += nbytes
            return True

    def give(self, nbytes: int) -> None:
        with self.lock:
            self.used -= nbytes


def _resolve(s: CheckSpec, p: _Partial, parents: dict[str, Future[Any]], sample: int, held: _Held) -> bool:
    """Count a deferred row group's orphans once its parent is loaded; False while it is not."""
    fut = parents[_parent_id(s)]
    if not fut.done():
        return False
    if fut.exception() is None:
        p.failing, examples = count_orphans(p.keys, fut.result(), 0 if s.masked else sample)
        p.examples = [_plain(e) for e in examples]
    held.give(p.keys.nbytes)
    p.keys = None
    return True


def _proved_by_statistics(ds: ParquetDataset, f: int, g: int, s: CheckSpec) -> bool:
    """True when the footer statistics alone show this row group passes ``s``."""
    if s.kind not in (CheckKind.NOT_NULL, CheckKind.RANGE):
        return False
    assert s.column is not None
    stats = ds.column_stats(f, g, s.column)
    if stats is None:
        return False
    if s.kind is CheckKind.NOT_NULL:
        return bool(stats.has_null_count and stats.null_count == 0)
    if not stats.has_min_max:
        return False
    p = s.params
    try:
        lo_ok = p["min"] is None or (stats.min > p["min"] if p["exclusive_min"] else stats.min >= p["min"])
        hi_ok = p["max"] is None or (stats.max < p["max"] if p["exclusive_max"] else stats.max <= p["max"])
    except TypeError:
        return False
    return bool(lo_ok and hi_ok)


def _evaluate(s: CheckSpec, arrays: dict[str, pa.Array], parents: dict[str, Future[Any]], sample: int, held: _Held) -> _Partial:
    kind = s.kind
    if kind is CheckKind.NOT_NULL:
        return _Partial(arrays[s.column].null_count)  # type: ignore[index]
    if kind is CheckKind.UNIQUE:
        return _Partial(keys=to_keys(arrays[s.column]))  # type: ignore[index]
    if kind is CheckKind.COMPOUND_UNIQUE:
        return _Partial(keys=pa.table({c: arrays[c] for c in s.params["columns"]}))
    if kind is CheckKind.FOREIGN_KEY:
        fut = parents[_parent_id(s)]
        child = to_keys(arrays[s.column])  # type: ignore[index]
        if not fut.done() and held.take(child.nbytes):
            return _Partial(keys=child)  # counted by the scan's loop once the parent is ready
        fut.exception()  # past the budget: wait for the parent
        if fut.exception() is not None:
            return _Partial()  # reported as not run
        failing, examples = count_orphans(child, fut.result(), sample)
        return _Partial(failing, [_plain(e) for e in examples])
    if kind is CheckKind.PAIR:
        left, right = arrays[s.params["left"]], arrays[s.params["right"]]
        bad = _compare(left, s.params["op"], right)
        return _Partial(_true_count(bad), _examples_pair(left, right, bad, sample))
    arr = arrays[s.column]  # type: ignore[index]
    if pa.types.is_dictionary(arr.type):
        return _evaluate_dictionary(s, arr, sample)
    if kind is CheckKind.PATTERN and (width := _fixed_digits_width(s.params["regex"])) is not None:
        bad = _not_fixed_digits(arr, width)
        return _Partial(_true_count(bad), _examples(arr, bad, sample)) if bad is not None else _Partial(0)
    bad = _bad_mask(s, arr)
    return _Partial(_true_count(bad), _examples(arr, bad, sample))


def _evaluate_dictionary(s: CheckSpec, arr: pa.DictionaryArray, sample: int) -> _Partial:
    """Evaluate a value check once per dictionary entry, then weight by how often each occurs."""
    bad = _bad_mask(s, arr.dictionary)
    bad_np = np.asarray(bad.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    if not bad_np.any():
        return _Partial(0)
    indices = arr.indices
    if indices.null_count:
        indices = pc.drop_null(indices)
    counts = np.bincount(indices.to_numpy(zero_copy_only=False), minlength=len(bad_np))
    failing = int(counts[bad_np].sum())
    present_bad = np.flatnonzero(bad_np & (counts > 0))
    examples = [arr.dictionary[int(i)].as_py() for i in present_bad[:sample]] if sample else []
    return _Partial(failing, examples)


_FIXED_DIGITS = re.compile(r"^\^(?:\[0-9\]|\\d)\{(\d+)\}\$$")


def _fixed_digits_width(regex: str) -> int | None:
    """``n`` when the pattern is exactly ``^[0-9]{n}$`` or ``^\\d{n}$`` (ids, municipality numbers)."""
    m = _FIXED_DIGITS.match(regex)
    return int(m.group(1)) if m else None


def _not_fixed_digits(arr: pa.Array, width: int) -> pa.Array | None:
    """The pattern ``^[0-9]{width}$`` evaluated on the bytes: ~10x cheaper than a regex per row.

    None when every value matches (found with two reductions over the whole buffer; the per-row
    mask is only built when some byte is not a digit).
    """
    plain = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
    if not plain or len(arr) == 0 or arr.null_count:  # nulls take no bytes: the fixed stride breaks
        return pc.invert(pc.match_substring_regex(arr, f"^[0-9]{{{width}}}$"))
    lo, hi = pc.min_max(pc.binary_length(arr)).values()
    if lo.as_py() == width == hi.as_py():
        offsets_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
        offsets = np.frombuffer(arr.buffers()[1], dtype=offsets_type, count=len(arr) + 1, offset=arr.offset * np.dtype(offsets_type).itemsize)
        flat = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=len(arr) * width, offset=int(offsets[0]))
        if not flat.size or (int(flat.min()) >= 48 and int(flat.max()) <= 57):
            return None
        return pa.array(((flat.reshape(-1, width) - np.uint8(48)) > 9).any(axis=1))
    return pc.invert(pc.match_substring_regex(arr, f"^[0-9]{{{width}}}$"))


def _bad_mask(s: CheckSpec, arr: pa.Array) -> pa.Array:
    """Boolean array: True where the (non-null) value breaks the check; null where the value is null."""
    p = s.params
    match s.kind:
        case CheckKind.RANGE:
            conds = []
            if p["min"] is not None:
                lo = _scalar(p["min"], arr.type)
                conds.append(pc.less_equal(arr, lo) if p["exclusive_min"] else pc.less(arr, lo))
            if p["max"] is not None:
                hi = _scalar(p["max"], arr.type)
                conds.append(pc.greater_equal(arr, hi) if p["exclusive_max"] else pc.greater(arr, hi))
            out = conds[0]
            for c in conds[1:]:
                out = pc.or_(out, c)
            return out
        case CheckKind.ALLOWED_VALUES:
            inside = pc.is_in(arr, value_set=pa.array(list(p["values"]), type=arr.type))
            return pc.if_else(pc.is_null(arr), pa.scalar(None, pa.bool_()), pc.invert(inside))
        case CheckKind.PATTERN:
            return pc.invert(pc.match_substring_regex(arr, p["regex"]))
        case CheckKind.LENGTH:
            n = pc.utf8_length(arr)
            conds = []
            if p["min"] is not None:
                conds.append(pc.less(n, p["min"]))
            if p["max"] is not None:
                conds.append(pc.greater(n, p["max"]))
            return conds[0] if len(conds) == 1 else pc.or_(conds[0], conds[1])
    raise AssertionError(f"no row kernel for {s.kind}")


_OPS = {"<": pc.less, "<=": pc.less_equal, ">": pc.greater, ">=": pc.greater_equal}


def _compare(left: pa.Array, op: str, right: pa.Array) -> pa.Array:
    if left.type != right.type:
        try:
            right = right.cast(left.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            left = left.cast(pa.timestamp("ms")) if pa.types.is_date(left.type) else left
            right = right.cast(left.type)
    return _OPS[op](left, right)


def _scalar(value: Any, t: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(t):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if t.tz and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        elif not t.tz and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if pa.types.is_date(t) and isinstance(value, dt.datetime):
        value = value.date()
    if pa.types.is_integer(t) and isinstance(value, float):
        return pa.scalar(value, pa.float64())
    return pa.scalar(value, t)


def _true_count(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0) if len(mask) else 0


def _examples(arr: pa.Array, bad: pa.Array, sample: int) -> list[Any]:
    if not sample:
        return []
    picked = pc.filter(arr, bad.fill_null(False))
    return [_plain(v) for v in picked.slice(0, sample * 4).to_pylist()]


def _examples_pair(left: pa.Array, right: pa.Array, bad: pa.Array, sample: int) -> list[Any]:
    if not sample:
        return []
    mask = bad.fill_null(False)
    lv = pc.filter(left, mask).slice(0, sample).to_pylist()
    rv = pc.filter(right, mask).slice(0, sample).to_pylist()
    return [f"{_plain(a)} vs {_plain(b)}" for a, b in zip(lv, rv, strict=True)]


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def _global_duplicates(s: CheckSpec, parts: list[_Partial], sample: int) -> tuple[int, list[Any]]:
    keep = 0 if s.masked else sample
    if s.kind is CheckKind.UNIQUE:
        collector = next(p.keys for p in parts if isinstance(p.keys, (KeyColumn, DenseCounter)))
        failing, examples = collector.count_duplicates(keep)
        return failing, [_plain(e) for e in examples]
    tables = [p.keys for p in parts if p.keys is not None]
    if not tables:
        return 0, []
    import pandas as pd

    df = pa.concat_tables(tables).to_pandas()
    df = df[~df.isna().all(axis=1)]
    dup = df.duplicated(keep=False)
    examples = [", ".join(map(str, r)) for r in df[dup].head(keep).itertuples(index=False)] if keep else []
    return int(dup.sum()), examples


# ---------------------------------------------------------------------------------------------------
# results


def _check(s: CheckSpec, verdict: Verdict, **kw: Any) -> Check:
    details = {"description": s.description, "threshold": s.threshold.describe(), "masked": s.masked, **kw.pop("details", {})}
    return Check(key=s.key, kind=s.kind.value, verdict=verdict, table=s.table, column=s.column, details=details, **kw)


def _counted(s: CheckSpec, failing: int, rows: int, examples: list[Any]) -> Check:
    ok = s.threshold.passes(failing, rows)
    verdict = Verdict.PASSED if ok else (Verdict.WARNING if s.severity == "warning" else Verdict.FAILED)
    shown = [MASK] if (s.masked and failing) else examples
    msg = f"{failing} of {rows} rows fail: {s.description}" if failing else f"all {rows} rows pass: {s.description}"
    return _check(s, verdict, element_count=rows, failing_count=failing, examples=shown, message=msg)


def _metadata(contract: Contract, ds: ParquetDataset) -> dict[str, Any]:
    return {
        "contract_id": contract.contract_id,
        "contract_version": contract.version,
        "contract_source": contract.source,
        "table": contract.name,
        "data": str(ds.root),
        "rows": ds.num_rows,
        "files": [str(f.relative_to(ds.root)) if ds.root.is_dir() else f.name for f in ds.files],
        "row_groups": len(ds.units()),
    }


def _profile(contract: Contract, ds: ParquetDataset, usable: set[str]) -> dict[str, Any]:
    """Per-column profile from the footer statistics (no extra scan); restricted columns get counts only."""
    out: dict[str, Any] = {}
    for c in contract.columns:
        entry: dict[str, Any] = {"logical_type": c.logical_type, "classification": c.classification, "present": c.name in ds.schema.names}
        if c.name in usable:
            nulls, lo, hi, known = 0, None, None, True
            for f, g in ds.units():
                st = ds.column_stats(f, g, c.name)
                if st is None or not st.has_null_count:
                    known = False
                    break
                nulls += st.null_count
                if st.has_min_max:
                    lo = st.min if lo is None or st.min < lo else lo
                    hi = st.max if hi is None or st.max > hi else hi
            if known:
                entry["null_count"] = nulls
                if not c.restricted:
                    entry["min"], entry["max"] = _plain(lo), _plain(hi)
        out[c.name] = entry
    return out
