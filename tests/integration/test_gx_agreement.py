"""GX agreement: Great Expectations 1.x (on ``pq.read_table(...).to_pandas()``) and the toolkit's
validator count the same failing rows for every check both support, on seeded defective data.

Each table below is written to Parquet, validated by the toolkit (:func:`validate`) and by GX running
the suite the compiler emits (:func:`build_gx_suite`), and the two are compared check by check:
``unexpected_count == failing_count`` for row checks, ``success == (verdict == passed)`` wherever the
threshold maps exactly onto GX (``meta.threshold_in_gx == "exact"``), mismatched-column counts for
the schema check, and the observed row count. Foreign keys have no GX expectation and are not compared.

The data covers one table per contract type family (string, integer, number, date, timestamp) with
nulls, duplicates, values exactly at and just outside the bounds (inclusive and exclusive), invalid
codes, swapped date pairs, strings of boundary lengths (and multi-byte characters), regex corner
cases (a trailing newline, non-ASCII digits, empty strings), composite-key duplicates with nulls,
a failing row count and an unexpected column; plus the five demo contracts on generated data.

GX is imported once per module (~6 s); every test shares one ephemeral context.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hdc_toolkit.contracts import load_contract, load_contract_dir
from hdc_toolkit.contracts.checks import CheckKind, compile_checks
from hdc_toolkit.contracts.export_arrow import arrow_type
from hdc_toolkit.contracts.export_gx import SAFE_RESULT_FORMAT, build_gx_suite
from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.contracts.validate import validate
from hdc_toolkit.results import Run, Verdict


REPO = Path(__file__).resolve().parents[2]
DEMO_CONTRACTS = REPO / "data_contracts"
N = 3000

#: Row checks: GX unexpected_count must equal the validator's failing_count.
COUNTED = {
    CheckKind.NOT_NULL, CheckKind.UNIQUE, CheckKind.RANGE, CheckKind.ALLOWED_VALUES, CheckKind.PATTERN,
    CheckKind.LENGTH, CheckKind.PAIR, CheckKind.COMPOUND_UNIQUE,
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# GX harness


class GxHarness:
    """One ephemeral GX context; validates a pandas frame against a contract's compiled suite."""

    def __init__(self) -> None:
        os.environ.setdefault("TQDM_DISABLE", "1")
        from hdc_toolkit.contracts.export_gx import import_gx

        self.gx = import_gx()
        self.context = self.gx.get_context(mode="ephemeral")
        self.source = self.context.data_sources.add_pandas("hdc_agreement")
        self._n = itertools.count()

    def run(self, contract: Contract, df: Any) -> dict[str, Any]:
        """GX results keyed by ``meta.check_key``."""
        i = next(self._n)
        name = f"{contract.name}_{i}"
        batch = self.source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("whole")
        suite = self.context.suites.add(build_gx_suite(contract, name=name))
        vd = self.context.validation_definitions.add(self.gx.ValidationDefinition(name=name, data=batch, suite=suite))
        res = vd.run(batch_parameters={"dataframe": df}, result_format=SAFE_RESULT_FORMAT)
        return {r.expectation_config.meta["check_key"]: r for r in res.results}


@pytest.fixture(scope="module")
def gxh() -> GxHarness:
    return GxHarness()


def compare(gxh: GxHarness, contract: Contract, data: Path, *, references: dict[str, Path] | None = None) -> list[dict[str, Any]]:
    """Run both engines; one row per check both support (what the report's agreement table shows)."""
    run = validate(contract, data, references=references)
    checks = run.by_key()
    gx_results = gxh.run(contract, pq.read_table(data).to_pandas())
    rows = []
    for spec in compile_checks(contract):
        r = gx_results.get(spec.key)
        c = checks.get(spec.key)
        if r is None or c is None:
            continue
        res = r.result or {}
        if spec.kind in COUNTED:
            gx_count, val_count = res.get("unexpected_count"), c.failing_count
        elif spec.kind is CheckKind.SCHEMA:
            mm = (res.get("details") or {}).get("mismatched") or {}
            gx_count = len(mm.get("unexpected") or []) + len(mm.get("missing") or [])
            val_count = c.failing_count
        elif spec.kind is CheckKind.ROW_COUNT:
            gx_count, val_count = res.get("observed_value"), c.element_count
        else:
            gx_count = val_count = None
        rows.append({
            "key": spec.key, "kind": spec.kind.value, "gx_count": gx_count, "validator_count": val_count,
            "gx_success": bool(r.success), "verdict": c.verdict.value,
            "gx_exception": bool(r.exception_info.get("raised_exception")),
            "threshold_in_gx": r.expectation_config.meta.get("threshold_in_gx"),
        })  # fmt: skip
    return rows


def assert_agree(rows: list[dict[str, Any]], *, known_type_divergence: frozenset[str] = frozenset()) -> None:
    problems = []
    for row in rows:
        if row["gx_count"] != row["validator_count"]:
            problems.append(f"{row['key']}: GX counts {row['gx_count']}, validator {row['validator_count']}")
        passed = row["verdict"] == Verdict.PASSED.value
        if row["key"] in known_type_divergence:
            continue
        if row["threshold_in_gx"] == "exact" and row["gx_success"] != passed:
            problems.append(f"{row['key']}: GX success={row['gx_success']}, validator verdict={row['verdict']}")
        if row["gx_exception"] != (row["verdict"] == Verdict.ERROR.value):
            problems.append(f"{row['key']}: GX exception={row['gx_exception']}, validator verdict={row['verdict']}")
    assert not problems, "GX and the validator disagree:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------------------
# contracts and seeded defective data


def odcs(table: str, properties: list[dict[str, Any]], quality: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"name": table, "physicalType": "table", "properties": properties}
    if quality:
        obj["quality"] = quality
    return {"apiVersion": "v3.1.0", "kind": "DataContract", "id": f"urn:test:{table}", "name": table,
            "version": "1.0.0", "status": "active", "schema": [obj]}  # fmt: skip


def prop(name: str, logical: str, physical: str, *, required: bool = False, unique: bool = False,
         classification: str = "other", options: dict[str, Any] | None = None,
         quality: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    p: dict[str, Any] = {"name": name, "logicalType": logical, "physicalType": physical, "required": required,
                         "customProperties": [{"property": "classification", "value": classification}]}  # fmt: skip
    if unique:
        p["unique"] = True
    if options:
        p["logicalTypeOptions"] = options
    if quality:
        p["quality"] = quality
    return p


def write(tmp: Path, doc: dict[str, Any], table: pa.Table) -> tuple[Contract, Path]:
    cpath = tmp / f"{doc['name']}.odcs.yaml"
    cpath.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    data = tmp / f"{doc['name']}.parquet"
    pq.write_table(table, data, row_group_size=1000)  # several row groups: exercises the merge
    return load_contract(cpath), data


def put(values: list[Any], rng: np.random.Generator, planted: list[Any], taken: set[int]) -> list[int]:
    """Write ``planted`` at fresh random rows (never the same row twice per table); return the rows."""
    free = [i for i in rng.permutation(len(values)).tolist() if i not in taken][: len(planted)]
    for i, v in zip(free, planted, strict=True):
        values[i] = v
        taken.add(i)
    return free


def strings_table(tmp: Path) -> tuple[Contract, Path]:
    rng = np.random.default_rng(1)
    taken: set[int] = set()
    row_id = list(range(N))
    nid = [f"{x:011d}" for x in rng.choice(np.arange(10**10, 10**10 + 10 * N), N, replace=False)]
    put(nid, rng, [None] * 5, taken)
    for src in rng.choice([i for i in range(N) if i not in taken], 9, replace=False).tolist():  # 9 duplicated values
        taken.add(src)
        put(nid, rng, [nid[src]], taken)
    triple = [i for i in range(N) if i not in taken][0]
    taken.add(triple)
    put(nid, rng, [nid[triple]] * 2, taken)
    # regex corner cases: short, long, letter, trailing newline (RE2 `$` is end of text), non-ASCII
    # digits, leading space, empty string (not null)
    put(nid, rng, ["1234567890", "123456789012", "1234567890A", "12345678901\n", "١٢٣٤٥٦٧٨٩٠١", " 12345678901", ""], taken)
    letters = [c for c in "ABCDEFGHIJKLMNOPQRSTVWXYZ"]
    icd = [f"{rng.choice(letters)}{rng.integers(0, 100):02d}{'' if k == 0 else rng.integers(0, 10) if k == 1 else 'A9'}"
           for k in rng.integers(0, 3, N)]  # fmt: skip
    put(icd, rng, ["U071", "e119", "E11.9", "", "E1", "E11999", "E119\n", None, None], taken)
    ward = [f"W{rng.integers(0, 100):02d}" for _ in range(N)]
    put(ward, rng, ["W١٢", "w01", "W001", "W01\n", "XW01", None], taken)  # \d is ASCII-only in RE2
    sex = rng.choice(["F", "M"], N).tolist()
    put(sex, rng, ["X", "f", "", "K", None, None, None], taken)
    nick = rng.choice(["ab", "abc", "abcd", "abcde"], N).tolist()
    put(nick, rng, ["a", "abcdef", "ØÆÅøæ", "ØÆÅøæå", "", "Ø", None], taken)  # lengths 1, 6, 5 (10 bytes), 6, 0, 1
    phone = [f"9{x:07d}" for x in rng.integers(0, 10**7, N)]
    put(phone, rng, [None] * int(0.05 * N), taken)  # 5% missing, contract allows up to 10%
    colour = rng.choice(["red", "green", "blue"], N).tolist()
    put(colour, rng, ["teal"] * int(0.02 * N) + [None] * 10, taken)  # 2% invalid, allowed up to 5%
    table = pa.table({
        "row_id": pa.array(row_id, pa.int64()), "national_id": pa.array(nid, pa.string()), "icd10": icd, "ward": ward,
        "sex": sex, "nick": nick, "phone": phone, "colour": colour, "not_in_contract": pa.array(np.zeros(N)),
    })  # fmt: skip
    doc = odcs("strings", [
        prop("row_id", "integer", "int64", required=True, unique=True),
        prop("national_id", "string", "string", required=True, unique=True, classification="direct_identifier",
             options={"pattern": "^[0-9]{11}$"}),
        prop("icd10", "string", "string", required=True, classification="sensitive",
             options={"pattern": "^[A-TV-Z][0-9]{2}[0-9A-Z]{0,2}$"}),
        prop("ward", "string", "string", options={"pattern": r"^W\d{2}$"}),
        prop("sex", "string", "string", required=True,
             quality=[{"metric": "invalidValues", "arguments": {"validValues": ["F", "M"]}, "mustBe": 0}]),
        prop("nick", "string", "string", options={"minLength": 2, "maxLength": 5}),
        prop("phone", "string", "string", quality=[{"metric": "nullValues", "mustBeLessOrEqualTo": 10, "unit": "percent"}]),
        prop("colour", "string", "string", quality=[{"metric": "invalidValues", "arguments": {"validValues": ["red", "green", "blue"]},
                                                     "mustBeLessOrEqualTo": 5, "unit": "percent"}]),
    ])  # fmt: skip
    return write(tmp, doc, table)


def integers_table(tmp: Path) -> tuple[Contract, Path]:
    rng = np.random.default_rng(2)
    taken: set[int] = set()
    ids: list[Any] = list(range(1, N + 1))
    put(ids, rng, [None] * 3, taken)
    put(ids, rng, [N + 7] * 3 + [N + 42] * 2 + [N + 99] * 2, taken)  # 3 + 2 + 2 duplicated rows
    age: list[Any] = rng.integers(1, 120, N).tolist()
    put(age, rng, [-1, 0, 0, 120, 121, -32768, 32767, None, None], taken)
    score: list[Any] = rng.integers(1, 10, N).tolist()
    put(score, rng, [0, 1, 9, 10, 11, None], taken)  # (0, 10) exclusive: 0, 10, 11 fail
    grade: list[Any] = rng.integers(1, 4, N).tolist()
    put(grade, rng, [0, 4, 4, None], taken)
    dept: list[Any] = rng.integers(0, 10, N).tolist()
    bed: list[Any] = list(range(N))  # (dept, bed) unique
    for d, b in [(1, 10**6), (1, 10**6), (2, 10**6), (2, 10**6), (2, 10**6), (3, None), (3, None), (None, None), (None, None), (4, None)]:
        (i,) = put(dept, rng, [d], taken)
        bed[i] = b
    table = pa.table({
        "id": pa.array(ids, pa.int64()), "age": pa.array(age, pa.int16()), "score": pa.array(score, pa.int32()),
        "grade": pa.array(grade, pa.int8()), "dept": pa.array(dept, pa.int64()), "bed": pa.array(bed, pa.int64()),
    })  # fmt: skip
    doc = odcs("integers", [
        prop("id", "integer", "int64", required=True, unique=True),
        prop("age", "integer", "int16", required=True, options={"minimum": 0, "maximum": 120}),
        prop("score", "integer", "int32", options={"exclusiveMinimum": 0, "exclusiveMaximum": 10}),
        prop("grade", "integer", "int8", quality=[{"metric": "invalidValues", "arguments": {"validValues": [1, 2, 3]}, "mustBe": 0}]),
        prop("dept", "integer", "int64"),
        prop("bed", "integer", "int64"),
    ], quality=[
        {"name": "dept_bed", "metric": "duplicateValues", "arguments": {"properties": ["dept", "bed"]}, "mustBe": 0},
        {"name": "enough_rows", "metric": "rowCount", "mustBeBetween": [1, 100000]},
    ])  # fmt: skip
    return write(tmp, doc, table)


def numbers_table(tmp: Path) -> tuple[Contract, Path]:
    rng = np.random.default_rng(3)
    taken: set[int] = set()
    weight: list[Any] = rng.uniform(1, 499, N).round(3).tolist()
    put(weight, rng, [0.0, 1e-9, 500.0, 500.0000001, -3.5, 1e6, None, None], taken)  # (0, 500]
    dmin: list[Any] = rng.uniform(0, 10, N).round(2).tolist()
    dmax: list[Any] = [x + 1 for x in dmin]
    for lo, hi in [(5.0, 4.0), (5.0, 5.0), (5.0, 4.99), (None, 1.0), (1.0, None), (None, None)]:
        (i,) = put(dmin, rng, [lo], taken)
        dmax[i] = hi
    count: list[Any] = rng.integers(0, 1001, N).tolist()
    put(count, rng, [-1, 0, 1000, 1001, None], taken)
    table = pa.table({"weight": pa.array(weight, pa.float64()), "dose_min": pa.array(dmin, pa.float64()),
                      "dose_max": pa.array(dmax, pa.float64()), "count": pa.array(count, pa.int32())})  # fmt: skip
    doc = odcs("numbers", [
        prop("weight", "number", "double", required=True, options={"exclusiveMinimum": 0, "maximum": 500}),
        prop("dose_min", "number", "double"),
        prop("dose_max", "number", "double"),
        prop("count", "number", "int32", options={"minimum": 0, "maximum": 1000}),
    ], quality=[
        {"name": "max_not_below_min", "type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE dose_max < dose_min", "mustBe": 0},
        {"name": "small", "metric": "rowCount", "mustBeLessThan": 100},  # fails: N rows
    ])  # fmt: skip
    return write(tmp, doc, table)


def dates_table(tmp: Path) -> tuple[Contract, Path]:
    rng = np.random.default_rng(4)
    taken: set[int] = set()
    base = dt.date(1950, 1, 1)
    birth: list[Any] = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 20000, N)]
    death: list[Any] = [None if rng.random() < 0.8 else b + dt.timedelta(days=int(rng.integers(0, 5000))) for b in birth]
    for i in put(birth, rng, [dt.date(1899, 12, 31), dt.date(1900, 1, 1), dt.date(2026, 12, 31), dt.date(2027, 1, 1), None, None], taken):
        death[i] = None
    for b, d in [(dt.date(1980, 5, 5), dt.date(1980, 5, 4)), (dt.date(1980, 5, 5), dt.date(1980, 5, 5)),
                 (dt.date(2000, 1, 1), dt.date(1999, 12, 31)), (None, dt.date(1990, 1, 1)),
                 (dt.date(1960, 1, 1), dt.date(2027, 1, 1)), (dt.date(1960, 1, 1), dt.date(2026, 12, 31))]:  # fmt: skip
        (i,) = put(birth, rng, [b], taken)
        death[i] = d
    person = [f"P{i % (N // 2):05d}" for i in range(N)]
    visit: list[Any] = [dt.date(2020, 1, 1) + dt.timedelta(days=i // (N // 2)) for i in range(N)]
    for p, v in [("P00001", dt.date(2021, 1, 1)), ("P00001", dt.date(2021, 1, 1)), ("P00002", None), ("P00002", None)]:
        (i,) = put(person, rng, [p], taken)
        visit[i] = v
    table = pa.table({"person": person, "birth_date": pa.array(birth, pa.date32()),
                      "death_date": pa.array(death, pa.date32()), "visit_date": pa.array(visit, pa.date32())})  # fmt: skip
    doc = odcs("dates", [
        prop("person", "string", "string", required=True, classification="quasi_identifier"),
        prop("birth_date", "date", "date32", required=True, options={"minimum": "1900-01-01", "maximum": "2026-12-31"}),
        prop("death_date", "date", "date32", options={"minimum": "1900-01-01", "exclusiveMaximum": "2027-01-01"}),
        prop("visit_date", "date", "date32"),
    ], quality=[
        {"name": "death_not_before_birth", "type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE death_date < birth_date", "mustBe": 0},
        {"name": "person_visit", "metric": "duplicateValues", "arguments": {"properties": ["person", "visit_date"]}, "mustBe": 0},
    ])  # fmt: skip
    return write(tmp, doc, table)


def timestamps_table(tmp: Path) -> tuple[Contract, Path]:
    rng = np.random.default_rng(5)
    taken: set[int] = set()
    t0 = dt.datetime(2010, 1, 1)
    adm: list[Any] = [t0 + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 10**8, N)]
    put(adm, rng, [dt.datetime(1999, 12, 31, 23, 59, 59, 999000), dt.datetime(2000, 1, 1), dt.datetime(2026, 12, 31, 23, 59, 59),
                   dt.datetime(2026, 12, 31, 23, 59, 59, 1000), None], taken)  # fmt: skip
    dis: list[Any] = [a + dt.timedelta(hours=int(h)) if a else None for a, h in zip(adm, rng.integers(0, 500, N), strict=True)]
    for a, d in [(dt.datetime(2020, 1, 2), dt.datetime(2020, 1, 1)), (dt.datetime(2020, 1, 2), dt.datetime(2020, 1, 2)),
                 (dt.datetime(2020, 1, 2, 0, 0, 0, 1000), dt.datetime(2020, 1, 2)), (dt.datetime(2020, 1, 2), None)]:  # fmt: skip
        (i,) = put(adm, rng, [a], taken)
        dis[i] = d
    utc = dt.timezone.utc
    aware: list[Any] = [(t0 + dt.timedelta(seconds=int(s))).replace(tzinfo=utc) for s in rng.integers(0, 10**8, N)]
    put(aware, rng, [dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=utc), dt.datetime(2000, 1, 1, tzinfo=utc),
                     dt.datetime(2027, 1, 1, 0, 59, tzinfo=dt.timezone(dt.timedelta(hours=1))), None], taken)  # 2026-12-31T23:59Z: inside
    ns: list[Any] = [t0 + dt.timedelta(microseconds=int(s)) for s in rng.integers(0, 10**12, N)]
    put(ns, rng, [dt.datetime(2009, 12, 31, 23, 59, 59, 999999), dt.datetime(2010, 1, 1), None], taken)
    table = pa.table({
        "admitted": pa.array(adm, pa.timestamp("ms")), "discharged": pa.array(dis, pa.timestamp("ms")),
        "admitted_utc": pa.array(aware, pa.timestamp("us", tz="UTC")), "sampled": pa.array(ns, pa.timestamp("ns")),
    })  # fmt: skip
    doc = odcs("timestamps", [
        prop("admitted", "timestamp", "timestamp[ms]", required=True,
             options={"minimum": "2000-01-01T00:00:00", "maximum": "2026-12-31T23:59:59"}),
        prop("discharged", "timestamp", "timestamp[ms]"),
        prop("admitted_utc", "timestamp", "timestamp[us, tz=UTC]",
             options={"minimum": "2000-01-01T00:00:00", "maximum": "2026-12-31T23:59:59"}),
        prop("sampled", "timestamp", "timestamp[ns]", options={"minimum": "2010-01-01T00:00:00"}),
    ], quality=[
        {"name": "discharge_not_before_admission", "type": "sql",
         "query": "SELECT COUNT(*) FROM {object} WHERE discharged < admitted", "mustBe": 0},
    ])  # fmt: skip
    return write(tmp, doc, table)


FAMILIES = {"string": strings_table, "integer": integers_table, "number": numbers_table, "date": dates_table, "timestamp": timestamps_table}
#: GX's type list cannot name a timezone-aware pandas dtype (documented in export_gx): GX fails it.
TZ_TYPE = frozenset({"timestamps.admitted_utc.type"})


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_gx_and_validator_agree(gxh: GxHarness, tmp_path: Path, family: str) -> None:
    contract, data = FAMILIES[family](tmp_path)
    rows = compare(gxh, contract, data)
    kinds = {r["kind"] for r in rows}
    assert {"schema", "type"} <= kinds
    assert_agree(rows, known_type_divergence=TZ_TYPE)
    # the seeded defects are really there (the comparison is not vacuous)
    failing = {r["key"] for r in rows if r["verdict"] != "passed"}
    assert len(failing) >= 3, rows


def test_seeded_counts_are_the_intended_ones(gxh: GxHarness, tmp_path: Path) -> None:
    """A few counts worked out by hand, so both engines are checked against the semantics too."""
    expected = {
        ("string", "strings.national_id.not_null"): 5,
        ("string", "strings.national_id.unique"): 9 * 2 + 3,
        ("string", "strings.national_id.pattern"): 7,
        ("string", "strings.ward.pattern"): 5,
        ("string", "strings.sex.allowed_values"): 4,
        ("string", "strings.nick.length"): 5,
        ("string", "strings.schema"): 1,
        ("integer", "integers.id.unique"): 3 + 2 + 2,
        ("integer", "integers.age.range"): 4,
        ("integer", "integers.score.range"): 3,
        ("integer", "integers.unique.dept_bed"): 2 + 3 + 2,
        ("number", "numbers.weight.range"): 4,
        ("number", "numbers.rule.max_not_below_min"): 2,
        ("number", "numbers.count.range"): 2,
        ("date", "dates.birth_date.range"): 2,
        ("date", "dates.death_date.range"): 1,
        ("date", "dates.rule.death_not_before_birth"): 2,
        ("date", "dates.unique.person_visit"): 2 + 2,
        ("timestamp", "timestamps.admitted.range"): 2,
        ("timestamp", "timestamps.rule.discharge_not_before_admission"): 2,
        ("timestamp", "timestamps.admitted_utc.range"): 1,
        ("timestamp", "timestamps.sampled.range"): 1,
    }
    by_family: dict[str, dict[str, dict[str, Any]]] = {}
    for family in sorted({f for f, _ in expected}):
        sub = tmp_path / family
        sub.mkdir()
        contract, data = FAMILIES[family](sub)
        by_family[family] = {r["key"]: r for r in compare(gxh, contract, data)}
    wrong = {
        key: (by_family[f][key]["gx_count"], by_family[f][key]["validator_count"], n)
        for (f, key), n in expected.items()
        if (by_family[f][key]["gx_count"], by_family[f][key]["validator_count"]) != (n, n)
    }
    assert not wrong, f"(GX, validator, expected): {wrong}"


def test_percent_thresholds(gxh: GxHarness, tmp_path: Path) -> None:
    contract, data = strings_table(tmp_path)
    rows = {r["key"]: r for r in compare(gxh, contract, data)}
    phone = rows["strings.phone.not_null"]
    assert phone["threshold_in_gx"] == "exact" and phone["gx_success"] and phone["verdict"] == "passed"
    colour = rows["strings.colour.allowed_values"]
    assert colour["threshold_in_gx"].startswith("approximate")
    assert colour["gx_success"] and colour["verdict"] == "passed" and colour["gx_count"] == colour["validator_count"] == 60


def test_missing_column(gxh: GxHarness, tmp_path: Path) -> None:
    """A column the contract names is absent: schema counts agree; its checks cannot run in either."""
    contract, data = integers_table(tmp_path)
    pq.write_table(pq.read_table(data).drop_columns(["grade"]), data)
    rows = {r["key"]: r for r in compare(gxh, contract, data)}
    assert rows["integers.schema"]["gx_count"] == rows["integers.schema"]["validator_count"] == 1
    assert not rows["integers.grade.allowed_values"]["gx_success"]
    assert rows["integers.grade.allowed_values"]["verdict"] == "error"


def test_required_integer_with_nulls_is_float64_in_pandas(gxh: GxHarness, tmp_path: Path) -> None:
    """pyarrow turns an integer column with nulls into float64: the integer family accepts it."""
    contract, data = integers_table(tmp_path)
    assert str(pq.read_table(data).to_pandas()["id"].dtype) == "float64"
    rows = {r["key"]: r for r in compare(gxh, contract, data)}
    assert rows["integers.id.type"]["gx_success"] and rows["integers.id.type"]["verdict"] == "passed"


def test_safe_result_format_keeps_values_out_of_gx_results(gxh: GxHarness, tmp_path: Path) -> None:
    """A GX run with SAFE_RESULT_FORMAT stores counts but no failing values (GX's BASIC would)."""
    contract, data = strings_table(tmp_path)
    results = gxh.run(contract, pq.read_table(data).to_pandas())
    stored = json.dumps([r.to_json_dict() for r in results.values()], default=str)
    for planted in ("1234567890A", "123456789012", "E11.9", "U071", "teal", "abcdef"):
        assert planted not in stored
    assert results["strings.national_id.pattern"].result["unexpected_count"] == 7


def test_known_divergence_nan(gxh: GxHarness, tmp_path: Path) -> None:
    """Documented: NaN is a value in arrow/Parquet, a null in pandas (GX's not-null counts it)."""
    doc = odcs("nans", [prop("x", "number", "double", required=True, options={"minimum": 0, "maximum": 1})])
    contract, data = write(tmp_path, doc, pa.table({"x": pa.array([0.5, float("nan"), None, 2.0], pa.float64())}))
    rows = {r["key"]: r for r in compare(gxh, contract, data)}
    assert rows["nans.x.not_null"]["validator_count"] == 1 and rows["nans.x.not_null"]["gx_count"] == 2
    assert rows["nans.x.range"]["validator_count"] == rows["nans.x.range"]["gx_count"] == 1


def test_known_divergence_timezone_type(gxh: GxHarness, tmp_path: Path) -> None:
    contract, data = timestamps_table(tmp_path)
    row = {r["key"]: r for r in compare(gxh, contract, data)}["timestamps.admitted_utc.type"]
    assert row["verdict"] == "passed" and not row["gx_success"]


# ---------------------------------------------------------------------------------------------------
# the demo contracts on generated, defective data

_PATTERN_VALUES = {
    "^[0-9]{11}$": lambda rng, n: [f"{x:011d}" for x in rng.choice(np.arange(10**10, 10**10 + 50 * n), n, replace=False)],
    "^[0-9]{4}$": lambda rng, n: [f"{x:04d}" for x in rng.integers(101, 5500, n)],
    "^[A-TV-Z][0-9]{2}[0-9A-Z]{0,2}$": lambda rng, n: [f"{rng.choice(list('ABCDEIJKN'))}{x:03d}" for x in rng.integers(0, 1000, n)],
    "^NPU[0-9]{5}$": lambda rng, n: [f"NPU{x:05d}" for x in rng.integers(0, 99999, n)],
    "^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$": lambda rng, n: [f"A{x % 100:02d}BA{x % 97:02d}" for x in rng.integers(0, 10**6, n)],
}


def _valid_column(col: Any, rng: np.random.Generator, n: int) -> list[Any]:
    if col.allowed_values:
        return rng.choice(list(col.allowed_values), n).tolist()
    if col.pattern:
        return _PATTERN_VALUES[col.pattern](rng, n)
    lt = col.logical_type
    if lt == "integer":
        return rng.permutation(np.arange(1, n + 1)).tolist()
    if lt == "number":
        lo, hi = col.minimum or 0, col.maximum or 1000
        return rng.uniform(lo + 1e-6, hi, n).round(4).tolist()
    if lt == "date":
        return [dt.date(2005, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 7000, n)]
    if lt == "timestamp":
        return [dt.datetime(2005, 1, 1) + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 6 * 10**8, n)]
    return [f"v{i}" for i in rng.integers(0, 100, n)]


def demo_extract(contracts: dict[str, Contract], root: Path, n: int = 2000) -> None:
    """Valid rows for every demo table, then a few defects per check (driven by the compiled checks)."""
    rng = np.random.default_rng(20)
    for name, contract in contracts.items():
        cols = {c.name: _valid_column(c, rng, n) for c in contract.columns}
        if name == "patients":
            cols["death_date"] = [None if rng.random() < 0.9 else b + dt.timedelta(days=int(rng.integers(1, 700)))
                                  for b in cols["birth_date"]]  # fmt: skip
        if name == "episodes":
            cols["discharge_time"] = [a + dt.timedelta(hours=int(h)) for a, h in zip(cols["admission_time"], rng.integers(0, 300, n), strict=True)]
        taken: set[int] = set()
        for spec in compile_checks(contract):
            v = cols[spec.column] if spec.column else []
            col = contract.column(spec.column) if spec.column else None
            match spec.kind:
                case CheckKind.NOT_NULL:
                    put(v, rng, [None] * 3, taken)
                case CheckKind.UNIQUE:
                    a, b = [x for x in v if x is not None][:2]
                    put(v, rng, [a, b, b], taken)
                case CheckKind.RANGE:
                    step = {"date": dt.timedelta(days=1), "timestamp": dt.timedelta(milliseconds=1)}.get(col.logical_type, 1)
                    lo, hi = col.minimum, col.maximum
                    planted = [lo, hi, lo - step if lo is not None else None, hi + step if hi is not None else None]
                    put(v, rng, [x for x in planted if x is not None], taken)
                case CheckKind.ALLOWED_VALUES:
                    put(v, rng, ["INVALID", "", "invalid"], taken)
                case CheckKind.PATTERN:
                    a, b = _PATTERN_VALUES[col.pattern](rng, 2)
                    put(v, rng, ["bad", a + "\n", "X" + b], taken)
                case CheckKind.PAIR:
                    left, right, op = cols[spec.params["left"]], cols[spec.params["right"]], spec.params["op"]
                    rows = [i for i in rng.permutation(n).tolist() if i not in taken and right[i] is not None][:4]
                    for i in rows:  # make `left op right` true: a violation
                        taken.add(i)
                        step = dt.timedelta(hours=1) if isinstance(right[i], dt.datetime) else dt.timedelta(days=1) if isinstance(right[i], dt.date) else 1
                        left[i] = right[i] - step if op in ("<", "<=") else right[i] + step
        schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in contract.columns])
        pq.write_table(pa.table(cols, schema=schema), root / f"{name}.parquet", row_group_size=700)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Contract], Path]:
    contracts = load_contract_dir(DEMO_CONTRACTS)
    root = tmp_path_factory.mktemp("demo_extract")
    demo_extract(contracts, root)
    return contracts, root


@pytest.mark.parametrize("table", ["diagnoses", "episodes", "lab_results", "patients", "prescriptions"])
def test_demo_contracts_agree(gxh: GxHarness, demo: tuple[dict[str, Contract], Path], table: str) -> None:
    contracts, root = demo
    contract = contracts[table]
    refs = {t: root / f"{t}.parquet" for t in contracts}
    rows = compare(gxh, contract, root / f"{table}.parquet", references=refs)
    assert_agree(rows)
    counted = [r for r in rows if r["kind"] in {k.value for k in COUNTED}]
    assert counted and any(r["validator_count"] for r in counted)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Contract], Path, dict[str, int]]:
    """An extract from the toolkit's own demo generator (two chunks per table), with its defect truth."""
    generate = pytest.importorskip("hdc_toolkit.demo.generate")
    out = tmp_path_factory.mktemp("generated") / "extract"
    summary = generate.generate_extract(out, patients=600, seed=7, defect_rate=0.02, chunk_size=300)
    return load_contract_dir(DEMO_CONTRACTS), out, dict(summary.expected_defects)


@pytest.mark.parametrize("table", ["diagnoses", "episodes", "lab_results", "patients", "prescriptions"])
def test_demo_generator_extract_agrees(gxh: GxHarness, generated: tuple[dict[str, Contract], Path, dict[str, int]], table: str) -> None:
    contracts, root, truth = generated
    refs = {t: root / t for t in contracts}
    rows = compare(gxh, contracts[table], root / table, references=refs)
    assert_agree(rows)
    counts = {r["key"]: r["gx_count"] for r in rows}
    for key, n in truth.items():
        if key in counts:  # foreign keys have no GX count
            assert counts[key] == n, (key, counts[key], n)


# ---------------------------------------------------------------------------------------------------
# GX Data Docs from a validator run


def _visible_text(page: str) -> str:
    body = re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_data_docs_from_validator_run(tmp_path: Path, gxh: GxHarness) -> None:
    from hdc_toolkit.contracts.gx_results import run_to_gx_result, write_gx_data_docs

    secret_id, secret_icd = "99999999999X", "Q99SECRET"
    dup_id = "12345678901"
    national_id = prop("national_id", "string", "string", required=True, unique=True, classification="direct_identifier",
                       options={"pattern": "^[0-9]{11}$"})  # fmt: skip
    national_id["relationships"] = [{"type": "foreignKey", "to": "people.national_id"}]
    doc = odcs("dx", [
        national_id,
        prop("icd10", "string", "string", required=True, classification="sensitive",
             options={"pattern": "^[A-TV-Z][0-9]{2}[0-9A-Z]{0,2}$"}),
        prop("dx_type", "string", "string", required=True,
             quality=[{"metric": "invalidValues", "arguments": {"validValues": ["main", "secondary"]}, "mustBe": 0}]),
    ])  # fmt: skip
    ids = [f"{10**10 + i:011d}" for i in range(200)]
    ids[3], ids[4], ids[5] = secret_id, dup_id, dup_id
    icd = ["E119"] * 200
    icd[7] = secret_icd
    dx_type = ["main"] * 199 + ["tertiary"]
    contract, data = write(tmp_path, doc, pa.table({"national_id": ids, "icd10": icd, "dx_type": dx_type}))
    people = tmp_path / "people.parquet"
    pq.write_table(pa.table({"national_id": ids[10:]}), people)  # 10 orphans, incl. the planted values
    run = validate(contract, data, references={"people": people})
    assert isinstance(run, Run) and not run.passed
    assert run.by_key()["dx.national_id.foreign_key"].failing_count == 10

    payload = run_to_gx_result(run, contract)
    json.dumps(payload)  # plain JSON
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema

    loaded = expectationSuiteValidationResultSchema.load(payload)
    assert loaded.success is False and len(loaded.results) == len(run.checks)

    page = write_gx_data_docs(run, contract, tmp_path / "docs")
    assert page.is_file() and page.suffix == ".html"
    text = _visible_text(page.read_text(encoding="utf-8"))
    assert "values must match this regular expression" in text
    assert "1 unexpected values found" in text and "2 unexpected values found" in text  # pattern, unique
    assert "tertiary" in text  # an unmasked example is shown
    assert "every value exists in people.national_id 10" in text  # the foreign key (no GX expectation): its count
    # no restricted value anywhere in the project: pages, stored results, suites
    for f in (tmp_path / "docs").rglob("*"):
        if f.is_file() and f.suffix in (".html", ".json", ".yml", ".yaml"):
            content = f.read_text(encoding="utf-8", errors="replace")
            for secret in (secret_id, secret_icd, dup_id):
                assert secret not in content, f"{secret!r} leaked into {f}"
    assert (tmp_path / "docs" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()
