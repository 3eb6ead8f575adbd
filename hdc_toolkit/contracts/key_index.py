"""Vectorised integer key indexes for the global checks: a hash set for parents, a dense counter for ids.

* :class:`IntHashSet` answers "is this child key among the parent keys?" for a whole row group at once:
  an open-addressing table (load ≤ 0.5, linear probing) built once per parent, probed with a few
  numpy gathers. Probes are independent, so they overlap in the memory system; a binary search in a
  sorted parent is a chain of dependent cache misses and needed the child sorted first (about 4×
  slower per row group here).
* :class:`DenseCounter` counts duplicates of integer ids whose span (max − min, known from the Parquet
  footer before the scan) is small: one byte per possible value (flags "seen", "seen again"), so no key is
  kept and nothing is sorted or spilled. Rows in duplicated groups = rows − values seen exactly once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DenseCounter", "IntHashSet"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.iinfo(np.int64).min  # marks a free slot; a key equal to it is remembered separately


class IntHashSet:
    """A set of 64-bit integer keys (signed or unsigned) with vectorised membership tests.

    With ``positions=True`` it is also a map from each key to its (last) position in ``keys``
    (:meth:`positions`), e.g. a person id to its row in a pseudonym table.
    """

    def __init__(self, keys: np.ndarray, *, positions: bool = False) -> None:
        a = np.asarray(keys)
        if a.dtype.kind not in "iu" or a.dtype.itemsize != 8:
            a = a.astype(np.int64)
        self.dtype = a.dtype
        self.source = keys[:0]  # an empty view: the encoding attributes (DigitKeys) travel with the set
        v = a.view(np.int64)
        where = np.arange(len(v), dtype=np.int64)
        empty_at = np.flatnonzero(v == _EMPTY)
        self.has_empty = bool(len(empty_at))
        self.empty_position = int(empty_at[-1]) if self.has_empty else -1
        if self.has_empty:
            keep = v != _EMPTY
            v, where = v[keep], where[keep]
        self.bits = max(int(np.ceil(np.log2(max(len(v), 1) * 2))), 4)
        self.mask = (1 << self.bits) - 1
        self.table = np.full(1 << self.bits, _EMPTY, dtype=np.int64)
        self.where = np.full(1 << self.bits, -1, dtype=np.int64) if positions else None
        self.size = self._insert(v, where)

    def _slots(self, v: np.ndarray) -> np.ndarray:
        return ((v.view(np.uint64) * _GOLDEN) >> np.uint64(64 - self.bits)).astype(np.int64)

    def _insert(self, v: np.ndarray, where: np.ndarray) -> int:
        idx, pending = self._slots(v), v
        while len(pending):
            free = self.table[idx] == _EMPTY
            self.table[idx[free]] = pending[free]  # several keys may race for one slot: one wins
            placed = self.table[idx] == pending  # the winner, or a key that was already present
            if self.where is not None:
                self.where[idx[placed]] = where[placed]
                where = where[~placed]
            pending, idx = pending[~placed], (idx[~placed] + 1) & self.mask
        return int((self.table != _EMPTY).sum()) + self.has_empty

    def __len__(self) -> int:
        return self.size

    def missing(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask: True where a key is not in the set."""
        return self._probe(keys)[0]

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """Each key's position in the keys the set was built from; -1 where it is not in the set."""
        if self.where is None:
            raise TypeError("IntHashSet.positions needs a set built with positions=True")
        miss, idx, v = self._probe(keys)
        out = self.where[idx]
        out[miss] = -1
        if self.has_empty:
            out[v == _EMPTY] = self.empty_position
        return out

    def _probe(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(missing mask, final slot of each key, the keys as int64)."""
        v = np.asarray(keys)
        if v.dtype.itemsize != 8 or v.dtype.kind not in "iu":
            v = v.astype(np.int64)
        v = v.view(np.int64)
        idx = self._slots(v)
        got = self.table[idx]
        miss = got != v
        todo = np.flatnonzero(miss & (got != _EMPTY))  # collided with another key: probe onwards
        while len(todo):
            idx[todo] = (idx[todo] + 1) & self.mask
            got = self.table[idx[todo]]
            hit = got == v[todo]
            miss[todo[hit]] = False
            todo = todo[~hit & (got != _EMPTY)]
        miss[v == _EMPTY] = not self.has_empty  # the free-slot marker "matched" every free slot
        return miss, idx, v

    def values(self) -> np.ndarray:
        """The keys, sorted, in the dtype they came in."""
        v = self.table[self.table != _EMPTY]
        if self.has_empty:
            v = np.append(v, _EMPTY)
        return np.sort(v.view(self.dtype))


class DenseCounter:
    """Duplicate counting for integer keys known to lie in ``low .. low + span - 1``."""

    def __init__(self, low: int, span: int) -> None:
        self.low = low
        self.state = np.zeros(span, dtype=np.uint8)  # bit 0: seen; bit 1: seen again
        self.rows = 0

    def add(self, keys: np.ndarray) -> None:
        if not len(keys):
            return
        a = np.asarray(keys)
        lo, hi = int(a.min()), int(a.max())
        if lo < self.low or hi >= self.low + len(self.state):
            raise ValueError(f"key outside the declared span {self.low}..{self.low + len(self.state) - 1}: got {lo}..{hi}")
        self.rows += len(a)
        if hi - lo < 4 * len(a) + 4096:  # a compact batch: one count per value of its own range
            counts = np.minimum(np.bincount(a - lo, minlength=hi - lo + 1), 2).astype(np.uint8)
            state = self.state[lo - self.low : hi - self.low + 1]
            # seen again: twice in this batch, or once here after an earlier batch
            state |= np.minimum(counts + (state & 1), 2) | (counts > 0)
            return
        idx = np.sort(a - self.low)  # a scattered batch: repeats within it are neighbours once sorted
        within = np.zeros(len(idx), dtype=bool)
        within[1:] = idx[1:] == idx[:-1]
        self.state[idx[within]] |= 2
        self.state[idx[(self.state[idx] & 1) == 1]] |= 2
        self.state[idx] |= 1

    def count_duplicates(self, sample: int = 0) -> tuple[int, list[Any]]:
        """Rows whose key occurs more than once, and up to ``sample`` such keys (smallest first)."""
        once = int(np.count_nonzero(self.state == 1))
        examples = [int(i) + self.low for i in np.flatnonzero(self.state & 2)[:sample]] if sample else []
        return self.rows - once, examples
