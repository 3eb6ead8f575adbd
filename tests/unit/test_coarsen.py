"""Coarsening keeps each column's type and agrees with the scalar rule used for contract bounds."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.exceptions import ContractError
from hdc_toolkit.projects.coarsen import allowed, coarsen, coarsen_value, normalise

D = dt.date
T = dt.datetime

CASES = [
    # granularity, arrow type, value, expected
    ("as_is", pa.date32(), D(2020, 5, 17), D(2020, 5, 17)),
    ("day", pa.date32(), D(2020, 5, 17), D(2020, 5, 17)),
    ("month", pa.date32(), D(2020, 5, 17), D(2020, 5, 1)),
    ("month", pa.date32(), D(2020, 5, 1), D(2020, 5, 1)),
    ("year", pa.date32(), D(2020, 12, 31), D(2020, 1, 1)),
    ("5y_band", pa.date32(), D(1999, 12, 31), D(1995, 1, 1)),
    ("5y_band", pa.date32(), D(2000, 1, 1), D(2000, 1, 1)),
    ("five_year_band", pa.date32(), D(1961, 3, 3), D(1960, 1, 1)),
    ("10y_band", pa.date32(), D(1969, 7, 1), D(1960, 1, 1)),
    ("5y_band", pa.date32(), D(1903, 6, 1), D(1900, 1, 1)),  # before the 1970 epoch
    ("day", pa.timestamp("ms"), T(2020, 5, 17, 13, 5, 9), T(2020, 5, 17)),
    ("month", pa.timestamp("ms"), T(2020, 5, 17, 13, 5), T(2020, 5, 1)),
    ("year", pa.timestamp("us"), T(2020, 5, 17, 23, 59, 59, 999999), T(2020, 1, 1)),
    ("5y_band", pa.int64(), 44, 40),
    ("10y_band", pa.int32(), 99, 90),
    ("5y_band", pa.float64(), 44.9, 40.0),
    ("county", pa.string(), "5001", "50"),
    ("3char", pa.string(), "E119", "E11"),
    ("3char", pa.string(), "R5", "R5"),
]


@pytest.mark.parametrize(("granularity", "typ", "value", "expected"), CASES)
def test_array_and_scalar_rules(granularity: str, typ: pa.DataType, value: object, expected: object) -> None:
    arr = pa.array([value, None], typ)
    out = coarsen(arr, granularity)
    assert out.type == typ
    assert out.to_pylist() == [expected, None]
    assert coarsen_value(value, granularity) == expected


def test_dictionary_and_chunked_arrays_keep_their_encoding() -> None:
    arr = pa.array(["5001", "5001", "0301", None]).dictionary_encode()
    out = coarsen(arr, "county")
    assert pa.types.is_dictionary(out.type) and out.to_pylist() == ["50", "50", "03", None]
    chunked = pa.chunked_array([pa.array([D(2020, 5, 17)]), pa.array([D(2021, 2, 2)])])
    assert coarsen(chunked, "month").to_pylist() == [D(2020, 5, 1), D(2021, 2, 1)]


@pytest.mark.parametrize(("granularity", "typ", "value"), [
    ("county", pa.date32(), D(2020, 1, 1)),
    ("month", pa.string(), "5001"),
    ("month", pa.int64(), 4),
    ("day", pa.bool_(), True),
])  # fmt: skip
def test_inapplicable_granularity_is_a_contract_error(
    granularity: str, typ: pa.DataType, value: object
) -> None:
    with pytest.raises(ContractError):
        coarsen(pa.array([value], typ), granularity)


def test_allowed_follows_the_contract_and_the_type() -> None:
    assert allowed("as_is", "date", ()) is None
    assert allowed("month", "date", ("month", "year")) is None
    assert (
        allowed("five_year_band", "date", ("5y_band",)) is None and normalise("five_year_band") == "5y_band"
    )
    assert "not allowed by the column's contract" in (allowed("day", "date", ("month",)) or "")
    assert "does not apply" in (allowed("county", "date", ("county",)) or "")


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31)),
    st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31)),
    st.sampled_from(["day", "month", "year", "5y_band", "10y_band"]),
)
def test_dates_agree_with_the_scalar_rule_and_stay_ordered(a: D, b: D, granularity: str) -> None:
    out = coarsen(pa.array([a, b], pa.date32()), granularity).to_pylist()
    assert out == [coarsen_value(a, granularity), coarsen_value(b, granularity)]
    assert out[0] <= a and (a > b or out[0] <= out[1])  # never later than the value; monotone


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(min_value=T(1970, 1, 1), max_value=T(2100, 1, 1)), st.sampled_from(["day", "month", "year"])
)
def test_timestamps_agree_with_the_scalar_rule(value: T, granularity: str) -> None:
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    assert coarsen(pa.array([value], pa.timestamp("ms")), granularity).to_pylist() == [
        coarsen_value(value, granularity)
    ]
