"""Norwegian national identity numbers (fødselsnummer): check digits, parsing and fast allocation.

A fødselsnummer has 11 digits ``DDMMYY III K1 K2``: the birth date, a 3-digit individual number and
two mod-11 check digits. The individual number tells the century of birth and the sex:

* 000-499: born 1900-1999;
* 500-749: born 1854-1899;
* 500-999: born 2000-2039;
* 900-999: born 1940-1999;
* its last digit (the 9th digit of the number) is odd for men and even for women.

``K1 = 11 - (3,7,6,1,8,9,4,5,2 · d1..d9) mod 11`` and ``K2 = 11 - (5,4,3,2,7,6,5,4,3,2 · d1..d9 K1) mod 11``,
where a result of 11 is written 0 and a result of 10 means the individual number is not used.

The scalar functions (:func:`make_national_id`, :func:`is_valid_national_id`, :func:`birth_date_of`,
:func:`sex_of`) are the readable reference; :func:`national_id_digits` and
:class:`IndividualNumberAllocator` do the same for millions of people at once with numpy.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

__all__ = [
    "W1",
    "W2",
    "IndividualNumberAllocator",
    "birth_date_of",
    "check_digits",
    "individual_number_ranges",
    "is_valid_national_id",
    "make_national_id",
    "national_id_digits",
    "sex_of",
]

W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

_EPOCH = np.datetime64("1970-01-01", "D")


def individual_number_ranges(year: int) -> tuple[tuple[int, int], ...]:
    """The inclusive ranges of individual numbers given to people born in ``year``."""
    if 1854 <= year <= 1899:
        return ((500, 749),)
    if 1900 <= year <= 1939:
        return ((0, 499),)
    if 1940 <= year <= 1999:
        return ((0, 499), (900, 999))
    if 2000 <= year <= 2039:
        return ((500, 999),)
    return ()


def check_digits(first_nine: str) -> tuple[int, int] | None:
    """The two check digits for the first nine digits, or ``None`` when one of them would be 10."""
    digits = [int(c) for c in first_nine]
    k1 = (11 - sum(w * d for w, d in zip(W1, digits, strict=True)) % 11) % 11
    if k1 == 10:
        return None
    k2 = (11 - sum(w * d for w, d in zip(W2, [*digits, k1], strict=True)) % 11) % 11
    if k2 == 10:
        return None
    return k1, k2


def make_national_id(birth_date: dt.date, individual_number: int) -> str:
    """The fødselsnummer for a birth date and individual number.

    Raises ``ValueError`` when the individual number is not given to that birth year, or when it
    gives a check digit of 10 (such numbers are not used).
    """
    if not any(lo <= individual_number <= hi for lo, hi in individual_number_ranges(birth_date.year)):
        raise ValueError(
            f"individual number {individual_number:03d} is not used for births in {birth_date.year}"
        )
    first_nine = f"{birth_date:%d%m%y}{individual_number:03d}"
    checks = check_digits(first_nine)
    if checks is None:
        raise ValueError(f"{first_nine} gives a check digit of 10; the individual number is not used")
    return f"{first_nine}{checks[0]}{checks[1]}"


def _century_year(yy: int, individual_number: int) -> int | None:
    if individual_number <= 499:
        return 1900 + yy
    if individual_number <= 749 and yy >= 54:
        return 1800 + yy
    if individual_number >= 500 and yy <= 39:
        return 2000 + yy
    if individual_number >= 900 and yy >= 40:
        return 1900 + yy
    return None


def birth_date_of(national_id: str) -> dt.date:
    """The birth date encoded in a fødselsnummer; ``ValueError`` if it encodes none."""
    if len(national_id) != 11 or not national_id.isdigit():
        raise ValueError(f"not an 11-digit number: {national_id!r}")
    year = _century_year(int(national_id[4:6]), int(national_id[6:9]))
    if year is None:
        raise ValueError(f"individual number {national_id[6:9]} does not fit year {national_id[4:6]}")
    return dt.date(year, int(national_id[2:4]), int(national_id[0:2]))


def sex_of(national_id: str) -> str:
    """``"M"`` when the 9th digit is odd, ``"F"`` when it is even."""
    return "M" if int(national_id[8]) % 2 else "F"


def is_valid_national_id(national_id: str) -> bool:
    """Whether the string is a well-formed fødselsnummer (date, century rule and both check digits)."""
    try:
        birth_date_of(national_id)
    except ValueError:
        return False
    return check_digits(national_id[:9]) == (int(national_id[9]), int(national_id[10]))


# --------------------------------------------------------------------------------------------------
# Vectorised versions
# --------------------------------------------------------------------------------------------------


def _date_digits(birth_days: np.ndarray) -> np.ndarray:
    """Digits DDMMYY as an (n, 6) int64 array, from days since 1970-01-01."""
    d = _EPOCH + np.asarray(birth_days, dtype=np.int64).astype("timedelta64[D]")
    months = d.astype("datetime64[M]")
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    month = months.astype(np.int64) % 12 + 1
    yy = (d.astype("datetime64[Y]").astype(np.int64) + 1970) % 100
    return np.stack([day // 10, day % 10, month // 10, month % 10, yy // 10, yy % 10], axis=1)


def _years(birth_days: np.ndarray) -> np.ndarray:
    d = _EPOCH + np.asarray(birth_days, dtype=np.int64).astype("timedelta64[D]")
    return d.astype("datetime64[Y]").astype(np.int64) + 1970


def _date_sums(date_digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weighted sums of the six date digits, modulo 11, for K1 and K2."""
    a1 = date_digits @ np.array(W1[:6], dtype=np.int64) % 11
    a2 = date_digits @ np.array(W2[:6], dtype=np.int64) % 11
    return a1, a2


def _check_table() -> tuple[np.ndarray, np.ndarray]:
    """K1 and K2 for every (date sum a1, date sum a2, individual number); -1 where a check digit is 10."""
    ind = np.arange(1000)
    i_digits = np.stack([ind // 100, ind // 10 % 10, ind % 10], axis=1)
    b1 = i_digits @ np.array(W1[6:]) % 11
    b2 = i_digits @ np.array(W2[6:9]) % 11
    a = np.arange(11)
    k1 = (11 - (a[:, None, None] + b1[None, None, :]) % 11) % 11
    k1 = np.broadcast_to(k1, (11, 11, 1000))
    k2 = (11 - (a[None, :, None] + b2[None, None, :] + 2 * k1) % 11) % 11
    bad = (k1 == 10) | (k2 == 10)
    return np.where(bad, -1, k1).astype(np.int8), np.where(bad, -1, k2).astype(np.int8)


_K1, _K2 = _check_table()


def national_id_digits(birth_days: np.ndarray, individual_numbers: np.ndarray) -> np.ndarray:
    """The 11 ASCII digits of each fødselsnummer as an (n, 11) uint8 array.

    ``birth_days`` are days since 1970-01-01. Raises ``ValueError`` if any individual number gives a
    check digit of 10 (the caller chooses individual numbers that are used, see
    :class:`IndividualNumberAllocator`).
    """
    ind = np.asarray(individual_numbers, dtype=np.int64)
    dd = _date_digits(birth_days)
    a1, a2 = _date_sums(dd)
    k1 = _K1[a1, a2, ind]
    k2 = _K2[a1, a2, ind]
    if (k1 < 0).any():
        raise ValueError("an individual number gives a check digit of 10")
    out = np.empty((len(ind), 11), dtype=np.uint8)
    out[:, :6] = dd
    out[:, 6] = ind // 100
    out[:, 7] = ind // 10 % 10
    out[:, 8] = ind % 10
    out[:, 9] = k1
    out[:, 10] = k2
    out += ord("0")
    return out


class IndividualNumberAllocator:
    """Hands out unused individual numbers, so that fødselsnumre stay unique across chunks.

    For every birth date and sex the valid individual numbers (right century, right parity, no check
    digit 10) are taken in an order shuffled once from ``seed``; the k-th person born on a date gets
    the k-th number. The count per (date, sex) carries over between calls, so people generated in
    later chunks never reuse a number. Births from 1900 to 2039 are supported.
    """

    FIRST_DAY = int((np.datetime64("1900-01-01") - _EPOCH).astype(int))
    LAST_DAY = int((np.datetime64("2039-12-31") - _EPOCH).astype(int))

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))  # chunks use (1, i)
        ranges = {0: ((0, 499),), 1: ((0, 499), (900, 999)), 2: ((500, 999),)}
        lists: list[np.ndarray] = []
        for a1 in range(11):
            for a2 in range(11):
                valid = _K1[a1, a2] >= 0
                for century in range(3):
                    in_range = np.zeros(1000, dtype=bool)
                    for lo, hi in ranges[century]:
                        in_range[lo : hi + 1] = True
                    for male in (0, 1):
                        parity = (np.arange(1000) % 2) == male
                        numbers = np.flatnonzero(valid & in_range & parity)
                        lists.append(rng.permutation(numbers))
        self.capacity = np.array([len(x) for x in lists], dtype=np.int64)
        width = int(self.capacity.max())
        self._table = np.full((len(lists), width), -1, dtype=np.int16)
        for i, numbers in enumerate(lists):
            self._table[i, : len(numbers)] = numbers
        self._used = np.zeros((self.LAST_DAY - self.FIRST_DAY + 1) * 2, dtype=np.int64)

    @property
    def min_capacity(self) -> int:
        """The fewest people of one sex that can be born on one date."""
        return int(self.capacity.min())

    def allocate(self, birth_days: np.ndarray, male: np.ndarray) -> np.ndarray:
        """Individual numbers for people with these birth days (days since 1970) and sexes.

        Raises ``OverflowError`` when more people of one sex are born on one date than there are
        individual numbers for it.
        """
        birth_days = np.asarray(birth_days, dtype=np.int64)
        male = np.asarray(male, dtype=bool)
        if not len(birth_days):
            return np.empty(0, dtype=np.int64)
        if birth_days.min() < self.FIRST_DAY or birth_days.max() > self.LAST_DAY:
            raise ValueError("birth dates must lie between 1900-01-01 and 2039-12-31")
        key = (birth_days - self.FIRST_DAY) * 2 + male
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        sizes = np.diff(np.r_[starts, len(sorted_key)])
        rank = np.empty_like(key)
        rank[order] = np.arange(len(key)) - np.repeat(starts, sizes) + self._used[sorted_key]

        a1, a2 = _date_sums(_date_digits(birth_days))
        years = _years(birth_days)
        century = np.where(years < 1940, 0, np.where(years < 2000, 1, 2))
        list_id = ((a1 * 11 + a2) * 3 + century) * 2 + male
        if (rank >= self.capacity[list_id]).any():
            raise OverflowError("more people born on one date than there are individual numbers")
        self._used[sorted_key[starts]] += sizes
        return self._table[list_id, rank].astype(np.int64)
