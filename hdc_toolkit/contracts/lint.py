"""Lint ODCS contract files: every loader problem plus checks that need several tables at once.

:func:`lint_paths` returns a :class:`~hdc_toolkit.results.Run` with one :class:`~hdc_toolkit.results.Check`
per problem (verdict ``failed`` for errors, ``warning`` for warnings), keyed ``lint.<file>.<n>``, whose
message reads ``file:line: field: message``. A file without any problem gets one ``passed`` check,
``lint.<file>``. Lint never raises on a bad file: malformed YAML, an unknown field, a wrong type, a v2
``apiVersion``, an empty file or a directory each become a problem naming the file and, where there is
one, the line.

Checks beyond the loader's own (the loader already reports schema errors, unknown logical types, bounds
that cannot be read, impossible ranges, unknown coarsenings and patterns outside the portable regex
subset):

* ``duplicate_table``: two schema objects (in the same or different files) with one table name;
* ``fk_missing_table`` / ``fk_missing_column``: a relationship to a table or column that does not exist
  among the given files or, for tables not among them, the sibling contract files in the same directory;
* ``fk_target_not_unique`` (warning): the referenced column is neither unique nor a primary key;
* ``fk_type_mismatch``: child and parent columns have different logical types (``integer`` vs ``number``
  is a warning), or physical types that are both known Arrow types and differ (warning);
* ``physical_type_mismatch`` (warning): a known Arrow physical type outside the logical type's family;
* ``impossible_range``: allowed values none of which lie in the declared range or length, a fractional
  bound on an integer column, a row count whose minimum is above its maximum, a percent threshold
  above 100;
* ``pair_type_mismatch``: a column-pair rule comparing columns of different type families;
* ``coarsening_not_applicable``: a granularity that makes no sense for the column's type (``county`` on a
  date, ``month`` on a string, ...);
* ``no_pseudonymisation`` (warning): a ``direct_identifier`` column without ``pseudonymisation``;
* ``unknown_pseudonymisation``: a ``pseudonymisation`` other than ``keyed``;
* ``restricted_examples`` (warning): ``examples`` written out for a direct identifier or sensitive column;
* ``no_classification`` (warning): a column without ``classification`` (read as ``other``: its values may
  appear in reports).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdc_toolkit.contracts.loader import (
    ContractDocument,
    Problem,
    _dotted,
    _line_of,
    load_document,
    read_document,
)
from hdc_toolkit.contracts.model import RESTRICTED_CLASSIFICATIONS, Column, Contract
from hdc_toolkit.exceptions import ContractError
from hdc_toolkit.results import Check, Run, Verdict

__all__ = ["COARSENING_TYPES", "lint_paths"]

#: The logical types each coarsening applies to (``as_is`` applies to every type).
COARSENING_TYPES: dict[str, frozenset[str]] = {
    "day": frozenset({"date", "timestamp"}),
    "month": frozenset({"date", "timestamp"}),
    "year": frozenset({"date", "timestamp"}),
    "county": frozenset({"string", "integer"}),
    "5y_band": frozenset({"integer", "number"}),
    "10y_band": frozenset({"integer", "number"}),
    "3char": frozenset({"string"}),
}
PSEUDONYMISATIONS = ("keyed",)

#: Arrow physical type names by logical-type family; physical types not listed here are not judged.
_ARROW_FAMILIES: dict[str, tuple[str, ...]] = {
    "integer": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    "number": ("float16", "float32", "float64", "halffloat", "float", "double", "decimal128", "decimal256",
               "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
    "string": ("string", "large_string", "utf8", "large_utf8", "dictionary"),
    "boolean": ("bool", "boolean"),
    "date": ("date32", "date64"),
    "timestamp": ("timestamp",),
    "time": ("time32", "time64"),
}  # fmt: skip
_ARROW_NAMES = frozenset(n for names in _ARROW_FAMILIES.values() for n in names) | {"binary", "large_binary"}
_COMPARABLE = {"integer": "numeric", "number": "numeric", "date": "temporal", "timestamp": "temporal"}


@dataclass
class _Issue:
    problem: Problem
    rule: str
    table: str | None = None
    column: str | None = None


def lint_paths(paths: Iterable[str | Path]) -> Run:
    """Lint ``paths`` (contract files) and the relationships between their tables.

    Relationships to tables not among ``paths`` are resolved against the other ``*.yaml``/``*.yml``
    files in the referring file's directory (only their tables are read; their own problems are not
    reported). Never raises for a bad file; the run fails when any error was found.
    """
    files = [str(p) for p in paths]
    run = Run(name="contract lint", metadata={"files": files})
    documents: dict[str, ContractDocument] = {}
    raws: dict[str, Any] = {}
    issues: dict[str, list[_Issue]] = {f: [] for f in files}
    files = list(dict.fromkeys(files))  # the same file named twice is linted once
    run.metadata["files"] = files
    for file in files:
        document, problems = _load(file)
        if document is not None:
            documents[file] = document
            raws[file] = _raw(file)
        for problem in problems:
            table, column = _names_at(raws.get(file), problem.field)
            issues[file].append(_Issue(problem, "load", table, column))
    _Semantics(documents, raws, issues).run()
    for file in files:
        found = issues[file]
        if not found:
            run.checks.append(Check(key=f"lint.{file}", kind="lint", verdict=Verdict.PASSED, message=f"{file}: no problems",
                                    details={"file": file}))  # fmt: skip
            continue
        for n, issue in enumerate(found, start=1):
            p = issue.problem
            run.checks.append(
                Check(
                    key=f"lint.{file}.{n}",
                    kind="lint",
                    verdict=Verdict.FAILED if p.severity == "error" else Verdict.WARNING,
                    table=issue.table,
                    column=issue.column,
                    message=_format(p),
                    details={"file": p.file, "line": p.line, "field": p.field, "severity": p.severity,
                             "rule": issue.rule, "description": p.message},
                )  # fmt: skip
            )
    counts = {"errors": 0, "warnings": 0}
    for found in issues.values():
        for issue in found:
            counts["errors" if issue.problem.severity == "error" else "warnings"] += 1
    run.metadata.update(counts)
    run.metadata["tables"] = sorted({c.name for d in documents.values() for c in d.contracts})
    return run.finish()


def _format(p: Problem) -> str:
    loc = f"{p.file}:{p.line}" if p.line else p.file
    return f"{loc}: {p.field}: {p.message}" if p.field else f"{loc}: {p.message}"


def _load(file: str) -> tuple[ContractDocument | None, list[Problem]]:
    """The document (None when unreadable) and its problems; a ContractError becomes one problem."""
    try:
        document = load_document(file, strict=False)
    except ContractError as exc:
        return None, [_problem_from_error(file, exc)]
    return document, list(document.problems)


def _problem_from_error(file: str, exc: ContractError) -> Problem:
    line = None
    location = exc.location or ""
    match = re.match(r"^(?P<file>.*):(?P<line>\d+)$", location)
    if match and match["file"] == file:
        line = int(match["line"])
    return Problem(file, line, "", exc.message)


def _raw(file: str) -> Any:
    """The file's YAML with line numbers (None when unreadable)."""
    try:
        return read_document(file)
    except ContractError:
        return None


def _names_at(raw: Any, field: str) -> tuple[str | None, str | None]:
    """The table and column named by a dotted field such as ``schema[0].properties[2].logicalType``."""
    if raw is None:
        return None, None
    match = re.match(r"^schema\[(\d+)\](?:\.properties\[(\d+)\])?", field or "")
    if not match:
        return None, None
    try:
        obj = raw["schema"][int(match[1])]
        table = str(obj.get("name")) if obj.get("name") else None
        column = None
        if match[2] is not None:
            prop = obj["properties"][int(match[2])]
            column = str(prop.get("name")) if prop.get("name") else None
        return table, column
    except (KeyError, IndexError, TypeError, AttributeError):
        return None, None


class _Semantics:
    """Checks across tables and files; adds issues to the file each one is about."""

    def __init__(self, documents: dict[str, ContractDocument], raws: dict[str, Any], issues: dict[str, list[_Issue]]) -> None:
        self.documents = documents
        self.issues = issues
        self.raw = raws
        self.tables: dict[str, tuple[str, Contract]] = {}
        self.siblings: dict[str, dict[str, Contract]] = {}

    # -- helpers ---------------------------------------------------------------------------------
    def add(self, file: str, path: list[Any], message: str, rule: str, severity: str = "error",
            table: str | None = None, column: str | None = None) -> None:  # fmt: skip
        raw = self.raw.get(file)
        line = _line_of(raw, path) if raw is not None else None
        self.issues[file].append(_Issue(Problem(file, line, _dotted(path), message, severity), rule, table, column))

    def locate(self, file: str, table: str, column: str | None = None) -> tuple[list[Any], dict[str, Any]]:
        """The document path and raw mapping of a table (or of one of its columns), found by name."""
        raw = self.raw.get(file)
        objects = raw.get("schema") if isinstance(raw, dict) else None
        for i, obj in enumerate(objects if isinstance(objects, list) else []):
            if isinstance(obj, dict) and str(obj.get("name")) == table:
                if column is None:
                    return ["schema", i], obj
                props = obj.get("properties")
                for j, prop in enumerate(props if isinstance(props, list) else []):
                    if isinstance(prop, dict) and str(prop.get("name")) == column:
                        return ["schema", i, "properties", j], prop
                return ["schema", i], {}
        return [], {}

    def path_of(self, file: str, table: str, column: str | None = None, *rest: Any) -> list[Any]:
        """The document path of a table (and column, and a field below it), by name."""
        path, node = self.locate(file, table, column)
        return [*path, *rest] if node else path

    # -- the checks --------------------------------------------------------------------------------
    def run(self) -> None:
        for file, document in self.documents.items():
            for contract in document.contracts:
                if contract.name in self.tables:
                    other = self.tables[contract.name][0]
                    self.add(file, self.path_of(file, contract.name, None, "name"),
                             f"table {contract.name!r} is defined twice (also in {other})", "duplicate_table",
                             table=contract.name)  # fmt: skip
                    continue
                self.tables[contract.name] = (file, contract)
        for file, document in self.documents.items():
            seen: set[str] = set()
            for contract in document.contracts:
                if contract.name in seen:
                    continue
                seen.add(contract.name)
                self.table(file, contract)
                for column in contract.columns:
                    self.column(file, contract, column)

    def table(self, file: str, contract: Contract) -> None:
        t = contract.name
        rc = contract.row_count
        if rc is not None and rc.minimum is not None and rc.maximum is not None and rc.minimum > rc.maximum:
            self.add(file, self.path_of(file, t, None, "quality"),
                     f"impossible row count: at least {rc.minimum} and at most {rc.maximum} rows", "impossible_range", table=t)  # fmt: skip
        for rule in contract.pair_rules:
            if not (contract.has_column(rule.left) and contract.has_column(rule.right)):
                continue
            left, right = contract.column(rule.left), contract.column(rule.right)
            fl, fr = _COMPARABLE.get(left.logical_type, left.logical_type), _COMPARABLE.get(right.logical_type, right.logical_type)
            if fl != fr:
                self.add(file, self.path_of(file, t, None, "quality"),
                         f"rule {rule.name!r} compares {rule.left} ({left.logical_type}) with {rule.right} ({right.logical_type}): "
                         "types that cannot be compared", "pair_type_mismatch", table=t)  # fmt: skip
        for threshold_owner, threshold in [(c.name, c.not_null_threshold) for c in contract.columns] + [
            (rule.name, rule.threshold) for rule in contract.pair_rules
        ]:
            if threshold.unit == "percent" and _numbers(threshold.value) and max(_numbers(threshold.value)) > 100:
                self.add(file, self.path_of(file, t), f"{threshold_owner}: threshold {threshold.describe()} is above 100 percent",
                         "impossible_range", "warning", table=t)  # fmt: skip

    def column(self, file: str, contract: Contract, col: Column) -> None:
        t, c = contract.name, col.name
        where, raw = self.locate(file, t, c)
        customs = {str(i.get("property")): i for i in raw.get("customProperties") or [] if isinstance(i, dict)}
        custom_path = [*where, "customProperties"]
        # classification and pseudonymisation
        if "classification" not in customs and "classification" not in raw:
            self.add(file, where, "no classification: read as 'other', so its values may appear in reports and logs",
                     "no_classification", "warning", t, c)  # fmt: skip
        if col.is_direct_identifier and not col.pseudonymisation:
            self.add(file, custom_path if customs else where,
                     "a direct_identifier column without pseudonymisation (e.g. 'keyed'): releases cannot replace it", "no_pseudonymisation",
                     "warning", t, c)  # fmt: skip
        if col.pseudonymisation is not None and col.pseudonymisation not in PSEUDONYMISATIONS:
            self.add(file, custom_path, f"unknown pseudonymisation {col.pseudonymisation!r}; expected one of {', '.join(PSEUDONYMISATIONS)}",
                     "unknown_pseudonymisation", "error", t, c)  # fmt: skip
        if col.classification in RESTRICTED_CLASSIFICATIONS and raw.get("examples"):
            self.add(file, [*where, "examples"], f"examples written out for a {col.classification} column: remove them",
                     "restricted_examples", "warning", t, c)  # fmt: skip
        # coarsening
        for granularity in col.coarsening:
            allowed = COARSENING_TYPES.get(granularity)
            if allowed is not None and col.logical_type not in allowed:
                self.add(file, custom_path,
                         f"coarsening {granularity!r} does not apply to a {col.logical_type} column (it applies to {', '.join(sorted(allowed))})",
                         "coarsening_not_applicable", "error", t, c)  # fmt: skip
        # physical type
        family = _arrow_family(col.physical_type)
        if family is not None and family not in _ARROW_FAMILIES.get(col.logical_type, (family,)):
            # physicalType is free text in ODCS (SQL names are common): only Arrow names are judged.
            self.add(file, [*where, "physicalType"],
                     f"physicalType {col.physical_type!r} (Arrow) does not fit logicalType {col.logical_type!r}",
                     "physical_type_mismatch", "warning", t, c)  # fmt: skip
        # ranges and allowed values
        opts = [*where, "logicalTypeOptions"]
        if col.logical_type == "integer":
            for name, bound in (("minimum", col.minimum), ("maximum", col.maximum)):
                if isinstance(bound, float) and not bound.is_integer():
                    self.add(file, [*opts, name], f"{name} {bound} is not a whole number on an integer column", "impossible_range", "warning", t, c)
        if col.allowed_values:
            outside = [v for v in col.allowed_values if not _in_range(v, col)]
            if outside and len(outside) == len(col.allowed_values):
                self.add(file, where, f"no allowed value satisfies the column's range or length: {_short(outside)}",
                         "impossible_range", "error", t, c)  # fmt: skip
            elif outside:
                self.add(file, where, f"allowed values outside the column's range or length can never pass: {_short(outside)}",
                         "impossible_range", "warning", t, c)  # fmt: skip
        # relationships
        for k, ref in enumerate(col.references):
            self.reference(file, contract, col, ref.table, ref.column, [*where, "relationships", k, "to"])

    def reference(self, file: str, contract: Contract, col: Column, table: str, column: str, path: list[Any]) -> None:
        t, c = contract.name, col.name
        parent = self.find_table(file, table)
        if parent is None:
            directory = Path(file).parent
            self.add(file, path, f"relationship to table {table!r}, which is neither among the linted files nor in {directory}/",
                     "fk_missing_table", "error", t, c)  # fmt: skip
            return
        if not parent.has_column(column):
            self.add(file, path, f"relationship to {table}.{column}, but table {table!r} has no column {column!r} "
                     f"(it has {', '.join(parent.column_names)})", "fk_missing_column", "error", t, c)  # fmt: skip
            return
        target = parent.column(column)
        if not (target.unique or target.primary_key):
            self.add(file, path, f"relationship target {table}.{column} is neither unique nor a primary key",
                     "fk_target_not_unique", "warning", t, c)  # fmt: skip
        if target.logical_type != col.logical_type:
            numeric = {target.logical_type, col.logical_type} == {"integer", "number"}
            self.add(file, path, f"type mismatch: {t}.{c} is {col.logical_type} but {table}.{column} is {target.logical_type}",
                     "fk_type_mismatch", "warning" if numeric else "error", t, c)  # fmt: skip
        elif (
            _arrow_family(col.physical_type) is not None
            and _arrow_family(target.physical_type) is not None
            and col.physical_type != target.physical_type
        ):
            self.add(file, path, f"physical type mismatch: {t}.{c} is {col.physical_type} but {table}.{column} is {target.physical_type}",
                     "fk_type_mismatch", "warning", t, c)  # fmt: skip

    def find_table(self, file: str, table: str) -> Contract | None:
        if table in self.tables:
            return self.tables[table][1]
        directory = str(Path(file).parent)
        if directory not in self.siblings:
            found: dict[str, Contract] = {}
            linted = {str(Path(f).resolve()) for f in self.documents}
            d = Path(directory)
            for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
                if str(path.resolve()) in linted:
                    continue
                try:
                    document = load_document(path, strict=False)
                except ContractError:
                    continue
                for contract in document.contracts:
                    found.setdefault(contract.name, contract)
            self.siblings[directory] = found
        return self.siblings[directory].get(table)


def _arrow_family(physical: str | None) -> str | None:
    """The Arrow type name at the start of ``physical`` (``timestamp[ms]`` → ``timestamp``), if known."""
    if not physical:
        return None
    name = re.split(r"[\[(<]", str(physical).strip(), maxsplit=1)[0]
    return name if name in _ARROW_NAMES else None


def _numbers(value: Any) -> list[float]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _in_range(value: Any, col: Column) -> bool:
    """Whether an allowed value can pass the column's range and length checks (unknown: True)."""
    from hdc_toolkit.contracts.model import parse_bound

    if value is None:
        return True
    try:
        v = parse_bound(value, col.logical_type) if col.logical_type in ("date", "timestamp") else value
        if col.minimum is not None and (v < col.minimum or (col.exclusive_minimum and v == col.minimum)):
            return False
        if col.maximum is not None and (v > col.maximum or (col.exclusive_maximum and v == col.maximum)):
            return False
    except (TypeError, ValueError):
        return True
    if isinstance(value, str):
        if col.min_length is not None and len(value) < col.min_length:
            return False
        if col.max_length is not None and len(value) > col.max_length:
            return False
    return True


def _short(values: list[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
