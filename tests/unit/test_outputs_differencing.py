"""Differencing: nested cohorts, overlapping categories and margins against released tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.outputs import differencing as d
from hdc_toolkit.outputs.tables import SafeTable, frequency_table, histogram
from hdc_toolkit.results import Verdict


def cells(t: SafeTable, ref: str) -> d.LedgerTable:
    layout = t.layout()
    return d.ledger_table(
        t.table, ref=ref, index_names=layout["index_names"], columns_name=layout["columns_name"]
    )


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 2000
    return pd.DataFrame(
        {
            "county": rng.choice(["Trøndelag", "Møre og Romsdal"], n),
            "sex": rng.choice(["F", "M"], n),
            "age": rng.integers(0, 100, n),
        }
    )


class TestLabels:
    @pytest.mark.parametrize(
        ("a", "b", "rel"),
        [
            ("F", "F", d.EQUAL),
            ("F", "M", d.UNRELATED),
            ("F", "Total", d.INSIDE),
            ("All", "F", d.CONTAINS),
            ("Total", "total", d.EQUAL),
            ("[0, 18)", "[0, 20)", d.INSIDE),
            ("[0, 20)", "[0, 18)", d.CONTAINS),
            ("[0, 18)", "[10, 30)", d.UNRELATED),
            ("(17.5, 64.5]", "(17.5, 64.5]", d.EQUAL),
            ("18-64", "[18, 65)", d.EQUAL),
            ("18-19", "18-64", d.INSIDE),
            ("65+", "[70, 80)", d.CONTAINS),
            ("<18", "[0, 18)", d.CONTAINS),
            ("[0, 18]", "[0, 18)", d.CONTAINS),  # closed end holds one more value
        ],
    )
    def test_relation(self, a: str, b: str, rel: str) -> None:
        assert d.relation(a, b) == rel


class TestNestedCohorts:
    def test_small_difference_is_flagged(self, cohort: pd.DataFrame) -> None:
        released = cells(frequency_table(cohort, "county", "sex"), "request 1: all.csv")
        smaller = cohort.drop(index=cohort.index[:4])  # the same table without 4 people
        new = cells(frequency_table(smaller, "county", "sex"), "new.csv")
        check, findings = d.check_differencing("new.csv", new, [released], threshold=10)
        assert check.verdict is Verdict.WARNING and "request 1: all.csv" in check.message
        totals = [f for f in findings if f.cell["county"] == "Total" and f.cell["sex"] == "Total"]
        assert totals and totals[0].difference == 4
        assert all(0 < f.difference < 10 for f in findings)

    def test_large_difference_is_not(self, cohort: pd.DataFrame) -> None:
        released = cells(frequency_table(cohort, "county", "sex"), "all")
        half = cells(frequency_table(cohort.iloc[::2], "county", "sex"), "half")
        check, findings = d.check_differencing("half", half, [released], threshold=10)
        assert check.verdict is Verdict.PASSED and findings == []

    def test_identical_table_is_not_flagged(self, cohort: pd.DataFrame) -> None:
        t = cells(frequency_table(cohort, "county", "sex"), "t")
        assert d.find_differences(t, t, 10) == []


class TestOverlappingCategories:
    def test_age_bands_reveal_the_difference(self) -> None:
        ages = pd.DataFrame({"age": list(range(0, 90)) * 5 + [18, 19] * 1})  # 12 people aged 18-19
        a = cells(histogram(ages, "age", bins=[0, 18, 65, 90]), "request 2: bands.csv")
        b = cells(histogram(ages, "age", bins=[0, 20, 65, 90]), "bands2.csv")
        findings = d.find_differences(b, a, threshold=15)
        pairs = {(f.cell["age"], f.against_cell["age"], f.difference) for f in findings}
        assert ("[0, 20)", "[0, 18)", 12.0) in pairs
        assert ("[20, 65)", "[18, 65)", 12.0) in pairs
        assert d.find_differences(b, a, threshold=10) == []  # 12 is not small for threshold 10


class TestMargins:
    def test_one_way_table_recovers_a_suppressed_cell(self) -> None:
        df = pd.DataFrame(
            {"county": ["A"] * 43 + ["B"] * 30, "sex": ["F"] * 40 + ["M"] * 3 + ["F", "M"] * 15}
        )
        two_way = frequency_table(df, "county", "sex")  # (A, M) = 3 is suppressed there
        assert np.isnan(two_way.table.loc["A", "M"])
        one_way = frequency_table(df, "county")  # A = 43 published: 43 - 40 gives the 3 back
        new = cells(one_way, "one_way.csv")
        check, findings = d.check_differencing(
            "one_way.csv", new, [cells(two_way, "two_way.csv")], threshold=10
        )
        assert check.verdict is Verdict.WARNING
        # the two-way table's recomputed margin for A is 40 (the 3 left out); the one-way table says 43
        hit = [f for f in findings if f.cell["county"] == "A"]
        assert hit and hit[0].difference == 3 and hit[0].position == (0, 0)
        assert hit[0].against_cell == {"county": "A", "sex": "Total", "measure": "count"}


def test_ledger_roundtrip(cohort: pd.DataFrame) -> None:
    t = cells(frequency_table(cohort, "county", "sex"), "x")
    again = d.LedgerTable.from_dict(t.to_dict())
    assert again.cells == t.cells and again.dims == t.dims == ("county", "sex", d.MEASURE)


def test_tables_without_a_measure_are_not_compared() -> None:
    a = d.LedgerTable("a", ("x",), {("1",): 5.0})
    assert d.find_differences(a, a, 10) == []
