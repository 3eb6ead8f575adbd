"""The epidemiology helpers against small examples computed by hand (the arithmetic is in the comments).

The population (window 2016-01-01 – 2017-12-31, age bands 0-39 / 40-59 / 60+):

=====  ==========  ===  ==========  ================  =============================================
 pid    born        sex  died        E11 index day     what happens
=====  ==========  ===  ==========  ================  =============================================
 A      1976-07-01  F    -           -                 turns 40 on 2016-07-01
 B      1957-01-01  M    -           2017-03-01        turns 59 / 60 on 1 January; event at 60
 C      1990-05-20  F    2016-03-10  -                 dies after 69 days (31 + 29 + 9)
 D      1950-01-01  M    -           2015-06-01        prevalent: excluded from incidence
 E      2017-02-01  F    -           -                 born in the window: enters at birth
 F      1966-12-31  M    -           2016-12-31        event on his 50th birthday, aged 50
 G      1940-06-15  F    2017-06-15  2017-06-15        event and death on the same day
 H      (missing)   F    -           -                 no birth date: excluded
 I      1976-02-29  M    -           -                 leap-day birthday: 1 March in 2017
=====  ==========  ===  ==========  ================  =============================================
"""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.analysis import epi
from hdc_toolkit.exceptions import DataError, NotFoundError

BANDS = (0, 40, 60)
WINDOW = {"start": "2016-01-01", "end": "2017-12-31"}


@pytest.fixture(autouse=True)
def _synchronous_dask():
    with dask.config.set(scheduler="sync"):
        yield


def population() -> pd.DataFrame:
    return pd.DataFrame({
        "pid": list("ABCDEFGHI"),
        "birth_date": pd.to_datetime(["1976-07-01", "1957-01-01", "1990-05-20", "1950-01-01", "2017-02-01",
                                      "1966-12-31", "1940-06-15", None, "1976-02-29"]),
        "sex": list("FMFMFMFFM"),
        "death_date": pd.to_datetime([None, None, "2016-03-10", None, None, None, "2017-06-15", None, None]),
    })  # fmt: skip


def e11_cohort() -> pd.DataFrame:
    return pd.DataFrame({
        "pid": ["B", "D", "F", "G"],
        "index_date": pd.to_datetime(["2017-03-01", "2015-06-01", "2016-12-31", "2017-06-15"]),
    })  # fmt: skip


def as_dask(frame: pd.DataFrame, n: int = 3) -> dd.DataFrame:
    return dd.from_pandas(frame, npartitions=n, sort=False)


def cells(table: pd.DataFrame, value: str) -> dict[tuple, float]:
    keys = [c for c in ("year", "age_band", "sex") if c in table.columns]
    return {tuple(str(v) if not isinstance(v, (int, np.integer)) else int(v) for v in row[keys]): row[value]
            for _, row in table.iterrows() if row[value]}  # fmt: skip


# -- exact intervals ----------------------------------------------------------------------------------


def test_poisson_ci_matches_the_garwood_table():
    # Garwood (1936) 95 % limits for a count k, as tabulated to 4 decimals: k=0 (0, 3.6889),
    # k=1 (0.0253, 5.5716), k=5 (1.6235, 11.6683), k=10 (4.7954, 18.3904); k=0 upper = -ln(0.025)
    lower, upper = epi.poisson_ci([0, 1, 5, 10])
    assert lower == pytest.approx([0.0, 0.0253, 1.6235, 4.7954], abs=5e-5)
    assert upper == pytest.approx([3.6889, 5.5716, 11.6683, 18.3904], abs=5e-5)
    assert upper[0] == pytest.approx(-np.log(0.025), rel=1e-12)
    # a rate: 5 events in 2 000 person-years → 2.5 per 1 000, interval (0.8117, 5.8342) per 1 000
    lower, upper = epi.poisson_ci(5, 2000)
    assert (lower * 1000, upper * 1000) == pytest.approx((0.8117, 5.8342), abs=5e-5)


def test_binomial_ci_matches_clopper_pearson():
    # 0/10: upper = 1 - 0.025**(1/10) = 0.3084971; 10/10: lower = 0.025**(1/10) = 0.6915029;
    # 5/10: (0.1870860, 0.8129140)
    lower, upper = epi.binomial_ci([0, 10, 5], [10, 10, 10])
    assert lower == pytest.approx([0.0, 0.6915029, 0.1870860], abs=1e-6)
    assert upper == pytest.approx([0.3084971, 1.0, 0.8129140], abs=1e-6)


def test_interval_arguments_are_checked():
    with pytest.raises(DataError, match="alpha"):
        epi.poisson_ci(1, alpha=1.5)
    with pytest.raises(DataError, match="negative"):
        epi.poisson_ci(-1)
    with pytest.raises(DataError, match="between 0 and the population"):
        epi.binomial_ci(11, 10)


# -- ages and bands -------------------------------------------------------------------------------------


def test_age_in_completed_years():
    born = ["2000-03-15", "2000-03-15", "2000-02-29", "2000-02-29", "2000-02-29", None]
    when = ["2016-03-14", "2016-03-15", "2001-02-28", "2001-03-01", "2004-02-29", "2016-01-01"]
    assert epi.age_at(pd.to_datetime(born), pd.to_datetime(when)).tolist() == [15, 16, 0, 1, 4, -1]


def test_age_band_labels():
    assert epi.age_band_labels((0, 20, 30)) == ["0-19", "20-29", "30+"]
    assert epi.age_band_labels((0, 5, 6)) == ["0-4", "5", "6+"]
    assert epi.age_band_labels() == ["0-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+"]
    with pytest.raises(DataError, match="increasing"):
        epi.age_band_labels((20, 10))


# -- code lists and cohorts ---------------------------------------------------------------------------


def events() -> pd.DataFrame:
    return pd.DataFrame({
        "pid": ["a", "a", "b", "b", "c", "d"],
        "icd10_code": ["E119", "E110", "E101", "E11", "I10", "E11"],
        "admission_time": pd.to_datetime(["2017-05-03 08:00", "2016-02-01 23:59", "2015-01-01",
                                          "2018-07-09 10:30", "2019-01-01", None], format="ISO8601"),
    })  # fmt: skip


def test_code_filter_and_match_codes():
    assert epi.code_filter("icd10_code", ["e11", "E13.1"]) == [("icd10_code", "startswith", ("E11", "E131"))]
    codes = pd.Series(["E119", "E101", None, "E11", "A10BA02"])
    assert epi.match_codes(codes, ["E11", "A10B"]).tolist() == [True, False, False, True, True]
    assert epi.match_codes(codes.astype("category"), "E11").tolist() == [True, False, False, True, False]
    with pytest.raises(DataError, match="code prefixes"):
        epi.match_codes(codes, [])


@pytest.mark.parametrize("lazy", [False, True])
def test_select_cohort_takes_each_persons_first_matching_day(lazy):
    data = as_dask(events(), 2) if lazy else events()
    cohort = epi.select_cohort(data, "E11", code="icd10_code", date="admission_time")
    # a: E110 on 2016-02-01 (23:59 is cut to the day) before E119 in 2017; b: E11 on 2018-07-09
    # (E101 is not E11); c has no E11; d's only E11 has no date
    assert cohort["pid"].tolist() == ["a", "b"]
    assert cohort["index_date"].tolist() == [pd.Timestamp("2016-02-01"), pd.Timestamp("2018-07-09")]
    within = epi.select_cohort(data, "E11", code="icd10_code", date="admission_time",
                               window=("2017-01-01", "2019-12-31"))  # fmt: skip
    assert dict(zip(within["pid"], within["index_date"].dt.strftime("%F"))) == {
        "a": "2017-05-03",
        "b": "2018-07-09",
    }


def test_an_empty_cohort_is_a_clear_error():
    with pytest.raises(DataError, match="the cohort is empty: no person has codes starting with X99"):
        epi.select_cohort(events(), "X99", code="icd10_code", date="admission_time")
    empty = epi.select_cohort(events(), "X99", code="icd10_code", date="admission_time", allow_empty=True)
    assert empty.empty and list(empty.columns) == ["pid", "index_date"]
    with pytest.raises(NotFoundError, match="'diagnosis_date'"):
        epi.select_cohort(events(), "E11", code="icd10_code", date="diagnosis_date")


@pytest.mark.parametrize("lazy", [False, True])
def test_broadcast_merge(lazy):
    large = pd.DataFrame(
        {"episode_id": [1, 2, 3, 4, 5], "admission_time": pd.date_range("2020-01-01", periods=5)}
    )
    small = pd.DataFrame({"episode_id": [2, 4, 9], "pid": ["x", "y", "z"]})
    out = epi.broadcast_merge(
        as_dask(large, 2) if lazy else large, as_dask(small, 2) if lazy else small, on="episode_id"
    )
    out = out.compute() if lazy else out
    assert sorted(zip(out["episode_id"], out["pid"])) == [(2, "x"), (4, "y")]
    # several small rows per key (two E11 codes on one episode): every pair, as pandas.merge gives
    dup = pd.DataFrame({"episode_id": [4, 2, 4, 7], "code": ["E110", "E119", "E119", "E11"]})
    out = epi.broadcast_merge(as_dask(large, 2) if lazy else large, dup, on="episode_id")
    out = out.compute() if lazy else out
    assert list(out.columns) == ["episode_id", "admission_time", "code"]
    assert sorted(zip(out["episode_id"], out["code"])) == [(2, "E119"), (4, "E110"), (4, "E119")]
    assert out.loc[out["episode_id"] == 4, "admission_time"].tolist() == [pd.Timestamp("2020-01-04")] * 2


def test_broadcast_merge_on_many_threads_at_once():
    # many partitions probing one broadcast frame from several threads (its index is shared)
    rng = np.random.default_rng(3)
    large = pd.DataFrame({"k": rng.integers(0, 5000, 200_000), "a": np.arange(200_000)})
    small = pd.DataFrame({"k": rng.integers(0, 6000, 3000), "b": np.arange(3000)})
    expected = large.merge(small, on="k").sort_values(["a", "b"]).reset_index(drop=True)
    for _ in range(3):
        with dask.config.set(scheduler="threads", num_workers=8):
            got = epi.broadcast_merge(as_dask(large, 32), as_dask(small, 4), on="k").compute()
        pd.testing.assert_frame_equal(got.sort_values(["a", "b"]).reset_index(drop=True), expected)


# -- person-time and incidence -----------------------------------------------------------------------

#: Days at risk per (year, band, sex), from the table in the module docstring:
#: 2016 0-39 F: A before her 40th birthday 182 (31+29+31+30+31+30) + C 69            = 251
#: 2016 0-39 M: I before his 40th birthday on 29 February (31+28)                    = 59
#: 2016 40-59 F: A from 1 July to 1 January                                          = 184
#: 2016 40-59 M: B aged 59 all year 366 + F aged 49 until his event 365 + I 307      = 1038
#: 2016 60+ F: G aged 75 then 76 (166 + 200)                                         = 366
#: 2017 0-39 F: E from birth on 1 February                                           = 334
#: 2017 40-59 F: A                                                                   = 365
#: 2017 40-59 M: I (59 days at 40 until 1 March, then 306 at 41)                     = 365
#: 2017 60+ M: B from 1 January (aged 60) to his event on 1 March (31+28)            = 59
#: 2017 60+ F: G until her event and death on 15 June (31+28+31+30+31+14)            = 165
DAYS = {
    (2016, "0-39", "F"): 251, (2016, "0-39", "M"): 59, (2016, "40-59", "F"): 184, (2016, "40-59", "M"): 1038,
    (2016, "60+", "F"): 366, (2017, "0-39", "F"): 334, (2017, "40-59", "F"): 365, (2017, "40-59", "M"): 365,
    (2017, "60+", "M"): 59, (2017, "60+", "F"): 165,
}  # fmt: skip
#: F on his 50th birthday (40-59, 2016); B aged 60 and G aged 77 (her birthday) in 2017; D is prevalent
EVENTS = {(2016, "40-59", "M"): 1, (2017, "60+", "M"): 1, (2017, "60+", "F"): 1}


@pytest.mark.parametrize("lazy", [False, True])
def test_person_time_by_year_band_and_sex(lazy):
    pop = as_dask(population()) if lazy else population()
    table = epi.person_time(pop, e11_cohort(), **WINDOW, age_bands=BANDS)
    assert list(table.columns) == ["year", "age_band", "sex", "events", "person_years"]
    assert {k: round(v * 365.25, 6) for k, v in cells(table, "person_years").items()} == DAYS
    assert cells(table, "events") == EVENTS
    assert table["events"].dtype == np.int64


def test_person_time_collapses_dimensions_left_out():
    table = epi.person_time(population(), e11_cohort(), **WINDOW, age_bands=BANDS, by=("year",))
    # 2016: 251 + 59 + 184 + 1038 + 366 = 1898 days; 2017: 334 + 365 + 365 + 59 + 165 = 1288 days
    assert table["year"].tolist() == [2016, 2017]
    assert (table["person_years"] * 365.25).round(6).tolist() == [1898, 1288]
    assert table["events"].tolist() == [1, 2]
    total = epi.person_time(population(), None, **WINDOW, age_bands=BANDS, by=())
    assert total["events"].tolist() == [0]
    # without events nobody's follow-up stops early: B +306 days (2017-03-01 … 12-31), F +1 (31 Dec
    # 2016) +365, G 0 (she dies the same day), D comes in (1950: 60+ M, 366 + 365)
    assert round(total["person_years"].iloc[0] * 365.25) == 1898 + 1288 + 306 + 1 + 365 + 366 + 365


@pytest.mark.parametrize("lazy", [False, True])
def test_incidence_rates_and_exact_intervals(lazy):
    pop = as_dask(population()) if lazy else population()
    table = epi.incidence(pop, e11_cohort(), **WINDOW, age_bands=BANDS, per=100_000)
    row = table[(table["year"] == 2016) & (table["age_band"] == "40-59") & (table["sex"] == "M")].iloc[0]
    # 1 event in 1038 days = 1038 / 365.25 person-years: 100 000 × 365.25 / 1038 = 35 187.861 per 100 000
    assert row["rate"] == pytest.approx(35187.8612717, rel=1e-9)
    # Garwood limits for 1 event: lower = -ln(0.975) = 0.0253178, upper 5.5716 (table), scaled the same way
    assert row["rate_lower"] == pytest.approx(-np.log(0.975) * 35187.8612717, rel=1e-9)
    assert row["rate_upper"] == pytest.approx(5.5716 * 35187.8612717, rel=2e-5)
    empty = table[(table["year"] == 2016) & (table["age_band"] == "60+") & (table["sex"] == "F")].iloc[0]
    # no event in 366 days: rate 0, upper limit -ln(0.025) / (366 / 365.25) × 100 000 = 368 132
    assert (empty["rate"], empty["rate_lower"]) == (0.0, 0.0)
    assert empty["rate_upper"] == pytest.approx(-np.log(0.025) * 365.25 / 366 * 100_000, rel=1e-9)
    assert list(table["age_band"].cat.categories) == ["0-39", "40-59", "60+"]


def test_follow_up_from_an_entry_day_for_mortality_after_diagnosis():
    deaths = epi.select_cohort(population().dropna(subset=["death_date"]), date="death_date")
    diagnosed = pd.DataFrame({"pid": ["B", "G"], "index_date": pd.to_datetime(["2017-03-01", "2016-02-01"])})
    table = epi.person_time(population(), deaths, **WINDOW, age_bands=BANDS, entry=diagnosed)
    # B: 2017-03-01 → 2018-01-01 = 306 days at 60; G: 2016-02-01 → 06-15 = 135 days at 75, then 200 at
    # 76, 2017: 165 days until her death on 15 June (the event, aged 77); C died but was never diagnosed
    assert {k: round(v * 365.25, 6) for k, v in cells(table, "person_years").items()} == {
        (2016, "60+", "F"): 335, (2017, "60+", "F"): 165, (2017, "60+", "M"): 306}  # fmt: skip
    assert cells(table, "events") == {(2017, "60+", "F"): 1}


@pytest.mark.parametrize("lazy", [False, True])
def test_follow_up_rows(lazy):
    pop = as_dask(population()) if lazy else population()
    rows = epi.follow_up(pop, e11_cohort(), **WINDOW)
    rows = (rows.compute() if lazy else rows).set_index("pid").sort_index()
    # D (prevalent) and H (no birth date) are left out; exit is exclusive
    assert rows.index.tolist() == list("ABCEFGI")
    assert rows.loc["C", ["entry", "exit", "event"]].tolist() == [
        pd.Timestamp("2016-01-01"),
        pd.Timestamp("2016-03-10"),
        False,
    ]
    assert rows.loc["E", "entry"] == pd.Timestamp("2017-02-01")
    assert rows.loc["B", ["exit", "event"]].tolist() == [pd.Timestamp("2017-03-01"), True]
    assert rows.loc["G", "person_years"] * 365.25 == pytest.approx(366 + 165)


# -- prevalence ----------------------------------------------------------------------------------------

#: On 31 December 2016: A (40, F); B (59, M, index 2017 → not yet a case); C dead; D (66, M, case since
#: 2015); E not born; F (50 that day, M, case that day); G (76, F, case only in 2017); I (40, M).
#: On 31 December 2017: A (41); B (60, case); D (67, case); E (0, F); F (51, case); G dead; I (41).
PREVALENCE = {
    (2016, "40-59", "F"): (0, 1), (2016, "40-59", "M"): (1, 3), (2016, "60+", "M"): (1, 1),
    (2016, "60+", "F"): (0, 1), (2017, "0-39", "F"): (0, 1), (2017, "40-59", "F"): (0, 1),
    (2017, "40-59", "M"): (1, 2), (2017, "60+", "M"): (2, 2),
}  # fmt: skip


@pytest.mark.parametrize("lazy", [False, True])
def test_prevalence_on_31_december(lazy):
    pop = as_dask(population()) if lazy else population()
    table = epi.prevalence(pop, e11_cohort(), years=[2016, 2017], age_bands=BANDS)
    got = {
        k: (c, n)
        for k, c, n in zip(cells(table, "population"), table["cases"], table["population"], strict=True)
    }
    assert got == PREVALENCE
    row = table[(table["year"] == 2016) & (table["age_band"] == "40-59") & (table["sex"] == "M")].iloc[0]
    # 1 of 3 = 33.3 %; Clopper–Pearson (0.0084038, 0.9057007)
    assert row["prevalence"] == pytest.approx(100 / 3)
    assert (row["prevalence_lower"], row["prevalence_upper"]) == pytest.approx((0.84038, 90.57007), abs=1e-4)
    poisson = epi.prevalence(
        population(), e11_cohort(), years=[2016], by=("year",), age_bands=BANDS, method="poisson"
    )
    # 2016: 2 cases among 6 people; Garwood for 2 (table): (0.2422, 7.2247), divided by 6, in percent
    assert poisson[["cases", "population"]].values.tolist() == [[2, 6]]
    assert poisson["prevalence_lower"].iloc[0] == pytest.approx(0.2422 / 6 * 100, abs=5e-3)
    assert poisson["prevalence_upper"].iloc[0] == pytest.approx(7.2247 / 6 * 100, abs=5e-3)


def test_bad_arguments_are_clear():
    with pytest.raises(DataError, match="ends .* before it starts"):
        epi.person_time(population(), None, start="2017-01-01", end="2016-01-01")
    with pytest.raises(NotFoundError, match="cannot group by \\['county'\\]"):
        epi.person_time(population(), None, **WINDOW, by=("year", "county"))
    with pytest.raises(NotFoundError, match="'birth'"):
        epi.incidence(population(), e11_cohort(), **WINDOW, birth="birth")
    with pytest.raises(DataError, match="one row per person"):
        epi.incidence(population(), pd.concat([e11_cohort(), e11_cohort()]), **WINDOW)
    with pytest.raises(DataError, match="'MM-DD'"):
        epi.prevalence(population(), e11_cohort(), years=[2016], at="31-12")
