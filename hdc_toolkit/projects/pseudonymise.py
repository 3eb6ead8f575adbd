"""Project-specific pseudonyms: keyed per project, computed once per person, mapped by a hash join.

**Persons.** A national id becomes ``pid = hex(HMAC-SHA256(project key, UTF-8 national id))[:16]``
(64 bits). The key is 32 random bytes held by the data centre in ``HDC_HOME/keys/<project>.key``
(mode 0600, directory 0700, never inside the project workspace), created on first use. The same
person gets the same pid in every table of a project's releases and an unrelated pid in every other
project; without the key a pid cannot be recomputed from a national id.

HMAC runs once per *distinct* national id (:meth:`PseudonymMap.build`), never per row; every table's
national id column is then mapped by one lookup per value: a binary search in the sorted integer
ids when the ids are digit strings of one width (as national ids are), else a hash lookup
(``pyarrow.compute.index_in``); a dictionary-encoded column is mapped through its dictionary only.
Ids outside the map (not in the cohort) map to null, which is also the cohort filter.

**Surrogate keys** (integer primary keys such as ``episode_id`` and the foreign keys that point at
them) are re-keyed too, so that two projects cannot be joined on them: :class:`SurrogateKeyer`, a
keyed permutation of the key's domain ``[0, size)`` (``size`` = the source's largest key + 1): a
6-round balanced Feistel network whose round function is the splitmix64 finaliser of the half XOR a
round key derived from the project key and the domain (e.g. ``episodes.episode_id``), with cycle
walking. It is a bijection (uniqueness and foreign keys survive), vectorised in numpy, and the same
value maps the same way in every table. It is not a proven cryptographic cipher; it protects against
joining releases by people who see neither the source ids nor the key.

Deleting a project destroys its key (:func:`destroy_key`): its pseudonyms can never be recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hdc_toolkit.contracts.key_index import IntHashSet
from hdc_toolkit.exceptions import DataError, PermissionDenied

__all__ = [
    "KEY_BYTES",
    "PSEUDONYM_COLUMN",
    "PSEUDONYM_HEX",
    "PSEUDONYM_PATTERN",
    "SURROGATE_MAX",
    "SURROGATE_TABLE_MAX",
    "PseudonymMap",
    "SurrogateKeyer",
    "destroy_key",
    "key_fingerprint",
    "key_path",
    "project_key",
    "pseudonyms",
]

KEY_BYTES = 32
#: Hex characters kept of the HMAC (16 = 64 bits: ~1e-6 chance of any collision among 5M people;
#: a collision would fail the release gate's uniqueness check, never pass silently).
PSEUDONYM_HEX = 16
PSEUDONYM_COLUMN = "pid"
PSEUDONYM_PATTERN = f"^[0-9a-f]{{{PSEUDONYM_HEX}}}$"
#: Surrogate key domains have at most this many values.
SURROGATE_MAX = 1 << 62
#: Domains up to this size are permuted once into a lookup array (8 bytes per value).
SURROGATE_TABLE_MAX = 1 << 24
_ROUNDS = 6


# ---------------------------------------------------------------------------------------------------
# keys


def key_path(keys_dir: Path, project_id: str) -> Path:
    """Where the key of ``project_id`` lives (the id must already be checked)."""
    return Path(keys_dir) / f"{project_id}.key"


def project_key(keys_dir: Path, project_id: str, *, create: bool = True) -> bytes:
    """The project's secret key, created (0600, atomically, once even under races) on first use.

    Refuses a key file that group or others can read, or that has the wrong length.
    """
    path = key_path(keys_dir, project_id)
    if not path.exists():
        if not create:
            raise DataError(f"project {project_id!r} has no pseudonymisation key", location=str(path))
        _create_key(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionDenied(
            f"the key file of project {project_id!r} is accessible to others (mode {mode:04o}); "
            "it must be 0600: investigate before using it",
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise DataError(
            f"a project key must be {KEY_BYTES} bytes, this one has {len(key)}", location=str(path)
        )
    return key


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    tmp = Path(name)
    try:
        os.write(fd, os.urandom(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic, and fails if another process created the key first
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def destroy_key(keys_dir: Path, project_id: str) -> bool:
    """Overwrite and remove the project's key; True when there was one."""
    path = key_path(keys_dir, project_id)
    if not path.exists():
        return False
    with open(path, "r+b") as fh:
        fh.write(os.urandom(max(path.stat().st_size, KEY_BYTES)))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
    return True


def key_fingerprint(key: bytes) -> str:
    """A public fingerprint of a key (shows that two releases used the same key; reveals nothing)."""
    return hmac.digest(key, b"hdc-toolkit key fingerprint", "sha256").hex()[:16]


# ---------------------------------------------------------------------------------------------------
# persons


def pseudonyms(key: bytes, ids: pa.Array) -> pa.Array:
    """``hex(HMAC-SHA256(key, id))[:16]`` of every (non-null, string) id, as a string array.

    HMAC (RFC 2104) with the key's inner and outer pads hashed once and copied per id: the same
    digest as :func:`hmac.digest`, at half the cost per id.
    """
    return _hex_array(_digests(key, ids))


def _digests(key: bytes, ids: pa.Array) -> bytes:
    """The first ``PSEUDONYM_HEX // 2`` bytes of HMAC-SHA256(key, id) of every id, concatenated."""
    values = ids.to_pylist()
    if any(v is None for v in values):
        raise ValueError("pseudonyms() needs non-null ids")
    width = PSEUDONYM_HEX // 2
    inner, outer = _pads(key)
    out = bytearray()
    for v in values:
        i = inner.copy()
        i.update(v.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        out += o.digest()[:width]
    return bytes(out)


def _hex_array(digests: bytes) -> pa.Array:
    """Digests of ``PSEUDONYM_HEX // 2`` bytes each as a string array of lower-case hex."""
    n = len(digests) // (PSEUDONYM_HEX // 2)
    text = digests.hex().encode("ascii")
    offsets = np.arange(0, (n + 1) * PSEUDONYM_HEX, PSEUDONYM_HEX, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])


def _pads(key: bytes) -> tuple[Any, Any]:
    block = hashlib.sha256().block_size
    k = hashlib.sha256(key).digest() if len(key) > block else key
    k = k.ljust(block, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in k)), hashlib.sha256(bytes(b ^ 0x5C for b in k))


@dataclass(frozen=True)
class PseudonymMap:
    """Distinct national ids (``ids``) and their pseudonyms (``pids``), position for position, by pid."""

    ids: pa.Array
    pids: pa.Array

    @classmethod
    def build(cls, key: bytes, ids: pa.Array | pa.ChunkedArray) -> PseudonymMap:
        """Pseudonymise the distinct non-null values of ``ids`` (HMAC once per person).

        The map is ordered by pseudonym, so sorting rows by :meth:`positions` sorts them by pid.
        """
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if pa.types.is_dictionary(ids.type):
            ids = ids.dictionary_decode()
        distinct = pc.unique(pc.drop_null(ids).cast(pa.string()))
        # hex of equal width sorts as the digest's value: sort the 8-byte big-endian words, not strings
        words = np.frombuffer(_digests(key, distinct), dtype=f">u{PSEUDONYM_HEX // 2}")
        order = np.argsort(words, kind="stable")
        return cls(distinct.take(pa.array(order)), _hex_array(words[order].tobytes()))

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, column: pa.Array | pa.ChunkedArray) -> pa.Array:
        """For each value of ``column``, its position in :attr:`ids` (int32), null when absent.

        A dictionary-encoded column is looked up once per dictionary entry. Ids that are digit strings
        of one width (national ids) are looked up as integers in a hash map built once
        (:class:`~hdc_toolkit.contracts.key_index.IntHashSet`); anything else through arrow's hash
        lookup (``pyarrow.compute.index_in``).
        """
        pos = self.locate(column)
        return pa.array(pos.astype(np.int32), mask=pos < 0)

    def locate(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """:meth:`positions` as an int64 numpy array, -1 for an absent or null id."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if not pa.types.is_dictionary(column.type):
            return self._value_positions(column)
        mapping = self._value_positions(column.dictionary)
        indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
        pos = mapping[indices] if len(mapping) else np.full(len(column), -1, dtype=np.int64)
        if column.null_count:
            pos[~column.is_valid().to_numpy(zero_copy_only=False)] = -1
        return pos

    def _value_positions(self, values: pa.Array) -> np.ndarray:
        index = self._digit_index
        keys = _digit_keys(values, index[0]) if index is not None and not values.null_count else None
        if index is None or keys is None:
            return pc.index_in(values, value_set=self.ids).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return index[1].positions(keys)

    @functools.cached_property
    def _digit_index(self) -> tuple[int, IntHashSet] | None:
        """(width, a hash map from integer id to position) when every id is a digit string of one width."""
        if len(self.ids) == 0:
            return None
        width = len(self.ids[0].as_py())
        keys = _digit_keys(self.ids, width)
        if keys is None:
            return None
        return width, IntHashSet(keys, positions=True)

    def take(self, positions: pa.Array) -> pa.Array:
        """The pseudonyms at ``positions`` (null positions give null)."""
        return pc.take(self.pids, positions)


def _digit_keys(values: pa.Array, width: int) -> np.ndarray | None:
    """``values`` (no nulls) as int64 when every one is ``width`` ASCII digits (width <= 18), else None."""
    if not 0 < width <= 18 or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    n = len(values)
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    size = np.dtype(offset_type).itemsize
    offsets = np.frombuffer(values.buffers()[1], dtype=offset_type, count=n + 1, offset=values.offset * size)
    if n == 0 or offsets[-1] - offsets[0] != n * width or np.any(np.diff(offsets) != width):
        return None if n else np.empty(0, dtype=np.int64)
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8, count=n * width, offset=int(offsets[0]))
    if int(data.min()) < 48 or int(data.max()) > 57:
        return None
    return pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)  # every byte a digit: exact


# ---------------------------------------------------------------------------------------------------
# surrogate keys


@dataclass(frozen=True)
class SurrogateKeyer:
    """The project's keyed permutation of the key domain ``[0, size)`` of ``domain`` (``table.column``).

    A balanced Feistel network over the smallest even number of bits that holds ``size - 1`` (at least
    2), with cycle walking so that every value of ``[0, size)`` maps into ``[0, size)``: a bijection,
    so uniqueness and foreign keys survive, and the keys stay as compact as the source's. The round
    function is the splitmix64 finaliser of the half XOR a round key (HMAC of the project key and
    ``domain``). Nulls stay null; a value outside the domain (an orphan: no row of the domain's table
    can have it) becomes -1, which no key of the domain has, so a foreign key check still fails on it.
    """

    key: bytes = field(repr=False)
    domain: str
    size: int

    def __post_init__(self) -> None:
        if not 0 < self.size <= SURROGATE_MAX:
            raise DataError(
                f"{self.domain}: a surrogate key domain must have 1 to 2**62 values, not {self.size}"
            )

    @functools.cached_property
    def _round_keys(self) -> np.ndarray:
        return _round_keys(self.key, self.domain)

    @property
    def _half_bits(self) -> int:
        bits = max(2, (self.size - 1).bit_length())
        return (bits + 1) // 2

    def rekey(self, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Re-key ``values`` (any integer type); returns int64."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if len(values) == 0:
            return pa.array([], pa.int64())
        valid = values.is_valid().to_numpy(zero_copy_only=False) if values.null_count else None
        x = values.cast(pa.int64()).fill_null(0).to_numpy().astype(np.int64, copy=False)
        inside = (x >= 0) & (x < self.size)
        out = np.full(len(x), -1, dtype=np.int64)
        table = self._table
        out[inside] = table[x[inside]] if table is not None else self._walk(x[inside].astype(np.uint64))
        return pa.array(out, pa.int64(), mask=None if valid is None else ~valid)

    @functools.cached_property
    def _table(self) -> np.ndarray | None:
        """The whole permutation as a lookup array, for domains up to :data:`SURROGATE_TABLE_MAX`."""
        if self.size > SURROGATE_TABLE_MAX:
            return None
        return self._walk(np.arange(self.size, dtype=np.uint64)).astype(np.int64)

    def prepare(self) -> SurrogateKeyer:
        """Compute the lookup array now (before threads share the keyer)."""
        _ = self._table
        return self

    def _walk(self, u: np.ndarray) -> np.ndarray:
        """The permutation of ``u`` (values in the domain), cycle walking back into ``[0, size)``."""
        y = self._permute(u)
        todo = np.flatnonzero(y >= np.uint64(self.size))
        while len(todo):  # the cipher's range is < 4 * size: a few steps for most values
            y[todo] = self._permute(y[todo])
            todo = todo[y[todo] >= np.uint64(self.size)]
        return y.astype(np.int64)

    def _permute(self, u: np.ndarray) -> np.ndarray:
        half = self._half_bits
        mask = np.uint64((1 << half) - 1)
        shift = np.uint64(half)
        left, right = u >> shift, u & mask
        with np.errstate(over="ignore"):
            for k in self._round_keys:
                left, right = right, left ^ (_mix(right ^ k) & mask)
        return (left << shift) | right


def _round_keys(key: bytes, domain: str) -> np.ndarray:
    keys = [
        int.from_bytes(hmac.digest(key, f"hdc-surrogate:{domain}:{i}".encode(), "sha256")[:8], "little")
        for i in range(_ROUNDS)
    ]
    return np.array(keys, dtype=np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (a bijective 64-bit mixer)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> np.uint64(31))
    return out
