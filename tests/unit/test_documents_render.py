"""Rendering the application documents: every document, both languages, both formats, no gaps."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2
import pytest
import yaml

from hdc_toolkit.exceptions import HdcUserError
from hdc_toolkit.projects import vocabularies as voc
from hdc_toolkit.projects.documents import (
    AI_STAGES,
    BENEFIT_TYPES,
    DIMENSIONS,
    TRIPOD_AI_ITEMS,
    WP248_CRITERIA,
    AnnexIV,
    load_documents,
)
from hdc_toolkit.projects.render import (
    DOCUMENTS,
    LABELS,
    MISSING_MARK,
    TEMPLATES_DIR,
    TERMS,
    available_documents,
    render_document,
    render_documents,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "templates" / "application" / "examples" / "demo-diabetes"


@pytest.fixture(scope="module")
def docs():
    return load_documents(EXAMPLE / "project.yaml")


@pytest.mark.parametrize("lang", ["nb", "en"])
@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_example_renders_every_document_without_missing_fields(docs, name: str, lang: str) -> None:
    text = render_document(docs, name, lang=lang, fmt="md")
    assert MISSING_MARK not in text, [line for line in text.splitlines() if MISSING_MARK in line]
    assert not re.search(r"(^|\| )None( \||$)", text, re.MULTILINE), "a Python None leaked into the text"
    assert text.startswith("# ") and text.endswith("\n")
    if name != "patient_information":
        assert docs.application.id in text


def test_every_document_is_available_for_the_example(docs) -> None:
    assert available_documents(docs) == list(DOCUMENTS)


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_html_pages(docs, lang: str) -> None:
    page = render_document(docs, "ros", lang=lang, fmt="html")
    assert page.startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in page
    assert "<table>" in page and "<h1>" in page and MISSING_MARK not in page


def test_languages_differ_only_in_labels(docs) -> None:
    nb = render_document(docs, "dpia", lang="nb")
    en = render_document(docs, "dpia", lang="en")
    assert "Vurdering av personvernkonsekvenser" in nb and "Data protection impact assessment" in en
    assert "Secondary use of hospital records" in nb and "Secondary use of hospital records" in en


def test_patient_information_is_rendered_in_the_chosen_language(docs) -> None:
    assert "Vi forsker på diabetes type 2." in render_document(docs, "patient_information", lang="nb")
    assert "We study type 2 diabetes." in render_document(docs, "patient_information", lang="en")


def test_render_documents_writes_one_file_per_document(docs, tmp_path: Path) -> None:
    written = render_documents(docs, tmp_path / "out", lang="en", fmt="html")
    assert [p.name for p in written] == [f"{name}.en.html" for name in DOCUMENTS]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)
    only = render_documents(docs, tmp_path / "only", names=["ros"])
    assert [p.name for p in only] == ["ros.nb.md"]


def test_empty_fields_are_marked_not_hidden(tmp_path: Path) -> None:
    target = tmp_path / "application"
    shutil.copytree(EXAMPLE, target)
    ai = yaml.safe_load((target / "ai.yaml").read_text(encoding="utf-8"))
    ai["model_card"]["caveats"] = None
    del ai["datasheet"]
    (target / "ai.yaml").write_text(yaml.safe_dump(ai, allow_unicode=True), encoding="utf-8")
    draft = load_documents(target / "project.yaml")
    card = render_document(draft, "model_card", lang="en")
    assert card.count(f"{MISSING_MARK} not filled in") == 1
    assert f"{MISSING_MARK} ikke utfylt" in render_document(draft, "datasheet", lang="nb")


def test_documents_without_their_file_are_not_available(tmp_path: Path) -> None:
    target = tmp_path / "application"
    shutil.copytree(EXAMPLE, target)
    for name in ("ai.yaml", "dpia.yaml"):
        (target / name).unlink()
    bare = load_documents(target / "project.yaml")
    assert available_documents(bare) == [
        "rek_application",
        "data_request",
        "ros",
        "benefit_plan",
        "patient_information",
    ]
    with pytest.raises(HdcUserError, match="needs ai.yaml"):
        render_document(bare, "model_card")
    assert MISSING_MARK not in render_document(bare, "rek_application")


def test_text_from_yaml_cannot_inject_html_or_break_tables(tmp_path: Path) -> None:
    target = tmp_path / "application"
    shutil.copytree(EXAMPLE, target)
    ros = yaml.safe_load((target / "ros.yaml").read_text(encoding="utf-8"))
    ros["risks"][0]["event"] = "<script>alert(1)</script> a | b\nnext line"
    (target / "ros.yaml").write_text(yaml.safe_dump(ros, allow_unicode=True), encoding="utf-8")
    evil = load_documents(target / "project.yaml")
    md = render_document(evil, "ros", lang="en")
    assert "a \\| b next line" in md
    page = render_document(evil, "ros", lang="en", fmt="html")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_unknown_choices_are_user_errors(docs) -> None:
    with pytest.raises(HdcUserError, match="language"):
        render_document(docs, "ros", lang="de")
    with pytest.raises(HdcUserError, match="format"):
        render_document(docs, "ros", fmt="pdf")
    with pytest.raises(HdcUserError, match="unknown document"):
        render_document(docs, "poster")


def test_templates_are_strict() -> None:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ L.no_such_label }}").render(L={})


# --- labels and terms --------------------------------------------------------------------------------------


def _dynamic_labels() -> set[str]:
    datasheet = (
        "motivation",
        "composition",
        "collection",
        "preprocessing",
        "uses",
        "distribution",
        "maintenance",
    )
    pi = (
        "what",
        "why",
        "which_data",
        "who_has_access",
        "ai_use",
        "risks_and_benefits",
        "legal_basis",
        "your_rights",
        "contact",
    )
    triggers = ("ai", "new_technology", "linkage", "no_consent", "large_scale", "vulnerable_groups", "wp248")
    return (
        {f"doc_{n}" for n in DOCUMENTS}
        | {f"annex_{f}" for f in AnnexIV.model_fields}
        | {f"datasheet_{f}" for f in datasheet}
        | {f"datasheet_{f}_q" for f in datasheet}
        | {f"pi_{f}" for f in pi}
        | {f"trigger_{t}" for t in triggers}
        | {"missing", "yes", "no", "band_green", "band_yellow", "band_red"}
    )


def test_both_languages_have_the_same_labels() -> None:
    assert set(LABELS["nb"]) == set(LABELS["en"])
    assert all(text.strip() for lang in LABELS.values() for text in lang.values())


def test_every_label_a_template_uses_exists() -> None:
    used = set()
    for template in TEMPLATES_DIR.glob("*.j2"):
        used |= set(re.findall(r"\bL\.([a-z0-9_]+)", template.read_text(encoding="utf-8")))
    needed = used | _dynamic_labels()
    assert needed - set(LABELS["en"]) == set()
    assert set(LABELS["en"]) - needed == set(), "labels no template uses"


@pytest.mark.parametrize(
    ("category", "codes"),
    [
        ("purpose", voc.PURPOSES),
        ("art6", voc.GDPR_ART6),
        ("art9", voc.GDPR_ART9),
        ("national", voc.NATIONAL_BASES),
        ("role", voc.ROLES),
        ("approval_type", voc.APPROVAL_TYPES),
        ("approval_status", voc.APPROVAL_STATUSES),
        ("risk_profile", voc.RISK_PROFILES),
        ("dataset", voc.DATASETS),
        ("identifiability", voc.IDENTIFIABILITY),
        ("granularity", voc.GRANULARITIES),
        ("stage", AI_STAGES),
        ("dimension", DIMENSIONS),
        ("benefit_type", BENEFIT_TYPES),
        ("wp248", WP248_CRITERIA),
        ("tripod_item", TRIPOD_AI_ITEMS),
    ],
)
def test_every_code_has_a_term_in_both_languages(category: str, codes: dict) -> None:
    for lang in ("nb", "en"):
        assert set(TERMS[lang][category]) == set(codes), (lang, category)
