"""Vectorised random strings from a contract ``pattern``: fresh fake identifiers and codes.

The pattern is parsed with Python's own regex parser (``re._parser``) and every node becomes an
``(n, width)`` matrix of Unicode code points, 0 meaning "no character here"; the matrices are joined
side by side, each row is compacted to the left, and the matrix is viewed as a numpy string array.
One call makes a million 11-digit ids in well under a second.

Supported: literals, ``.``, character classes (ranges, ``\\d \\w \\s``, negation), groups, alternation,
anchors (ignored) and every quantifier (unbounded ones are capped at ``min + 8`` repeats).
Look-arounds and back-references raise :class:`ValueError`: such a column needs values from data.
"""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np

try:  # Python 3.11+
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

__all__ = ["PatternError", "random_strings", "unique_random_strings"]

_ALNUM = np.array([ord(ch) for ch in string.ascii_letters + string.digits], dtype=np.uint32)
_DIGITS = np.array([ord(ch) for ch in string.digits], dtype=np.uint32)
_WORD = np.array([ord(ch) for ch in string.ascii_letters + string.digits + "_"], dtype=np.uint32)
_SPACE = np.array([ord(" ")], dtype=np.uint32)
_PRINTABLE = np.array([ord(ch) for ch in string.ascii_letters + string.digits + "-_."], dtype=np.uint32)
_UNBOUNDED_EXTRA = 8


class PatternError(ValueError):
    """The pattern uses a construct random strings cannot be generated from."""


def random_strings(pattern: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random strings that fully match ``pattern`` (a numpy ``<U`` array)."""
    try:
        parsed = _p.parse(pattern)
    except re.error as exc:
        raise PatternError(f"invalid pattern {pattern!r}: {exc}") from None
    if n == 0:
        return np.array([], dtype="<U1")
    matrix = _seq(list(parsed), n, rng)
    return _to_strings(matrix)


def unique_random_strings(
    pattern: str, n: int, rng: np.random.Generator, *, avoid: Any = None, rounds: int = 30
) -> np.ndarray:
    """``n`` distinct random strings matching ``pattern``, none of them in ``avoid`` (e.g. real ids)."""
    avoid_arr = (
        None
        if avoid is None
        else np.asarray(list(avoid) if not isinstance(avoid, np.ndarray) else avoid, dtype=str)
    )
    out = random_strings(pattern, n, rng)
    for _ in range(rounds):
        bad = _duplicated(out)
        if avoid_arr is not None and len(avoid_arr):
            bad |= np.isin(out, avoid_arr)
        k = int(bad.sum())
        if k == 0:
            return out
        fresh = random_strings(pattern, k, rng)
        width = max(out.dtype.itemsize, fresh.dtype.itemsize) // 4
        out = out.astype(f"<U{width}")
        out[bad] = fresh
    raise PatternError(
        f"could not make {n} distinct values matching {pattern!r}: the pattern allows too few strings"
    )


def _duplicated(values: np.ndarray) -> np.ndarray:
    """True for every occurrence of a value after its first."""
    order = np.argsort(values, kind="stable")
    sorted_vals = values[order]
    dup_sorted = np.zeros(len(values), dtype=bool)
    if len(values) > 1:
        dup_sorted[1:] = sorted_vals[1:] == sorted_vals[:-1]
    out = np.zeros(len(values), dtype=bool)
    out[order] = dup_sorted
    return out


def _to_strings(matrix: np.ndarray) -> np.ndarray:
    n, width = matrix.shape
    if width == 0:
        return np.full(n, "", dtype="<U1")
    empty = matrix == 0
    if empty.any():
        order = np.argsort(empty, axis=1, kind="stable")
        matrix = np.take_along_axis(matrix, order, axis=1)
    matrix = np.ascontiguousarray(matrix, dtype=np.uint32)
    return matrix.view(f"<U{width}").reshape(n)


def _hstack(parts: list[np.ndarray], n: int) -> np.ndarray:
    parts = [p for p in parts if p.shape[1]]
    if not parts:
        return np.zeros((n, 0), dtype=np.uint32)
    return np.concatenate(parts, axis=1)


def _seq(items: list[tuple[Any, Any]], n: int, rng: np.random.Generator) -> np.ndarray:
    return _hstack([_node(op, av, n, rng) for op, av in items], n)


def _choice(chars: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(chars) == 0:
        raise PatternError("a character class matches no character")
    return chars[rng.integers(0, len(chars), size=n)].reshape(n, 1)


def _node(op: Any, av: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    if op is _c.LITERAL:
        return np.full((n, 1), av, dtype=np.uint32)
    if op is _c.NOT_LITERAL:
        return _choice(_PRINTABLE[_PRINTABLE != av], n, rng)
    if op is _c.ANY:
        return _choice(_ALNUM, n, rng)
    if op is _c.IN:
        return _choice(_class_chars(av), n, rng)
    if op is _c.AT:
        return np.zeros((n, 0), dtype=np.uint32)
    if op is _c.SUBPATTERN:
        return _seq(list(av[-1]), n, rng)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        lo, hi, sub = av
        hi = lo + _UNBOUNDED_EXTRA if hi is _c.MAXREPEAT else hi
        counts = rng.integers(lo, hi + 1, size=n)
        blocks = []
        for i in range(hi):
            block = _seq(list(sub), n, rng)
            block[counts <= i] = 0
            blocks.append(block)
        return _hstack(blocks, n)
    if op is _c.BRANCH:
        alternatives = av[1]
        pick = rng.integers(0, len(alternatives), size=n)
        mats = [_seq(list(alt), n, rng) for alt in alternatives]
        width = max(m.shape[1] for m in mats)
        out = np.zeros((n, width), dtype=np.uint32)
        for i, m in enumerate(mats):
            rows = pick == i
            out[rows, : m.shape[1]] = m[rows]
        return out
    raise PatternError(f"pattern construct {op} is not supported for generating values")


def _class_chars(items: list[tuple[Any, Any]]) -> np.ndarray:
    chars: set[int] = set()
    negate = False
    for op, av in items:
        if op is _c.NEGATE:
            negate = True
        elif op is _c.LITERAL:
            chars.add(av)
        elif op is _c.RANGE:
            chars.update(range(av[0], av[1] + 1))
        elif op is _c.CATEGORY:
            if av is _c.CATEGORY_DIGIT:
                chars.update(_DIGITS.tolist())
            elif av is _c.CATEGORY_WORD:
                chars.update(_WORD.tolist())
            elif av is _c.CATEGORY_SPACE:
                chars.update(_SPACE.tolist())
            elif av is _c.CATEGORY_NOT_DIGIT:
                chars.update(c for c in _ALNUM.tolist() if not chr(c).isdigit())
            else:
                raise PatternError(f"character category {av} is not supported")
        else:
            raise PatternError(f"character class item {op} is not supported")
    if negate:
        return np.array([c for c in _PRINTABLE.tolist() if c not in chars], dtype=np.uint32)
    return np.array(sorted(chars), dtype=np.uint32)
