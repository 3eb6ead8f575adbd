"""Project keys, person pseudonyms (HMAC once per person, mapped per row) and re-keyed surrogate keys."""

from __future__ import annotations

import hmac
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.exceptions import DataError, PermissionDenied
from hdc_toolkit.projects.pseudonymise import (
    KEY_BYTES,
    PSEUDONYM_PATTERN,
    PseudonymMap,
    SurrogateKeyer,
    destroy_key,
    key_fingerprint,
    key_path,
    project_key,
    pseudonyms,
)

KEY = bytes(range(32))
IDS = ["15105495061", "05045446559", "24110965210", "01010112345"]


def reference(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), "sha256").hexdigest()[:16]


class TestKeys:
    def test_created_once_private_and_outside_the_workspace(self, tmp_path: Path) -> None:
        keys = tmp_path / "keys"
        first = project_key(keys, "p1")
        assert len(first) == KEY_BYTES and project_key(keys, "p1") == first
        assert stat.S_IMODE(key_path(keys, "p1").stat().st_mode) == 0o600
        assert stat.S_IMODE(keys.stat().st_mode) == 0o700
        assert project_key(keys, "p2") != first

    def test_concurrent_first_use_agrees_on_one_key(self, tmp_path: Path) -> None:
        found: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: found.append(project_key(tmp_path, "p1"))) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(found)) == 1 and len(found) == 8
        assert [p.name for p in tmp_path.iterdir()] == ["p1.key"]  # no temporary left behind

    def test_refuses_a_key_readable_by_others(self, tmp_path: Path) -> None:
        project_key(tmp_path, "p1")
        os.chmod(key_path(tmp_path, "p1"), 0o644)
        with pytest.raises(PermissionDenied, match="0644"):
            project_key(tmp_path, "p1")

    def test_refuses_a_truncated_key_and_a_missing_one_when_not_creating(self, tmp_path: Path) -> None:
        with pytest.raises(DataError, match="no pseudonymisation key"):
            project_key(tmp_path, "p1", create=False)
        key_path(tmp_path, "p1").write_bytes(b"short")
        os.chmod(key_path(tmp_path, "p1"), 0o600)
        with pytest.raises(DataError, match="32 bytes"):
            project_key(tmp_path, "p1")

    def test_destroy(self, tmp_path: Path) -> None:
        project_key(tmp_path, "p1")
        assert destroy_key(tmp_path, "p1") is True
        assert not key_path(tmp_path, "p1").exists()
        assert destroy_key(tmp_path, "p1") is False

    def test_fingerprint_is_stable_and_not_the_key(self) -> None:
        assert key_fingerprint(KEY) == key_fingerprint(KEY) != key_fingerprint(bytes(32))
        assert KEY.hex()[:16] != key_fingerprint(KEY)


class TestPseudonyms:
    def test_equal_to_hmac_sha256_truncated(self) -> None:
        out = pseudonyms(KEY, pa.array(IDS)).to_pylist()
        assert out == [reference(KEY, v) for v in IDS]
        assert all(len(p) == 16 and set(p) <= set("0123456789abcdef") for p in out)

    @settings(max_examples=30, deadline=None)
    @given(
        st.binary(min_size=1, max_size=100),
        st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=20),
    )
    def test_any_key_and_text(self, key: bytes, values: list[str]) -> None:
        assert pseudonyms(key, pa.array(values)).to_pylist() == [reference(key, v) for v in values]

    def test_another_key_gives_unrelated_pseudonyms(self) -> None:
        a, b = pseudonyms(KEY, pa.array(IDS)).to_pylist(), pseudonyms(bytes(32), pa.array(IDS)).to_pylist()
        assert not set(a) & set(b)

    def test_nulls_are_refused(self) -> None:
        with pytest.raises(ValueError):
            pseudonyms(KEY, pa.array(["1", None]))


class TestPseudonymMap:
    def test_built_once_per_distinct_id_sorted_by_pid(self) -> None:
        pmap = PseudonymMap.build(KEY, pa.array([*IDS, IDS[0], None]))
        assert len(pmap) == 4 and pmap.pids.to_pylist() == sorted(pmap.pids.to_pylist())
        assert dict(zip(pmap.ids.to_pylist(), pmap.pids.to_pylist(), strict=True)) == {
            v: reference(KEY, v) for v in IDS
        }

    @pytest.mark.parametrize("dictionary", [False, True])
    @pytest.mark.parametrize("cohort", [IDS[:1], IDS])  # small and large map: both lookup directions
    def test_positions_map_rows_and_null_outside(self, dictionary: bool, cohort: list[str]) -> None:
        pmap = PseudonymMap.build(KEY, pa.array(cohort))
        rows = pa.array([IDS[0], "99999999999", None, IDS[-1], IDS[0]])
        if dictionary:
            rows = rows.dictionary_encode()
        got = pmap.take(pmap.positions(rows)).to_pylist()
        expected = [
            reference(KEY, v) if v in cohort else None for v in [IDS[0], "99999999999", None, IDS[-1], IDS[0]]
        ]
        assert got == expected

    @pytest.mark.parametrize(
        ("cohort", "rows"),
        [
            (IDS, ["123", IDS[1], "1234567890x"]),  # other widths and non-digits among digit ids
            (["abc", IDS[0]], [IDS[0], "abc", "zzz"]),  # ids that are not all digits: the hash lookup
            (IDS, [IDS[2], IDS[3]]),
        ],
    )
    def test_integer_and_hash_lookups_agree(self, cohort: list[str], rows: list[str]) -> None:
        pmap = PseudonymMap.build(KEY, pa.array(cohort))
        expected = [reference(KEY, v) if v in cohort else None for v in rows]
        for column in (pa.array(rows), pa.array(["pad", *rows]).slice(1), pa.array(rows).dictionary_encode()):
            assert pmap.take(pmap.positions(column)).to_pylist() == expected

    def test_chunked_and_empty(self) -> None:
        pmap = PseudonymMap.build(KEY, pa.chunked_array([pa.array(IDS[:2]), pa.array(IDS[2:])]))
        assert len(pmap) == 4
        empty = PseudonymMap.build(KEY, pa.array([], pa.string()))
        assert empty.positions(pa.array(IDS).dictionary_encode()).null_count == 4
        assert PSEUDONYM_PATTERN == "^[0-9a-f]{16}$"


class TestSurrogates:
    @pytest.mark.parametrize("size", [1, 2, 3, 1000, 4097, 70_000])
    def test_a_permutation_of_the_domain(self, size: int) -> None:
        keyer = SurrogateKeyer(KEY, "episodes.episode_id", size)
        values = np.arange(size, dtype=np.int64)
        out = keyer.rekey(pa.array(values)).to_numpy()
        assert sorted(out.tolist()) == values.tolist()
        assert out.min() >= 0 and out.max() < size

    def test_large_domains_without_lookup_array_agree(self) -> None:
        small = SurrogateKeyer(KEY, "d.id", 5000).rekey(pa.array(range(5000))).to_pylist()
        from hdc_toolkit.projects import pseudonymise

        keyer = SurrogateKeyer(KEY, "d.id", 5000)
        object.__setattr__(keyer, "_table", None)  # the per-value path
        assert keyer.rekey(pa.array(range(5000))).to_pylist() == small
        assert pseudonymise.SURROGATE_TABLE_MAX >= 1 << 20

    def test_consistent_across_tables_keyed_by_project_and_domain(self) -> None:
        values = pa.array([5, 17, 5, 5000], pa.int64())
        a = SurrogateKeyer(KEY, "episodes.episode_id", 1000).rekey(values).to_pylist()
        assert a[0] == a[2] and a[:3] != [5, 17, 5]
        assert a[3] == -1  # outside the domain: an orphan stays an orphan
        other_key = SurrogateKeyer(bytes(32), "episodes.episode_id", 1000).rekey(values).to_pylist()
        other_domain = SurrogateKeyer(KEY, "diagnoses.diagnosis_id", 1000).rekey(values).to_pylist()
        assert other_key[:2] != a[:2] and other_domain[:2] != a[:2]

    def test_nulls_stay_null_and_types(self) -> None:
        out = SurrogateKeyer(KEY, "x.id", 100).rekey(pa.chunked_array([pa.array([1, None, 3], pa.int32())]))
        assert out.type == pa.int64() and out.null_count == 1 and out[1].as_py() is None
        assert len(SurrogateKeyer(KEY, "x.id", 100).rekey(pa.array([], pa.int64()))) == 0

    def test_domain_size_is_checked(self) -> None:
        with pytest.raises(DataError):
            SurrogateKeyer(KEY, "x.id", 0)
