"""Differencing: does a new table, set against tables already released, reveal a small cell?

Each released count table goes into the project's ledger as *cells*: one label per dimension
(``Total`` for a margin; a dimension a table does not have counts as ``Total`` too) and its value. A
new table is compared with every ledger table and with the other tables of the same request. Two
cells are *nested* when, dimension by dimension, each label of one equals or lies inside the other's
(same category, an interval inside a wider one such as ``[18, 30)`` in ``18-64``, or any label inside
``Total``), all in the same direction. Their difference is then the count of the people in the
bigger cell but not the smaller, and a difference ``0 < d < threshold`` reveals a small group:

* nested cohorts: the same cell of two tables made on cohorts one inside the other;
* overlapping categories: age bands ``0-17`` and ``0-19`` give the count aged 18-19;
* a margin in one table against a cell of another gives back a cell suppressed there.

Whether two tables were made on one cohort is read from the cells they share: if any shared cell
differs, they are compared cell for cell only (a margin of one cohort against a category of another
means nothing); otherwise across nested categories and margins too.

A flagged cell is a warning for the reviewers (different cohorts can legitimately differ by a
little); the record names the released table and cell it was compared with.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hdc_toolkit.results import Check, Verdict

__all__ = [
    "MEASURE",
    "RULE_DIFFERENCING",
    "TOTAL_LABELS",
    "Finding",
    "LedgerTable",
    "check_differencing",
    "find_differences",
    "ledger_table",
    "relation",
]

RULE_DIFFERENCING = "differencing"
MEASURE = "measure"  # the pseudo-dimension naming the value column of a table (count, events, ...)
TOTAL = "Total"
TOTAL_LABELS: frozenset[str] = frozenset({"total", "all", "alle", "totalt", "sum"})
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf"
_INTERVAL = re.compile(rf"^([\[(])\s*({_NUMBER})\s*,\s*({_NUMBER})\s*([\])])$")
_RANGE = re.compile(r"^(\d+)\s*[-–]\s*(\d+)$")
_PLUS = re.compile(r"^(\d+)\s*\+$")
_BELOW = re.compile(r"^<\s*(\d+)$")

EQUAL, INSIDE, CONTAINS, UNRELATED = "=", "<", ">", "x"


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    lo_closed: bool
    hi_closed: bool

    def within(self, other: Interval) -> bool:
        lo_ok = other.lo < self.lo or (other.lo == self.lo and (other.lo_closed or not self.lo_closed))
        hi_ok = self.hi < other.hi or (other.hi == self.hi and (other.hi_closed or not self.hi_closed))
        return lo_ok and hi_ok


def parse_interval(label: str) -> Interval | None:
    """``[a, b)``/``(a, b]`` (pandas), ``18-64`` (whole numbers, inclusive), ``65+``, ``<18``."""
    text = label.strip()
    if m := _INTERVAL.match(text):
        return Interval(float(m[2]), float(m[3]), m[1] == "[", m[4] == "]")
    if m := _RANGE.match(text):
        return Interval(float(m[1]), float(m[2]) + 1, True, False)
    if m := _PLUS.match(text):
        return Interval(float(m[1]), math.inf, True, False)
    if m := _BELOW.match(text):
        return Interval(-math.inf, float(m[1]), False, False)
    return None


def _is_total(label: str) -> bool:
    return label.strip().lower() in TOTAL_LABELS


def relation(a: str, b: str) -> str:
    """How label ``a`` relates to label ``b``: ``=``, ``<`` (inside), ``>`` (contains) or ``x``."""
    if a == b or (_is_total(a) and _is_total(b)):
        return EQUAL
    if _is_total(b):
        return INSIDE
    if _is_total(a):
        return CONTAINS
    ia, ib = parse_interval(a), parse_interval(b)
    if ia is None or ib is None:
        return UNRELATED
    if ia == ib:
        return EQUAL
    return INSIDE if ia.within(ib) else CONTAINS if ib.within(ia) else UNRELATED


@dataclass
class LedgerTable:
    """A count table as labelled cells; ``positions`` maps a cell to its (row, col) in the file."""

    ref: str
    dims: tuple[str, ...]
    cells: dict[tuple[str, ...], float]
    positions: dict[tuple[str, ...], tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cells = [[list(k), v] for k, v in self.cells.items()]
        return {"ref": self.ref, "dims": list(self.dims), "cells": cells}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerTable:
        cells = {tuple(str(x) for x in k): float(v) for k, v in data["cells"]}
        return cls(str(data["ref"]), tuple(data["dims"]), cells)

    def label(self, key: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(self.dims, key, strict=True))


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def ledger_table(
    frame: pd.DataFrame,
    *,
    ref: str,
    index_names: list[str | None],
    columns_name: str | None,
    measures: Iterable[str] | None = None,
) -> LedgerTable:
    """The cells of a wide count table. Without ``columns_name`` the columns are measures; with it
    they are a dimension and the measure is ``count``. ``measures`` keeps only those columns."""
    keep = None if measures is None else {str(m) for m in measures}
    dims = [n or f"index{i}" for i, n in enumerate(index_names)]
    dims.append(columns_name if columns_name else MEASURE)
    if columns_name:
        dims.append(MEASURE)
    cells: dict[tuple[str, ...], float] = {}
    positions: dict[tuple[str, ...], tuple[int, int]] = {}
    for r, key in enumerate(frame.index):
        row_labels = [_label(k) for k in (key if isinstance(key, tuple) else (key,))]
        for c, column in enumerate(frame.columns):
            if keep is not None and str(column) not in keep:
                continue
            value = _number(frame.iat[r, c])
            if value is None:
                continue
            labels = tuple(row_labels + [_label(column)] + (["count"] if columns_name else []))
            cells[labels] = float(value)
            positions[labels] = (r, c)
    return LedgerTable(ref, tuple(dims), cells, positions)


@dataclass(frozen=True)
class Finding:
    """A new cell whose difference from a nested cell of another table is small."""

    position: tuple[int, int] | None
    cell: dict[str, str]
    against: str
    against_cell: dict[str, str]
    difference: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": list(self.position) if self.position else None,
            "cell": self.cell,
            "against": self.against,
            "against_cell": self.against_cell,
            "difference": self.difference,
        }


def _aligned(table: LedgerTable, dims: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each cell's labels over ``dims`` (Total for the dimensions the table lacks) -> original key."""
    index = {d: i for i, d in enumerate(table.dims)}
    return {tuple(k[index[d]] if d in index else TOTAL for d in dims): k for k in table.cells}


def _same_cohort(new: dict[tuple[str, ...], float], old: dict[tuple[str, ...], float]) -> bool:
    """Whether two tables look made on one cohort: every cell they share (same labels) agrees.

    Tables with no cell in common cannot tell; they are taken as one cohort (the stricter reading).
    """
    shared = [k for k in new if k in old]
    return all(new[k] == old[k] for k in shared)


def find_differences(new: LedgerTable, old: LedgerTable, threshold: int) -> list[Finding]:
    """Cells of ``new`` nested with a cell of ``old`` whose counts differ by ``0 < d < threshold``.

    Tables on different cohorts (a shared cell differs) are compared cell for cell only (nested
    cohorts); tables on one cohort are compared across nested categories and margins.
    """
    dims = tuple(dict.fromkeys(new.dims + old.dims))
    if MEASURE not in new.dims or MEASURE not in old.dims:
        return []
    new_cells, old_cells = _aligned(new, dims), _aligned(old, dims)
    values_new = {k: new.cells[v] for k, v in new_cells.items()}
    values_old = {k: old.cells[v] for k, v in old_cells.items()}
    nested_categories = _same_cohort(values_new, values_old)
    old_labels = [sorted({k[i] for k in old_cells}) for i in range(len(dims))]
    findings = []
    for labels, new_key in new_cells.items():
        if nested_categories:
            related = [[(b, relation(a, b)) for b in old_labels[i]] for i, a in enumerate(labels)]
            related = [[(b, r) for b, r in options if r != UNRELATED] for options in related]
        else:
            related = [[(a, EQUAL)] for a in labels]
        for combo in itertools.product(*related):
            rels = {r for _, r in combo}
            if INSIDE in rels and CONTAINS in rels:
                continue
            old_key = old_cells.get(tuple(b for b, _ in combo))
            if old_key is None:
                continue
            diff = abs(new.cells[new_key] - old.cells[old_key])
            if 0 < diff < threshold:
                findings.append(
                    Finding(new.positions.get(new_key), new.label(new_key), old.ref, old.label(old_key), diff)
                )
    return findings


def check_differencing(
    name: str, new: LedgerTable, others: Iterable[LedgerTable], threshold: int
) -> tuple[Check, list[Finding]]:
    """One check for a new table against released (and sibling) tables; warning when any cell is flagged."""
    others = list(others)
    findings = [f for old in others for f in find_differences(new, old, threshold)]
    compared = [o.ref for o in others]
    if findings:
        cells = len({tuple(sorted(f.cell.items())) for f in findings})
        refs = sorted({f.against for f in findings})
        message = (
            f"{cells} cell(s) differ from a nested cell of {', '.join(refs)} by less than {threshold}: "
            "together they may reveal a small group; review"
        )
        verdict = Verdict.WARNING
    else:
        message = f"no small difference from {len(compared)} released or sibling table(s)"
        verdict = Verdict.PASSED
    check = Check(
        key=f"{name}.{RULE_DIFFERENCING}",
        kind=RULE_DIFFERENCING,
        verdict=verdict,
        table=name,
        message=message,
        element_count=len(new.cells),
        failing_count=len(findings),
        details={"compared_with": compared, "findings": [f.to_dict() for f in findings[:200]]},
    )
    return check, findings
