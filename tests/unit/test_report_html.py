"""HTML report: renders a hand-built run, escapes everything, never shows restricted values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hdc_toolkit.contracts.loader import load_contract
from hdc_toolkit.contracts.report_html import render_html_report, write_html_report
from hdc_toolkit.results import Check, Run, Verdict

ROOT = Path(__file__).resolve().parents[2]
# Values planted in restricted places: none may appear in any report.
SECRET_ID = "31129912345"
SECRET_TOP = "01017054321"
SECRET_MIN = "00000000001"
SECRET_MAX = "99999999998"
SECRET_PAIR = "SECRET-PAIR-VALUE"
PLANTED = (SECRET_ID, SECRET_TOP, SECRET_MIN, SECRET_MAX, SECRET_PAIR)


def _run() -> Run:
    run = Run(
        name="validate patients",
        metadata={
            "contract_id": "urn:hdc:contract:source:patients",
            "contract_version": "1.0.0",
            "table": "patients",
            "data": "/data/extract/patients/",
            "rows": 1234567,
            "files": ["/data/extract/patients/part-0.parquet", "/data/extract/patients/part-1.parquet"],
            "profile": {
                "national_id": {"logical_type": "string", "classification": "direct_identifier", "null_count": 0,
                                "min": SECRET_MIN, "max": SECRET_MAX, "distinct": 1234560, "top": [[SECRET_TOP, 2]]},
                "sex": {"logical_type": "string", "classification": "quasi_identifier", "null_count": 3,
                        "min": "F", "max": "M", "distinct": 3, "top": [["F", 600000], ["M", 600000], ["<b>X</b>", 7]]},
                "birth_date": {"logical_type": "date", "classification": "quasi_identifier", "null_count": 0,
                               "min": "1901-02-03", "max": "2025-12-30"},
            },
        },
    )  # fmt: skip
    run.checks = [
        Check("patients.schema", "schema", Verdict.PASSED, "patients", None, "all columns present", 1234567, 0,
              details={"description": "every contract column is present and no other column is"}),
        Check("patients.national_id.pattern", "pattern", Verdict.FAILED, "patients", "national_id",
              "2 values do not match", 1234567, 2, examples=[SECRET_ID, "***"],
              details={"description": "matches ^[0-9]{11}$", "threshold": "mustBe 0 rows"}),
        Check("patients.sex.allowed_values", "allowed_values", Verdict.FAILED, "patients", "sex",
              "7 values not allowed: <script>alert('x')</script>", 1234567, 7, examples=["<b>X</b>", "Q"],
              details={"description": "one of 2 allowed values", "threshold": "mustBe 0 rows"}),
        Check("patients.rule.death_not_before_birth", "pair", Verdict.WARNING, "patients", None,
              "1 row", 1234567, 1, examples=[[SECRET_PAIR, "1990-01-01"]],
              details={"description": "no row where death_date < birth_date", "left": "death_date", "right": "national_id"}),
        Check("patients.birth_date.range", "range", Verdict.PASSED, "patients", "birth_date", "", 1234567, 0,
              details={"description": "within [1900-01-01, 2026-12-31]"}),
    ]  # fmt: skip
    return run.finish()


@pytest.fixture(scope="module")
def contract():  # type: ignore[no-untyped-def]
    return load_contract(ROOT / "data_contracts" / "patients.odcs.yaml")


def test_report_renders_summary_checks_and_profile(tmp_path: Path, contract) -> None:  # type: ignore[no-untyped-def]
    path = write_html_report(_run(), tmp_path / "out" / "report.html", contract=contract)
    assert path == tmp_path / "out" / "report.html" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # atomic: no temporary left behind
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for text in ("urn:hdc:contract:source:patients", "1.0.0", "/data/extract/patients/", "1,234,567",
                 "part-1.parquet", "patients.sex.allowed_values", "patients.national_id.pattern", "Generated"):
        assert text in html, text  # fmt: skip
    assert 'class="badge failed"' in html and 'class="banner failed"' in html
    # failing checks come first, with count and fraction
    assert html.index("patients.national_id.pattern") < html.index("patients.schema")
    assert "0.000567%" in html and "0.000162%" in html
    # counts per verdict
    assert re.search(r"<b>2</b><span class=\"badge failed\">failed</span>", html)
    assert re.search(r"<b>1</b><span class=\"badge warning\">warning</span>", html)
    # a profile row for a non-restricted column shows its values
    assert "1901-02-03" in html and "600,000" in html


def test_report_escapes_html(tmp_path: Path, contract) -> None:  # type: ignore[no-untyped-def]
    html = write_html_report(_run(), tmp_path / "r.html", contract=contract).read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>X</b>" not in html and "&lt;b&gt;X&lt;/b&gt;" in html


def test_report_is_self_contained(tmp_path: Path, contract) -> None:  # type: ignore[no-untyped-def]
    html = write_html_report(_run(), tmp_path / "r.html", contract=contract).read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html and "@import" not in html and "src=" not in html
    assert "<style>" in html


@pytest.mark.parametrize("with_contract", [True, False])
def test_restricted_values_never_appear(tmp_path: Path, contract, with_contract: bool) -> None:  # type: ignore[no-untyped-def]
    html = render_html_report(_run(), contract=contract if with_contract else None)
    for secret in PLANTED:
        assert secret not in html, secret
    assert "masked (restricted column)" in html
    # the non-restricted column's examples are shown (escaped)
    assert "<code>Q</code>" in html


def test_profile_of_restricted_column_masked_by_contract_alone(contract) -> None:  # type: ignore[no-untyped-def]
    run = _run()
    run.metadata["profile"]["national_id"]["classification"] = "other"  # a wrong profile must not leak
    run.checks[1].details["masked"] = False
    html = render_html_report(run, contract=contract)
    for secret in PLANTED:
        assert secret not in html, secret


def test_minimal_run_renders(tmp_path: Path) -> None:
    html = write_html_report(Run(name="empty"), tmp_path / "e.html").read_text(encoding="utf-8")
    assert "No checks ran." in html and "No profile in this run." in html and "passed" in html
