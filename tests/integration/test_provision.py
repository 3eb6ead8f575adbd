"""Provisioning the example application from a fresh demo extract, two projects at the same time.

One module-scoped HDC_HOME holds two approved projects with the same data request (the example
``p2026-001-diabetes`` and a copy ``p2026-002-diabetes``), provisioned by two processes started
together. The tests then read the releases as files, independently of the provisioning code: the
cohort and window are recomputed here with pandas from the source extract.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from hdc_toolkit.config import Settings
from hdc_toolkit.projects.provision import provision, verify_release

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "templates" / "application" / "examples" / "demo-diabetes"
APPROVAL_DAY = dt.date(2026, 12, 1)
A, B = "p2026-001-diabetes", "p2026-002-diabetes"
TABLES = ("patients", "episodes", "diagnoses", "prescriptions", "lab_results")
WINDOW = (pd.Timestamp("2016-01-01"), pd.Timestamp("2025-12-31"))

SCRIPT = """
import os, sys, time, pathlib
from hdc_toolkit.config import Settings
from hdc_toolkit.projects.provision import provision
go = pathlib.Path(os.environ["GO_FILE"])
while not go.exists():
    time.sleep(0.01)
started = time.time()
release = provision(Settings.from_env(os.environ), sys.argv[1], sys.argv[2], by="steward1")
print(release.id, started, time.time())
"""


def copy_application(target: Path, project_id: str) -> Path:
    shutil.copytree(EXAMPLE, target)
    project = target / "project.yaml"
    data = yaml.safe_load(project.read_text())
    data["id"] = project_id
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    return project


def demo_extract(factory: pytest.TempPathFactory, defect_rate: float = 0.0) -> Path:
    """The session's demo extract (3000 patients, seed 7), generated once and shared by the modules."""
    from hdc_toolkit.demo import generate_extract

    path = factory.getbasetemp() / f"provision-extract-3000-7-{defect_rate}"
    if not path.exists():
        generate_extract(path, patients=3000, seed=7, defect_rate=defect_rate)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from hdc_toolkit.projects.permit import approve_permit
    from hdc_toolkit.projects.registry import dispose_engines

    root = tmp_path_factory.mktemp("provision")
    extract = demo_extract(tmp_path_factory)
    settings = Settings.from_env({"HDC_HOME": str(root / "hdc-home")})
    for pid in (A, B):
        approve_permit(settings, copy_application(root / pid, pid), by="steward1", today=APPROVAL_DAY)
    script = root / "provision_one.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "HDC_HOME": str(settings.home), "GO_FILE": str(root / "go")}
    env.pop("HDC_DATABASE_URL", None)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pid, str(extract)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in (A, B)
    ]
    time.sleep(0.2)
    (root / "go").touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    yield {
        "root": root,
        "settings": settings,
        "procs": procs,
        "outputs": outputs,
        "extract": extract,
    }
    dispose_engines()


def data_dir(world: dict[str, Any], project: str) -> Path:
    return world["settings"].projects_dir / project / "data"


def release_table(world: dict[str, Any], project: str, table: str) -> pd.DataFrame:
    return pq.read_table(data_dir(world, project) / table).to_pandas()


def source_table(world: dict[str, Any], table: str) -> pd.DataFrame:
    return pq.read_table(world["extract"] / table).to_pandas()


def key_of(world: dict[str, Any], project: str) -> bytes:
    return (world["settings"].keys_dir / f"{project}.key").read_bytes()


def pid_of(key: bytes, national_id: str) -> str:
    return hmac.new(key, national_id.encode(), "sha256").hexdigest()[:16]


@pytest.fixture(scope="module")
def expected(world: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The cohort's source rows per table, recomputed here from the data request."""
    start, end = WINDOW
    day_after = end + pd.Timedelta(days=1)
    dia, pre = source_table(world, "diagnoses"), source_table(world, "prescriptions")
    dia_date, pre_date = pd.to_datetime(dia.diagnosis_date), pd.to_datetime(pre.dispense_date)
    cohort = set(dia.national_id[dia.icd10_code.str.startswith("E11") & dia_date.between(start, end)]) | set(
        pre.national_id[pre.atc_code.str.startswith("A10B") & pre_date.between(start, end)]
    )
    out = {}
    for table in TABLES:
        df = source_table(world, table)
        df = df[df.national_id.isin(cohort)]
        if table == "episodes":
            df = df[(df.admission_time < day_after) & (df.discharge_time >= start)]
        elif table != "patients":
            column = {
                "diagnoses": "diagnosis_date",
                "prescriptions": "dispense_date",
                "lab_results": "sample_time",
            }[table]
            when = pd.to_datetime(df[column])
            df = df[(when >= start) & (when < day_after)]
        out[table] = df
    return out


def test_two_processes_at_once_both_release(world: dict[str, Any]) -> None:
    from hdc_toolkit.audit import AuditLog
    from hdc_toolkit.projects.registry import open_registry

    for proc, (out, err) in zip(world["procs"], world["outputs"], strict=True):
        assert proc.returncode == 0, err
    (_, start_a, end_a), (_, start_b, end_b) = [tuple(map(float, o.split())) for o, _ in world["outputs"]]
    assert start_a < end_b and start_b < end_a  # the two runs overlapped in time
    registry = open_registry(world["settings"])
    for project in (A, B):
        assert registry.get_project(project).state == "provisioned"
        [release] = registry.releases(project)
        assert release.state == "released" and release.path == str(data_dir(world, project))
        assert verify_release(data_dir(world, project)).passed
        assert not [p for p in data_dir(world, project).parent.iterdir() if p.name.startswith(".data.")]
    assert AuditLog(world["settings"]).verify().passed
    actions = [(e["project"], e["action"]) for e in AuditLog(world["settings"]).entries()]
    for project in (A, B):
        assert [a for p, a in actions if p == project][-5:] == [
            "project.transition",
            "provision.started",
            "release.recorded",
            "project.provisioned",
            "project.transition",
        ]


def test_release_holds_exactly_the_permitted_columns_plus_pid(world: dict[str, Any]) -> None:
    from hdc_toolkit.projects.registry import open_registry

    permitted = open_registry(world["settings"]).permitted_columns(A)
    for table in TABLES:
        names = pq.read_schema(next((data_dir(world, A) / table).glob("*.parquet"))).names
        assert names == ["pid", *permitted[table]], table
    contracts = list((data_dir(world, A) / "contracts").glob("*.odcs.yaml"))
    assert sorted(p.name for p in contracts) == sorted(f"{t}.odcs.yaml" for t in TABLES)
    for path in contracts:
        text = path.read_text()
        assert "national_id:" not in text and "direct_identifier" not in text


def test_every_file_stores_the_release_contracts_arrow_schema(world: dict[str, Any]) -> None:
    """Code columns are written from dictionaries, yet readers get the contract's plain types and metadata."""
    from hdc_toolkit.contracts import load_contract
    from hdc_toolkit.contracts.export_arrow import contract_to_arrow_schema

    for table in TABLES:
        expected = contract_to_arrow_schema(
            load_contract(data_dir(world, A) / "contracts" / f"{table}.odcs.yaml"), all_nullable=True
        )
        for path in (data_dir(world, A) / table).glob("*.parquet"):
            stored = pq.read_schema(path)
            assert stored.equals(expected, check_metadata=True), (path.name, stored, expected)
            assert pq.read_table(path).schema.equals(expected, check_metadata=True)


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _thrift_struct(raw: bytes, pos: int) -> tuple[dict[int, Any], int]:
    """A Thrift compact-protocol struct (the subset a Parquet page header uses): {field id: value}."""
    fields: dict[int, Any] = {}
    last = 0
    while True:
        head = raw[pos]
        pos += 1
        if head == 0:
            return fields, pos
        kind, delta = head & 0x0F, head >> 4
        if delta:
            last += delta
        else:
            zz, pos = _varint(raw, pos)
            last = (zz >> 1) ^ -(zz & 1)
        if kind in (1, 2):  # bool true / false
            fields[last] = kind == 1
        elif kind in (5, 6):  # i32, i64 (zigzag)
            zz, pos = _varint(raw, pos)
            fields[last] = (zz >> 1) ^ -(zz & 1)
        elif kind == 8:  # binary
            n, pos = _varint(raw, pos)
            fields[last], pos = raw[pos : pos + n], pos + n
        elif kind == 12:
            fields[last], pos = _thrift_struct(raw, pos)
        else:
            raise AssertionError(f"unexpected thrift type {kind}")


def dictionary_page_slack(path: Path) -> list[tuple[str, int]]:
    """For every string column chunk with a dictionary page: bytes of the page past its declared values."""
    import pyarrow as pa

    raw, meta, out = path.read_bytes(), pq.read_metadata(path), []
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            if not col.has_dictionary_page or col.physical_type != "BYTE_ARRAY":
                continue
            header, pos = _thrift_struct(raw, col.dictionary_page_offset)
            body = raw[pos : pos + header[3]]
            if col.compression != "UNCOMPRESSED":
                body = pa.Codec(col.compression.lower()).decompress(body, header[2]).to_pybytes()
            assert len(body) == header[2]
            at = 0
            for _ in range(header[7][1]):  # dictionary_page_header.num_values PLAIN byte arrays
                at += 4 + int.from_bytes(body[at : at + 4], "little")
            out.append((col.path_in_schema, len(body) - at))
    return out


def test_dictionary_pages_hold_their_values_and_nothing_else(world: dict[str, Any]) -> None:
    """A dictionary page sized past its values would carry uninitialised memory (an Arrow writer
    flaw with repeated dictionary values, e.g. municipalities coarsened to counties)."""
    checked = 0
    for table in TABLES:
        for path in (data_dir(world, A) / table).glob("*.parquet"):
            slack = dictionary_page_slack(path)
            assert all(extra == 0 for _, extra in slack), (path.name, slack)
            checked += len(slack)
    assert checked >= len(TABLES)


def national_ids(world: dict[str, Any]) -> set[str]:
    ids: set[str] = set()
    for table in TABLES:
        ids |= set(source_table(world, table).national_id)
    assert len(ids) >= 3000
    return ids


def digit_windows(text: str | bytes) -> set[str]:
    """Every 11-character window of every run of 11 or more digits."""
    runs = re.findall(rb"[0-9]{11,}", text) if isinstance(text, bytes) else re.findall(r"[0-9]{11,}", text)
    out = set()
    for run in runs:
        run = run.decode() if isinstance(run, bytes) else run
        out |= {run[i : i + 11] for i in range(len(run) - 10)}
    return out


def test_no_national_id_anywhere_in_any_file(world: dict[str, Any]) -> None:
    ids = national_ids(world)
    for project in (A, B):
        files = [p for p in data_dir(world, project).rglob("*") if p.is_file()]
        assert len(files) >= 12
        for path in files:
            assert not digit_windows(path.read_bytes()) & ids, path
            if path.suffix == ".parquet":
                table = pq.read_table(path)
                for column in table.columns:
                    values = {str(v) for v in column.to_pylist() if v is not None}
                    assert not values & ids, (path, column)
                    assert not {w for v in values for w in digit_windows(v)} & ids, (path, column)
                meta = pq.read_metadata(path)
                assert (
                    not digit_windows(
                        json.dumps({k.decode(): v.decode() for k, v in (meta.metadata or {}).items()})
                    )
                    & ids
                )


def test_pids_are_the_keyed_hmac_and_differ_between_projects(
    world: dict[str, Any], expected: dict[str, pd.DataFrame]
) -> None:
    key_a, key_b = key_of(world, A), key_of(world, B)
    assert key_a != key_b
    cohort = sorted(expected["patients"].national_id)
    pids_a, pids_b = (
        set(release_table(world, A, "patients").pid),
        set(release_table(world, B, "patients").pid),
    )
    assert pids_a == {pid_of(key_a, n) for n in cohort}
    assert pids_b == {pid_of(key_b, n) for n in cohort}
    assert not pids_a & pids_b  # the same person, unlinkable across projects
    assert all(re.fullmatch(r"[0-9a-f]{16}", p) for p in pids_a)
    episodes_a, episodes_b = (
        set(release_table(world, A, "episodes").episode_id),
        set(release_table(world, B, "episodes").episode_id),
    )
    assert episodes_a != episodes_b and episodes_a != set(
        expected["episodes"].episode_id
    )  # re-keyed per project


def test_cohort_window_and_consistent_pids_across_tables(
    world: dict[str, Any], expected: dict[str, pd.DataFrame]
) -> None:
    key = key_of(world, A)
    assert len(expected["patients"]) > 50
    for table in TABLES:
        want = expected[table].national_id.map(lambda n: pid_of(key, n)).value_counts().sort_index()
        got = release_table(world, A, table).pid.value_counts().sort_index()
        assert got.to_dict() == want.to_dict(), table


def test_values_coarsened_as_permitted(world: dict[str, Any], expected: dict[str, pd.DataFrame]) -> None:
    key = key_of(world, A)
    src = expected["diagnoses"]
    want = sorted(
        zip(
            src.national_id.map(lambda n: pid_of(key, n)),
            pd.to_datetime(src.diagnosis_date).dt.to_period("M").dt.start_time.dt.date,
            strict=True,
        )
    )
    rel = release_table(world, A, "diagnoses")
    assert sorted(zip(rel.pid, rel.diagnosis_date, strict=True)) == want
    patients = release_table(world, A, "patients")
    assert set(patients.municipality.str.len()) == {2}
    assert all(d.day == 1 for d in patients.birth_date)
    episodes = release_table(world, A, "episodes")
    assert (episodes.admission_time.dt.normalize() == episodes.admission_time).all()
    assert (
        str(episodes.admission_time.dtype).startswith("datetime64")
        and patients.birth_date.map(type).eq(dt.date).all()
    )
    lab = release_table(world, A, "lab_results")
    assert lab.sample_time.min() >= pd.Timestamp("2016-01-01") and lab.sample_time.max() <= pd.Timestamp(
        "2025-12-01"
    )


def test_rows_grouped_by_pid_not_in_source_order(world: dict[str, Any]) -> None:
    patients = release_table(world, A, "patients")
    assert list(patients.pid) == sorted(patients.pid)


def test_the_validator_passes_on_the_release(world: dict[str, Any]) -> None:
    from hdc_toolkit.contracts import load_contract_dir
    from hdc_toolkit.contracts.validate import validate_extract

    data = data_dir(world, A)
    runs = validate_extract(load_contract_dir(data / "contracts"), data)
    assert set(runs) == set(TABLES)
    for name, run in runs.items():
        assert run.passed and not [c.key for c in run.checks if c.verdict.value != "passed"], name
    assert any(c.kind == "foreign_key" and c.column == "pid" for c in runs["diagnoses"].checks)


def test_manifest(world: dict[str, Any]) -> None:
    from hdc_toolkit.projects.registry import open_registry

    data = data_dir(world, A)
    manifest = json.loads((data / "manifest.json").read_text())
    registry = open_registry(world["settings"])
    permit = registry.current_permit(A)
    assert manifest["permit"]["sha256"] == permit.sha256 and manifest["permit"]["version"] == 1
    assert manifest["created_by"] == "steward1" and manifest["project"] == A
    files = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == files and "validation.json" in files
    assert {t: v["version"] for t, v in manifest["source_contracts"].items()} == dict.fromkeys(
        TABLES, "1.0.0"
    )
    assert manifest["derived_contracts"]["patients"]["version"] == "1.0.0+permit.1"
    assert manifest["cohort"]["icd10"] == ["E11"] and manifest["cohort"]["atc"] == ["A10B"]
    assert manifest["cohort"]["window"] == {"start": "2016-01-01", "end": "2025-12-31"}
    assert (
        manifest["tables"]["patients"]["rows"]
        == manifest["cohort"]["persons"]
        == len(release_table(world, A, "patients"))
    )
    assert manifest["tables"]["diagnoses"]["source_rows"] > manifest["tables"]["diagnoses"]["rows"]
    assert manifest["validation"]["passed"] is True and manifest["validation"]["counts"]["failed"] == 0
    disclosure = manifest["disclosure"]
    assert disclosure["profile"] == "acro-default" and disclosure["rule"] == {"k": 10, "action": "warn"}
    assert disclosure["k"] >= 1 and disclosure["records"] == manifest["cohort"]["persons"]
    assert disclosure["quasi_identifiers"] == ["birth_date", "sex", "municipality", "death_date"]
    [release] = registry.releases(A)
    import hashlib

    assert release.manifest_sha256 == hashlib.sha256((data / "manifest.json").read_bytes()).hexdigest()


def test_modes_read_only_and_key_outside_the_workspace(world: dict[str, Any]) -> None:
    settings: Settings = world["settings"]
    data = data_dir(world, A)
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o550 if path.is_dir() else 0o440), path
    key = settings.keys_dir / f"{A}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and settings.projects_dir not in key.parents
    assert not list((settings.projects_dir / A).rglob("*.key"))
    for sub in ("synthetic", "work", "outputs"):
        assert (settings.projects_dir / A / sub).is_dir()


def test_provisioning_again_returns_the_release(world: dict[str, Any]) -> None:
    from hdc_toolkit.projects.registry import open_registry

    before = (data_dir(world, A) / "manifest.json").read_bytes()
    again = provision(world["settings"], A, world["extract"], by="steward1")
    assert again == open_registry(world["settings"]).releases(A)[0]
    assert (data_dir(world, A) / "manifest.json").read_bytes() == before
