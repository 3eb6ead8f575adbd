"""The airlock end to end on a real registry: states, the two-reviewer rule, release, differencing, audit,
and ``hdc output`` on the command line.

The project is the demo application with a second output checker (``oladah``) added; ``magnil`` and
``sarhau`` are researchers, ``karmoe`` and ``oladah`` output checkers, ``perlie`` the data steward.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.cli import main
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import NotFoundError, PermissionDenied, StateError
from hdc_toolkit.outputs import _staging
from hdc_toolkit.outputs import airlock as airlock_module
from hdc_toolkit.outputs.airlock import Airlock, outcome
from hdc_toolkit.outputs.tables import frequency_table
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import open_registry
from hdc_toolkit.projects.workspace import Workspace

PROJECT = "p2026-001-diabetes"
PIDS = [f"{i:016x}" for i in range(10**12, 10**12 + 50)]
SECOND_CHECKER = {
    "name": "Ola Dahl",
    "username": "oladah",
    "email": "ola.dahl@helse-mr.no",
    "institution": "Helse Midt-Norge, health data centre",
    "role": "output_checker",
    "training_date": dt.date(2026, 1, 20),
    "confidentiality_signed": True,
}


@dataclass
class Project:
    settings: Settings
    airlock: Airlock
    workspace: Workspace
    people: pd.DataFrame

    @property
    def outputs(self) -> Path:
        return self.workspace.root / "outputs"

    def table(self, frame: pd.DataFrame, name: str, **kwargs: object) -> Path:
        return frequency_table(frame, "county", "sex", name=name, **kwargs).save(self.outputs)  # type: ignore[arg-type]

    def actions(self) -> list[str]:
        return [
            e["action"]
            for e in AuditLog(self.settings).entries(project=PROJECT)
            if e["action"].startswith("output.")
        ]


def make_project(settings: Settings, application: Path, day: dt.date) -> Project:
    data = yaml.safe_load(application.read_text())
    data["members"].append(SECOND_CHECKER)
    application.write_text(yaml.safe_dump(data, sort_keys=False))
    approve_permit(settings, application, by="steward1", today=day)
    registry = open_registry(settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    ws = Workspace(settings, PROJECT).create()
    ws.data.mkdir()
    pq.write_table(pa.table({"pid": PIDS, "x": list(range(50))}), ws.data / "patients.parquet")
    rng = np.random.default_rng(11)
    people = pd.DataFrame(
        {"county": rng.choice(["Trøndelag", "Møre og Romsdal"], 400), "sex": rng.choice(["F", "M"], 400)}
    )
    return Project(settings, Airlock(settings, registry=registry), ws, people)


@pytest.fixture
def project(sqlite_settings: Settings, demo_application: Path, approval_day: dt.date) -> Project:
    return make_project(sqlite_settings, demo_application, approval_day)


def approve_twice(p: Project, request_id: int) -> None:
    p.airlock.review(request_id, reviewer="karmoe", decision="approve", comment="counts checked")
    p.airlock.review(request_id, reviewer="oladah", decision="approve", comment="agree")


# ---------------------------------------------------------------- the whole flow, on both backends


def test_request_review_release(settings: Settings, demo_application: Path, approval_day: dt.date) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from hdc_toolkit.projects import migrations
    from hdc_toolkit.projects.registry import Base

    p = make_project(settings, demo_application, approval_day)
    with p.airlock.registry.engine.connect() as conn:  # the migration builds exactly the models' schema
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": migrations.VERSION_TABLE}
        )
        diffs = compare_metadata(ctx, Base.metadata)
    assert [d for d in diffs if "output_" in repr(d)] == []

    csv = p.table(p.people, "by_county_sex")
    code = p.workspace.root / "work" / "analysis.py"
    code.write_text("print('made the table')\n")
    req = p.airlock.request(PROJECT, [csv], context="Patients by county and sex", author="magnil", code=code)
    assert (req.state, req.round, req.blocking) == ("submitted", 1, 0)
    assert req.files[0].sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()

    record = p.airlock.output_record(req.id)
    assert record["permit"]["sha256"] == p.airlock.registry.current_permit(PROJECT).sha256
    assert record["code"]["sha256"] == hashlib.sha256(code.read_bytes()).hexdigest()
    assert record["risk_profile"]["name"] == "acro-default" and len(record["risk_profile"]["sha256"]) == 64
    assert record["checksums"] == {"by_county_sex.csv": req.files[0].sha256}
    assert record["results"]["by_county_sex.csv"]["status"] in ("pass", "review")
    assert (Path(req.staging_path) / "code" / "analysis.py").is_file()

    assert (
        p.airlock.review(req.id, reviewer="karmoe", decision="approve", comment="ok").state
        == "partially_reviewed"
    )
    assert p.airlock.review(req.id, reviewer="oladah", decision="approve", comment="ok").state == "approved"
    done = p.airlock.release(req.id, by="karmoe")
    assert done.state == "released" and done.released_by == "karmoe"
    outbox = Path(done.outbox_path or "")
    assert sorted(x.name for x in outbox.iterdir()) == ["by_county_sex.csv", "release.json"]
    assert (outbox / "by_county_sex.csv").read_bytes() == csv.read_bytes()
    release = json.loads((outbox / "release.json").read_text())
    assert [r["reviewer"] for r in release["reviews"]] == ["karmoe", "oladah"]
    assert release["record_sha256"] == done.record_sha256
    assert release["record"]["checksums"] == record["checksums"]
    assert all("details" not in c for c in release["record"]["run"]["checks"])
    assert hashlib.sha256((outbox / "release.json").read_bytes()).hexdigest() == done.release_sha256

    assert p.actions() == [
        "output.requested",
        "output.reviewed",
        "output.state",
        "output.reviewed",
        "output.state",
        "output.state",
        "output.released",
    ]
    assert AuditLog(settings).verify().passed
    entries = AuditLog(settings).entries(project=PROJECT)
    assert "Patients by county" not in json.dumps(entries)  # free text stays out of the audit log


# ---------------------------------------------------------------- the two-reviewer rule


class TestReviewers:
    def test_the_same_checker_cannot_review_twice(self, project: Project) -> None:
        req = project.airlock.request(
            PROJECT, [project.table(project.people, "t")], context="c", author="magnil"
        )
        project.airlock.review(req.id, reviewer="karmoe", decision="approve", comment="ok")
        with pytest.raises(StateError, match="second, independent checker"):
            project.airlock.review(req.id, reviewer="karmoe", decision="approve", comment="again")
        assert project.airlock.get(req.id).state == "partially_reviewed"

    def test_the_author_never_reviews_their_own_request(
        self, project: Project, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(airlock_module, "AUTHOR_ROLES", frozenset({"output_checker"}))
        req = project.airlock.request(
            PROJECT, [project.table(project.people, "t")], context="c", author="karmoe"
        )
        assert project.airlock.can_review(req.id, "karmoe") == (
            False,
            f"'karmoe' is the author of request {req.id} and cannot review it",
        )
        with pytest.raises(PermissionDenied, match="is the author"):
            project.airlock.review(req.id, reviewer="karmoe", decision="approve", comment="mine")
        assert "output.refused" in project.actions()

    @pytest.mark.parametrize("who", ["sarhau", "perlie", "stranger"])
    def test_only_output_checkers_of_the_project_review(self, project: Project, who: str) -> None:
        req = project.airlock.request(
            PROJECT, [project.table(project.people, "t")], context="c", author="magnil"
        )
        with pytest.raises(PermissionDenied, match="not an output checker"):
            project.airlock.review(req.id, reviewer=who, decision="approve", comment="ok")
        refused = [e for e in AuditLog(project.settings).entries() if e["action"] == "output.refused"]
        assert refused[-1]["actor"] == who and refused[-1]["details"]["action"] == "review"

    @pytest.mark.parametrize(
        ("decisions", "state"),
        [
            (["approve", "approve"], "approved"),
            (["approve", "reject"], "rejected"),
            (["reject", "approve"], "rejected"),
            (["approve", "return"], "returned"),
            (["return", "return"], "returned"),
            (["reject", "return"], "rejected"),
        ],
    )
    def test_outcomes(self, decisions: list[str], state: str) -> None:
        assert outcome(decisions[:1]) == "partially_reviewed"
        assert outcome(decisions) == state

    def test_returned_request_is_resubmitted_as_a_new_round(self, project: Project) -> None:
        p = project
        req = p.airlock.request(PROJECT, [p.table(p.people, "t")], context="first try", author="magnil")
        p.airlock.review(req.id, reviewer="karmoe", decision="return", comment="add the denominator")
        assert (
            p.airlock.review(req.id, reviewer="oladah", decision="approve", comment="fine").state
            == "returned"
        )
        with pytest.raises(PermissionDenied, match="only the author"):
            p.airlock.resubmit(req.id, [p.outputs / "t.csv"], by="sarhau")
        again = p.airlock.resubmit(req.id, [p.table(p.people, "t2")], by="magnil", context="with denominator")
        assert (again.state, again.round, again.reviews, [f.name for f in again.files]) == (
            "submitted",
            2,
            (),
            ["t2.csv"],
        )
        assert len(again.history) == 2  # round 1's reviews are kept
        approve_twice(p, req.id)  # the same checkers review the new round
        assert p.airlock.release(req.id, by="oladah").state == "released"

    def test_rejected_and_withdrawn_are_final(self, project: Project) -> None:
        p = project
        req = p.airlock.request(PROJECT, [p.table(p.people, "t")], context="c", author="magnil")
        p.airlock.review(req.id, reviewer="karmoe", decision="reject", comment="no")
        p.airlock.review(req.id, reviewer="oladah", decision="reject", comment="no")
        with pytest.raises(StateError):
            p.airlock.release(req.id, by="karmoe")
        with pytest.raises(StateError):
            p.airlock.withdraw(req.id, by="magnil")
        other = p.airlock.request(PROJECT, [p.table(p.people, "u")], context="c", author="sarhau")
        with pytest.raises(PermissionDenied):
            p.airlock.withdraw(other.id, by="magnil")
        assert p.airlock.withdraw(other.id, by="sarhau").state == "withdrawn"
        with pytest.raises(StateError, match="only submitted"):
            p.airlock.review(other.id, reviewer="karmoe", decision="approve", comment="late")


# ---------------------------------------------------------------- release


class TestRelease:
    def test_only_approved_requests_by_checkers_or_stewards(self, project: Project) -> None:
        p = project
        req = p.airlock.request(PROJECT, [p.table(p.people, "t")], context="c", author="magnil")
        with pytest.raises(StateError, match="only an approved request"):
            p.airlock.release(req.id, by="karmoe")
        approve_twice(p, req.id)
        with pytest.raises(PermissionDenied, match="not an output checker or data steward"):
            p.airlock.release(req.id, by="magnil")
        assert p.airlock.release(req.id, by="perlie").state == "released"
        with pytest.raises(StateError):
            p.airlock.release(req.id, by="perlie")

    def test_a_changed_staged_file_is_not_released(self, project: Project) -> None:
        p = project
        req = p.airlock.request(PROJECT, [p.table(p.people, "t")], context="c", author="magnil")
        approve_twice(p, req.id)
        p.airlock.staged_file(req.id, "t.csv").write_text("county,F\nx,1\n")
        with pytest.raises(StateError, match="no longer match"):
            p.airlock.release(req.id, by="karmoe")
        assert p.airlock.get(req.id).state == "approved"
        assert not (p.airlock.outbox(PROJECT) / str(req.id)).exists()
        assert p.actions()[-1] == "output.release_refused"

    def test_the_researchers_copy_can_change_after_the_request(self, project: Project) -> None:
        p = project
        csv = p.table(p.people, "t")
        req = p.airlock.request(PROJECT, [csv], context="c", author="magnil")
        csv.write_text("county,F\nsecret,1\n")  # the staged copy is what is reviewed and released
        approve_twice(p, req.id)
        out = Path(p.airlock.release(req.id, by="karmoe").outbox_path or "")
        assert "secret" not in (out / "t.csv").read_text()


# ---------------------------------------------------------------- checks and refusals at request time


class TestRequest:
    def test_pseudonyms_block_approval(self, project: Project) -> None:
        p = project
        leak = p.outputs / "top_patients.csv"
        leak.write_text("who,n\n" + "".join(f"{pid},1\n" for pid in PIDS[:3]))
        req = p.airlock.request(PROJECT, [leak], context="c", author="magnil")
        assert req.blocking >= 1 and req.verdict == "failed"
        record = p.airlock.output_record(req.id)
        assert "top_patients.csv.pseudonym-values" in record["blocking"]
        assert PIDS[0] not in json.dumps(record)
        with pytest.raises(PermissionDenied, match="no review can waive"):
            p.airlock.review(req.id, reviewer="karmoe", decision="approve", comment="looks fine")
        assert p.airlock.review(req.id, reviewer="karmoe", decision="reject", comment="pseudonyms").state == (
            "partially_reviewed"
        )

    def test_unknown_type_and_failed_table_are_results(self, project: Project) -> None:
        p = project
        odd = p.outputs / "figure.xyz"
        odd.write_bytes(b"\x00\x01")
        small = p.table(p.people.iloc[:12], "small", mitigate=False)
        req = p.airlock.request(PROJECT, [odd, small], context="c", author="magnil")
        results = p.airlock.output_record(req.id)["results"]
        assert results["figure.xyz"]["status"] == "review"
        assert results["small.csv"]["status"] == "fail"
        assert results["small.csv"]["files"][0]["sdc"]["summary"]["threshold"] >= 1
        assert req.blocking == 0  # an SDC failure is for the reviewers to judge

    @pytest.mark.parametrize(
        ("where", "error"),
        [
            ("data/patients.parquet", PermissionDenied),
            ("../elsewhere.csv", PermissionDenied),
            ("outputs/nope.csv", NotFoundError),
        ],
    )
    def test_files_must_be_in_the_workspace(self, project: Project, where: str, error: type) -> None:
        (project.workspace.root.parent / "elsewhere.csv").write_text("a\n1\n")
        with pytest.raises(error):
            project.airlock.request(PROJECT, [project.workspace.root / where], context="c", author="magnil")

    def test_a_path_swapped_for_a_link_after_the_check_is_refused(self, project: Project) -> None:
        outputs, data = project.outputs, project.workspace.data
        (outputs / "t.csv").symlink_to(data / "patients.parquet")
        (outputs / "sub").symlink_to(data)
        dst = project.settings.home / "copy"
        for path in (outputs / "t.csv", outputs / "sub" / "patients.parquet"):
            with pytest.raises(PermissionDenied):
                _staging.copy_in(project.workspace.root, path, dst)
        assert not dst.exists()

    def test_odd_file_names_and_missing_context(self, project: Project) -> None:
        bad = project.outputs / "my table.csv"
        bad.write_text("a\n1\n")
        with pytest.raises(PermissionDenied, match="file name"):
            project.airlock.request(PROJECT, [bad], context="c", author="magnil")
        with pytest.raises(PermissionDenied, match="context"):
            project.airlock.request(
                PROJECT, [project.table(project.people, "t")], context=" ", author="magnil"
            )
        assert not list((project.settings.home / "airlock" / PROJECT).glob("*"))  # nothing left staged

    def test_only_researchers_of_an_open_project_request(self, project: Project) -> None:
        csv = project.table(project.people, "t")
        with pytest.raises(PermissionDenied, match="not a project leader or researcher"):
            project.airlock.request(PROJECT, [csv], context="c", author="karmoe")
        project.airlock.registry.transition(PROJECT, "active", by="steward1")
        project.airlock.registry.transition(PROJECT, "closed", by="steward1")
        with pytest.raises(StateError, match="closed"):
            project.airlock.request(PROJECT, [csv], context="c", author="magnil")

    def test_notebook_source_hash(self, project: Project) -> None:
        nb = project.workspace.root / "work" / "analysis.ipynb"
        cells = [{"cell_type": "code", "source": ["x = 1\n"], "outputs": [{"text": "1"}]}]
        nb.write_text(json.dumps({"cells": cells}))
        req = project.airlock.request(
            PROJECT, [project.table(project.people, "t")], context="c", author="magnil", code=nb
        )
        code = project.airlock.output_record(req.id)["code"]
        assert code["source_sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()


# ---------------------------------------------------------------- differencing across releases


def test_a_nested_cohort_is_caught_after_release(project: Project) -> None:
    p = project
    first = p.airlock.request(
        PROJECT, [p.table(p.people, "everyone")], context="all patients", author="magnil"
    )
    approve_twice(p, first.id)
    p.airlock.release(first.id, by="karmoe")
    # the same table without 3 patients: every count passes on its own, the difference does not
    nested = p.airlock.request(
        PROJECT, [p.table(p.people.iloc[3:], "almost_everyone")], context="minus 3", author="sarhau"
    )
    result = p.airlock.output_record(nested.id)["results"]["almost_everyone.csv"]
    check = next(c for c in result["checks"] if c["kind"] == "differencing")
    assert check["verdict"] == "warning"
    assert f"request {first.id}: everyone.csv" in check["message"]
    assert result["files"][0]["sdc"]["summary"]["differencing"] >= 1
    assert nested.flagged_cells >= 1


def test_tables_of_one_request_are_compared_with_each_other(project: Project) -> None:
    p = project
    a = p.table(p.people, "a")
    b = p.table(p.people.iloc[2:], "b")
    req = p.airlock.request(PROJECT, [a, b], context="two cohorts", author="magnil")
    results = p.airlock.output_record(req.id)["results"]
    assert any(c["kind"] == "differencing" and c["verdict"] == "warning" for c in results["b.csv"]["checks"])


def test_list_for_a_reviewer(project: Project) -> None:
    p = project
    r1 = p.airlock.request(PROJECT, [p.table(p.people, "t")], context="c", author="magnil")
    assert [r.id for r in p.airlock.requests(reviewer="karmoe")] == [r1.id]
    assert p.airlock.requests(reviewer="magnil") == []
    assert [r.id for r in p.airlock.requests(project=PROJECT, state="submitted")] == [r1.id]
    with pytest.raises(ValueError):
        p.airlock.requests(state="pending")


# ---------------------------------------------------------------- the command line


@pytest.fixture
def env(project: Project) -> dict[str, str]:
    s = project.settings
    return {"HDC_HOME": str(s.home), "HDC_DATABASE_URL": s.database_url, "HDC_PROJECT": PROJECT}


def run(
    argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str], **extra: str
) -> tuple[int, str, str]:
    code = main(argv, environ={**env, **extra})
    out, err = capsys.readouterr()
    return code, out, err


def test_the_whole_flow(project: Project, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    csv = project.table(project.people, "by_county")
    code, out, _ = run(
        ["output", "request", str(csv), "--context", "Counts for table 1"], env, capsys, USER="magnil"
    )
    assert code == 0  # every check passed
    assert "request 1" in out and "submitted" in out and "two output checkers" in out

    code, out, _ = run(
        ["output", "review", "1", "--as", "karmoe", "--approve", "--comment", "ok"], env, capsys
    )
    assert code == 0 and "partially_reviewed" in out
    code, _, err = run(
        ["output", "review", "1", "--as", "karmoe", "--approve", "--comment", "ok"], env, capsys
    )
    assert code == 3 and "independent" in err and "Traceback" not in err
    code, _, err = run(["output", "review", "1", "--as", "magnil", "--reject", "--comment", "x"], env, capsys)
    assert code == 4 and "not an output checker" in err
    run(["output", "review", "1", "--as", "oladah", "--approve", "--comment", "ok"], env, capsys)

    code, out, _ = run(["output", "list", "--json"], env, capsys)
    (row,) = json.loads(out)
    assert row["state"] == "approved" and row["reviewers"] == ["karmoe", "oladah"]

    code, out, _ = run(["output", "release", "1", "--as", "karmoe"], env, capsys)
    assert code == 0 and "released" in out
    assert (project.airlock.outbox(PROJECT) / "1" / "by_county.csv").is_file()

    code, out, _ = run(["output", "show", "1"], env, capsys)
    assert "Counts for table 1" in out and "review round 1: oladah approve" in out
    code, out, _ = run(["output", "show", "1", "--json"], env, capsys)
    assert json.loads(out)["record"]["format"] == "hdc-output-record/1"
    code, out, _ = run(["output", "list"], env, capsys)
    assert "released" in out


def test_request_needs_a_project_and_a_person(
    project: Project, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    csv = project.table(project.people, "t")
    no_project = {k: v for k, v in env.items() if k != "HDC_PROJECT"}
    code, _, err = run(["output", "request", str(csv), "--context", "c"], no_project, capsys, USER="magnil")
    assert code == 2 and "--project" in err
    code, _, err = run(["output", "request", str(csv), "--context", "c", "--as", "karmoe"], env, capsys)
    assert code == 4 and "not a project leader or researcher" in err


def test_withdraw_and_resubmit(
    project: Project, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    csv = project.table(project.people, "t")
    run(["output", "request", str(csv), "--context", "c", "--as", "sarhau"], env, capsys)
    run(["output", "review", "1", "--as", "karmoe", "--return", "--comment", "fix"], env, capsys)
    run(["output", "review", "1", "--as", "oladah", "--return", "--comment", "fix"], env, capsys)
    csv2 = project.table(project.people, "t2")
    code, out, _ = run(["output", "resubmit", "1", str(csv2), "--as", "sarhau"], env, capsys)
    assert code in (0, 1) and "submitted" in out
    code, out, _ = run(["output", "withdraw", "1", "--as", "sarhau"], env, capsys)
    assert code == 0 and "withdrawn" in out
