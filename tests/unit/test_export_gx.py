"""The contract → GX 1.x suite compiler, the validator-run → GX result converter, and the exporter registry.

Everything here runs without importing Great Expectations, except the few tests marked ``gx`` in
their name, which share one import through a module fixture.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.contracts import exporters, load_contract_dir
from hdc_toolkit.contracts.checks import compile_checks
from hdc_toolkit.contracts.export_gx import (
    GX_TYPE_FAMILIES,
    SAFE_RESULT_FORMAT,
    contract_to_gx_suite,
    expectation_for_check,
    gx_regex,
    suite_name,
    unmapped_checks,
)
from hdc_toolkit.contracts.gx_results import run_to_gx_result
from hdc_toolkit.contracts.model import Column, CompoundUnique, Contract, PairRule, Reference, RowCountRule, Threshold
from hdc_toolkit.exceptions import MissingExtraError, NotFoundError
from hdc_toolkit.results import Check, Run, Verdict

REPO = Path(__file__).resolve().parents[2]


def make_contract(**overrides: Any) -> Contract:
    cols = (
        Column("pid", "string", "string", required=True, unique=True, primary_key=True, classification="direct_identifier",
               pattern="^[0-9]{11}$"),
        Column("age", "integer", "int16", required=True, minimum=0, maximum=120, exclusive_maximum=True),
        Column("weight", "number", "double", minimum=0.5, maximum=None),
        Column("icd", "string", "string", classification="sensitive", pattern="^[A-Z][0-9]{2}", min_length=3, max_length=5),
        Column("sex", "string", "string", allowed_values=("F", "M"),
               allowed_threshold=Threshold("mustBeLessOrEqualTo", 5, "percent")),
        Column("phone", "string", "string", required=True, not_null_threshold=Threshold("mustBeLessOrEqualTo", 10, "percent")),
        Column("born", "date", "date32", minimum=dt.date(1900, 1, 1), maximum=dt.date(2026, 12, 31)),
        Column("died", "date", "date32", references=(Reference("deaths", "date"),)),
        Column("seen", "timestamp", "timestamp[ms]", minimum=dt.datetime(2000, 1, 1), maximum=dt.datetime(2026, 12, 31, 23, 59, 59)),
        Column("seen_utc", "timestamp", "timestamp[us, tz=UTC]", minimum=dt.datetime(2000, 1, 1)),
        Column("tags", "array", None),
        Column("ward", "string", "string"),
    )  # fmt: skip
    kw: dict[str, Any] = {
        "name": "t",
        "columns": cols,
        "contract_id": "urn:test:t",
        "version": "1.2.3",
        "pair_rules": (PairRule("died_after_born", "died", "<", "born"),
                       PairRule("warn_rule", "age", ">=", "weight", severity="warning", threshold=Threshold("mustBeLessOrEqualTo", 3, "rows"))),
        "compound_unique": (CompoundUnique("pid_seen", ("pid", "seen")),),
        "row_count": RowCountRule(1, None, "has_rows"),
    }  # fmt: skip
    kw.update(overrides)
    return Contract(**kw)


@pytest.fixture(scope="module")
def contract() -> Contract:
    return make_contract()


def by_key(suite: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["meta"]["check_key"]: e for e in suite["expectations"]}


# ---------------------------------------------------------------------------------------------------
# import weight


def test_modules_import_without_great_expectations() -> None:
    code = (
        "import sys\n"
        "import hdc_toolkit.contracts.export_gx as g, hdc_toolkit.contracts.gx_results, hdc_toolkit.contracts.exporters as e\n"
        "import hdc_toolkit.contracts.export_arrow\n"
        "from hdc_toolkit.contracts import load_contract_dir\n"
        "for c in load_contract_dir('data_contracts').values():\n"
        "    e.export(c, 'gx'); e.export(c, 'pyarrow')\n"
        "assert 'great_expectations' not in sys.modules, 'GX imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


# ---------------------------------------------------------------------------------------------------
# the suite


def test_suite_is_plain_json_with_one_expectation_per_mapped_check(contract: Contract) -> None:
    suite = contract_to_gx_suite(contract)
    assert json.loads(json.dumps(suite)) == suite
    assert suite["name"] == suite_name(contract) == "t_contract"
    keys = [e["meta"]["check_key"] for e in suite["expectations"]]
    unmapped = {u["check_key"] for u in suite["meta"]["hdc_unmapped_checks"]}
    assert unmapped == {"t.died.foreign_key", "t.tags.type"}
    assert keys == [s.key for s in compile_checks(contract) if s.key not in unmapped]  # same order, no duplicates
    for e in suite["expectations"]:
        assert e["type"].startswith("expect_")
        assert {"check_key", "check_kind", "severity", "threshold", "threshold_in_gx", "masked"} <= set(e["meta"])
        assert e["severity"] in ("critical", "warning", "info")
    assert suite["meta"]["hdc_toolkit"]["contract_id"] == "urn:test:t"
    assert suite["meta"]["hdc_toolkit"]["safe_result_format"] == SAFE_RESULT_FORMAT


def test_expectation_types_and_kwargs(contract: Contract) -> None:
    e = by_key(contract_to_gx_suite(contract))
    assert e["t.schema"]["type"] == "expect_table_columns_to_match_set"
    assert e["t.schema"]["kwargs"] == {"column_set": list(contract.column_names), "exact_match": True}
    assert e["t.pid.not_null"] == {**e["t.pid.not_null"], "type": "expect_column_values_to_not_be_null"}
    assert e["t.pid.unique"]["type"] == "expect_column_values_to_be_unique"
    assert e["t.pid.pattern"]["type"] == "expect_column_values_to_match_regex"
    assert e["t.pid.pattern"]["kwargs"]["regex"] == r"(?a)^[0-9]{11}\Z"
    assert e["t.pid.pattern"]["meta"]["contract_regex"] == "^[0-9]{11}$"
    assert e["t.age.range"]["type"] == "expect_column_values_to_be_between"
    assert e["t.age.range"]["kwargs"] == {"column": "age", "min_value": 0, "max_value": 120, "strict_min": False, "strict_max": True}
    assert e["t.weight.range"]["kwargs"]["max_value"] is None
    assert e["t.icd.length"]["type"] == "expect_column_value_lengths_to_be_between"
    assert e["t.icd.length"]["kwargs"] == {"column": "icd", "min_value": 3, "max_value": 5}
    assert e["t.sex.allowed_values"]["type"] == "expect_column_values_to_be_in_set"
    assert e["t.sex.allowed_values"]["kwargs"]["value_set"] == ["F", "M"]
    assert e["t.unique.pid_seen"]["type"] == "expect_compound_columns_to_be_unique"
    assert e["t.unique.pid_seen"]["kwargs"] == {"column_list": ["pid", "seen"], "ignore_row_if": "all_values_are_missing"}
    assert e["t.row_count"]["type"] == "expect_table_row_count_to_be_between"
    assert e["t.row_count"]["kwargs"] == {"min_value": 1, "max_value": None}
    assert e["t.rule.warn_rule"]["severity"] == "warning" and e["t.rule.warn_rule"]["meta"]["severity"] == "warning"
    assert e["t.age.range"]["severity"] == "critical" and e["t.age.range"]["meta"]["severity"] == "error"


@pytest.mark.parametrize("logical", sorted(GX_TYPE_FAMILIES))
def test_type_families(logical: str) -> None:
    c = make_contract(columns=(Column("x", logical, None),), pair_rules=(), compound_unique=())
    e = by_key(contract_to_gx_suite(c))["t.x.type"]
    assert e["type"] == "expect_column_values_to_be_in_type_list"
    assert e["kwargs"]["type_list"] == list(GX_TYPE_FAMILIES[logical])
    assert e["meta"]["logical_type"] == logical


def test_type_family_details() -> None:
    assert "float64" in GX_TYPE_FAMILIES["integer"]  # to_pandas() of an int column with nulls
    assert "date" in GX_TYPE_FAMILIES["date"] and not any(t.startswith("datetime64") for t in GX_TYPE_FAMILIES["date"])
    assert {"datetime64[ms]", "datetime64[ns]"} <= set(GX_TYPE_FAMILIES["timestamp"])
    assert "array" not in GX_TYPE_FAMILIES


def test_date_and_timestamp_bounds(contract: Contract) -> None:
    specs = {s.key: s for s in compile_checks(contract)}
    as_json = expectation_for_check(specs["t.born.range"], contract)
    native = expectation_for_check(specs["t.born.range"], contract, native=True)
    assert as_json and native
    assert as_json["kwargs"]["min_value"] == "1900-01-01" and as_json["meta"]["bound_type"] == "date"
    assert native["kwargs"]["min_value"] == dt.date(1900, 1, 1) and native["kwargs"]["max_value"] == dt.date(2026, 12, 31)
    seen = expectation_for_check(specs["t.seen.range"], contract, native=True)
    assert seen and seen["kwargs"]["max_value"] == dt.datetime(2026, 12, 31, 23, 59, 59)
    assert seen["kwargs"]["max_value"].tzinfo is None
    utc = expectation_for_check(specs["t.seen_utc.range"], contract, native=True)
    assert utc and utc["kwargs"]["min_value"] == dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)  # naive bound read as UTC


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
def test_pair_rule_mapping(op: str) -> None:
    """GX's 'A > B' (or 'A >= B') must hold exactly on the rows where 'left op right' does not."""
    c = make_contract(pair_rules=(PairRule("r", "age", op, "weight"),), compound_unique=())
    e = by_key(contract_to_gx_suite(c))["t.rule.r"]
    kw = e["kwargs"]
    assert e["type"] == "expect_column_pair_values_a_to_be_greater_than_b"
    assert kw["ignore_row_if"] == "either_value_is_missing"
    ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    for left in range(3):
        for right in range(3):
            row = {"age": left, "weight": right}
            gx_ok = row[kw["column_A"]] >= row[kw["column_B"]] if kw["or_equal"] else row[kw["column_A"]] > row[kw["column_B"]]
            assert gx_ok == (not ops[op](left, right)), (op, left, right, kw)


@pytest.mark.parametrize(
    ("threshold", "kind", "mostly", "how"),
    [
        (Threshold(), "not_null", None, "exact"),
        (Threshold("mustBeLessOrEqualTo", 10, "percent"), "not_null", 0.9, "exact"),
        (Threshold("mustBeLessThan", 10, "percent"), "not_null", 0.9, "approximate"),
        (Threshold("mustBeLessOrEqualTo", 5, "percent"), "allowed_values", 0.95, "approximate"),
        (Threshold("mustBeBetween", [0, 20], "percent"), "allowed_values", 0.8, "approximate"),
        (Threshold("mustBeLessOrEqualTo", 0, "percent"), "not_null", None, "exact"),
        (Threshold("mustBeLessOrEqualTo", 3, "rows"), "not_null", None, "stricter"),
        (Threshold("mustBeLessOrEqualTo", 0, "rows"), "not_null", None, "exact"),
        (Threshold("mustBeLessThan", 1, "rows"), "allowed_values", None, "exact"),
        (Threshold("mustBeGreaterThan", 3, "percent"), "not_null", None, "stricter"),
    ],
)
def test_thresholds_become_mostly(threshold: Threshold, kind: str, mostly: float | None, how: str) -> None:
    col = Column("x", "string", "string", required=True, not_null_threshold=threshold, allowed_values=("a",), allowed_threshold=threshold)
    c = make_contract(columns=(col,), pair_rules=(), compound_unique=())
    e = by_key(contract_to_gx_suite(c))[f"t.x.{kind}"]
    assert e["kwargs"].get("mostly") == (pytest.approx(mostly) if mostly is not None else None)
    assert e["meta"]["threshold_in_gx"].startswith(how)
    assert e["meta"]["threshold"] == threshold.describe()


def test_restricted_columns_are_marked(contract: Contract) -> None:
    e = by_key(contract_to_gx_suite(contract))
    for key in ("t.pid.pattern", "t.pid.unique", "t.icd.length", "t.unique.pid_seen"):
        meta = e[key]["meta"]
        assert meta["masked"] is True and meta["render_values"] is False, key
        assert "never be shown" in e[key]["notes"]
    assert e["t.pid.pattern"]["meta"]["classification"] == "direct_identifier"
    assert e["t.unique.pid_seen"]["meta"]["restricted_columns"] == ["pid"]
    for key in ("t.age.range", "t.sex.allowed_values", "t.schema"):
        assert e[key]["meta"]["masked"] is False and "render_values" not in e[key]["meta"], key


def test_foreign_keys_are_meta_only(contract: Contract) -> None:
    (fk,) = [u for u in unmapped_checks(contract) if u["check_kind"] == "foreign_key"]
    assert fk["check_key"] == "t.died.foreign_key" and "deaths.date" in fk["reason"]


def test_demo_contracts_compile() -> None:
    for name, c in load_contract_dir(REPO / "data_contracts").items():
        suite = contract_to_gx_suite(c)
        kinds = {e["meta"]["check_kind"] for e in suite["expectations"]}
        assert {"schema", "type", "not_null", "row_count"} <= kinds, name
        json.dumps(suite)
        for u in suite["meta"]["hdc_unmapped_checks"]:
            assert u["check_kind"] == "foreign_key"
        masked = {e["meta"]["column"] for e in suite["expectations"] if e["meta"]["masked"] and "column" in e["meta"]}
        assert masked == set(c.restricted_columns()), name


# ---------------------------------------------------------------------------------------------------
# regex translation: Python re on gx_regex(p) must match what RE2 matches on p

PATTERNS = [
    "^[0-9]{11}$", "^[A-TV-Z][0-9]{2}[0-9A-Z]{0,2}$", "^NPU[0-9]{5}$", r"^\d+$", r"^\w+$", r"\bab\b", r"^\s*$",
    r"^a\S$", r"[\s,]+x$", "a$|^b", "[$]$", r"\$$", "(?i)^ab$", "(?m)^a$", "^a{,2}$", "^[]a]+$", "^[^]a]$", "ab", "",
]  # fmt: skip
TEXT = st.text(alphabet=list("ab01 \n\t\v$]{},AB_Ø١٢"), max_size=8)


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=150, deadline=None)
@given(values=st.lists(TEXT, min_size=1, max_size=20))
def test_gx_regex_matches_like_re2(pattern: str, values: list[str]) -> None:
    translated = re.compile(gx_regex(pattern))
    re2 = pc.match_substring_regex(pa.array(values, pa.string()), pattern).to_pylist()
    python = [translated.search(v) is not None for v in values]
    assert python == re2, (pattern, gx_regex(pattern), values)


def test_gx_regex_examples() -> None:
    assert gx_regex("^[0-9]{11}$") == r"(?a)^[0-9]{11}\Z"
    assert re.search(gx_regex("^[0-9]{3}$"), "123\n") is None and re.search("^[0-9]{3}$", "123\n")
    assert re.search(gx_regex(r"^\d$"), "١") is None and re.search(r"^\d$", "١")
    assert gx_regex("(?m)^a$") == "(?a)(?m)^a$"


# ---------------------------------------------------------------------------------------------------
# validator Run → GX validation result JSON


def _run(contract: Contract) -> Run:
    def chk(key: str, kind: str, verdict: Verdict, column: str | None = None, **kw: Any) -> Check:
        return Check(key=key, kind=kind, verdict=verdict, table="t", column=column, **kw)

    checks = [
        chk("t.schema", "schema", Verdict.FAILED, element_count=12, failing_count=2,
            details={"missing": ["tags"], "extra": ["surprise"], "masked": False}),
        chk("t.pid.type", "type", Verdict.PASSED, "pid", element_count=1, failing_count=0, details={"physical_type": "string"}),
        chk("t.pid.unique", "unique", Verdict.FAILED, "pid", element_count=100, failing_count=4, examples=["***"], details={"masked": True}),
        chk("t.pid.pattern", "pattern", Verdict.FAILED, "pid", element_count=100, failing_count=1, examples=["***"]),
        chk("t.icd.length", "length", Verdict.FAILED, "icd", element_count=100, failing_count=2, examples=["C1234567"]),
        chk("t.age.range", "range", Verdict.FAILED, "age", element_count=100, failing_count=3, examples=[121, -1]),
        chk("t.sex.allowed_values", "allowed_values", Verdict.PASSED, "sex", element_count=100, failing_count=1, examples=["X"]),
        chk("t.phone.not_null", "not_null", Verdict.PASSED, "phone", element_count=100, failing_count=5),
        chk("t.died.foreign_key", "foreign_key", Verdict.FAILED, "died", element_count=100, failing_count=7, examples=["2020-01-01"]),
        chk("t.weight.range", "range", Verdict.ERROR, "weight", message="not run: column weight is of the wrong type"),
        chk("t.rule.warn_rule", "pair", Verdict.WARNING, element_count=100, failing_count=5, examples=["3 vs 4"]),
        chk("t.row_count", "row_count", Verdict.PASSED, element_count=100, failing_count=0),
        chk("t.bogus", "not_null", Verdict.PASSED, element_count=100, failing_count=0),
    ]  # fmt: skip
    run = Run(name="contract:t", checks=checks, metadata={
        "contract_id": "urn:test:t", "contract_version": "1.2.3", "table": "t", "data": "/data/t", "rows": 100,
        "files": ["part-0.parquet"], "profile": {"age": {"null_count": 10}, "sex": {"null_count": 0}},
    })  # fmt: skip
    return run.finish()


def test_run_to_gx_result(contract: Contract) -> None:
    out = run_to_gx_result(_run(contract), contract)
    assert json.loads(json.dumps(out)) == out
    res = {r["meta"]["check_key"]: r for r in out["results"]}
    assert out["success"] is False and out["suite_name"] == "t_contract"
    assert out["statistics"]["evaluated_expectations"] == 12 == len(res)
    assert out["statistics"]["successful_expectations"] == 4
    assert out["meta"]["hdc_toolkit"]["unknown_checks"] == ["t.bogus"]
    assert out["meta"]["batch_spec"]["data_asset_name"] == "t"
    # table-level
    schema = res["t.schema"]["result"]
    assert schema["details"]["mismatched"] == {"unexpected": ["surprise"], "missing": ["tags"]}
    assert "surprise" in schema["observed_value"] and "tags" not in schema["observed_value"]
    assert res["t.pid.type"]["result"] == {"observed_value": "string"}
    assert res["t.row_count"]["result"] == {"observed_value": 100}
    # counts, percentages (non-null based when the profile knows the nulls, as GX computes them)
    age = res["t.age.range"]["result"]
    assert (age["element_count"], age["unexpected_count"], age["missing_count"]) == (100, 3, 10)
    assert age["unexpected_percent"] == pytest.approx(100 * 3 / 90) and age["unexpected_percent_total"] == pytest.approx(3.0)
    assert age["partial_unexpected_list"] == [121, -1]
    assert res["t.phone.not_null"]["result"]["unexpected_percent"] == pytest.approx(5.0)
    assert res["t.phone.not_null"]["success"] is True
    assert res["t.sex.allowed_values"]["expectation_config"]["kwargs"].get("mostly") == pytest.approx(0.95)
    # a warning is not a success; its GX severity says warning
    assert res["t.rule.warn_rule"]["success"] is False
    assert res["t.rule.warn_rule"]["expectation_config"]["severity"] == "warning"
    # not run → exception
    weight = res["t.weight.range"]
    assert weight["exception_info"]["raised_exception"] is True and "wrong type" in weight["exception_info"]["exception_message"]
    # foreign key → unexpected-rows expectation with the count
    fk = res["t.died.foreign_key"]
    assert fk["expectation_config"]["type"] == "unexpected_rows_expectation"
    assert fk["result"] == {"observed_value": 7}


def test_masked_checks_never_carry_values(contract: Contract) -> None:
    out = run_to_gx_result(_run(contract), contract)
    res = {r["meta"]["check_key"]: r for r in out["results"]}
    for key in ("t.pid.unique", "t.pid.pattern", "t.icd.length"):
        assert "partial_unexpected_list" not in res[key]["result"], key
        assert "message" not in res[key]["meta"], key
    assert "C1234567" not in json.dumps(out)
    # and without examples at all
    quiet = run_to_gx_result(_run(contract), contract, include_examples=False)
    assert not any("partial_unexpected_list" in r["result"] for r in quiet["results"])


# ---------------------------------------------------------------------------------------------------
# the exporter registry


def test_exporter_registry(contract: Contract) -> None:
    assert {"gx", "gx-suite", "pyarrow"} <= set(exporters.names())
    assert exporters.export_object(contract, "gx") == contract_to_gx_suite(contract)
    assert json.loads(exporters.export(contract, "gx")) == contract_to_gx_suite(contract)  # the CLI's text
    assert exporters.info("gx-suite").extra == "gx"
    with pytest.raises(NotFoundError, match="available"):
        exporters.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        exporters.register("gx", "x:y")
    with pytest.raises(ValueError, match="package.module:function"):
        exporters.register("bad", "no_colon")
    exporters.register("needs-missing", "json:dumps", requires="surely_not_installed_module_xyz", extra="nothing")
    try:
        with pytest.raises(MissingExtraError, match="nothing"):
            exporters.get("needs-missing")
    finally:
        exporters._REGISTRY.pop("needs-missing", None)


# ---------------------------------------------------------------------------------------------------
# with GX imported (one import for the module)


@pytest.fixture(scope="module")
def gx() -> Any:
    from hdc_toolkit.contracts.export_gx import import_gx

    return import_gx()


def test_build_gx_suite_gx(gx: Any, contract: Contract) -> None:
    from hdc_toolkit.contracts.export_gx import build_gx_suite

    suite = build_gx_suite(contract)
    assert isinstance(suite, gx.ExpectationSuite)
    assert len(suite.expectations) == len(contract_to_gx_suite(contract)["expectations"])
    born = next(e for e in suite.expectations if e.meta["check_key"] == "t.born.range")
    assert born.min_value == dt.date(1900, 1, 1)
    # from the JSON form: bounds restored, same expectations
    again = build_gx_suite(json.loads(json.dumps(contract_to_gx_suite(contract))))
    born2 = next(e for e in again.expectations if e.meta["check_key"] == "t.born.range")
    assert born2.min_value == dt.date(1900, 1, 1)
    assert [e.expectation_type for e in again.expectations] == [e.expectation_type for e in suite.expectations]
    assert next(e for e in suite.expectations if e.meta["check_key"] == "t.rule.warn_rule").severity.value == "warning"


def test_type_families_resolve_in_gx(gx: Any) -> None:
    """Each family accepts what pyarrow's to_pandas() gives for a column of that logical type."""
    import decimal

    import great_expectations.expectations as gxe

    table = pa.table({
        "string": pa.array(["a", None]), "integer": pa.array([1, None], pa.int16()), "integer2": pa.array([1, 2], pa.int32()),
        "number": pa.array([1.5, None], pa.float32()), "number2": pa.array([decimal.Decimal("1.5"), None], pa.decimal128(5, 2)),
        "date": pa.array([dt.date(2020, 1, 1), None], pa.date32()), "timestamp": pa.array([dt.datetime(2020, 1, 1), None], pa.timestamp("ms")),
        "timestamp2": pa.array([dt.datetime(2020, 1, 1), None], pa.timestamp("ns")),
        "time": pa.array([dt.time(1, 2), None], pa.time64("us")), "boolean": pa.array([True, None]), "boolean2": pa.array([True, False]),
        "object": pa.array([{"a": 1}, None], pa.struct([("a", pa.int64())])),
        "object2": pa.array([[("k", "v")], None], pa.map_(pa.string(), pa.string())),
        "wrong_date": pa.array([dt.datetime(2020, 1, 1)], pa.timestamp("ms")).cast(pa.timestamp("ms")).take([0, 0]),
    })  # fmt: skip
    family = {c: c.rstrip("2") for c in table.column_names if c != "wrong_date"} | {"wrong_date": "date"}
    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("p").add_dataframe_asset(name="t").add_batch_definition_whole_dataframe("w")
    suite = ctx.suites.add(gx.ExpectationSuite(name="types", expectations=[
        gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=list(GX_TYPE_FAMILIES[f])) for c, f in family.items()
    ]))  # fmt: skip
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="types", data=batch, suite=suite))
    res = vd.run(batch_parameters={"dataframe": table.to_pandas()}, result_format="BOOLEAN_ONLY")
    outcome = {r.expectation_config.kwargs["column"]: r.success for r in res.results}
    assert outcome.pop("wrong_date") is False
    assert all(outcome.values()), outcome
