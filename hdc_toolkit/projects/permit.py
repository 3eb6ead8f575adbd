"""Approving an application turns it into a permit: a hashed, versioned record in the registry.

:func:`approve_permit` is the data steward's act. The rules:

* the approver (``by``) acts as a data steward of the data centre and is recorded on the permit; the
  username is taken as given (authentication is the caller's business), but it must not be a member of
  the project, now or before (four-eyes);
* the application must pass :func:`check_application` with ``for_provisioning=True`` (so a pending
  approval refuses it) with no failed check;
* the canonical application JSON and its SHA-256 are stored as permit version 1; approving an
  unchanged application again does nothing (idempotent); approving a changed one (variables, members,
  purpose, dates …) stores the next version, which supersedes the previous one, and puts the project
  back to ``approved`` (it must be provisioned again);
* the project's members, dates, risk profile and DP caps follow the permit.

Every approval, amendment, refusal and state transition is appended to the audit log.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hdc_toolkit.audit import AuditLog, record
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import ApplicationError, HdcUserError, NotFoundError, PermissionDenied, StateError
from hdc_toolkit.projects import lifecycle
from hdc_toolkit.projects.registry import (
    Member,
    Permit,
    PermitRecord,
    PermittedColumn,
    Project,
    Registry,
    current_permit_in,
    next_permit_version,
    open_registry,
    permit_record,
    transition_in,
)
from hdc_toolkit.projects.vocabularies import USERNAME_PATTERN
from hdc_toolkit.results import Verdict

if TYPE_CHECKING:
    from hdc_toolkit.projects.application import Application

__all__ = ["PermitRecord", "approve_permit", "check_approver"]


def _application_api() -> tuple[Any, Any, Any, Any]:
    from hdc_toolkit.projects import application as appmod

    check = getattr(appmod, "check_application", None)
    if check is None:
        from hdc_toolkit.projects.application_rules import check_application as check
    return appmod.load_application, check, appmod.canonical_json, appmod.application_hash


def check_approver(by: str, app: Application, registry: Registry) -> None:
    """Raise :class:`PermissionDenied` unless ``by`` is a valid username outside the project."""
    if not by or not USERNAME_PATTERN.fullmatch(by):
        raise PermissionDenied(f"the approver must be a data steward's username, got {by!r}")
    named = {m.username for m in app.members}
    try:
        registered = {m.username for m in registry.members(app.id, active_only=False)}
    except NotFoundError:  # not registered yet
        registered = set()
    if by in named | registered:
        raise PermissionDenied(
            f"{by!r} is a member of project {app.id!r} and cannot approve its permit (four-eyes): "
            "another data steward must approve it"
        )


def approve_permit(
    settings: Settings,
    application_path: str | Path,
    *,
    by: str,
    today: dt.date | None = None,
    contracts_dir: str | Path | None = None,
) -> PermitRecord:
    """Approve the application at ``application_path`` as data steward ``by``; see the module doc."""
    load, check, canonical, digest = _application_api()
    registry = open_registry(settings)
    audit = AuditLog(settings, registry=registry)
    try:
        app = load(application_path)
    except HdcUserError as exc:
        problems = len(getattr(exc, "problems", []))
        _refused(audit, by, None, "unreadable", {"file": Path(application_path).name, "problems": problems})
        raise
    try:
        check_approver(by, app, registry)
        sha = digest(app)
        current = _current_or_none(registry, app.id)
        if current is not None and current.sha256 == sha:
            return current
        run = check(app, contracts_dir=contracts_dir, today=today, for_provisioning=True)
        if not run.passed:
            failed = [c for c in run.checks if c.verdict in (Verdict.FAILED, Verdict.ERROR)]
            raise ApplicationError(
                f"application {app.id!r} fails {len(failed)} check(s) and cannot be approved",
                location=str(application_path),
                problems=[f"{c.key}: {c.message}" for c in failed],
            )
        with registry.write() as session:
            return _store(session, app, canonical(app), sha, by=by)
    except (PermissionDenied, ApplicationError, StateError) as exc:
        _refused(audit, by, app.id, type(exc).__name__, _refusal_details(exc))
        raise


def _current_or_none(registry: Registry, project_id: str) -> PermitRecord | None:
    with registry.read() as session:
        if session.get(Project, project_id) is None:
            return None
        permit = current_permit_in(session, project_id)
        return permit_record(session, permit) if permit else None


def _refusal_details(exc: HdcUserError) -> dict[str, Any]:
    if isinstance(exc, ApplicationError):
        return {"failed_checks": [p.split(":", 1)[0] for p in exc.problems]}
    return {"message": exc.message}


def _refused(audit: AuditLog, by: str, project: str | None, reason: str, details: dict[str, Any]) -> None:
    audit.append("permit.refused", actor=by or "?", project=project, details={"reason": reason, **details})


def _store(session: Session, app: Application, app_json: str, sha: str, *, by: str) -> PermitRecord:
    project = session.get(Project, app.id)
    if project is None:
        project = Project(id=app.id, title=app.title, state=lifecycle.INITIAL_STATE)
        session.add(project)
        session.flush()
        record(session, "project.submitted", actor=by, project=app.id, details={"state": project.state})
    previous = current_permit_in(session, app.id)
    if previous is not None and previous.sha256 == sha:  # approved meanwhile by another process
        return permit_record(session, previous)
    lifecycle.check_transition(project.state, lifecycle.APPROVED)
    permit = Permit(
        project_id=app.id,
        version=next_permit_version(session, app.id),
        application_json=app_json,
        sha256=sha,
        approved_by=by,
        supersedes=previous.id if previous else None,
    )
    session.add(permit)
    session.flush()
    _store_columns(session, permit, app)
    _sync_project(project, app)
    _sync_members(session, app)
    details = {
        "version": permit.version,
        "sha256": sha,
        "members": len(app.members),
        "columns": sum(len(c) for c in app.permitted_columns().values()),
    }
    if previous is None:
        record(session, "permit.approved", actor=by, project=app.id, details=details)
    else:
        details |= {"supersedes_version": previous.version, "supersedes_sha256": previous.sha256}
        record(session, "permit.amended", actor=by, project=app.id, details=details)
    transition_in(session, app.id, lifecycle.APPROVED, by=by, permit_version=permit.version)
    return permit_record(session, permit, created=True)


def _store_columns(session: Session, permit: Permit, app: Application) -> None:
    for dataset, columns in app.permitted_columns().items():
        for column in columns:
            granularity = str(getattr(g := app.granularity(dataset, column), "value", g))
            session.add(
                PermittedColumn(permit_id=permit.id, dataset=dataset, column=column, granularity=granularity)
            )


def _sync_project(project: Project, app: Application) -> None:
    project.title = app.title
    project.risk_profile = str(getattr(app.risk_profile, "value", app.risk_profile))
    budget = app.dp_budget
    project.dp_epsilon = budget.epsilon if budget else None
    project.dp_delta = budget.delta if budget else None
    project.start_date, project.end_date, project.deletion_date = (
        app.start_date,
        app.end_date,
        app.deletion_date,
    )


def _sync_members(session: Session, app: Application) -> None:
    """Members of the permit are active with its name and role; everyone else is deactivated."""
    existing = {m.username: m for m in session.scalars(select(Member).where(Member.project_id == app.id))}
    named = set()
    for m in app.members:
        role = str(getattr(m.role, "value", m.role))
        named.add(m.username)
        row = existing.get(m.username)
        if row is None:
            session.add(Member(project_id=app.id, username=m.username, name=m.name, role=role, active=True))
        else:
            row.name, row.role, row.active = m.name, role, True
    for username, row in existing.items():
        if username not in named:
            row.active = False
