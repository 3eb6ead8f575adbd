"""The vectorised key indexes agree with plain set arithmetic, collisions and edge values included."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.contracts.key_index import DenseCounter, IntHashSet
from hdc_toolkit.contracts.keys import count_orphans, prepare_parent, to_keys

INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    parent=st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=60),
    child=st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=60),
    shared=st.lists(st.integers(0, 59), max_size=30),
)
def test_hash_set_membership_matches_python_sets(parent, child, shared):
    child = child + [parent[i] for i in shared if i < len(parent)]  # some children are present
    hs = IntHashSet(np.array(parent, dtype=np.int64))
    missing = hs.missing(np.array(child, dtype=np.int64))
    assert missing.tolist() == [c not in set(parent) for c in child]
    assert len(hs) == len(set(parent))
    assert hs.values().tolist() == sorted(set(parent))


def test_hash_set_with_the_empty_marker_and_colliding_keys():
    # keys that share their hash slot (same high bits after the multiply) probe past each other
    colliding = np.arange(0, 2**20, 2**16, dtype=np.int64)
    parent = np.concatenate([colliding, [INT64_MIN]])
    hs = IntHashSet(parent)
    probe = np.array([INT64_MIN, 0, 2**16, 1, INT64_MAX, *colliding], dtype=np.int64)
    assert hs.missing(probe).tolist() == [False, False, False, True, True] + [False] * len(colliding)
    assert IntHashSet(np.array([1, 2], dtype=np.int64)).missing(np.array([INT64_MIN])).tolist() == [True]
    assert IntHashSet(np.empty(0, dtype=np.int64)).missing(np.array([0, 5])).tolist() == [True, True]


def test_hash_set_of_unsigned_hex_keys():
    keys = np.array([0, 2**63, 2**64 - 1, 12345], dtype=np.uint64)
    hs = IntHashSet(keys)
    assert hs.missing(np.array([2**63, 7, 2**64 - 1], dtype=np.uint64)).tolist() == [False, True, False]
    assert hs.values().dtype == np.uint64


def test_digit_and_hex_parents_find_orphans_through_the_hash_set():
    parent = prepare_parent(to_keys(pa.array(["00000000001", "12345678901", "99999999999"])))
    assert isinstance(parent, IntHashSet)
    failing, examples = count_orphans(to_keys(pa.array(["12345678901", "00000000002", "00000000002"])), parent, sample=5)
    assert (failing, examples) == (2, ["00000000002"])  # shown as the original zero-padded text
    # a child of another width or encoding is compared as text, never as a coincidentally equal integer
    failing, _ = count_orphans(to_keys(pa.array(["1", "12345678901"])), parent)
    assert failing == 1
    hexes = prepare_parent(to_keys(pa.array(["00ff00ff00ff00ff", "deadbeefdeadbeef"])))
    assert count_orphans(to_keys(pa.array(["deadbeefdeadbeef", "0000000000000001"])), hexes, sample=1) == (1, ["0000000000000001"])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(batches=st.lists(st.lists(st.integers(-50, 5000), max_size=40), max_size=6))
def test_dense_counter_matches_counting_every_row_of_a_duplicated_group(batches):
    counter = DenseCounter(-50, 5051)
    for b in batches:
        counter.add(np.array(b, dtype=np.int64))  # wide batches take the sorted path, compact ones bincount
    counts = Counter(v for b in batches for v in b)
    failing, examples = counter.count_duplicates(sample=3)
    assert failing == sum(c for c in counts.values() if c > 1)
    assert examples == sorted(v for v, c in counts.items() if c > 1)[:3]


def test_dense_counter_refuses_a_key_outside_its_declared_span():
    counter = DenseCounter(10, 5)
    with pytest.raises(ValueError, match=r"outside the declared span 10\.\.14: got 10\.\.15"):
        counter.add(np.array([10, 15]))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    keys=st.lists(st.integers(INT64_MIN, INT64_MAX), unique=True, max_size=50),
    probes=st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=20),
)
def test_hash_set_positions_map_each_key_to_where_it_was(keys, probes):
    hs = IntHashSet(np.array(keys, dtype=np.int64), positions=True)
    probes = probes + keys[::-1]
    assert hs.positions(np.array(probes, dtype=np.int64)).tolist() == [keys.index(p) if p in keys else -1 for p in probes]
    with pytest.raises(TypeError, match="positions=True"):
        IntHashSet(np.array(keys, dtype=np.int64)).positions(np.array([1]))
