"""A minimal column store for one chunk of one table, and its conversion to a pyarrow table.

Generators fill :class:`Frame` objects with numpy arrays; defect injection edits them (nulls, new
values, appended copies of rows); :meth:`Frame.to_arrow` builds the Arrow columns without any Python
loop per row. String columns are stored either as indices into a small vocabulary (codes) or as a
fixed-width ASCII byte matrix (national ids).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = ["SCHEMAS", "Column", "Frame"]

#: The Arrow schema of each table, column for column as the data contracts declare them.
SCHEMAS: dict[str, pa.Schema] = {
    "patients": pa.schema(
        [
            ("national_id", pa.string()),
            ("birth_date", pa.date32()),
            ("sex", pa.string()),
            ("municipality", pa.string()),
            ("death_date", pa.date32()),
        ]
    ),
    "episodes": pa.schema(
        [
            ("episode_id", pa.int64()),
            ("national_id", pa.string()),
            ("admission_time", pa.timestamp("ms")),
            ("discharge_time", pa.timestamp("ms")),
            ("department", pa.string()),
            ("care_type", pa.string()),
            ("urgency", pa.string()),
        ]
    ),
    "diagnoses": pa.schema(
        [
            ("diagnosis_id", pa.int64()),
            ("episode_id", pa.int64()),
            ("national_id", pa.string()),
            ("icd10_code", pa.string()),
            ("diagnosis_type", pa.string()),
            ("diagnosis_date", pa.date32()),
        ]
    ),
    "prescriptions": pa.schema(
        [
            ("prescription_id", pa.int64()),
            ("national_id", pa.string()),
            ("atc_code", pa.string()),
            ("dispense_date", pa.date32()),
            ("ddd", pa.float64()),
        ]
    ),
    "lab_results": pa.schema(
        [
            ("lab_result_id", pa.int64()),
            ("national_id", pa.string()),
            ("episode_id", pa.int64()),
            ("analysis_code", pa.string()),
            ("value", pa.float64()),
            ("unit", pa.string()),
            ("sample_time", pa.timestamp("ms")),
        ]
    ),
}


@dataclass
class Column:
    """One column: ``values`` (numpy), ``nulls`` (bool mask or ``None``), ``vocab`` for coded strings.

    * numbers, dates (days since 1970) and timestamps (ms since 1970): a 1-d array;
    * coded strings: int32 indices into ``vocab`` (a tuple of strings);
    * fixed-width strings: an (n, width) uint8 array of ASCII bytes.
    """

    values: np.ndarray
    nulls: np.ndarray | None = None
    vocab: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def take(self, rows: np.ndarray) -> Column:
        nulls = None if self.nulls is None else self.nulls[rows]
        return Column(self.values[rows], nulls, self.vocab)

    def set_null(self, rows: np.ndarray) -> None:
        if self.nulls is None:
            self.nulls = np.zeros(len(self.values), dtype=bool)
        self.nulls[rows] = True

    def code_of(self, text: str) -> int:
        """The vocabulary index of ``text``, adding it to the vocabulary when it is new."""
        assert self.vocab is not None
        if text not in self.vocab:
            self.vocab = (*self.vocab, text)
        return self.vocab.index(text)

    def to_arrow(self, type_: pa.DataType) -> pa.Array:
        mask = self.nulls if self.nulls is not None and self.nulls.any() else None
        if self.vocab is not None:
            indices = pa.array(self.values.astype(np.int32, copy=False), mask=mask)
            return pa.array(self.vocab, pa.string()).take(indices)
        if self.values.ndim == 2:
            n, width = self.values.shape
            data = pa.py_buffer(np.ascontiguousarray(self.values))
            offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
            validity = None
            null_count = 0
            if mask is not None:
                validity = pa.array(~mask).buffers()[1]
                null_count = int(mask.sum())
            return pa.Array.from_buffers(pa.string(), n, [validity, offsets, data], null_count=null_count)
        if pa.types.is_date32(type_):
            return pa.array(self.values.astype(np.int32, copy=False), type=type_, mask=mask)
        return pa.array(self.values, type=type_, mask=mask)


class Frame:
    """The columns of one table chunk, in schema order."""

    def __init__(self, table: str, columns: dict[str, Column]) -> None:
        schema = SCHEMAS[table]
        missing = set(schema.names) ^ set(columns)
        if missing:
            raise ValueError(f"{table}: columns do not match the schema: {sorted(missing)}")
        lengths = {len(c) for c in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"{table}: columns differ in length: {lengths}")
        self.table = table
        self.columns = {name: columns[name] for name in schema.names}

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __getitem__(self, name: str) -> Column:
        return self.columns[name]

    def append_rows(self, rows: np.ndarray) -> None:
        """Append copies of the given rows at the end."""
        for name, col in self.columns.items():
            extra = col.take(rows)
            nulls = None
            if col.nulls is not None or extra.nulls is not None:
                old = col.nulls if col.nulls is not None else np.zeros(len(col), dtype=bool)
                new = extra.nulls if extra.nulls is not None else np.zeros(len(rows), dtype=bool)
                nulls = np.concatenate([old, new])
            self.columns[name] = Column(np.concatenate([col.values, extra.values]), nulls, col.vocab)

    def to_arrow(self) -> pa.Table:
        schema = SCHEMAS[self.table]
        arrays = [self.columns[f.name].to_arrow(f.type) for f in schema]
        return pa.Table.from_arrays(arrays, schema=schema)
