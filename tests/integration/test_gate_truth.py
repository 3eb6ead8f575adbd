"""The quality gate against known truth: a clean demo extract passes; a defective one fails with
failing counts that equal the injected defects exactly, check by check."""

import json

import pytest

from hdc_toolkit.cli import main
from hdc_toolkit.contracts import load_contract_dir
from hdc_toolkit.contracts.validate import validate_extract
from hdc_toolkit.demo import generate_extract

CONTRACTS = "data_contracts"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "source"
    generate_extract(out, patients=3000, seed=11, chunk_size=1000)
    return out


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    out = tmp_path_factory.mktemp("defective") / "source"
    generate_extract(out, patients=3000, seed=12, defect_rate=0.02, chunk_size=1000)
    return out


def test_clean_extract_passes_every_check(clean):
    runs = validate_extract(load_contract_dir(CONTRACTS), clean)
    failing = {c.key: c.failing_count for r in runs.values() for c in r.checks if c.verdict.value != "passed"}
    assert failing == {}
    assert sum(len(r.checks) for r in runs.values()) >= 100


def test_defective_extract_counts_match_injected_truth(defective):
    expected = json.loads((defective / "defects.json").read_text())["expected"]
    assert len(expected) >= 10, "the generator should inject every kind of defect"
    runs = validate_extract(load_contract_dir(CONTRACTS), defective)
    got = {c.key: c.failing_count for r in runs.values() for c in r.checks if c.failing_count}
    assert got == expected
    for r in runs.values():
        for c in r.checks:
            assert (c.verdict.value == "failed") == (c.key in expected), c.key


def test_cli_exit_codes_and_reports(clean, defective, tmp_path):
    assert main(["contract", "validate", CONTRACTS, str(clean), "-q"]) == 0
    out_json, out_html = tmp_path / "gate.json", tmp_path / "gate.html"
    assert main(["contract", "validate", CONTRACTS, str(defective), "--json", str(out_json), "--html", str(out_html), "-q"]) == 1
    result = json.loads(out_json.read_text())
    assert result["passed"] is False
    for check in result["checks"]:
        assert {"key", "column", "kind", "verdict", "failing_count"} <= set(check)
    html = out_html.read_text()
    # no value of a restricted column (national ids, ICD-10/ATC codes, lab values) in either report
    import pyarrow.parquet as pq

    nids = set(pq.read_table(defective / "patients", columns=["national_id"]).column(0).to_pylist())
    text = out_json.read_text() + html
    assert not any(n in text for n in list(nids)[:3000])


def test_failing_values_of_sensitive_columns_are_masked(defective, tmp_path):
    import re

    import pyarrow.parquet as pq

    out_json, out_html = tmp_path / "gate.json", tmp_path / "gate.html"
    main(["contract", "validate", CONTRACTS, str(defective), "--json", str(out_json), "--html", str(out_html), "-q"])
    codes = pq.read_table(defective / "diagnoses", columns=["icd10_code"]).column(0).to_pylist()
    bad = {c for c in codes if c is not None and not re.search(r"^[A-TV-Z][0-9]{2}[0-9A-Z]{0,2}$", c)}
    assert bad, "the defective extract should hold invalid (sensitive) ICD-10 codes"
    report = json.loads(out_json.read_text())
    check = next(c for c in report["checks"] if c["key"] == "diagnoses.icd10_code.pattern")
    assert check["failing_count"] == len([c for c in codes if c in bad]) and check["examples"] == ["***"]
    text = out_json.read_text() + out_html.read_text()
    assert not [c for c in bad if f'"{c}"' in text or f">{c}<" in text]
