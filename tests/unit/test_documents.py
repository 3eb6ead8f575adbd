"""The companion documents' schema and loader (``hdc_toolkit.projects.documents``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from hdc_toolkit.exceptions import ApplicationError
from hdc_toolkit.projects.documents import (
    DOCUMENT_FILES,
    TRIPOD_AI_ITEMS,
    AiDocumentation,
    PatientInformation,
    Risk,
    load_documents,
    missing_fields,
    risk_band,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "templates" / "application" / "examples"
EXAMPLE = EXAMPLES / "demo-diabetes"


def copy_example(tmp_path: Path, edits: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
    """A private copy of the demo application; ``edits`` maps a document file to a function editing it."""
    target = tmp_path / "application"
    shutil.copytree(EXAMPLE, target)
    for name in drop:
        (target / name).unlink()
    for name, edit in (edits or {}).items():
        data = yaml.safe_load((target / name).read_text(encoding="utf-8"))
        edit(data)
        (target / name).write_text(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
    return target / "project.yaml"


def test_example_loads_every_document_completely() -> None:
    docs = load_documents(EXAMPLE / "project.yaml")
    assert docs.application.id == "p2026-001-diabetes"
    assert set(docs.files) == set(DOCUMENT_FILES)
    for name in DOCUMENT_FILES:
        doc = docs.document(name)
        assert doc is not None, name
        assert missing_fields(doc) == [], name
    assert docs.uses_ai and docs.ai.stage == "research" and not docs.ai.gated
    assert docs.ros.approved and docs.dpia.approved


def test_documents_are_optional_at_load_time(tmp_path: Path) -> None:
    docs = load_documents(copy_example(tmp_path, drop=tuple(DOCUMENT_FILES.values())))
    assert docs.files == {} and docs.ai is None and docs.ros is None and not docs.uses_ai


def test_documents_are_frozen() -> None:
    docs = load_documents(EXAMPLE / "project.yaml")
    with pytest.raises(ValidationError):
        docs.ros.risks[0].likelihood = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("score", "band"),
    [(1, "green"), (4, "green"), (5, "yellow"), (6, "yellow"), (12, "yellow"), (15, "red"), (25, "red")],
)
def test_risk_bands(score: int, band: str) -> None:
    assert risk_band(score) == band


def test_residual_score_falls_back_to_inherent_until_reassessed() -> None:
    risk = Risk(id="R1", event="e", dimensions=("integrity",), likelihood=3, consequence=5)
    assert (risk.score, risk.residual_score, risk.residual_band, risk.residual_assessed) == (
        15,
        15,
        "red",
        False,
    )
    done = risk.model_copy(update={"residual_likelihood": 1, "residual_consequence": 5})
    assert (done.residual_score, done.residual_band, done.residual_assessed) == (5, "yellow", True)


def test_missing_fields_walks_nested_documents_and_respects_optional() -> None:
    ai = AiDocumentation(system_name="X", model_card={"name": "m"})
    gaps = missing_fields(ai)
    assert "intended_purpose" in gaps and "model_card.version" in gaps and "datasheet" in gaps
    assert "go_live" not in gaps and "annex_iv" not in gaps and "tripod_ai" not in gaps
    assert "model_card.name" not in gaps


def test_patient_information_text_per_language() -> None:
    pi = PatientInformation(language="nb", title={"nb": "Tittel", "en": "Title"}, what="Bare norsk")
    assert pi.text("title", "en") == "Title" and pi.text("what", "nb") == "Bare norsk"
    assert pi.text("what", "en") is None and pi.text("why", "nb") is None


@pytest.mark.parametrize(
    ("title", "message"),
    [
        (5, "should be a text, or one text per language: {nb: ..., en: ...}"),
        ({"de": "Titel"}, "the languages are nb and en (got de)"),
        ({"nb": " "}, "the nb text should be a non-empty text"),
        ("", "is empty; fill it in"),
    ],
)
def test_patient_information_texts_are_checked(tmp_path: Path, title: object, message: str) -> None:
    def edit(pi: dict) -> None:
        pi["title"] = title

    with pytest.raises(ApplicationError) as info:
        load_documents(copy_example(tmp_path, {"patient_information.yaml": edit}))
    assert info.value.problems == [f"patient_information.yaml: title: {message}"]


def test_tripod_items_are_the_27_numbered_items() -> None:
    numbers = {item.rstrip("abcdefg") for item in TRIPOD_AI_ITEMS}
    assert numbers == {str(n) for n in range(1, 28)}


def test_broken_schema_example_lists_every_problem_with_file_and_field() -> None:
    with pytest.raises(ApplicationError) as info:
        load_documents(EXAMPLES / "broken-documents" / "schema" / "project.yaml")
    problems = info.value.problems
    expected = [
        "ros.yaml: approved_date: should be a date written YYYY-MM-DD",
        "ros.yaml: risks[0].dimensions[1]:",
        "ros.yaml: risks[0].likelihood: Input should be less than or equal to 5 (got 7)",
        "ros.yaml: risks[0].risk_ownr: unknown field",
        "benefit.yaml: benefits: should list at least one entry",
        "ai.yaml: stage:",
        "ai.yaml: tripod_ai: unknown TRIPOD+AI item(s) '99'",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    assert len(problems) == len(expected)
    assert not any("risks: should list" in p for p in problems)  # not reported for invalid entries


def test_application_and_document_problems_are_reported_together(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    text = project.read_text(encoding="utf-8").replace("purpose: scientific_research", "purpose: curiosity")
    project.write_text(text, encoding="utf-8")
    (project.parent / "ros.yaml").write_text("risks: [\n", encoding="utf-8")
    with pytest.raises(ApplicationError) as info:
        load_documents(project)
    problems = info.value.problems
    assert any(p.startswith("project.yaml: purpose:") for p in problems)
    assert any(p.startswith("ros.yaml:") and "not valid YAML" in p for p in problems)


def test_yaml_mistakes_in_a_document_are_located(tmp_path: Path) -> None:
    project = copy_example(tmp_path)
    (project.parent / "ai.yaml").write_text("system_name: A\nsystem_name: B\n", encoding="utf-8")
    with pytest.raises(ApplicationError) as info:
        load_documents(project)
    assert info.value.problems == ["ai.yaml:2: not valid YAML: duplicate key 'system_name' (column 1)"]


def test_likelihood_must_be_a_whole_number(tmp_path: Path) -> None:
    def edit(ros: dict) -> None:
        ros["risks"][0]["likelihood"] = "3"

    with pytest.raises(ApplicationError) as info:
        load_documents(copy_example(tmp_path, {"ros.yaml": edit}))
    assert info.value.problems == ["ros.yaml: risks[0].likelihood: should be a whole number"]


def test_duplicate_risk_ids_are_refused(tmp_path: Path) -> None:
    def edit(ros: dict) -> None:
        ros["risks"][1]["id"] = "R1"

    with pytest.raises(ApplicationError) as info:
        load_documents(copy_example(tmp_path, {"ros.yaml": edit}))
    assert any("risk id 'R1' is used more than once" in p for p in info.value.problems)
