"""``hdc application new`` and ``hdc application validate`` through :func:`hdc_toolkit.cli.main`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from hdc_toolkit.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "templates" / "application" / "examples"
EXAMPLE = EXAMPLES / "demo-diabetes" / "project.yaml"
TODAY = ["--today", "2026-11-26"]


def test_validate_example_exits_0(capsys) -> None:
    assert main(["application", "validate", str(EXAMPLE), *TODAY]) == 0
    out = capsys.readouterr().out
    assert "p2026-001-diabetes" in out and "valid" in out and "NOT valid" not in out


def test_validate_for_provisioning_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "run.json"
    assert (
        main(["application", "validate", str(EXAMPLE), "--for-provisioning", "--json", str(out), *TODAY]) == 0
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["passed"] is True and data["metadata"]["for_provisioning"] is True
    assert len(data["metadata"]["application_hash"]) == 64


@pytest.mark.parametrize("name", ["people", "dates-approvals", "data-request"])
def test_validate_broken_rules_exits_1_and_names_fields(tmp_path: Path, capsys, name: str) -> None:
    out = tmp_path / "run.json"
    code = main(
        [
            "application",
            "validate",
            str(EXAMPLES / "broken" / name / "project.yaml"),
            "--json",
            str(out),
            *TODAY,
        ]
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert "NOT valid" in printed and "failed" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    problems = [p for c in data["checks"] for p in c["details"]["problems"]]
    assert problems and all(p["text"].startswith(("project.yaml: ", "data_request.yaml: ")) for p in problems)
    for problem in problems:
        assert f"{problem['file']}: {problem['path']}" in printed


def test_pending_approval_passes_plain_but_fails_for_provisioning(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE.parent / "data_request.yaml", tmp_path)
    project = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    project["approvals"][0]["status"] = "pending"
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    assert main(["application", "validate", str(tmp_path / "project.yaml"), *TODAY]) == 0
    assert (
        main(["application", "validate", str(tmp_path / "project.yaml"), "--for-provisioning", *TODAY]) == 1
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("schema", "project.yaml: members[0].traning_date: unknown field (did you mean 'training_date'?)"),
        ("yaml", "project.yaml:11: not valid YAML"),
    ],
)
def test_unreadable_application_exits_2_without_traceback(
    tmp_path: Path, capsys, name: str, expected: str
) -> None:
    out = tmp_path / "run.json"
    code = main(
        ["application", "validate", str(EXAMPLES / "broken" / name / "project.yaml"), "--json", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and "pydantic" not in err.lower()
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["verdict"] == "error" and data["checks"][0]["key"] == "application.schema"
    assert any(expected in p["text"] for p in data["checks"][0]["details"]["problems"])


def test_contracts_option(tmp_path: Path, capsys) -> None:
    assert main(["application", "validate", str(EXAMPLE), "--contracts", str(tmp_path), *TODAY]) == 1
    assert "no data contract for 'patients'" in capsys.readouterr().out


def test_new_copies_templates_with_the_id_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    target = tmp_path / "apps" / "mine"
    assert main(["application", "new", str(target), "--id", "p2026-042-heart"]) == 0
    project = yaml.safe_load((target / "project.yaml").read_text(encoding="utf-8"))
    assert project["id"] == "p2026-042-heart" and project["data_request"] == "data_request.yaml"
    assert (target / "data_request.yaml").is_file()
    assert "# Research application: project.yaml" in (target / "project.yaml").read_text(encoding="utf-8")
    before = (target / "project.yaml").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["application", "new", str(target), "--id", "p2026-043-other"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (target / "project.yaml").read_text(encoding="utf-8") == before


def test_new_uses_the_directory_name_or_refuses_a_bad_id(tmp_path: Path, capsys) -> None:
    assert main(["application", "new", str(tmp_path / "p2026-050-lungs")]) == 0
    project = yaml.safe_load((tmp_path / "p2026-050-lungs" / "project.yaml").read_text(encoding="utf-8"))
    assert project["id"] == "p2026-050-lungs"
    assert main(["application", "new", str(tmp_path / "x"), "--id", "Bad_Id"]) == 2
    assert "not a valid project id" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_new_then_validate_lists_every_empty_field(tmp_path: Path, capsys) -> None:
    assert main(["application", "new", str(tmp_path / "p2026-051-blank")]) == 0
    capsys.readouterr()
    assert main(["application", "validate", str(tmp_path / "p2026-051-blank" / "project.yaml")]) == 2
    err = capsys.readouterr().err
    assert "project.yaml: title: is empty; fill it in" in err
    assert "data_request.yaml: cohort.description: is empty; fill it in" in err


def test_filled_in_template_validates(tmp_path: Path) -> None:
    """A researcher who fills the blank template in like the example gets a valid application."""
    target = tmp_path / "p2026-001-diabetes"
    assert main(["application", "new", str(target)]) == 0
    project = yaml.safe_load((target / "project.yaml").read_text(encoding="utf-8"))
    example = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert set(project) == set(example)
    (target / "project.yaml").write_text(yaml.safe_dump(example), encoding="utf-8")
    shutil.copy(EXAMPLE.parent / "data_request.yaml", target)
    assert main(["application", "validate", str(target / "project.yaml"), *TODAY]) == 0


def test_bad_today_is_an_argument_error(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["application", "validate", str(EXAMPLE), "--today", "tomorrow"])
    assert info.value.code == 2
