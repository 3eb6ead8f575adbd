"""Fast privacy metrics: the same values as SDMetrics' implementations, without the quadratic cost."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdc_toolkit.synth import privacy as P

warnings.filterwarnings("ignore", category=FutureWarning)


def _frame(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, null_rate: float = 0.1, cats: int = 30
) -> pd.DataFrame:
    df = pd.DataFrame({
        "x": rng.normal(shift, 1, n),
        "y": rng.integers(0, 5, n).astype(float),
        "t": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
        "low": rng.choice(["a", "b", "c"], n).astype(object),
        "high": rng.choice([f"k{i}" for i in range(cats)], n).astype(object),
        "flag": rng.random(n) < 0.3,
    })  # fmt: skip
    for c in ("x", "low", "high"):
        df.loc[rng.random(n) < null_rate, c] = None if c != "x" else np.nan
    df.loc[rng.random(n) < null_rate, "t"] = pd.NaT
    return df


COLUMNS = {
    "x": "numerical",
    "y": "numerical",
    "t": "datetime",
    "low": "categorical",
    "high": "categorical",
    "flag": "boolean",
}


def _sdmetrics_dcr(data: pd.DataFrame, ref: pd.DataFrame) -> np.ndarray:
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    meta = {"columns": {c: {"sdtype": t} for c, t in COLUMNS.items()}}
    return calculate_dcr(data, ref, meta).to_numpy()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), shift=st.sampled_from([0.0, 0.5, 3.0]), null_rate=st.sampled_from([0.0, 0.2]),
       cats=st.sampled_from([3, 40]))  # fmt: skip
def test_dcr_equals_sdmetrics(seed: int, shift: float, null_rate: float, cats: int) -> None:
    rng = np.random.default_rng(seed)
    ref = _frame(rng, 70, null_rate=null_rate, cats=cats)
    data = _frame(
        rng, 50, shift=shift, null_rate=null_rate, cats=cats
    )  # shift=3 puts queries outside the range (capped)
    np.testing.assert_allclose(P.dcr(data, ref, COLUMNS), _sdmetrics_dcr(data, ref), atol=1e-12)


def test_dcr_handles_copies_ties_and_constant_columns() -> None:
    rng = np.random.default_rng(5)
    ref = _frame(rng, 60)
    ref["y"] = 2.0  # a range of 0: equality, as in SDMetrics
    data = pd.concat([ref.iloc[:20], _frame(rng, 20)], ignore_index=True)
    data["y"] = np.where(np.arange(40) < 30, 2.0, 3.0)
    got = P.dcr(data, ref, COLUMNS)
    np.testing.assert_allclose(got, _sdmetrics_dcr(data, ref), atol=1e-12)
    assert np.all(got[:20] == 0)


def test_scores_equal_sdmetrics_within_001() -> None:
    from sdmetrics.single_table import DCRBaselineProtection, DCROverfittingProtection, DisclosureProtection

    rng = np.random.default_rng(7)
    train, holdout, syn = _frame(rng, 150), _frame(rng, 150), _frame(rng, 150, shift=0.2)
    meta = {"columns": {c: {"sdtype": t} for c, t in COLUMNS.items()}}
    ours = P.dcr_overfitting_protection(train, syn, holdout, COLUMNS)
    theirs = DCROverfittingProtection.compute_breakdown(train, syn, holdout, meta, None)
    assert abs(ours["score"] - theirs["score"]) <= 0.01
    rnd = P.random_baseline(train, len(syn), seed=1)
    original = DCRBaselineProtection._generate_random_data
    try:
        DCRBaselineProtection._generate_random_data = classmethod(lambda cls, real, num_samples=None: rnd)
        theirs = DCRBaselineProtection.compute_breakdown(train, syn, meta, None)
    finally:
        DCRBaselineProtection._generate_random_data = original
    ours = P.dcr_baseline_protection(train, syn, COLUMNS, random_data=rnd)
    assert abs(ours["score"] - theirs["score"]) <= 0.01
    known, sens = ["low", "x"], ["high"]
    theirs = DisclosureProtection.compute_breakdown(train, syn, known, sens, continuous_column_names=["x"])
    ours = P.disclosure_protection(train, syn, known, sens, continuous_column_names=["x"])
    assert ours["score"] == pytest.approx(theirs["score"], abs=0.01)
    assert ours["cap_protection"] == pytest.approx(theirs["cap_protection"], abs=1e-9)


def test_fixed_ranges_remove_the_closer_to_training_bias() -> None:
    """Fresh real data is closer to training half the time once ranges are fixed (the SDMetrics flaw)."""
    rng = np.random.default_rng(11)
    cols = {"a": "numerical", "b": "numerical", "c": "categorical"}

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"a": rng.lognormal(0, 1, n), "b": rng.standard_t(2, n), "c": rng.choice(list("pqrs"), n)}
        )

    shares_fixed, shares_ref = [], []
    for _ in range(6):
        train, holdout, fresh = draw(400), draw(400), draw(400)
        shares_fixed.append(
            P.dcr_overfitting_protection(train, fresh, holdout, cols, ranges="fixed")[
                "synthetic_data_percentages"
            ]["closer_to_training"]
        )
        shares_ref.append(
            P.dcr_overfitting_protection(train, fresh, holdout, cols, ranges="reference")[
                "synthetic_data_percentages"
            ]["closer_to_training"]
        )
    assert abs(np.mean(shares_fixed) - 0.5) < 0.04
    assert abs(np.mean(shares_ref) - 0.5) > abs(np.mean(shares_fixed) - 0.5)


def test_relative_measures_flag_a_copy_and_not_fresh_data() -> None:
    rng = np.random.default_rng(3)
    train, holdout, fresh = _frame(rng, 300), _frame(rng, 300), _frame(rng, 300)
    copy = train.sample(frac=1.0, random_state=1).reset_index(drop=True)
    for release, leaky in ((fresh, False), (copy, True)):
        r = P.evaluate_privacy(
            train, release, holdout, COLUMNS, k=10, quasi_identifiers=["low", "flag"], sensitive=["high"]
        )
        if leaky:
            assert r.exact_match_synthetic > 0.9 and r.membership_auc > 0.9 and r.median_dcr_synthetic == 0
        else:
            assert r.exact_match_synthetic == 0 and abs(r.membership_auc - 0.5) < 0.08
            assert abs(r.closer_to_training - 0.5) < 0.1


def test_exact_match_and_rare_values() -> None:
    a = pd.DataFrame({"c": ["x", "x", "y", "z"], "n": [1.0, 2.0, np.nan, 4.0]})
    b = pd.DataFrame({"c": ["x", "y", "q", "z"], "n": [1.0, np.nan, 3.0, 4.5]})
    assert P.exact_match_rate(b, a, ["c", "n"]) == 0.5
    leak = P.rare_value_leakage(a, b, ["c"], k=2)
    assert leak["c"] == {"rare_values": 2, "leaked_values": 2, "leaked_rows": 2}


def test_membership_auc_is_half_for_exchangeable_sets() -> None:
    rng = np.random.default_rng(9)
    a, b, s = _frame(rng, 200), _frame(rng, 200), _frame(rng, 200)
    assert abs(P.membership_auc(a, b, s, COLUMNS) - 0.5) < 0.08


def test_dcr_exact_with_many_codes_and_a_query_whose_codes_match_nothing() -> None:
    rng = np.random.default_rng(21)
    n = 80
    cols = {f"c{i}": "categorical" for i in range(10)} | {"x": "numerical"}
    ref = pd.DataFrame({f"c{i}": rng.choice(list("abc"), n) for i in range(10)} | {"x": rng.random(n)})
    data = pd.DataFrame({f"c{i}": rng.choice(list("abcd"), 30) for i in range(10)} | {"x": rng.random(30)})
    data.iloc[0, :10] = "d"  # agrees with no reference row on any code
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    expected = calculate_dcr(data, ref, {"columns": {c: {"sdtype": t} for c, t in cols.items()}}).to_numpy()
    np.testing.assert_allclose(P.dcr(data, ref, cols), expected, atol=1e-12)
