"""canonical_json / application_hash: stable under YAML layout, sensitive to every change of content."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdc_toolkit.projects.application import application_hash, canonical_json, load_application

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "templates" / "application" / "examples" / "demo-diabetes"
PROJECT = yaml.safe_load((EXAMPLE / "project.yaml").read_text(encoding="utf-8"))
REQUEST = yaml.safe_load((EXAMPLE / "data_request.yaml").read_text(encoding="utf-8"))
BASELINE = application_hash(load_application(EXAMPLE / "project.yaml"))


def shuffled(value, rng: random.Random):
    """The same data with every mapping's keys in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def write(directory: Path, project: dict, request: dict, **dump) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    header = "# a comment that does not matter\n\n"
    (directory / "project.yaml").write_text(header + yaml.safe_dump(project, **dump), encoding="utf-8")
    (directory / "data_request.yaml").write_text(yaml.safe_dump(request, **dump), encoding="utf-8")
    return directory / "project.yaml"


def hash_of(directory: Path, project: dict | None = None, request: dict | None = None) -> str:
    path = write(directory, project or PROJECT, request or REQUEST, sort_keys=False)
    return application_hash(load_application(path))


def test_canonical_json_form() -> None:
    app = load_application(EXAMPLE / "project.yaml")
    text = canonical_json(app)
    assert "\n" not in text and ', "' not in text and '": ' not in text  # no whitespace between tokens
    assert json.loads(text)["start_date"] == "2027-01-04"
    assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    assert text == canonical_json(load_application(EXAMPLE / "project.yaml"))
    assert len(BASELINE) == 64 and int(BASELINE, 16) >= 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    flow=st.sampled_from([False, None, True]),
    indent=st.sampled_from([2, 4]),
    width=st.sampled_from([40, 80, 1000]),
)
def test_hash_ignores_key_order_and_layout(
    tmp_path_factory, seed: int, flow, indent: int, width: int
) -> None:
    rng = random.Random(seed)
    directory = tmp_path_factory.mktemp("layout")
    path = write(
        directory,
        shuffled(PROJECT, rng),
        shuffled(REQUEST, rng),
        sort_keys=False,
        default_flow_style=flow,
        indent=indent,
        width=width,
    )
    assert application_hash(load_application(path)) == BASELINE


def test_hash_ignores_where_the_files_are_and_quoting(tmp_path: Path) -> None:
    project = dict(PROJECT, start_date="2027-01-04", data_request="request/dr.yaml")
    (tmp_path / "request").mkdir()
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(project), encoding="utf-8")
    (tmp_path / "request" / "dr.yaml").write_text(yaml.safe_dump(REQUEST), encoding="utf-8")
    assert application_hash(load_application(path)) == BASELINE


def _changed(edit_project=None, edit_request=None):
    project, request = (
        json.loads(json.dumps(PROJECT, default=str)),
        json.loads(json.dumps(REQUEST, default=str)),
    )
    if edit_project:
        edit_project(project)
    if edit_request:
        edit_request(request)
    return project, request


CHANGES = {
    "member name": _changed(lambda p: p["members"][1].update(name="Magnus K. Nilsen")),
    "member added": _changed(
        lambda p: p["members"].append(dict(p["members"][1], username="new", name="New Person"))
    ),
    "member role": _changed(lambda p: p["members"][2].update(role="data_steward")),
    "purpose": _changed(lambda p: p.update(purpose="statistics")),
    "end date": _changed(lambda p: p.update(end_date="2029-06-29")),
    "deletion date": _changed(lambda p: p.update(deletion_date="2030-01-01")),
    "epsilon": _changed(lambda p: p["dp_budget"].update(epsilon=2.0)),
    "approval status": _changed(lambda p: p["approvals"][0].update(status="pending")),
    "variable added": _changed(
        edit_request=lambda r: r["datasets"][1]["variables"].append(
            {
                "name": "department",
                "justification": "Department of admission for case mix.",
                "identifiability": "pseudonymised",
                "granularity": "as_is",
            }
        )
    ),
    "variable removed": _changed(edit_request=lambda r: r["datasets"][0]["variables"].pop()),
    "granularity": _changed(
        edit_request=lambda r: r["datasets"][0]["variables"][0].update(granularity="year")
    ),
    "justification": _changed(
        edit_request=lambda r: r["datasets"][0]["variables"][0].update(
            justification="Age at diagnosis, for incidence by 5-year age group."
        )
    ),
    "cohort window": _changed(edit_request=lambda r: r["cohort"]["window"].update(start="2015-01-01")),
    "cohort code": _changed(
        edit_request=lambda r: r["cohort"]["icd10"].append({"code": "E14", "name": "Unspecified"})
    ),
}


def test_hash_changes_with_every_change_of_content(tmp_path: Path) -> None:
    seen = {BASELINE}
    for i, (what, (project, request)) in enumerate(CHANGES.items()):
        digest = hash_of(tmp_path / str(i), project, request)
        assert digest not in seen, what
        seen.add(digest)


def test_dates_are_iso_in_canonical_json(tmp_path: Path) -> None:
    project = dict(PROJECT, end_date=dt.date(2029, 6, 30))
    app = load_application(write(tmp_path, project, REQUEST))
    assert '"end_date":"2029-06-30"' in canonical_json(app)


def test_canonical_json_round_trips_to_the_same_hash() -> None:
    """A permit stores canonical_json; rebuilding the application from it gives the same hash."""
    from hdc_toolkit.projects.application import Application

    app = load_application(EXAMPLE / "project.yaml")
    rebuilt = Application.model_validate(json.loads(canonical_json(app)))
    assert application_hash(rebuilt) == BASELINE
    assert rebuilt.permitted_columns() == app.permitted_columns()
