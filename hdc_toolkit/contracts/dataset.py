"""Open a Parquet file or dataset directory for validation: files, row groups, schema, statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hdc_toolkit.exceptions import DataError

__all__ = ["ParquetDataset", "open_dataset", "type_matches"]


@dataclass(frozen=True)
class ParquetDataset:
    """The files of a dataset with their parsed footers, read once."""

    root: Path
    files: tuple[Path, ...]
    metadata: tuple[pq.FileMetaData, ...]
    schema: pa.Schema

    @property
    def num_rows(self) -> int:
        return sum(m.num_rows for m in self.metadata)

    def units(self) -> list[tuple[int, int]]:
        """(file index, row group index) for every non-empty row group."""
        return [(f, g) for f, m in enumerate(self.metadata) for g in range(m.num_row_groups) if m.row_group(g).num_rows]

    def column_stats(self, file: int, group: int, column: str) -> Any:
        """Parquet statistics of one column chunk, or None when absent."""
        rg = self.metadata[file].row_group(group)
        idx = self.schema.get_field_index(column)
        if idx < 0:
            return None
        chunk = rg.column(idx)
        return chunk.statistics if chunk.is_stats_set else None


def open_dataset(path: str | Path) -> ParquetDataset:
    """Find the Parquet files under ``path`` (a file or a directory, searched recursively).

    Raises :class:`DataError` naming the path when nothing readable is there or when the files'
    schemas differ (a dataset whose parts disagree cannot be validated as one table).
    """
    root = Path(path)
    if not root.exists():
        raise DataError("no such file or directory", location=str(root))
    if root.is_file():
        files = [root]
    else:
        files = sorted(p for p in root.rglob("*.parquet") if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))
        if not files:
            raise DataError("no Parquet files (*.parquet) in this directory", location=str(root))
    metas = []
    schema: pa.Schema | None = None
    for f in files:
        if f.stat().st_size == 0:
            raise DataError("empty file (0 bytes): not a Parquet file", location=str(f))
        try:
            pf_meta = pq.read_metadata(f)
            file_schema = pf_meta.schema.to_arrow_schema()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file: {str(exc).splitlines()[0]}", location=str(f)) from None
        file_schema = pa.schema([fld.remove_metadata() for fld in file_schema]) if file_schema.metadata else file_schema
        if schema is None:
            schema = file_schema
        elif not _same_schema(schema, file_schema):
            raise DataError(
                f"schema differs from {files[0].name}: expected {_schema_text(schema)}; got {_schema_text(file_schema)}",
                location=str(f),
            )
        metas.append(pf_meta)
    assert schema is not None
    return ParquetDataset(root, tuple(files), tuple(metas), pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema]))


def _same_schema(a: pa.Schema, b: pa.Schema) -> bool:
    return [(f.name, f.type) for f in a] == [(f.name, f.type) for f in b]


def _schema_text(s: pa.Schema) -> str:
    return ", ".join(f"{f.name}: {f.type}" for f in s)


def type_matches(logical_type: str, t: pa.DataType) -> bool:
    """Whether an arrow type belongs to the family of an ODCS logicalType."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    match logical_type:
        case "string":
            return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
        case "integer":
            return pa.types.is_integer(t)
        case "number":
            return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        case "date":
            return pa.types.is_date(t)
        case "timestamp":
            return pa.types.is_timestamp(t)
        case "time":
            return pa.types.is_time(t)
        case "boolean":
            return pa.types.is_boolean(t)
        case "object":
            return pa.types.is_struct(t) or pa.types.is_map(t)
        case "array":
            return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    return False
