"""The application rules: each one triggers with a message naming file and field; all at once."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from hdc_toolkit.projects.application import load_application
from hdc_toolkit.projects.application_rules import check_application, read_contract_columns, run_problems
from hdc_toolkit.results import Verdict

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "templates" / "application" / "examples"
EXAMPLE = EXAMPLES / "demo-diabetes"
TODAY = dt.date(2026, 11, 26)


def write_app(tmp_path: Path, edit_project=None, edit_request=None) -> Path:
    project = yaml.safe_load((EXAMPLE / "project.yaml").read_text(encoding="utf-8"))
    request = yaml.safe_load((EXAMPLE / "data_request.yaml").read_text(encoding="utf-8"))
    if edit_project:
        edit_project(project)
    if edit_request:
        edit_request(request)
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (tmp_path / "data_request.yaml").write_text(yaml.safe_dump(request, sort_keys=False), encoding="utf-8")
    return tmp_path / "project.yaml"


def check(path: Path, **kwargs):
    kwargs.setdefault("today", TODAY)
    return check_application(load_application(path), **kwargs)


def variable(request: dict, dataset: str, name: str) -> dict:
    ds = next(d for d in request["datasets"] if d["dataset"] == dataset)
    return next(v for v in ds["variables"] if v["name"] == name)


def test_example_passes_every_rule() -> None:
    run = check(EXAMPLE / "project.yaml")
    assert run.verdict is Verdict.PASSED, run_problems(run)
    assert run.passed and run.finished
    assert all(c.kind == "application" and c.key.startswith("application.") for c in run.checks)
    assert run.metadata["project"] == "p2026-001-diabetes"
    assert run.metadata["today"] == "2026-11-26"
    assert len(run.by_key()) == len(run.checks)  # one check per rule
    provisioning = check(EXAMPLE / "project.yaml", for_provisioning=True)
    assert provisioning.verdict is Verdict.PASSED


def test_example_is_valid_for_a_while() -> None:
    for today in (dt.date(2027, 6, 1), dt.date(2028, 12, 31)):
        assert check(EXAMPLE / "project.yaml", today=today).verdict is Verdict.PASSED


def _set(path: list, value):
    def edit(d):
        for part in path[:-1]:
            d = d[part]
        d[path[-1]] = value

    return edit


def _del(path: list):
    def edit(d):
        for part in path[:-1]:
            d = d[part]
        del d[path[-1]]

    return edit


def _var(dataset: str, name: str, field: str, value):
    return lambda r: variable(r, dataset, name).__setitem__(field, value)


def _ten_years_and_a_day(p: dict) -> None:
    p.update(end_date=dt.date(2037, 1, 5), deletion_date=dt.date(2037, 12, 31))
    for approval in p["approvals"]:
        approval.pop("valid_until", None)


PROJECT_CASES = [
    ("id-format", _set(["id"], "P2026_001_Diabetes"), "application.id.format", "project.yaml: id: "),
    ("id-too-long", _set(["id"], "p2026-001-" + "x" * 40), "application.id.format", "project.yaml: id: "),
    (
        "end-before-start",
        _set(["end_date"], dt.date(2026, 12, 1)),
        "application.dates.order",
        "project.yaml: end_date: 2026-12-01 is not after start_date 2027-01-04",
    ),
    (
        "end-in-past",
        lambda p: p.update(start_date=dt.date(2024, 1, 1), end_date=dt.date(2026, 11, 26)),
        "application.dates.end_in_future",
        "project.yaml: end_date: 2026-11-26 is not in the future (today is 2026-11-26)",
    ),
    (
        "deletion-before-end",
        _set(["deletion_date"], dt.date(2029, 6, 29)),
        "application.dates.deletion",
        "project.yaml: deletion_date: 2029-06-29 is before end_date 2029-06-30",
    ),
    (
        "too-long",
        _ten_years_and_a_day,
        "application.dates.duration",
        "project.yaml: end_date: the project runs from 2027-01-04 to 2037-01-05, longer than 10 years",
    ),
    (
        "leader-not-member",
        _set(["project_leader"], "nobody"),
        "application.members.leader",
        "project.yaml: project_leader: 'nobody' is not the username of a member",
    ),
    (
        "leader-wrong-role",
        _set(["members", 0, "role"], "researcher"),
        "application.members.leader",
        "project.yaml: members[0].role: ingberg is the project leader but has role 'researcher'",
    ),
    (
        "two-leaders",
        _set(["members", 1, "role"], "project_leader"),
        "application.members.leader",
        "project.yaml: members[1].role: magnil has role 'project_leader'",
    ),
    (
        "bad-username",
        _set(["members", 3, "username"], "Per.Lie"),
        "application.members.accounts",
        "project.yaml: members[3].username: 'Per.Lie' is not a valid account name",
    ),
    (
        "duplicate-username",
        _set(["members", 3, "username"], "magnil"),
        "application.members.accounts",
        "project.yaml: members[3].username: 'magnil' is used by more than one member",
    ),
    (
        "bad-email",
        _set(["members", 1, "email"], "magnus"),
        "application.members.accounts",
        "project.yaml: members[1].email: 'magnus' is not an email address",
    ),
    (
        "untrained",
        _del(["members", 2, "training_date"]),
        "application.members.trained",
        "project.yaml: members[2].training_date: Sara Haugen has no training date",
    ),
    (
        "training-expired",
        _set(["members", 2, "training_date"], dt.date(2023, 11, 25)),
        "application.members.trained",
        "project.yaml: members[2].training_date: Sara Haugen's training on 2023-11-25 has expired",
    ),
    (
        "training-future",
        _set(["members", 2, "training_date"], dt.date(2027, 1, 1)),
        "application.members.trained",
        "project.yaml: members[2].training_date: Sara Haugen's training date 2027-01-01 is in the future",
    ),
    (
        "unsigned",
        _set(["members", 4, "confidentiality_signed"], False),
        "application.members.confidentiality",
        "project.yaml: members[4].confidentiality_signed: Kari Moe has not signed",
    ),
    (
        "rejected",
        _set(["approvals", 2, "status"], "rejected"),
        "application.approvals.status",
        "project.yaml: approvals[2].status: the dpo approval 'PVO 2026/0871' was rejected",
    ),
    (
        "no-rek",
        lambda p: p["approvals"].pop(0),
        "application.approvals.rek",
        "project.yaml: approvals: scientific research needs an approval of type rek",
    ),
    (
        "no-dpo",
        lambda p: p["approvals"].pop(2),
        "application.approvals.dpo",
        "project.yaml: approvals: every project needs an approval of type dpo",
    ),
    (
        "no-exemption",
        lambda p: p["approvals"].pop(1),
        "application.approvals.exemption",
        "project.yaml: approvals: the legal basis helseforskningsloven_35 needs an approval of type exempt",
    ),
    (
        "approval-expires",
        _set(["approvals", 0, "valid_until"], dt.date(2028, 1, 1)),
        "application.approvals.validity",
        "project.yaml: approvals[0].valid_until: the rek approval ends on 2028-01-01, before the project",
    ),
    (
        "approved-in-future",
        _set(["approvals", 3, "date"], dt.date(2026, 12, 24)),
        "application.approvals.validity",
        "project.yaml: approvals[3].date: approved on 2026-12-24, which is in the future",
    ),
    (
        "epsilon-zero",
        _set(["dp_budget", "epsilon"], 0.0),
        "application.dp_budget",
        "project.yaml: dp_budget.epsilon: 0.0 should be greater than 0",
    ),
    (
        "delta-large",
        _set(["dp_budget", "delta"], 0.001),
        "application.dp_budget",
        "project.yaml: dp_budget.delta: 0.001 should be greater than 0 and less than 0.001",
    ),
    (
        "delta-zero",
        _set(["dp_budget", "delta"], 0.0),
        "application.dp_budget",
        "project.yaml: dp_budget.delta: 0",
    ),
]


@pytest.mark.parametrize(
    ("edit", "key", "expected"), [c[1:] for c in PROJECT_CASES], ids=[c[0] for c in PROJECT_CASES]
)
def test_project_rules(tmp_path: Path, edit, key: str, expected: str) -> None:
    run = check(write_app(tmp_path, edit_project=edit))
    failing = {c.key for c in run.checks if c.verdict is not Verdict.PASSED}
    assert failing == {key}, run_problems(run)
    found = run.by_key()[key]
    assert found.verdict is Verdict.FAILED
    assert any(p.startswith(expected) for p in run_problems(run)), run_problems(run)
    assert expected in found.message


REQUEST_CASES = [
    (
        "placeholder",
        _var("patients", "sex", "justification", "TBD"),
        "application.variables.justified",
        "data_request.yaml: datasets[0].variables[1].justification: patients.sex: too short",
    ),
    (
        "missing-justification",
        _var("patients", "sex", "justification", None),
        "application.variables.justified",
        "data_request.yaml: datasets[0].variables[1].justification: patients.sex: missing",
    ),
    (
        "needed",
        _var("patients", "sex", "justification", "Needed for the analysis in this study."),
        "application.variables.justified",
        "data_request.yaml: datasets[0].variables[1].justification: ",
    ),
    (
        "repeats-name",
        _var("patients", "birth_date", "justification", "birth date, birth_date, birth date"),
        "application.variables.justified",
        "data_request.yaml: datasets[0].variables[0].justification: ",
    ),
    (
        "why-not-anonymous",
        _set(["why_not_anonymous"], "n/a"),
        "application.variables.justified",
        "data_request.yaml: why_not_anonymous: row-level data are requested",
    ),
    (
        "direct-identifier",
        lambda r: r["datasets"][2]["variables"].append(
            {
                "name": "national_id",
                "justification": "Links diagnoses to the patients across every table.",
                "identifiability": "pseudonymised",
                "granularity": "as_is",
            }
        ),
        "application.variables.direct_identifiers",
        "data_request.yaml: datasets[2].variables[4].name: diagnoses.national_id is a direct identifier",
    ),
    (
        "unknown-column",
        _var("diagnoses", "icd10_code", "name", "icd_code"),
        "application.variables.known",
        (
            "data_request.yaml: datasets[2].variables[1].name: diagnoses has no column 'icd_code' in its "
            "data contract (did you mean 'icd10_code'?)"
        ),
    ),
    (
        "bad-granularity",
        _var("patients", "birth_date", "granularity", "day"),
        "application.variables.granularity",
        (
            "data_request.yaml: datasets[0].variables[0].granularity: 'day' is not allowed for "
            "patients.birth_date; its contract allows: as_is, month, year"
        ),
    ),
    (
        "no-coarsening",
        _var("lab_results", "value", "granularity", "year"),
        "application.variables.granularity",
        "data_request.yaml: datasets[4].variables[1].granularity: 'year' is not allowed for lab_results.",
    ),
    (
        "coarsened-as-is",
        _var("patients", "municipality", "granularity", "as_is"),
        "application.variables.granularity",
        "data_request.yaml: datasets[0].variables[2].granularity: patients.municipality is declared coarse",
    ),
    (
        "duplicate-variable",
        lambda r: r["datasets"][1]["variables"].append(dict(r["datasets"][1]["variables"][0])),
        "application.variables.unique",
        "data_request.yaml: datasets[1].variables[5].name: episodes.episode_id is requested twice",
    ),
    (
        "duplicate-dataset",
        lambda r: r["datasets"].append(
            {"dataset": "patients", "variables": [r["datasets"][0]["variables"][1]]}
        ),
        "application.variables.unique",
        "data_request.yaml: datasets[5].dataset: patients is listed more than once",
    ),
    (
        "bad-icd10",
        _set(["cohort", "icd10", 0, "code"], "E11.9"),
        "application.cohort.codes",
        "data_request.yaml: cohort.icd10[0].code: 'E11.9' is not a valid ICD-10 code prefix",
    ),
    (
        "bad-atc",
        _set(["cohort", "atc", 0, "code"], "a10b"),
        "application.cohort.codes",
        "data_request.yaml: cohort.atc[0].code: 'a10b' is not a valid ATC code prefix",
    ),
    (
        "no-codes",
        lambda r: (r["cohort"].pop("icd10"), r["cohort"].pop("atc")),
        "application.cohort.codes",
        "data_request.yaml: cohort: no ICD-10 or ATC codes",
    ),
    (
        "window",
        _set(["cohort", "window", "end"], dt.date(2016, 1, 1)),
        "application.cohort.window",
        "data_request.yaml: cohort.window.end: 2016-01-01 is not after cohort.window.start 2016-01-01",
    ),
]


@pytest.mark.parametrize(
    ("edit", "key", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_data_request_rules(tmp_path: Path, edit, key: str, expected: str) -> None:
    run = check(write_app(tmp_path, edit_request=edit))
    failing = {c.key for c in run.checks if c.verdict is Verdict.FAILED}
    assert failing == {key}, run_problems(run)
    assert any(p.startswith(expected) for p in run_problems(run)), run_problems(run)


@pytest.mark.parametrize(
    "text",
    [
        "Age at diagnosis for incidence by age group.",
        "Sex is needed for stratified incidence rates.",
    ],
)
def test_real_justifications_pass(tmp_path: Path, text: str) -> None:
    run = check(write_app(tmp_path, edit_request=_var("patients", "sex", "justification", text)))
    assert run.by_key()["application.variables.justified"].verdict is Verdict.PASSED


def test_pending_approval_warns_and_fails_for_provisioning(tmp_path: Path) -> None:
    path = write_app(tmp_path, edit_project=_set(["approvals", 3, "status"], "pending"))
    plain = check(path)
    assert plain.by_key()["application.approvals.status"].verdict is Verdict.WARNING
    assert plain.passed and plain.verdict is Verdict.WARNING
    assert run_problems(plain) == [
        (
            "project.yaml: approvals[3].status: the data_owner approval 'St. Olavs hospital HF 2026/4411' is "
            "still pending; every approval must be approved before provisioning"
        )
    ]
    assert run_problems(plain, include_warnings=False) == []
    strict = check(path, for_provisioning=True)
    assert strict.by_key()["application.approvals.status"].verdict is Verdict.FAILED
    assert not strict.passed and strict.metadata["for_provisioning"] is True


def test_large_epsilon_and_unminimised_quasi_identifiers_warn(tmp_path: Path) -> None:
    def edit_request(r):
        v = variable(r, "episodes", "admission_time")
        v["granularity"], v["identifiability"] = "as_is", "pseudonymised"

    run = check(write_app(tmp_path, _set(["dp_budget", "epsilon"], 12.0), edit_request))
    assert run.verdict is Verdict.WARNING
    assert run.by_key()["application.dp_budget"].verdict is Verdict.WARNING
    assert run.by_key()["application.variables.minimised"].verdict is Verdict.WARNING
    assert (
        "data_request.yaml: datasets[1].variables[1].granularity: episodes.admission_time"
        in run.by_key()["application.variables.minimised"].message
    )


def test_rek_is_not_required_for_statistics(tmp_path: Path) -> None:
    def edit(p):
        p["purpose"] = "statistics"
        p["approvals"].pop(0)

    run = check(write_app(tmp_path, edit))
    assert run.by_key()["application.approvals.rek"].verdict is Verdict.PASSED


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    def edit_project(p):
        p["id"] = "Bad_Id"
        p["end_date"] = dt.date(2026, 1, 1)
        p["members"][1]["training_date"] = None
        p["members"][2].pop("training_date")
        p["members"][3]["confidentiality_signed"] = False
        p["approvals"][0]["status"] = "pending"
        p["dp_budget"]["delta"] = 0.5

    def edit_request(r):
        r["datasets"][0]["variables"][0]["justification"] = "needed"
        r["datasets"][0]["variables"][1]["justification"] = "TBD"
        r["datasets"][0]["variables"][0]["granularity"] = "day"
        r["datasets"][3]["variables"].append(
            {
                "name": "national_id",
                "justification": "n/a",
                "identifiability": "pseudonymised",
                "granularity": "as_is",
            }
        )

    run = check(write_app(tmp_path, edit_project, edit_request), for_provisioning=True)
    problems = run_problems(run)
    for prefix in [
        "project.yaml: id:",
        "project.yaml: end_date:",  # before start and in the past: two rules
        "project.yaml: members[1].training_date:",
        "project.yaml: members[2].training_date:",
        "project.yaml: members[3].confidentiality_signed:",
        "project.yaml: approvals[0].status:",
        "project.yaml: dp_budget.delta:",
        "data_request.yaml: datasets[0].variables[0].justification:",
        "data_request.yaml: datasets[0].variables[1].justification:",
        "data_request.yaml: datasets[0].variables[0].granularity:",
        "data_request.yaml: datasets[3].variables[3].name:",
        "data_request.yaml: datasets[3].variables[3].justification:",
    ]:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    assert sum(p.startswith("project.yaml: end_date:") for p in problems) == 2
    failed = {c.key for c in run.checks if c.verdict is Verdict.FAILED}
    assert {
        "application.id.format",
        "application.dates.order",
        "application.dates.end_in_future",
        "application.members.trained",
        "application.members.confidentiality",
        "application.approvals.status",
        "application.dp_budget",
        "application.variables.justified",
        "application.variables.granularity",
        "application.variables.direct_identifiers",
    } <= failed


BROKEN = {
    "people": {
        "application.id.format": "project.yaml: id:",
        "application.members.leader": "project.yaml: members[0].role:",
        "application.members.accounts": "project.yaml: members[2].username:",
        "application.members.trained": "project.yaml: members[2].training_date:",
        "application.members.confidentiality": "project.yaml: members[1].confidentiality_signed:",
    },
    "dates-approvals": {
        "application.dates.order": "project.yaml: end_date:",
        "application.dates.end_in_future": "project.yaml: end_date:",
        "application.dates.deletion": "project.yaml: deletion_date:",
        "application.approvals.status": "project.yaml: approvals[1].status:",
        "application.approvals.dpo": "project.yaml: approvals:",
        "application.approvals.exemption": "project.yaml: approvals:",
        "application.dp_budget": "project.yaml: dp_budget.epsilon:",
    },
    "data-request": {
        "application.variables.justified": "data_request.yaml: datasets[0].variables[1].justification:",
        "application.variables.known": "data_request.yaml: datasets[1].variables[0].name:",
        "application.variables.direct_identifiers": "data_request.yaml: datasets[0].variables[0].name:",
        "application.variables.granularity": "data_request.yaml: datasets[0].variables[1].granularity:",
        "application.cohort.codes": "data_request.yaml: cohort.icd10[0].code:",
        "application.cohort.window": "data_request.yaml: cohort.window.end:",
    },
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_examples_fail_exactly_the_documented_rules(name: str) -> None:
    run = check(EXAMPLES / "broken" / name / "project.yaml")
    failed = {c.key: c for c in run.checks if c.verdict is Verdict.FAILED}
    assert set(failed) == set(BROKEN[name]), run_problems(run)
    for key, prefix in BROKEN[name].items():
        assert any(p["text"].startswith(prefix) for p in failed[key].details["problems"]), failed[key].message


def test_contracts_dir_argument_and_missing_contracts(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for name in ("patients", "episodes", "diagnoses", "prescriptions"):
        shutil.copy(REPO / "data_contracts" / f"{name}.odcs.yaml", contracts)
    run = check(EXAMPLE / "project.yaml", contracts_dir=contracts)
    known = run.by_key()["application.variables.known"]
    assert known.verdict is Verdict.FAILED
    assert known.message.startswith(
        "data_request.yaml: datasets[4].dataset: no data contract for 'lab_results'"
    )
    assert run.metadata["contracts_dir"] == str(contracts)
    (contracts / "lab_results.odcs.yaml").write_text("schema: [unclosed\n", encoding="utf-8")
    broken = check(EXAMPLE / "project.yaml", contracts_dir=contracts).by_key()["application.variables.known"]
    assert broken.verdict is Verdict.ERROR and "cannot be read" in broken.message


def test_read_contract_columns() -> None:
    cols = read_contract_columns(REPO / "data_contracts", "patients")
    assert cols["national_id"].classification == "direct_identifier"
    assert cols["birth_date"].coarsening == ("month", "year")
    assert cols["municipality"].coarsening == ("county",)
    assert cols["sex"].coarsening == ()


def test_run_serialises_to_json(tmp_path: Path) -> None:
    run = check(EXAMPLES / "broken" / "people" / "project.yaml")
    out = run.write_json(tmp_path / "run.json")
    import json

    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["verdict"] == "failed" and data["metadata"]["project"] == "P2026_002_Diabetes"
    assert any(
        p["path"] == "members[2].training_date" for c in data["checks"] for p in c["details"]["problems"]
    )


def test_boundaries_are_inclusive(tmp_path: Path) -> None:
    def edit(p):
        p.update(end_date=dt.date(2037, 1, 4), deletion_date=dt.date(2037, 1, 4))
        p["members"][2]["training_date"] = dt.date(2023, 11, 26)  # exactly three years before TODAY
        p["dp_budget"]["delta"] = 0.00099
        for approval in p["approvals"]:
            approval.pop("valid_until", None)

    run = check(write_app(tmp_path, edit))
    assert run.verdict is Verdict.PASSED, run_problems(run)
