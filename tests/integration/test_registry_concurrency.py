"""Several processes opening a fresh registry, appending and approving at once leave a valid chain."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.config import Settings
from hdc_toolkit.projects.registry import open_registry

PROJECT = "p2026-001-diabetes"
ENTRIES_EACH = 10


def _worker(home: str, url: str, barrier: Any, application: str, by: str, today: dt.date) -> None:
    """Open the (fresh) registry, approve an application, then append entries: all at once with the others."""
    from hdc_toolkit.projects.permit import approve_permit

    settings = Settings(home=Path(home), database_url=url)
    barrier.wait(timeout=60)
    approve_permit(settings, application, by=by, today=today)
    log = AuditLog(settings)
    for i in range(ENTRIES_EACH):
        log.append("test.concurrent", actor=by, details={"i": i})


@pytest.mark.slow
def test_concurrent_appends_and_approvals(
    settings: Settings, demo_application: Path, approval_day: dt.date, tmp_path: Path
) -> None:
    amended = tmp_path / "amended"
    shutil.copytree(demo_application.parent, amended)
    project_yaml = amended / "project.yaml"
    data = yaml.safe_load(project_yaml.read_text())
    data["title"] = "Type 2 diabetes in Central Norway: an amended title"
    project_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))

    ctx = multiprocessing.get_context("spawn")
    # two identical approvals race (one must be a no-op) and an amended one races them
    jobs = [
        (str(demo_application), "steward1"),
        (str(demo_application), "steward2"),
        (str(project_yaml), "steward3"),
    ]
    barrier = ctx.Barrier(len(jobs))
    home, url = str(settings.home), settings.database_url
    procs = [
        ctx.Process(target=_worker, args=(home, url, barrier, app, by, approval_day)) for app, by in jobs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * len(procs)

    log = AuditLog(settings)
    run = log.verify()
    assert run.passed, run.metadata.get("first_problem")
    entries = log.entries()
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert sum(e["action"] == "test.concurrent" for e in entries) == len(jobs) * ENTRIES_EACH
    # Identical approvals in a row make one permit; each change of content makes the next version
    # (original, amended, original again is three versions), and no two consecutive ones are equal.
    permits = open_registry(settings).permits(PROJECT)
    assert [p.version for p in permits] in ([1, 2], [1, 2, 3])
    assert all(a.sha256 != b.sha256 for a, b in zip(permits, permits[1:], strict=False))
    logged = [e["action"] for e in entries if e["action"].startswith("permit.")]
    assert logged == ["permit.approved"] + ["permit.amended"] * (len(permits) - 1)
    assert open_registry(settings).audit_head() == (entries[-1]["hash"], len(entries))
