"""The project contract derived from the source contracts and a permit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hdc_toolkit.contracts import load_contract_dir
from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import ContractError, NotFoundError, PermissionDenied
from hdc_toolkit.projects.derive import EventTime, derive_release, event_time, write_contracts

REPO = Path(__file__).resolve().parents[2]
WINDOW = (dt.date(2016, 1, 1), dt.date(2025, 12, 31))
PERMIT = {
    "patients": {"birth_date": "month", "sex": "as_is", "municipality": "county", "death_date": "month"},
    "episodes": {
        "episode_id": "as_is",
        "admission_time": "day",
        "discharge_time": "day",
        "care_type": "as_is",
    },
    "diagnoses": {
        "episode_id": "as_is",
        "icd10_code": "as_is",
        "diagnosis_type": "as_is",
        "diagnosis_date": "month",
    },
    "prescriptions": {"atc_code": "as_is", "dispense_date": "month", "ddd": "as_is"},
    "lab_results": {"analysis_code": "as_is", "value": "as_is", "unit": "as_is", "sample_time": "month"},
}


@pytest.fixture(scope="module")
def sources() -> dict[str, Contract]:
    return load_contract_dir(REPO / "data_contracts")


def derive(sources: dict[str, Contract], permit: dict[str, dict[str, str]] = PERMIT, window=WINDOW):  # type: ignore[no-untyped-def]
    return derive_release(
        sources,
        permit,
        project_id="p2026-001-diabetes",
        window=window,
        permit_version=2,
        permit_sha256="ab" * 32,
    )


@pytest.fixture(scope="module")
def derived(sources: dict[str, Contract], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Contract]:
    return write_contracts(derive(sources), tmp_path_factory.mktemp("contracts"))


def test_plan_columns_person_table_first(sources: dict[str, Contract]) -> None:
    spec = derive(sources)
    assert [t.name for t in spec.tables] == [
        "patients",
        "episodes",
        "diagnoses",
        "prescriptions",
        "lab_results",
    ]
    assert (spec.person_table, spec.person_column) == ("patients", "national_id")
    for t in spec.tables:
        assert [c.name for c in t.columns] == ["pid", *PERMIT[t.name]]
        assert t.person_column == "national_id"
    roles = {(t.name, c.name): (c.role, c.domain) for t in spec.tables for c in t.columns}
    assert roles[("episodes", "episode_id")] == ("surrogate", "episodes.episode_id")
    assert roles[("diagnoses", "episode_id")] == ("surrogate", "episodes.episode_id")
    assert roles[("patients", "pid")] == ("pseudonym", None)
    assert {(c.table, c.column, c.field) for c in spec.cohort_columns} == {
        ("diagnoses", "icd10_code", "icd10"),
        ("prescriptions", "atc_code", "atc"),
    }


def test_event_time_point_interval_none(sources: dict[str, Contract]) -> None:
    assert event_time(sources["episodes"]) == EventTime("admission_time", "discharge_time")
    assert event_time(sources["diagnoses"]) == EventTime("diagnosis_date")
    assert event_time(sources["lab_results"]) == EventTime("sample_time")
    assert derive(sources).table("patients").event_time is None


def test_person_table_is_always_released(sources: dict[str, Contract]) -> None:
    spec = derive(sources, {"prescriptions": {"atc_code": "as_is"}})
    assert [(t.name, [c.name for c in t.columns]) for t in spec.tables] == [
        ("patients", ["pid"]),
        ("prescriptions", ["pid", "atc_code"]),
    ]


def test_no_direct_identifier_and_pid_contract(derived: dict[str, Contract]) -> None:
    for contract in derived.values():
        assert not [c.name for c in contract.columns if c.is_direct_identifier]
        assert "national_id" not in contract.column_names
        pid = contract.column("pid")
        assert (
            pid.required
            and pid.classification == "quasi_identifier"
            and pid.pseudonymisation == "project_keyed"
        )
    patients = derived["patients"].column("pid")
    assert patients.primary_key and patients.unique and patients.pattern == "^[0-9a-f]{16}$"
    for name in ("episodes", "diagnoses", "prescriptions", "lab_results"):
        assert [str(r) for r in derived[name].column("pid").references] == ["patients.pid"]


def test_foreign_keys_rewritten_and_surrogates_marked(derived: dict[str, Contract]) -> None:
    assert [str(r) for r in derived["diagnoses"].column("episode_id").references] == ["episodes.episode_id"]
    episode = derived["episodes"].column("episode_id")
    assert episode.primary_key and episode.unique and episode.pseudonymisation == "project_rekeyed"


def test_coarsened_types_bounds_and_window(derived: dict[str, Contract]) -> None:
    birth = derived["patients"].column("birth_date")
    assert birth.logical_type == "date" and birth.physical_type == "date32"
    assert (birth.minimum, birth.maximum) == (dt.date(1900, 1, 1), dt.date(2026, 12, 1))
    assert derived["patients"].column("municipality").pattern == "^[0-9]{2}$"
    diagnosis_date = derived["diagnoses"].column("diagnosis_date")
    assert (diagnosis_date.minimum, diagnosis_date.maximum) == (dt.date(2016, 1, 1), dt.date(2025, 12, 1))
    sample = derived["lab_results"].column("sample_time")
    assert (sample.minimum, sample.maximum) == (dt.datetime(2016, 1, 1), dt.datetime(2025, 12, 1))
    admission, discharge = (
        derived["episodes"].column("admission_time"),
        derived["episodes"].column("discharge_time"),
    )
    assert admission.maximum == dt.datetime(2025, 12, 31) and admission.minimum == dt.datetime(2000, 1, 1)
    assert discharge.minimum == dt.datetime(2016, 1, 1)  # an episode overlapping the window


def test_rules_kept_only_where_they_still_hold(
    sources: dict[str, Contract], derived: dict[str, Contract], tmp_path: Path
) -> None:
    assert [r.name for r in derived["episodes"].pair_rules] == ["discharge_not_before_admission"]
    assert [r.name for r in derived["patients"].pair_rules] == ["death_not_before_birth"]
    assert derived["patients"].row_count is not None and derived["patients"].row_count.minimum == 1
    assert derived["episodes"].row_count is None
    assert derived["episodes"].column("care_type").allowed_values == ("inpatient", "outpatient", "day")
    mixed = {**PERMIT, "patients": {"birth_date": "month", "death_date": "year"}}
    assert write_contracts(derive(sources, mixed), tmp_path)["patients"].pair_rules == ()


def test_contract_metadata(derived: dict[str, Contract]) -> None:
    c = derived["diagnoses"]
    assert c.contract_id == "urn:hdc:contract:project:p2026-001-diabetes:diagnoses"
    assert c.version == "1.0.0+permit.2" and c.api_version == "v3.1.0"


@pytest.mark.parametrize(
    ("permit", "error", "match"),
    [
        ({"patients": {"national_id": "as_is"}}, None, None),  # the keyed id becomes pid
        ({"patients": {"height": "as_is"}}, NotFoundError, "no column 'height'"),
        ({"genomes": {"x": "as_is"}}, NotFoundError, "genomes"),
        ({"patients": {"birth_date": "day"}}, PermissionDenied, "not allowed by the column's contract"),
        ({"patients": {"sex": "county"}}, PermissionDenied, "not allowed"),
    ],
)
def test_permit_problems(
    sources: dict[str, Contract], permit: dict, error: type | None, match: str | None
) -> None:
    if error is None:
        assert [c.name for c in derive(sources, permit).table("patients").columns] == ["pid"]
        return
    with pytest.raises(error, match=match):
        derive(sources, permit)


def test_a_direct_identifier_that_is_not_keyed_is_refused(sources: dict[str, Contract]) -> None:
    import dataclasses

    patients = sources["patients"]
    cols = tuple(
        dataclasses.replace(c, classification="direct_identifier") if c.name == "sex" else c
        for c in patients.columns
    )
    changed = {**sources, "patients": dataclasses.replace(patients, columns=cols)}
    with pytest.raises(PermissionDenied, match="direct identifier"):
        derive(changed, {"patients": {"sex": "as_is"}})


def test_exactly_one_person_key(sources: dict[str, Contract]) -> None:
    with pytest.raises(ContractError, match="exactly one person key"):
        derive({k: v for k, v in sources.items() if k != "patients"}, {"episodes": {"care_type": "as_is"}})
