"""The notebook API: each table comes with its checks; bad input is a result; pandas and Dask agree."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.exceptions import DataError
from hdc_toolkit.outputs import rules
from hdc_toolkit.outputs.tables import (
    SIDECAR_SUFFIX,
    SafeTable,
    frequency_table,
    histogram,
    magnitude_table,
    regression,
    survival_table,
)
from hdc_toolkit.results import Verdict


def verdicts(t: SafeTable) -> dict[str, str]:
    return {c.kind: c.verdict.value for c in t.run.checks}


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    county = rng.choice(["Trøndelag", "Møre og Romsdal", "Nordland"], n, p=[0.6, 0.39, 0.01])
    return pd.DataFrame(
        {
            "pid": [f"{i:016x}" for i in rng.integers(0, 2**60, n)],
            "county": county,
            "sex": rng.choice(["F", "M"], n),
            "age": rng.integers(18, 95, n),
            "cost": rng.gamma(2.0, 1000.0, n),
            "days": rng.exponential(400, n).round(),
            "died": rng.integers(0, 2, n),
        }
    )


# ---------------------------------------------------------------- frequency


class TestFrequency:
    def test_small_cells_suppressed_and_margins_recomputed(self, people: pd.DataFrame) -> None:
        t = frequency_table(people, "county", "sex")
        raw = t.raw
        assert raw.loc["Nordland", ["F", "M"]].tolist() == [5, 0]
        assert t.table.loc["Nordland"].isna().all()  # suppressed, total too
        kept = t.table.drop(index="Total").drop(columns="Total")
        assert t.table.loc["Total", "Total"] == kept.sum().sum()
        assert verdicts(t)[rules.RULE_THRESHOLD] == "warning"
        assert t.status == "review" and t.passed
        row = list(t.table.index).index("Nordland")
        assert t.flags[(row, 0)] == [rules.RULE_THRESHOLD] and t.flags[(row, 1)] == [rules.RULE_ZERO]

    def test_one_dimension(self, people: pd.DataFrame) -> None:
        t = frequency_table(people, "sex", margins=False)
        assert list(t.table.columns) == ["count"]
        assert t.table["count"].sum() == len(people)
        assert t.verdict is Verdict.PASSED

    def test_without_mitigation_the_raw_table_fails(self, people: pd.DataFrame) -> None:
        t = frequency_table(people, "county", "sex", mitigate=False)
        assert verdicts(t)[rules.RULE_THRESHOLD] == "failed"
        assert not t.passed

    def test_zero_cells_follow_the_profile(self) -> None:
        df = pd.DataFrame({"a": ["x"] * 20 + ["y"] * 20, "b": ["p"] * 20 + ["q"] * 20})
        acro = frequency_table(df, "a", "b")
        assert verdicts(acro)[rules.RULE_ZERO] == "warning"
        assert math.isnan(acro.table.loc["x", "q"])
        os_ = frequency_table(df, "a", "b", profile="opensafely")
        assert os_.table.loc["x", "q"] == 0 and rules.RULE_ZERO not in verdicts(os_)

    @pytest.mark.parametrize(("profile", "n", "published"), [("opensafely", 12, 10), ("nhs-sde", 13, 15)])
    def test_rounding_profiles(self, profile: str, n: int, published: int) -> None:
        df = pd.DataFrame({"a": ["x"] * n})
        t = frequency_table(df, "a", profile=profile, margins=False)
        assert t.table.loc["x", "count"] == published
        assert verdicts(t)["unrounded"] == "passed"

    def test_missing_values_are_a_category(self) -> None:
        df = pd.DataFrame({"a": ["x"] * 12 + [None] * 12})
        t = frequency_table(df, "a", margins=False)
        assert t.table["count"].tolist() == [12, 12]

    def test_unknown_column_is_a_data_error(self, people: pd.DataFrame) -> None:
        with pytest.raises(DataError, match="no column"):
            frequency_table(people, "kommune")


# ---------------------------------------------------------------- magnitude


class TestMagnitude:
    def test_dominance_is_judged_on_contributors(self) -> None:
        # 12 records in one cell, but 11 of them belong to one patient: 2 contributors, dominated
        df = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 12, "pid": ["p1"] * 11 + ["p2"] + list("abcdefghijkl"),
                           "v": [10.0] * 12 + [5.0] * 12})  # fmt: skip
        t = magnitude_table(df, "g", values="v", contributor="pid")
        assert math.isnan(t.table.loc["a", "sum(v)"])
        assert t.table.loc["b", "sum(v)"] == 60
        checks = verdicts(t)
        assert (
            checks[rules.RULE_THRESHOLD] == checks[rules.RULE_NK] == checks[rules.RULE_P_PERCENT] == "warning"
        )
        by_record = magnitude_table(df, "g", values="v")  # every record a contributor
        assert by_record.table.loc["a", "sum(v)"] == 120

    @pytest.mark.parametrize(
        ("values", "fails"),
        [([100.0] * 10, False), ([1000.0, 1000.0] + [1.0] * 10, True)],
        ids=["even", "two-dominate"],
    )
    def test_nk_and_p(self, values: list[float], fails: bool) -> None:
        df = pd.DataFrame({"g": "a", "v": values})
        t = magnitude_table(df, "g", values="v", mitigate=False)
        assert (verdicts(t)[rules.RULE_NK] == "failed") is fails

    def test_mean(self) -> None:
        df = pd.DataFrame({"g": ["a"] * 10, "v": list(range(10))})
        t = magnitude_table(df, "g", values="v", aggfunc="mean")
        assert t.table.loc["a", "mean(v)"] == 4.5

    def test_non_numeric_values_are_reviewed(self) -> None:
        df = pd.DataFrame({"g": ["a"] * 12, "v": ["1"] * 10 + ["lots", "n/a"]})
        t = magnitude_table(df, "g", values="v")
        check = t.run.by_key()[f"{t.name}.non-numeric"]
        assert check.verdict is Verdict.WARNING and "2 of 12" in check.message
        assert t.raw.loc["a", "sum(v)"] == 10

    def test_negative_values_are_reviewed(self) -> None:
        df = pd.DataFrame({"g": ["a"] * 12, "v": [10.0] * 11 + [-3.0]})
        t = magnitude_table(df, "g", values="v")
        assert t.run.by_key()[f"{t.name}.negative"].verdict is Verdict.WARNING
        assert rules.RULE_NEGATIVE in t.flags[(0, 0)]

    def test_missing_contributor_ids_are_reviewed(self) -> None:
        df = pd.DataFrame({"g": ["a"] * 12, "pid": [None, None] + [f"p{i}" for i in range(10)], "v": 1.0})
        t = magnitude_table(df, "g", values="v", contributor="pid")
        check = t.run.by_key()[f"{t.name}.missing-contributors"]
        assert check.verdict is Verdict.WARNING and "2 record(s)" in check.message
        assert t.table.loc["a", "sum(v)"] == 12  # the two count as contributors of their own

    def test_missing_contributor_column_is_reviewed(self) -> None:
        df = pd.DataFrame({"g": ["a"] * 12, "v": 1.0})
        t = magnitude_table(df, "g", values="v", contributor="pid")
        assert t.run.by_key()[f"{t.name}.missing-contributors"].verdict is Verdict.WARNING
        assert t.properties["contributor"] is None

    def test_all_values_unusable(self) -> None:
        df = pd.DataFrame({"g": ["a", "b"], "v": ["x", "y"]})
        t = magnitude_table(df, "g", values="v")
        assert t.run.by_key()[f"{t.name}.non-numeric"].verdict is Verdict.WARNING
        assert t.table.empty or t.table.isna().all().all()

    def test_bad_aggfunc(self) -> None:
        with pytest.raises(ValueError, match="aggfunc"):
            magnitude_table(pd.DataFrame({"g": [], "v": []}), "g", values="v", aggfunc="max")


# ---------------------------------------------------------------- regression, survival, histogram


class TestRegression:
    def test_dof_boundary(self) -> None:
        import statsmodels.api as sm

        def fit(n: int) -> object:
            rng = np.random.default_rng(n)
            x = sm.add_constant(rng.normal(size=n))
            return sm.OLS(rng.normal(size=n), x).fit()

        assert verdicts(regression(fit(11)))[rules.RULE_DOF] == "failed"  # dof 9
        assert verdicts(regression(fit(12)))[rules.RULE_DOF] == "passed"  # dof 10
        t = regression(fit(40))
        assert list(t.table.columns)[:2] == ["coef", "std err"] and t.properties["dof"] == 38

    def test_logit_from_formula(self, people: pd.DataFrame) -> None:
        import statsmodels.formula.api as smf

        t = regression(smf.logit("died ~ age", people).fit(disp=0))
        assert t.verdict is Verdict.PASSED and "age" in t.table.index

    def test_not_a_model_is_reviewed(self) -> None:
        t = regression("not a model")
        assert t.verdict is Verdict.WARNING and t.table.empty


class TestSurvival:
    def test_life_table(self) -> None:
        df = pd.DataFrame({"t": [5] * 20 + [15] * 20 + [25] * 30, "e": [1] * 20 + [0] * 20 + [1] * 30})
        t = survival_table(df, "t", "e", times=[0, 10, 20])
        assert t.table["at_risk"].tolist() == [70, 50, 30]
        assert t.table["events"].tolist() == [20, 0, 30]
        assert t.table["survival"].iloc[0] == pytest.approx(50 / 70)
        assert t.verdict is Verdict.PASSED

    def test_small_tail_is_suppressed_so_it_cannot_be_derived(self) -> None:
        df = pd.DataFrame({"t": [5] * 30 + [15] * 12 + [25] * 4, "e": [1] * 30 + [0] * 12 + [1] * 4})
        t = survival_table(df, "t", "e", times=[0, 10, 20])
        assert t.raw["at_risk"].tolist() == [46, 16, 4]
        # the last interval's at-risk count (4) equals 16 - 0 - 12 from the row above: both hidden
        assert t.table["at_risk"].tolist()[:2] == [46, 16]
        assert t.table[["events", "censored"]].iloc[1:].isna().all().all()
        assert math.isnan(t.table["survival"].iloc[2])
        assert verdicts(t)[rules.RULE_THRESHOLD] == "warning"

    def test_invalid_rows_are_reviewed(self) -> None:
        df = pd.DataFrame({"t": [5] * 20 + [-1, None], "e": [1] * 20 + [1, 1]})
        t = survival_table(df, "t", "e", times=[0])
        assert t.run.by_key()[f"{t.name}.invalid-rows"].verdict is Verdict.WARNING

    def test_groups(self, people: pd.DataFrame) -> None:
        t = survival_table(people, "days", "died", times=[0, 365], group="sex")
        assert t.table.index.names == ["sex", "interval"]
        assert t.raw.xs("F")["at_risk"].iloc[0] == (people.sex == "F").sum()


class TestHistogram:
    def test_explicit_bins(self, people: pd.DataFrame) -> None:
        t = histogram(people, "age", bins=[18, 40, 65, 95])
        assert list(t.table.index) == ["[18, 40)", "[40, 65)", "[65, 95]"]
        assert t.table["count"].sum() == len(people)
        assert "bin-edges" not in verdicts(t)

    def test_bins_from_the_data_are_reviewed(self, people: pd.DataFrame) -> None:
        t = histogram(people, "age", bins=4)
        assert verdicts(t)["bin-edges"] == "warning"

    def test_small_bins_and_non_numbers(self) -> None:
        df = pd.DataFrame({"x": [1] * 20 + [9] * 3 + ["?"]})
        t = histogram(df, "x", bins=[0, 5, 10])
        assert math.isnan(t.table["count"].iloc[1])
        assert verdicts(t)["non-numeric"] == "warning"


# ---------------------------------------------------------------- saving and displaying


def test_save_writes_csv_and_sdc_record(tmp_path: Path, people: pd.DataFrame) -> None:
    t = frequency_table(people, "county", "sex")
    csv = t.save(tmp_path)
    side = json.loads((tmp_path / f"{csv.stem}{SIDECAR_SUFFIX}").read_text())
    import hashlib

    assert side["csv_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert side["kind"] == "frequency" and side["status"] == "review"
    assert side["sdc"]["summary"] == {rules.RULE_THRESHOLD: 1, rules.RULE_ZERO: 1, "suppressed": True}
    assert side["layout"] == {
        "index_cols": 1,
        "index_names": ["county"],
        "columns_name": "sex",
        "margins": True,
    }
    text = csv.read_text()
    assert text.splitlines()[0] == "county,F,M,Total" and "Nordland,,," in text  # counts as integers
    assert "pid" not in json.dumps(side)


def test_saved_names_are_airlock_safe(tmp_path: Path) -> None:
    df = pd.DataFrame({"kommune nr": ["5001"] * 12})
    csv = frequency_table(df, "kommune nr").save(tmp_path)
    assert csv.name == "frequency_kommune_nr.csv"
    assert (
        frequency_table(df, "kommune nr").save(tmp_path, name="Tabell 1: Trøndelag").name
        == "Tabell_1_Tr_ndelag.csv"
    )


def test_html_highlights_flagged_cells(people: pd.DataFrame) -> None:
    html = frequency_table(people, "county", "sex")._repr_html_()
    assert html.count('class="flagged suppressed"') == 2 and "review" in html


# ---------------------------------------------------------------- Dask


@pytest.mark.parametrize(
    "build",
    [
        lambda d: frequency_table(d, "county", "sex", profile="nhs-sde"),
        lambda d: magnitude_table(d, "county", "sex", values="cost", contributor="pid"),
        lambda d: magnitude_table(d, "county", values="cost", aggfunc="mean"),
        lambda d: histogram(d, "age", bins=[18, 50, 95]),
        lambda d: survival_table(d, "days", "died", times=[0, 100, 500], group="sex"),
    ],
    ids=["frequency", "magnitude-sum", "magnitude-mean", "histogram", "survival"],
)
def test_dask_gives_the_pandas_result(people: pd.DataFrame, build: object) -> None:
    dd = pytest.importorskip("dask.dataframe")
    expected = build(people)  # type: ignore[operator]
    got = build(dd.from_pandas(people, npartitions=4))  # type: ignore[operator]
    pd.testing.assert_frame_equal(got.table, expected.table)
    assert got.flags == expected.flags
    assert verdicts(got) == verdicts(expected)
