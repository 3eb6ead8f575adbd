"""The document rules: DPIA triggers, the AI gate, risk acceptance, benefit KPIs, patient information."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from hdc_toolkit.projects.application_rules import run_problems
from hdc_toolkit.projects.document_rules import (
    LARGE_SCALE_SUBJECTS,
    RULES,
    check_all,
    check_documents,
    dpia_triggers,
    lix,
    unaccepted_red_risks,
)
from hdc_toolkit.projects.documents import load_documents
from hdc_toolkit.results import Verdict

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "templates" / "application" / "examples"
EXAMPLE = EXAMPLES / "demo-diabetes"
BROKEN = EXAMPLES / "broken-documents"
TODAY = dt.date(2026, 11, 26)


def copy_example(tmp_path: Path, edits: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
    target = tmp_path / "application"
    shutil.copytree(EXAMPLE, target)
    for name in drop:
        (target / name).unlink()
    for name, edit in (edits or {}).items():
        path = target / name
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target / "project.yaml"


def check(path: Path, **kwargs):
    kwargs.setdefault("today", TODAY)
    return check_documents(load_documents(path), **kwargs)


def problems(run, key: str, verdict: Verdict | None = None) -> list[dict]:
    found = run.by_key()[key].details["problems"]
    return [p for p in found if verdict is None or p["verdict"] == verdict.value]


def failed_keys(run) -> set[str]:
    return {c.key for c in run.checks if c.verdict in (Verdict.FAILED, Verdict.ERROR)}


# --- the example ------------------------------------------------------------------------------------


def test_example_passes_every_document_rule() -> None:
    run = check(EXAMPLE / "project.yaml")
    assert run.passed, run_problems(run)
    warnings = {c.key for c in run.checks if c.verdict is Verdict.WARNING}
    assert warnings == {"documents.ai.tripod"}  # results items wait for the publication
    assert [c.key for c in run.checks] == [key for key, _rule, _ok in RULES]
    assert all(c.kind == "documents" for c in run.checks)
    assert run.metadata["dpia_triggers"] == ["ai", "linkage", "no_consent", "large_scale", "wp248"]


def test_check_all_runs_application_and_document_rules_in_one_run() -> None:
    run = check_all(load_documents(EXAMPLE / "project.yaml"), today=TODAY)
    keys = [c.key for c in run.checks]
    assert any(k.startswith("application.") for k in keys) and any(k.startswith("documents.") for k in keys)
    assert run.name == "application" and run.passed and len(run.metadata["application_hash"]) == 64
    assert run.metadata["ai_stage"] == "research"


# --- each broken example is caught ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "key", "file", "path"),
    [
        ("ai-gate", "documents.ai.gate", "ai.yaml", "model_card"),
        ("ai-gate", "documents.ai.gate", "ai.yaml", "datasheet"),
        ("ai-gate", "documents.ai.gate", "ai.yaml", "annex_iv"),
        ("ai-gate", "documents.ai.gate", "ai.yaml", "oversight_logging"),
        ("ai-gate", "documents.ai.gate", "ros.yaml", "status"),
        ("ai-gate", "documents.ai.gate", "dpia.yaml", "status"),
        ("ai-gate", "documents.ai.gate", "ros.yaml", "risks[0].acceptance"),
        ("ai-gate", "documents.ai.gate", "patient_information.yaml", ""),
        ("ai-gate", "documents.ai.gate", "benefit.yaml", "benefits[0].kpis[0].baseline"),
        ("ai-gate", "documents.ai.gate", "benefit.yaml", "benefits[0].kpis[1].baseline.date"),
        ("red-risk", "documents.risks.acceptance", "ros.yaml", "risks[0].acceptance"),
        ("red-risk", "documents.risks.acceptance", "ros.yaml", "risks[1].acceptance"),
        ("red-risk", "documents.risks.acceptance", "ros.yaml", "risks[2].acceptance"),
        ("red-risk", "documents.risks.acceptance", "dpia.yaml", "risks[0].acceptance"),
        ("red-risk", "documents.dpia.prior_consultation", "dpia.yaml", "prior_consultation"),
        ("dpia-missing", "documents.dpia.required", "dpia.yaml", ""),
        ("benefit", "documents.benefit.kpis", "benefit.yaml", "benefits[0].kpis[0].target.value"),
        ("benefit", "documents.benefit.kpis", "benefit.yaml", "benefits[0].kpis[0].target.date"),
        (
            "patient-information",
            "documents.patient_information.required",
            "patient_information.yaml",
            "ai_use",
        ),
        (
            "patient-information",
            "documents.patient_information.required",
            "patient_information.yaml",
            "language",
        ),
    ],
)
def test_broken_example_fails_the_rule(example: str, key: str, file: str, path: str) -> None:
    run = check(BROKEN / example / "project.yaml")
    assert not run.passed
    found = [(p["file"], p["path"]) for p in problems(run, key, Verdict.FAILED)]
    assert (file, path) in found, found


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (
            "ai-gate",
            {
                "documents.ai.gate",
                "documents.risks.acceptance",
                "documents.ai.complete",
                "documents.benefit.kpis",
                "documents.dpia.complete",
            },
        ),
        ("red-risk", {"documents.risks.acceptance", "documents.dpia.prior_consultation"}),
        ("dpia-missing", {"documents.dpia.required"}),
        ("benefit", {"documents.benefit.kpis"}),
        ("patient-information", {"documents.patient_information.required"}),
    ],
)
def test_broken_example_fails_exactly_its_rules(example: str, expected: set[str]) -> None:
    run = check_all(load_documents(BROKEN / example / "project.yaml"), today=TODAY)
    assert failed_keys(run) == expected, run_problems(run, include_warnings=False)


def test_red_risk_acceptance_names_who_accepted_and_who_owns() -> None:
    run = check(BROKEN / "red-risk" / "project.yaml")
    texts = [p["text"] for p in problems(run, "documents.risks.acceptance")]
    assert any("R2" in t and "accepted by Ingrid Berg, not by its risk owner Tone Aune" in t for t in texts)
    assert any("R3" in t and "no risk owner" in t and "not reassessed" in t for t in texts)
    scores = problems(run, "documents.risks.scores", Verdict.WARNING)
    assert [p["path"] for p in scores] == ["risks[3].residual_likelihood"]


# --- DPIA triggers ----------------------------------------------------------------------------------------


def _no_triggers(tmp_path: Path, **screening) -> Path:
    """One dataset, consent, no AI, small scale: no trigger holds."""

    def request(dr: dict) -> None:
        dr["datasets"] = [dr["datasets"][0]]

    def dpia(d: dict) -> None:
        d["screening"] = {"expected_subjects": 500, "evaluation_or_scoring": False, **screening}

    project = copy_example(tmp_path, {"data_request.yaml": request, "dpia.yaml": dpia}, drop=("ai.yaml",))
    text = project.read_text(encoding="utf-8")
    text = text.replace("gdpr_art9: j", "gdpr_art9: a").replace(
        "national: [helseforskningsloven_35]", "national: [helseforskningsloven_13]"
    )
    project.write_text(text, encoding="utf-8")
    return project


def test_no_trigger_means_no_dpia_required(tmp_path: Path) -> None:
    docs = load_documents(_no_triggers(tmp_path))
    assert dpia_triggers(docs) == []


@pytest.mark.parametrize(
    ("screening", "trigger"),
    [
        ({"new_technology": True}, "new_technology"),
        ({"expected_subjects": LARGE_SCALE_SUBJECTS + 1}, "large_scale"),
        ({"vulnerable_groups": ["children"]}, "vulnerable_groups"),
    ],
)
def test_each_screening_trigger(tmp_path: Path, screening: dict, trigger: str) -> None:
    keys = [t.key for t in dpia_triggers(load_documents(_no_triggers(tmp_path, **screening)))]
    assert trigger in keys


def test_exactly_large_scale_threshold_is_not_large(tmp_path: Path) -> None:
    docs = load_documents(_no_triggers(tmp_path, expected_subjects=LARGE_SCALE_SUBJECTS))
    assert "large_scale" not in [t.key for t in dpia_triggers(docs)]


def test_two_wp248_criteria_trigger(tmp_path: Path) -> None:
    # sensitive (health) data always counts; systematic monitoring is the second criterion
    docs = load_documents(_no_triggers(tmp_path, systematic_monitoring=True))
    assert [t.key for t in dpia_triggers(docs)] == ["wp248"]


def test_application_triggers_ai_linkage_no_consent() -> None:
    keys = [t.key for t in dpia_triggers(load_documents(EXAMPLE / "project.yaml"))]
    assert {"ai", "linkage", "no_consent"} <= set(keys)


def test_without_dpia_file_the_screening_is_still_required(tmp_path: Path) -> None:
    project = _no_triggers(tmp_path)
    (project.parent / "dpia.yaml").unlink()
    found = problems(check(project), "documents.dpia.required", Verdict.FAILED)
    assert len(found) == 1 and "record the DPIA screening" in found[0]["message"]


def test_screening_only_is_not_enough_when_a_trigger_holds(tmp_path: Path) -> None:
    def dpia(d: dict) -> None:
        for name in ("description", "necessity", "risks", "measures"):
            d.pop(name)

    found = problems(check(copy_example(tmp_path, {"dpia.yaml": dpia})), "documents.dpia.required")
    assert len(found) == 1 and "only the screening is recorded" in found[0]["message"]


# --- AI gate ----------------------------------------------------------------------------------------------


def _gated(ai: dict) -> None:
    ai["stage"] = "production"
    ai["go_live"] = "2027-02-01"


def test_complete_ai_project_passes_the_gate(tmp_path: Path) -> None:
    run = check(copy_example(tmp_path, {"ai.yaml": _gated}))
    assert problems(run, "documents.ai.gate") == []
    assert run.passed, run_problems(run)


def test_affects_patient_care_switches_the_gate_on_at_research_stage(tmp_path: Path) -> None:
    def ai(d: dict) -> None:
        d["affects_patient_care"] = True
        d.pop("model_card")

    found = problems(check(copy_example(tmp_path, {"ai.yaml": ai})), "documents.ai.gate")
    assert [(p["file"], p["path"]) for p in found] == [("ai.yaml", "model_card"), ("ai.yaml", "go_live")]


def test_gate_needs_baselines_measured_before_go_live(tmp_path: Path) -> None:
    def ai(d: dict) -> None:
        _gated(d)
        d["go_live"] = "2026-09-30"  # the day the baselines were measured: not before

    found = problems(check(copy_example(tmp_path, {"ai.yaml": ai})), "documents.ai.gate")
    assert [p["path"] for p in found] == [
        "benefits[0].kpis[0].baseline.date",
        "benefits[1].kpis[0].baseline.date",
    ]


def test_gate_needs_approved_ros_and_dpia_and_patient_information(tmp_path: Path) -> None:
    def draft(d: dict) -> None:
        d["status"] = "draft"

    def no_ai_text(d: dict) -> None:
        d.pop("ai_use")

    project = copy_example(
        tmp_path,
        {"ai.yaml": _gated, "ros.yaml": draft, "dpia.yaml": draft, "patient_information.yaml": no_ai_text},
    )
    found = [(p["file"], p["path"]) for p in problems(check(project), "documents.ai.gate")]
    assert found == [
        ("ros.yaml", "status"),
        ("dpia.yaml", "status"),
        ("patient_information.yaml", "ai_use"),
    ]


def test_gated_gaps_in_documents_fail_instead_of_warn(tmp_path: Path) -> None:
    def ai(d: dict) -> None:
        _gated(d)
        d["model_card"]["caveats"] = None

    run = check(copy_example(tmp_path, {"ai.yaml": ai}))
    assert [p["path"] for p in problems(run, "documents.ai.complete", Verdict.FAILED)] == [
        "model_card.caveats"
    ]

    def research(d: dict) -> None:
        d["model_card"]["caveats"] = None

    run = check(copy_example(tmp_path / "research", {"ai.yaml": research}))
    assert [p["path"] for p in problems(run, "documents.ai.complete", Verdict.WARNING)] == [
        "model_card.caveats"
    ]


def test_log_retention_minimum(tmp_path: Path) -> None:
    def ai(d: dict) -> None:
        d["oversight_logging"]["log_retention_months"] = 3

    found = problems(check(copy_example(tmp_path, {"ai.yaml": ai})), "documents.ai.logging", Verdict.FAILED)
    assert [p["path"] for p in found] == ["oversight_logging.log_retention_months"]


def test_ai_purpose_needs_ai_documentation(tmp_path: Path) -> None:
    project = copy_example(tmp_path, drop=("ai.yaml",))
    text = project.read_text(encoding="utf-8").replace(
        "purpose: scientific_research", "purpose: innovation_ai_training"
    )
    project.write_text(text, encoding="utf-8")
    assert problems(check(project), "documents.ai.declared", Verdict.FAILED)


# --- risks, approvals, provisioning -------------------------------------------------------------------


def test_owner_acceptance_clears_a_red_residual_risk(tmp_path: Path) -> None:
    def red(d: dict) -> None:
        r = d["risks"][0]
        r["residual_likelihood"], r["residual_consequence"] = 4, 4

    project = copy_example(tmp_path, {"ros.yaml": red})
    assert [p[1] for p in unaccepted_red_risks(load_documents(project))] == ["risks[0].acceptance"]

    def accepted(d: dict) -> None:
        red(d)
        d["risks"][0]["acceptance"] = {"accepted_by": " tone  AUNE ", "date": "2026-11-20", "rationale": "ok"}

    project = copy_example(tmp_path / "accepted", {"ros.yaml": accepted})
    assert unaccepted_red_risks(load_documents(project)) == []


def test_draft_ros_warns_but_fails_for_provisioning(tmp_path: Path) -> None:
    def draft(d: dict) -> None:
        d["status"] = "draft"

    project = copy_example(tmp_path, {"ros.yaml": draft})
    assert check(project).by_key()["documents.ros.required"].verdict is Verdict.PASSED
    run = check(project, for_provisioning=True)
    assert [p["path"] for p in problems(run, "documents.ros.required", Verdict.FAILED)] == ["status"]


def test_approved_without_approver_and_future_dates(tmp_path: Path) -> None:
    def ros(d: dict) -> None:
        d["approved_by"] = None
        d["risks"][1]["acceptance"]["date"] = "2027-01-01"

    run = check(copy_example(tmp_path, {"ros.yaml": ros}))
    assert [p["path"] for p in problems(run, "documents.ros.required")] == ["approved_by"]
    assert [p["path"] for p in problems(run, "documents.risks.scores")] == ["risks[1].acceptance.date"]


def test_missing_ros_fails(tmp_path: Path) -> None:
    found = problems(
        check(copy_example(tmp_path, drop=("ros.yaml",))), "documents.ros.required", Verdict.FAILED
    )
    assert found and found[0]["file"] == "ros.yaml"


def test_dpo_advice_not_followed_needs_a_reason(tmp_path: Path) -> None:
    def dpia(d: dict) -> None:
        d["dpo_opinion"]["followed"] = False

    found = problems(check(copy_example(tmp_path, {"dpia.yaml": dpia})), "documents.dpia.dpo_opinion")
    assert [p["path"] for p in found] == ["dpo_opinion.reason_not_followed"]


# --- benefit plan and patient information ------------------------------------------------------------------


def test_ai_project_needs_a_benefit_plan(tmp_path: Path) -> None:
    found = problems(check(copy_example(tmp_path, drop=("benefit.yaml",))), "documents.benefit.required")
    assert found and found[0]["verdict"] == "failed"


def test_ai_project_needs_patient_information(tmp_path: Path) -> None:
    run = check(copy_example(tmp_path, drop=("patient_information.yaml",)))
    assert problems(run, "documents.patient_information.required", Verdict.FAILED)


def test_non_ai_project_needs_neither(tmp_path: Path) -> None:
    run = check(copy_example(tmp_path, drop=("ai.yaml", "benefit.yaml", "patient_information.yaml")))
    assert run.passed, run_problems(run)


def test_plain_language_warning() -> None:
    run = check(BROKEN / "patient-information" / "project.yaml")
    found = problems(run, "documents.patient_information.plain_language", Verdict.WARNING)
    assert [p["path"] for p in found] == ["what"]


def test_lix() -> None:
    assert lix("Vi forsker. Du kan si nei.") < 20
    assert lix("Epidemiologiske karakteriseringer utilstrekkelige. Farmakoterapeutiske forløp.") > 60
    assert lix("") == 0.0
