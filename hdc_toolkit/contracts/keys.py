"""Global key checks: uniqueness and referential integrity over whole (multi-file) datasets.

Keys are collected from every row group as compact numpy arrays (int64, or fixed-width bytes for
strings) so that a sort finds duplicates and a binary search finds orphans, without Python objects
per row. Memory grows with the key column only, never with the width of the table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeyColumn", "count_duplicates", "count_orphans", "to_keys"]


def to_keys(arr: pa.Array | pa.ChunkedArray) -> np.ndarray | pa.Array:
    """Non-null values of ``arr`` as a sortable numpy array (or an arrow array for odd types)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.null_count:
        arr = pc.drop_null(arr)
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return arr.to_numpy(zero_copy_only=False)
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return arr.cast(pa.int64() if not pa.types.is_date32(t) else pa.int32()).to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        return _fixed_width(arr)
    return arr


def _fixed_width(arr: pa.Array) -> np.ndarray | pa.Array:
    """Strings of one length as a zero-copy ``S{n}`` view; mixed lengths fall back to arrow."""
    if len(arr) == 0:
        return np.empty(0, dtype="S1")
    lengths = pc.binary_length(arr)
    lo, hi = pc.min_max(lengths).values()
    if lo.as_py() != hi.as_py() or lo.as_py() == 0:
        return arr.cast(pa.large_string()) if pa.types.is_string(arr.type) else arr
    width = lo.as_py()
    offsets_buf, data_buf = arr.buffers()[1], arr.buffers()[2]
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=offset_type, count=len(arr) + 1, offset=arr.offset * np.dtype(offset_type).itemsize)
    start = int(offsets[0])
    data = np.frombuffer(data_buf, dtype=np.uint8, count=len(arr) * width, offset=start)
    return data.view(f"S{width}")


class KeyColumn:
    """Accumulates key arrays from many row groups and concatenates them once."""

    def __init__(self) -> None:
        self.parts: list[Any] = []

    def add(self, keys: Any) -> None:
        self.parts.append(keys)

    def combined(self) -> Any:
        if all(isinstance(p, np.ndarray) for p in self.parts):
            kinds = {p.dtype.kind for p in self.parts}
            if len(kinds) <= 1:
                if not self.parts:
                    return np.empty(0, dtype=np.int64)
                if kinds == {"S"}:
                    width = max(p.dtype.itemsize for p in self.parts)
                    if len({p.dtype.itemsize for p in self.parts}) > 1:
                        return pa.chunked_array([pa.array(p.astype(object)) for p in self.parts]).combine_chunks()
                    return np.concatenate(self.parts).astype(f"S{width}", copy=False)
                return np.concatenate(self.parts)
        arrays = [pa.array(p) if isinstance(p, np.ndarray) else p for p in self.parts]
        arrays = [a.cast(pa.large_string()) if pa.types.is_binary(a.type) or pa.types.is_string(a.type) else a for a in arrays]
        return pa.chunked_array(arrays).combine_chunks()


def count_duplicates(keys: Any, sample: int = 0) -> tuple[int, list[Any]]:
    """Rows whose value occurs more than once (every occurrence counts), and a few such values."""
    if isinstance(keys, np.ndarray):
        if len(keys) < 2:
            return 0, []
        s = np.sort(keys, kind="stable" if keys.dtype.kind == "S" else None)
        eq = s[1:] == s[:-1]
        if not eq.any():
            return 0, []
        in_group = np.zeros(len(s), dtype=bool)
        in_group[1:] |= eq
        in_group[:-1] |= eq
        examples = list(dict.fromkeys(s[1:][eq][: sample * 4].tolist()))[:sample] if sample else []
        return int(in_group.sum()), examples
    import pandas as pd

    series = pd.Series(keys.to_pandas() if hasattr(keys, "to_pandas") else keys)
    dup = series.duplicated(keep=False)
    examples = list(dict.fromkeys(series[dup].head(sample * 4).tolist()))[:sample] if sample else []
    return int(dup.sum()), examples


def prepare_parent(keys: Any) -> Any:
    """Sorted unique parent keys for :func:`count_orphans`."""
    if isinstance(keys, np.ndarray):
        return np.unique(keys)
    return pc.unique(keys)


def count_orphans(child: Any, parent: Any, sample: int = 0) -> tuple[int, list[Any]]:
    """Child values that do not occur among the parent keys, and a few of them."""
    if isinstance(child, np.ndarray) and isinstance(parent, np.ndarray) and child.dtype.kind == parent.dtype.kind:
        if child.dtype.kind == "S" and child.dtype.itemsize != parent.dtype.itemsize:
            width = max(child.dtype.itemsize, parent.dtype.itemsize)
            child, parent = child.astype(f"S{width}"), parent.astype(f"S{width}")
        if len(parent) == 0:
            missing = np.ones(len(child), dtype=bool)
        else:
            idx = np.searchsorted(parent, child)
            idx[idx >= len(parent)] = len(parent) - 1
            missing = parent[idx] != child
        examples = list(dict.fromkeys(child[missing][: sample * 4].tolist()))[:sample] if sample else []
        return int(missing.sum()), examples
    c = pa.array(child) if isinstance(child, np.ndarray) else child
    p = pa.array(parent) if isinstance(parent, np.ndarray) else parent
    if pa.types.is_binary(c.type) or pa.types.is_fixed_size_binary(c.type):
        c = c.cast(pa.large_string())
    if pa.types.is_binary(p.type) or pa.types.is_fixed_size_binary(p.type):
        p = p.cast(pa.large_string())
    if c.type != p.type:
        try:
            p = p.cast(c.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return len(c), []
    found = pc.is_in(c, value_set=p)
    missing_arr = pc.filter(c, pc.invert(found))
    examples = list(dict.fromkeys(missing_arr.slice(0, sample * 4).to_pylist()))[:sample] if sample else []
    return len(missing_arr), examples
