"""The result object of the notebook API and the helpers that build its checks.

:class:`SafeTable` is what every function of :mod:`hdc_toolkit.outputs.tables` returns; the
``rule_check`` family turns raw and published rule masks into :class:`~hdc_toolkit.results.Check`
results with ACRO's verdict semantics (failed: the published table breaks the rule; warning/review:
the raw one did and was mitigated; passed).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit._io import atomic_write_bytes, atomic_write_json
from hdc_toolkit.outputs import rules
from hdc_toolkit.outputs._render import STYLE, table_html
from hdc_toolkit.outputs.mitigate import RULE_ROUNDING
from hdc_toolkit.outputs.profiles import Profile
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "AGGFUNCS",
    "COUNT_KINDS",
    "FREQUENCY",
    "HISTOGRAM",
    "KINDS",
    "MAGNITUDE",
    "REGRESSION",
    "SIDECAR_FORMAT",
    "SIDECAR_SUFFIX",
    "SURVIVAL",
    "SafeTable",
    "file_stem",
    "finish_table",
    "flag_cells",
    "review_check",
    "rule_check",
    "rule_text",
    "status_of",
]

FREQUENCY = "frequency"
MAGNITUDE = "magnitude"
REGRESSION = "regression"
SURVIVAL = "survival"
HISTOGRAM = "histogram"
KINDS: tuple[str, ...] = (FREQUENCY, MAGNITUDE, REGRESSION, SURVIVAL, HISTOGRAM)
COUNT_KINDS: frozenset[str] = frozenset({FREQUENCY, HISTOGRAM})
SIDECAR_SUFFIX = ".sdc.json"
SIDECAR_FORMAT = "hdc-sdc/1"
AGGFUNCS: tuple[str, ...] = ("sum", "mean")


# ---------------------------------------------------------------- the result object


@dataclass
class SafeTable:
    """A checked table. ``table`` is what may leave; ``raw`` never should.

    ``flags`` maps a cell's ``(row, column)`` position in ``table`` to the rules it broke (in the
    raw table, or still in the published one).
    """

    kind: str
    name: str
    table: pd.DataFrame
    run: Run
    profile: Profile
    raw: pd.DataFrame = field(repr=False)
    flags: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        return self.run.verdict

    @property
    def passed(self) -> bool:
        """No check failed (warnings mean a reviewer should look)."""
        return self.run.passed

    @property
    def status(self) -> str:
        """ACRO's words: ``pass``, ``review`` or ``fail``."""
        return status_of(self.verdict)

    def sdc(self) -> dict[str, Any]:
        """ACRO-style ``{"summary": {rule: cells}, "cells": {rule: [[row, col], ...]}}``."""
        cells: dict[str, list[list[int]]] = {}
        for (r, c), broken in sorted(self.flags.items()):
            for rule in broken:
                cells.setdefault(rule, []).append([r, c])
        summary: dict[str, Any] = {rule: len(pos) for rule, pos in cells.items()}
        summary["suppressed"] = bool(self.properties.get("mitigation"))
        return {"summary": summary, "cells": cells}

    def layout(self) -> dict[str, Any]:
        """How the CSV reads back: index columns, their names and the column dimension's name."""
        return {
            "index_cols": self.table.index.nlevels,
            "index_names": [None if n is None else str(n) for n in self.table.index.names],
            "columns_name": None if self.table.columns.name is None else str(self.table.columns.name),
            "margins": self.properties.get("margins", False),
        }

    def to_csv_bytes(self) -> bytes:
        return _csv_frame(self.table, self.kind).to_csv(index=True).encode("utf-8")

    def sidecar(self, csv_sha256: str | None = None) -> dict[str, Any]:
        """The record the airlock reads beside the CSV (no raw values in it)."""
        return {
            "format": SIDECAR_FORMAT,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "csv_sha256": csv_sha256,
            "layout": self.layout(),
            "properties": self.properties,
            "profile": {**self.profile.to_dict(), "sha256": self.profile.sha256},
            "sdc": self.sdc(),
            "run": self.run.to_dict(),
        }

    def save(self, directory: str | Path, name: str | None = None) -> Path:
        """Write ``<name>.csv`` and ``<name>.sdc.json`` (atomically) into ``directory``; returns the CSV.

        The name keeps letters, digits, ``.``, ``_`` and ``-`` (others become ``_``), as the airlock asks.
        """
        stem = file_stem(name or self.name)
        data = self.to_csv_bytes()
        csv = atomic_write_bytes(Path(directory) / f"{stem}.csv", data)
        sha = hashlib.sha256(data).hexdigest()
        atomic_write_json(Path(directory) / f"{stem}{SIDECAR_SUFFIX}", self.sidecar(sha))
        return csv

    def _repr_html_(self) -> str:
        badge = {"pass": "#2a7", "review": "#c80", "fail": "#c00"}[self.status]
        notes = "".join(
            f"<li><b>{c.verdict.value}</b> {c.kind}: {_esc(c.message)}</li>"
            for c in self.run.checks
            if c.verdict is not Verdict.PASSED
        )
        head = f"<p><b>{_esc(self.name)}</b> ({self.kind}, profile {self.profile.name}): "
        head += f'<span style="color:{badge}"><b>{self.status}</b></span></p>'
        return f"<style>{STYLE}</style>{head}{table_html(self.table, self.flags)}<ul>{notes}</ul>"


def file_stem(name: str) -> str:
    """``name`` as a file name the airlock accepts: letters, digits, ``.``, ``_`` and ``-``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return stem or "table"


def status_of(verdict: Verdict) -> str:
    """ACRO's status word for a verdict."""
    return {Verdict.PASSED: "pass", Verdict.WARNING: "review"}.get(verdict, "fail")


def _esc(text: str) -> str:
    return html.escape(text)


def _csv_frame(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind not in COUNT_KINDS and kind != SURVIVAL:
        return table
    out = table.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_float_dtype(values) and bool((values.dropna() == values.dropna().round()).all()):
            out[col] = values.astype("Int64")
    return out


# ---------------------------------------------------------------- building checks


def rule_check(name: str, rule: str, cells: int, raw: int, left: int, done: list[str], what: str) -> Check:
    if left:
        verdict, message = Verdict.FAILED, f"{left} published cell(s) {what}"
    elif raw:
        action = "; ".join(done) or "mitigated"
        verdict, message = Verdict.WARNING, f"{raw} cell(s) {what}; {action}: review the published table"
    else:
        verdict, message = Verdict.PASSED, f"no cell {what}"
    return Check(
        key=f"{name}.{rule}",
        kind=rule,
        verdict=verdict,
        table=name,
        message=message,
        element_count=cells,
        failing_count=left or raw,
        details={"raw_failing": raw, "published_failing": left, "mitigation": list(done)},
    )


def review_check(name: str, kind: str, message: str, **details: Any) -> Check:
    return Check(
        key=f"{name}.{kind}", kind=kind, verdict=Verdict.WARNING, table=name, message=message, details=details
    )


def flag_cells(flags: dict[tuple[int, int], list[str]], mask: pd.DataFrame, rule: str) -> None:
    for r, c in zip(*np.nonzero(mask.to_numpy(dtype=bool)), strict=True):
        broken = flags.setdefault((int(r), int(c)), [])
        if rule not in broken:
            broken.append(rule)


def rule_text(rule: str, profile: Profile) -> str:
    return {
        rules.RULE_THRESHOLD: f"below the minimum count {profile.threshold}",
        rules.RULE_ZERO: f"zero (zeros are disclosive in profile {profile.name})",
        rules.RULE_NK: f"dominated: the top {profile.nk_n} contributors make up at least "
        f"{(profile.nk_k or 0):.0%} of the total",
        rules.RULE_P_PERCENT: f"failing the p-percent rule: the rest are under {(profile.p_ratio or 0):.0%} "
        "of the largest contribution",
        RULE_ROUNDING: f"not rounded to base {profile.round_base}",
    }[rule]


def finish_table(
    kind: str,
    name: str,
    table: pd.DataFrame,
    raw: pd.DataFrame,
    checks: list[Check],
    flags: dict[tuple[int, int], list[str]],
    profile: Profile,
    properties: dict[str, Any],
) -> SafeTable:
    run = Run(
        name=f"sdc:{name}",
        checks=checks,
        metadata={
            "kind": kind,
            "profile": profile.name,
            "profile_version": profile.version,
            "rules_not_applied": profile.rules_not_applied(),
        },
    ).finish()
    properties = {"method": kind, **properties}
    return SafeTable(kind, name, table, run, profile, raw, flags, properties)
