"""Permitted-column access to a project's release as Dask DataFrames.

:func:`open_table` is the one way notebooks read released data::

    dx = open_table("diagnoses", columns=["pid", "episode_id"],
                    filters=[("icd10_code", "startswith", "E11")])

What it does, in order, before any Dask graph exists (so a mistake is one clear message, never a
traceback from inside a worker):

1. **which project** — ``project=`` or ``HDC_PROJECT`` (the sandbox sets it); the release is
   ``HDC_DATA_DIR`` when that is the same project's server, else ``HDC_HOME/projects/<id>/data``.
2. **the permit** — the project's permitted columns come from the registry
   (``Registry.permitted_columns``), or, where the registry cannot be read from the server (a
   researcher's pod), from the release manifest that the data centre wrote (the columns it released
   per table under the permit).
   Neither available means the read is refused (fail closed). The pseudonym ``pid`` that provisioning
   adds is always readable.
3. **the request** — an unknown table or column is :class:`~hdc_toolkit.exceptions.NotFoundError`
   (with the closest names); a real column the permit does not grant (``national_id``,
   ``department`` …), in ``columns`` *or* in ``filters``, is
   :class:`~hdc_toolkit.exceptions.PermissionDenied` and an ``analysis.refused`` audit entry. This is
   defence in depth: a correct release holds no such column, but a stale release, an amended permit or
   a hand-copied file must not widen what a project can read.
4. **the filters** — DNF like ``dask.dataframe.read_parquet`` (a list of ``(column, op, value)`` is
   AND, a list of such lists is OR) with ops ``== = != < <= > >= in not in startswith``; values are
   coerced to the column's type (``"2016-01-01"`` for a date or timestamp column) and checked now.

How the read is fast:

* **column pruning**: only the requested columns (and the filter columns) are decoded, and a later
  ``df[["a"]]`` is pushed into the reader too (the reader implements Dask's ``DataFrameIOFunction``);
* **predicate pushdown**: row groups whose footer statistics cannot match are never read; the filter
  columns are read first and the other columns only for row groups with a match; rows are filtered in
  Arrow before anything becomes pandas;
* **dictionary codes**: dictionary-encoded string columns (codes such as ICD-10, ATC, sex) are read as
  dictionaries; a filter on them is evaluated once per distinct value, not once per row;
* **pyarrow strings**: string columns become ``string[pyarrow]`` (no Python objects); dictionary
  columns become pandas categoricals when ``categories`` asks for them;
* **partition sizes**: row groups are packed into partitions of about ``partition_size`` bytes of the
  *selected* columns (default 64 MiB), never splitting a row group.

Every successful open is recorded as ``analysis.read`` (table, columns, filter columns; never values),
and every refusal as ``analysis.refused``, in the audit log when this process can write it; when it
cannot (a researcher's server without access to the registry) the entry goes to the
``hdc_toolkit.analysis`` logger instead and the read itself is unaffected.
"""

from __future__ import annotations

import difflib
import getpass
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import DataError, NotFoundError, PermissionDenied

__all__ = [
    "FILTER_OPS",
    "PSEUDONYM",
    "Release",
    "describe_tables",
    "open_release",
    "open_table",
    "read_parquet_table",
]

log = logging.getLogger("hdc_toolkit.analysis")

#: The project-specific pseudonym column provisioning adds to every table; always readable.
PSEUDONYM = "pid"
FILTER_OPS: tuple[str, ...] = ("==", "=", "!=", "<", "<=", ">", ">=", "in", "not in", "startswith")
DEFAULT_PARTITION_SIZE = 64 * 2**20
MANIFEST = "manifest.json"
_COMPARE = {"==": "equal", "=": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal",
            ">": "greater", ">=": "greater_equal"}  # fmt: skip

Filter = tuple[str, str, Any]


# ---------------------------------------------------------------------------------------------------
# the release on disk


@dataclass(frozen=True)
class Release:
    """A project's released data: ``data_dir/<table>/*.parquet`` plus ``manifest.json``.

    ``permitted`` maps each permitted table to its permitted columns (``pid`` included);
    ``permit_source`` says where that came from (``registry``, ``manifest`` or ``none`` for a bare
    directory opened with :func:`read_parquet_table`).
    """

    project: str | None
    data_dir: Path
    permitted: Mapping[str, frozenset[str]] | None
    permit_source: str
    manifest: Mapping[str, Any] = field(default_factory=dict, repr=False)
    settings: Settings | None = field(default=None, repr=False)

    def tables(self) -> list[str]:
        """Tables present in the release (directories holding Parquet files)."""
        if not self.data_dir.is_dir():
            return []
        return sorted(p.name for p in self.data_dir.iterdir() if p.is_dir() and _parquet_files(p))

    def files(self, table: str) -> list[Path]:
        return _parquet_files(self.data_dir / table)


def _parquet_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.rglob("*") if p.suffix in (".parquet", ".parq", ".pq") and p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(directory).parts)
    )  # fmt: skip


def _project_id(project: str | None) -> str:
    project = project or os.environ.get("HDC_PROJECT")
    if not project:
        raise NotFoundError(
            "which project? pass project='<id>' or run inside a project's notebook server (HDC_PROJECT)"
        )
    from hdc_toolkit.projects.workspace import check_project_id

    return check_project_id(project)


def _data_dir(project: str, settings: Settings, explicit_settings: bool) -> Path:
    env_dir = os.environ.get("HDC_DATA_DIR")
    if env_dir and os.environ.get("HDC_PROJECT") == project and not explicit_settings:
        return Path(env_dir)
    from hdc_toolkit.projects.workspace import Workspace

    return Workspace(settings, project).data


def _read_manifest(data_dir: Path) -> dict[str, Any]:
    path = data_dir / MANIFEST
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"the release manifest cannot be read: {exc}", location=str(path)) from None
    return loaded if isinstance(loaded, dict) else {}


def _registry_readable(settings: Settings) -> bool:
    """True when the registry database exists (never create one from a researcher's server)."""
    url = settings.database_url
    if not url.startswith("sqlite"):
        return True
    path = url.split("///", 1)[-1]
    return bool(path) and path != ":memory:" and os.access(path, os.R_OK)


def _manifest_permit(manifest: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """The columns provisioning released under the permit, as recorded in the manifest.

    ``manifest["tables"][<table>]["columns"]`` (``hdc-release-manifest/1``: column → source,
    granularity, role), or an explicit ``permitted_columns`` mapping when a manifest carries one.
    """
    explicit = manifest.get("permitted_columns")
    if isinstance(explicit, Mapping):
        return {str(t): [str(c) for c in cols] for t, cols in explicit.items()}
    tables = manifest.get("tables")
    if isinstance(tables, Mapping) and tables:
        out = {}
        for table, entry in tables.items():
            cols = entry.get("columns") if isinstance(entry, Mapping) else None
            if not isinstance(cols, (Mapping, list)):
                return None
            out[str(table)] = [str(c) for c in cols]
        return out
    return None


def _permitted(
    project: str, settings: Settings, manifest: Mapping[str, Any]
) -> tuple[dict[str, frozenset[str]] | None, str]:
    problem = ""
    if _registry_readable(settings):
        try:
            from hdc_toolkit.projects.registry import open_registry

            columns = open_registry(settings).permitted_columns(project)
            return {t: frozenset({PSEUDONYM, *cols}) for t, cols in columns.items()}, "registry"
        except NotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - a registry we cannot read: fall back to the manifest
            problem = f" (registry: {type(exc).__name__}: {exc})"
    from_manifest = _manifest_permit(manifest)
    if from_manifest is not None:
        return {t: frozenset({PSEUDONYM, *cols}) for t, cols in from_manifest.items()}, "manifest"
    raise PermissionDenied(
        f"the permit of project {project!r} cannot be checked: the registry is not readable from here and "
        f"the release manifest records no permitted columns{problem}; nothing is read without a permit"
    )


def open_release(project: str | None = None, *, settings: Settings | None = None) -> Release:
    """The current release of ``project`` (default ``HDC_PROJECT``) with its permit."""
    project = _project_id(project)
    explicit = settings is not None
    settings = settings or Settings.from_env()
    data_dir = _data_dir(project, settings, explicit)
    if not data_dir.is_dir():
        raise NotFoundError(
            f"project {project!r} has no release at {data_dir}: it has not been provisioned yet "
            "(hdc project provision), or it was closed"
        )
    manifest = _read_manifest(data_dir)
    permitted, source = _permitted(project, settings, manifest)
    return Release(project, data_dir, permitted, source, manifest, settings)


def describe_tables(project: str | None = None, *, settings: Settings | None = None) -> dict[str, list[str]]:
    """``{table: [readable columns]}`` of the project's release: what :func:`open_table` will serve."""
    release = open_release(project, settings=settings)
    out = {}
    for table in release.tables():
        allowed = (release.permitted or {}).get(table)
        if allowed is None:
            continue
        schema = pq.read_schema(release.files(table)[0])
        out[table] = [n for n in schema.names if n in allowed]
    return out


# ---------------------------------------------------------------------------------------------------
# auditing


def _actor() -> str:
    user = os.environ.get("JUPYTERHUB_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return f"uid-{os.getuid()}"


def _audit(release: Release, action: str, details: dict[str, Any]) -> None:
    """Best effort: the audit log when this process may write it, else the logger.

    A refusal that cannot reach the audit log is logged as a warning (with the whole entry), a read
    at info level.
    """
    entry = {"action": action, "project": release.project, "actor": _actor(), **details}
    level = logging.WARNING if action.endswith("refused") else logging.INFO
    if release.settings is not None and release.permit_source == "registry":
        try:
            from hdc_toolkit.audit import AuditLog

            AuditLog(release.settings).append(
                action, actor=entry["actor"], project=release.project, details=details
            )
            return
        except Exception as exc:  # noqa: BLE001 - read-only registry or log on a researcher's server
            log.log(level, "audit log not writable from here (%s: %s)", type(exc).__name__, exc)
    log.log(level, "audit %s", json.dumps(entry, default=str, sort_keys=True))


# ---------------------------------------------------------------------------------------------------
# filters


def _normalise_filters(filters: Any) -> list[list[Filter]]:
    """DNF as a list of AND-groups; accepts one tuple, a list of tuples, or a list of lists."""
    if filters is None:
        return []
    if isinstance(filters, tuple) and len(filters) == 3 and isinstance(filters[0], str):
        filters = [filters]
    if not isinstance(filters, (list, tuple)) or not filters:
        raise DataError(
            "filters must be a list of (column, op, value) tuples (AND), or a list of such lists (OR), "
            f"got {filters!r}"
        )
    groups = filters if all(isinstance(f, (list, tuple)) and f and not isinstance(f[0], str) for f in filters) else [filters]  # fmt: skip
    out = []
    for group in groups:
        terms = []
        for term in group:
            if not isinstance(term, (list, tuple)) or len(term) != 3 or not isinstance(term[0], str):
                raise DataError(f"each filter is (column, op, value), got {term!r}")
            column, op, value = term
            op = str(op).lower().strip()
            if op not in FILTER_OPS:
                raise DataError(f"filter op {term[1]!r} is not one of {', '.join(FILTER_OPS)}")
            terms.append((column, op, value))
        out.append(terms)
    return out


def _coerce(value: Any, typ: pa.DataType, term: Filter) -> pa.Scalar:
    base = typ.value_type if pa.types.is_dictionary(typ) else typ
    try:
        if pa.types.is_date(base) or pa.types.is_timestamp(base):
            ts = pd.Timestamp(value)
            if pd.isna(ts):
                raise ValueError("a missing date cannot be compared")
            if pa.types.is_date(base):
                return pa.scalar(ts.date(), pa.date32())
            if ts.tzinfo is None and base.tz is not None:
                ts = ts.tz_localize(base.tz)
            elif ts.tzinfo is not None and base.tz is None:
                ts = ts.tz_convert("UTC").tz_localize(None)
            nanos = pa.scalar(ts.as_unit("ns").value, pa.timestamp("ns", base.tz))
            return nanos.cast(base, safe=False)
        if pa.types.is_string(base) or pa.types.is_large_string(base):
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a string")
            return pa.scalar(value, base)
        if isinstance(value, (str, bytes)) and (pa.types.is_integer(base) or pa.types.is_floating(base)):
            raise ValueError(f"{value!r} is not a number")
        return pa.scalar(value)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise DataError(
            f"filter {term!r}: the value does not fit column {term[0]!r} of type {base} ({exc})"
        ) from None


def _compile_term(term: Filter, typ: pa.DataType) -> tuple[str, str, Any]:
    column, op, value = term
    if op in ("in", "not in"):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise DataError(f"filter {term!r}: 'in' needs a list of values")
        values = list(value.tolist() if hasattr(value, "tolist") else value)
        base = typ.value_type if pa.types.is_dictionary(typ) else typ
        scalars = [_coerce(v, typ, term) for v in values]
        try:
            array = pa.array([s.as_py() for s in scalars], type=base)
        except pa.ArrowException as exc:
            raise DataError(f"filter {term!r}: {exc}") from None
        return column, op, array
    if op == "startswith":
        base = typ.value_type if pa.types.is_dictionary(typ) else typ
        if not (pa.types.is_string(base) or pa.types.is_large_string(base)):
            raise DataError(f"filter {term!r}: 'startswith' needs a string column; {column!r} is {base}")
        prefixes = [value] if isinstance(value, str) else list(value)
        if not prefixes or not all(isinstance(p, str) and p for p in prefixes):
            raise DataError(f"filter {term!r}: 'startswith' needs one prefix or a list of non-empty prefixes")
        return column, op, tuple(prefixes)
    return column, op, _coerce(value, typ, term)


def _eval_plain(array: pa.Array, op: str, value: Any) -> pa.Array:
    if op == "in":
        return pc.is_in(array, value_set=value)
    if op == "not in":
        return pc.invert(pc.is_in(array, value_set=value))
    if op == "startswith":
        mask = pc.starts_with(array, value[0])
        for prefix in value[1:]:
            mask = pc.or_(mask, pc.starts_with(array, prefix))
        return mask
    return getattr(pc, _COMPARE[op])(array, value)


def _eval_term(column: pa.ChunkedArray | pa.Array, op: str, value: Any) -> pa.Array:
    """A boolean mask (nulls false); a dictionary column is judged once per dictionary value."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            on_values = _eval_plain(chunk.dictionary, op, value)
            mask = pc.take(on_values, chunk.indices)
        else:
            mask = _eval_plain(chunk, op, value)
        out.append(pc.fill_null(mask, False))
    if not out:
        return pa.array([], pa.bool_())
    return out[0] if len(out) == 1 else pa.concat_arrays(out)


def _row_mask(table: pa.Table, groups: list[list[tuple[str, str, Any]]]) -> pa.Array:
    result = None
    for group in groups:
        conj = None
        for column, op, value in group:
            m = _eval_term(table.column(column), op, value)
            conj = m if conj is None else pc.and_(conj, m)
        result = conj if result is None else pc.or_(result, conj)
    return result


def _stats_may_match(stats: pq.Statistics | None, op: str, value: Any) -> bool:
    """False only when a row group's min/max prove that no row can match one term."""
    if stats is None or not stats.has_min_max:
        return True
    try:
        lo, hi = stats.min, stats.max
        if op in ("==", "="):
            v = value.as_py()
            return lo <= v <= hi
        if op in ("<", "<="):
            v = value.as_py()
            return lo < v if op == "<" else lo <= v
        if op in (">", ">="):
            v = value.as_py()
            return hi > v if op == ">" else hi >= v
        if op == "in":
            vals = [v for v in value.to_pylist() if v is not None]
            return any(lo <= v <= hi for v in vals)
        if op == "startswith":
            return any((hi >= p) and (lo[: len(p)] <= p if isinstance(lo, str) else True) for p in value)
    except TypeError:  # statistics of a type we cannot compare with the value
        return True
    return True


# ---------------------------------------------------------------------------------------------------
# the partition reader


@dataclass(frozen=True)
class _Reader:
    """Reads one partition: ``((path, (row group, ...)), ...)`` → pandas.

    Dask passes ``columns=`` when a later selection needs fewer columns (projection pushdown).
    """

    output: tuple[str, ...]
    groups: tuple[tuple[tuple[str, str, Any], ...], ...]
    dictionary: tuple[str, ...]
    categories: tuple[str, ...]
    schema: pa.Schema

    def project_columns(self, columns: Sequence[str] | None) -> _Reader:
        """The same reader returning only ``columns`` (Dask's column projection)."""
        if columns is None:
            return self
        wanted = set(columns)
        chosen = tuple(c for c in self.output if c in wanted)
        return self if chosen == self.output else replace(self, output=chosen)

    @property
    def filter_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for g in self.groups for c, _, _ in g))

    def empty(self) -> pd.DataFrame:
        fields = [self.schema.field(c) for c in self.output]
        types = [pa.dictionary(pa.int32(), f.type) if f.name in self.categories else f.type for f in fields]
        table = pa.table([pa.array([], t) for t in types], names=list(self.output))
        return self._to_pandas(table)

    def _to_pandas(self, table: pa.Table) -> pd.DataFrame:
        arrays = []
        for name in table.column_names:
            col = table.column(name)
            if pa.types.is_dictionary(col.type) and name not in self.categories:
                col = col.cast(col.type.value_type)
            elif name in self.categories and not pa.types.is_dictionary(col.type):
                col = col.dictionary_encode()
            arrays.append(col)
        table = pa.table(arrays, names=table.column_names).unify_dictionaries()
        mapper = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}.get
        return table.to_pandas(
            date_as_object=False, types_mapper=mapper, split_blocks=True, self_destruct=True
        )

    def __call__(
        self, part: tuple[tuple[str, tuple[int, ...]], ...], columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        if columns is not None:
            return self.project_columns(columns)(part)
        pieces = [t for path, groups in part for t in self._read_file(path, groups)]
        if not self.output:  # Dask asked for no column (len): the number of matching rows only
            return pd.DataFrame(index=pd.RangeIndex(sum(t.num_rows for t in pieces)))
        if not pieces:
            return self.empty()
        table = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)
        return self._to_pandas(table)

    def _read_file(self, path: str, row_groups: tuple[int, ...]) -> list[pa.Table]:
        try:
            names = set(pq.read_schema(path).names)
            dictionary = [c for c in self.dictionary if c in names]
            pf = pq.ParquetFile(path, read_dictionary=dictionary or None)
            filter_cols = list(self.filter_columns)
            if not filter_cols:
                columns = list(self.output) or [pf.schema_arrow.names[0]]
                return [pf.read_row_groups(list(row_groups), columns=columns, use_threads=False)]
            out = []
            rest = [c for c in self.output if c not in filter_cols]
            for rg in row_groups:
                ft = pf.read_row_group(rg, columns=filter_cols, use_threads=False)
                mask = _row_mask(ft, [list(g) for g in self.groups])
                hits = pc.sum(mask).as_py() or 0
                if hits == 0:
                    continue
                rt = pf.read_row_group(rg, columns=rest, use_threads=False) if rest else None
                cols = {c: ft.column(c) for c in filter_cols}
                if rt is not None:
                    cols.update({c: rt.column(c) for c in rest})
                names = list(self.output) or filter_cols[:1]
                table = pa.table([cols[c] for c in names], names=names)
                out.append(table if hits == ft.num_rows else table.filter(mask))
            return out
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read {Path(path).name}: {exc}", location=str(path)) from None


# ---------------------------------------------------------------------------------------------------
# planning


def _parse_size(size: int | str | None) -> int:
    if size is None:
        return DEFAULT_PARTITION_SIZE
    if isinstance(size, int):
        return max(size, 1)
    from dask.utils import parse_bytes

    return max(int(parse_bytes(size)), 1)


def _cluster_shape() -> tuple[int, int | None]:
    """(threads, smallest memory limit per thread) of the default Dask client; else this machine's CPUs."""
    try:
        from distributed import default_client

        workers = default_client().scheduler_info(n_workers=-1)["workers"].values()
        threads = sum(w["nthreads"] for w in workers)
        per_thread = [w["memory_limit"] // max(w["nthreads"], 1) for w in workers if w.get("memory_limit")]
        return max(1, threads), (min(per_thread) if per_thread else None)
    except (ImportError, ValueError):
        from dask.system import CPU_COUNT

        return max(1, CPU_COUNT), None


def _plan(
    files: list[Path], read: list[str], groups: list[list[tuple[str, str, Any]]], target: int
) -> tuple[list[tuple[tuple[str, tuple[int, ...]], ...]], int, int]:
    """Pack row groups into partitions; returns the partitions, row groups kept and pruned.

    A partition holds about ``target`` bytes of the columns read, but the table is cut into at least
    two partitions per thread (when it has that many row groups) so that every core has work, and a
    partition is at most 1/16 of a worker thread's memory limit (a task holds a few copies of its
    partition while it reads, converts and filters it).
    """
    groups_kept: list[tuple[str, int, int]] = []
    pruned = 0
    for path in files:
        meta = pq.ParquetFile(path).metadata
        index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        for rg in range(meta.num_row_groups):
            rgm = meta.row_group(rg)
            if rgm.num_rows == 0:
                continue
            if groups and not _row_group_may_match(rgm, index, groups):
                pruned += 1
                continue
            size = sum(rgm.column(index[c]).total_uncompressed_size for c in read if c in index)
            groups_kept.append((str(path), rg, size))
    total = sum(size for _, _, size in groups_kept)
    threads, per_thread = _cluster_shape()
    target = min(target, total // (2 * threads) + 1, *([per_thread // 16] if per_thread else []))
    target = max(target, 1)
    parts: list[tuple[tuple[str, tuple[int, ...]], ...]] = []
    current: dict[str, list[int]] = {}
    acc = 0
    for path, rg, size in groups_kept:
        current.setdefault(path, []).append(rg)
        acc += size
        if acc >= target:
            parts.append(tuple((p, tuple(r)) for p, r in current.items()))
            current, acc = {}, 0
    if current:
        parts.append(tuple((p, tuple(r)) for p, r in current.items()))
    return parts, len(groups_kept), pruned


def _row_group_may_match(rgm: Any, index: dict[str, int], groups: list[list[tuple[str, str, Any]]]) -> bool:
    for group in groups:  # OR of ANDs: one AND-group that may match is enough
        if all(
            _stats_may_match(rgm.column(index[c]).statistics if c in index else None, op, v)
            for c, op, v in group
        ):
            return True
    return False


# ---------------------------------------------------------------------------------------------------
# checking a request against the permit and the schema


def _known_source_columns(table: str) -> set[str]:
    """Column names of the source contract of ``table`` (to tell 'not permitted' from a typo)."""
    try:
        import yaml

        from hdc_toolkit.projects.application_rules import DEFAULT_CONTRACTS_DIR

        path = Path(DEFAULT_CONTRACTS_DIR) / f"{table}.odcs.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {str(p["name"]) for s in doc.get("schema", []) for p in s.get("properties", []) if "name" in p}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError):  # no usable contract
        return set()


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _check_request(
    release: Release, table: str, schema: pa.Schema, wanted: list[str], filter_cols: list[str]
) -> None:
    allowed = (release.permitted or {}).get(table) if release.permitted is not None else None
    present = set(schema.names)
    refused, unknown = [], []
    for column in dict.fromkeys([*wanted, *filter_cols]):
        if allowed is not None and column not in allowed:
            (refused if column in present or column in _known_source_columns(table) else unknown).append(
                column
            )
        elif column not in present:
            unknown.append(column)
    readable = sorted(present & allowed) if allowed is not None else sorted(present)
    if refused:
        _audit(release, "analysis.refused", {
            "table": table, "columns": refused, "reason": "not in the permit",
            "permit_source": release.permit_source,
        })  # fmt: skip
        raise PermissionDenied(
            f"project {release.project!r} is not permitted to read column(s) "
            f"{', '.join(repr(c) for c in refused)} of table {table!r}; its permit grants: "
            f"{', '.join(readable)}. Ask the data centre for a permit amendment if the study needs them. "
            "(This refusal is recorded in the audit log.)"
        )
    if unknown:
        hints = "; ".join(f"{c!r}{_suggest(c, readable)}" for c in unknown)
        where = (
            "in the permit but not in this release"
            if allowed and all(c in allowed for c in unknown)
            else "unknown"
        )
        raise NotFoundError(
            f"table {table!r} has no column {hints} ({where}); readable columns: {', '.join(readable)}"
        )


# ---------------------------------------------------------------------------------------------------
# the public functions


def open_table(
    name: str,
    columns: Sequence[str] | str | None = None,
    filters: Any = None,
    *,
    project: str | None = None,
    settings: Settings | None = None,
    categories: bool | Sequence[str] = False,
    partition_size: int | str | None = None,
    audit: bool = True,
) -> Any:
    """A Dask DataFrame over table ``name`` of the project's release (see the module docstring).

    ``columns``: the columns to return (default: every permitted column of the table).
    ``filters``: row filters applied while reading, e.g. ``[("admission_time", ">=", "2016-01-01")]``.
    ``categories``: columns to return as pandas categoricals (``True``: every string column stored
    dictionary-encoded, such as codes and sex); other strings are ``string[pyarrow]``.
    Raises :class:`NotFoundError` for an unknown project, table or column, :class:`PermissionDenied`
    for a column outside the permit, :class:`DataError` for a malformed filter.
    """
    release = open_release(project, settings=settings)
    if not isinstance(name, str) or not name:
        raise NotFoundError(f"a table name is a string such as 'diagnoses', got {name!r}")
    if release.permitted is not None and name not in release.permitted:
        present = release.tables()
        if name in present or name in _all_source_tables():
            _audit(release, "analysis.refused", {"table": name, "reason": "table not in the permit",
                                                 "permit_source": release.permit_source})  # fmt: skip
            raise PermissionDenied(
                f"project {release.project!r} is not permitted to read table {name!r}; its permit covers: "
                f"{', '.join(sorted(release.permitted))}. (This refusal is recorded in the audit log.)"
            )
        raise NotFoundError(f"no table {name!r} in the release{_suggest(name, release.tables())}; "
                            f"tables: {', '.join(release.tables())}")  # fmt: skip
    return _open(release, name, columns, filters, categories, partition_size, audit)


def read_parquet_table(
    path: str | os.PathLike[str],
    columns: Sequence[str] | str | None = None,
    filters: Any = None,
    *,
    categories: bool | Sequence[str] = False,
    partition_size: int | str | None = None,
) -> Any:
    """The same fast reader over a bare directory of Parquet files, *without* a permit.

    For data centre staff and benchmarks on source extracts; notebooks on project data use
    :func:`open_table`, which enforces the permit.
    """
    path = Path(path)
    release = Release(None, path.parent, None, "none")
    if not _parquet_files(path):
        raise NotFoundError(f"no Parquet files under {path}")
    return _open(release, path.name, columns, filters, categories, partition_size, audit=False)


def _all_source_tables() -> set[str]:
    from hdc_toolkit.projects.vocabularies import DATASETS

    return set(DATASETS)


def _open(
    release: Release,
    table: str,
    columns: Sequence[str] | str | None,
    filters: Any,
    categories: bool | Sequence[str],
    partition_size: int | str | None,
    audit: bool,
) -> Any:
    files = release.files(table)
    if not files:
        raise NotFoundError(f"table {table!r} has no Parquet files in the release at {release.data_dir}")
    try:
        schema = pq.read_schema(files[0])
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read the schema of {table!r}: {exc}", location=str(files[0])) from None
    allowed = (release.permitted or {}).get(table) if release.permitted is not None else None
    if columns is None:
        wanted = [n for n in schema.names if allowed is None or n in allowed]
    else:
        if isinstance(columns, str):
            columns = [columns]
        wanted = list(dict.fromkeys(columns))
        bad = [c for c in wanted if not isinstance(c, str)]
        if bad:
            raise NotFoundError(f"column names are strings, got {bad!r}")
    groups = _normalise_filters(filters)
    filter_cols = list(dict.fromkeys(c for g in groups for c, _, _ in g))
    _check_request(release, table, schema, wanted, filter_cols)
    compiled = [[_compile_term(t, schema.field(t[0]).type) for t in g] for g in groups]
    _dry_run(schema, compiled, groups)
    dictionary = tuple(_dictionary_columns(files[0], schema, [*wanted, *filter_cols]))
    if categories is True:
        cats = dictionary
    elif categories:
        cats = tuple([categories] if isinstance(categories, str) else categories)
        missing = [c for c in cats if c not in wanted]
        if missing:
            raise NotFoundError(f"categories names column(s) {missing} that are not selected")
    else:
        cats = ()
    reader = _Reader(tuple(wanted), tuple(tuple(g) for g in compiled), dictionary, tuple(cats), schema)
    parts, kept, pruned = _plan(
        files, list(dict.fromkeys([*wanted, *filter_cols])), compiled, _parse_size(partition_size)
    )
    if audit:
        _audit(release, "analysis.read", {
            "table": table, "columns": wanted, "filter_columns": filter_cols,
            "permit_source": release.permit_source,
        })  # fmt: skip
    import dask.dataframe as dd
    from dask.dataframe.utils import clear_known_categories

    meta = reader.empty()
    if cats:
        meta = clear_known_categories(meta, cols=list(cats))
    if not parts:
        parts = [()]
    log.debug(
        "%s: %d partitions, %d row groups read, %d pruned by statistics", table, len(parts), kept, pruned
    )
    return dd.from_map(reader, parts, meta=meta, label=f"hdc-{table}", enforce_metadata=False)


def _dry_run(schema: pa.Schema, compiled: list[list[tuple[str, str, Any]]], raw: list[list[Filter]]) -> None:
    """Evaluate the filters on an empty table now, so a type mismatch is a message, not a worker error."""
    if not compiled:
        return
    names = list(dict.fromkeys(c for g in compiled for c, _, _ in g))
    empty = pa.table([pa.array([], schema.field(n).type) for n in names], names=names)
    for group, raw_group in zip(compiled, raw, strict=True):
        for term, raw_term in zip(group, raw_group, strict=True):
            try:
                _eval_term(empty.column(term[0]), term[1], term[2])
            except pa.ArrowException as exc:
                raise DataError(f"filter {raw_term!r} cannot be applied to column {term[0]!r} "
                                f"({schema.field(term[0]).type}): {exc}") from None  # fmt: skip


def _dictionary_columns(path: Path, schema: pa.Schema, columns: list[str]) -> list[str]:
    """String columns stored dictionary-encoded (read as dictionaries: codes, not strings)."""
    meta = pq.ParquetFile(path).metadata
    if meta.num_row_groups == 0:
        return []
    rg = meta.row_group(0)
    out = []
    for i in range(rg.num_columns):
        col = rg.column(i)
        name = col.path_in_schema
        if name not in columns or name not in schema.names:
            continue
        typ = schema.field(name).type
        if not (pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ)):
            continue
        if col.dictionary_page_offset is not None and "PLAIN" not in _data_encodings(col):
            out.append(name)
    return out


def _data_encodings(col: Any) -> set[str]:
    """Encodings of data pages (a dictionary page counts as PLAIN in older writers: ignore it)."""
    enc = set(col.encodings)
    # Writers list PLAIN for the dictionary page itself; a fallback to plain data pages shows up in
    # encoding stats, which pyarrow does not expose, so trust the dictionary when RLE_DICTIONARY is there.
    if "RLE_DICTIONARY" in enc or "PLAIN_DICTIONARY" in enc:
        enc.discard("PLAIN")
    return enc
