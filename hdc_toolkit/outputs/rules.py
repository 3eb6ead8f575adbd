"""Statistical disclosure control rules: tiny pure functions, each driven by named constants.

The semantics follow ACRO v1.0.1 (``acro/sdcchecks.py``), pinned here so that a policy change is a
one-line diff and every boundary is tested (``tests/unit/test_sdc_rules.py``):

================  ===========================================================  ==================
rule              a cell *fails* when                                          ACRO default
================  ===========================================================  ==================
minimum count     ``0 < count < threshold``                                    threshold 10
zeros             ``count == 0`` and the profile says zeros are disclosive      disclosive
N-K dominance     the top ``n`` contributions are ``>= k`` of the cell total   n 2, k 0.90
p-percent         ``total - top1 - top2 < p * top1``                           p 0.10
residual DoF      a model's residual degrees of freedom ``< min_dof``          10
================  ===========================================================  ==================

A zero count is judged by the zeros rule only, never by the minimum-count rule, so a profile that
retains zeros (OpenSAFELY) can say so. Dominance rules are computed on absolute contributions; a
cell with negative contributions is *reviewed* (ACRO turns N-K and p-percent into "review" then),
which :mod:`hdc_toolkit.outputs.tables` reports as a warning.

Ratios are compared as ratios (``top / total >= k``), never as ``top >= k * total``: a float product
such as ``0.9 * 100`` is not exactly 90, and a cell exactly at the boundary must fail as documented.

Rounding follows ACRO's ``(x / base).round() * base`` (NumPy's round half to even, so with base 10 a
15 becomes 20 and a 25 becomes 20); with base 5 and whole counts no ties occur. OpenSAFELY's
redact-then-round (``6 -> 0, 7 -> 0, 8 -> 10``) is :func:`redact_and_round`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "ACRO_DOF_THRESHOLD",
    "ACRO_NK_K",
    "ACRO_NK_N",
    "ACRO_P_RATIO",
    "ACRO_ROUND_BASE",
    "ACRO_THRESHOLD",
    "ACRO_ZEROS_DISCLOSIVE",
    "NHS_ROUND_BASE",
    "NHS_SUPPRESS_BELOW",
    "OPENSAFELY_REDACT_AT_OR_BELOW",
    "OPENSAFELY_ROUND_BASE",
    "RULE_DOF",
    "RULE_NEGATIVE",
    "RULE_NK",
    "RULE_P_PERCENT",
    "RULE_THRESHOLD",
    "RULE_ZERO",
    "below_threshold",
    "disclosive_zero",
    "dof_too_low",
    "nk_dominated",
    "p_percent_fails",
    "redact_and_round",
    "round_to_base",
    "top_n",
]

# ACRO v1.0.1 acro/default.yaml
ACRO_THRESHOLD = 10
ACRO_ZEROS_DISCLOSIVE = True
ACRO_NK_N = 2
ACRO_NK_K = 0.9
ACRO_P_RATIO = 0.1
ACRO_DOF_THRESHOLD = 10
ACRO_ROUND_BASE = 5

# OpenSAFELY docs/outputs/sdc.md and ehrql/measures/disclosure_control.py
OPENSAFELY_REDACT_AT_OR_BELOW = 7
OPENSAFELY_ROUND_BASE = 5

# NHS England SDE output guidance: suppress counts under 10, round the rest to the nearest 5
NHS_SUPPRESS_BELOW = 10
NHS_ROUND_BASE = 5

# Rule keys, as they appear in results and output records (ACRO's names where it has one).
RULE_THRESHOLD = "threshold"
RULE_ZERO = "zeros"
RULE_NK = "nk-rule"
RULE_P_PERCENT = "p-ratio"
RULE_DOF = "dof"
RULE_NEGATIVE = "negative"


def below_threshold(count: float, threshold: int) -> bool:
    """A positive count under the minimum cell count (zeros are the zeros rule's business)."""
    return 0 < count < threshold


def disclosive_zero(count: float, zeros_disclosive: bool) -> bool:
    """A zero count, where the profile treats zeros as disclosive."""
    return zeros_disclosive and count == 0


def top_n(contributions: Iterable[float], n: int) -> list[float]:
    """The ``n`` largest absolute contributions, largest first."""
    return sorted((abs(float(c)) for c in contributions), reverse=True)[:n]


def nk_dominated(contributions: Iterable[float], n: int, k: float) -> bool:
    """The top ``n`` contributors make up at least ``k`` of the cell total (of absolute values)."""
    values = [abs(float(c)) for c in contributions]
    total = sum(values)
    return total > 0 and sum(top_n(values, n)) / total >= k


def p_percent_fails(contributions: Iterable[float], p: float) -> bool:
    """The total minus the two largest is under ``p`` of the largest: the runner-up can guess it."""
    values = [abs(float(c)) for c in contributions]
    top = top_n(values, 2) + [0.0, 0.0]
    return top[0] > 0 and (sum(values) - top[0] - top[1]) / top[0] < p


def dof_too_low(dof: float, min_dof: int) -> bool:
    """A model's residual degrees of freedom under the minimum."""
    return dof < min_dof


def round_to_base(value: float, base: int) -> float:
    """``(value / base).round() * base`` as ACRO does it (round half to even); NaN stays NaN."""
    if math.isnan(value):
        return value
    return float(round(value / base) * base)


def redact_and_round(count: int, redact_at_or_below: int, base: int) -> int:
    """OpenSAFELY: counts at or below the limit become 0, the rest round to the nearest ``base``."""
    return 0 if count <= redact_at_or_below else int(round_to_base(count, base))
