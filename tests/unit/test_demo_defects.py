"""Defect injection on in-memory chunks: disjoint rows, exact counts, one check per defect kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hdc_toolkit.demo import DEFECT_KINDS, TABLES
from hdc_toolkit.demo.frame import Frame
from hdc_toolkit.demo.generate import _State, generate_chunk

CONTRACTS = Path(__file__).resolve().parents[2] / "data_contracts"


def _chunk(rate: float, n: int = 400, seed: int = 11) -> tuple[dict[str, Frame], dict[str, int]]:
    frames, expected = generate_chunk(_State(seed), 0, n, rate)
    return frames, dict(expected)


def _changed_rows(clean: Frame, dirty: Frame) -> np.ndarray:
    n = len(clean)
    changed = np.zeros(n, dtype=bool)
    for name, col in clean.columns.items():
        other = dirty[name]
        a_null = col.nulls[:n] if col.nulls is not None else np.zeros(n, dtype=bool)
        b_null = other.nulls[:n] if other.nulls is not None else np.zeros(n, dtype=bool)
        if col.vocab is not None:
            a = np.array(col.vocab, dtype=object)[col.values[:n]]
            b = np.array(other.vocab, dtype=object)[other.values[:n]]
            differ = a != b
        else:
            differ = col.values[:n] != other.values[:n]
            if differ.ndim == 2:
                differ = differ.any(axis=1)
        changed |= (a_null != b_null) | (~a_null & ~b_null & differ)
    return changed


def test_every_kind_names_a_contract_check() -> None:
    columns = {}
    rules = {}
    for path in CONTRACTS.glob("*.odcs.yaml"):
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))["schema"][0]
        columns[schema["name"]] = {p["name"] for p in schema["properties"]}
        rules[schema["name"]] = {q["name"] for q in schema.get("quality", [])}
    assert set(DEFECT_KINDS) == set(TABLES)
    for table, kinds in DEFECT_KINDS.items():
        for kind in kinds:
            parts = kind.check.split(".")
            assert parts[0] == table == kind.table
            if parts[1] == "rule":
                assert parts[2] in rules[table], kind.check
            else:
                assert parts[1] in columns[table], kind.check
                assert parts[2] in {"not_null", "unique", "range", "allowed_values", "pattern", "foreign_key"}


def test_rate_zero_changes_nothing() -> None:
    clean, expected = _chunk(0.0)
    again, _ = _chunk(0.0)
    assert expected == {}
    for table in TABLES:
        assert not _changed_rows(clean[table], again[table]).any()


@pytest.mark.parametrize("rate", [0.02, 0.2, 0.45])
def test_defects_are_disjoint_and_counted(rate: float) -> None:
    clean, _ = _chunk(0.0)
    dirty, expected = _chunk(rate)
    assert expected, "some defects injected"
    for table, kinds in DEFECT_KINDS.items():
        n = len(clean[table])
        duplicates = sum(
            v // 2 for k, v in expected.items() if k.startswith(f"{table}.") and k.endswith(".unique")
        )
        in_place = sum(
            v for k, v in expected.items() if k.startswith(f"{table}.") and not k.endswith(".unique")
        )
        assert len(dirty[table]) == n + duplicates, table
        # one changed row per in-place defect: the rows are disjoint
        assert _changed_rows(clean[table], dirty[table]).sum() == in_place, table
        assert in_place + duplicates <= rate * n * 1.2 + len(kinds), table


def test_duplicates_copy_clean_rows() -> None:
    dirty, expected = _chunk(0.2)
    for table, key in (("patients", "national_id"), ("episodes", "episode_id")):
        frame = dirty[table]
        copies = expected[f"{table}.{key}.unique"] // 2
        values = frame[key].values
        if values.ndim == 2:
            values = values.view(f"S{values.shape[1]}").ravel()
        original, appended = values[:-copies], values[-copies:]
        assert np.isin(appended, original).all()
        assert len(np.unique(original)) == len(original)
        assert len(np.unique(appended)) == copies


def test_orphan_national_ids_keep_the_pattern() -> None:
    dirty, expected = _chunk(0.2)
    ids = dirty["prescriptions"]["national_id"].values.view("S11").ravel()
    patients = dirty["patients"]["national_id"].values.view("S11").ravel()
    orphans = ~np.isin(ids, patients)
    assert orphans.sum() == expected["prescriptions.national_id.foreign_key"]
    assert all(x.isdigit() and len(x) == 11 for x in ids[orphans].astype(str))
