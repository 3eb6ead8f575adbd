"""The checks an output request runs on its files, and the ACRO-style results they produce.

For every file: the file rules (:mod:`hdc_toolkit.outputs.files`). For every CSV/TSV table within the
size limit, in addition:

* the SDC record written beside it by the notebook API (``<name>.sdc.json``) is read when present.
  Its checks are **not trusted blindly**: the record was written inside the sandbox, so whatever
  can be verified from the published file itself is checked again here (counts below the threshold,
  disclosive zeros, unrounded counts, the file's sha256). Checks that need the raw data (N-K,
  p-percent, residual degrees of freedom) are carried over and marked ``source: notebook``;
* a table without a record is a custom output: it is reviewed, and its whole numbers are re-checked
  as if they were counts;
* count tables are compared with the project's released tables and with the other tables of the
  request (:mod:`hdc_toolkit.outputs.differencing`).

Every other file is reviewed by hand (no automatic check reads images or text).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hdc_toolkit.outputs import differencing, files, rules
from hdc_toolkit.outputs._safetable import COUNT_KINDS, SIDECAR_FORMAT, SIDECAR_SUFFIX, SURVIVAL, status_of
from hdc_toolkit.outputs.mitigate import RULE_ROUNDING, count_rule_masks
from hdc_toolkit.outputs.profiles import Profile
from hdc_toolkit.results import Check, Run, Verdict

__all__ = ["CheckedFile", "check_outputs", "read_table", "sidecar_path"]

SURVIVAL_COUNTS: tuple[str, ...] = ("at_risk", "events", "censored")
RECHECKED: frozenset[str] = frozenset({rules.RULE_THRESHOLD, rules.RULE_ZERO, RULE_ROUNDING})


@dataclass
class CheckedFile:
    """One requested file after checking."""

    name: str
    facts: files.FileFacts
    kind: str
    checks: list[Check]
    flags: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    layout: dict[str, Any] | None = None
    sidecar: dict[str, Any] | None = None
    ledger: differencing.LedgerTable | None = None

    @property
    def verdict(self) -> Verdict:
        return Verdict.worst([c.verdict for c in self.checks])

    @property
    def blocking(self) -> list[Check]:
        return [c for c in self.checks if c.details.get("blocking") and c.verdict is Verdict.FAILED]

    def result(self) -> dict[str, Any]:
        """ACRO ``results.json`` style entry for this output."""
        cells: dict[str, list[list[int]]] = {}
        for (r, c), broken in sorted(self.flags.items()):
            for rule in broken:
                cells.setdefault(rule, []).append([r, c])
        summary = {rule: len(pos) for rule, pos in cells.items()}
        problems = [f"{c.kind}: {c.message}" for c in self.checks if c.verdict is not Verdict.PASSED]
        return {
            "uid": self.name,
            "status": status_of(self.verdict),
            "type": "table" if self.layout is not None else "custom",
            "properties": {"method": self.kind, **((self.sidecar or {}).get("properties") or {})},
            "files": [
                {
                    "name": self.name,
                    "sha256": self.facts.sha256,
                    "size": self.facts.size,
                    "sdc": {"summary": summary, "cells": cells},
                }
            ],
            "layout": self.layout,
            "summary": "; ".join([status_of(self.verdict), *problems]),
            "checks": [c.to_dict() for c in self.checks],
        }


def sidecar_path(path: Path) -> Path:
    """Where the notebook API writes the SDC record of ``path``."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def read_table(path: Path, layout: dict[str, Any] | None) -> pd.DataFrame:
    """A CSV/TSV as a frame with string labels and numeric cells (non-numbers become missing).

    Without a layout, the leading columns that are not all numbers are taken as the row labels.
    """
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    text = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    if layout is not None:
        k = int(layout.get("index_cols", 1))
    else:
        k = 0
        for column in text.columns:
            if text[column].eq("").all() or pd.to_numeric(text[column], errors="coerce").notna().all():
                break
            k += 1
        k = min(k, len(text.columns) - 1)
    frame = pd.DataFrame(text.iloc[:, k:].apply(pd.to_numeric, errors="coerce"))
    if k:
        index = text.iloc[:, :k]
        single = pd.Index(index.iloc[:, 0], name=index.columns[0])
        frame.index = pd.MultiIndex.from_frame(index) if k > 1 else single
    if layout is not None:
        names = layout.get("index_names") or []
        if len(names) == frame.index.nlevels:
            frame.index.names = names
        frame.columns.name = layout.get("columns_name")
    return frame


def _load_sidecar(path: Path, name: str) -> tuple[dict[str, Any] | None, list[Check]]:
    side = sidecar_path(path)
    if not side.is_file():
        return None, [
            _check(
                name,
                "custom-output",
                Verdict.WARNING,
                "no SDC record beside this table (it was not made with hdc_toolkit.outputs): its whole "
                "numbers were re-checked as counts; review",
            )
        ]
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
        if data.get("format") != SIDECAR_FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
    except (OSError, ValueError) as exc:
        return None, [_check(name, "sdc-record", Verdict.WARNING, f"unreadable SDC record ({exc}); review")]
    return data, []


def _add_flag(flags: dict[tuple[int, int], list[str]], position: tuple[int, int], rule: str) -> None:
    broken = flags.setdefault(position, [])
    if rule not in broken:
        broken.append(rule)


def _check(name: str, kind: str, verdict: Verdict, message: str, **details: Any) -> Check:
    return Check(
        key=f"{name}.{kind}", kind=kind, verdict=verdict, table=name, message=message, details=details
    )


def _count_view(frame: pd.DataFrame, kind: str) -> pd.DataFrame | None:
    if kind == SURVIVAL:
        cols = [c for c in frame.columns if str(c) in SURVIVAL_COUNTS]
        return frame[cols]
    if kind in COUNT_KINDS:
        return frame
    whole = frame.stack().dropna()
    if kind == "table" and len(whole) and bool((whole == whole.round()).all()) and bool((whole >= 0).all()):
        return frame
    return None


def _recheck(
    name: str,
    counts: pd.DataFrame,
    profile: Profile,
    flags: dict[tuple[int, int], list[str]],
    frame: pd.DataFrame,
) -> list[Check]:
    masks = count_rule_masks(counts, profile)
    if profile.zeros_disclosive is False:
        masks.pop(rules.RULE_ZERO, None)
    out = []
    for rule, mask in masks.items():
        full = mask.reindex(columns=frame.columns, fill_value=False)
        n = int(full.to_numpy().sum())
        for r, c in zip(*full.to_numpy().nonzero(), strict=True):
            _add_flag(flags, (int(r), int(c)), rule)
        verdict = Verdict.FAILED if n else Verdict.PASSED
        message = (
            f"{n} published cell(s) break the {rule} rule of profile {profile.name}"
            if n
            else (f"published counts meet the {rule} rule of profile {profile.name}")
        )
        out.append(
            Check(
                key=f"{name}.{rule}",
                kind=rule,
                verdict=verdict,
                table=name,
                message=message,
                element_count=int(counts.size),
                failing_count=n,
                details={"source": "airlock re-check of the published file"},
            )
        )
    return out


def _carried(name: str, sidecar: dict[str, Any], recheck: bool) -> list[Check]:
    """The notebook's checks that the file cannot re-verify; for re-checked rules, what the notebook's
    mitigation did (as ``mitigation-<rule>`` reviews), so reviewers see which cells were suppressed."""
    out = []
    for c in (sidecar.get("run") or {}).get("checks") or []:
        kind = str(c.get("kind"))
        try:
            verdict = Verdict(c.get("verdict"))
        except ValueError:
            verdict = Verdict.WARNING
        if recheck and kind in RECHECKED:
            if verdict is not Verdict.WARNING:
                continue  # the re-check from the file speaks for this rule
            kind = f"mitigation-{kind}"
        out.append(
            Check(
                key=f"{name}.{kind}",
                kind=kind,
                verdict=verdict,
                table=name,
                message=str(c.get("message", "")),
                element_count=c.get("element_count"),
                failing_count=c.get("failing_count"),
                details={"source": "notebook SDC record (needs the raw data; not re-verifiable)"},
            )
        )
    return out


def _table_checks(path: Path, checked: CheckedFile, profile: Profile) -> None:
    sidecar, notes = _load_sidecar(path, checked.name)
    checked.checks += notes
    kind = str(sidecar["kind"]) if sidecar else "table"
    if sidecar and sidecar.get("csv_sha256") != checked.facts.sha256:
        checked.checks.append(
            _check(
                checked.name,
                "sdc-record",
                Verdict.WARNING,
                "the table was changed after its SDC record was written: the record's checks may not "
                "describe it; review",
            )
        )
    used = ((sidecar or {}).get("profile") or {}).get("name")
    if sidecar and used != profile.name:
        checked.checks.append(
            _check(
                checked.name,
                "sdc-profile",
                Verdict.WARNING,
                f"checked in the notebook with profile {used!r}, but the project's profile is "
                f"{profile.name!r}: counts re-checked with {profile.name!r}; review",
            )
        )
    layout = (sidecar or {}).get("layout")
    try:
        frame = read_table(path, layout)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        message = f"cannot read the table ({exc}); review"
        checked.checks.append(_check(checked.name, "unreadable", Verdict.WARNING, message))
        return
    checked.kind, checked.sidecar = kind, sidecar
    checked.layout = layout or {
        "index_cols": frame.index.nlevels if not isinstance(frame.index, pd.RangeIndex) else 0,
        "index_names": [None if n is None else str(n) for n in frame.index.names],
        "columns_name": None,
    }
    for rule, positions in (((sidecar or {}).get("sdc") or {}).get("cells") or {}).items():
        for r, c in positions:
            _add_flag(checked.flags, (int(r), int(c)), str(rule))
    counts = _count_view(frame, kind)
    if counts is not None:
        checked.checks += _recheck(checked.name, counts, profile, checked.flags, frame)
        checked.ledger = differencing.ledger_table(
            frame,
            ref=checked.name,
            index_names=[None if n is None else str(n) for n in frame.index.names],
            columns_name=checked.layout.get("columns_name"),
            measures=SURVIVAL_COUNTS if kind == SURVIVAL else None,
        )
    if sidecar:
        checked.checks += _carried(checked.name, sidecar, recheck=counts is not None)


def check_outputs(
    paths: Sequence[Path],
    *,
    profile: Profile,
    pseudonyms: files.PseudonymIndex | None,
    released: Sequence[differencing.LedgerTable] = (),
    names: Sequence[str] | None = None,
) -> tuple[Run, list[CheckedFile]]:
    """Check the (staged) files of one request; ``names`` are their names in the request."""
    names = list(names) if names is not None else [p.name for p in paths]
    checked: list[CheckedFile] = []
    for path, name in zip(paths, names, strict=True):
        facts, checks = files.check_file(path, pseudonyms, name=name)
        item = CheckedFile(name, facts, "file", checks)
        readable = facts.size <= files.MAX_FILE_BYTES and facts.extension not in files.BLOCKED_EXTENSIONS
        if facts.extension in files.TABLE_EXTENSIONS and readable:
            _table_checks(path, item, profile)
        elif facts.extension in files.ALLOWED_EXTENSIONS:
            item.checks.append(
                _check(
                    name,
                    "custom-output",
                    Verdict.WARNING,
                    "no automatic disclosure check reads this type: review it by hand",
                )
            )
        checked.append(item)
    for item in checked:
        if item.ledger is None:
            continue
        siblings = [o.ledger for o in checked if o is not item and o.ledger is not None]
        check, findings = differencing.check_differencing(
            item.name, item.ledger, [*released, *siblings], profile.threshold
        )
        item.checks.append(check)
        for f in findings:
            if f.position is not None:
                _add_flag(item.flags, f.position, differencing.RULE_DIFFERENCING)
    run = Run(name="output-request", checks=[c for item in checked for c in item.checks])
    run.metadata = {"profile": profile.name, "profile_version": profile.version, "files": len(checked)}
    return run.finish(), checked
