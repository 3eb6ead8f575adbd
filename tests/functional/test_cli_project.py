"""``hdc project provision|verify|close|delete`` end to end through :func:`hdc_toolkit.cli.main`."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from hdc_toolkit.cli import main
from hdc_toolkit.config import Settings

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


@pytest.fixture
def env(sqlite_settings: Settings, demo_application: Path, approval_day: dt.date) -> dict[str, str]:
    environ = {"HDC_HOME": str(sqlite_settings.home), "USER": "steward1"}
    assert (
        main(
            [
                "permit",
                "approve",
                str(demo_application),
                "--by",
                "steward1",
                "--today",
                approval_day.isoformat(),
            ],
            environ=environ,
        )
        == 0
    )
    return environ


def test_provision_verify_rerun(
    env: dict[str, str], extracts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["project", "provision", PROJECT, "--source", str(extracts["clean"])], environ=env) == 0
    out = capsys.readouterr().out
    assert f"provisioned: {PROJECT} release 1 from permit v1" in out
    assert "rows        patients " in out and "disclosure  warning: k = " in out and "(read-only)" in out
    assert main(["project", "provision", PROJECT, "--source", str(extracts["clean"])], environ=env) == 0
    assert "unchanged:" in capsys.readouterr().out
    assert main(["project", "verify", PROJECT], environ=env) == 0
    assert "passed   release.files.sha256" in capsys.readouterr().out
    assert (
        main(["project", "provision", PROJECT, "--source", str(extracts["clean"]), "--json"], environ=env)
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["release"]["id"] == 1 and shown["validation"] == "warning" and shown["rows"]["patients"] > 0

    manifest = Path(env["HDC_HOME"]) / "projects" / PROJECT / "data" / "manifest.json"
    target = next(manifest.parent.glob("patients/*.parquet"))
    os.chmod(target, 0o640)
    target.write_bytes(target.read_bytes() + b"tampered")
    assert main(["project", "verify", PROJECT], environ=env) == 1
    assert "1 file(s) missing or changed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("project", "message"),
    [
        ("../../etc", "is not a valid project id"),
        ("P2026", "is not a valid project id"),
        ("p2099-unknown", "no project 'p2099-unknown' in the registry"),
    ],
)
def test_bad_project_ids_exit_2(
    env: dict[str, str],
    extracts: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    project: str,
    message: str,
) -> None:
    capsys.readouterr()
    for argv in (
        ["project", "provision", project, "--source", str(extracts["clean"])],
        ["project", "close", project],
        ["project", "delete", project, "--today", "2030-01-01"],
        ["project", "verify", project],
    ):
        assert main(argv, environ=env) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_failed_gate_exits_1_and_releases_nothing(
    env: dict[str, str], extracts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["project", "provision", PROJECT, "--source", str(extracts["defective"])], environ=env) == 1
    err = capsys.readouterr().err
    assert "the release gate failed" in err and "nothing was released" in err and "  - " in err
    assert not (Path(env["HDC_HOME"]) / "projects" / PROJECT / "data").exists()


def test_close_and_delete(
    env: dict[str, str], extracts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["project", "provision", PROJECT, "--source", str(extracts["clean"]), "--by", "steward1"],
            environ=env,
        )
        == 0
    )
    capsys.readouterr()
    assert main(["project", "delete", PROJECT, "--today", "2030-01-01"], environ=env) == 3
    assert "only a closed project can be deleted" in capsys.readouterr().err
    assert main(["project", "close", PROJECT], environ=env) == 0
    assert "closed: p2026-001-diabetes" in capsys.readouterr().out
    assert main(["project", "delete", PROJECT, "--today", "2029-12-30"], environ=env) == 3
    assert "deletion date 2029-12-31" in capsys.readouterr().err
    assert main(["project", "delete", PROJECT, "--today", "2029-12-31", "--by", "steward2"], environ=env) == 0
    out = capsys.readouterr().out
    assert "deleted: p2026-001-diabetes" in out and "attestation" in out
    attestation = json.loads(
        (Path(env["HDC_HOME"]) / "attestations" / f"{PROJECT}-deletion.json").read_text()
    )
    assert attestation["deleted_by"] == "steward2" and attestation["status"] == "completed"
    assert main(["audit", "verify"], environ=env) == 0
