"""``hdc permit`` and ``hdc audit`` end to end through :func:`hdc_toolkit.cli.main`: output and exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from hdc_toolkit.cli import main

PROJECT = "p2026-001-diabetes"


@pytest.fixture
def approve_args(demo_application: Path, approval_day: dt.date) -> list[str]:
    return ["permit", "approve", str(demo_application), "--today", approval_day.isoformat()]


def test_approve_then_unchanged_then_show(
    hdc_env: dict[str, str], approve_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    assert f"approved: {PROJECT} permit v1" in capsys.readouterr().out
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    assert "unchanged" in capsys.readouterr().out

    assert main(["permit", "show", PROJECT], environ=hdc_env) == 0
    out = capsys.readouterr().out
    assert "permit      v1" in out and "approved    " in out and "by steward1" in out
    assert "patients: birth_date (month)" in out and "ingberg" in out

    assert main(["permit", "show", PROJECT, "--json"], environ=hdc_env) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["permit"]["version"] == 1 and shown["project"]["state"] == "approved"
    assert shown["permitted_columns"]["patients"]["municipality"] == "county"


def test_amendment_is_reported(
    hdc_env: dict[str, str],
    approve_args: list[str],
    demo_application: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    data = yaml.safe_load(demo_application.read_text())
    data["end_date"] = dt.date(2029, 3, 31)
    demo_application.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    assert "amended: p2026-001-diabetes permit v2" in capsys.readouterr().out


def test_four_eyes_refusal_exits_4(
    hdc_env: dict[str, str], approve_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*approve_args, "--by", "ingberg"], environ=hdc_env) == 4
    err = capsys.readouterr().err
    assert "four-eyes" in err and "Traceback" not in err


def test_pending_approval_exits_2_listing_the_check(
    hdc_env: dict[str, str],
    approve_args: list[str],
    demo_application: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = yaml.safe_load(demo_application.read_text())
    data["approvals"][1]["status"] = "pending"
    demo_application.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 2
    assert "application.approvals.status" in capsys.readouterr().err


def test_missing_file_and_unknown_project_exit_2(hdc_env: dict[str, str], tmp_path: Path) -> None:
    assert main(["permit", "approve", str(tmp_path / "none.yaml"), "--by", "s"], environ=hdc_env) == 2
    assert main(["permit", "show", "no-such-project"], environ=hdc_env) == 2


def test_audit_show_and_verify(
    hdc_env: dict[str, str], approve_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"], environ=hdc_env) == 0  # an empty log is intact
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    assert main([*approve_args, "--by", "magnil"], environ=hdc_env) == 4
    capsys.readouterr()

    assert main(["audit", "show", "--project", PROJECT], environ=hdc_env) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[3] for line in lines] == [
        "project.submitted",
        "permit.approved",
        "project.transition",
        "permit.refused",
    ]
    assert main(["audit", "show", "--tail", "1", "--json"], environ=hdc_env) == 0
    [last] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert last["action"] == "permit.refused" and last["actor"] == "magnil"
    assert main(["audit", "show", "--project", "other"], environ=hdc_env) == 0
    assert capsys.readouterr().out == ""

    assert main(["audit", "verify"], environ=hdc_env) == 0
    assert "audit log intact: 4 entries" in capsys.readouterr().out


def test_audit_verify_exits_1_naming_the_broken_entry(
    hdc_env: dict[str, str], approve_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    log = Path(hdc_env["HDC_HOME"]) / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace("steward1", "stewardX")
    log.write_text("".join(lines))
    capsys.readouterr()
    assert main(["audit", "verify"], environ=hdc_env) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "line 2 (seq 2)" in out and "edited" in out
    assert main(["audit", "verify", "--json"], environ=hdc_env) == 1
    run = json.loads(capsys.readouterr().out)
    assert run["passed"] is False and run["metadata"]["first_problem"]["line"] == 2


def test_audit_verify_detects_a_truncated_tail(
    hdc_env: dict[str, str], approve_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*approve_args, "--by", "steward1"], environ=hdc_env) == 0
    log = Path(hdc_env["HDC_HOME"]) / "audit.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:1]))
    capsys.readouterr()
    assert main(["audit", "verify"], environ=hdc_env) == 1
    assert "entries 2–3 are missing" in capsys.readouterr().out


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    for group in ("audit", "permit"):
        with pytest.raises(SystemExit) as info:
            main([group, "--help"])
        assert info.value.code == 0
    out = capsys.readouterr().out
    assert "verify" in out and "approve" in out
