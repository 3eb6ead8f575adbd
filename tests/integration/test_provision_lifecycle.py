"""The project's life around its release: a failed gate, an amendment, closing and deleting."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import NotFoundError, StateError
from hdc_toolkit.projects.closure import close_project, delete_project
from hdc_toolkit.projects.provision import ReleaseRefused, provision

APPROVAL_DAY = dt.date(2026, 12, 1)
PROJECT = "p2026-001-diabetes"


def demo_extract(factory: pytest.TempPathFactory, defect_rate: float = 0.0) -> Path:
    """The session's demo extract (3000 patients, seed 7), generated once and shared by the modules."""
    from hdc_toolkit.demo import generate_extract

    path = factory.getbasetemp() / f"provision-extract-3000-7-{defect_rate}"
    if not path.exists():
        generate_extract(path, patients=3000, seed=7, defect_rate=defect_rate)
    return path


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"clean": demo_extract(tmp_path_factory), "defective": demo_extract(tmp_path_factory, 0.02)}


def approve(settings: Settings, application: Path, **changes: Any) -> None:
    from hdc_toolkit.projects.permit import approve_permit

    if changes:
        data = yaml.safe_load(application.read_text())
        data.update(changes)
        application.write_text(yaml.safe_dump(data, sort_keys=False))
    approve_permit(settings, application, by="steward1", today=APPROVAL_DAY)


def audit_actions(settings: Settings) -> list[str]:
    from hdc_toolkit.audit import AuditLog

    log = AuditLog(settings)
    assert log.verify().passed
    return [e["action"] for e in log.entries(project=PROJECT)]


def test_a_failed_gate_releases_nothing(
    sqlite_settings: Settings, demo_application: Path, extracts: dict[str, Path]
) -> None:
    from hdc_toolkit.projects.registry import open_registry

    approve(sqlite_settings, demo_application)
    with pytest.raises(ReleaseRefused) as caught:
        provision(sqlite_settings, PROJECT, extracts["defective"], by="steward1")
    err = caught.value
    assert err.exit_code == 1 and "nothing was released" in err.message
    failed = {c.key for c in err.run.checks if c.verdict.value == "failed"}
    assert {
        "prescriptions.ddd.range",
        "lab_results.unit.allowed_values",
        "diagnoses.icd10_code.pattern",
    } <= failed, failed
    assert any(p.startswith("prescriptions.ddd.range: ") for p in err.problems)
    root = sqlite_settings.projects_dir / PROJECT
    assert not (root / "data").exists() and not [p for p in root.iterdir() if p.name.startswith(".data.")]
    assert err.report is not None and err.report.parent == sqlite_settings.home / "reports" / PROJECT
    assert (
        stat.S_IMODE(err.report.stat().st_mode) == 0o600
        and json.loads(err.report.read_text())["passed"] is False
    )
    registry = open_registry(sqlite_settings)
    assert registry.get_project(PROJECT).state == "approved" and registry.releases(PROJECT) == []
    actions = audit_actions(sqlite_settings)
    assert actions[-2:] == ["provision.started", "provision.refused"]
    # the clean extract then goes through
    assert provision(sqlite_settings, PROJECT, extracts["clean"], by="steward1").state == "released"


def test_an_amended_permit_is_provisioned_again_and_replaces_the_release(
    sqlite_settings: Settings, demo_application: Path, extracts: dict[str, Path]
) -> None:
    from hdc_toolkit.projects.registry import open_registry

    approve(sqlite_settings, demo_application)
    first = provision(sqlite_settings, PROJECT, extracts["clean"], by="steward1")
    data = sqlite_settings.projects_dir / PROJECT / "data"
    assert {d.day for d in pq.read_table(data / "patients").column("birth_date").to_pylist()} == {1}
    # amendment: birth date by year only (a new permit version puts the project back to approved)
    request = demo_application.parent / "data_request.yaml"
    text = request.read_text().replace(
        "birth_date\n        justification: Age at diagnosis for incidence by age group and adjustment in outcome models.\n"
        "        identifiability: coarsened\n        granularity: month",
        "birth_date\n        justification: Age at diagnosis for incidence by age group and adjustment in outcome models.\n"
        "        identifiability: coarsened\n        granularity: year",
    )
    assert "granularity: year" in text
    request.write_text(text)
    approve(sqlite_settings, demo_application)
    registry = open_registry(sqlite_settings)
    assert registry.get_project(PROJECT).state == "approved"
    with pytest.raises(StateError):  # the old release does not count for the new permit
        close_project(sqlite_settings, PROJECT, by="steward1")
    second = provision(sqlite_settings, PROJECT, extracts["clean"], by="steward1")
    assert second.id != first.id
    assert [(r.id, r.state) for r in registry.releases(PROJECT)] == [
        (first.id, "revoked"),
        (second.id, "released"),
    ]
    births = pq.read_table(data / "patients").column("birth_date").to_pylist()
    assert {(d.month, d.day) for d in births} == {(1, 1)}
    assert json.loads((data / "manifest.json").read_text())["permit"]["version"] == 2
    assert not [p for p in data.parent.iterdir() if p.name.startswith(".data.")]


def test_close_then_delete_with_attestation(
    settings: Settings, demo_application: Path, extracts: dict[str, Path]
) -> None:
    """On both registry backends: close revokes and archives, delete waits for the deletion date."""
    from hdc_toolkit.projects.registry import open_registry

    approve(settings, demo_application)
    release = provision(settings, PROJECT, extracts["clean"], by="steward1")
    root = settings.projects_dir / PROJECT
    (root / "work" / "analysis.py").write_text("print('hello')\n")
    manifest = json.loads((root / "data" / "manifest.json").read_text())
    with pytest.raises(StateError, match="only a closed project"):
        delete_project(settings, PROJECT, by="steward1", today=dt.date(2030, 1, 1))

    closed = close_project(settings, PROJECT, by="steward1")
    registry = open_registry(settings)
    assert closed.state == "closed" and registry.members(PROJECT) == []
    for path in [root, *root.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path  # nothing for group or others
    with pytest.raises(StateError):
        close_project(settings, PROJECT, by="steward1")
    with pytest.raises(StateError, match="on or after its deletion date 2029-12-31"):
        delete_project(settings, PROJECT, by="steward1", today=dt.date(2029, 12, 30))
    assert root.exists()

    att = delete_project(settings, PROJECT, by="steward2", today=dt.date(2029, 12, 31))
    assert not root.exists() and not (settings.keys_dir / f"{PROJECT}.key").exists()
    assert att.path == settings.home / "attestations" / f"{PROJECT}-deletion.json"
    content = json.loads(att.path.read_text())
    assert content == att.content and content["status"] == "completed" and content["deleted_by"] == "steward2"
    listed = {f["path"]: f for f in content["files"]}
    for name, entry in manifest["files"].items():
        assert (
            listed[f"data/{name}"]["sha256"] == entry["sha256"] and listed[f"data/{name}"]["matches_manifest"]
        )
    assert "work/analysis.py" in listed and content["key"]["destroyed"] is True
    assert content["releases"][0]["manifest_sha256"] == release.manifest_sha256
    assert content["permit"]["sha256"] == registry.current_permit(PROJECT).sha256
    assert registry.get_project(PROJECT).state == "deleted"
    assert [r.state for r in registry.releases(PROJECT)] == ["deleted"]
    actions = audit_actions(settings)
    assert actions[-5:] == [
        "project.transition",
        "project.closed",
        "project.transition",
        "project.deleted",
        "project.transition",
    ]
    from hdc_toolkit.audit import AuditLog

    [deleted] = [e for e in AuditLog(settings).entries(project=PROJECT) if e["action"] == "project.deleted"]
    assert deleted["details"]["attestation_sha256"] == att.sha256 and deleted["details"][
        "files_deleted"
    ] == len(listed)
    with pytest.raises(StateError):
        delete_project(settings, PROJECT, by="steward2", today=dt.date(2030, 1, 1))


def test_refusals(sqlite_settings: Settings, demo_application: Path, extracts: dict[str, Path]) -> None:
    with pytest.raises(NotFoundError, match="not a valid project id"):
        provision(sqlite_settings, "../etc", extracts["clean"], by="steward1")
    with pytest.raises(NotFoundError, match="no project 'p2099-x'"):
        provision(sqlite_settings, "p2099-x", extracts["clean"], by="steward1")
    approve(sqlite_settings, demo_application)
    with pytest.raises(NotFoundError, match="does not exist"):
        provision(sqlite_settings, PROJECT, extracts["clean"].parent / "nowhere", by="steward1")
    with pytest.raises(StateError, match="ended on 2029-06-30"):
        provision(sqlite_settings, PROJECT, extracts["clean"], by="steward1", today=dt.date(2029, 7, 1))
    assert not (sqlite_settings.projects_dir / "etc").exists()
