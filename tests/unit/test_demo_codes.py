"""Code lists, schemas and samplers of the demo generator agree with the data contracts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hdc_toolkit.demo import SCHEMAS, codes
from hdc_toolkit.demo.diagnoses import ICD10_VOCAB
from hdc_toolkit.demo.prescriptions import ATC_VOCAB
from hdc_toolkit.demo.sampling import GroupedChoice, categorical_rows, seasonal_days, uniform_days

CONTRACTS = Path(__file__).resolve().parents[2] / "data_contracts"
ARROW = {
    "string": pa.string(),
    "date32": pa.date32(),
    "timestamp[ms]": pa.timestamp("ms"),
    "int64": pa.int64(),
    "double": pa.float64(),
}


def _properties() -> dict[str, dict[str, dict]]:
    out = {}
    for path in CONTRACTS.glob("*.odcs.yaml"):
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))["schema"][0]
        out[schema["name"]] = {p["name"]: p for p in schema["properties"]}
    return out


PROPS = _properties()


def _pattern(table: str, column: str) -> re.Pattern[str]:
    return re.compile(PROPS[table][column]["logicalTypeOptions"]["pattern"])


def _valid_values(table: str, column: str) -> list[str]:
    return PROPS[table][column]["quality"][0]["arguments"]["validValues"]


def test_schemas_are_the_contracts() -> None:
    assert set(SCHEMAS) == set(PROPS)
    for table, props in PROPS.items():
        expected = pa.schema([(name, ARROW[p["physicalType"]]) for name, p in props.items()])
        assert SCHEMAS[table] == expected, table


def test_codes_match_contract_patterns() -> None:
    icd = _pattern("diagnoses", "icd10_code")
    assert all(icd.search(c) for c in ICD10_VOCAB)
    atc = _pattern("prescriptions", "atc_code")
    assert all(atc.search(c) for c in ATC_VOCAB)
    npu = _pattern("lab_results", "analysis_code")
    assert all(npu.search(a.code) for a in codes.ANALYSES)
    muni = _pattern("patients", "municipality")
    assert all(muni.search(m[0]) and m[0][:2] in {"50", "15"} for m in codes.MUNICIPALITIES)
    assert len({m[0] for m in codes.MUNICIPALITIES}) == len(codes.MUNICIPALITIES)


def test_allowed_values_match_contracts() -> None:
    assert set(codes.DEPARTMENTS) == set(_valid_values("episodes", "department"))
    assert set(codes.CARE_TYPES) == set(_valid_values("episodes", "care_type"))
    assert set(codes.URGENCIES) == set(_valid_values("episodes", "urgency"))
    assert {a.unit for a in codes.ANALYSES} <= set(_valid_values("lab_results", "unit"))


def test_lab_limits_inside_contract_range() -> None:
    opts = PROPS["lab_results"]["value"]["logicalTypeOptions"]
    for a in codes.ANALYSES:
        assert opts["minimum"] <= a.low < a.high <= opts["maximum"], a.code


def test_well_known_codes_present() -> None:
    for code in ("E119", "I10", "I214", "J449", "C509", "F329", "O800"):
        assert code in ICD10_VOCAB
    for code in ("A10BA02", "C10AA05", "B01AF02", "N06AB10"):
        assert code in ATC_VOCAB
    assert {a.code: a.unit for a in codes.ANALYSES}["NPU27300"] == "mmol/mol"
    assert {a.code: a.unit for a in codes.ANALYSES}["NPU18016"] == "umol/L"


def test_sex_specific_codes() -> None:
    main = [e for entries in codes.MAIN_DIAGNOSES.values() for e in entries]
    assert all(e[2] == "F" for e in main if e[0].startswith("O"))
    assert all(e[2] == "M" for e in main + list(codes.GENERAL_DIAGNOSES) if e[0] in {"C61", "N40"})


@settings(max_examples=60)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 30), st.integers(1, 8)),
        elements=st.sampled_from([0.0, 0.5, 1.0, 7.0]),
    )
)
def test_categorical_rows_never_draws_zero_weight(weights: np.ndarray) -> None:
    weights[:, 0] += 1e-3 * (weights.sum(axis=1) == 0)  # every row needs a positive sum
    idx = categorical_rows(np.random.default_rng(0), weights)
    assert (weights[np.arange(len(weights)), idx] > 0).all()


@settings(max_examples=60)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 10), st.integers(1, 8)),
        elements=st.sampled_from([0.0, 0.2, 3.0]),
    ),
    st.integers(0, 2**32 - 1),
)
def test_grouped_choice_never_draws_zero_weight(weights: np.ndarray, seed: int) -> None:
    choice = GroupedChoice(weights, fallback=0)
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, len(weights), 500)
    items = choice.sample(rng, groups)
    empty = weights.sum(axis=1) == 0
    assert ((weights[groups, items] > 0) | (empty[groups] & (items == 0))).all()


def test_grouped_choice_frequencies() -> None:
    choice = GroupedChoice(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 2.0]]))
    rng = np.random.default_rng(1)
    a = np.bincount(choice.sample(rng, np.zeros(40000, dtype=np.int64)), minlength=3) / 40000
    b = np.bincount(choice.sample(rng, np.ones(40000, dtype=np.int64)), minlength=3) / 40000
    assert a == pytest.approx([0.25, 0, 0.75], abs=0.01)
    assert b == pytest.approx([0, 0.5, 0.5], abs=0.01)


def test_day_samplers_stay_in_bounds() -> None:
    rng = np.random.default_rng(2)
    first = rng.integers(15000, 20000, 5000)
    last = first + rng.integers(0, 400, 5000)
    for days in (uniform_days(rng, first, last), seasonal_days(rng, first, last, rng.random(5000) < 0.5)):
        assert ((days >= first) & (days <= last)).all()
