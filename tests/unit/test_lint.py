"""``lint_paths``: loader problems and cross-file checks, each with file and line; never a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hdc_toolkit.contracts.lint import lint_paths
from hdc_toolkit.results import Verdict

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "data_contracts"
MESSAGE = re.compile(r"^(?P<file>[^:]+)(?::(?P<line>\d+))?: ")


def _doc(table: str, properties: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": f"urn:test:{table}",
        "version": "1.0.0",
        "status": "active",
        "schema": [{"name": table, "physicalType": "table", "properties": properties, **extra}],
    }


def _prop(name: str, ltype: str = "string", classification: str = "other", **extra: Any) -> dict[str, Any]:
    customs = [{"property": "classification", "value": classification}]
    customs += [{"property": k, "value": v} for k, v in extra.pop("custom", {}).items()]
    return {"name": name, "logicalType": ltype, "customProperties": customs, **extra}


def _write(path: Path, doc: Any) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _failed(run: Any) -> list[Any]:
    return [c for c in run.checks if c.verdict is Verdict.FAILED]


def _by_rule(run: Any, rule: str) -> list[Any]:
    return [c for c in run.checks if c.details.get("rule") == rule]


def test_our_contracts_lint_clean() -> None:
    paths = sorted(CONTRACTS.glob("*.yaml"))
    assert len(paths) >= 5
    run = lint_paths(paths)
    assert not _failed(run), "\n".join(c.message for c in _failed(run))
    assert run.passed
    assert run.metadata["errors"] == 0
    assert set(run.metadata["tables"]) >= {"patients", "episodes", "diagnoses", "lab_results", "prescriptions"}


def test_one_contract_resolves_relationships_from_its_siblings() -> None:
    run = lint_paths([CONTRACTS / "diagnoses.odcs.yaml"])  # references episodes and patients
    assert not _failed(run), [c.message for c in _failed(run)]


def test_relationship_to_a_table_in_no_file_is_an_error(tmp_path: Path) -> None:
    shutil.copy(CONTRACTS / "episodes.odcs.yaml", tmp_path / "episodes.odcs.yaml")  # patients missing
    run = lint_paths([tmp_path / "episodes.odcs.yaml"])
    [check] = _by_rule(run, "fk_missing_table")
    assert check.verdict is Verdict.FAILED
    assert check.table == "episodes" and check.column == "national_id"
    assert "'patients'" in check.message
    m = MESSAGE.match(check.message)
    assert m and m["line"] and m["file"].endswith("episodes.odcs.yaml")
    assert "relationships[0].to" in check.message


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("apiVersion: v3.1.0\nkind: DataContract\nid: x\n  version: [1.0\n", "malformed YAML"),
        ("", "empty"),
        ("- just\n- a list\n", "mapping"),
        ("apiVersion: v2.2.2\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\n", "v2"),
        ("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nbogusField: 1\n", "unknown field"),
        ("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nschema: 12\n", "expected array"),
        ("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n"
         "    properties:\n      - name: a\n        logicalType: text\n", "logicalType"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("? [1, 2]\n: x\n", "YAML"),
        ("\x00\x01binary", "YAML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_a_problem_with_file_and_line(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.odcs.yaml"
    path.write_text(content, encoding="utf-8")
    run = lint_paths([path])
    failed = _failed(run)
    assert failed, [c.message for c in run.checks]
    assert any(needle.lower() in c.message.lower() for c in failed), [c.message for c in failed]
    for check in failed:
        assert check.key.startswith(f"lint.{path}.")
        assert check.message.startswith(str(path))
        assert check.details["file"] == str(path)
    if content.strip() and needle not in ("mapping",):
        assert any(c.details["line"] for c in failed), [c.message for c in failed]


def test_a_directory_and_a_missing_file_are_problems(tmp_path: Path) -> None:
    run = lint_paths([tmp_path, tmp_path / "nope.yaml"])
    messages = [c.message for c in _failed(run)]
    assert any("directory" in m for m in messages)
    assert any("not found" in m for m in messages)
    assert not run.passed


def test_not_utf8_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.odcs.yaml"
    path.write_bytes("description: caf\xe9\n".encode("latin-1"))
    run = lint_paths([path])
    assert _failed(run)


def test_message_format_and_unique_keys(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.odcs.yaml", _doc("t", [_prop("a", "date", logicalTypeOptions={"minimum": "2020-01-01", "maximum": "2019-01-01"})]))
    run = lint_paths([path])
    keys = [c.key for c in run.checks]
    assert len(keys) == len(set(keys))
    [check] = [c for c in _failed(run) if "impossible range" in c.message]
    assert check.key == f"lint.{path}.1"
    assert re.match(rf"^{re.escape(str(path))}:\d+: schema\[0\]\.properties\[0\]\.logicalTypeOptions: impossible range", check.message)
    assert check.table == "t" and check.column == "a"


def _lint_one(tmp_path: Path, properties: list[dict[str, Any]], **extra: Any) -> Any:
    return lint_paths([_write(tmp_path / "t.odcs.yaml", _doc("t", properties, **extra))])


def test_unknown_type_is_an_error(tmp_path: Path) -> None:
    run = _lint_one(tmp_path, [_prop("a", "uuid")])
    assert any("logicalType" in c.message and "uuid" in c.message for c in _failed(run))


def test_pattern_outside_portable_subset_is_an_error(tmp_path: Path) -> None:
    run = _lint_one(tmp_path, [_prop("a", logicalTypeOptions={"pattern": "^(?=A)[A-Z]+$"})])
    [check] = _failed(run)
    assert "portable subset" in check.message and check.details["line"]
    run = _lint_one(tmp_path, [_prop("a", logicalTypeOptions={"pattern": r"^(a)\1$"})])
    assert _failed(run)


def test_allowed_values_outside_the_range(tmp_path: Path) -> None:
    rule = {"metric": "invalidValues", "arguments": {"validValues": [200, 300]}, "mustBe": 0}
    run = _lint_one(tmp_path, [_prop("a", "integer", logicalTypeOptions={"minimum": 0, "maximum": 120}, quality=[rule])])
    assert [c.details["rule"] for c in _failed(run)] == ["impossible_range"]
    rule["arguments"]["validValues"] = [1, 300]
    run = _lint_one(tmp_path, [_prop("a", "integer", logicalTypeOptions={"minimum": 0, "maximum": 120}, quality=[rule])])
    assert not _failed(run) and _by_rule(run, "impossible_range")[0].verdict is Verdict.WARNING


def test_coarsening_must_fit_the_type(tmp_path: Path) -> None:
    run = _lint_one(tmp_path, [_prop("d", "date", "quasi_identifier", custom={"coarsening": ["month", "county"]})])
    [check] = _failed(run)
    assert check.details["rule"] == "coarsening_not_applicable" and "'county'" in check.message and "date" in check.message
    run = _lint_one(tmp_path, [_prop("age", "integer", "quasi_identifier", custom={"coarsening": ["5y_band", "day"]})])
    assert ["'day'" in c.message for c in _failed(run)] == [True]


def test_direct_identifier_without_pseudonymisation_is_a_warning(tmp_path: Path) -> None:
    run = _lint_one(tmp_path, [_prop("pid", classification="direct_identifier")])
    [check] = _by_rule(run, "no_pseudonymisation")
    assert check.verdict is Verdict.WARNING and run.passed
    run = _lint_one(tmp_path, [_prop("pid", classification="direct_identifier", custom={"pseudonymisation": "hashed"})])
    assert [c.details["rule"] for c in _failed(run)] == ["unknown_pseudonymisation"]


def test_restricted_examples_and_missing_classification_are_warnings(tmp_path: Path) -> None:
    prop = _prop("pid", classification="direct_identifier", custom={"pseudonymisation": "keyed"}, examples=["01010112345"])
    bare = {"name": "x", "logicalType": "string"}
    run = _lint_one(tmp_path, [prop, bare])
    assert {c.details["rule"] for c in run.checks if c.verdict is Verdict.WARNING} == {"restricted_examples", "no_classification"}
    assert run.passed


def test_duplicate_table_names(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.odcs.yaml", _doc("t", [_prop("x")]))
    b = _write(tmp_path / "b.odcs.yaml", _doc("t", [_prop("y")]))
    run = lint_paths([a, b])
    [check] = _failed(run)
    assert check.details["rule"] == "duplicate_table" and str(a) in check.message and check.message.startswith(str(b))


def test_foreign_key_checks(tmp_path: Path) -> None:
    parent = _doc("parent", [_prop("id", "integer", primaryKey=True, unique=True, required=True), _prop("code", "string"),
                             _prop("n", "number")])  # fmt: skip
    _write(tmp_path / "parent.odcs.yaml", parent)
    child = _doc(
        "child",
        [
            _prop("ok", "integer", relationships=[{"type": "foreignKey", "to": "parent.id"}]),
            _prop("no_col", "integer", relationships=[{"type": "foreignKey", "to": "parent.nope"}]),
            _prop("not_unique", "string", relationships=[{"type": "foreignKey", "to": "parent.code"}]),
            _prop("wrong_type", "string", relationships=[{"type": "foreignKey", "to": "parent.id"}]),
            _prop("numeric", "integer", relationships=[{"type": "foreignKey", "to": "parent.n"}]),
            _prop("no_table", "integer", relationships=[{"type": "foreignKey", "to": "ghost.id"}]),
        ],
    )
    path = _write(tmp_path / "child.odcs.yaml", child)
    run = lint_paths([path])  # parent is found as a sibling
    rules = {(c.column, c.details["rule"]): c.verdict for c in run.checks if c.details.get("rule") != "load"}
    assert ("ok", "fk_missing_column") not in rules
    assert rules[("no_col", "fk_missing_column")] is Verdict.FAILED
    assert rules[("not_unique", "fk_target_not_unique")] is Verdict.WARNING
    assert rules[("wrong_type", "fk_type_mismatch")] is Verdict.FAILED
    assert rules[("numeric", "fk_type_mismatch")] is Verdict.WARNING
    assert rules[("numeric", "fk_target_not_unique")] is Verdict.WARNING
    assert rules[("no_table", "fk_missing_table")] is Verdict.FAILED
    assert not any(c.column == "ok" for c in run.checks)


def test_pair_rule_on_incomparable_types(tmp_path: Path) -> None:
    rule = {"name": "r", "type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE a < b", "mustBe": 0}
    run = _lint_one(tmp_path, [_prop("a", "date"), _prop("b", "string")], quality=[rule])
    assert [c.details["rule"] for c in _failed(run)] == ["pair_type_mismatch"]
    run = _lint_one(tmp_path, [_prop("a", "date"), _prop("b", "timestamp")], quality=[rule])
    assert not _failed(run)


def test_arrow_physical_type_outside_the_family_is_a_warning(tmp_path: Path) -> None:
    run = _lint_one(tmp_path, [_prop("a", "string", physicalType="int64"), _prop("b", "date", physicalType="DATETIME")])
    [check] = _by_rule(run, "physical_type_mismatch")
    assert check.column == "a" and check.verdict is Verdict.WARNING


def test_the_published_examples_lint_without_crashing() -> None:
    fixtures = sorted((ROOT / "tests" / "fixtures" / "odcs").rglob("*.yaml"))
    run = lint_paths(fixtures)
    assert len(run.checks) >= len(fixtures)
    # the standard's relationships example points at a column its own table lacks (a slip we catch)
    assert any(c.details.get("rule") == "fk_missing_column" and "address_street" in c.message for c in run.checks)
