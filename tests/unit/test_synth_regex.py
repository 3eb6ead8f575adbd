"""Random strings from contract patterns: fresh ids and codes that always match."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hdc_toolkit.demo.national_id import is_valid_national_id
from hdc_toolkit.synth._copula import invalidate_national_ids
from hdc_toolkit.synth._regex import PatternError, random_strings, unique_random_strings

PATTERNS = [
    "^[0-9]{11}$",
    "^[A-TV-Z][0-9]{2}[0-9A-Z]{0,2}$",
    "^NPU[0-9]{5}$",
    "^[0-9a-f]{16}$",
    "^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$",
    r"^(ab|c+)x?\d*$",
    "^[^0-9]{3}$",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_string_matches(pattern: str) -> None:
    values = random_strings(pattern, 3000, np.random.default_rng(1))
    assert len(values) == 3000
    rx = re.compile(pattern)
    assert all(rx.search(v) for v in values.tolist())


def test_unique_and_avoiding_given_values() -> None:
    rng = np.random.default_rng(2)
    avoid = random_strings("^[0-9]{4}$", 2000, rng)
    values = unique_random_strings("^[0-9]{4}$", 5000, rng, avoid=avoid)
    assert len(set(values.tolist())) == 5000
    assert not set(values.tolist()) & set(avoid.tolist())


def test_too_small_a_pattern_space_is_a_clear_error() -> None:
    with pytest.raises(PatternError, match="too few"):
        unique_random_strings("^[ab]$", 3, np.random.default_rng(0))


def test_unsupported_construct_is_a_clear_error() -> None:
    with pytest.raises(PatternError):
        random_strings(r"^(a)\1$", 3, np.random.default_rng(0))


def test_fake_national_ids_are_never_valid_fodselsnummer() -> None:
    values = invalidate_national_ids(random_strings("^[0-9]{11}$", 20_000, np.random.default_rng(3)))
    assert all(re.fullmatch("[0-9]{11}", v) for v in values.tolist())
    assert not any(is_valid_national_id(v) for v in values.tolist())
