"""Kill tests: a provisioning process SIGKILLed mid-way leaves no visible release, and a rerun completes.

The child process pauses at a named progress stage (the test's own hook, passed to ``provision``),
writes a marker file and sleeps; the test then kills it with SIGKILL, so no cleanup code runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hdc_toolkit.config import Settings
from hdc_toolkit.projects.provision import provision, verify_release

REPO = Path(__file__).resolve().parents[2]
APPLICATION = REPO / "templates" / "application" / "examples" / "demo-diabetes" / "project.yaml"
PROJECT = "p2026-001-diabetes"

SCRIPT = """
import os, sys, time, pathlib
from hdc_toolkit.config import Settings
from hdc_toolkit.projects.provision import provision
pause, marker = os.environ["PAUSE_AT"], pathlib.Path(os.environ["MARKER"])
def progress(stage):
    if stage.startswith(pause):
        marker.write_text(stage)
        time.sleep(600)
provision(Settings.from_env(os.environ), sys.argv[1], sys.argv[2], by="steward1", threads=1, progress=progress)
"""


def demo_extract(factory: pytest.TempPathFactory, defect_rate: float = 0.0) -> Path:
    """The session's demo extract (3000 patients, seed 7), generated once and shared by the modules."""
    from hdc_toolkit.demo import generate_extract

    path = factory.getbasetemp() / f"provision-extract-3000-7-{defect_rate}"
    if not path.exists():
        generate_extract(path, patients=3000, seed=7, defect_rate=defect_rate)
    return path


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_extract(tmp_path_factory)


@pytest.fixture
def approved(sqlite_settings: Settings) -> Settings:
    from hdc_toolkit.projects.permit import approve_permit

    approve_permit(sqlite_settings, APPLICATION, by="steward1", today=dt.date(2026, 12, 1))
    return sqlite_settings


def kill_at(settings: Settings, extract: Path, stage: str, tmp_path: Path) -> str:
    """Run provisioning in a child process and SIGKILL it once it reached ``stage``."""
    script, marker = tmp_path / "child.py", tmp_path / "marker"
    script.write_text(SCRIPT)
    env = {**os.environ, "HDC_HOME": str(settings.home), "PAUSE_AT": stage, "MARKER": str(marker)}
    env.pop("HDC_DATABASE_URL", None)
    child = subprocess.Popen(
        [sys.executable, str(script), PROJECT, str(extract)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert child.poll() is None, child.communicate()[1].decode()
            assert time.monotonic() < deadline, "the child never reached the stage"
            time.sleep(0.02)
        reached = marker.read_text()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    return reached


def audit(settings: Settings) -> list[dict[str, Any]]:
    from hdc_toolkit.audit import AuditLog

    log = AuditLog(settings)
    assert log.verify().passed
    return log.entries(project=PROJECT)


def test_killed_while_writing_leaves_nothing_visible_and_a_rerun_completes(
    approved: Settings, extract: Path, tmp_path: Path
) -> None:
    from hdc_toolkit.projects.registry import open_registry

    reached = kill_at(approved, extract, "written:", tmp_path)
    assert reached.startswith("written:")
    root = approved.projects_dir / PROJECT
    assert not (root / "data").exists()
    partials = [p for p in root.iterdir() if p.name.startswith(".data.")]
    assert len(partials) == 1 and list(partials[0].rglob("*.parquet"))  # it had started writing
    registry = open_registry(approved)
    assert registry.get_project(PROJECT).state == "approved" and registry.releases(PROJECT) == []

    release = provision(approved, PROJECT, extract, by="steward1")
    assert release.state == "released" and registry.get_project(PROJECT).state == "provisioned"
    assert verify_release(root / "data").passed
    assert not [p for p in root.iterdir() if p.name.startswith(".data.")]
    started = [e for e in audit(approved) if e["action"] == "provision.started"]
    assert [e["details"]["stale_temporaries_removed"] for e in started] == [0, 1]


def test_killed_after_the_rename_is_recorded_by_the_rerun_without_rebuilding(
    approved: Settings, extract: Path, tmp_path: Path
) -> None:
    from hdc_toolkit.projects.registry import open_registry

    kill_at(approved, extract, "released", tmp_path)
    data = approved.projects_dir / PROJECT / "data"
    assert verify_release(data).passed  # complete, but not recorded
    registry = open_registry(approved)
    assert registry.get_project(PROJECT).state == "approved" and registry.releases(PROJECT) == []
    manifest = (data / "manifest.json").read_bytes()

    release = provision(approved, PROJECT, extract, by="steward1")
    assert (data / "manifest.json").read_bytes() == manifest
    assert release.manifest_sha256 == __import__("hashlib").sha256(manifest).hexdigest()
    [entry] = [e for e in audit(approved) if e["action"] == "project.provisioned"]
    assert entry["details"]["resumed_after_crash"] is True
    assert json.loads(manifest)["permit"]["sha256"] == registry.current_permit(PROJECT).sha256


def test_a_second_provisioning_of_the_same_project_is_refused_while_one_runs(
    approved: Settings, extract: Path, tmp_path: Path
) -> None:
    """The project lock: a concurrent run is told the project is busy (the kernel frees it on death)."""
    from hdc_toolkit.exceptions import StateError
    from hdc_toolkit.projects.workspace import Workspace

    ws = Workspace(approved, PROJECT)
    with ws.lock("test"), pytest.raises(StateError, match="busy"):
        provision(approved, PROJECT, extract, by="steward1")
    assert provision(approved, PROJECT, extract, by="steward1").state == "released"
