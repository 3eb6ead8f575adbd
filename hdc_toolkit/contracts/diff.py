"""Breaking-change detection between two versions of a contract.

The question asked is: *can data that satisfied the old contract fail the new one?* If it can, the
change is **breaking** (verdict ``failed``): producers and stored extracts must change. Changes that
only accept more are not breaking (``passed``); changes that need a human look but break no data
(classification, coarsening, pseudonymisation, a widened type consumers must read differently) are
``warning``.

Breaking: removed table or column (a rename is a removal plus an addition), narrowed or changed type
(``number``→``integer``, ``timestamp``→``date``, ``string``→``integer``...), a column that became
required, a new required column, a tightened range or length (higher minimum, lower maximum, a bound
that became exclusive), fewer allowed values (or a new allowed-values list), a new or changed pattern
(a regex change cannot be proved to accept everything the old one did), a new unique constraint or
primary key, a new foreign key, a tighter row count, a new compound-unique or column-pair rule.

Not breaking: an added optional column, a relaxed range or length, more allowed values, a column that
became optional, a removed pattern / unique / foreign key / rule, description changes.

Warnings: classification changed (release minimisation changes), coarsening or pseudonymisation
changed, physical type or code system changed, a widened type (``integer``→``number``,
``date``→``timestamp``), thresholds changed, and breaking changes without a major version bump.

Each check is keyed ``diff.<table>.<column>.<change>`` (table-level changes:
``diff.<table>.<change>``) and its message names the old and the new value (``old → new``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hdc_toolkit.contracts.loader import load_document
from hdc_toolkit.contracts.model import Column, Contract
from hdc_toolkit.results import Check, Run, Verdict

__all__ = ["WIDENINGS", "diff_contracts", "diff_paths"]

#: Type changes under which every old value is still valid (reported as warnings, not breaking).
WIDENINGS = frozenset({("integer", "number"), ("date", "timestamp")})
#: How restricted a classification is; a higher rank means fewer values may leave the data centre.
_CLASSIFICATION_RANK = {"other": 0, "quasi_identifier": 1, "sensitive": 2, "direct_identifier": 3}
_BREAKING, _SAFE, _REVIEW = Verdict.FAILED, Verdict.PASSED, Verdict.WARNING


class _Diff:
    def __init__(self, old: Contract, new: Contract) -> None:
        self.old = old
        self.new = new
        self.table = new.name
        self.checks: list[Check] = []

    def add(self, column: str | None, change: str, verdict: Verdict, what: str, old: Any, new: Any) -> None:
        key = f"diff.{self.table}.{column}.{change}" if column else f"diff.{self.table}.{change}"
        n = 2
        while any(c.key == key for c in self.checks):  # the same change twice (e.g. two rules)
            key = f"{key.rsplit('#', 1)[0]}#{n}"
            n += 1
        kind = "breaking" if verdict is _BREAKING else ("review" if verdict is _REVIEW else "compatible")
        self.checks.append(
            Check(
                key=key,
                kind="diff",
                verdict=verdict,
                table=self.table,
                column=column,
                message=f"{what}: {_show(old)} → {_show(new)} ({kind})",
                details={"change": change, "old": _plain(old), "new": _plain(new), "breaking": verdict is _BREAKING,
                         "description": what},
            )  # fmt: skip
        )

    # -- table ------------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        old_cols = {c.name: c for c in self.old.columns}
        new_cols = {c.name: c for c in self.new.columns}
        removed = [n for n in old_cols if n not in new_cols]
        added = [n for n in new_cols if n not in old_cols]
        for name in removed:
            c = old_cols[name]
            twins = [a for a in added if new_cols[a].logical_type == c.logical_type and new_cols[a].classification == c.classification]
            hint = f" (possibly renamed to {twins[0]!r}: a rename breaks every reader of {name!r})" if len(twins) == 1 else ""
            self.add(name, "removed", _BREAKING, f"column {name!r} removed{hint}", f"column {name} ({c.logical_type})", "no column")
        for name in added:
            c = new_cols[name]
            if c.required:
                self.add(name, "added_required", _BREAKING, f"new required column {name!r}: old data has no value for it",
                         "no column", f"required column {name} ({c.logical_type})")  # fmt: skip
            else:
                self.add(name, "added", _SAFE, f"new optional column {name!r}", "no column", f"optional column {name} ({c.logical_type})")
        for name in old_cols:
            if name in new_cols:
                self.column(old_cols[name], new_cols[name])
        self.row_count()
        self.rules()
        if self.old.description != self.new.description:
            self.add(None, "description_changed", _SAFE, "table description changed", self.old.description, self.new.description)
        breaking = [c for c in self.checks if c.verdict is _BREAKING]
        if breaking and not _major_bumped(self.old.version, self.new.version):
            self.add(None, "version_not_major", _REVIEW,
                     f"{len(breaking)} breaking change(s) without a new major version", self.old.version, self.new.version)  # fmt: skip
        if not self.checks:
            self.add(None, "unchanged", _SAFE, "no change", f"{self.old.name} {self.old.version}", f"{self.new.name} {self.new.version}")
        return self.checks

    def row_count(self) -> None:
        o, n = self.old.row_count, self.new.row_count
        lo_old, lo_new = (o.minimum if o else None), (n.minimum if n else None)
        hi_old, hi_new = (o.maximum if o else None), (n.maximum if n else None)
        self.bound(None, "row_count_min", lo_old, lo_new, False, False, lower=True, what="minimum row count")
        self.bound(None, "row_count_max", hi_old, hi_new, False, False, lower=False, what="maximum row count")

    def rules(self) -> None:
        old_pairs = {r.name: r for r in self.old.pair_rules}
        new_pairs = {r.name: r for r in self.new.pair_rules}
        for name, rule in new_pairs.items():
            text = f"{rule.left} {rule.op} {rule.right}"
            if name not in old_pairs:
                self.add(None, f"rule.{name}.added", _BREAKING, f"new rule {name!r} (rows where {text} fail)", "no rule", text)
            else:
                before = old_pairs[name]
                old_text = f"{before.left} {before.op} {before.right}"
                if old_text != text:
                    self.add(None, f"rule.{name}.changed", _BREAKING, f"rule {name!r} changed", old_text, text)
                elif before.threshold != rule.threshold:
                    self.add(None, f"rule.{name}.threshold_changed", _REVIEW, f"rule {name!r} threshold changed",
                             before.threshold.describe(), rule.threshold.describe())  # fmt: skip
        for name, rule in old_pairs.items():
            if name not in new_pairs:
                self.add(None, f"rule.{name}.removed", _SAFE, f"rule {name!r} removed", f"{rule.left} {rule.op} {rule.right}", "no rule")
        old_cu = {tuple(sorted(u.columns)) for u in self.old.compound_unique}
        new_cu = {tuple(sorted(u.columns)) for u in self.new.compound_unique}
        for cols in sorted(new_cu - old_cu):
            self.add(None, f"unique.{'+'.join(cols)}.added", _BREAKING, f"({', '.join(cols)}) must now be unique", "not unique", "unique")
        for cols in sorted(old_cu - new_cu):
            self.add(None, f"unique.{'+'.join(cols)}.removed", _SAFE, f"({', '.join(cols)}) no longer unique", "unique", "not unique")

    # -- columns ----------------------------------------------------------------------------------
    def column(self, o: Column, n: Column) -> None:
        c = n.name
        self.logical_type(o, n)
        if o.physical_type != n.physical_type:
            self.add(c, "physical_type_changed", _REVIEW, "physical type changed", o.physical_type, n.physical_type)
        if not o.required and n.required:
            self.add(c, "became_required", _BREAKING, "column became required: old rows with no value fail", "optional", "required")
        elif o.required and not n.required:
            self.add(c, "became_optional", _SAFE, "column became optional", "required", "optional")
        if o.required and n.required and o.not_null_threshold != n.not_null_threshold:
            self.threshold(c, "not_null_threshold_changed", o.not_null_threshold, n.not_null_threshold)
        old_unique, new_unique = o.unique or o.primary_key, n.unique or n.primary_key
        if not old_unique and new_unique:
            self.add(c, "became_unique", _BREAKING, "values must now be unique" + (" (new primary key)" if n.primary_key else ""),
                     "duplicates allowed", "unique")  # fmt: skip
        elif old_unique and not new_unique:
            self.add(c, "no_longer_unique", _SAFE, "values no longer need to be unique", "unique", "duplicates allowed")
        elif o.primary_key != n.primary_key:
            self.add(c, "primary_key_changed", _REVIEW, "primary key changed", o.primary_key, n.primary_key)
        self.bound(c, "min", o.minimum, n.minimum, o.exclusive_minimum, n.exclusive_minimum, lower=True, what="minimum")
        self.bound(c, "max", o.maximum, n.maximum, o.exclusive_maximum, n.exclusive_maximum, lower=False, what="maximum")
        self.bound(c, "min_length", o.min_length, n.min_length, False, False, lower=True, what="minimum length")
        self.bound(c, "max_length", o.max_length, n.max_length, False, False, lower=False, what="maximum length")
        self.allowed(o, n)
        self.pattern(o, n)
        self.references(o, n)
        self.health(o, n)
        if o.description != n.description:
            self.add(c, "description_changed", _SAFE, "description changed", o.description, n.description)

    def logical_type(self, o: Column, n: Column) -> None:
        if o.logical_type == n.logical_type:
            return
        pair = (o.logical_type, n.logical_type)
        if pair in WIDENINGS:
            self.add(n.name, "type_widened", _REVIEW, "type widened: old values still fit, readers see a new type", *pair)
        elif (n.logical_type, o.logical_type) in WIDENINGS or o.logical_type == "string":
            self.add(n.name, "type_narrowed", _BREAKING, "type narrowed: old values may not fit", *pair)
        else:
            self.add(n.name, "type_changed", _BREAKING, "type changed: old values do not fit", *pair)

    def bound(self, column: str | None, name: str, old: Any, new: Any, old_excl: bool, new_excl: bool, *, lower: bool, what: str) -> None:
        """A lower (``lower``) or upper bound: tightened is breaking, relaxed is not."""
        if old == new and old_excl == new_excl:
            return
        old_text = _bound_text(old, old_excl, lower)
        new_text = _bound_text(new, new_excl, lower)
        if new is None:
            self.add(column, f"{name}_relaxed", _SAFE, f"{what} removed", old_text, new_text)
            return
        if old is None:
            self.add(column, f"{name}_tightened", _BREAKING, f"new {what}: old values beyond it fail", old_text, new_text)
            return
        try:
            moved_in = new > old if lower else new < old
            moved_out = new < old if lower else new > old
        except TypeError:
            self.add(column, f"{name}_changed", _BREAKING, f"{what} changed to an incomparable value", old_text, new_text)
            return
        if moved_in or (new == old and new_excl and not old_excl):
            self.add(column, f"{name}_tightened", _BREAKING, f"{what} tightened: old values beyond it fail", old_text, new_text)
        elif moved_out or (new == old and old_excl and not new_excl):
            self.add(column, f"{name}_relaxed", _SAFE, f"{what} relaxed", old_text, new_text)

    def allowed(self, o: Column, n: Column) -> None:
        c = n.name
        if o.allowed_values == n.allowed_values:
            if o.allowed_values is not None and o.allowed_threshold != n.allowed_threshold:
                self.threshold(c, "allowed_values_threshold_changed", o.allowed_threshold, n.allowed_threshold)
            return
        if n.allowed_values is None:
            self.add(c, "allowed_values_removed", _SAFE, "allowed-values list removed", list(o.allowed_values or ()), "any value")
            return
        if o.allowed_values is None:
            self.add(c, "allowed_values_added", _BREAKING, "new allowed-values list: other values now fail", "any value", list(n.allowed_values))
            return
        gone = [v for v in o.allowed_values if v not in n.allowed_values]
        extra = [v for v in n.allowed_values if v not in o.allowed_values]
        if gone:
            what = f"allowed values shrunk: {_show(gone)} no longer allowed" + (f" ({_show(extra)} added)" if extra else "")
            self.add(c, "allowed_values_shrunk", _BREAKING, what, list(o.allowed_values), list(n.allowed_values))
        elif extra:
            self.add(c, "allowed_values_extended", _SAFE, f"allowed values extended with {_show(extra)}",
                     list(o.allowed_values), list(n.allowed_values))  # fmt: skip
        else:
            self.add(c, "allowed_values_reordered", _SAFE, "allowed values reordered", list(o.allowed_values), list(n.allowed_values))

    def pattern(self, o: Column, n: Column) -> None:
        c = n.name
        if o.pattern == n.pattern:
            if o.pattern is not None and o.pattern_threshold != n.pattern_threshold:
                self.threshold(c, "pattern_threshold_changed", o.pattern_threshold, n.pattern_threshold)
            return
        if n.pattern is None:
            self.add(c, "pattern_removed", _SAFE, "pattern removed", o.pattern, None)
        elif o.pattern is None:
            self.add(c, "pattern_added", _BREAKING, "new pattern: values that do not match now fail", None, n.pattern)
        else:
            self.add(c, "pattern_changed", _BREAKING, "pattern changed (cannot prove it accepts every old value)", o.pattern, n.pattern)

    def references(self, o: Column, n: Column) -> None:
        old_refs, new_refs = set(map(str, o.references)), set(map(str, n.references))
        for ref in sorted(new_refs - old_refs):
            self.add(n.name, "foreign_key_added", _BREAKING, f"new foreign key to {ref}: values absent there now fail", "no foreign key", ref)
        for ref in sorted(old_refs - new_refs):
            self.add(n.name, "foreign_key_removed", _SAFE, f"foreign key to {ref} removed", ref, "no foreign key")

    def health(self, o: Column, n: Column) -> None:
        c = n.name
        if o.classification != n.classification:
            up = _CLASSIFICATION_RANK.get(n.classification, 3) > _CLASSIFICATION_RANK.get(o.classification, 3)
            what = ("classification more restricted: release minimisation changes (values masked, coarsened or dropped)" if up
                    else "classification less restricted: values may now appear in reports and releases; review")  # fmt: skip
            self.add(c, "classification_restricted" if up else "classification_relaxed", _REVIEW, what, o.classification, n.classification)
        if set(o.coarsening) != set(n.coarsening):
            gone = sorted(set(o.coarsening) - set(n.coarsening))
            what = "allowed coarsening changed" + (f": releases using {', '.join(gone)} must change" if gone else "")
            self.add(c, "coarsening_changed", _REVIEW, what, list(o.coarsening), list(n.coarsening))
        if o.pseudonymisation != n.pseudonymisation:
            self.add(c, "pseudonymisation_changed", _REVIEW, "pseudonymisation changed", o.pseudonymisation, n.pseudonymisation)
        if o.code_system != n.code_system:
            self.add(c, "code_system_changed", _REVIEW, "code system changed", o.code_system, n.code_system)

    def threshold(self, column: str, change: str, old: Any, new: Any) -> None:
        self.add(column, change, _REVIEW, "threshold changed", old.describe(), new.describe())


def diff_contracts(old: Contract, new: Contract) -> Run:
    """Classify every change from ``old`` to ``new`` (one table) as breaking or not."""
    run = Run(name="contract diff", metadata=_metadata(old, new))
    run.checks.extend(_Diff(old, new).run())
    run.metadata["breaking"] = sum(1 for c in run.checks if c.verdict is _BREAKING)
    return run.finish()


def diff_paths(old_path: str | Path, new_path: str | Path) -> Run:
    """Diff two contract files table by table (a removed table is breaking, an added one is not).

    Both files must load without errors (:class:`~hdc_toolkit.exceptions.ContractError` otherwise).
    """
    old_doc = load_document(old_path)
    new_doc = load_document(new_path)
    old_tables = {c.name: c for c in old_doc.contracts}
    new_tables = {c.name: c for c in new_doc.contracts}
    run = Run(
        name="contract diff",
        metadata={"old_path": str(old_path), "new_path": str(new_path), "contract_id": new_doc.contract_id,
                  "old_version": old_doc.version, "new_version": new_doc.version, "tables": sorted(new_tables)},
    )  # fmt: skip
    for name, contract in old_tables.items():
        if name not in new_tables:
            run.checks.append(
                Check(key=f"diff.{name}.table_removed", kind="diff", verdict=_BREAKING, table=name,
                      message=f"table {name!r} removed: table {name} ({len(contract.columns)} columns) → no table (breaking)",
                      details={"change": "table_removed", "old": name, "new": None, "breaking": True,
                               "description": f"table {name!r} removed"})  # fmt: skip
            )
    for name, contract in new_tables.items():
        if name not in old_tables:
            run.checks.append(
                Check(key=f"diff.{name}.table_added", kind="diff", verdict=_SAFE, table=name,
                      message=f"table {name!r} added: no table → table {name} ({len(contract.columns)} columns) (compatible)",
                      details={"change": "table_added", "old": None, "new": name, "breaking": False,
                               "description": f"table {name!r} added"})  # fmt: skip
            )
        else:
            run.checks.extend(_Diff(old_tables[name], contract).run())
    run.metadata["breaking"] = sum(1 for c in run.checks if c.verdict is _BREAKING)
    return run.finish()


def _metadata(old: Contract, new: Contract) -> dict[str, Any]:
    return {
        "contract_id": new.contract_id or old.contract_id,
        "table": new.name,
        "old_version": old.version,
        "new_version": new.version,
        "old_source": old.source,
        "new_source": new.source,
    }


def _major_bumped(old: str, new: str) -> bool:
    """True when ``new`` has a higher major version than ``old`` (or either is not semantic)."""
    mo, mn = re.match(r"^v?(\d+)\.", old or ""), re.match(r"^v?(\d+)\.", new or "")
    if not mo or not mn:
        return True
    return int(mn[1]) > int(mo[1])


def _bound_text(value: Any, exclusive: bool, lower: bool) -> str:
    if value is None:
        return "no bound"
    op = (">" if exclusive else ">=") if lower else ("<" if exclusive else "<=")
    return f"{op} {value}"


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        items = ", ".join(repr(v) for v in list(value)[:12])
        return f"[{items}{', ...' if len(value) > 12 else ''}]"
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
