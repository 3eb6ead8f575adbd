"""Contract → synthesis plan and SDV 2.x ``Metadata``: one source of truth for what is modelled how.

:func:`plan_schema` reads one or more contracts and says, column by column, what a synthesizer does:

===============  ====================================================================================
role             columns and handling
===============  ====================================================================================
``key``          primary keys: never modelled; fresh ids (1..n for integers, random strings matching
                 the contract pattern otherwise)
``foreign_key``  references to a table in the schema: never modelled; copied from the synthetic
                 parent the row is attached to
``identifier``   direct identifiers, unique columns and references outside the schema: never
                 modelled; fresh random values matching the pattern, never equal to a real value
``numerical``    integer / number
``datetime``     date / timestamp
``categorical``  string (and boolean); very high-cardinality text is handled at fit time
===============  ====================================================================================

Relationships come from the columns' ``references``. Each child table has one **primary parent**
(the required foreign key whose table lies deepest, e.g. ``diagnoses → episodes`` rather than
``diagnoses → patients``); its other foreign keys are **derived** through the primary parent when
the parent chain reaches the same table (``diagnoses.national_id`` = the episode's patient),
**sibling** links when both tables share the primary parent (``lab_results.episode_id``: an episode
of the same patient), else **random**.

:func:`to_sdv_metadata` builds SDV 2.x ``Metadata`` from the same plan. **Sensitivity**: by default
it holds only what the contract says (public bounds, allowed codes) and no data; SDV's own
``detect_from_dataframes`` stores each column's real minimum, maximum and every category, and a fitted
synthesizer encodes the real data: both must stay inside the data centre with the release.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hdc_toolkit.contracts.model import Column, Contract, Reference
from hdc_toolkit.exceptions import ContractError

__all__ = [
    "ColumnPlan",
    "Link",
    "SchemaPlan",
    "TablePlan",
    "contract_from_frame",
    "contract_to_sdv_dict",
    "plan_schema",
    "sdmetrics_metadata",
    "to_sdv_metadata",
]

NOT_MODELLED = frozenset({"key", "foreign_key", "identifier"})
_KEYED = frozenset({"keyed", "project_keyed", "project_rekeyed"})


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is synthesized."""

    name: str
    role: str
    logical_type: str
    classification: str
    required: bool
    unique: bool
    pattern: str | None = None
    allowed_values: tuple[Any, ...] | None = None
    minimum: Any = None
    maximum: Any = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    reference: Reference | None = None
    code_system: str | None = None

    @property
    def modelled(self) -> bool:
        return self.role not in NOT_MODELLED

    @property
    def temporal(self) -> bool:
        return self.logical_type in ("date", "timestamp")


@dataclass(frozen=True)
class Link:
    """A foreign key of a child table and how its value is chosen for a synthetic row."""

    column: str
    parent: str
    parent_column: str
    kind: str  # primary | derived | sibling | random
    required: bool
    via: tuple[str, ...] = ()  # derived: the primary-parent chain of tables leading to ``parent``


@dataclass(frozen=True)
class TablePlan:
    name: str
    contract: Contract
    columns: tuple[ColumnPlan, ...]
    primary_key: str | None
    links: tuple[Link, ...] = ()

    @property
    def primary_link(self) -> Link | None:
        return next((link for link in self.links if link.kind == "primary"), None)

    @property
    def parent(self) -> str | None:
        link = self.primary_link
        return link.parent if link else None

    def column(self, name: str) -> ColumnPlan:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def modelled_columns(self) -> tuple[ColumnPlan, ...]:
        return tuple(c for c in self.columns if c.modelled)


@dataclass(frozen=True)
class SchemaPlan:
    """Every table's plan, parents before children."""

    tables: dict[str, TablePlan]
    order: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def children(self, table: str) -> tuple[str, ...]:
        return tuple(t for t in self.order if self.tables[t].parent == table)

    def ancestors(self, table: str) -> tuple[str, ...]:
        """The primary-parent chain above ``table`` (nearest first)."""
        out = []
        t = self.tables[table].parent
        while t is not None and t not in out:
            out.append(t)
            t = self.tables[t].parent
        return tuple(out)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(t for t in self.order if self.tables[t].parent is None)


def plan_schema(contracts: Contract | Mapping[str, Contract] | Iterable[Contract]) -> SchemaPlan:
    """The synthesis plan of one contract or a set of linked contracts."""
    if isinstance(contracts, Contract):
        contracts = {contracts.name: contracts}
    elif not isinstance(contracts, Mapping):
        contracts = {c.name: c for c in contracts}
    contracts = dict(contracts)
    if not contracts:
        raise ContractError("no contracts to plan a synthetic dataset from")
    tables_cols: dict[str, tuple[ColumnPlan, ...]] = {}
    pks: dict[str, str | None] = {}
    for name, contract in contracts.items():
        cols = tuple(_column_plan(c, contracts) for c in contract.columns)
        tables_cols[name] = cols
        pks[name] = next((c.name for c in contract.columns if c.primary_key), None)
        for c in cols:
            if c.role == "foreign_key" and c.reference is not None:
                target = contracts[c.reference.table]
                if not target.has_column(c.reference.column):
                    raise ContractError(f"{name}.{c.name} references {c.reference}, which has no such column")
    # primary parents: among the foreign keys, the required one whose table is deepest
    raw_fks = {t: [c for c in cols if c.role == "foreign_key"] for t, cols in tables_cols.items()}
    primary: dict[str, ColumnPlan | None] = {}
    for t, fks in raw_fks.items():
        fks = [c for c in fks if c.reference and c.reference.table != t]
        if not fks:
            primary[t] = None
            continue
        candidates = [c for c in fks if c.required] or fks
        targets = {c.reference.table for c in candidates}  # type: ignore[union-attr]

        def depth(c: ColumnPlan, targets: set[str] = targets) -> int:
            # how many other candidate targets lie above this one (through any foreign key)
            return sum(
                1
                for other in targets
                if other != c.reference.table and _reaches(c.reference.table, other, raw_fks)
            )  # type: ignore[union-attr]

        primary[t] = max(candidates, key=depth)
    parent_of = {t: (c.reference.table if c else None) for t, c in primary.items()}  # type: ignore[union-attr]
    depends = {
        t: {c.reference.table for c in fks if c.reference and c.reference.table != t}
        for t, fks in raw_fks.items()
    }  # type: ignore[union-attr]
    order = _topological(depends, list(contracts))
    tables: dict[str, TablePlan] = {}
    notes: list[str] = []
    for t in order:
        links: list[Link] = []
        prim = primary[t]
        chain = _chain(t, parent_of)
        for c in raw_fks[t]:
            ref = c.reference
            assert ref is not None
            if c is prim:
                links.append(Link(c.name, ref.table, ref.column, "primary", c.required))
            elif ref.table == t:
                links.append(Link(c.name, ref.table, ref.column, "random", c.required))
            elif ref.table in chain:
                via = tuple(chain[: chain.index(ref.table) + 1])
                links.append(Link(c.name, ref.table, ref.column, "derived", c.required, via))
            elif prim is not None and parent_of.get(ref.table) == parent_of[t]:
                links.append(Link(c.name, ref.table, ref.column, "sibling", c.required))
            else:
                links.append(Link(c.name, ref.table, ref.column, "random", c.required))
                notes.append(f"{t}.{c.name} → {ref}: not on the parent chain; linked to random parent rows")
        tables[t] = TablePlan(t, contracts[t], tables_cols[t], pks[t], tuple(links))
    return SchemaPlan(tables, tuple(order), tuple(notes))


def _column_plan(c: Column, contracts: Mapping[str, Contract]) -> ColumnPlan:
    ref = next((r for r in c.references if r.table in contracts), None)
    if c.primary_key:
        role = "key"
    elif ref is not None:
        role = "foreign_key"
    elif c.is_direct_identifier or c.unique or c.references or c.pseudonymisation in _KEYED:
        role = "identifier"
    elif c.logical_type in ("integer", "number"):
        role = "numerical"
    elif c.logical_type in ("date", "timestamp"):
        role = "datetime"
    elif c.logical_type in ("string", "boolean"):
        role = "categorical"
    else:
        role = "unsupported"
    return ColumnPlan(
        name=c.name,
        role=role,
        logical_type=c.logical_type,
        classification=c.classification,
        required=c.required,
        unique=c.unique or c.primary_key,
        pattern=c.pattern,
        allowed_values=c.allowed_values,
        minimum=c.minimum,
        maximum=c.maximum,
        exclusive_minimum=c.exclusive_minimum,
        exclusive_maximum=c.exclusive_maximum,
        min_length=c.min_length,
        max_length=c.max_length,
        reference=ref,
        code_system=c.code_system,
    )


def _reaches(start: str, target: str, fks: Mapping[str, list[ColumnPlan]]) -> bool:
    seen, todo = set(), [start]
    while todo:
        t = todo.pop()
        if t == target:
            return True
        if t in seen:
            continue
        seen.add(t)
        todo.extend(c.reference.table for c in fks.get(t, []) if c.reference)  # type: ignore[union-attr]
    return False


def _chain(table: str, parent_of: Mapping[str, str | None]) -> list[str]:
    out: list[str] = []
    t = parent_of.get(table)
    while t is not None and t not in out and t != table:
        out.append(t)
        t = parent_of.get(t)
    return out


def _topological(depends: Mapping[str, set[str]], names: list[str]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(t: str) -> None:
        if t in order:
            return
        if t in visiting:
            raise ContractError(f"the tables' foreign keys form a cycle through {t!r}")
        visiting.add(t)
        for p in sorted(depends.get(t, ())):
            visit(p)
        visiting.discard(t)
        order.append(t)

    for t in names:
        visit(t)
    return order


# ---------------------------------------------------------------------------------------------------
# SDV and SDMetrics metadata


def _sdv_column(c: ColumnPlan, *, public_bounds: bool) -> dict[str, Any]:
    if not c.modelled:
        out: dict[str, Any] = {"sdtype": "id"}
        if c.pattern:
            out["regex_format"] = c.pattern.removeprefix("^").removesuffix("$")
        return out
    if c.role == "numerical":
        out = {"sdtype": "numerical"}
        if c.logical_type == "integer":
            out["decimal_places"] = 0
        if public_bounds:
            if c.minimum is not None:
                out["range_min"] = c.minimum
            if c.maximum is not None:
                out["range_max"] = c.maximum
        return out
    if c.role == "datetime":
        out = {"sdtype": "datetime"}
        fmt = "%Y-%m-%d" if c.logical_type == "date" else "%Y-%m-%d %H:%M:%S"
        if public_bounds:
            for key, value in (("range_min", c.minimum), ("range_max", c.maximum)):
                if isinstance(value, (dt.date, dt.datetime)):
                    out[key] = value.strftime(fmt)
        return out
    if c.logical_type == "boolean":
        return {"sdtype": "boolean"}
    out = {"sdtype": "categorical"}
    if public_bounds and c.allowed_values:
        out["range_values"] = [v for v in c.allowed_values if v is not None]
    return out


def contract_to_sdv_dict(
    contracts: Contract | Mapping[str, Contract] | Iterable[Contract], *, public_bounds: bool = True
) -> dict[str, Any]:
    """The SDV 2.x metadata dictionary (spec ``V2``) of one or more contracts, without any data.

    ``public_bounds`` copies the contract's declared ranges and allowed codes (public information)
    into ``range_min``/``range_max``/``range_values``; real data values are never included.
    This is also the ``sdv`` contract exporter.
    """
    plan = contracts if isinstance(contracts, SchemaPlan) else plan_schema(contracts)
    tables: dict[str, Any] = {}
    relationships = []
    for name in plan.order:
        tp = plan.tables[name]
        cols = {
            c.name: _sdv_column(c, public_bounds=public_bounds) for c in tp.columns if c.role != "unsupported"
        }
        entry: dict[str, Any] = {"columns": cols}
        if tp.primary_key:
            entry["primary_key"] = tp.primary_key
        tables[name] = entry
        for link in tp.links:
            if link.parent != name and plan.tables[link.parent].primary_key == link.parent_column:
                relationships.append({
                    "parent_table_name": link.parent,
                    "parent_primary_key": link.parent_column,
                    "child_table_name": name,
                    "child_foreign_key": link.column,
                })  # fmt: skip
    return {"tables": tables, "relationships": relationships, "METADATA_SPEC_VERSION": "V2"}


def to_sdv_metadata(contracts: Any, *, public_bounds: bool = True) -> Any:
    """SDV 2.x ``sdv.metadata.Metadata`` built from contracts (see :func:`contract_to_sdv_dict`)."""
    from hdc_toolkit.synth._deps import require_sdv

    require_sdv()
    from sdv.metadata import Metadata

    return Metadata.load_from_dict(contract_to_sdv_dict(contracts, public_bounds=public_bounds))


def sdmetrics_metadata(table: TablePlan, columns: Iterable[str] | None = None) -> dict[str, Any]:
    """SDMetrics single-table metadata of the modelled columns (keys and identifiers left out)."""
    wanted = set(columns) if columns is not None else None
    cols = {}
    for c in table.columns:
        if not c.modelled or c.role == "unsupported" or (wanted is not None and c.name not in wanted):
            continue
        cols[c.name] = _sdv_column(c, public_bounds=False)
        cols[c.name].pop("decimal_places", None)
    return {"columns": cols}


# ---------------------------------------------------------------------------------------------------
# contracts for ad-hoc data (notebooks, real-data fixtures)


def contract_from_frame(
    df: Any,
    name: str,
    *,
    classifications: Mapping[str, str] | None = None,
    primary_key: str | None = None,
    max_categories: int = 50,
) -> Contract:
    """A minimal contract for a DataFrame that has none (notebooks, public fixtures such as flchain).

    Types come from the dtypes; a column without nulls is ``required``; a string/category column
    with at most ``max_categories`` values gets them as ``allowed_values``. Those values and any
    bounds come from the data: **the result is as sensitive as the data** — for a release, write the
    contract by hand with public bounds instead.
    """
    import pandas as pd

    classifications = dict(classifications or {})
    cols = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            lt = "boolean"
        elif pd.api.types.is_integer_dtype(s):
            lt = "integer"
        elif pd.api.types.is_float_dtype(s):
            lt = "number"
        elif pd.api.types.is_datetime64_any_dtype(s):
            lt = "timestamp"
        else:
            lt = "string"
        allowed = None
        if lt == "string":
            values = pd.unique(s.dropna().astype(str))
            if len(values) <= max_categories:
                allowed = tuple(sorted(values.tolist()))
        cols.append(
            Column(
                name=str(col),
                logical_type=lt,
                required=not bool(s.isna().any()),
                primary_key=col == primary_key,
                unique=col == primary_key,
                classification=classifications.get(str(col), "other"),
                allowed_values=allowed,
            )
        )
    return Contract(name=name, columns=tuple(cols), contract_id=f"urn:hdc:adhoc:{name}", version="0")
