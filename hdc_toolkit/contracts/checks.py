"""Compile a contract into its list of checks: the one IR both the fast validator and the GX export use.

Check keys are stable and readable::

    {table}.schema                      missing or extra columns
    {table}.{column}.type               column type in the logicalType's family
    {table}.{column}.not_null           null values (required columns)
    {table}.{column}.unique             rows whose value occurs more than once (nulls excluded)
    {table}.{column}.range              values outside [minimum, maximum] (inclusive unless exclusive*)
    {table}.{column}.allowed_values     values not in the allowed list
    {table}.{column}.pattern            values the regex does not match (searched, not anchored)
    {table}.{column}.length             strings shorter than minLength or longer than maxLength
    {table}.{column}.foreign_key        values absent from the referenced table's column
    {table}.rule.{name}                 rows where a column-pair rule is violated
    {table}.unique.{name}               rows whose column combination occurs more than once
    {table}.row_count                   the number of rows outside the declared bounds

Nulls fail only ``not_null``; every other check ignores them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hdc_toolkit.contracts.model import ZERO, Contract, Threshold

__all__ = ["CheckKind", "CheckSpec", "compile_checks"]


class CheckKind(str, enum.Enum):
    SCHEMA = "schema"
    TYPE = "type"
    NOT_NULL = "not_null"
    UNIQUE = "unique"
    RANGE = "range"
    ALLOWED_VALUES = "allowed_values"
    PATTERN = "pattern"
    LENGTH = "length"
    FOREIGN_KEY = "foreign_key"
    PAIR = "pair"
    COMPOUND_UNIQUE = "compound_unique"
    ROW_COUNT = "row_count"


@dataclass(frozen=True)
class CheckSpec:
    """One compiled check. ``masked`` means failing values must never be shown (restricted column)."""

    key: str
    kind: CheckKind
    table: str
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    threshold: Threshold = ZERO
    severity: str = "error"
    masked: bool = False
    description: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this check reads."""
        if self.kind is CheckKind.PAIR:
            return (self.params["left"], self.params["right"])
        if self.kind is CheckKind.COMPOUND_UNIQUE:
            return tuple(self.params["columns"])
        return (self.column,) if self.column else ()


def compile_checks(contract: Contract) -> tuple[CheckSpec, ...]:
    """All checks of ``contract``, in a stable order (schema first, then column by column)."""
    t = contract.name
    out: list[CheckSpec] = [
        CheckSpec(f"{t}.schema", CheckKind.SCHEMA, t, params={"columns": contract.column_names},
                  description="every contract column is present and no other column is")
    ]  # fmt: skip
    for c in contract.columns:
        base = f"{t}.{c.name}"
        m = c.restricted
        sev = c.severity
        out.append(CheckSpec(f"{base}.type", CheckKind.TYPE, t, c.name, {"logical_type": c.logical_type, "physical_type": c.physical_type},
                             masked=m, description=f"values are of logical type {c.logical_type}"))  # fmt: skip
        if c.required:
            out.append(CheckSpec(f"{base}.not_null", CheckKind.NOT_NULL, t, c.name, threshold=c.not_null_threshold, masked=m, severity=sev,
                                 description="no value is missing"))  # fmt: skip
        if c.unique or c.primary_key:
            out.append(CheckSpec(f"{base}.unique", CheckKind.UNIQUE, t, c.name, threshold=c.unique_threshold, masked=m, severity=sev,
                                 description="no value occurs twice"))  # fmt: skip
        if c.has_range:
            params = {"min": c.minimum, "max": c.maximum, "exclusive_min": c.exclusive_minimum, "exclusive_max": c.exclusive_maximum}
            out.append(CheckSpec(f"{base}.range", CheckKind.RANGE, t, c.name, params, masked=m, severity=sev,
                                 description=_range_text(params)))  # fmt: skip
        if c.allowed_values is not None:
            out.append(CheckSpec(f"{base}.allowed_values", CheckKind.ALLOWED_VALUES, t, c.name, {"values": c.allowed_values},
                                 threshold=c.allowed_threshold, masked=m, severity=sev, description=f"one of {len(c.allowed_values)} allowed values"))  # fmt: skip
        if c.pattern is not None:
            out.append(CheckSpec(f"{base}.pattern", CheckKind.PATTERN, t, c.name, {"regex": c.pattern}, threshold=c.pattern_threshold,
                                 masked=m, severity=sev, description=f"matches {c.pattern}"))  # fmt: skip
        if c.min_length is not None or c.max_length is not None:
            out.append(CheckSpec(f"{base}.length", CheckKind.LENGTH, t, c.name, {"min": c.min_length, "max": c.max_length}, masked=m, severity=sev,
                                 description=f"length between {c.min_length} and {c.max_length}"))  # fmt: skip
        for ref in c.references:
            out.append(CheckSpec(f"{base}.foreign_key", CheckKind.FOREIGN_KEY, t, c.name,
                                 {"ref_table": ref.table, "ref_column": ref.column}, masked=m, severity=sev,
                                 description=f"every value exists in {ref}"))  # fmt: skip
    for rule in contract.pair_rules:
        m = contract.column(rule.left).restricted or contract.column(rule.right).restricted
        out.append(CheckSpec(f"{t}.rule.{rule.name}", CheckKind.PAIR, t, None,
                             {"left": rule.left, "op": rule.op, "right": rule.right}, threshold=rule.threshold,
                             severity=rule.severity, masked=m,
                             description=rule.description or f"no row where {rule.left} {rule.op} {rule.right}"))  # fmt: skip
    for cu in contract.compound_unique:
        m = any(contract.column(c).restricted for c in cu.columns)
        out.append(CheckSpec(f"{t}.unique.{cu.name}", CheckKind.COMPOUND_UNIQUE, t, None, {"columns": cu.columns},
                             threshold=cu.threshold, masked=m, description=f"({', '.join(cu.columns)}) is unique"))  # fmt: skip
    if contract.row_count is not None:
        rc = contract.row_count
        out.append(CheckSpec(f"{t}.row_count", CheckKind.ROW_COUNT, t, None, {"min": rc.minimum, "max": rc.maximum},
                             description=f"row count between {rc.minimum} and {rc.maximum}"))  # fmt: skip
    return tuple(out)


def _range_text(p: dict[str, Any]) -> str:
    lo = "(" if p["exclusive_min"] else "["
    hi = ")" if p["exclusive_max"] else "]"
    return f"within {lo}{p['min']}, {p['max']}{hi}"
