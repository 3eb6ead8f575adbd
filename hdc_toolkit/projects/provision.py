"""Provisioning: a project's current permit turned into a release in its workspace.

:func:`provision` (``hdc project provision ID --source DIR``) needs the project in the ``approved``
state with a current permit. It holds the project's lock, removes stale temporaries of an earlier
crash, creates the workspace and writes the release into a temporary directory beside ``data/``:

1. the **project contracts** derived from the source contracts and the permit (:mod:`.derive`),
   written as ODCS YAML into ``contracts/`` and loaded back;
2. the **cohort**: every person with a code of the cohort's ICD-10 / ATC prefix lists (e.g. ``E11``)
   whose event lies in the time window; their **pseudonyms** are computed once per person
   (:mod:`.pseudonymise`);
3. each table (:mod:`.release_tables`), **file by file and row group by row group** in a thread
   pool (memory stays bounded):
   only the cohort's rows (one hash lookup per row, which also yields the pid), only events in the
   window (an interval table such as episodes when it overlaps the window), only the permitted
   columns, coarsened (:mod:`.coarsen`), surrogate keys re-keyed, rows ordered by pid (random
   among a person's rows, so the source's row order, e.g. by national id, does not survive within a
   row group); written as ``<table>/part-NNNNN.parquet`` (one per source file; which rows share a
   file or row group still follows the source's partitioning);
4. the **release gate**: the foundation validator against the derived contracts (types, bounds,
   patterns, value lists, pid uniqueness and every foreign key, so the pids are consistent across
   tables) plus k-anonymity of the person table under the permit's risk profile (:mod:`.disclosure`).
   **A failed gate releases nothing**: the temporary directory is removed, the gate report goes to
   ``HDC_HOME/reports/<id>/`` and :class:`ReleaseRefused` (exit 1) is raised;
5. ``validation.json`` (the gate run) and ``manifest.json``: sha256 of every file, the permit hash
   and version, source and derived contract ids and versions, the cohort, row counts, the gate
   summary, the disclosure result, created_at and created_by;
6. modes set read-only (files 0440, directories 0550), the directory renamed to ``data/``
   atomically (an earlier release, from an amended permit, is moved aside first and removed), then
   one registry transaction records the release, revokes earlier ones, moves the project to
   ``provisioned`` and appends ``release.recorded`` and ``project.provisioned`` to the audit log.

Crash safety: nothing is visible under ``data/`` until the rename. A rerun after a crash removes the
stale temporary and starts again; after a crash between the rename and the registry commit it checks
the release against its manifest and only records it. Provisioning an already provisioned project
again returns its release.

:func:`write_release` is the same pipeline without registry or workspace (benchmarks, dry runs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hdc_toolkit._io import atomic_write_json
from hdc_toolkit.config import Settings
from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import HdcUserError, NotFoundError, StateError
from hdc_toolkit.projects import lifecycle
from hdc_toolkit.projects.derive import (
    ReleaseSpec,
    derive_release,
    write_contracts,
)
from hdc_toolkit.projects.disclosure import check_k_anonymity
from hdc_toolkit.projects.pseudonymise import (
    PSEUDONYM_COLUMN,
    PSEUDONYM_HEX,
    PseudonymMap,
    key_fingerprint,
    project_key,
)
from hdc_toolkit.projects.registry import ReleaseRecord
from hdc_toolkit.projects.release_tables import find_cohort, surrogate_keyers, write_tables
from hdc_toolkit.projects.workspace import PARTIAL_SUFFIX, Workspace, fsync_dir, make_read_only, remove_tree
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "CONTRACTS_DIR",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "VALIDATION_FILE",
    "Progress",
    "ReleaseRefused",
    "ReleaseResult",
    "find_cohort",
    "provision",
    "read_manifest",
    "verify_release",
    "write_release",
]

MANIFEST_FORMAT = "hdc-release-manifest/1"
MANIFEST_FILE = "manifest.json"
VALIDATION_FILE = "validation.json"
CONTRACTS_DIR = "contracts"
#: ``progress(stage)`` is called at ``cohort``, ``tables``, ``written:<table>/<file>``, ``gate``,
#: ``manifest``, ``released`` (renamed, not yet recorded) and ``recorded``.
Progress = Callable[[str], None]


class ReleaseRefused(HdcUserError):
    """The release gate failed: nothing was released. ``run`` is the gate, ``report`` its JSON file."""

    exit_code = 1

    def __init__(self, message: str, *, run: Run, report: Path | None, problems: list[str]) -> None:
        self.run = run
        self.report = report
        self.problems = problems
        super().__init__(message)


@dataclass
class ReleaseResult:
    """What :func:`write_release` produced in ``out_dir`` (a manifest only when the gate passed)."""

    out_dir: Path
    gate: Run
    rows: dict[str, int]
    source_rows: dict[str, int]
    cohort_size: int
    contracts: dict[str, Contract]
    manifest: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.gate.passed


# ---------------------------------------------------------------------------------------------------
# the library entry point


def provision(
    settings: Settings,
    project_id: str,
    source_dir: str | os.PathLike[str],
    *,
    by: str,
    contracts_dir: str | os.PathLike[str] | None = None,
    today: dt.date | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ReleaseRecord:
    """Provision ``project_id`` from the source extract ``source_dir``; see the module docstring.

    Raises :class:`NotFoundError` (unknown or malformed id, no permit, missing source),
    :class:`StateError` (not approved, busy, period over) and :class:`ReleaseRefused` (gate failed).
    """
    from hdc_toolkit.audit import AuditLog
    from hdc_toolkit.projects.registry import open_registry

    ws = Workspace(settings, project_id)
    registry = open_registry(settings)
    project = registry.get_project(project_id)
    permit = registry.current_permit(project_id)
    if project.state in (lifecycle.PROVISIONED, lifecycle.ACTIVE):
        for release in reversed(registry.releases(project_id)):
            if (
                release.state == "released"
                and release.permit_sha256 == permit.sha256
                and ws.manifest.exists()
            ):
                return release
    if project.state != lifecycle.APPROVED:
        raise StateError(
            f"project {project_id!r} is {project.state!r}: only an approved project (a current permit not yet "
            "provisioned) can be provisioned"
        )
    today = today or dt.date.today()
    if project.end_date is not None and today > project.end_date:
        raise StateError(
            f"project {project_id!r} ended on {project.end_date}: it can no longer be provisioned"
        )
    source = Path(source_dir)
    if not source.is_dir():
        raise NotFoundError("the source extract directory does not exist", location=str(source))
    audit = AuditLog(settings, registry=registry)
    with ws.lock("provision"):
        stale = ws.clean_partials()
        ws.create()
        audit.append(
            "provision.started",
            actor=by,
            project=project_id,
            details={
                "permit_version": permit.version,
                "permit_sha256": permit.sha256,
                "source": str(source.resolve()),
                "stale_temporaries_removed": len(stale),
            },
        )
        existing = read_manifest(ws.data)
        if (
            existing
            and existing.get("permit", {}).get("sha256") == permit.sha256
            and existing.get("permit", {}).get("version") == permit.version
            and verify_release(ws.data).passed
        ):
            manifest, resumed = existing, True  # renamed before a crash, never recorded
        else:
            manifest, resumed = (
                _build(ws, registry, audit, permit, source, by, contracts_dir, threads, progress),
                False,
            )
        record = _record(ws, registry, manifest, by, resumed)
    if progress:
        progress("recorded")
    return record


def _build(
    ws: Workspace,
    registry: Any,
    audit: Any,
    permit: Any,
    source: Path,
    by: str,
    contracts_dir: str | os.PathLike[str] | None,
    threads: int | None,
    progress: Progress | None,
) -> dict[str, Any]:
    from hdc_toolkit.contracts.loader import load_contract_dir
    from hdc_toolkit.projects.application import Application
    from hdc_toolkit.projects.application_rules import DEFAULT_CONTRACTS_DIR

    app = Application.model_validate(permit.application)
    cohort = app.data_request.cohort
    sources = load_contract_dir(Path(contracts_dir or DEFAULT_CONTRACTS_DIR))
    spec = derive_release(
        sources,
        registry.permitted_columns(ws.project_id),
        project_id=ws.project_id,
        window=(cohort.window.start, cohort.window.end),
        permit_version=permit.version,
        permit_sha256=permit.sha256,
    )
    key = project_key(ws.settings.keys_dir, ws.project_id)
    tmp = ws.new_partial()
    try:
        context = {
            "project": ws.project_id,
            "created_by": by,
            "permit": {
                "version": permit.version,
                "sha256": permit.sha256,
                "approved_by": permit.approved_by,
                "approved_at": permit.approved_at.isoformat(),
            },
        }
        result = write_release(
            spec,
            sources,
            source,
            tmp,
            key=key,
            cohort=cohort,
            risk_profile=app.risk_profile,
            context=context,
            threads=threads,
            progress=progress,
        )
        if not result.passed:
            raise _refused(ws, audit, result.gate, by)
        make_read_only(tmp)
        fsync_dir(tmp)
        _swap_into_place(ws, tmp)
    except BaseException:
        remove_tree(tmp)
        raise
    if progress:
        progress("released")
    assert result.manifest is not None
    return result.manifest


def _refused(ws: Workspace, audit: Any, gate: Run, by: str) -> ReleaseRefused:
    bad = [c for c in gate.checks if c.verdict in (Verdict.FAILED, Verdict.ERROR)]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    ws.reports.mkdir(parents=True, exist_ok=True)
    report = gate.write_json(ws.reports / f"gate-{stamp}.json")
    os.chmod(report, 0o600)
    audit.append(
        "provision.refused",
        actor=by,
        project=ws.project_id,
        details={"failed_checks": [c.key for c in bad], "report": report.name},
    )
    return ReleaseRefused(
        f"the release gate failed ({len(bad)} check(s)): nothing was released; report: {report}",
        run=gate,
        report=report,
        problems=[f"{c.key}: {c.message}" for c in bad[:50]],
    )


def _swap_into_place(ws: Workspace, tmp: Path) -> None:
    """Rename ``tmp`` to ``data/``; an earlier release is moved aside first and then removed."""
    old = None
    if ws.data.exists():
        old = ws.root / f".data.superseded-{time.time_ns()}{PARTIAL_SUFFIX}"
        os.rename(ws.data, old)
    os.rename(tmp, ws.data)
    fsync_dir(ws.root)
    if old is not None:
        remove_tree(old)


def _record(ws: Workspace, registry: Any, manifest: dict[str, Any], by: str, resumed: bool) -> ReleaseRecord:
    """One transaction: the release row, earlier releases revoked, the transition, the audit entries."""
    from sqlalchemy import select

    from hdc_toolkit.audit import record
    from hdc_toolkit.projects.registry import Release, current_permit_in, get_project_in, transition_in

    manifest_sha = _sha256(ws.manifest)
    permit_sha = manifest["permit"]["sha256"]
    try:
        with registry.write() as s:
            project, permit = get_project_in(s, ws.project_id), current_permit_in(s, ws.project_id)
            if permit is None or permit.sha256 != permit_sha or project.state != lifecycle.APPROVED:
                raise StateError(
                    f"project {ws.project_id!r} changed while it was provisioned (permit amended or state "
                    f"{project.state!r}): the release was withdrawn; provision it again"
                )
            earlier = s.scalars(
                select(Release).where(Release.project_id == ws.project_id, Release.state == "released")
            )
            revoked = []
            for old in earlier:
                old.state = "revoked"
                revoked.append(old.id)
            release = Release(
                project_id=ws.project_id,
                permit_sha256=permit_sha,
                path=str(ws.data),
                manifest_sha256=manifest_sha,
                state="released",
            )
            s.add(release)
            s.flush()
            record(
                s,
                "release.recorded",
                actor=by,
                project=ws.project_id,
                details={
                    "release_id": release.id,
                    "permit_sha256": permit_sha,
                    "manifest_sha256": manifest_sha,
                    "state": "released",
                    "revoked_release_ids": revoked,
                },
            )
            record(
                s,
                "project.provisioned",
                actor=by,
                project=ws.project_id,
                details=_audit_summary(manifest, release.id, resumed),
            )
            transition_in(s, ws.project_id, lifecycle.PROVISIONED, by=by, details={"release_id": release.id})
            return ReleaseRecord(
                release.id,
                release.project_id,
                release.permit_sha256,
                release.path,
                release.manifest_sha256,
                release.created_at,
                release.state,
            )
    except StateError:
        remove_tree(ws.data)
        raise


def _audit_summary(manifest: dict[str, Any], release_id: int, resumed: bool) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "permit_version": manifest["permit"]["version"],
        "rows": {t: v["rows"] for t, v in manifest["tables"].items()},
        "cohort_size": manifest["cohort"]["persons"],
        "gate": manifest["validation"]["verdict"],
        "k_anonymity": manifest["disclosure"].get("k"),
        "files": len(manifest["files"]),
        "source_contracts": {t: v["version"] for t, v in manifest["source_contracts"].items()},
        "resumed_after_crash": resumed,
    }


# ---------------------------------------------------------------------------------------------------
# the pipeline


def write_release(
    spec: ReleaseSpec,
    sources: Mapping[str, Contract],
    source_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    key: bytes,
    cohort: Any,
    risk_profile: str | None,
    context: Mapping[str, Any] | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> ReleaseResult:
    """Write a release of ``spec`` into the existing, empty directory ``out_dir`` and gate it.

    ``cohort`` has ``icd10``/``atc`` (entries with ``.code``), ``window`` (``.start``/``.end``) and
    ``description`` (an application's :class:`~hdc_toolkit.projects.application.Cohort`). The
    manifest is written only when the gate passes.
    """
    from hdc_toolkit.contracts.validate import validate_extract

    out = Path(out_dir)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    contracts = write_contracts(spec, out / CONTRACTS_DIR)
    _tick(progress, "cohort")
    ids = find_cohort(spec, cohort, source_dir, threads=threads)
    with ThreadPoolExecutor(1) as pool:  # the keyers' numpy work overlaps the HMACs (which hold the GIL)
        pending = pool.submit(surrogate_keyers, spec, Path(source_dir), key)
        pmap = PseudonymMap.build(key, ids)
        keyers = pending.result()
    timings["cohort"], clock = time.perf_counter() - clock, time.perf_counter()
    _tick(progress, "tables")
    rows, source_rows = write_tables(spec, contracts, Path(source_dir), out, pmap, keyers, threads, progress)
    timings["tables"], clock = time.perf_counter() - clock, time.perf_counter()
    _tick(progress, "gate")
    runs = validate_extract(contracts, out, threads=threads)
    gate = Run(
        name=f"release-gate:{spec.project_id}", metadata={"project": spec.project_id, "tables": list(runs)}
    )
    for run in runs.values():
        gate.checks.extend(run.checks)
    person = spec.person_table
    qi = [
        c.name
        for c in contracts[person].columns
        if c.classification == "quasi_identifier" and not c.pseudonymisation
    ]
    k_check = check_k_anonymity(pq.read_table(out / person, columns=qi), qi, risk_profile, name=person)
    gate.checks.append(k_check)
    gate.finish()
    timings["gate"], clock = time.perf_counter() - clock, time.perf_counter()
    result = ReleaseResult(out, gate, rows, source_rows, len(pmap), contracts, timings=timings)
    if gate.passed:
        _tick(progress, "manifest")
        atomic_write_json(
            out / VALIDATION_FILE,
            {"gate": gate.to_dict(), "tables": {t: r.to_dict() for t, r in runs.items()}},
        )
        result.manifest = _manifest(
            spec, sources, contracts, result, runs, cohort, key, k_check, context or {}
        )
        atomic_write_json(out / MANIFEST_FILE, result.manifest)
        timings["manifest"] = time.perf_counter() - clock
    return result


def _tick(progress: Progress | None, stage: str) -> None:
    if progress is not None:
        progress(stage)


# -- the manifest


def _manifest(
    spec: ReleaseSpec,
    sources: Mapping[str, Contract],
    contracts: Mapping[str, Contract],
    result: ReleaseResult,
    runs: Mapping[str, Run],
    cohort: Any,
    key: bytes,
    k_check: Check,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    out = result.out_dir
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_FILE):
        files[path.relative_to(out).as_posix()] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
    gate = result.gate
    return {
        "format": MANIFEST_FORMAT,
        "project": spec.project_id,
        **context,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source_contracts": {t.name: _contract_entry(sources[t.name]) for t in spec.tables},
        "derived_contracts": {
            name: {"id": c.contract_id, "version": c.version, "file": f"{CONTRACTS_DIR}/{name}.odcs.yaml"}
            for name, c in contracts.items()
        },
        "cohort": {
            "description": cohort.description,
            "icd10": [e.code for e in cohort.icd10],
            "atc": [e.code for e in cohort.atc],
            "window": {"start": cohort.window.start.isoformat(), "end": cohort.window.end.isoformat()},
            "persons": result.rows[spec.person_table],
            "matched_ids": result.cohort_size,
        },
        "pseudonymisation": {
            "column": PSEUDONYM_COLUMN,
            "method": f"HMAC-SHA256 with the project key, first {PSEUDONYM_HEX} hex characters",
            "surrogate_keys": "re-keyed with the project's keyed permutation of each key domain",
            "key_fingerprint": key_fingerprint(key),
        },
        "tables": {
            t.name: {
                "rows": result.rows[t.name],
                "source_rows": result.source_rows[t.name],
                "columns": {
                    c.name: {"source": c.source, "granularity": c.granularity, "role": c.role}
                    for c in t.columns
                },
                "window_columns": list(t.event_time.columns) if t.event_time and spec.window else [],
            }
            for t in spec.tables
        },
        "validation": {
            "verdict": gate.verdict.value,
            "passed": gate.passed,
            "counts": gate.counts(),
            "tables": {
                name: {"verdict": r.verdict.value, "counts": r.counts(), "rows": r.metadata.get("rows")}
                for name, r in runs.items()
            },
            "warnings": [c.key for c in gate.checks if c.verdict is Verdict.WARNING],
            "report": VALIDATION_FILE,
        },
        "disclosure": {
            "check": k_check.key,
            "verdict": k_check.verdict.value,
            "message": k_check.message,
            **k_check.details,
        },
        "files": files,
    }


def _contract_entry(contract: Contract) -> dict[str, Any]:
    source = contract.source
    return {
        "id": contract.contract_id,
        "version": contract.version,
        "sha256": _sha256(Path(source)) if source else None,
    }


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_manifest(data_dir: Path) -> dict[str, Any] | None:
    """The release manifest in ``data_dir``, or None when there is none (or it is unreadable)."""
    path = Path(data_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT else None


def verify_release(data_dir: str | os.PathLike[str]) -> Run:
    """Check every file of a release against its manifest: present, same sha256, nothing extra."""
    data = Path(data_dir)
    run = Run(name="release-verify", metadata={"data": str(data)})
    manifest = read_manifest(data)
    if manifest is None:
        run.checks.append(
            Check(
                "release.manifest",
                "manifest",
                Verdict.FAILED,
                message=f"no readable {MANIFEST_FILE} in {data}",
            )
        )
        return run.finish()
    listed = manifest.get("files", {})
    changed = [
        name
        for name, entry in listed.items()
        if not (data / name).is_file() or _sha256(data / name) != entry.get("sha256")
    ]
    present = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()} - {MANIFEST_FILE}
    extra = sorted(present - set(listed))
    run.checks.append(
        Check(
            "release.files.sha256",
            "sha256",
            Verdict.FAILED if changed else Verdict.PASSED,
            message=f"{len(changed)} file(s) missing or changed"
            if changed
            else "every file matches its sha256",
            element_count=len(listed),
            failing_count=len(changed),
            examples=changed[:10],
        )
    )
    run.checks.append(
        Check(
            "release.files.extra",
            "files",
            Verdict.FAILED if extra else Verdict.PASSED,
            message=f"{len(extra)} file(s) not in the manifest" if extra else "no file outside the manifest",
            element_count=len(present),
            failing_count=len(extra),
            examples=extra[:10],
        )
    )
    return run.finish()
