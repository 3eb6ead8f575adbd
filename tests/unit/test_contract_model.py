"""Loading contracts into frozen models and compiling them into checks."""

import dataclasses
import datetime as dt

import pytest

from hdc_toolkit.contracts import CheckKind, compile_checks, load_contract, load_contract_dir, load_document
from hdc_toolkit.contracts.model import Threshold
from hdc_toolkit.exceptions import ContractError

CONTRACTS = "data_contracts"


def test_demo_contracts_load_without_problems():
    contracts = load_contract_dir(CONTRACTS)
    assert set(contracts) == {"patients", "episodes", "diagnoses", "prescriptions", "lab_results"}
    for c in contracts.values():
        assert c.warnings == ()


def test_contract_is_frozen_and_typed():
    c = load_contract(f"{CONTRACTS}/patients.odcs.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.name = "x"  # type: ignore[misc]
    nid = c.column("national_id")
    assert nid.is_direct_identifier and nid.restricted and nid.pseudonymisation == "keyed"
    assert c.column("birth_date").minimum == dt.date(1900, 1, 1)
    assert c.column("municipality").coarsening == ("county",)


def test_check_keys_and_masking():
    checks = {s.key: s for s in compile_checks(load_contract(f"{CONTRACTS}/episodes.odcs.yaml"))}
    assert checks["episodes.national_id.foreign_key"].params == {"ref_table": "patients", "ref_column": "national_id"}
    assert checks["episodes.national_id.pattern"].masked
    assert not checks["episodes.department.allowed_values"].masked
    rule = checks["episodes.rule.discharge_not_before_admission"]
    assert rule.kind is CheckKind.PAIR and rule.params == {"left": "discharge_time", "op": "<", "right": "admission_time"}
    assert checks["episodes.row_count"].params == {"min": 1, "max": None}


@pytest.mark.parametrize(
    ("threshold", "failing", "total", "ok"),
    [
        (Threshold(), 0, 10, True),
        (Threshold(), 1, 10, False),
        (Threshold("mustBeLessThan", 5, "percent"), 4, 100, True),
        (Threshold("mustBeLessThan", 5, "percent"), 5, 100, False),
        (Threshold("mustBeBetween", [1, 3]), 1, 10, True),  # inclusive at both ends
        (Threshold("mustBeBetween", [1, 3]), 3, 10, True),
        (Threshold("mustBeBetween", [1, 3]), 4, 10, False),
    ],
)
def test_threshold_semantics(threshold, failing, total, ok):
    assert threshold.passes(failing, total) is ok


def _write(tmp_path, text):
    p = tmp_path / "c.odcs.yaml"
    p.write_text(text)
    return p


HEAD = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nstatus: active\n"


def test_unknown_field_names_line_and_field(tmp_path):
    p = _write(tmp_path, HEAD + "schema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: string\n        colour: red\n")
    doc = load_document(p, strict=False)
    [err] = doc.errors
    assert err.line == 11 and "colour" in err.message


def test_impossible_range_and_unsafe_regex(tmp_path):
    p = _write(
        tmp_path,
        HEAD + "schema:\n  - name: t\n    properties:\n"
        "      - name: a\n        logicalType: integer\n        logicalTypeOptions: {minimum: 5, maximum: 1}\n"
        "      - name: b\n        logicalType: string\n        logicalTypeOptions: {pattern: '^(?=x)y$'}\n",
    )
    messages = [str(e) for e in load_document(p, strict=False).errors]
    assert any("impossible range" in m for m in messages)
    assert any("portable subset" in m for m in messages)
    with pytest.raises(ContractError):
        load_document(p)


def test_v2_refused_and_unused_features_warn(tmp_path):
    v2 = _write(tmp_path, HEAD.replace("v3.1.0", "v2.2.2"))
    assert any("migrate" in e.message for e in load_document(v2, strict=False).errors)
    p = tmp_path / "servers.odcs.yaml"
    p.write_text(HEAD + "servers:\n  - server: prod\n    type: postgres\n    host: db\n    port: 5432\n    database: d\n    schema: s\nschema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: string\n")
    doc = load_document(p)
    assert doc.errors == () and any(w.field == "servers" for w in doc.warnings)
