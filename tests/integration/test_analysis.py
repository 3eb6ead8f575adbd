"""``open_table`` on a really provisioned project: the permit is enforced, refusals are audited.

The project is the example application (``demo_application``) approved with ``approve_permit`` and
provisioned from a small demo extract. Reading and refusing run on both registry backends (SQLite and
PostgreSQL); the checks that do not depend on the backend run on SQLite only. The data request is
trimmed first: no ``lab_results`` dataset, so that table is outside the permit.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import dask
import pytest
import yaml

from hdc_toolkit.analysis import code_filter, describe_tables, open_table
from hdc_toolkit.audit import AuditLog
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import DataError, NotFoundError, PermissionDenied

PROJECT = "p2026-001-diabetes"


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hdc_toolkit.demo import generate_extract

    out = tmp_path_factory.mktemp("analysis") / "extract"
    generate_extract(out, patients=3000, seed=7)
    return out


def trim_request(
    project_yaml: Path, *, drop_dataset: str | None = None, drop_variable: tuple[str, str] | None = None
) -> None:
    request = project_yaml.parent / "data_request.yaml"
    doc = yaml.safe_load(request.read_text())
    if drop_dataset:
        doc["datasets"] = [d for d in doc["datasets"] if d["dataset"] != drop_dataset]
    if drop_variable:
        for d in doc["datasets"]:
            if d["dataset"] == drop_variable[0]:
                d["variables"] = [v for v in d["variables"] if v["name"] != drop_variable[1]]
    request.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def project(settings: Settings, demo_application: Path, approval_day, extract: Path) -> Settings:
    from hdc_toolkit.projects.permit import approve_permit
    from hdc_toolkit.projects.provision import provision

    trim_request(demo_application, drop_dataset="lab_results")
    approve_permit(settings, demo_application, by="steward1", today=approval_day)
    provision(settings, PROJECT, extract, by="steward1")
    return settings


@pytest.fixture(autouse=True)
def _synchronous_dask():
    with dask.config.set(scheduler="sync"):
        yield


def audit_entries(settings: Settings, action: str) -> list[dict]:
    return [e for e in AuditLog(settings).entries(project=PROJECT) if e["action"] == action]


def test_permitted_columns_are_served_with_filters_applied_at_read(project: Settings):
    assert describe_tables(PROJECT, settings=project) == {
        "diagnoses": ["pid", "episode_id", "icd10_code", "diagnosis_type", "diagnosis_date"],
        "episodes": ["pid", "episode_id", "admission_time", "discharge_time", "care_type", "urgency"],
        "patients": ["pid", "birth_date", "sex", "municipality", "death_date"],
        "prescriptions": ["pid", "atc_code", "dispense_date", "ddd"],
    }
    dx = open_table("diagnoses", ["pid", "icd10_code"], filters=code_filter("icd10_code", "E11"), project=PROJECT,
                    settings=project)  # fmt: skip
    rows = dx.compute()
    assert len(rows) > 0 and rows["icd10_code"].str.startswith("E11").all()
    assert rows["pid"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert str(rows["pid"].dtype) == "string"
    # the same rows as filtering afterwards, and a later projection reads one column only
    every = open_table("diagnoses", ["pid", "icd10_code"], project=PROJECT, settings=project).compute()
    assert len(rows) == every["icd10_code"].str.startswith("E11").sum()
    late = open_table("diagnoses", ["pid", "icd10_code", "diagnosis_date"], project=PROJECT, settings=project)
    assert list(late[["pid"]].compute().columns) == ["pid"]
    reads = audit_entries(project, "analysis.read")
    assert reads[0]["details"]["table"] == "diagnoses"
    assert reads[0]["details"]["columns"] == ["pid", "icd10_code"]
    assert reads[0]["details"]["filter_columns"] == ["icd10_code"]
    assert not re.search(r"E11\d", str(reads)), "filter values never go into the audit log"


def test_columns_and_tables_outside_the_permit_are_refused_and_audited(project: Settings):
    with pytest.raises(
        PermissionDenied, match=r"not permitted to read column\(s\) 'department' of table 'episodes'"
    ):
        open_table("episodes", ["pid", "department"], project=PROJECT, settings=project)
    # filtering on a column reads it too
    with pytest.raises(PermissionDenied, match="'national_id'"):
        open_table(
            "diagnoses",
            ["pid"],
            filters=[("national_id", "==", "01010112345")],
            project=PROJECT,
            settings=project,
        )
    with pytest.raises(PermissionDenied, match="not permitted to read table 'lab_results'"):
        open_table("lab_results", project=PROJECT, settings=project)
    refused = audit_entries(project, "analysis.refused")
    assert [(e["details"]["table"], e["details"].get("columns")) for e in refused] == [
        ("episodes", ["department"]), ("diagnoses", ["national_id"]), ("lab_results", None)]  # fmt: skip
    assert all(e["details"]["permit_source"] == "registry" for e in refused)
    assert AuditLog(project).verify().passed


SQLITE_ONLY = pytest.mark.parametrize("registry_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_bad_requests_are_one_clear_message(project: Settings):
    kw = {"project": PROJECT, "settings": project}
    with pytest.raises(NotFoundError, match=r"no table 'diagnosis' .*did you mean 'diagnoses'"):
        open_table("diagnosis", **kw)
    with pytest.raises(NotFoundError, match=r"no column 'icd_code' \(did you mean 'icd10_code'\?\)"):
        open_table("diagnoses", ["pid", "icd_code"], **kw)
    with pytest.raises(NotFoundError, match="'no_such_column'"):
        open_table("diagnoses", ["pid"], filters=[("no_such_column", ">", 1)], **kw)
    with pytest.raises(DataError, match="does not fit column 'diagnosis_date'"):
        open_table("diagnoses", ["pid"], filters=[("diagnosis_date", ">=", "last spring")], **kw)
    with pytest.raises(DataError, match="'startswith' needs a string column"):
        open_table("diagnoses", ["pid"], filters=[("episode_id", "startswith", "1")], **kw)
    with pytest.raises(DataError, match="filter op '~'"):
        open_table("diagnoses", ["pid"], filters=[("icd10_code", "~", "E11")], **kw)
    with pytest.raises(NotFoundError, match="'p2026-999-none' has no release"):
        open_table("diagnoses", project="p2026-999-none", settings=project)
    with pytest.raises(NotFoundError, match="not a valid project id"):
        open_table("diagnoses", project="../etc", settings=project)
    # a filter that matches nothing is an empty frame, not an error
    empty = open_table(
        "diagnoses", ["pid", "diagnosis_date"], filters=[("diagnosis_date", "<", "1900-01-01")], **kw
    )
    assert len(empty.compute()) == 0


@SQLITE_ONLY
def test_an_amended_permit_narrows_a_release_made_under_the_old_one(
    project: Settings, demo_application: Path, approval_day
):
    from hdc_toolkit.projects.permit import approve_permit

    trim_request(demo_application, drop_variable=("episodes", "urgency"))
    approve_permit(project, demo_application, by="steward1", today=approval_day)  # version 2, not provisioned
    with pytest.raises(PermissionDenied, match="'urgency'"):
        open_table("episodes", ["pid", "urgency"], project=PROJECT, settings=project)
    served = open_table("episodes", project=PROJECT, settings=project)
    assert "urgency" not in served.columns and "admission_time" in served.columns


@SQLITE_ONLY
def test_without_the_registry_the_manifest_decides(project: Settings, monkeypatch, tmp_path, caplog):
    # a researcher's server: HDC_PROJECT and HDC_DATA_DIR set by the sandbox, no readable registry
    monkeypatch.setenv("HDC_PROJECT", PROJECT)
    monkeypatch.setenv("HDC_DATA_DIR", str(project.projects_dir / PROJECT / "data"))
    monkeypatch.setenv("HDC_HOME", str(tmp_path / "not-the-data-centre"))
    monkeypatch.delenv("HDC_DATABASE_URL", raising=False)
    frame = open_table("patients", ["pid", "birth_date"])
    assert len(frame.compute()) > 0
    with (
        caplog.at_level(logging.WARNING, logger="hdc_toolkit.analysis"),
        pytest.raises(PermissionDenied, match="'department'"),
    ):
        open_table("episodes", ["department"])
    assert any('"action": "analysis.refused"' in r.getMessage() and '"permit_source": "manifest"' in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert not (tmp_path / "not-the-data-centre").exists(), "no registry is ever created from a server"
