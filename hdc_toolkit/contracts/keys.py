"""Global key checks: uniqueness and referential integrity over whole (multi-file) datasets.

Keys are collected from every row group as compact numpy arrays (int64, or fixed-width bytes for
strings) so that a sort finds duplicates and a hash set (integers; see :mod:`.key_index`) or a binary
search (byte strings) finds orphans, without Python objects per row. Memory grows with the key column only, never with the width of the table.
"""

from __future__ import annotations

from typing import Any

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hdc_toolkit.contracts.key_index import IntHashSet

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
    if width <= MAX_DIGITS and _all_in(data, 48, 57):
        # every byte is an ASCII digit, so arrow's integer parser reads exactly the text's number
        return _encoded(pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False), 10, width)
    if width <= MAX_HEX:
        keys = _decode_hex(data, width)
        if keys is not None:
            return keys
    return data.view(f"S{width}")


#: Fixed-width all-digit strings up to this width become int64 (exact, and far faster to sort/search).
MAX_DIGITS = 18
#: Fixed-width lower-case hex strings (e.g. 16-character pseudonyms) up to this width become uint64.
MAX_HEX = 16
class DigitKeys(np.ndarray):
    """Integer keys decoded from fixed-width digit (base 10) or lower-case hex (base 16) strings.

    ``encoding`` = (base, width) restores the exact text; keys of different encodings never meet as
    integers (see :func:`_unify` and :func:`count_orphans`).
    """

    width: int = 0
    base: int = 10

    def __array_finalize__(self, obj: Any) -> None:
        self.width = getattr(obj, "width", 0)
        self.base = getattr(obj, "base", 10)

    @property
    def encoding(self) -> tuple[int, int]:
        return (self.base, self.width)

    def text_of(self, value: int) -> str:
        return format(int(value), f"0{self.width}{'x' if self.base == 16 else 'd'}")

    def as_text(self) -> np.ndarray:
        """Back to fixed-width byte strings, for mixing with keys of another encoding."""
        if self.base == 10:
            return np.char.zfill(np.asarray(self).astype(f"S{self.width}"), self.width)
        return np.array([self.text_of(v) for v in np.asarray(self)], dtype=f"S{self.width}")


def _all_in(data: np.ndarray, lo: int, hi: int) -> bool:
    """True when every byte of ``data`` lies in ``lo..hi`` (two flat reductions, no per-row work)."""
    return not data.size or (int(data.min()) >= lo and int(data.max()) <= hi)


def _decode_hex(data: np.ndarray, width: int) -> DigitKeys | None:
    """Fixed-width lower-case hex strings (``data``: their bytes) as uint64; None when a byte is not hex."""
    digit = (data - np.uint8(48)) <= 9  # bytes below the range wrap around to large values
    letter = (data - np.uint8(97)) <= 5
    if not (digit | letter).all():
        return None
    nibbles = (data & np.uint8(15)) + np.uint8(9) * (data >> np.uint8(6))  # '0'-'9' -> 0-9, 'a'-'f' -> 10-15
    m = nibbles.reshape(-1, width)
    if width < 16:  # left-pad to 16 digits
        m = np.concatenate([np.zeros((len(m), 16 - width), dtype=np.uint8), m], axis=1)
    packed = (m[:, 0::2] << np.uint8(4)) | m[:, 1::2]  # two digits make one byte
    return _encoded(packed.view(">u8").ravel().astype(np.uint64), 16, width)


#: Bytes of key values a :class:`KeyColumn` holds in memory before it spills them to disk in buckets.
KEY_MEMORY_BUDGET = 48 * 2**20
#: Buckets of a spill: equal keys always land in the same bucket, so buckets are checked one at a time.
SPILL_BUCKETS = 64  # at most 256: bucket numbers are uint8
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class KeyColumn:
    """Accumulates key arrays from many row groups.

    Integer keys (ids, decoded digit/hex strings) beyond ``budget`` bytes are spilled to temporary
    files, partitioned by a hash of the key, so that duplicates are counted bucket by bucket and memory
    stays bounded however many rows the dataset has. Other keys are concatenated in memory.
    """

    def __init__(self, budget: int | None = None) -> None:
        self.parts: list[Any] = []
        self.held = 0
        self.budget = KEY_MEMORY_BUDGET if budget is None else budget
        self.spill: _Spill | None = None

    def add(self, keys: Any) -> None:
        if not len(keys):
            return
        if self.spill is not None and not self.spill.accepts(keys):
            self._unspill()  # rare: the encoding changed between row groups; fall back to memory
        self.parts.append(keys)
        self.held += keys.nbytes
        if self.held > self.budget and self._spillable():
            self._flush()

    def _spillable(self) -> bool:
        first = self.parts[0]
        if not (isinstance(first, np.ndarray) and first.dtype.kind in "iu"):
            return False
        target = self.spill or _Spill.signature(first)
        return all(isinstance(p, np.ndarray) and _Spill.signature(p) == (target if isinstance(target, tuple) else target.sig) for p in self.parts)

    def _flush(self) -> None:
        if self.spill is None:
            self.spill = _Spill(self.parts[0])
        for p in self.parts:
            self.spill.write(p)
        self.parts, self.held = [], 0

    def _unspill(self) -> None:
        assert self.spill is not None
        self.parts = [*self.spill.read_all(), *self.parts]
        self.held = sum(p.nbytes for p in self.parts)
        self.spill.close()
        self.spill = None

    def count_duplicates(self, sample: int = 0) -> tuple[int, list[Any]]:
        """Rows whose key occurs more than once, bucket by bucket when spilled."""
        if self.spill is None:
            return count_duplicates(self.combined(), sample)
        if self.parts:
            if self._spillable():
                self._flush()
            else:
                self._unspill()
                return count_duplicates(self.combined(), sample)
        try:
            total, examples = 0, []
            for bucket in self.spill.buckets():
                n, ex = count_duplicates(bucket, max(sample - len(examples), 0))
                total += n
                examples += ex
            return total, examples[:sample]
        finally:
            self.spill.close()
            self.spill = None

    def combined(self) -> Any:
        """One array of all keys: numpy when every part agrees on a numpy type, else arrow strings."""
        if self.spill is not None:
            self._unspill()
        parts = _unify(self.parts)
        if not parts:
            return np.empty(0, dtype=np.int64)
        if all(isinstance(p, np.ndarray) for p in parts) and len({p.dtype for p in parts}) == 1:
            joined = np.concatenate(parts)
            return _encoded(joined, *parts[0].encoding) if isinstance(parts[0], DigitKeys) else joined
        if all(isinstance(p, np.ndarray) and p.dtype.kind == "S" for p in parts):
            width = max(p.dtype.itemsize for p in parts)
            return np.concatenate([p.astype(f"S{width}") for p in parts])
        return pa.chunked_array([_as_large_string(p) for p in parts], pa.large_string()).combine_chunks()


class _Spill:
    """Integer keys written to ``SPILL_BUCKETS`` temporary files by a multiplicative hash of the key."""

    def __init__(self, template: np.ndarray) -> None:
        import tempfile

        self.sig = self.signature(template)
        self.dtype = template.dtype
        self.encoding = template.encoding if isinstance(template, DigitKeys) else None
        self.dir = Path(tempfile.mkdtemp(prefix="hdc-keys-"))
        self.files = [open(self.dir / f"{i:02d}.bin", "wb") for i in range(SPILL_BUCKETS)]  # noqa: SIM115

    @staticmethod
    def signature(a: np.ndarray) -> tuple[Any, ...]:
        return (a.dtype.str, a.encoding if isinstance(a, DigitKeys) else None)

    def accepts(self, keys: Any) -> bool:
        return isinstance(keys, np.ndarray) and self.signature(keys) == self.sig

    def write(self, keys: np.ndarray) -> None:
        a = np.asarray(keys)
        shift = np.uint64(64 - SPILL_BUCKETS.bit_length() + 1)
        h = ((a.view(np.uint64) * _GOLDEN) >> shift).astype(np.uint8)  # 8-bit: numpy radix-sorts it
        order = np.argsort(h, kind="stable")
        counts = np.bincount(h, minlength=SPILL_BUCKETS)
        ordered = a[order]
        start = 0
        for i, c in enumerate(counts):
            if c:
                self.files[i].write(ordered[start : start + c].tobytes())
                start += c

    def buckets(self) -> Iterator[np.ndarray]:
        for f in self.files:
            f.flush()
        for i in range(SPILL_BUCKETS):
            a = np.fromfile(self.dir / f"{i:02d}.bin", dtype=self.dtype)
            yield _encoded(a, *self.encoding) if self.encoding else a

    def read_all(self) -> list[np.ndarray]:
        return [b for b in self.buckets() if len(b)]

    def close(self) -> None:
        import shutil

        for f in self.files:
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __del__(self) -> None:  # a spill abandoned by an exception still cleans up
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - best effort at interpreter shutdown
            pass


def _as_large_string(part: Any) -> pa.Array:
    """Any key part as arrow ``large_string`` (the slow, general path for mixed string keys)."""
    if isinstance(part, DigitKeys):
        part = part.as_text()
    if isinstance(part, np.ndarray):
        part = pa.array(np.char.decode(part, "utf-8")) if part.dtype.kind == "S" else pa.array(part)
    return part.cast(pa.large_string())


def _unify(parts: list[Any]) -> list[Any]:
    """Decoded keys stay integers only when every part has one encoding (base and width)."""
    encodings = {p.encoding for p in parts if isinstance(p, DigitKeys)}
    if not encodings:
        return parts
    if len(encodings) == 1 and all(isinstance(p, DigitKeys) for p in parts):
        base, width = encodings.pop()
        return [_encoded(np.asarray(p), base, width) for p in parts]
    return [p.as_text() if isinstance(p, DigitKeys) else p for p in parts]


def _encoded(a: np.ndarray, base: int, width: int) -> DigitKeys:
    keys = a.view(DigitKeys)
    keys.base, keys.width = base, width
    return keys


#: Integer parent keys whose span is at most this many times their count become a membership array.
DENSE_SPAN_FACTOR = 4


def _dense_span(keys: np.ndarray) -> tuple[int, int] | None:
    """(min, span) when integer ``keys`` are dense enough for a counting array, else None."""
    if keys.dtype.kind not in "iu" or len(keys) == 0:
        return None
    lo, hi = int(keys.min()), int(keys.max())
    span = hi - lo + 1
    return (lo, span) if span <= DENSE_SPAN_FACTOR * len(keys) + 1024 else None


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
        examples = _texts(keys, s[1:][eq][: sample * 4])[:sample] if sample else []
        return int(in_group.sum()), examples
    import pandas as pd

    series = pd.Series(keys.to_pandas() if hasattr(keys, "to_pandas") else keys)
    dup = series.duplicated(keep=False)
    examples = list(dict.fromkeys(series[dup].head(sample * 4).tolist()))[:sample] if sample else []
    return int(dup.sum()), examples


def _texts(keys: Any, values: np.ndarray) -> list[Any]:
    """Distinct example values, digit keys shown as their original zero-padded text."""
    vals = list(dict.fromkeys(np.asarray(values).tolist()))
    if isinstance(keys, DigitKeys):
        return [keys.text_of(v) for v in vals]
    return vals


class DenseSet:
    """Membership of dense integer keys as a boolean array indexed by ``value - low``."""

    def __init__(self, keys: np.ndarray, low: int, span: int) -> None:
        self.low = low
        self.present = np.zeros(span, dtype=bool)
        self.present[np.asarray(keys) - low] = True
        self.width = getattr(keys, "width", 0)

    def missing(self, child: np.ndarray) -> np.ndarray:
        idx = np.asarray(child) - self.low
        inside = (idx >= 0) & (idx < len(self.present))
        out = np.ones(len(idx), dtype=bool)
        out[inside] = ~self.present[idx[inside]]
        return out


def prepare_parent(keys: Any) -> Any:
    """Parent keys ready for :func:`count_orphans`: a dense membership array or sorted unique keys."""
    if isinstance(keys, np.ndarray):
        dense = _dense_span(keys) if not isinstance(keys, DigitKeys) else None
        if dense is not None:
            return DenseSet(keys, *dense)
        if keys.dtype.kind in "iu":
            return IntHashSet(keys)
        s = np.sort(keys)  # sort + mask: numpy's hash-based unique is slow on byte strings
        if len(s) < 2:
            return s
        keep = np.empty(len(s), dtype=bool)
        keep[0] = True
        np.not_equal(s[1:], s[:-1], out=keep[1:])
        return s[keep]
    return pc.unique(keys)


def _encoding(keys: Any) -> tuple[int, int] | None:
    return keys.encoding if isinstance(keys, DigitKeys) else None


def count_orphans(child: Any, parent: Any, sample: int = 0) -> tuple[int, list[Any]]:
    """Child values that do not occur among the parent keys, and a few of them."""
    if isinstance(parent, DenseSet):
        if isinstance(child, np.ndarray) and child.dtype.kind in "iu" and not isinstance(child, DigitKeys):
            missing = parent.missing(child)
            return int(missing.sum()), (_texts(child, child[missing][: sample * 4])[:sample] if sample else [])
        return len(child), []  # an integer parent cannot hold non-integer child keys
    if isinstance(parent, IntHashSet):
        src = parent.source
        if isinstance(child, np.ndarray) and child.dtype.kind == src.dtype.kind and _encoding(child) == _encoding(src):
            missing = parent.missing(child)
            return int(missing.sum()), (_texts(child, child[missing][: sample * 4])[:sample] if sample else [])
        values = parent.values()
        parent = _encoded(values, *src.encoding) if isinstance(src, DigitKeys) else values
    if isinstance(child, DigitKeys) or isinstance(parent, DigitKeys):
        same = isinstance(child, DigitKeys) and isinstance(parent, DigitKeys) and child.encoding == parent.encoding
        if not same:
            child = child.as_text() if isinstance(child, DigitKeys) else child
            parent = parent.as_text() if isinstance(parent, DigitKeys) else parent
    if isinstance(child, np.ndarray) and isinstance(parent, np.ndarray) and child.dtype.kind == parent.dtype.kind:
        if child.dtype.kind == "S" and child.dtype.itemsize != parent.dtype.itemsize:
            width = max(child.dtype.itemsize, parent.dtype.itemsize)
            child, parent = child.astype(f"S{width}"), parent.astype(f"S{width}")
        child = np.sort(child)  # sorted queries keep the binary search in cache: ~8x faster
        if len(parent) == 0:
            missing = np.ones(len(child), dtype=bool)
        else:
            idx = np.searchsorted(parent, child)
            idx[idx >= len(parent)] = len(parent) - 1
            missing = parent[idx] != child
        examples = _texts(child, child[missing][: sample * 4])[:sample] if sample else []
        return int(missing.sum()), examples
    stringy = any(isinstance(x, np.ndarray) and x.dtype.kind == "S" or isinstance(x, pa.Array) and not pa.types.is_integer(x.type)
                  for x in (child, parent))
    c = _as_large_string(child) if stringy else (pa.array(child) if isinstance(child, np.ndarray) else child)
    p = _as_large_string(parent) if stringy else (pa.array(parent) if isinstance(parent, np.ndarray) else parent)
    if c.type != p.type:
        try:
            p = p.cast(c.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return len(c), []
    found = pc.is_in(c, value_set=p)
    missing_arr = pc.filter(c, pc.invert(found))
    examples = list(dict.fromkeys(missing_arr.slice(0, sample * 4).to_pylist()))[:sample] if sample else []
    return len(missing_arr), examples
