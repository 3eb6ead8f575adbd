"""``hdc documents render|check`` and ``hdc study new`` through :func:`hdc_toolkit.cli.main`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hdc_toolkit.cli import main
from hdc_toolkit.projects.render import DOCUMENTS, MISSING_MARK

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "templates" / "application" / "examples"
EXAMPLE = EXAMPLES / "demo-diabetes" / "project.yaml"
TODAY = ["--today", "2026-11-26"]


@pytest.mark.parametrize(("lang", "fmt"), [("nb", "md"), ("en", "html")])
def test_render_writes_every_document(tmp_path: Path, capsys, lang: str, fmt: str) -> None:
    out = tmp_path / "docs"
    assert (
        main(["documents", "render", str(EXAMPLE), "--lang", lang, "--format", fmt, "--out", str(out)]) == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{name}.{lang}.{fmt}" for name in DOCUMENTS)
    assert not any(MISSING_MARK in p.read_text(encoding="utf-8") for p in out.iterdir())
    printed = capsys.readouterr().out
    assert f"{len(DOCUMENTS)} documents for p2026-001-diabetes" in printed and "not filled in" not in printed


def test_render_accepts_the_directory_and_reports_gaps(tmp_path: Path, capsys) -> None:
    app = EXAMPLES / "broken-documents" / "ai-gate"
    assert main(["documents", "render", str(app), "--out", str(tmp_path), "--only", "model_card"]) == 0
    printed = capsys.readouterr().out
    assert "model_card.nb.md" in printed and "not filled in" in printed
    assert [p.name for p in tmp_path.iterdir()] == ["model_card.nb.md"]


def test_check_example_exits_0(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run.json"
    assert main(["documents", "check", str(EXAMPLE), "--json", str(out), *TODAY]) == 0
    printed = capsys.readouterr().out
    assert "valid:" in printed and "NOT valid" not in printed and "DPIA triggers: ai, linkage" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    keys = [c["key"] for c in data["checks"]]
    assert data["passed"] and any(k.startswith("application.") for k in keys)
    assert any(k.startswith("documents.") for k in keys)


@pytest.mark.parametrize("name", ["ai-gate", "red-risk", "dpia-missing", "benefit", "patient-information"])
def test_check_broken_examples_exit_1_listing_every_problem(tmp_path: Path, capsys, name: str) -> None:
    out = tmp_path / "run.json"
    app = EXAMPLES / "broken-documents" / name / "project.yaml"
    assert main(["documents", "check", str(app), "--json", str(out), *TODAY]) == 1
    printed = capsys.readouterr().out
    assert "NOT valid" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    failed = [p for c in data["checks"] for p in c["details"]["problems"] if p["verdict"] == "failed"]
    assert failed
    for problem in failed:
        assert problem["file"] in printed


def test_check_unreadable_documents_exit_2(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run.json"
    app = EXAMPLES / "broken-documents" / "schema" / "project.yaml"
    assert main(["documents", "check", str(app), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ros.yaml: risks[0].likelihood" in err and "ai.yaml: stage" in err
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["verdict"] == "error" and len(data["checks"][0]["details"]["problems"]) == 7


def test_check_for_provisioning_fails_drafts(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    for f in EXAMPLE.parent.iterdir():
        (app / f.name).write_bytes(f.read_bytes())
    ros = yaml.safe_load((app / "ros.yaml").read_text(encoding="utf-8"))
    ros["status"] = "draft"
    (app / "ros.yaml").write_text(yaml.safe_dump(ros, allow_unicode=True), encoding="utf-8")
    assert main(["documents", "check", str(app), *TODAY]) == 0
    assert main(["documents", "check", str(app), "--for-provisioning", *TODAY]) == 1


def test_study_new_from_the_bundled_template(tmp_path: Path, capsys) -> None:
    target = tmp_path / "My Study"
    code = main(
        ["study", "new", str(target), "--project", "p2026-001-diabetes", "--data", "dp_epsilon=0.5"],
        environ={},
    )
    assert code == 0
    answers = yaml.safe_load((target / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["project_id"] == "p2026-001-diabetes" and answers["study_name"] == "my-study"
    assert answers["dp_epsilon"] == 0.5
    notebooks = sorted(p.name for p in (target / "notebooks").iterdir())
    assert notebooks == [
        "01_explore_synthetic.ipynb",
        "02_build_cohort.ipynb",
        "03_train_dp_model.ipynb",
        "04_request_outputs.ipynb",
    ]
    for path in ("README.md", "requirements.txt", "codelists/type2_diabetes_icd10.csv", "outputs/releasable"):
        assert (target / path).exists(), path
    assert "p2026-001-diabetes" in (target / "README.md").read_text(encoding="utf-8")
    assert "not a versioned git repository" in capsys.readouterr().out


def test_study_new_refuses_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["study", "new", str(tmp_path / "a"), "--project", "Not Valid"], environ={}) == 2
    assert main(["study", "new", str(tmp_path / "b"), "--data", "study_name=Bad Name"], environ={}) == 2
    assert not (tmp_path / "b").exists()  # copier cleans up after a refused answer
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    assert main(["study", "new", str(tmp_path / "c")], environ={}) == 2
    assert main(["study", "new", str(tmp_path / "d"), "--data", "novalue"], environ={}) == 2
    err = capsys.readouterr().err
    assert "not a valid project id" in err and "Validation error for question 'study_name'" in err
    assert "not empty" in err and "KEY=VALUE" in err


def test_study_update_needs_a_study(tmp_path: Path, capsys) -> None:
    assert main(["study", "update", str(tmp_path)], environ={}) == 2
    assert "no .copier-answers.yml" in capsys.readouterr().err
