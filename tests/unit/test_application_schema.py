"""Loading applications: the schema, its error messages, YAML errors and the public model API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hdc_toolkit.exceptions import ApplicationError, NotFoundError
from hdc_toolkit.projects.application import Application, load_application

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "templates" / "application" / "examples"
EXAMPLE = EXAMPLES / "demo-diabetes"


def write_app(tmp_path: Path, edit_project=None, edit_request=None) -> Path:
    """Copy the example into tmp_path (as YAML written afresh), after optional edits of the raw dicts."""
    project = yaml.safe_load((EXAMPLE / "project.yaml").read_text(encoding="utf-8"))
    request = yaml.safe_load((EXAMPLE / "data_request.yaml").read_text(encoding="utf-8"))
    if edit_project:
        edit_project(project)
    if edit_request:
        edit_request(request)
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (tmp_path / "data_request.yaml").write_text(yaml.safe_dump(request, sort_keys=False), encoding="utf-8")
    return tmp_path / "project.yaml"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ApplicationError) as info:
        load_application(path)
    assert info.value.problems, "an ApplicationError always lists its problems"
    return info.value.problems


def test_example_loads_with_the_public_api() -> None:
    app = load_application(EXAMPLE / "project.yaml")
    assert isinstance(app, Application)
    assert app.id == "p2026-001-diabetes"
    assert app.risk_profile == "acro-default"
    assert (app.dp_budget.epsilon, app.dp_budget.delta) == (3.0, 1e-6)
    assert app.start_date == dt.date(2027, 1, 4) and app.end_date < app.deletion_date
    assert [m.username for m in app.members] == ["ingberg", "magnil", "sarhau", "perlie", "karmoe"]
    assert app.leader is not None and app.leader.role == "project_leader"
    assert app.member("karmoe").role == "output_checker"
    assert app.data_request.datasets[0].dataset == "patients"
    assert app.data_request.datasets[0].variables[0].name == "birth_date"
    assert app.data_request.cohort.icd10[0].code == "E11"
    assert app.data_request.cohort.window.start == dt.date(2016, 1, 1)
    cols = app.permitted_columns()
    assert set(cols) == {"patients", "episodes", "diagnoses", "prescriptions", "lab_results"}
    assert cols["patients"] == ["birth_date", "sex", "municipality", "death_date"]
    assert "national_id" not in {c for names in cols.values() for c in names}
    assert app.granularity("patients", "municipality") == "county"
    assert app.granularity("episodes", "admission_time") == "day"
    assert app.project_file == EXAMPLE / "project.yaml"
    assert app.data_request_file == EXAMPLE / "data_request.yaml"
    assert app.file_names == ("project.yaml", "data_request.yaml")


def test_lookups_of_unknown_columns_and_members_raise_not_found() -> None:
    app = load_application(EXAMPLE / "project.yaml")
    with pytest.raises(NotFoundError, match="patients.national_id"):
        app.granularity("patients", "national_id")
    with pytest.raises(NotFoundError):
        app.member("nobody")


def test_models_are_frozen() -> None:
    app = load_application(EXAMPLE / "project.yaml")
    with pytest.raises(ValidationError):
        app.id = "p2026-999-other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        app.members[0].role = "researcher"  # type: ignore[misc]
    assert isinstance(app.members, tuple)


def test_misspelt_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    def edit(p):
        p["members"][2]["traning_date"] = p["members"][2].pop("training_date")

    problems = problems_of(write_app(tmp_path, edit))
    assert "project.yaml: members[2].traning_date: unknown field (did you mean 'training_date'?)" in problems


def test_type_errors_become_field_paths_in_both_files(tmp_path: Path) -> None:
    def edit_project(p):
        p["members"][1]["training_date"] = "last spring"
        p["dp_budget"]["epsilon"] = "lots"
        p["purpose"] = "research"
        del p["members"][0]["role"]
        p["start_date"] = dt.datetime(2027, 1, 4, 9, 0)

    def edit_request(r):
        r["datasets"][0]["variables"][3]["granularity"] = "week"
        r["datasets"][1]["variables"] = "episode_id"
        r["cohort"]["window"]["end"] = 2025

    problems = problems_of(write_app(tmp_path, edit_project, edit_request))
    text = "\n".join(problems)
    assert "Traceback" not in text and "pydantic" not in text.lower()
    expected = [
        "project.yaml: members[1].training_date: should be a date written YYYY-MM-DD (got 'last spring')",
        "project.yaml: dp_budget.epsilon: ",
        "project.yaml: purpose: 'research' is not a known purpose; choose one of: ",
        "project.yaml: members[0].role: required field is missing",
        "project.yaml: start_date: should be a date (YYYY-MM-DD) without a time",
        "data_request.yaml: datasets[0].variables[3].granularity: 'week' is not a known granularity",
        "data_request.yaml: datasets[1].variables: should be a list",
        "data_request.yaml: cohort.window.end: should be a date written YYYY-MM-DD (got 2025)",
    ]
    for prefix in expected:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    assert len(problems) == len(expected)


def test_empty_values_say_fill_it_in(tmp_path: Path) -> None:
    def edit(p):
        p["title"] = None
        p["members"][0]["email"] = ""
        p["legal_basis"]["national"] = []

    problems = problems_of(write_app(tmp_path, edit))
    assert "project.yaml: title: is empty; fill it in" in problems
    assert "project.yaml: members[0].email: is empty; fill it in" in problems
    assert "project.yaml: legal_basis.national: should list at least one entry" in problems


def test_malformed_yaml_gives_file_and_line() -> None:
    with pytest.raises(ApplicationError) as info:
        load_application(EXAMPLES / "broken" / "yaml" / "project.yaml")
    assert info.value.location.endswith("project.yaml:11")
    assert info.value.problems[0].startswith("project.yaml:11: not valid YAML")


def test_malformed_data_request_yaml_gives_its_file_and_line(tmp_path: Path) -> None:
    path = write_app(tmp_path)
    (tmp_path / "data_request.yaml").write_text(
        "cohort:\n  description: x\n  icd10: [E11\n", encoding="utf-8"
    )
    problems = problems_of(path)
    assert problems[0].startswith("data_request.yaml:") and "not valid YAML" in problems[0]
    line = int(problems[0].split(":")[1])
    assert line >= 3


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write_app(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "purpose: statistics\n", encoding="utf-8")
    problems = problems_of(path)
    assert "duplicate key 'purpose'" in problems[0] and problems[0].startswith("project.yaml:")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("missing.yaml", "project.yaml: data_request: file not found: missing.yaml"),
        (None, "project.yaml: data_request: required"),
        (["data_request.yaml"], "project.yaml: data_request: should name the data request file"),
        ("/etc/data_request.yaml", "project.yaml: data_request: should be a path relative to project.yaml"),
    ],
)
def test_data_request_reference_problems(tmp_path: Path, value, expected: str) -> None:
    def edit(p):
        p["data_request"] = value
        p["title"] = ""  # reported together with the reference problem

    problems = problems_of(write_app(tmp_path, edit))
    assert any(p.startswith(expected) for p in problems), problems
    assert "project.yaml: title: is empty; fill it in" in problems


def test_missing_or_empty_project_file(tmp_path: Path) -> None:
    with pytest.raises(ApplicationError, match="file not found"):
        load_application(tmp_path / "project.yaml")
    (tmp_path / "project.yaml").write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ApplicationError, match="empty"):
        load_application(tmp_path / "project.yaml")
    (tmp_path / "project.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ApplicationError, match="mapping"):
        load_application(tmp_path / "project.yaml")


def test_broken_schema_example_reports_every_problem_at_once() -> None:
    problems = problems_of(EXAMPLES / "broken" / "schema" / "project.yaml")
    assert any(p.startswith("project.yaml: members[0].traning_date: unknown field") for p in problems)
    assert any(p.startswith("project.yaml: members[1].training_date:") for p in problems)
    assert any(p.startswith("project.yaml: purpose:") for p in problems)
    assert any(
        p.startswith("data_request.yaml: datasets[0].variables[0].granulrity: unknown field")
        for p in problems
    )
    assert any(p.startswith("data_request.yaml: datasets[0].variables[0].identifiability:") for p in problems)
    assert len(problems) >= 8


def test_blank_template_lists_what_to_fill_in() -> None:
    problems = problems_of(REPO / "templates" / "application" / "project.yaml")
    assert "project.yaml: title: is empty; fill it in" in problems
    assert "data_request.yaml: cohort.window.start: is empty; fill it in" in problems


def test_an_application_built_in_code_names_default_files() -> None:
    app = load_application(EXAMPLE / "project.yaml")
    copy = Application.model_validate(app.model_dump())
    assert copy.model_dump() == app.model_dump()
    assert copy.project_file is None and copy.file_names == ("project.yaml", "data_request.yaml")
