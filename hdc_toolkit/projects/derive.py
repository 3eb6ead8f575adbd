"""The project contract: each released table's ODCS contract, derived from its source contract + permit.

What changes from the source contract (everything else is copied):

* **columns**: only the permitted ones, in the permit's order, after a ``pid`` column (the
  project-specific pseudonym, classification ``quasi_identifier``, custom property
  ``pseudonymisation: project_keyed``) wherever the source table has a keyed person column. The person
  table's ``pid`` is the primary key with pattern ``^[0-9a-f]{16}$``; every other ``pid`` is a foreign
  key to it, which implies the pattern (so the gate does not run the regular expression on every
  event row). The person table (``patients``) is always released, with at least ``pid``, so that
  every pid resolves. Direct identifiers are never released: a keyed one becomes ``pid``, any other is refused.
* **surrogate keys** (integer primary keys and the foreign keys to them, e.g. ``episode_id``) are
  re-keyed per project (``pseudonymisation: project_rekeyed``); see :mod:`.pseudonymise`.
* **coarsened columns** keep their type; their bounds are coarsened, a code cut to a prefix loses its
  pattern (county: ``^[0-9]{2}$``; 3char: at most 3 characters), a coarsened column is no longer
  unique, and the custom property ``granularity`` says what was done.
* **time window**: the event-time columns of every non-person table get the cohort window as bounds
  (coarsened like the column), so the release gate proves the window was applied.
* **relationships**: ``pid`` references ``patients.pid``; other foreign keys are kept when their
  target is released, else dropped. Order rules between two columns are kept only when both are
  released at the same granularity (coarsening is monotone, so the rule still holds); a compound
  uniqueness only when all its columns are released as is; the person table must not be empty.

Event time of a table (what the window applies to): a column pair ``end < start`` order rule between
two date/time columns makes the table an interval table (released when ``[start, end]`` overlaps the
window, e.g. episodes); otherwise its first required date/time column (a point event). A table with
neither, and the person table, are not time-filtered.

:func:`derive_release` returns the plan; :func:`write_contracts` writes the ODCS YAML and loads it
back with the contract loader, so the contracts a release is validated against are exactly the files
written into it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hdc_toolkit.contracts.model import Column, Contract, Threshold
from hdc_toolkit.exceptions import ContractError, NotFoundError, PermissionDenied
from hdc_toolkit.projects import coarsen as co
from hdc_toolkit.projects.pseudonymise import PSEUDONYM_COLUMN, PSEUDONYM_PATTERN

__all__ = [
    "PERSON_PSEUDONYM",
    "SURROGATE_PSEUDONYM",
    "CohortColumn",
    "ColumnSpec",
    "EventTime",
    "ReleaseSpec",
    "TableSpec",
    "derive_release",
    "event_time",
    "write_contracts",
]

PERSON_PSEUDONYM = "project_keyed"
SURROGATE_PSEUDONYM = "project_rekeyed"
PSEUDONYM_CLASSIFICATION = "quasi_identifier"
_TEMPORAL = ("date", "timestamp")
#: Code systems of the cohort's code lists, and the cohort field that lists their prefixes.
COHORT_CODE_SYSTEMS: dict[str, str] = {"ICD-10": "icd10", "ATC": "atc"}


@dataclass(frozen=True)
class ColumnSpec:
    """One released column: where it comes from and what is done to it."""

    name: str
    source: str
    granularity: str = "as_is"
    role: str = "value"  # value | pseudonym | surrogate
    domain: str | None = None  # the key domain of a surrogate (``episodes.episode_id``)


@dataclass(frozen=True)
class EventTime:
    """The column(s) the time window applies to; ``end`` set means an interval (overlap)."""

    start: str
    end: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.start,) if self.end is None else (self.start, self.end)


@dataclass(frozen=True)
class CohortColumn:
    """A code column a cohort code list (``field``: ``icd10`` or ``atc``) is matched against."""

    table: str
    column: str
    field: str
    person_column: str
    event_time: EventTime | None


@dataclass(frozen=True)
class TableSpec:
    """How one table is released."""

    name: str
    source: Contract
    columns: tuple[ColumnSpec, ...]
    person_column: str | None
    event_time: EventTime | None
    document: dict[str, Any] = field(repr=False, compare=False)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Source columns to read: released ones, the person key and the event time."""
        wanted = [c.source for c in self.columns]
        wanted += [self.person_column] if self.person_column else []
        wanted += list(self.event_time.columns) if self.event_time else []
        return tuple(dict.fromkeys(wanted))


@dataclass(frozen=True)
class ReleaseSpec:
    """Every table of a release, the person table first, plus the cohort's code columns."""

    project_id: str
    person_table: str
    person_column: str
    tables: tuple[TableSpec, ...]
    #: Every column a cohort code list is matched against (released or not).
    cohort_columns: tuple[CohortColumn, ...]
    window: tuple[dt.date, dt.date] | None

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise NotFoundError(f"table {name!r} is not in the release")


# ---------------------------------------------------------------------------------------------------
# the plan


def derive_release(
    sources: Mapping[str, Contract],
    permitted: Mapping[str, Mapping[str, str]],
    *,
    project_id: str,
    window: tuple[dt.date, dt.date] | None,
    permit_version: int,
    permit_sha256: str,
) -> ReleaseSpec:
    """Derive the release plan and each table's ODCS document; see the module docstring.

    Raises :class:`NotFoundError` for a dataset or column the source contracts do not have and
    :class:`PermissionDenied` for a direct identifier or a granularity the contract does not allow.
    """
    person_table, person_column = _person_key(sources)
    for dataset in permitted:
        if dataset not in sources:
            raise NotFoundError(f"the permit names dataset {dataset!r}, which has no source contract")
    order = [person_table, *[d for d in permitted if d != person_table]]
    released = {
        t: _released_columns(sources[t], permitted.get(t, {}), (person_table, person_column)) for t in order
    }
    tables = []
    for name in order:
        source = sources[name]
        event = None if name == person_table else event_time(source)
        cols = _column_specs(source, released, sources)
        person = _person_column_of(source, (person_table, person_column))
        doc = _document(
            source,
            cols,
            released,
            event,
            name == person_table,
            window,
            project_id=project_id,
            permit_version=permit_version,
            permit_sha256=permit_sha256,
        )
        tables.append(TableSpec(name, source, tuple(cols), person, event, doc))
    cohort_columns = tuple(
        CohortColumn(t, c.name, COHORT_CODE_SYSTEMS[c.code_system], person, event_time(contract))
        for t, contract in sources.items()
        if (person := _person_column_of(contract, (person_table, person_column)))
        for c in contract.columns
        if c.code_system in COHORT_CODE_SYSTEMS
    )
    return ReleaseSpec(project_id, person_table, person_column, tuple(tables), cohort_columns, window)


def _person_key(sources: Mapping[str, Contract]) -> tuple[str, str]:
    keys = [
        (t, c.name)
        for t, con in sources.items()
        for c in con.columns
        if c.pseudonymisation == "keyed" and c.primary_key
    ]
    if len(keys) != 1:
        found = ", ".join(f"{t}.{c}" for t, c in keys) or "none"
        raise ContractError(
            f"the source contracts must have exactly one person key (a primary key with pseudonymisation: keyed); found {found}"
        )
    return keys[0]


def _person_column_of(contract: Contract, person: tuple[str, str]) -> str | None:
    """The column of ``contract`` holding the person key (the key itself, or a keyed foreign key)."""
    for c in contract.columns:
        if c.pseudonymisation != "keyed":
            continue
        if (contract.name, c.name) == person or any((r.table, r.column) == person for r in c.references):
            return c.name
        raise ContractError(
            f"{contract.name}.{c.name}: only the person key and foreign keys to it can be pseudonymised "
            f"(it should reference {person[0]}.{person[1]})"
        )
    return None


def _released_columns(
    contract: Contract, wanted: Mapping[str, str], person: tuple[str, str]
) -> dict[str, str]:
    """Source column → normalised granularity of the released (non-identifier) columns."""
    out: dict[str, str] = {}
    for name, granularity in wanted.items():
        col = contract.column(name)  # NotFoundError names the contract's columns
        if col.pseudonymisation == "keyed":
            continue  # becomes pid
        if col.is_direct_identifier:
            raise PermissionDenied(f"{contract.name}.{name} is a direct identifier and is never released")
        why = co.allowed(granularity, col.logical_type, col.coarsening)
        if why:
            raise PermissionDenied(f"{contract.name}.{name}: {why}")
        out[name] = co.normalise(granularity)
    return out


def _surrogate_domain(contract: Contract, col: Column, sources: Mapping[str, Contract]) -> str | None:
    if col.logical_type != "integer":
        return None
    if col.primary_key:
        return f"{contract.name}.{col.name}"
    for ref in col.references:
        target = sources.get(ref.table)
        if target is not None and target.has_column(ref.column):
            tcol = target.column(ref.column)
            if tcol.primary_key and tcol.logical_type == "integer":
                return f"{ref.table}.{ref.column}"
    return None


def _column_specs(
    contract: Contract, released: Mapping[str, Mapping[str, str]], sources: Mapping[str, Contract]
) -> list[ColumnSpec]:
    out = []
    person_col = next((c.name for c in contract.columns if c.pseudonymisation == "keyed"), None)
    if person_col is not None:
        out.append(ColumnSpec(PSEUDONYM_COLUMN, person_col, "as_is", "pseudonym"))
    for name, granularity in released[contract.name].items():
        domain = _surrogate_domain(contract, contract.column(name), sources)
        out.append(ColumnSpec(name, name, granularity, "surrogate" if domain else "value", domain))
    return out


def event_time(contract: Contract) -> EventTime | None:
    """The column(s) the time window applies to in ``contract``'s table (see the module docstring)."""
    temporal = {c.name for c in contract.columns if c.logical_type in _TEMPORAL}
    for rule in contract.pair_rules:
        if rule.left in temporal and rule.right in temporal and rule.op in ("<", "<="):
            return EventTime(start=rule.right, end=rule.left)  # "violated when end < start"
    for c in contract.columns:
        if c.name in temporal and c.required:
            return EventTime(start=c.name)
    return None


# ---------------------------------------------------------------------------------------------------
# ODCS documents


def _document(
    source: Contract,
    cols: list[ColumnSpec],
    released: Mapping[str, Mapping[str, str]],
    event: EventTime | None,
    is_person_table: bool,
    window: tuple[dt.date, dt.date] | None,
    *,
    project_id: str,
    permit_version: int,
    permit_sha256: str,
) -> dict[str, Any]:
    bounds = _window_bounds(event, window)
    props = [
        _property(source, spec, released, is_person_table, bounds.get(spec.source, (None, None)))
        for spec in cols
    ]
    quality: list[dict[str, Any]] = []
    if is_person_table:
        quality.append(
            {
                "name": "cohort_not_empty",
                "description": "The cohort has at least one person.",
                "metric": "rowCount",
                "mustBeGreaterThan": 0,
            }
        )
    granularity = {c.source: c.granularity for c in cols}
    for rule in source.pair_rules:
        if (
            rule.left in granularity
            and rule.right in granularity
            and granularity[rule.left] == granularity[rule.right]
        ):
            quality.append(
                {
                    "name": rule.name,
                    "description": rule.description or f"{rule.left} {rule.op} {rule.right} never holds",
                    "type": "sql",
                    "query": f"SELECT COUNT(*) FROM {{object}} WHERE {rule.left} {rule.op} {rule.right}",
                    **_threshold(rule.threshold),
                    **({"severity": "warning"} if rule.severity == "warning" else {}),
                }
            )
    names = {c.source: c.name for c in cols}
    for cu in source.compound_unique:
        if all(granularity.get(c) == "as_is" for c in cu.columns):
            quality.append(
                {
                    "name": cu.name,
                    "metric": "duplicateValues",
                    "arguments": {"properties": [names[c] for c in cu.columns]},
                    **_threshold(cu.threshold),
                }
            )
    table: dict[str, Any] = {
        "name": source.name,
        "physicalName": source.name,
        "physicalType": "table",
        "logicalType": "object",
        "description": f"{source.description} Released for project {project_id}.".strip(),
        "properties": props,
    }
    if quality:
        table["quality"] = quality
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": f"urn:hdc:contract:project:{project_id}:{source.name}",
        "name": source.name,
        "version": f"{source.version or '0.0.0'}+permit.{permit_version}",
        "status": "active",
        "domain": f"project-{project_id}",
        "description": {
            "purpose": f"The {source.name} table as released to project {project_id} under permit version {permit_version}.",
            "usage": "Analysis inside the project's sandbox only; outputs leave through the airlock.",
            "limitations": "Minimised, cohort-filtered, coarsened and pseudonymised with project-specific keys; "
            "not linkable to other projects.",
        },
        "customProperties": [
            {"property": "sourceContract", "value": source.contract_id},
            {"property": "sourceContractVersion", "value": source.version},
            {"property": "project", "value": project_id},
            {"property": "permitVersion", "value": permit_version},
            {"property": "permitSha256", "value": permit_sha256},
        ],
        "schema": [table],
    }


def _window_bounds(
    event: EventTime | None, window: tuple[dt.date, dt.date] | None
) -> dict[str, tuple[Any, Any]]:
    """Source column → (min, max) the window imposes (as dates; the end is inclusive)."""
    if event is None or window is None:
        return {}
    start, end = window
    if event.end is None:
        return {event.start: (start, end)}
    return {event.start: (None, end), event.end: (start, None)}


def _property(
    source: Contract,
    spec: ColumnSpec,
    released: Mapping[str, Mapping[str, str]],
    is_person_table: bool,
    window: tuple[Any, Any],
) -> dict[str, Any]:
    col = source.column(spec.source)
    if spec.role == "pseudonym":
        return _pid_property(source, col, is_person_table)
    g = spec.granularity
    prop: dict[str, Any] = {"name": spec.name, "logicalType": col.logical_type}
    if col.physical_type:
        prop["physicalType"] = col.physical_type
    if col.required:
        prop["required"] = True
    if col.primary_key and g == "as_is":
        prop["primaryKey"] = True
    if col.unique and g == "as_is" and col.unique_threshold.is_zero:
        prop["unique"] = True
    description = col.description
    if g != "as_is":
        description = f"{description} Coarsened to {g}.".strip()
    if spec.role == "surrogate":
        description = f"{description} Re-keyed for this project.".strip()
    if description:
        prop["description"] = description
    options = _type_options(col, g, window)
    if options:
        prop["logicalTypeOptions"] = options
    quality = _property_quality(col, g)
    if quality:
        prop["quality"] = quality
    rels = [
        {"type": "foreignKey", "to": f"{r.table}.{r.column}"}
        for r in col.references
        if r.column in released.get(r.table, {}) and released[r.table][r.column] == "as_is" and g == "as_is"
    ]
    if rels:
        prop["relationships"] = rels
    custom = [{"property": "classification", "value": col.classification}]
    if col.code_system:
        custom.append({"property": "codeSystem", "value": col.code_system})
    custom.append({"property": "granularity", "value": g})
    if spec.role == "surrogate":
        custom.append({"property": "pseudonymisation", "value": SURROGATE_PSEUDONYM})
    custom.append({"property": "sourceColumn", "value": f"{source.name}.{col.name}"})
    prop["customProperties"] = custom
    return prop


def _pid_property(source: Contract, col: Column, is_person_table: bool) -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": PSEUDONYM_COLUMN,
        "businessName": "Project-specific pseudonym",
        "description": "The person's pseudonym in this project (keyed HMAC-SHA256 of the national id, 16 hex "
        "characters); the same person has the same pid in every table of the project and a different one in "
        "every other project.",
        "logicalType": "string",
        "physicalType": "string",
        "required": True,
    }
    if is_person_table:
        prop["primaryKey"] = True
        prop["unique"] = True
        prop["logicalTypeOptions"] = {"pattern": PSEUDONYM_PATTERN}
    else:
        prop["relationships"] = [{"type": "foreignKey", "to": f"{_ref_table(col)}.{PSEUDONYM_COLUMN}"}]
    prop["customProperties"] = [
        {"property": "classification", "value": PSEUDONYM_CLASSIFICATION},
        {"property": "pseudonymisation", "value": PERSON_PSEUDONYM},
        {"property": "sourceColumn", "value": f"{source.name}.{col.name}"},
    ]
    return prop


def _ref_table(col: Column) -> str:
    return col.references[0].table if col.references else ""


def _type_options(col: Column, g: str, window: tuple[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lo, hi = col.minimum, col.maximum
    if col.logical_type in _TEMPORAL:
        lo = _tighter(lo, _as_type(window[0], col.logical_type, end=False), max)
        hi = _tighter(hi, _as_type(window[1], col.logical_type, end=True), min)
    lo_ex, hi_ex = col.exclusive_minimum and g == "as_is", col.exclusive_maximum and g == "as_is"
    lo, hi = co.coarsen_value(lo, g), co.coarsen_value(hi, g)
    if lo is not None:
        out["exclusiveMinimum" if lo_ex else "minimum"] = _iso(lo)
    if hi is not None:
        out["exclusiveMaximum" if hi_ex else "maximum"] = _iso(hi)
    if g == "county":
        out["pattern"] = "^[0-9]{2}$"
    elif g == "3char":
        out["maxLength"] = 3
    else:
        if col.pattern and col.pattern_threshold.is_zero:
            out["pattern"] = col.pattern
        if col.min_length is not None:
            out["minLength"] = col.min_length
        if col.max_length is not None:
            out["maxLength"] = col.max_length
    return out


def _as_type(day: dt.date | None, logical_type: str, *, end: bool) -> Any:
    if day is None or logical_type == "date":
        return day
    if end:  # the last instant of an inclusive end date
        return dt.datetime.combine(day, dt.time(23, 59, 59, 999999))
    return dt.datetime.combine(day, dt.time(0))


def _tighter(a: Any, b: Any, pick: Any) -> Any:
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and (a.tzinfo is None) != (b.tzinfo is None):
        b = b.replace(tzinfo=a.tzinfo)
    return pick(a, b)


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _property_quality(col: Column, g: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if col.allowed_values is not None:
        values = list(col.allowed_values)
        if g in ("county", "3char"):
            values = list(dict.fromkeys(co.coarsen_value(v, g) for v in values if isinstance(v, str)))
        if values and g in ("as_is", "county", "3char"):
            out.append(
                {
                    "name": f"{col.name}_values",
                    "metric": "invalidValues",
                    "arguments": {"validValues": values},
                    **_threshold(col.allowed_threshold),
                }
            )
    if col.pattern and not col.pattern_threshold.is_zero and g == "as_is":
        out.append(
            {
                "name": f"{col.name}_pattern",
                "metric": "invalidValues",
                "arguments": {"pattern": col.pattern},
                **_threshold(col.pattern_threshold),
            }
        )
    if col.required and not col.not_null_threshold.is_zero:
        out.append(
            {"name": f"{col.name}_nulls", "metric": "nullValues", **_threshold(col.not_null_threshold)}
        )
    if col.unique and not col.unique_threshold.is_zero and g == "as_is":
        out.append(
            {
                "name": f"{col.name}_duplicates",
                "metric": "duplicateValues",
                **_threshold(col.unique_threshold),
            }
        )
    return out


def _threshold(t: Threshold) -> dict[str, Any]:
    out: dict[str, Any] = {t.op: list(t.value) if isinstance(t.value, tuple) else t.value}
    if t.unit != "rows":
        out["unit"] = t.unit
    return out


# ---------------------------------------------------------------------------------------------------
# files


def write_contracts(spec: ReleaseSpec, directory: Path) -> dict[str, Contract]:
    """Write ``<table>.odcs.yaml`` for every table of ``spec`` and load them back (strictly)."""
    from hdc_toolkit.contracts.loader import load_contract

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for table in spec.tables:
        path = directory / f"{table.name}.odcs.yaml"
        header = f"# Derived ODCS contract of {table.name} for project {spec.project_id}: written by hdc project provision.\n"
        path.write_text(
            header + yaml.safe_dump(table.document, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        out[table.name] = load_contract(path)
    return out
