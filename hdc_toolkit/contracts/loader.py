"""Load ODCS v3 documents into frozen :class:`~hdc_toolkit.contracts.model.Contract` objects.

Loading has three layers, each reporting file, line and field:

1. YAML syntax (with the line of every node kept, so later errors can name it);
2. the ODCS JSON Schema bundled with the official ``open-data-contract-standard`` package, then its
   pydantic model;
3. the toolkit's own reading: types, bounds, patterns, quality rules and health custom properties.

Settled policies (the standard leaves them open):

* **apiVersion**: every ``v3.x`` document is checked against the newest v3 schema the installed
  package bundles (as the standard's own CI does: several published v3.0.x examples use 3.1 fields).
  ``v2.x`` documents are refused with a message to migrate.
* **Unused features** (servers, SLAs, pricing, custom engines, nested objects, SQL that is not a
  column comparison, ...) load fine and are reported as warnings: they are not enforced.
* **Regex subset**: a pattern must compile in Python ``re`` (ASCII mode) *and* in RE2 (pyarrow), i.e.
  no look-around, no back-references, no possessive quantifiers; that is the part ECMA-262, Python and
  RE2 agree on. Patterns are *searched* (unanchored, as JSON Schema and GX do): anchor with ``^...$``.
* **Nulls** never fail a validity check (range, pattern, allowed values, pairs); only ``required``
  (and the ``nullValues`` metric) counts them.
* **Duplicates** count every row whose value occurs more than once (as GX), nulls excluded.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hdc_toolkit.contracts.model import (
    CLASSIFICATIONS,
    COARSENINGS,
    LOGICAL_TYPES,
    PAIR_OPERATORS,
    ZERO,
    Column,
    CompoundUnique,
    Contract,
    PairRule,
    Reference,
    RowCountRule,
    Threshold,
    parse_bound,
)
from hdc_toolkit.exceptions import ContractError, NotFoundError

__all__ = ["ContractDocument", "Problem", "load_contract", "load_contract_dir", "load_document", "read_document"]

OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
_SQL_PAIR = re.compile(
    r"^\s*select\s+count\s*\(\s*\*\s*\)\s+from\s+\{object\}\s+where\s+"
    r"(?P<left>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op><=|>=|<|>)\s*(?P<right>[A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$",
    re.IGNORECASE,
)
_USED_TOP = {"apiVersion", "kind", "id", "name", "version", "status", "schema", "description", "domain", "tags"}
_USED_PROPERTY = {
    "name", "logicalType", "physicalType", "required", "unique", "primaryKey", "primaryKeyPosition",
    "logicalTypeOptions", "quality", "relationships", "customProperties", "description", "businessName",
    "physicalName", "classification", "examples", "tags", "id", "criticalDataElement", "enum",
}  # fmt: skip
#: Fields every ODCS quality rule may carry, whatever its type.
_QUALITY_COMMON = {
    "id", "authoritativeDefinitions", "businessImpact", "customProperties", "description", "dimension",
    "method", "name", "schedule", "scheduler", "severity", "tags", "unit",
}  # fmt: skip
#: ODCS logical types the toolkit does not model, and the toolkit type they are read as (with a warning).
_READ_AS = {"map": "object", "vector": "array"}
_USED_OPTIONS = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "minLength", "maxLength",
    "format", "timezone", "defaultTimezone",
}  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or not supported) in a contract file."""

    file: str
    line: int | None
    field: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.field}: {self.message}" if self.field else f"{loc}: {self.message}"


@dataclass(frozen=True)
class ContractDocument:
    """A loaded ODCS document: one contract per schema object, plus what was not understood."""

    path: str
    contract_id: str
    version: str
    api_version: str
    contracts: tuple[Contract, ...]
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


# ---------------------------------------------------------------------------------------------------
# YAML with line numbers


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out = _LineDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, got {type(key).__name__}", key_node.start_mark
            ) from None
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    out.lines["__self__"] = node.start_mark.line + 1
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode, deep: bool = False) -> list[Any]:
    out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


class _LineDict(dict):  # type: ignore[type-arg]
    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.lines: dict[Any, int] = {}


class _LineList(list):  # type: ignore[type-arg]
    lines: list[int]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# Keep dates as strings: ODCS dates are ISO strings and the JSON Schema expects strings.
_LineLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line_of(doc: Any, path: Iterable[Any]) -> int | None:
    """The line of the deepest node on ``path`` that has one."""
    line = None
    node = doc
    for part in path:
        if isinstance(node, _LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, _LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    if line is None and isinstance(doc, _LineDict):
        line = doc.lines.get("__self__")
    return line


def _dotted(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_document(path: str | Path) -> Any:
    """Parse a YAML file keeping line numbers; raise :class:`ContractError` naming file and line."""
    p = Path(path)
    if not p.exists():
        raise ContractError("file not found", location=str(p))
    if p.is_dir():
        raise ContractError("expected a contract file, got a directory", location=str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"cannot read: {exc}", location=str(p)) from None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, control codes)
        line = text[: exc.position].count("\n") + 1
        raise ContractError(f"malformed YAML: character {exc.character!r} is not allowed ({exc.reason})", location=f"{p}:{line}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContractError(f"malformed YAML: {problem}", location=f"{p}{line}") from None
    except RecursionError:
        raise ContractError("malformed YAML: nested too deeply", location=str(p)) from None
    if doc is None:
        raise ContractError("the file is empty (expected an ODCS document)", location=str(p))
    if not isinstance(doc, dict):
        raise ContractError(
            f"expected a YAML mapping (an ODCS document), got {type(doc).__name__}", location=str(p)
        )
    return doc


# ---------------------------------------------------------------------------------------------------
# JSON Schema


@functools.cache
def _odcs_schema() -> dict[str, Any]:
    text = importlib.resources.files("open_data_contract_standard").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _import_jsonschema() -> Any:
    """Import jsonschema without its optional ``rfc3987_syntax`` grammar (a 1-2 s lark compile).

    Only the ``iri``/``iri-reference`` format checkers depend on it; ODCS validation uses none.
    """
    import sys

    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    missing = object()
    saved = sys.modules.get("rfc3987_syntax", missing)
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema
    finally:
        if saved is missing:
            del sys.modules["rfc3987_syntax"]
        else:
            sys.modules["rfc3987_syntax"] = saved  # type: ignore[assignment]
    return jsonschema


def _schema_problems(doc: Any, file: str, view: Any = None) -> list[Problem]:
    """Validate ``view`` (default: ``doc``) against the bundled schema; lines come from ``doc``."""
    jsonschema = _import_jsonschema()

    validator = jsonschema.Draft201909Validator(_odcs_schema())
    target = doc if view is None else view
    found = []
    for err in sorted(validator.iter_errors(target), key=lambda e: list(map(str, e.absolute_path))):
        # oneOf/anyOf errors are vague: report the most specific sub-error instead.
        best = jsonschema.exceptions.best_match([err]) if err.context else err
        found.append((list(best.absolute_path), best))
    problems: list[Problem] = []
    for path, err in found:
        # "Unevaluated properties" is jsonschema's echo of another failure at or below the same
        # node (a failed if/then branch leaves its properties unevaluated): keep the real one.
        if err.validator == "unevaluatedProperties" and any(
            other is not err and other.validator != "unevaluatedProperties" and p[: len(path)] == path
            for p, other in found
        ):
            continue
        unknown = _unknown_keys(err)
        if unknown:
            # Point at the first unknown key itself (its own line), name them all.
            where = [*path, unknown[0]]
            names = ", ".join(repr(k) for k in unknown)
            problem = Problem(file, _line_of(doc, where), _dotted(where), f"unknown field{'s' if len(unknown) > 1 else ''} {names}")
        else:
            problem = Problem(file, _line_of(doc, path), _dotted(path), _schema_message(err))
        if problem not in problems:
            problems.append(problem)
    return problems


def _unknown_keys(err: Any) -> list[str]:
    """The keys an additional/unevaluated-properties error complains about, in document order."""
    if err.validator not in ("additionalProperties", "unevaluatedProperties") or not isinstance(err.instance, dict):
        return []
    match = re.search(r"\((.*) (?:was|were) unexpected\)", str(err.message))
    named = set(re.findall(r"'((?:[^'\\]|\\.)*)'", match[1])) if match else set()
    return [str(k) for k in err.instance if str(k) in named]


#: Library metrics of ODCS v3.1+ (the schema's enum); v3.0 used free-form ``rule`` names instead.
_V31_METRICS = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")


def _v30_view(doc: Any, file: str) -> tuple[Any, list[Problem]]:
    """A copy of a v3.0.x document with the constructs that v3.1 renamed mapped to their v3.1 form.

    The bundled schema is the newest v3 schema, which rejects two things v3.0.x allowed: free-form
    quality ``rule`` names (v3.1 requires ``metric`` from a fixed list plus one operator) and the
    team member field ``comment`` (v3.1: ``description``). The copy is only validated; the original
    is read (lines, values). Each mapping is reported as a warning.
    """
    notes: list[Problem] = []
    view = _plain(doc)

    def quality(items: Any, path: list[Any]) -> None:
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "rule" not in item or "metric" in item:
                continue
            ops = [k for k in OPERATORS if k in item]
            if item.get("rule") in _V31_METRICS and len(ops) == 1:
                item["metric"] = item.pop("rule")
                continue
            # A free-form v3.0 rule: validated as a text rule; the reader warns that it is not enforced.
            kept = {k: v for k, v in item.items() if k in _QUALITY_COMMON}
            items[i] = {**kept, "type": "text"}

    def properties(props: Any, path: list[Any]) -> None:
        if not isinstance(props, list):
            return
        for i, prop in enumerate(props):
            if isinstance(prop, dict):
                quality(prop.get("quality"), [*path, i, "quality"])
                properties(prop.get("properties"), [*path, i, "properties"])
                if isinstance(prop.get("items"), dict):
                    quality(prop["items"].get("quality"), [*path, i, "items", "quality"])
                    properties(prop["items"].get("properties"), [*path, i, "items", "properties"])

    objects = view.get("schema")
    for i, obj in enumerate(objects if isinstance(objects, list) else []):
        if isinstance(obj, dict):
            quality(obj.get("quality"), ["schema", i, "quality"])
            properties(obj.get("properties"), ["schema", i, "properties"])
    team = view.get("team")
    members = team if isinstance(team, list) else (team.get("members") if isinstance(team, dict) else None)
    path = ["team"] if isinstance(team, list) else ["team", "members"]
    for i, member in enumerate(members if isinstance(members, list) else []):
        if isinstance(member, dict) and "comment" in member:
            comment = member.pop("comment")
            member.setdefault("description", comment)
            notes.append(Problem(file, _line_of(doc, [*path, i, "comment"]), _dotted([*path, i, "comment"]),
                                 "ODCS v3.0 field 'comment' read as 'description' (v3.1)", "warning"))  # fmt: skip
    return view, notes


def _schema_message(err: Any) -> str:
    if err.validator == "additionalProperties":
        return f"unknown field: {err.message}"
    if err.validator == "enum":
        allowed = ", ".join(map(str, err.validator_value))
        return f"expected one of {allowed}; got {err.instance!r}"
    if err.validator == "type":
        return f"expected {err.validator_value}, got {type(err.instance).__name__} {err.instance!r}"
    if err.validator == "oneOf" and isinstance(err.instance, dict):
        ops = [k for k in OPERATORS if k in err.instance]
        if len(ops) > 1:
            return f"a quality rule takes exactly one operator; found {', '.join(ops)}"
        return "matches none or several of the allowed forms of this block"
    if err.validator == "not" and isinstance(err.instance, dict) and isinstance(err.validator_value, dict):
        banned = [k for k in err.validator_value.get("required", []) if k in err.instance]
        if banned:
            return f"field(s) {', '.join(banned)} not allowed here"
    message = str(err.message)
    return message if len(message) <= 300 else message[:297] + "..."


# ---------------------------------------------------------------------------------------------------
# Reading a document


def load_document(path: str | Path, *, strict: bool = True) -> ContractDocument:
    """Load every table of an ODCS document.

    With ``strict`` (the default) any *error* problem raises :class:`ContractError` listing them
    all; warnings are kept on the document. ``strict=False`` returns the problems instead (``lint``).
    """
    file = str(path)
    doc = read_document(path)
    problems: list[Problem] = []
    api = str(doc.get("apiVersion", ""))
    if api.startswith("v2") or api.startswith("2"):
        problems.append(
            Problem(file, _line_of(doc, ["apiVersion"]), "apiVersion",
                    f"ODCS {api} is not supported: migrate the contract to v3 (v3.0.0 or newer)")
        )  # fmt: skip
    view: Any = None
    if re.match(r"^v?3\.0\.", api):
        view, notes = _v30_view(doc, file)
        problems += notes
    problems += _schema_problems(doc, file, view)
    contracts: list[Contract] = []
    if not any(p.severity == "error" for p in problems):
        try:
            from open_data_contract_standard.model import OpenDataContractStandard

            OpenDataContractStandard(**(_plain(doc) if view is None else view))
        except Exception as exc:  # pydantic.ValidationError; the schema check above usually catches it
            problems.append(Problem(file, None, "", f"not a valid ODCS document: {_first_line(exc)}"))
    if not any(p.severity == "error" for p in problems):
        problems += _unused_top_level(doc, file)
        reader = _Reader(doc, file)
        try:
            for i, obj in enumerate(doc.get("schema") or []):
                contract = reader.schema_object(obj, ["schema", i])
                if contract is not None:
                    contracts.append(contract)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            # A schema-valid document the reader did not foresee: report it, never a traceback.
            reader.problem(["schema"], f"cannot read the schema: {type(exc).__name__}: {_first_line(exc)}")
        problems += reader.problems
        if not doc.get("schema"):
            problems.append(Problem(file, _line_of(doc, []), "schema", "the contract describes no table", "warning"))
    document = ContractDocument(
        path=file,
        contract_id=str(doc.get("id", "")),
        version=str(doc.get("version", "")),
        api_version=api,
        contracts=tuple(contracts),
        problems=tuple(problems),
    )
    if strict and document.errors:
        first = document.errors[0]
        raise ContractError(
            f"{len(document.errors)} problem(s):\n  " + "\n  ".join(str(p) for p in document.errors),
            location=f"{first.file}:{first.line}" if first.line else first.file,
        )
    return document


def load_contract(path: str | Path, table: str | None = None) -> Contract:
    """Load the contract of one table (the file's only table, or ``table``)."""
    document = load_document(path)
    if table is None:
        if len(document.contracts) != 1:
            names = ", ".join(c.name for c in document.contracts) or "none"
            raise ContractError(f"expected exactly one table in the contract, found {names}; name one", location=str(path))
        return document.contracts[0]
    for contract in document.contracts:
        if contract.name == table:
            return contract
    raise NotFoundError(f"no table {table!r} in contract {path}")


def load_contract_dir(directory: str | Path) -> dict[str, Contract]:
    """Load every ``*.yaml``/``*.yml`` contract in ``directory``, keyed by table name."""
    d = Path(directory)
    if not d.is_dir():
        raise ContractError("contracts directory not found", location=str(d))
    out: dict[str, Contract] = {}
    for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
        for contract in load_document(path).contracts:
            if contract.name in out:
                raise ContractError(f"table {contract.name!r} is defined twice (also in {out[contract.name].source})", location=str(path))
            out[contract.name] = contract
    return out


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]


def _unused_top_level(doc: dict[str, Any], file: str) -> list[Problem]:
    return [
        Problem(file, _line_of(doc, [k]), k, "not used by hdc-toolkit (kept, not enforced)", "warning")
        for k in doc
        if k not in _USED_TOP and k not in ("team", "support", "roles", "customProperties", "contractCreatedTs")
    ]


class _Reader:
    """Turns one document's schema objects into contracts, collecting problems with lines."""

    def __init__(self, doc: dict[str, Any], file: str) -> None:
        self.doc = doc
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, path: list[Any], message: str, severity: str = "error") -> None:
        self.problems.append(Problem(self.file, _line_of(self.doc, path), _dotted(path), message, severity))

    # -- schema objects ------------------------------------------------------------------------------
    def schema_object(self, obj: dict[str, Any], path: list[Any]) -> Contract | None:
        name = obj.get("name")
        if not name:
            self.problem(path, "a schema object needs a name (the table name)")
            return None
        columns = []
        seen: set[str] = set()
        for i, prop in enumerate(obj.get("properties") or []):
            col = self.column(prop, [*path, "properties", i])
            if col is None:
                continue
            if col.name in seen:
                self.problem([*path, "properties", i, "name"], f"column {col.name!r} is defined twice")
                continue
            seen.add(col.name)
            columns.append(col)
        pair_rules, row_count, compound = self.table_quality(obj.get("quality") or [], [*path, "quality"], seen)
        for j, rel in enumerate(obj.get("relationships") or []):
            self.problem([*path, "relationships", j], "schema-level relationships are not enforced; declare them on the property", "warning")
        doc = self.doc
        description = doc.get("description")
        return Contract(
            name=str(name),
            columns=tuple(columns),
            contract_id=str(doc.get("id", "")),
            version=str(doc.get("version", "")),
            api_version=str(doc.get("apiVersion", "")),
            status=doc.get("status"),
            description=str(obj.get("description") or (description.get("purpose", "") if isinstance(description, dict) else description or "")),
            pair_rules=tuple(pair_rules),
            row_count=row_count,
            compound_unique=tuple(compound),
            source=self.file,
            warnings=tuple(str(p) for p in self.problems if p.severity == "warning"),
        )

    # -- properties ----------------------------------------------------------------------------------
    def column(self, prop: dict[str, Any], path: list[Any]) -> Column | None:
        name = prop.get("name")
        if not name:
            self.problem(path, "a property needs a name")
            return None
        ltype = prop.get("logicalType")
        if ltype is None:
            self.problem([*path, "logicalType"], "no logicalType: the column's type is not checked", "warning")
            ltype = "string" if prop.get("physicalType") in (None, "string", "varchar", "text") else "object"
        elif ltype in _READ_AS:
            # Valid ODCS (v3.2 map, vector) but not a toolkit type: kept, its inner types are not checked.
            self.problem([*path, "logicalType"],
                         f"logicalType {ltype!r} is read as {_READ_AS[ltype]!r}: its keys/values/elements are not checked", "warning")  # fmt: skip
            ltype = _READ_AS[ltype]
        elif ltype not in LOGICAL_TYPES:
            self.problem([*path, "logicalType"], f"unknown logicalType {ltype!r}; expected one of {', '.join(LOGICAL_TYPES)}")
            return None
        for key in prop:
            if key not in _USED_PROPERTY:
                self.problem([*path, key], "not used by hdc-toolkit (kept, not enforced)", "warning")
        custom = self.custom_properties(prop.get("customProperties") or [], [*path, "customProperties"])
        classification = custom.get("classification") or prop.get("classification") or "other"
        if classification not in CLASSIFICATIONS:
            where = [*path, "customProperties"] if "classification" in custom else [*path, "classification"]
            self.problem(where, f"classification {classification!r} is not one of {', '.join(CLASSIFICATIONS)}; treated as sensitive", "warning")
            classification = "sensitive"
        coarsening = custom.get("coarsening") or ()
        if isinstance(coarsening, str):
            coarsening = (coarsening,)
        for c in coarsening:
            if c not in COARSENINGS:
                self.problem([*path, "customProperties"], f"unknown coarsening {c!r}; expected one of {', '.join(COARSENINGS)}")
        opts = prop.get("logicalTypeOptions") or {}
        kwargs = self.type_options(opts, ltype, [*path, "logicalTypeOptions"])
        quality = self.property_quality(prop.get("quality") or [], [*path, "quality"], ltype)
        if prop.get("enum"):
            values = tuple(e.get("value") if isinstance(e, dict) else e for e in prop["enum"])
            quality.setdefault("allowed_values", values)
        refs = []
        for j, rel in enumerate(prop.get("relationships") or []):
            ref = self.reference(rel, [*path, "relationships", j])
            if ref is not None:
                refs.append(ref)
        severity = "error"
        return Column(
            name=str(name),
            logical_type=ltype,
            physical_type=prop.get("physicalType"),
            required=bool(prop.get("required")) or quality.pop("not_null", False),
            unique=bool(prop.get("unique")) or quality.pop("unique", False),
            primary_key=bool(prop.get("primaryKey")),
            classification=classification,
            description=str(prop.get("description") or ""),
            code_system=custom.get("codeSystem"),
            coarsening=tuple(coarsening),
            pseudonymisation=custom.get("pseudonymisation"),
            references=tuple(refs),
            severity=severity,
            line=_line_of(self.doc, path),
            **kwargs,
            **quality,
        )

    def custom_properties(self, items: list[Any], path: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, item in enumerate(items):
            if isinstance(item, dict) and item.get("property"):
                out[str(item["property"])] = _plain(item.get("value"))
            else:
                self.problem([*path, i], "a custom property needs 'property' and 'value'", "warning")
        return out

    def type_options(self, opts: dict[str, Any], ltype: str, path: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in opts:
            if key not in _USED_OPTIONS:
                self.problem([*path, key], "not used by hdc-toolkit (kept, not enforced)", "warning")
        lo = opts.get("minimum", opts.get("exclusiveMinimum") if not isinstance(opts.get("exclusiveMinimum"), bool) else None)
        hi = opts.get("maximum", opts.get("exclusiveMaximum") if not isinstance(opts.get("exclusiveMaximum"), bool) else None)
        if (lo is not None or hi is not None) and ltype not in ("integer", "number", "date", "timestamp"):
            self.problem(path, f"minimum/maximum do not apply to logicalType {ltype!r}")
            lo = hi = None
        for key, value in (("minimum", lo), ("maximum", hi)):
            bound = self.bound(value, ltype, opts, [*path, key if key in opts else "exclusive" + key.title()])
            if bound is not None:
                out[key] = bound
        ex_lo, ex_hi = opts.get("exclusiveMinimum"), opts.get("exclusiveMaximum")
        out["exclusive_minimum"] = ex_lo is True or ("minimum" not in opts and ex_lo is not None and not isinstance(ex_lo, bool))
        out["exclusive_maximum"] = ex_hi is True or ("maximum" not in opts and ex_hi is not None and not isinstance(ex_hi, bool))
        lo_v, hi_v = out.get("minimum"), out.get("maximum")
        if lo_v is not None and hi_v is not None:
            try:
                impossible = lo_v > hi_v or (lo_v == hi_v and (out["exclusive_minimum"] or out["exclusive_maximum"]))
            except TypeError:
                impossible = True
            if impossible:
                self.problem(path, f"impossible range: minimum {lo_v} is above maximum {hi_v}")
        for key in ("minLength", "maxLength"):
            if key in opts:
                v = opts[key]
                if ltype != "string" or not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    self.problem([*path, key], f"{key} needs a non-negative integer on a string column; got {v!r}")
                else:
                    out["min_length" if key == "minLength" else "max_length"] = v
        if out.get("min_length") is not None and out.get("max_length") is not None and out["min_length"] > out["max_length"]:
            self.problem(path, f"impossible length: minLength {out['min_length']} > maxLength {out['max_length']}")
        if "pattern" in opts:
            if ltype != "string":
                self.problem([*path, "pattern"], f"pattern applies to string columns, not {ltype!r}")
            elif self.check_pattern(opts["pattern"], [*path, "pattern"]):
                out["pattern"] = opts["pattern"]
        return out

    def bound(self, value: Any, ltype: str, opts: dict[str, Any], path: list[Any]) -> Any:
        """``value`` as a bound of ``ltype``, or None (with a problem) when it cannot be read."""
        try:
            return parse_bound(value, ltype)
        except (ValueError, TypeError) as exc:
            error = exc
        if ltype == "date" and isinstance(value, str):
            import datetime as dt

            try:
                stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                if stamp.time() != dt.time(0):
                    self.problem(path, f"a date bound with a time of day ({value!r}): only its date is used", "warning")
                return stamp.date()
        if "format" in opts and isinstance(value, str):
            self.problem(path, f"bound {value!r} is not ISO 8601 and format {opts['format']!r} is not interpreted: not enforced", "warning")
            return None
        self.problem(path, f"not a valid {ltype} bound: {error}")
        return None

    def check_pattern(self, pattern: Any, path: list[Any]) -> bool:
        if not isinstance(pattern, str):
            self.problem(path, f"expected a regular expression string, got {pattern!r}")
            return False
        message = regex_subset_problem(pattern)
        if message:
            self.problem(path, message)
            return False
        return True

    def reference(self, rel: dict[str, Any], path: list[Any]) -> Reference | None:
        rtype = rel.get("type", "foreignKey")
        if rtype != "foreignKey":
            self.problem(path, f"relationship type {rtype!r} is not enforced", "warning")
            return None
        to = rel.get("to")
        if not isinstance(to, str) or to.count(".") < 1:
            self.problem([*path, "to"], f"expected 'table.column', got {to!r} (composite keys are not enforced)")
            return None
        table, column = to.rsplit(".", 1)
        return Reference(table.split(".")[-1], column)

    # -- quality rules -------------------------------------------------------------------------------
    def threshold(self, rule: dict[str, Any], path: list[Any]) -> Threshold | None:
        ops = [k for k in OPERATORS if k in rule]
        if len(ops) != 1:
            self.problem(path, f"a quality rule needs exactly one operator ({', '.join(OPERATORS)}); found {len(ops)}")
            return None
        unit = rule.get("unit", "rows")
        if unit not in ("rows", "percent"):
            self.problem([*path, "unit"], f"unit must be rows or percent; got {unit!r}")
            return None
        return Threshold(ops[0], _plain(rule[ops[0]]), unit)

    def property_quality(self, rules: list[Any], path: list[Any], ltype: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, rule in enumerate(rules):
            rpath = [*path, i]
            metric = rule.get("metric") or rule.get("rule")
            rtype = rule.get("type", "library" if metric else "text")
            if rtype != "library":
                self.problem(rpath, f"quality rule of type {rtype!r} on a property is not enforced", "warning")
                continue
            if metric not in _V31_METRICS:
                legacy = " (an ODCS v3.0 free-form rule; v3.1+ uses 'metric')" if "metric" not in rule else ""
                self.problem(rpath, f"quality rule {metric!r}{legacy} is not enforced", "warning")
                continue
            threshold = self.threshold(rule, rpath)
            if threshold is None:
                continue
            args = rule.get("arguments") or {}
            if metric == "nullValues":
                out["not_null"] = True
                out["not_null_threshold"] = threshold
            elif metric == "duplicateValues":
                out["unique"] = True
                out["unique_threshold"] = threshold
            elif metric == "invalidValues" and "validValues" in args:
                values = args["validValues"]
                if not isinstance(values, list) or not values:
                    self.problem([*rpath, "arguments", "validValues"], "expected a non-empty list of valid values")
                    continue
                out["allowed_values"] = tuple(_plain(values))
                out["allowed_threshold"] = threshold
            elif metric == "invalidValues" and "pattern" in args:
                if self.check_pattern(args["pattern"], [*rpath, "arguments", "pattern"]):
                    out["pattern"] = args["pattern"]
                    out["pattern_threshold"] = threshold
            else:
                self.problem(rpath, f"quality metric {metric!r} with arguments {sorted(args)} is not enforced", "warning")
        return out

    def table_quality(
        self, rules: list[Any], path: list[Any], columns: set[str]
    ) -> tuple[list[PairRule], RowCountRule | None, list[CompoundUnique]]:
        pairs: list[PairRule] = []
        row_count: RowCountRule | None = None
        compound: list[CompoundUnique] = []
        for i, rule in enumerate(rules):
            rpath = [*path, i]
            metric = rule.get("metric") or rule.get("rule")
            rtype = rule.get("type", "library" if metric else "text")
            name = str(rule.get("name") or rule.get("id") or f"rule{i}")
            if rtype == "sql":
                match = _SQL_PAIR.match(str(rule.get("query") or ""))
                if not match:
                    self.problem([*rpath, "query"], "only 'SELECT COUNT(*) FROM {object} WHERE a <op> b' SQL rules are enforced; this one is not", "warning")
                    continue
                threshold = self.threshold(rule, rpath)
                missing = [c for c in (match["left"], match["right"]) if c not in columns]
                if missing:
                    self.problem([*rpath, "query"], f"the rule names unknown column(s) {', '.join(missing)}")
                    continue
                if threshold is not None:
                    severity = "warning" if rule.get("severity") in ("warning", "info") else "error"
                    pairs.append(PairRule(name, match["left"], match["op"], match["right"], str(rule.get("description") or ""), threshold, severity))
            elif rtype == "library" and metric == "rowCount":
                threshold = self.threshold(rule, rpath)
                if threshold is not None:
                    try:
                        row_count = _row_count_rule(threshold, name)
                    except (TypeError, ValueError, IndexError):
                        self.problem(rpath, f"rowCount needs a number of rows; got {threshold.op} {threshold.value!r}")
                        continue
                    if row_count is None:
                        self.problem(rpath, f"rowCount with {threshold.op} is not enforced", "warning")
            elif rtype == "library" and metric == "duplicateValues":
                args = rule.get("arguments") if isinstance(rule.get("arguments"), dict) else {}
                cols = args.get("properties") or []
                cols = cols if isinstance(cols, list) and all(isinstance(c, str) for c in cols) else [str(cols)]
                missing = [c for c in cols if c not in columns]
                threshold = self.threshold(rule, rpath)
                if not cols or missing:
                    self.problem([*rpath, "arguments"], f"duplicateValues needs arguments.properties naming existing columns; unknown: {missing or cols}")
                elif threshold is not None:
                    compound.append(CompoundUnique(name, tuple(cols), threshold))
            else:
                self.problem(rpath, f"table-level quality rule ({rtype}, {metric}) is not enforced", "warning")
        return pairs, row_count, compound


def _row_count_rule(t: Threshold, name: str) -> RowCountRule | None:
    v = t.value
    match t.op:
        case "mustBe":
            return RowCountRule(int(v), int(v), name)
        case "mustBeGreaterThan":
            return RowCountRule(int(v) + 1, None, name)
        case "mustBeGreaterOrEqualTo":
            return RowCountRule(int(v), None, name)
        case "mustBeLessThan":
            return RowCountRule(None, int(v) - 1, name)
        case "mustBeLessOrEqualTo":
            return RowCountRule(None, int(v), name)
        case "mustBeBetween":
            return RowCountRule(int(v[0]), int(v[1]), name)
    return None


#: Constructs that compile everywhere but mean different things in different dialects.
_DIALECT_TRAPS = (
    (r"\[[:=.]", "a POSIX class such as [[:digit:]]"),
    (r"(?<!\\)\{,\d", "a {,n} repetition"),
)


def regex_subset_problem(pattern: str) -> str | None:
    """Why ``pattern`` is outside the accepted regex subset, or None when it is inside.

    Accepted: compiles in Python ``re`` with ASCII semantics and in RE2 (pyarrow), which rules out
    look-around and back-references (ECMA-262 and Python have them, RE2 does not).
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # Python warns where its reading will change
            re.compile(pattern, re.ASCII)
    except (re.error, FutureWarning) as exc:
        return f"invalid regular expression {pattern!r}: {exc}"
    for token, why in _DIALECT_TRAPS:
        if re.search(token, pattern):
            return f"regular expression {pattern!r} uses {why}, which Python re, RE2 and ECMA-262 read differently"
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.nulls(1, pa.string()), pattern)  # pa.nulls: no pandas import
    except pa.ArrowInvalid as exc:
        return f"regular expression {pattern!r} is outside the portable subset (Python re, RE2 and ECMA-262 agree): {exc}"
    if "(?P" in pattern or "(?<" in pattern:
        return f"regular expression {pattern!r} uses named groups, which differ between dialects"
    return None


def iter_tables(documents: Iterable[ContractDocument]) -> Iterator[Contract]:
    for d in documents:
        yield from d.contracts


__all__ += ["ZERO", "PAIR_OPERATORS", "regex_subset_problem", "iter_tables"]
