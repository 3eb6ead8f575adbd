"""Frozen contract objects: the single source from which checks, GX suites, SDV metadata and pyarrow
schemas are derived.

A :class:`Contract` describes one table (one ODCS ``schema`` object). Health meaning comes from the
property's ``customProperties``: ``classification`` (direct_identifier / quasi_identifier / sensitive /
other), ``codeSystem`` (ICD-10, ATC, NPU, ...), ``coarsening`` (granularities a release may use) and
``pseudonymisation`` (``keyed``: replaced by a project-specific keyed pseudonym on release).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLASSIFICATIONS",
    "COARSENINGS",
    "LOGICAL_TYPES",
    "RESTRICTED_CLASSIFICATIONS",
    "Column",
    "CompoundUnique",
    "Contract",
    "PairRule",
    "Reference",
    "RowCountRule",
    "Threshold",
]

CLASSIFICATIONS = ("direct_identifier", "quasi_identifier", "sensitive", "other")
#: Values of these classifications never appear in reports, examples, logs or errors.
RESTRICTED_CLASSIFICATIONS = frozenset({"direct_identifier", "sensitive"})
LOGICAL_TYPES = ("string", "date", "timestamp", "time", "number", "integer", "object", "array", "boolean")
#: Granularities a contract may allow in ``coarsening``; ``as_is`` is always allowed.
COARSENINGS = ("day", "month", "year", "county", "5y_band", "10y_band", "3char", "as_is")
#: Operators of a column-pair rule, read as "a row violates the rule when LEFT OP RIGHT".
PAIR_OPERATORS = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Reference:
    """A foreign key target: ``table.column``."""

    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True)
class Threshold:
    """When a count of failing rows passes: ``op`` applied to ``value`` in ``unit`` (rows or percent).

    The default, ``mustBe 0 rows``, means "no failing row". Settled choices: ``mustBeBetween`` is
    inclusive at both ends, like GX and most tools (the ODCS text is ambiguous).
    """

    op: str = "mustBe"
    value: Any = 0
    unit: str = "rows"

    def passes(self, failing: int, total: int) -> bool:
        x: float = failing if self.unit == "rows" else (100.0 * failing / total if total else 0.0)
        v = self.value
        match self.op:
            case "mustBe":
                return x == v
            case "mustNotBe":
                return x != v
            case "mustBeGreaterThan":
                return x > v
            case "mustBeGreaterOrEqualTo":
                return x >= v
            case "mustBeLessThan":
                return x < v
            case "mustBeLessOrEqualTo":
                return x <= v
            case "mustBeBetween":
                return v[0] <= x <= v[1]
            case "mustNotBeBetween":
                return not (v[0] <= x <= v[1])
        raise ValueError(f"unknown threshold operator {self.op!r}")

    @property
    def is_zero(self) -> bool:
        return self.op == "mustBe" and self.value == 0

    def describe(self) -> str:
        return f"{self.op} {self.value} {self.unit}"


ZERO = Threshold()


@dataclass(frozen=True)
class Column:
    """One column (ODCS property) with everything the toolkit derives from it."""

    name: str
    logical_type: str
    physical_type: str | None = None
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    classification: str = "other"
    description: str = ""
    code_system: str | None = None
    coarsening: tuple[str, ...] = ()
    pseudonymisation: str | None = None
    minimum: Any = None
    maximum: Any = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_threshold: Threshold = ZERO
    allowed_values: tuple[Any, ...] | None = None
    allowed_threshold: Threshold = ZERO
    not_null_threshold: Threshold = ZERO
    unique_threshold: Threshold = ZERO
    references: tuple[Reference, ...] = ()
    severity: str = "error"
    line: int | None = None

    @property
    def restricted(self) -> bool:
        """True when values of this column must never be shown (direct identifiers, sensitive)."""
        return self.classification in RESTRICTED_CLASSIFICATIONS

    @property
    def is_direct_identifier(self) -> bool:
        return self.classification == "direct_identifier"

    @property
    def has_range(self) -> bool:
        return self.minimum is not None or self.maximum is not None


@dataclass(frozen=True)
class PairRule:
    """A row violates the rule when ``left op right`` (both non-null), e.g. discharge < admission."""

    name: str
    left: str
    op: str
    right: str
    description: str = ""
    threshold: Threshold = ZERO
    severity: str = "error"


@dataclass(frozen=True)
class RowCountRule:
    """The table's row count must lie in [minimum, maximum] (either may be open)."""

    minimum: int | None = None
    maximum: int | None = None
    name: str = "row_count"


@dataclass(frozen=True)
class CompoundUnique:
    """The combination of ``columns`` is unique (ODCS ``duplicateValues`` at schema level)."""

    name: str
    columns: tuple[str, ...]
    threshold: Threshold = ZERO


@dataclass(frozen=True)
class Contract:
    """One table's contract, loaded from an ODCS v3 document."""

    name: str
    columns: tuple[Column, ...]
    contract_id: str = ""
    version: str = ""
    api_version: str = ""
    status: str | None = None
    description: str = ""
    pair_rules: tuple[PairRule, ...] = ()
    row_count: RowCountRule | None = None
    compound_unique: tuple[CompoundUnique, ...] = ()
    source: str | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        from hdc_toolkit.exceptions import NotFoundError

        raise NotFoundError(f"contract {self.name!r} has no column {name!r}; it has {', '.join(self.column_names)}")

    def has_column(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)

    def classification_of(self, name: str) -> str:
        return self.column(name).classification

    def restricted_columns(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.restricted)


def parse_bound(value: Any, logical_type: str) -> Any:
    """Turn a contract bound into a Python value of the column's type (dates from ISO strings)."""
    if value is None:
        return None
    if logical_type == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value))
    if logical_type == "timestamp":
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day)
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if logical_type in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        return value
    return value
