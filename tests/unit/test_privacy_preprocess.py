"""Public-bounds encoding: bounds from contracts or declarations, never from the private data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.contracts import load_contract_dir
from hdc_toolkit.exceptions import DataError
from hdc_toolkit.privacy.accounting import InvalidPrivacyParameter
from hdc_toolkit.privacy.preprocess import (
    BoundedEncoder,
    CategoricalFeature,
    NumericFeature,
    dp_quantile,
    private_bounds,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "data_contracts"


@pytest.fixture(scope="module")
def contracts():
    return load_contract_dir(CONTRACTS)


def test_bounds_and_categories_come_from_the_contracts(contracts):
    enc = BoundedEncoder.from_contracts(contracts, ["lab_results.value", "patients.sex", "prescriptions.ddd"])
    described = {d["name"]: d for d in enc.describe()}
    assert described["value"] == {
        "name": "value",
        "kind": "numeric",
        "lower": 0.0,
        "upper": 100000.0,
        "source": "contract",
    }
    assert described["sex"]["categories"] == ["F", "M"] and described["sex"]["source"] == "contract"
    assert described["ddd"]["upper"] == 1000.0
    assert enc.feature_names == ["value", "ddd", "sex=F", "sex=M"]


def test_date_bounds_become_years(contracts):
    enc = BoundedEncoder.from_contracts(contracts, ["patients.birth_date"], symmetric=False)
    f = enc.numeric[0]
    assert f.lower == pytest.approx(1900.0) and f.upper == pytest.approx(2026.997, abs=1e-2)
    x = enc.transform(pd.DataFrame({"birth_date": pd.to_datetime(["1900-01-01", "2026-12-31", None])}))
    assert x[:, 0] == pytest.approx([0.0, 1.0, 0.5], abs=1e-4)


def test_declared_bounds_win_and_derived_features_are_allowed(contracts):
    enc = BoundedEncoder.from_contracts(
        contracts, ["lab_results.value", "age"], bounds={"value": (20, 150), "age": (18, 105)}
    )
    assert [(f.name, f.lower, f.upper, f.source) for f in enc.numeric] == [
        ("value", 20.0, 150.0, "declared"),
        ("age", 18.0, 105.0, "declared"),
    ]


def test_a_column_without_public_bounds_is_refused_with_the_fix(contracts):
    with pytest.raises(DataError, match="not private.*bounds=.*private_bounds"):
        _no_bounds()
    with pytest.raises(DataError, match="categories="):
        BoundedEncoder.from_contracts(contracts, ["patients.municipality"])
    with pytest.raises(DataError, match="in no contract"):
        BoundedEncoder.from_contracts(contracts, ["shoe_size"])


def _no_bounds():
    from hdc_toolkit.contracts.model import Column, Contract

    contract = Contract(name="t", columns=(Column(name="visits", logical_type="integer"),))
    BoundedEncoder.from_contracts(contract, ["visits"])


def test_transform_clips_scales_imputes_and_one_hot_encodes():
    enc = BoundedEncoder(
        [NumericFeature("x", 0, 10)], [CategoricalFeature("c", ("a", "b"))], missing_indicators=True
    )
    frame = pd.DataFrame({"x": [-5, 5, 20, np.nan], "c": ["a", "b", "z", None]})
    expected = np.array([[-1, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=float)
    assert enc.feature_names == ["x", "x__missing", "c=a", "c=b"]
    assert np.array_equal(enc.transform(frame), expected)
    unit = BoundedEncoder([NumericFeature("x", 0, 10)], symmetric=False)
    assert list(unit.transform(frame)[:, 0]) == [0.0, 0.5, 1.0, 0.5]


def test_encoding_of_a_row_does_not_depend_on_the_other_rows():
    """No statistic of the data enters the encoding: a row encodes the same alone or in any table."""
    enc = BoundedEncoder([NumericFeature("x", 0, 100)], [CategoricalFeature("c", ("a", "b"))])
    rng = np.random.default_rng(1)
    big = pd.DataFrame({"x": rng.normal(50, 30, 500), "c": rng.choice(["a", "b"], 500)})
    alone = enc.transform(big.iloc[[7]])
    assert np.array_equal(enc.transform(big)[7], alone[0])


def test_bad_bounds_are_refused():
    with pytest.raises(InvalidPrivacyParameter):
        NumericFeature("x", 5, 5)
    with pytest.raises(InvalidPrivacyParameter):
        CategoricalFeature("c", ())


def test_dp_quantile_and_bounds_are_close_at_large_epsilon():
    rng = np.random.default_rng(3)
    values = rng.uniform(20, 80, 5000)
    q = dp_quantile(values, 0.5, epsilon=50.0, lower=0, upper=200, rng=np.random.default_rng(0))
    assert abs(q - 50) < 2
    f = private_bounds(values, epsilon=20.0, search_lower=0, search_upper=200, name="x")
    assert f.source == "dp" and 15 < f.lower < 25 and 75 < f.upper < 85
