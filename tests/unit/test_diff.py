"""Breaking-change diff: every change is classified, keyed and explained as ``old → new``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from hdc_toolkit.contracts.diff import diff_contracts, diff_paths
from hdc_toolkit.contracts.loader import load_contract
from hdc_toolkit.contracts.model import Column, CompoundUnique, Contract, PairRule, Reference, RowCountRule
from hdc_toolkit.exceptions import ContractError
from hdc_toolkit.results import Verdict

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "data_contracts" / "patients.odcs.yaml"

F, P, W = Verdict.FAILED, Verdict.PASSED, Verdict.WARNING


@pytest.fixture(scope="module")
def old() -> Contract:
    return load_contract(PATIENTS)


def _with(contract: Contract, column: str, **changes: Any) -> Contract:
    cols = tuple(dataclasses.replace(c, **changes) if c.name == column else c for c in contract.columns)
    return dataclasses.replace(contract, columns=cols, version="2.0.0")


def _verdicts(run: Any) -> dict[str, Verdict]:
    return {c.key: c.verdict for c in run.checks}


def test_identical_contracts_are_unchanged(old: Contract) -> None:
    run = diff_contracts(old, old)
    assert _verdicts(run) == {"diff.patients.unchanged": P}
    assert run.passed and run.metadata["breaking"] == 0


@pytest.mark.parametrize(
    ("column", "changes", "key", "verdict", "texts"),
    [
        ("birth_date", {"logical_type": "timestamp"}, "type_widened", W, ["date → timestamp"]),
        ("sex", {"logical_type": "integer"}, "type_narrowed", F, ["string → integer"]),
        ("death_date", {"logical_type": "boolean"}, "type_changed", F, ["date → boolean"]),
        ("death_date", {"required": True}, "became_required", F, ["optional → required"]),
        ("sex", {"required": False}, "became_optional", P, ["required → optional"]),
        ("birth_date", {"minimum": dt.date(1950, 1, 1)}, "min_tightened", F, [">= 1900-01-01 → >= 1950-01-01"]),
        ("birth_date", {"minimum": dt.date(1850, 1, 1)}, "min_relaxed", P, [">= 1900-01-01 → >= 1850-01-01"]),
        ("birth_date", {"maximum": dt.date(2020, 1, 1)}, "max_tightened", F, ["<= 2026-12-31 → <= 2020-01-01"]),
        ("birth_date", {"maximum": None}, "max_relaxed", P, ["<= 2026-12-31 → no bound"]),
        ("birth_date", {"exclusive_minimum": True}, "min_tightened", F, [">= 1900-01-01 → > 1900-01-01"]),
        ("sex", {"allowed_values": ("F",)}, "allowed_values_shrunk", F, ["['M'] no longer allowed", "['F', 'M'] → ['F']"]),
        ("sex", {"allowed_values": ("F", "M", "X")}, "allowed_values_extended", P, ["['F', 'M'] → ['F', 'M', 'X']"]),
        ("sex", {"allowed_values": None}, "allowed_values_removed", P, ["→ any value"]),
        ("municipality", {"pattern": "^[0-9]{3}$"}, "pattern_changed", F, ["^[0-9]{4}$ → ^[0-9]{3}$"]),
        ("municipality", {"pattern": None}, "pattern_removed", P, ["^[0-9]{4}$ → none"]),
        ("sex", {"pattern": "^[FM]$"}, "pattern_added", F, ["none → ^[FM]$"]),
        ("sex", {"unique": True}, "became_unique", F, ["duplicates allowed → unique"]),
        ("sex", {"references": (Reference("codes", "sex"),)}, "foreign_key_added", F, ["no foreign key → codes.sex"]),
        ("birth_date", {"classification": "sensitive"}, "classification_restricted", W, ["quasi_identifier → sensitive", "minimisation"]),
        ("birth_date", {"classification": "other"}, "classification_relaxed", W, ["quasi_identifier → other"]),
        ("birth_date", {"coarsening": ("year",)}, "coarsening_changed", W, ["month"]),
        ("national_id", {"pseudonymisation": None}, "pseudonymisation_changed", W, ["keyed → none"]),
        ("sex", {"description": "Sex at birth, recorded."}, "description_changed", P, ["→ Sex at birth, recorded."]),
        ("sex", {"min_length": 2}, "min_length_tightened", F, ["no bound → >= 2"]),
        ("sex", {"physical_type": "large_string"}, "physical_type_changed", W, ["string → large_string"]),
    ],
)  # fmt: skip
def test_column_change(old: Contract, column: str, changes: dict[str, Any], key: str, verdict: Verdict, texts: list[str]) -> None:
    run = diff_contracts(old, _with(old, column, **changes))
    checks = run.by_key()
    full = f"diff.patients.{column}.{key}"
    assert full in checks, list(checks)
    check = checks[full]
    assert check.verdict is verdict
    assert check.table == "patients" and check.column == column and check.kind == "diff"
    assert "→" in check.message
    for text in texts:
        assert text in check.message, check.message
    assert check.details["breaking"] is (verdict is F)
    others = {k: v for k, v in _verdicts(run).items() if k != full}
    assert all(v is not F for v in others.values()), others
    assert run.passed is (verdict is not F)


def test_removed_and_added_columns(old: Contract) -> None:
    renamed = _with(old, "municipality", name="municipality_code")
    run = diff_contracts(old, renamed)
    checks = run.by_key()
    removed = checks["diff.patients.municipality.removed"]
    assert removed.verdict is F and "possibly renamed to 'municipality_code'" in removed.message
    assert "column municipality (string) → no column" in removed.message
    assert checks["diff.patients.municipality_code.added_required"].verdict is F

    extra = Column(name="note", logical_type="string")
    run = diff_contracts(old, dataclasses.replace(old, columns=(*old.columns, extra)))
    assert _verdicts(run) == {"diff.patients.note.added": P}
    run = diff_contracts(old, dataclasses.replace(old, columns=(*old.columns, dataclasses.replace(extra, required=True)), version="2.0.0"))
    assert _verdicts(run) == {"diff.patients.note.added_required": F}


def test_number_to_integer_is_narrowing() -> None:
    a = Contract(name="t", columns=(Column("x", "number"), Column("y", "timestamp")), version="1.0.0")
    b = Contract(name="t", columns=(Column("x", "integer"), Column("y", "date")), version="2.0.0")
    v = _verdicts(diff_contracts(a, b))
    assert v == {"diff.t.x.type_narrowed": F, "diff.t.y.type_narrowed": F}
    assert _verdicts(diff_contracts(b, a)) == {"diff.t.x.type_widened": W, "diff.t.y.type_widened": W}


def test_table_level_changes(old: Contract) -> None:
    new = dataclasses.replace(
        old,
        row_count=RowCountRule(minimum=100, maximum=None, name="has_rows"),
        pair_rules=(*old.pair_rules, PairRule("sex_rule", "birth_date", ">", "death_date")),
        compound_unique=(CompoundUnique("u", ("sex", "birth_date")),),
        version="2.0.0",
    )
    v = _verdicts(diff_contracts(old, new))
    assert v["diff.patients.row_count_min_tightened"] is F
    assert v["diff.patients.rule.sex_rule.added"] is F
    assert v["diff.patients.unique.birth_date+sex.added"] is F
    back = _verdicts(diff_contracts(new, old))
    assert back["diff.patients.row_count_min_relaxed"] is P
    assert back["diff.patients.rule.sex_rule.removed"] is P
    assert back["diff.patients.unique.birth_date+sex.removed"] is P


def test_breaking_change_without_major_bump_is_flagged(old: Contract) -> None:
    new = dataclasses.replace(_with(old, "death_date", required=True), version="1.1.0")
    check = diff_contracts(old, new).by_key()["diff.patients.version_not_major"]
    assert check.verdict is W and "1.0.0 → 1.1.0" in check.message


def test_diff_paths_tables_and_errors(tmp_path: Path) -> None:
    old_path = tmp_path / "old.odcs.yaml"
    shutil.copy(PATIENTS, old_path)
    text = PATIENTS.read_text(encoding="utf-8")
    new_path = tmp_path / "new.odcs.yaml"
    new_path.write_text(text.replace("  - name: patients\n", "  - name: persons\n", 1), encoding="utf-8")
    run = diff_paths(old_path, new_path)
    v = _verdicts(run)
    assert v == {"diff.patients.table_removed": F, "diff.persons.table_added": P}
    assert "→ no table" in run.by_key()["diff.patients.table_removed"].message
    assert run.metadata["breaking"] == 1 and not run.passed

    tightened = tmp_path / "tight.odcs.yaml"
    tightened.write_text(text.replace('minimum: "1900-01-01"', 'minimum: "1950-01-01"', 1), encoding="utf-8")
    run = diff_paths(old_path, tightened)
    assert run.by_key()["diff.patients.birth_date.min_tightened"].verdict is F

    broken = tmp_path / "broken.odcs.yaml"
    broken.write_text("apiVersion: v3.1.0\nkind: [\n", encoding="utf-8")
    with pytest.raises(ContractError):
        diff_paths(old_path, broken)
