"""The project registry: projects, members, permits, permitted columns, releases and the audit head.

SQLAlchemy 2 typed declarative models plus one repository object, :class:`Registry`, that the rest of
the toolkit uses. The database is the embedded SQLite file under ``HDC_HOME`` unless
``HDC_DATABASE_URL`` names another (``postgresql+psycopg://user@host/db`` in production; a plain
``postgresql://`` URL is taken to mean the psycopg 3 driver).

The schema belongs to the Alembic migrations in :mod:`hdc_toolkit.projects.migrations`;
:func:`open_registry` upgrades the database to head on first use. Later parts (privacy budget ledger,
output requests) declare their models on :class:`Base` and add a migration file.

Concurrency. Every write goes through :meth:`Registry.write`, one transaction that first takes the
registry's write lock: ``BEGIN IMMEDIATE`` on SQLite (with WAL and a busy timeout), a
transaction-scoped advisory lock on PostgreSQL. Writers are serialised across processes, readers are
not blocked, and migrations take the same lock, so two processes opening a fresh database at once is
safe. Audit entries recorded inside a write transaction are appended to the audit log file just
before that transaction commits (see :mod:`hdc_toolkit.audit`). Do not nest ``write()`` calls.

Methods return frozen record dataclasses, never live ORM objects. Unknown ids raise
:class:`~hdc_toolkit.exceptions.NotFoundError`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import HdcInternalError, MissingExtraError, NotFoundError, StateError
from hdc_toolkit.projects import lifecycle
from hdc_toolkit.projects.vocabularies import ROLES

__all__ = [
    "GENESIS_HASH",
    "RELEASE_STATES",
    "AuditHead",
    "Base",
    "Member",
    "MemberRecord",
    "Permit",
    "PermitRecord",
    "PermittedColumn",
    "Project",
    "ProjectRecord",
    "Registry",
    "Release",
    "ReleaseRecord",
    "current_permit_in",
    "dispose_engines",
    "engine_for",
    "get_project_in",
    "next_permit_version",
    "normalise_url",
    "open_registry",
    "permit_record",
    "take_write_lock",
    "transition_in",
]

_R = TypeVar("_R")
GENESIS_HASH = "0" * 64
RELEASE_STATES: tuple[str, ...] = ("released", "revoked", "deleted")
SQLITE_BUSY_TIMEOUT_MS = 60_000
# pg_advisory_xact_lock key of the registry's write lock (ASCII "hdcreg").
PG_WRITE_LOCK_KEY = 0x686463726567

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("registry timestamps must be timezone-aware")
        return None if value is None else value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return (
            value.replace(tzinfo=dt.timezone.utc)
            if value.tzinfo is None
            else value.astimezone(dt.timezone.utc)
        )


class Base(DeclarativeBase):
    """Declarative base of every registry table (later parts add theirs here, with a migration)."""

    metadata = MetaData(naming_convention=_NAMING)


def _in(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (CheckConstraint(f"state IN ({_in(lifecycle.STATES)})", name="state"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=lifecycle.INITIAL_STATE)
    risk_profile: Mapped[str | None] = mapped_column(String(64))
    dp_epsilon: Mapped[float | None] = mapped_column(Float)
    dp_delta: Mapped[float | None] = mapped_column(Float)
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    deletion_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow, onupdate=_utcnow)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("project_id", "username"),
        CheckConstraint(f"role IN ({_in(ROLES)})", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)


class Permit(Base):
    __tablename__ = "permits"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    application_json: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    approved_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
    supersedes: Mapped[int | None] = mapped_column(ForeignKey("permits.id"))


class PermittedColumn(Base):
    __tablename__ = "permitted_columns"
    __table_args__ = (UniqueConstraint("permit_id", "dataset", "column"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permits.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(128))
    column: Mapped[str] = mapped_column(String(128))
    granularity: Mapped[str] = mapped_column(String(32))


class Release(Base):
    __tablename__ = "releases"
    __table_args__ = (CheckConstraint(f"state IN ({_in(RELEASE_STATES)})", name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    permit_sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
    state: Mapped[str] = mapped_column(String(16), default="released")


class AuditHead(Base):
    """One row (id 1): the audit log's last hash and entry count, so a cut tail is detected."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    head_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    entry_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow, onupdate=_utcnow)


# ---------------------------------------------------------------- records returned to callers


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    title: str
    state: str
    risk_profile: str | None
    dp_epsilon: float | None
    dp_delta: float | None
    start_date: dt.date | None
    end_date: dt.date | None
    deletion_date: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class MemberRecord:
    project_id: str
    username: str
    name: str
    role: str
    active: bool


@dataclass(frozen=True)
class PermitRecord:
    """One permit version. ``created`` is True only on the record returned by the call that made it."""

    project_id: str
    version: int
    sha256: str
    approved_by: str
    approved_at: dt.datetime
    supersedes: int | None  # the version this one replaced (None for version 1)
    application_json: str = field(repr=False)
    created: bool = field(default=False, compare=False)

    @property
    def application(self) -> dict[str, Any]:
        """The approved application, parsed from its canonical JSON."""
        parsed: dict[str, Any] = json.loads(self.application_json)
        return parsed


@dataclass(frozen=True)
class ReleaseRecord:
    id: int
    project_id: str
    permit_sha256: str
    path: str
    manifest_sha256: str
    created_at: dt.datetime
    state: str


def _snapshot(cls: type[_R], row: Base, **override: Any) -> _R:
    """A frozen record of ``row``: every field of ``cls`` read from the row unless overridden."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    return cls(**{n: override[n] if n in override else getattr(row, n) for n in names})


def _project_record(p: Project) -> ProjectRecord:
    return _snapshot(ProjectRecord, p)


def _member_record(m: Member) -> MemberRecord:
    return _snapshot(MemberRecord, m)


def _release_record(r: Release) -> ReleaseRecord:
    return _snapshot(ReleaseRecord, r)


def permit_record(session: Session, p: Permit, *, created: bool = False) -> PermitRecord:
    """The record of a permit row (resolving ``supersedes`` to a version number)."""
    superseded = session.get(Permit, p.supersedes) if p.supersedes is not None else None
    return _snapshot(PermitRecord, p, supersedes=superseded.version if superseded else None, created=created)


# ---------------------------------------------------------------- engines


_ENGINES: dict[str, Engine] = {}
_MIGRATED: set[str] = set()
_ENGINES_LOCK = threading.Lock()
_WRITING = threading.local()


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver."""
    u = make_url(str(url) if isinstance(url, URL) else url.replace("postgres://", "postgresql://", 1))
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return u


def engine_for(url: str | URL) -> Engine:
    """The process-wide engine for ``url`` (created on first use; reset after ``fork``)."""
    u = normalise_url(url)
    key = u.render_as_string(hide_password=False)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _create_engine(u)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection this process holds (tests call it before dropping a database)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _MIGRATED.clear()


def _forget_engines_after_fork() -> None:
    for engine in _ENGINES.values():
        engine.dispose(close=False)
    _ENGINES.clear()
    _MIGRATED.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_engines_after_fork)


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql" and url.get_driver_name() == "psycopg":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtraError("postgres", "psycopg") from None
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over BEGIN from the sqlite3 module so that writers can BEGIN IMMEDIATE and DDL is transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("hdc_write") else "BEGIN")


def take_write_lock(conn: Any) -> None:
    """Serialise writers: PostgreSQL advisory lock (SQLite already holds BEGIN IMMEDIATE's lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_WRITE_LOCK_KEY})


# ---------------------------------------------------------------- the repository


class Registry:
    """The registry of one database. Get one with :func:`open_registry`."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    # -- sessions

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One serialised write transaction; audit entries recorded in it are appended at commit."""
        if getattr(_WRITING, "active", False):
            raise HdcInternalError("Registry.write() is not re-entrant: pass the session down instead")
        _WRITING.active = True
        try:
            with Session(self.engine.execution_options(hdc_write=True), expire_on_commit=False) as session:
                session.info["hdc_write"] = True
                try:
                    take_write_lock(session.connection())
                    yield session
                    session.flush()
                    from hdc_toolkit.audit import commit_with_audit

                    commit_with_audit(session, self.settings.audit_log)
                except BaseException:
                    session.rollback()
                    raise
        finally:
            _WRITING.active = False

    # -- projects

    def get_project(self, project_id: str) -> ProjectRecord:
        with self.read() as s:
            return _project_record(_project(s, project_id))

    def list_projects(self, *, state: str | None = None) -> list[ProjectRecord]:
        with self.read() as s:
            stmt = select(Project).order_by(Project.id)
            if state is not None:
                stmt = stmt.where(Project.state == lifecycle.check_state(state))
            return [_project_record(p) for p in s.scalars(stmt)]

    def add_project(self, project_id: str, *, title: str, by: str, **attributes: Any) -> ProjectRecord:
        """Register a project in the ``submitted`` state (``attributes``: risk_profile, dp_*, *_date)."""
        from hdc_toolkit.audit import record

        with self.write() as s:
            if s.get(Project, project_id) is not None:
                raise StateError(f"project {project_id!r} is already registered")
            project = Project(id=project_id, title=title, state=lifecycle.INITIAL_STATE, **attributes)
            s.add(project)
            s.flush()
            record(s, "project.submitted", actor=by, project=project_id, details={"state": project.state})
            return _project_record(project)

    def transition(
        self, project_id: str, new_state: str, *, by: str, details: dict[str, Any] | None = None
    ) -> ProjectRecord:
        """Move a project to ``new_state`` (lifecycle rules apply) and record it in the audit log.

        A project becomes ``approved`` only with a permit version, through
        :func:`hdc_toolkit.projects.permit.approve_permit`; asking for it here raises :class:`StateError`.
        """
        with self.write() as s:
            return _project_record(transition_in(s, project_id, new_state, by=by, details=details))

    # -- people

    def members(self, project_id: str, active_only: bool = True) -> list[MemberRecord]:
        with self.read() as s:
            _project(s, project_id)
            stmt = select(Member).where(Member.project_id == project_id).order_by(Member.username)
            if active_only:
                stmt = stmt.where(Member.active.is_(True))
            return [_member_record(m) for m in s.scalars(stmt)]

    def projects_of(self, username: str) -> list[ProjectRecord]:
        """The projects ``username`` is an active member of."""
        with self.read() as s:
            stmt = (
                select(Project)
                .join(Member, Member.project_id == Project.id)
                .where(Member.username == username, Member.active.is_(True))
                .order_by(Project.id)
            )
            return [_project_record(p) for p in s.scalars(stmt)]

    # -- permits

    def current_permit(self, project_id: str) -> PermitRecord:
        """The newest permit version; :class:`NotFoundError` if the project has none."""
        with self.read() as s:
            permit = current_permit_in(s, project_id)
            if permit is None:
                raise NotFoundError(f"project {project_id!r} has no approved permit")
            return permit_record(s, permit)

    def permits(self, project_id: str) -> list[PermitRecord]:
        """Every permit version of a project, oldest first."""
        with self.read() as s:
            _project(s, project_id)
            stmt = select(Permit).where(Permit.project_id == project_id).order_by(Permit.version)
            return [permit_record(s, p) for p in s.scalars(stmt)]

    def permitted_columns(self, project_id: str) -> dict[str, dict[str, str]]:
        """``{dataset: {column: granularity}}`` of the current permit."""
        with self.read() as s:
            permit = current_permit_in(s, project_id)
            if permit is None:
                raise NotFoundError(f"project {project_id!r} has no approved permit")
            out: dict[str, dict[str, str]] = {}
            rows = s.scalars(
                select(PermittedColumn)
                .where(PermittedColumn.permit_id == permit.id)
                .order_by(PermittedColumn.id)  # the data request's order
            )
            for row in rows:
                out.setdefault(row.dataset, {})[row.column] = row.granularity
            return out

    # -- releases

    def record_release(
        self,
        project_id: str,
        *,
        permit_sha256: str,
        path: str | os.PathLike[str],
        manifest_sha256: str,
        by: str,
        state: str = "released",
    ) -> ReleaseRecord:
        """Record a data release made from the project's *current* permit, and audit it."""
        from hdc_toolkit.audit import record

        if state not in RELEASE_STATES:
            raise ValueError(f"release state must be one of {', '.join(RELEASE_STATES)}, got {state!r}")
        with self.write() as s:
            permit = current_permit_in(s, project_id)
            if permit is None or permit.sha256 != permit_sha256:
                current = permit.sha256[:12] if permit else "none"
                raise StateError(
                    f"release for project {project_id!r} names permit {permit_sha256[:12]}…, "
                    f"but the current permit is {current}: provision from the current permit"
                )
            release = Release(
                project_id=project_id,
                permit_sha256=permit_sha256,
                path=str(path),
                manifest_sha256=manifest_sha256,
                state=state,
            )
            s.add(release)
            s.flush()
            record(
                s,
                "release.recorded",
                actor=by,
                project=project_id,
                details={
                    "release_id": release.id,
                    "permit_sha256": permit_sha256,
                    "manifest_sha256": manifest_sha256,
                    "state": state,
                },
            )
            return _release_record(release)

    def releases(self, project_id: str) -> list[ReleaseRecord]:
        with self.read() as s:
            _project(s, project_id)
            stmt = select(Release).where(Release.project_id == project_id).order_by(Release.id)
            return [_release_record(r) for r in s.scalars(stmt)]

    # -- audit head

    def audit_head(self) -> tuple[str, int]:
        """``(head_hash, entry_count)`` of the audit log as last committed."""
        with self.read() as s:
            head = s.get(AuditHead, 1)
            return (head.head_hash, head.entry_count) if head else (GENESIS_HASH, 0)


# ---------------------------------------------------------------- helpers usable inside write()


def _project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFoundError(f"no project {project_id!r} in the registry")
    return project


def get_project_in(session: Session, project_id: str) -> Project:
    """The project row, or :class:`NotFoundError`."""
    return _project(session, project_id)


def current_permit_in(session: Session, project_id: str) -> Permit | None:
    """The newest permit row of a known project (None if it has none)."""
    _project(session, project_id)
    stmt = select(Permit).where(Permit.project_id == project_id).order_by(Permit.version.desc()).limit(1)
    return session.scalars(stmt).first()


def next_permit_version(session: Session, project_id: str) -> int:
    latest = session.scalar(select(func.max(Permit.version)).where(Permit.project_id == project_id))
    return (latest or 0) + 1


def transition_in(
    session: Session,
    project_id: str,
    new_state: str,
    *,
    by: str,
    details: dict[str, Any] | None = None,
    permit_version: int | None = None,
) -> Project:
    """Apply a lifecycle transition inside a write session and record it in the audit log.

    Entering ``approved`` (first approval or amendment) needs the ``permit_version`` that justifies it.
    """
    from hdc_toolkit.audit import record

    project = _project(session, project_id)
    old = project.state
    lifecycle.check_transition(old, new_state)
    if new_state == lifecycle.APPROVED and permit_version is None:
        raise StateError(
            f"project {project_id!r} becomes 'approved' only by approving a permit version "
            "(hdc permit approve), not by a bare transition"
        )
    if permit_version is not None:
        details = {**(details or {}), "permit_version": permit_version}
    project.state = new_state
    project.updated_at = _utcnow()
    session.flush()
    record(
        session,
        "project.transition",
        actor=by,
        project=project_id,
        details={"from": old, "to": new_state, **(details or {})},
    )
    return project


def open_registry(settings: Settings) -> Registry:
    """The registry at ``settings.database_url``, upgraded to the newest schema on first use."""
    from hdc_toolkit.projects.migrations import upgrade_to_head

    engine = engine_for(settings.database_url)
    key = engine.url.render_as_string(hide_password=False)
    if key not in _MIGRATED:
        upgrade_to_head(engine)
        _MIGRATED.add(key)
    return Registry(settings, engine)
