"""The fast synthesizer's building blocks: marginals, dependence, constraints, rare values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.contracts.model import Column, Contract, PairRule
from hdc_toolkit.synth import _copula as C
from hdc_toolkit.synth import synthesizers as S
from hdc_toolkit.synth.constraints import derive_constraints, repair, violations
from hdc_toolkit.synth.metadata import plan_schema


def test_numeric_marginal_never_depends_on_the_most_extreme_people() -> None:
    """Beyond the k-th smallest / largest value the marginal is a smooth fitted tail: the k-1 most
    extreme people at each end can be anything without changing one synthetic value, about k / n of
    the draws fall in each tail (as fresh real data would), and none passes the tail's expected extreme."""
    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 1.5, 5000)
    srt = np.sort(x)
    m = C.NumericMarginal.fit(x, 10, "number")
    z = rng.standard_normal(200_000)
    out = m.decode(z, "number")
    assert abs(np.median(out) - np.median(x)) / np.median(x) < 0.05
    for tail in (out > srt[-10], out < srt[9]):
        assert 0.5 * 10 / 5000 < tail.mean() < 2 * 10 / 5000
    assert m.cap_lo <= out.min() and out.max() <= m.cap_hi
    assert (
        srt[-10] < m.cap_hi < 20 * srt[-10] and 0 <= m.cap_lo < srt[9]
    )  # a positive quantity stays positive
    changed = x.copy()
    order = np.argsort(x)
    changed[order[-9:]] *= 1000.0  # the nine largest become absurd
    changed[order[:9]] = srt[9] * 0.999  # the nine smallest move up to the tenth
    again = C.NumericMarginal.fit(changed, 10, "number")
    assert np.array_equal(again.decode(z, "number"), out)
    # without protection the full range comes back, extremes included
    full = C.NumericMarginal.fit(x, 10, "number", protect_extremes=False)
    assert full.decode(np.array([-9.0, 9.0]), "number").tolist() == pytest.approx([srt[0], srt[-1]])


def test_granularity_detection() -> None:
    days = pd.to_datetime(["2020-01-01", "2021-03-01", "2019-07-01"])
    v = C.to_units(pd.Series(days), "date")
    assert C.Granularity.detect(v, "date").period == "M"
    ts = pd.Series(pd.to_datetime(["2020-01-01 10:15", "2020-01-02 11:30"]))
    assert C.Granularity.detect(C.to_units(ts, "timestamp"), "timestamp").step == 60.0
    assert C.Granularity.detect(np.array([1.5, 2.25, 3.0]), "number").step == 0.01


def test_categorical_marginal_drops_rare_values() -> None:
    s = pd.Series(["a"] * 50 + ["b"] * 20 + ["rare"] * 3)
    m, share = C.CategoricalMarginal.fit(s, 10)
    assert set(m.values) == {"a", "b"} and share == pytest.approx(70 / 73)
    out = m.decode(np.random.default_rng(0).standard_normal(10_000))
    assert set(out) == {"a", "b"} and abs((out == "a").mean() - 50 / 70) < 0.02


def test_attenuation_corrects_binary_correlations() -> None:
    rng = np.random.default_rng(1)
    z = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], 50_000)
    b = (z[:, 1] > 0).astype(float)
    m, _ = C.CategoricalMarginal.fit(pd.Series(b), 1)
    zb = m.encode(pd.Series(b), rng)
    observed = np.corrcoef(z[:, 0], zb)[0, 1]
    corrected = C.correlation(np.column_stack([z[:, 0], zb]), np.array([1.0, C.attenuation(m.edges)]))[0, 1]
    assert abs(observed) < 0.7 and abs(corrected) == pytest.approx(
        0.8, abs=0.03
    )  # the sign follows the code order


def _table(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, Contract]:
    rng = np.random.default_rng(seed)
    code = rng.choice(["A", "B", "C", "D"], n, p=[0.4, 0.3, 0.2, 0.1])
    unit = pd.Series(code).map({"A": "mg", "B": "g", "C": "mg", "D": "kg"}).to_numpy()
    value = np.where(
        code == "A", rng.normal(10, 1, n), np.where(code == "B", rng.normal(100, 5, n), rng.normal(50, 3, n))
    )
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    end = start + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "code": code,
            "unit": unit,
            "value": value.round(1),
            "start": start,
            "end": end,
        }
    )
    contract = Contract(
        name="t",
        columns=(
            Column("id", "integer", primary_key=True, unique=True, required=True),
            Column("code", "string", required=True, allowed_values=("A", "B", "C", "D")),
            Column("unit", "string", required=True),
            Column("value", "number", required=True, minimum=0, maximum=200),
            Column("start", "date", required=True),
            Column("end", "date", required=True),
        ),
        pair_rules=(PairRule("end_after_start", "end", "<", "start"),),
    )
    return df, contract


def test_fast_model_keeps_functions_orders_and_conditional_values() -> None:
    df, contract = _table()
    model = S.fit(df, contract, seed=1)
    syn = model.sample(seed=2)["t"]
    assert len(syn) == len(df) and syn["id"].is_unique
    # unit is derived from code, exactly as in the real data
    assert (syn.groupby("code")["unit"].nunique() == 1).all()
    assert dict(zip(syn["code"], syn["unit"], strict=True)) == {"A": "mg", "B": "g", "C": "mg", "D": "kg"}
    # value follows its code, not the pooled distribution
    means = syn.groupby("code")["value"].mean()
    assert means["A"] == pytest.approx(10, abs=1) and means["B"] == pytest.approx(100, abs=3)
    # the order rule holds by construction (gap model), with nothing to repair
    assert (syn["end"] >= syn["start"]).all()
    assert not model.sample(seed=3).repair_log.changed
    assert "unit is a function of" in " ".join(model.notes)


def test_repair_fixes_any_synthesizer_output() -> None:
    df, contract = _table(500)
    plan = plan_schema(contract)
    cons = derive_constraints(plan, {"t": df})
    bad = df.copy()
    bad.loc[:9, "code"] = "Z"  # not allowed
    bad.loc[10:19, "value"] = 999.0  # out of range
    bad.loc[20:29, "end"] = bad.loc[20:29, "start"] - pd.Timedelta(days=3)  # order broken
    bad.loc[30:39, "id"] = 1  # duplicate keys
    before = violations({"t": bad}, cons)
    assert before["t.code"] == 10 and before["t.value"] == 10 and before["t.rule.start<end"] == 10
    fixed, log = repair({"t": bad}, cons, seed=0)
    assert violations(fixed, cons) == {}
    assert len(fixed["t"]) == 500 and log.total_changed >= 40


@pytest.mark.parametrize("k", [1, 10])
def test_rare_values_are_never_generated(k: int) -> None:
    df, contract = _table(2000)
    df.loc[:4, "code"] = "D"
    df.loc[:4, "unit"] = "kg"
    df.loc[5:7, "code"] = "C"
    model = S.fit(df, contract, seed=1, min_count=k)
    syn = model.sample(seed=2)["t"]
    counts = df["code"].value_counts()
    rare = set(counts[counts < k].index)
    assert not rare & set(syn["code"])


def test_same_seed_same_synthetic_data() -> None:
    df, contract = _table(800)
    a = S.fit(df, contract, seed=4).sample(seed=9)["t"]
    b = S.fit(df, contract, seed=4).sample(seed=9)["t"]
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(S.fit(df, contract, seed=4).sample(seed=10)["t"])
