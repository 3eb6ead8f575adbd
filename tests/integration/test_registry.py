"""The registry, migrations and permits on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import ApplicationError, NotFoundError, PermissionDenied, StateError
from hdc_toolkit.projects import migrations
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import Base, engine_for, normalise_url, open_registry

PROJECT = "p2026-001-diabetes"
TABLES = {"projects", "members", "permits", "permitted_columns", "releases", "audit_head"}


def edit(path: Path, change: Any, file: str = "project.yaml") -> None:
    target = path.parent / file
    data = yaml.safe_load(target.read_text())
    change(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def actions(settings: Settings, project: str | None = PROJECT) -> list[str]:
    return [e["action"] for e in AuditLog(settings).entries(project=project)]


@pytest.fixture
def approve(settings: Settings, approval_day: dt.date, demo_application: Path) -> Any:
    def run(by: str = "steward1", path: Path = demo_application) -> Any:
        return approve_permit(settings, path, by=by, today=approval_day)

    return run


# ---------------------------------------------------------------- urls and migrations


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:////tmp/x.sqlite", "sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg3(given: str, driver: str) -> None:
    assert normalise_url(given).drivername == driver


def test_migrations_build_the_schema_of_the_models(settings: Settings) -> None:
    registry = open_registry(settings)
    engine = registry.engine
    assert TABLES | {migrations.VERSION_TABLE} <= set(inspect(engine).get_table_names())
    assert migrations.current_revision(engine) == migrations.head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": migrations.VERSION_TABLE}
        )
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if not _later_table(d)]
    assert diffs == []
    assert registry.audit_head() == ("0" * 64, 0)


#: Modules that add their tables to ``registry.Base`` (each with its own migration).
MODEL_MODULES = ("hdc_toolkit.outputs.models", "hdc_toolkit.privacy.models")


def _later_table(diff: Any) -> bool:
    """Import every model module, so the comparison covers all migrations; nothing is filtered."""
    return False


for _module in MODEL_MODULES:
    importlib.import_module(_module)


def test_upgrade_is_idempotent_and_downgrade_works(settings: Settings) -> None:
    engine = engine_for(settings.database_url)
    migrations.upgrade_to_head(engine)
    migrations.upgrade_to_head(engine)  # already at head: nothing to do
    cfg = migrations.alembic_config()
    with engine.execution_options(hdc_write=True).connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    migrations.upgrade_to_head(engine)
    assert TABLES <= set(inspect(engine).get_table_names())


# ---------------------------------------------------------------- projects and lifecycle


def test_unknown_ids_raise_not_found(settings: Settings) -> None:
    registry = open_registry(settings)
    for call in (
        lambda: registry.get_project("nope"),
        lambda: registry.members("nope"),
        lambda: registry.current_permit("nope"),
        lambda: registry.permits("nope"),
        lambda: registry.permitted_columns("nope"),
        lambda: registry.releases("nope"),
        lambda: registry.transition("nope", "approved", by="x"),
        lambda: registry.record_release(
            "nope", permit_sha256="0" * 64, path="x", manifest_sha256="0" * 64, by="x"
        ),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert registry.projects_of("nobody") == []
    assert registry.list_projects() == []


def test_lifecycle_through_the_registry_is_audited(settings: Settings, approve: Any) -> None:
    approve()
    registry = open_registry(settings)
    for state in ("provisioned", "active", "closed", "deleted"):
        assert registry.transition(PROJECT, state, by="steward1").state == state
    with pytest.raises(StateError, match="'deleted' to 'approved'"):
        registry.transition(PROJECT, "approved", by="steward1")
    with pytest.raises(StateError, match="'deleted' to 'closed'.*none \\(final state\\)"):
        registry.transition(PROJECT, "closed", by="steward1")
    assert registry.get_project(PROJECT).state == "deleted"
    transitions = [
        (e["details"]["from"], e["details"]["to"], e["actor"])
        for e in AuditLog(settings).entries(project=PROJECT)
        if e["action"] == "project.transition"
    ]
    assert transitions == [
        ("submitted", "approved", "steward1"),
        ("approved", "provisioned", "steward1"),
        ("provisioned", "active", "steward1"),
        ("active", "closed", "steward1"),
        ("closed", "deleted", "steward1"),
    ]
    assert [p.id for p in registry.list_projects(state="deleted")] == [PROJECT]
    assert AuditLog(settings).verify().passed


def test_approved_is_entered_only_with_a_permit(settings: Settings, approve: Any) -> None:
    registry = open_registry(settings)
    registry.add_project("demo", title="Demo", by="alice")
    with pytest.raises(StateError, match="already registered"):
        registry.add_project("demo", title="Demo", by="alice")
    with pytest.raises(StateError, match="only by approving a permit"):
        registry.transition("demo", "approved", by="steward1")
    with pytest.raises(StateError, match="'submitted' to 'active'"):
        registry.transition("demo", "active", by="steward1")
    approve()
    registry.transition(PROJECT, "provisioned", by="steward1")
    with pytest.raises(StateError, match="only by approving a permit"):  # an amendment needs a new permit
        registry.transition(PROJECT, "approved", by="steward1")
    assert registry.get_project("demo").state == "submitted"
    assert registry.get_project(PROJECT).state == "provisioned"
    assert AuditLog(settings).verify().passed


def test_timestamps_are_utc_aware(settings: Settings) -> None:
    project = open_registry(settings).add_project("demo", title="Demo", by="alice")
    assert project.created_at.tzinfo is not None and project.created_at.utcoffset() == dt.timedelta(0)


# ---------------------------------------------------------------- permits


def test_approval_creates_permit_v1_members_and_columns(settings: Settings, approve: Any) -> None:
    permit = approve()
    assert (permit.project_id, permit.version, permit.supersedes, permit.created) == (PROJECT, 1, None, True)
    assert permit.approved_by == "steward1" and len(permit.sha256) == 64
    assert permit.application["id"] == PROJECT
    registry = open_registry(settings)
    project = registry.get_project(PROJECT)
    assert project.state == "approved"
    assert (project.dp_epsilon, project.dp_delta, project.risk_profile) == (3.0, 1e-6, "acro-default")
    assert (project.start_date, project.deletion_date) == (dt.date(2027, 1, 4), dt.date(2029, 12, 31))
    members = {m.username: m.role for m in registry.members(PROJECT)}
    assert members == {
        "ingberg": "project_leader",
        "magnil": "researcher",
        "sarhau": "researcher",
        "perlie": "data_steward",
        "karmoe": "output_checker",
    }
    assert [p.id for p in registry.projects_of("magnil")] == [PROJECT]
    columns = registry.permitted_columns(PROJECT)
    assert columns["patients"] == {
        "birth_date": "month",
        "sex": "as_is",
        "municipality": "county",
        "death_date": "month",
    }
    assert list(columns) == ["patients", "episodes", "diagnoses", "prescriptions", "lab_results"]
    assert registry.current_permit(PROJECT) == permit
    assert actions(settings) == ["project.submitted", "permit.approved", "project.transition"]


def test_approving_an_unchanged_application_is_a_no_op(settings: Settings, approve: Any) -> None:
    first = approve()
    log_before = AuditLog(settings).path.read_bytes()
    again = approve(by="steward2")
    assert again == first and again.created is False and again.approved_by == "steward1"
    assert AuditLog(settings).path.read_bytes() == log_before
    assert [p.version for p in open_registry(settings).permits(PROJECT)] == [1]


def test_amendment_creates_a_new_version_and_sends_the_project_back(
    settings: Settings, approve: Any, demo_application: Path
) -> None:
    v1 = approve()
    registry = open_registry(settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    registry.transition(PROJECT, "active", by="steward1")

    def amend(data: dict) -> None:
        data["members"] = [m for m in data["members"] if m["username"] != "sarhau"]

    edit(demo_application, amend)
    edit(demo_application, lambda d: d["datasets"][0]["variables"].pop(), file="data_request.yaml")
    v2 = approve(by="steward2")
    assert (v2.version, v2.supersedes, v2.created, v2.approved_by) == (2, 1, True, "steward2")
    assert v2.sha256 != v1.sha256
    assert registry.get_project(PROJECT).state == "approved"
    assert registry.current_permit(PROJECT) == v2
    assert [p.version for p in registry.permits(PROJECT)] == [1, 2]
    assert "death_date" not in registry.permitted_columns(PROJECT)["patients"]
    assert "sarhau" not in {m.username for m in registry.members(PROJECT)}
    assert {m.username: m.active for m in registry.members(PROJECT, active_only=False)}["sarhau"] is False
    assert registry.projects_of("sarhau") == []
    amended = [e for e in AuditLog(settings).entries(project=PROJECT) if e["action"] == "permit.amended"]
    assert amended[0]["details"]["supersedes_version"] == 1
    assert actions(settings)[-2:] == ["permit.amended", "project.transition"]
    # a date change is an amendment too, from "approved" (approved -> approved)
    edit(demo_application, lambda d: d.update(end_date=dt.date(2029, 5, 31)))
    assert approve().version == 3
    assert AuditLog(settings).verify().passed


def test_four_eyes_refuses_a_member(settings: Settings, approve: Any, demo_application: Path) -> None:
    with pytest.raises(PermissionDenied, match="four-eyes"):
        approve(by="perlie")  # the project's own data steward
    assert actions(settings) == ["permit.refused"]
    # a former member cannot approve an amendment either
    approve()
    edit(demo_application, lambda d: d.update(members=[m for m in d["members"] if m["username"] != "karmoe"]))
    with pytest.raises(PermissionDenied):
        approve(by="karmoe")
    assert open_registry(settings).current_permit(PROJECT).version == 1


@pytest.mark.parametrize("by", ["", "Not A Username", "x" * 40])
def test_invalid_approver_is_refused(settings: Settings, approve: Any, by: str) -> None:
    with pytest.raises(PermissionDenied):
        approve(by=by)


def test_pending_approval_is_refused(settings: Settings, approve: Any, demo_application: Path) -> None:
    def pending(data: dict) -> None:
        data["approvals"][0]["status"] = "pending"

    edit(demo_application, pending)
    with pytest.raises(ApplicationError) as info:
        approve()
    assert any(p.startswith("application.approvals.status") for p in info.value.problems)
    refused = AuditLog(settings).entries(project=PROJECT)
    assert [e["action"] for e in refused] == ["permit.refused"]
    assert "application.approvals.status" in refused[0]["details"]["failed_checks"]
    with pytest.raises(NotFoundError):
        open_registry(settings).get_project(PROJECT)


def test_unreadable_application_is_refused_and_audited(
    settings: Settings, approve: Any, tmp_path: Path
) -> None:
    with pytest.raises(ApplicationError):
        approve(path=tmp_path / "missing" / "project.yaml")
    [entry] = AuditLog(settings).entries()
    assert entry["action"] == "permit.refused" and entry["project"] is None


def test_closed_project_cannot_be_amended(settings: Settings, approve: Any, demo_application: Path) -> None:
    approve()
    registry = open_registry(settings)
    for state in ("provisioned", "active", "closed"):
        registry.transition(PROJECT, state, by="steward1")
    edit(demo_application, lambda d: d.update(title="A new title for a closed project"))
    with pytest.raises(StateError, match="'closed' to 'approved'"):
        approve()
    assert registry.current_permit(PROJECT).version == 1
    assert actions(settings)[-1] == "permit.refused"
    assert AuditLog(settings).verify().passed


# ---------------------------------------------------------------- releases and the audit head


def test_releases_must_come_from_the_current_permit(
    settings: Settings, approve: Any, demo_application: Path
) -> None:
    v1 = approve()
    registry = open_registry(settings)
    release = registry.record_release(
        PROJECT, permit_sha256=v1.sha256, path="/releases/r1", manifest_sha256="a" * 64, by="steward1"
    )
    assert (release.project_id, release.state, release.path) == (PROJECT, "released", "/releases/r1")
    assert registry.releases(PROJECT) == [release]
    edit(demo_application, lambda d: d.update(title="Amended title of the diabetes study"))
    approve()
    with pytest.raises(StateError, match="current permit"):
        registry.record_release(
            PROJECT, permit_sha256=v1.sha256, path="/r2", manifest_sha256="b" * 64, by="s"
        )
    with pytest.raises(ValueError):
        registry.record_release(
            PROJECT, permit_sha256=v1.sha256, path="/r2", manifest_sha256="b" * 64, by="s", state="bogus"
        )
    assert "release.recorded" in actions(settings)


def test_audit_head_in_the_registry_detects_truncation(settings: Settings, approve: Any) -> None:
    approve()
    log = AuditLog(settings)
    lines = log.path.read_text().splitlines(keepends=True)
    assert open_registry(settings).audit_head()[1] == len(lines) == 3
    log.path.write_text("".join(lines[:-1]))
    run = log.verify()
    assert not run.passed and run.by_key()["audit.head"].verdict.value == "failed"
