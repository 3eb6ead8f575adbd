"""The airlock: output requests, two independent reviews, and release to the project's outbox.

::

    submitted ─1st review─► partially_reviewed ─2nd review─┬► approved ─release─► released
        ▲                                                   ├► rejected
        └───────────────── resubmit ◄─── returned ◄────────┘
    submitted, partially_reviewed, returned ─author─► withdrawn

* **Request** (a project member with role ``project_leader`` or ``researcher``, in a provisioned or
  active project): the files, which must lie in the project's ``outputs/`` or ``work/``, are copied
  into a private staging folder (``HDC_HOME/airlock/<project>/<uuid>/``), and the copies are checked
  (:mod:`~hdc_toolkit.outputs.checking`: file rules, SDC re-checks, differencing against the ledger).
  The **output record** ``record.json`` holds every check and flagged cell, the sha256 of each file,
  the permit hash, the hash of the producing code or notebook (copied too) and the risk profile.
  A request with failing checks is still recorded: the reviewers see why it fails.
* **Review** (an active ``output_checker`` of the project, never the author, once per round): the
  first decision makes the request ``partially_reviewed``; the second settles it: two approvals
  approve, any rejection rejects, otherwise (a return) it goes back to the author. A request whose
  *file rules* fail (row-level data, pseudonyms, blocked type) can never be approved.
* **Release** (an ``output_checker`` or ``data_steward`` of the project, only when approved): the staged
  files are verified against their recorded sha256 and copied, with ``release.json`` (record plus
  reviews), into ``projects/<id>/outbox/<request id>/`` in one atomic rename; their count tables join
  the project's differencing ledger.

Every request, refusal, review, state change and release is appended to the audit log in the same
transaction as the change. Free text (context, comments) stays in the registry and the record, never
in the audit log.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hdc_toolkit import __version__
from hdc_toolkit._io import atomic_dir, atomic_write_json
from hdc_toolkit.audit import record as audit_record
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import NotFoundError, PermissionDenied, StateError
from hdc_toolkit.outputs import _staging, checking, differencing, files
from hdc_toolkit.outputs.models import (
    APPROVE,
    APPROVED,
    DECISIONS,
    PARTIALLY_REVIEWED,
    REJECT,
    REJECTED,
    RELEASED,
    REQUEST_STATES,
    RETURNED,
    SUBMITTED,
    WITHDRAWN,
    OutputFile,
    OutputLedgerEntry,
    OutputRequest,
    OutputReview,
)
from hdc_toolkit.outputs.profiles import get_profile
from hdc_toolkit.outputs.records import FileRecord, RequestRecord, ReviewRecord, record_of
from hdc_toolkit.projects.registry import Registry, open_registry
from hdc_toolkit.projects.workspace import Workspace
from hdc_toolkit.results import Verdict

__all__ = [
    "AUTHOR_ROLES",
    "RECORD_FORMAT",
    "RELEASER_ROLES",
    "REQUEST_STATES",
    "REVIEWER_ROLE",
    "REVIEWS_NEEDED",
    "TRANSITIONS",
    "Airlock",
    "FileRecord",
    "RequestRecord",
    "ReviewRecord",
    "outcome",
]

RECORD_FORMAT = "hdc-output-record/1"
RELEASE_FORMAT = "hdc-output-release/1"
AUTHOR_ROLES: frozenset[str] = frozenset({"project_leader", "researcher"})
REVIEWER_ROLE = "output_checker"
RELEASER_ROLES: frozenset[str] = frozenset({"output_checker", "data_steward"})
REVIEWS_NEEDED = 2
PROJECT_STATES_FOR_OUTPUT: frozenset[str] = frozenset({"provisioned", "active"})

TRANSITIONS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({PARTIALLY_REVIEWED, WITHDRAWN}),
    PARTIALLY_REVIEWED: frozenset({APPROVED, REJECTED, RETURNED, WITHDRAWN}),
    RETURNED: frozenset({SUBMITTED, WITHDRAWN}),
    APPROVED: frozenset({RELEASED}),
    REJECTED: frozenset(),
    RELEASED: frozenset(),
    WITHDRAWN: frozenset(),
}


def outcome(decisions: Sequence[str]) -> str:
    """The state after ``decisions`` in one round: two approvals approve, any rejection rejects."""
    if len(decisions) < REVIEWS_NEEDED:
        return PARTIALLY_REVIEWED if decisions else SUBMITTED
    if all(d == APPROVE for d in decisions):
        return APPROVED
    return REJECTED if REJECT in decisions else RETURNED


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------- the airlock


class Airlock:
    """The airlock of one ``HDC_HOME``. Methods return :class:`RequestRecord` snapshots."""

    def __init__(self, settings: Settings, *, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or open_registry(settings)

    # -- paths

    def staging_root(self, project_id: str) -> Path:
        Workspace(self.settings, project_id)  # validates the id before it becomes a path
        return self.settings.home / "airlock" / project_id

    def workspace_root(self, project_id: str) -> Path:
        return Workspace(self.settings, project_id).root

    def outbox(self, project_id: str) -> Path:
        return Workspace(self.settings, project_id).root / "outbox"

    # -- reading

    def get(self, request_id: int) -> RequestRecord:
        with self.registry.read() as s:
            return record_of(s, self._request(s, request_id))

    def requests(
        self, *, project: str | None = None, state: str | None = None, reviewer: str | None = None
    ) -> list[RequestRecord]:
        """Requests, newest first; ``reviewer`` keeps those of projects where they check outputs."""
        if state is not None and state not in REQUEST_STATES:
            raise ValueError(f"state must be one of {', '.join(REQUEST_STATES)}, got {state!r}")
        projects = None if reviewer is None else self.checker_projects(reviewer)
        with self.registry.read() as s:
            stmt = select(OutputRequest).order_by(OutputRequest.id.desc())
            if project is not None:
                stmt = stmt.where(OutputRequest.project_id == project)
            if state is not None:
                stmt = stmt.where(OutputRequest.state == state)
            if projects is not None:
                stmt = stmt.where(OutputRequest.project_id.in_(projects))
            return [record_of(s, r) for r in s.scalars(stmt)]

    def output_record(self, request_id: int) -> dict[str, Any]:
        """The request's output record (``record.json`` of its current round)."""
        path = Path(self.get(request_id).staging_path) / "record.json"
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded

    def staged_file(self, request_id: int, name: str) -> Path:
        """The staged copy of a file of the request's current round."""
        req = self.get(request_id)
        if name not in {f.name for f in req.files}:
            raise NotFoundError(f"request {request_id} has no file {name!r}")
        return Path(req.staging_path) / "files" / name

    def can_review(self, request_id: int, username: str) -> tuple[bool, str]:
        """Whether ``username`` may review the request now, and if not, why."""
        try:
            self._check_reviewer(self.get(request_id), username)
        except (PermissionDenied, StateError) as exc:
            return False, exc.message
        return True, ""

    # -- requesting

    def request(
        self,
        project_id: str,
        paths: Sequence[str | Path],
        *,
        context: str,
        author: str,
        code: str | Path | None = None,
    ) -> RequestRecord:
        """Stage and check ``paths`` and record the request (state ``submitted``)."""
        self._check_author(project_id, author, action="request")
        staged, meta = self._stage_and_check(project_id, paths, context=context, author=author, code=code)
        with _staging.removed_on_error(staged), self.registry.write() as s:
            req = OutputRequest(
                project_id=project_id, author=author, context=context, state=SUBMITTED, round=1, **meta["row"]
            )
            s.add(req)
            s.flush()
            self._store_round(s, req, meta)
            self._finish_record(req, staged, meta)
            audit_record(
                s, "output.requested", actor=author, project=project_id, details=self._audit(req, meta)
            )
            return record_of(s, req)

    def resubmit(
        self,
        request_id: int,
        paths: Sequence[str | Path],
        *,
        by: str,
        context: str | None = None,
        code: str | Path | None = None,
    ) -> RequestRecord:
        """A returned request, with new files, checked again as a new round (state ``submitted``)."""
        req = self.get(request_id)
        if by != req.author:
            raise self._refuse(
                req.project_id, by, "resubmit", request_id, "only the author may resubmit a request"
            )
        if req.state != RETURNED:
            raise StateError(
                f"request {request_id} is {req.state}; only a returned request can be resubmitted"
            )
        ctx = req.context if context is None else context
        staged, meta = self._stage_and_check(req.project_id, paths, context=ctx, author=by, code=code)
        with _staging.removed_on_error(staged), self.registry.write() as s:
            row = self._request(s, request_id)
            self._transition(s, row, SUBMITTED, by=by)
            row.round += 1
            row.context = ctx
            for key, value in meta["row"].items():
                setattr(row, key, value)
            s.flush()
            self._store_round(s, row, meta)
            self._finish_record(row, staged, meta)
            details = {**self._audit(row, meta), "round": row.round}
            audit_record(s, "output.resubmitted", actor=by, project=row.project_id, details=details)
            return record_of(s, row)

    def _stage_and_check(
        self,
        project_id: str,
        paths: Sequence[str | Path],
        *,
        context: str,
        author: str,
        code: str | Path | None,
    ) -> tuple[Path, dict[str, Any]]:
        if not context or not context.strip():
            raise PermissionDenied(
                "an output request needs --context: what the outputs are and how they were made"
            )
        project = self.registry.get_project(project_id)
        if project.state not in PROJECT_STATES_FOR_OUTPUT:
            raise StateError(
                f"project {project_id!r} is {project.state}: outputs are requested from a provisioned or "
                "active project"
            )
        get_profile(project.risk_profile)  # an unknown profile is refused before anything is staged
        sources = _staging.sources(self.workspace_root(project_id), paths)
        code_path = _staging.resolve(self.workspace_root(project_id), code) if code is not None else None
        staging = self.staging_root(project_id) / uuid.uuid4().hex
        (staging / "files").mkdir(parents=True, mode=0o700)
        with _staging.removed_on_error(staging):
            return staging, self._check_staged(project_id, staging, sources, code_path, context, author)

    def _check_staged(
        self,
        project_id: str,
        staging: Path,
        sources: dict[str, Path],
        code_path: Path | None,
        context: str,
        author: str,
    ) -> dict[str, Any]:
        permit = self.registry.current_permit(project_id)
        profile = get_profile(self.registry.get_project(project_id).risk_profile)
        staged = []
        root = self.workspace_root(project_id)
        for name, src in sources.items():
            _staging.copy_in(root, src, staging / "files" / name)
            side = checking.sidecar_path(src)
            if side.is_file():
                _staging.copy_in(root, side, staging / "files" / side.name)
            staged.append(staging / "files" / name)
        code_meta = _staging.stage_code(root, code_path, staging) if code_path else None
        workspace = Workspace(self.settings, project_id)
        pseudonyms = files.load_pseudonyms(workspace.data)
        run, checked = checking.check_outputs(
            staged,
            profile=profile,
            pseudonyms=pseudonyms,
            released=self._ledger(project_id),
            names=list(sources),
        )
        blocking = [c.key for item in checked for c in item.blocking]
        flagged = sum(len(item.flags) for item in checked)
        record = {
            "format": RECORD_FORMAT,
            "toolkit_version": __version__,
            "request": {
                "project": project_id,
                "author": author,
                "context": context,
                "created_at": _now().isoformat(),
            },
            "permit": {"version": permit.version, "sha256": permit.sha256},
            "risk_profile": {**profile.to_dict(), "sha256": profile.sha256},
            "code": code_meta,
            "status": {Verdict.PASSED: "pass", Verdict.WARNING: "review"}.get(run.verdict, "fail"),
            "blocking": blocking,
            "results": {item.name: item.result() for item in checked},
            "checksums": {item.name: item.facts.sha256 for item in checked},
            "run": run.to_dict(),
        }
        row = {
            "risk_profile": profile.name,
            "profile_version": profile.version,
            "profile_sha256": profile.sha256,
            "permit_version": permit.version,
            "permit_sha256": permit.sha256,
            "code_name": code_meta["name"] if code_meta else None,
            "code_sha256": code_meta["sha256"] if code_meta else None,
            "verdict": run.verdict.value,
            "blocking": len(blocking),
            "flagged_cells": flagged,
            "staging_path": str(staging),
            "record_sha256": "",
        }
        return {"row": row, "record": record, "checked": checked}

    def _finish_record(self, req: OutputRequest, staging: Path, meta: dict[str, Any]) -> None:
        record = meta["record"]
        record["request"] |= {"id": req.id, "round": req.round}
        path = atomic_write_json(staging / "record.json", record)
        req.record_sha256 = files.file_sha256(path)

    def _store_round(self, s: Session, req: OutputRequest, meta: dict[str, Any]) -> None:
        for item in meta["checked"]:
            s.add(
                OutputFile(
                    request_id=req.id,
                    round=req.round,
                    name=item.name,
                    sha256=item.facts.sha256,
                    size=item.facts.size,
                    kind=item.kind,
                    verdict=item.verdict.value,
                    table_json=json.dumps(item.ledger.to_dict()) if item.ledger else None,
                )
            )

    def _audit(self, req: OutputRequest, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "request_id": req.id,
            "files": [
                {"name": i.name, "sha256": i.facts.sha256, "verdict": i.verdict.value}
                for i in meta["checked"]
            ],
            "verdict": req.verdict,
            "blocking_checks": req.blocking,
            "flagged_cells": req.flagged_cells,
            "risk_profile": req.risk_profile,
            "permit_sha256": req.permit_sha256,
            "code_sha256": req.code_sha256,
            "record_sha256": req.record_sha256,
        }

    def _ledger(self, project_id: str) -> list[differencing.LedgerTable]:
        with self.registry.read() as s:
            rows = s.scalars(select(OutputLedgerEntry).where(OutputLedgerEntry.project_id == project_id))
            return [differencing.LedgerTable.from_dict(json.loads(r.table_json)) for r in rows]

    # -- reviewing

    def review(self, request_id: int, *, reviewer: str, decision: str, comment: str) -> RequestRecord:
        """Record one output checker's decision (``approve``, ``reject`` or ``return``)."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if not comment or not comment.strip():
            raise PermissionDenied("a review needs a comment saying what was checked")
        req = self.get(request_id)
        try:
            self._check_reviewer(req, reviewer)
            if decision == APPROVE and req.blocking:
                raise PermissionDenied(
                    f"request {request_id} breaks {req.blocking} file rule(s) (row-level data, pseudonyms or "
                    "a blocked file type) that no review can waive: reject or return it"
                )
        except (PermissionDenied, StateError) as exc:
            self._refuse(req.project_id, reviewer, "review", request_id, exc.message)
            raise
        with self.registry.write() as s:
            row = self._request(s, request_id)
            taken = s.scalars(
                select(OutputReview.reviewer).where(
                    OutputReview.request_id == row.id, OutputReview.round == row.round
                )
            ).all()
            if reviewer in taken or row.state not in (SUBMITTED, PARTIALLY_REVIEWED):
                raise StateError(f"request {request_id} changed meanwhile ({row.state}); reload it")
            s.add(
                OutputReview(
                    request_id=row.id, round=row.round, reviewer=reviewer, decision=decision, comment=comment
                )
            )
            s.flush()
            decisions = list(
                s.scalars(
                    select(OutputReview.decision)
                    .where(OutputReview.request_id == row.id, OutputReview.round == row.round)
                    .order_by(OutputReview.id)
                )
            )
            audit_record(
                s,
                "output.reviewed",
                actor=reviewer,
                project=row.project_id,
                details={
                    "request_id": row.id,
                    "round": row.round,
                    "decision": decision,
                    "reviews": len(decisions),
                },
            )
            self._transition(s, row, outcome(decisions), by=reviewer)
            s.flush()
            return record_of(s, row)

    def _check_reviewer(self, req: RequestRecord, reviewer: str) -> None:
        if self.role(req.project_id, reviewer) != REVIEWER_ROLE:
            raise PermissionDenied(f"{reviewer!r} is not an output checker of project {req.project_id!r}")
        if reviewer == req.author:
            raise PermissionDenied(f"{reviewer!r} is the author of request {req.id} and cannot review it")
        if req.state not in (SUBMITTED, PARTIALLY_REVIEWED):
            raise StateError(f"request {req.id} is {req.state}: only submitted requests are reviewed")
        if reviewer in req.reviewers:
            raise StateError(
                f"{reviewer!r} has already reviewed request {req.id}: "
                "a second, independent checker must review it"
            )

    # -- releasing and withdrawing

    def release(self, request_id: int, *, by: str) -> RequestRecord:
        """Copy an approved request's files to the project's outbox and add its tables to the ledger."""
        req = self.get(request_id)
        if self.role(req.project_id, by) not in RELEASER_ROLES:
            raise self._refuse(
                req.project_id,
                by,
                "release",
                request_id,
                f"{by!r} is not an output checker or data steward of project {req.project_id!r}",
            )
        if req.state != APPROVED:
            raise StateError(f"request {request_id} is {req.state}: only an approved request is released")
        staging = Path(req.staging_path)
        self._verify_staging(req, staging, by=by)
        target = self.outbox(req.project_id) / str(req.id)
        now = _now()
        release = {
            "format": RELEASE_FORMAT,
            "record": _outside_view(self.output_record(request_id)),
            "record_sha256": req.record_sha256,
            "reviews": [
                {
                    "reviewer": r.reviewer,
                    "decision": r.decision,
                    "comment": r.comment,
                    "at": r.created_at.isoformat(),
                }
                for r in req.reviews
            ],
            "released_by": by,
            "released_at": now.isoformat(),
        }
        with self.registry.write() as s:
            row = self._request(s, request_id)
            if row.state != APPROVED:
                raise StateError(f"request {request_id} changed meanwhile ({row.state}); reload it")
            with self._published(target) as tmp:
                for f in req.files:
                    shutil.copyfile(staging / "files" / f.name, tmp / f.name)
                release_path = atomic_write_json(tmp / "release.json", release)
                release_sha = files.file_sha256(release_path)
            row.outbox_path, row.release_sha256 = str(target), release_sha
            row.released_by, row.released_at = by, now
            for stored in s.scalars(
                select(OutputFile).where(OutputFile.request_id == row.id, OutputFile.round == row.round)
            ):
                if stored.table_json:
                    s.add(
                        OutputLedgerEntry(
                            project_id=row.project_id,
                            request_id=row.id,
                            name=stored.name,
                            sha256=stored.sha256,
                            table_json=_ledger_ref(stored.table_json, row.id, stored.name),
                        )
                    )
            self._transition(s, row, RELEASED, by=by)
            audit_record(
                s,
                "output.released",
                actor=by,
                project=row.project_id,
                details={
                    "request_id": row.id,
                    "round": row.round,
                    "outbox": str(target),
                    "release_sha256": release_sha,
                    "files": [{"name": f.name, "sha256": f.sha256} for f in req.files],
                },
            )
            s.flush()
            return record_of(s, row)

    @contextmanager
    def _published(self, target: Path) -> Iterator[Path]:
        """A temporary folder renamed to ``target`` when the block succeeds (removed if it fails)."""
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        with atomic_dir(target) as tmp:
            yield tmp

    def _verify_staging(self, req: RequestRecord, staging: Path, *, by: str) -> None:
        problems = []
        if files.file_sha256(staging / "record.json") != req.record_sha256:
            problems.append("record.json")
        for f in req.files:
            path = staging / "files" / f.name
            if not path.is_file() or files.file_sha256(path) != f.sha256:
                problems.append(f.name)
        if problems:
            with self.registry.write() as s:
                audit_record(
                    s,
                    "output.release_refused",
                    actor=by,
                    project=req.project_id,
                    details={"request_id": req.id, "changed": problems},
                )
            raise StateError(
                f"request {req.id}: staged file(s) {', '.join(problems)} no longer match their recorded "
                "sha256; nothing was released (investigate: the staging area was changed)"
            )

    def withdraw(self, request_id: int, *, by: str) -> RequestRecord:
        """The author takes a request back (before it is settled)."""
        req = self.get(request_id)
        if by != req.author:
            raise self._refuse(
                req.project_id, by, "withdraw", request_id, "only the author may withdraw a request"
            )
        with self.registry.write() as s:
            row = self._request(s, request_id)
            self._transition(s, row, WITHDRAWN, by=by)
            s.flush()
            return record_of(s, row)

    # -- helpers

    def _request(self, s: Session, request_id: int) -> OutputRequest:
        row = s.get(OutputRequest, int(request_id))
        if row is None:
            raise NotFoundError(f"no output request {request_id}")
        return row

    def role(self, project_id: str, username: str) -> str | None:
        """``username``'s role in the project (active members only), or None."""
        for m in self.registry.members(project_id):
            if m.username == username:
                return m.role
        return None

    def checker_projects(self, username: str) -> list[str]:
        """The projects where ``username`` is an active output checker."""
        return [
            p.id for p in self.registry.projects_of(username) if self.role(p.id, username) == REVIEWER_ROLE
        ]

    def check_author(self, project_id: str, author: str) -> None:
        """Refuse (and audit the refusal) unless ``author`` may request outputs of the project."""
        self._check_author(project_id, author, action="request")

    def _check_author(self, project_id: str, author: str, *, action: str) -> None:
        role = self.role(project_id, author)
        if role not in AUTHOR_ROLES:
            raise self._refuse(
                project_id,
                author,
                action,
                None,
                f"{author!r} is not a project leader or researcher of project {project_id!r}",
            )

    def _transition(self, s: Session, row: OutputRequest, new: str, *, by: str) -> None:
        old = row.state
        if new == old:
            return
        if new not in TRANSITIONS[old]:
            raise StateError(f"request {row.id} cannot go from {old} to {new}")
        row.state = new
        row.updated_at = _now()
        audit_record(
            s,
            "output.state",
            actor=by,
            project=row.project_id,
            details={"request_id": row.id, "round": row.round, "from": old, "to": new},
        )

    def _refuse(
        self, project_id: str, actor: str, action: str, request_id: int | None, why: str
    ) -> PermissionDenied:
        """Audit a refusal and return the exception to raise."""
        with self.registry.write() as s:
            audit_record(
                s,
                "output.refused",
                actor=actor or "?",
                project=project_id,
                details={"action": action, "request_id": request_id, "reason": why},
            )
        return PermissionDenied(why)


def _outside_view(record: dict[str, Any]) -> dict[str, Any]:
    """The output record as it leaves with the files: every check and flagged cell position, but no
    check ``details`` (they can hold numbers derived inside, such as differencing differences)."""
    out = json.loads(json.dumps(record))
    for result in out.get("results", {}).values():
        for check in result.get("checks", []):
            check.pop("details", None)
    for check in out.get("run", {}).get("checks", []):
        check.pop("details", None)
    return dict(out)


def _ledger_ref(table_json: str, request_id: int, name: str) -> str:
    data = json.loads(table_json)
    data["ref"] = f"request {request_id}: {name}"
    return json.dumps(data)
