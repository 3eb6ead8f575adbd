"""Fødselsnummer: check digits, century rules, sex digit, and the vectorised allocator."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.demo.national_id import (
    W1,
    W2,
    IndividualNumberAllocator,
    birth_date_of,
    check_digits,
    individual_number_ranges,
    is_valid_national_id,
    make_national_id,
    national_id_digits,
    sex_of,
)

EPOCH = dt.date(1970, 1, 1)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2039, 12, 31))


def _allowed(birth: dt.date, individual: int) -> bool:
    return any(lo <= individual <= hi for lo, hi in individual_number_ranges(birth.year))


def _mod11(digits: list[int], weights: tuple[int, ...]) -> int:
    return (11 - sum(w * d for w, d in zip(weights, digits, strict=True)) % 11) % 11


@given(dates, st.integers(0, 999))
def test_make_national_id_round_trips(birth: dt.date, individual: int) -> None:
    """A generated id encodes its birth date and sex, and both check digits verify."""
    if not _allowed(birth, individual):
        with pytest.raises(ValueError, match="not used for births"):
            make_national_id(birth, individual)
        return
    try:
        nid = make_national_id(birth, individual)
    except ValueError as exc:  # a check digit of 10: this individual number is not used
        assert "check digit of 10" in str(exc)
        digits = [int(c) for c in f"{birth:%d%m%y}{individual:03d}"]
        k1 = _mod11(digits, W1)
        assert k1 == 10 or _mod11([*digits, k1], W2) == 10
        return
    assert len(nid) == 11 and nid.isdigit()
    assert nid[:6] == f"{birth:%d%m%y}"
    assert birth_date_of(nid) == birth
    assert sex_of(nid) == ("M" if individual % 2 else "F")
    assert is_valid_national_id(nid)
    digits = [int(c) for c in nid]
    assert digits[9] == _mod11(digits[:9], W1)
    assert digits[10] == _mod11(digits[:10], W2)


@given(dates, st.integers(0, 999), st.integers(0, 10), st.integers(1, 9))
def test_any_single_digit_error_is_detected(
    birth: dt.date, individual: int, position: int, delta: int
) -> None:
    """Changing one digit always gives an invalid number (the weights are prime to 11)."""
    if not _allowed(birth, individual) or check_digits(f"{birth:%d%m%y}{individual:03d}") is None:
        return
    nid = make_national_id(birth, individual)
    wrong = nid[:position] + str((int(nid[position]) + delta) % 10) + nid[position + 1 :]
    assert not is_valid_national_id(wrong)


@settings(max_examples=50)
@given(st.lists(st.tuples(dates, st.integers(0, 999)), min_size=1, max_size=40))
def test_vectorised_digits_equal_scalar(pairs: list[tuple[dt.date, int]]) -> None:
    usable = [(b, i) for b, i in pairs if _allowed(b, i) and check_digits(f"{b:%d%m%y}{i:03d}") is not None]
    if not usable:
        return
    days = np.array([(b - EPOCH).days for b, _ in usable])
    ind = np.array([i for _, i in usable])
    got = national_id_digits(days, ind).view("S11").ravel().astype(str).tolist()
    assert got == [make_national_id(b, i) for b, i in usable]


def test_vectorised_digits_refuse_check_digit_ten() -> None:
    birth = dt.date(1985, 6, 15)
    bad = next(i for i in range(500) if check_digits(f"{birth:%d%m%y}{i:03d}") is None)
    with pytest.raises(ValueError):
        national_id_digits(np.array([(birth - EPOCH).days]), np.array([bad]))


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("", False),
        ("1234567890", False),
        ("abcdefghijk", False),
        ("32010012345", False),
        ("00000000000", False),
    ],
)
def test_malformed_ids_are_invalid(text: str, valid: bool) -> None:
    assert is_valid_national_id(text) is valid


def test_century_rules() -> None:
    assert individual_number_ranges(1899) == ((500, 749),)
    assert individual_number_ranges(1939) == ((0, 499),)
    assert individual_number_ranges(1940) == ((0, 499), (900, 999))
    assert individual_number_ranges(2000) == ((500, 999),)
    assert individual_number_ranges(2040) == ()
    nid = make_national_id(
        dt.date(1950, 3, 1), next(i for i in range(900, 1000) if check_digits(f"010350{i}"))
    )
    assert birth_date_of(nid) == dt.date(1950, 3, 1)


class TestAllocator:
    @settings(max_examples=25, deadline=None)
    @given(st.integers(0, 2**32 - 1), st.lists(st.tuples(dates, st.booleans()), min_size=1, max_size=300))
    def test_ids_are_valid_unique_and_consistent(self, seed: int, people: list[tuple[dt.date, bool]]) -> None:
        alloc = IndividualNumberAllocator(seed)
        days = np.array([(b - EPOCH).days for b, _ in people])
        male = np.array([m for _, m in people])
        half = len(people) // 2
        ind = np.concatenate(
            [alloc.allocate(days[:half], male[:half]), alloc.allocate(days[half:], male[half:])]
        )
        ids = national_id_digits(days, ind).view("S11").ravel().astype(str)
        assert len(set(ids)) == len(ids), "unique across calls"
        for nid, (birth, is_male) in zip(ids, people, strict=True):
            assert is_valid_national_id(nid)
            assert birth_date_of(nid) == birth
            assert sex_of(nid) == ("M" if is_male else "F")

    def test_capacity_is_enforced(self) -> None:
        alloc = IndividualNumberAllocator(1)
        day = (dt.date(1930, 5, 17) - EPOCH).days
        cap = alloc.min_capacity
        assert cap > 150  # room for Norway's busiest birth dates
        numbers = alloc.allocate(np.full(cap, day), np.ones(cap, dtype=bool))
        assert len(set(numbers.tolist())) == cap
        with pytest.raises(OverflowError):
            alloc.allocate(np.full(400, day), np.ones(400, dtype=bool))

    def test_refused_call_changes_nothing(self) -> None:
        day = (dt.date(1960, 2, 29) - EPOCH).days
        one, ten = np.array([day]), np.full(10, day)
        a, b = IndividualNumberAllocator(3), IndividualNumberAllocator(3)
        a.allocate(ten, np.zeros(10, dtype=bool))
        b.allocate(ten, np.zeros(10, dtype=bool))
        with pytest.raises(OverflowError):
            b.allocate(np.full(1000, day), np.zeros(1000, dtype=bool))
        assert a.allocate(one, np.zeros(1, dtype=bool)) == b.allocate(one, np.zeros(1, dtype=bool))

    def test_same_seed_same_numbers(self) -> None:
        days = np.arange(20000, 20100)
        male = days % 3 == 0
        a = IndividualNumberAllocator(7).allocate(days, male)
        b = IndividualNumberAllocator(7).allocate(days, male)
        c = IndividualNumberAllocator(8).allocate(days, male)
        assert (a == b).all() and not (a == c).all()
