"""k-anonymity of a release's person table and the risk profile's warn / refuse rule."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pytest

from hdc_toolkit.projects import disclosure
from hdc_toolkit.projects.disclosure import (
    DEFAULT_RULE,
    K_RULES,
    REFUSE,
    WARN,
    KRule,
    check_k_anonymity,
    k_anonymity,
    rule_for,
)
from hdc_toolkit.results import Verdict

REPO = Path(__file__).resolve().parents[2]


def people(groups: dict[tuple[str, str], int]) -> pa.Table:
    sex, county = [], []
    for (s, c), n in groups.items():
        sex += [s] * n
        county += [c] * n
    return pa.table({"sex": sex, "municipality": county, "pid": [f"{i:016x}" for i in range(len(sex))]})


def demo_extract(factory: pytest.TempPathFactory, defect_rate: float = 0.0) -> Path:
    """The session's demo extract (3000 patients, seed 7), generated once and shared by the modules."""
    from hdc_toolkit.demo import generate_extract

    path = factory.getbasetemp() / f"provision-extract-3000-7-{defect_rate}"
    if not path.exists():
        generate_extract(path, patients=3000, seed=7, defect_rate=defect_rate)
    return path


@pytest.mark.parametrize(("smallest", "k", "below"), [(9, 9, 9), (10, 10, 0), (11, 11, 0), (1, 1, 1)])
def test_boundaries(smallest: int, k: int, below: int) -> None:
    result = k_anonymity(people({("F", "50"): 30, ("M", "50"): smallest}), ["sex", "municipality"], 10)
    assert (result.k, result.records_below, result.groups, result.records) == (k, below, 2, 30 + smallest)
    assert result.groups_below == (1 if below else 0)


def test_nulls_are_a_value_and_no_quasi_identifier_is_one_group() -> None:
    t = pa.table({"death": [None, None, None, dt.date(2020, 1, 1)]})
    assert k_anonymity(t, ["death"], 2).k == 1 and k_anonymity(t, ["death"], 2).groups == 2
    assert k_anonymity(t, [], 10).k == 4 and k_anonymity(t, [], 10).records_below == 4
    empty = k_anonymity(t.slice(0, 0), ["death"], 10)
    assert (empty.k, empty.records) == (0, 0)


def test_the_rule_table() -> None:
    assert K_RULES["acro-default"] == KRule(10, WARN)
    assert rule_for("opensafely").k == 8 and rule_for("nhs-sde").k == 10
    assert (
        rule_for("no-such-profile") == DEFAULT_RULE == KRule(10, REFUSE) and rule_for(None).action == REFUSE
    )


@pytest.mark.parametrize(
    ("profile", "smallest", "verdict"),
    [
        ("acro-default", 9, Verdict.WARNING),
        ("acro-default", 10, Verdict.PASSED),
        ("opensafely", 8, Verdict.PASSED),
        ("opensafely", 7, Verdict.WARNING),
        ("unknown", 9, Verdict.FAILED),
        ("unknown", 10, Verdict.PASSED),
    ],
)
def test_the_check_applies_the_profile(profile: str, smallest: int, verdict: Verdict) -> None:
    check = check_k_anonymity(
        people({("F", "50"): 20, ("M", "03"): smallest}), ["sex", "municipality"], profile, name="patients"
    )
    assert check.verdict is verdict and check.key == "patients.disclosure.k_anonymity"
    assert check.details["k"] == min(20, smallest) and check.details["rule"]["k"] == rule_for(profile).k


def test_a_refusing_profile_fails_the_release_gate(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end through write_release: refuse means the gate fails and no manifest is written."""
    from hdc_toolkit.contracts import load_contract_dir
    from hdc_toolkit.projects.application import load_application
    from hdc_toolkit.projects.derive import derive_release
    from hdc_toolkit.projects.provision import MANIFEST_FILE, write_release

    extract = demo_extract(tmp_path_factory)
    app = load_application(REPO / "templates" / "application" / "examples" / "demo-diabetes" / "project.yaml")
    sources = load_contract_dir(REPO / "data_contracts")
    permitted = {d: {c: app.granularity(d, c) for c in cols} for d, cols in app.permitted_columns().items()}
    cohort = app.data_request.cohort
    spec = derive_release(
        sources,
        permitted,
        project_id=app.id,
        window=(cohort.window.start, cohort.window.end),
        permit_version=1,
        permit_sha256="0" * 64,
    )
    monkeypatch.setitem(disclosure.K_RULES, "acro-default", KRule(10, REFUSE))
    out = tmp_path / "release"
    out.mkdir()
    result = write_release(
        spec,
        sources,
        extract,
        out,
        key=os.urandom(32),
        cohort=cohort,
        risk_profile="acro-default",
    )
    assert not result.passed and result.manifest is None and not (out / MANIFEST_FILE).exists()
    [failed] = [c for c in result.gate.checks if c.verdict is Verdict.FAILED]
    assert failed.key == "patients.disclosure.k_anonymity" and "says refuse" in failed.message
