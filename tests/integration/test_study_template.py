"""The study template: a new study runs its notebooks green against a demo project, and
``copier update`` brings an existing study forward to a new template version.

The demo project is built here, not by provisioning: a small extract from
:func:`hdc_toolkit.demo.generate_extract`, reduced to what the demo application's permit grants (its
columns, cohort and time window, coarsened as requested, linked by a keyed pseudonym ``pid``) and
written as ``data/<table>/part-00000.parquet``; a second, smaller extract stands in for the synthetic
twin in ``synthetic/``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from nbclient import NotebookClient

from hdc_toolkit.cli import main
from hdc_toolkit.commands.study import BUNDLED_TEMPLATE, new_study, template_version
from hdc_toolkit.demo import generate_extract
from hdc_toolkit.projects.application import Application, load_application

REPO = Path(__file__).resolve().parents[2]
DEMO_APPLICATION = REPO / "templates" / "application" / "examples" / "demo-diabetes" / "project.yaml"
NOTEBOOKS = [
    "01_explore_synthetic.ipynb",
    "02_build_cohort.ipynb",
    "03_train_dp_model.ipynb",
    "04_request_outputs.ipynb",
]
EVENT_DATE = {
    "episodes": "admission_time",
    "diagnoses": "diagnosis_date",
    "prescriptions": "dispense_date",
    "lab_results": "sample_time",
}

pytestmark = pytest.mark.slow


# --- a small demo project --------------------------------------------------------------------------------


def _pid(ids: pa.Array, key: bytes) -> pa.Array:
    return pa.array([hmac.new(key, i.encode(), hashlib.sha256).hexdigest()[:16] for i in ids.to_pylist()])


def _coarsen(values: pa.Array, granularity: str) -> pa.Array:
    if granularity == "as_is":
        return values
    if granularity == "county":
        return pc.utf8_slice_codeunits(values, 0, 2)
    return pc.floor_temporal(values, unit=granularity).cast(values.type)  # day, month, year


def _release(app: Application, source: Path, target: Path, key: bytes) -> None:
    """What provisioning releases, in miniature: permitted columns, cohort, window, coarsening, pid."""
    cohort = app.data_request.cohort
    start, end = pa.scalar(cohort.window.start), pa.scalar(cohort.window.end)
    dx = pq.read_table(source / "diagnoses", columns=["national_id", "icd10_code", "diagnosis_date"])
    rx = pq.read_table(source / "prescriptions", columns=["national_id", "atc_code", "dispense_date"])
    members: set[str] = set()
    for table, column, codes, date in (
        (dx, "icd10_code", cohort.icd10, "diagnosis_date"),
        (rx, "atc_code", cohort.atc, "dispense_date"),
    ):
        for entry in codes:
            hit = pc.and_(
                pc.starts_with(table[column], entry.code),
                pc.and_(pc.greater_equal(table[date], start), pc.less_equal(table[date], end)),
            )
            members |= set(table.filter(hit)["national_id"].to_pylist())
    keep = pa.array(sorted(members))
    for dataset, columns in app.permitted_columns().items():
        table = pq.read_table(source / dataset)
        table = table.filter(pc.is_in(table["national_id"], value_set=keep))
        if dataset in EVENT_DATE:
            when = pc.cast(table[EVENT_DATE[dataset]], pa.timestamp("ms"))
            table = table.filter(
                pc.and_(
                    pc.greater_equal(when, pc.cast(start, pa.timestamp("ms"))),
                    pc.less(when, pa.scalar(pd.Timestamp(cohort.window.end) + pd.Timedelta(days=1))),
                )
            )
        arrays = {"pid": _pid(table["national_id"].combine_chunks(), key)}
        for column in columns:
            arrays[column] = _coarsen(table[column].combine_chunks(), app.granularity(dataset, column))
        (target / dataset).mkdir(parents=True)
        pq.write_table(pa.table(arrays), target / dataset / "part-00000.parquet")


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hdc-home")
    app = load_application(DEMO_APPLICATION)
    generate_extract(root / "source", patients=4000, seed=11)
    generate_extract(root / "twin-source", patients=2000, seed=12)
    project = root / "projects" / app.id
    _release(app, root / "source", project / "data", b"project key")
    _release(app, root / "twin-source", project / "synthetic", b"twin key")
    for sub in ("work", "outputs"):
        (project / sub).mkdir()
    return project


def _execute(notebook: Path) -> nbformat.NotebookNode:
    book = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
    )
    try:
        client.execute()
    finally:
        nbformat.write(book, notebook)  # the executed notebook, for a look after a failure
    return book


def _text_outputs(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_a_new_study_runs_its_notebooks_green(demo_project: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HDC_PROJECT_DIR", str(demo_project))
    study = new_study(tmp_path / "diarisk", project_id="p2026-001-diabetes")
    books = {name: _execute(study / "notebooks" / name) for name in NOTEBOOKS}

    assert "exploring the synthetic twin" in _text_outputs(books["01_explore_synthetic.ipynb"])

    cohort = pd.read_parquet(study / "work" / "cohort.parquet")
    assert len(cohort) >= 50 and cohort["pid"].is_unique and set(cohort["outcome"]) == {0, 1}
    assert cohort["index_date"].min() >= pd.Timestamp("2016-01-01")

    training = json.loads((study / "outputs" / "restricted" / "dp_training.json").read_text(encoding="utf-8"))
    assert 0 < training["epsilon_spent"] <= 1.0 * 1.01 and training["delta"] == 1e-6

    request = yaml.safe_load((study / "outputs" / "release_request.yaml").read_text(encoding="utf-8"))
    assert request["project"] == "p2026-001-diabetes" and len(request["files"]) == 2
    for entry in request["files"]:
        path = study / "outputs" / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert "pid" not in pd.read_csv(path).columns
    table = pd.read_csv(study / "outputs" / "releasable" / "outcome_by_sex_and_age.csv")
    shown = table["patients"].dropna()
    assert (shown >= 10).all()
    # the template itself is untouched by the run
    assert not (BUNDLED_TEMPLATE / "work").exists() and not list(BUNDLED_TEMPLATE.rglob("*.parquet"))


# --- copier update -----------------------------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.org")


def test_copier_update_brings_a_study_forward(tmp_path: Path, git_env) -> None:
    template = tmp_path / "template"
    shutil.copytree(BUNDLED_TEMPLATE, template)
    _git(template, "init", "-q")
    _git(template, "add", "-A")
    _git(template, "commit", "-q", "-m", "study template v1")
    _git(template, "tag", "v1.0.0")

    study = tmp_path / "study"
    assert (
        main(
            ["study", "new", str(study), "--project", "p2026-001-diabetes"],
            environ={"HDC_STUDY_TEMPLATE": str(template)},
        )
        == 0
    )
    assert template_version(study) == "v1.0.0"
    _git(study, "init", "-q")
    _git(study, "add", "-A")
    _git(study, "commit", "-q", "-m", "new study")
    codelist = study / "codelists" / "type2_diabetes_icd10.csv"
    codelist.write_text(
        codelist.read_text(encoding="utf-8") + "E14,Unspecified diabetes mellitus\n", encoding="utf-8"
    )
    _git(study, "commit", "-q", "-am", "the study's own change")

    readme = template / "README.md.jinja"
    readme.write_text(
        readme.read_text(encoding="utf-8") + "\n## Funding\n\n{{ funding }}\n", encoding="utf-8"
    )
    questions = template / "copier.yml"
    questions.write_text(
        questions.read_text(encoding="utf-8") + "\nfunding:\n  type: str\n  help: Who funds the study\n"
        "  default: Helse Midt-Norge\n",
        encoding="utf-8",
    )
    (template / "codelists" / "hypertension_icd10.csv").write_text("code,term\nI10,Essential hypertension\n")
    _git(template, "add", "-A")
    _git(template, "commit", "-q", "-m", "study template v2")
    _git(template, "tag", "v2.0.0")

    assert main(["study", "update", str(study)], environ=dict(os.environ)) == 0
    assert template_version(study) == "v2.0.0"
    assert "## Funding\n\nHelse Midt-Norge" in (study / "README.md").read_text(encoding="utf-8")
    assert (study / "codelists" / "hypertension_icd10.csv").is_file()
    assert "E14,Unspecified diabetes mellitus" in codelist.read_text(encoding="utf-8")  # kept
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["project_id"] == "p2026-001-diabetes" and answers["funding"] == "Helse Midt-Norge"
