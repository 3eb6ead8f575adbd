"""Mitigations: suppress flagged cells, round counts to a base, recompute the margins.

Margins are always recomputed from the *published* inner cells (suppressed cells count as nothing),
never copied from the raw table: a raw total next to a suppressed cell gives the cell back by
subtraction. A row or column whose cells are all suppressed gets a suppressed (missing) total.
"""

from __future__ import annotations

import pandas as pd

from hdc_toolkit.outputs import rules
from hdc_toolkit.outputs.profiles import ROUND, SUPPRESS, Profile

__all__ = [
    "MARGINS_NAME",
    "RULE_ROUNDING",
    "add_margins",
    "count_rule_masks",
    "mitigate_counts",
    "round_counts",
    "suppress",
]

MARGINS_NAME = "Total"
# A published count that the profile wants rounded but is not a multiple of the base.
RULE_ROUNDING = "unrounded"


def suppress(table: pd.DataFrame, mask: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` (as floats) with the cells where ``mask`` is True set to missing."""
    return table.astype("float64").mask(mask.reindex_like(table).fillna(False).astype(bool))


def round_counts(table: pd.DataFrame, base: int) -> pd.DataFrame:
    """Every cell rounded to the nearest multiple of ``base`` (missing cells stay missing)."""
    return table.astype("float64").map(lambda v: rules.round_to_base(v, base))


def add_margins(inner: pd.DataFrame, *, columns: bool, name: str = MARGINS_NAME) -> pd.DataFrame:
    """``inner`` plus a total row (and, when ``columns``, a total column) summed from its cells."""
    out = inner.astype("float64").copy()
    if columns:
        out[name] = out.sum(axis=1, min_count=1)
    total = out.sum(axis=0, min_count=1)
    key: object = name if out.index.nlevels == 1 else (name,) + ("",) * (out.index.nlevels - 1)
    out.loc[key, :] = total
    return out


def mitigate_counts(
    inner: pd.DataFrame, mask: pd.DataFrame, profile: Profile, *, margins: bool, column_margin: bool
) -> tuple[pd.DataFrame, list[str]]:
    """Apply the profile's mitigations to raw inner counts; returns the table and what was done."""
    done = []
    out = inner.astype("float64")
    if SUPPRESS in profile.mitigation and bool(mask.to_numpy().any()):
        out = suppress(out, mask)
        done.append(f"{int(mask.to_numpy().sum())} cell(s) suppressed")
    if ROUND in profile.mitigation and profile.round_base:
        out = round_counts(out, profile.round_base)
        done.append(f"counts rounded to base {profile.round_base}")
    if margins:
        out = add_margins(out, columns=column_margin)
        if done:
            done.append("margins recomputed from the published cells")
    return out, done


def count_rule_masks(table: pd.DataFrame, profile: Profile) -> dict[str, pd.DataFrame]:
    """Per rule, the cells of a count table that break it (missing cells break nothing).

    The rule functions of :mod:`hdc_toolkit.outputs.rules` are applied cell by cell: tables are small.
    """
    values = table.astype("float64")
    present = values.notna()
    masks = {
        rules.RULE_THRESHOLD: values.map(lambda v: rules.below_threshold(v, profile.threshold)),
        rules.RULE_ZERO: values.map(lambda v: rules.disclosive_zero(v, profile.zeros_disclosive)),
    }
    if ROUND in profile.mitigation and profile.round_base:
        base = profile.round_base
        masks[RULE_ROUNDING] = values.map(lambda v: rules.round_to_base(v, base) != v)
    return {rule: (mask & present).astype(bool) for rule, mask in masks.items()}
