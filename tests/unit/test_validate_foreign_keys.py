"""Foreign keys: parents load beside the scan, and the counts do not depend on which finishes first."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hdc_toolkit.contracts.validate as validate_module
from hdc_toolkit.contracts.model import Column, Contract, Reference
from hdc_toolkit.contracts.validate import validate

CHILD = Contract(
    name="visits",
    columns=(
        Column("visit_id", "integer", required=True, unique=True),
        Column("nid", "string", required=True, pattern=r"^[0-9]{11}$", references=(Reference("people", "nid"),),
               classification="direct_identifier"),
    ),
)  # fmt: skip


@pytest.fixture
def extract(tmp_path):
    """people/ (11-digit ids) and visits/ over 4 files x 5 row groups, with 37 orphan rows."""
    rng = np.random.default_rng(3)
    people = rng.choice(10**11, size=5_000, replace=False)
    pq.write_table(pa.table({"nid": [f"{v:011d}" for v in people]}), tmp_path / "people.parquet")
    child = rng.choice(people, size=20_000)
    orphan_rows = rng.choice(20_000, size=37, replace=False)
    strangers = np.setdiff1d(rng.choice(10**11, size=100, replace=False), people)[:37]
    child[orphan_rows] = strangers
    (tmp_path / "visits").mkdir()
    for i in range(4):
        part = slice(i * 5_000, (i + 1) * 5_000)
        table = pa.table({"visit_id": np.arange(20_000)[part], "nid": [f"{v:011d}" for v in child[part]]})
        pq.write_table(table, tmp_path / "visits" / f"part-{i}.parquet", row_group_size=1_000)
    return tmp_path


def _fk(run):
    return run.by_key()["visits.nid.foreign_key"]


def test_orphans_counted_when_the_parent_is_ready_first(extract, monkeypatch):
    real = validate_module._load_parents

    def ready_first(*args):
        parents = real(*args)
        for fut in parents.values():
            fut.result()
        return parents

    monkeypatch.setattr(validate_module, "_load_parents", ready_first)
    check = _fk(validate(CHILD, extract / "visits"))
    assert (check.verdict.value, check.failing_count, check.examples) == ("failed", 37, ["***"])


def test_orphans_counted_when_every_row_group_is_read_before_the_parent(extract, monkeypatch):
    scanned = threading.Event()
    real = validate_module.prepare_parent

    def slow_parent(keys):
        assert scanned.wait(60), "the scan never finished"
        return real(keys)

    monkeypatch.setattr(validate_module, "prepare_parent", slow_parent)
    progress = lambda done, total: done == total and scanned.set()  # noqa: E731
    run = validate(CHILD, extract / "visits", progress=progress)
    assert _fk(run).failing_count == 37
    assert run.by_key()["visits.visit_id.unique"].failing_count == 0


def test_a_missing_parent_table_makes_the_check_an_error_and_the_rest_still_run(extract):
    (extract / "people.parquet").unlink()
    run = validate(CHILD, extract / "visits")
    check = _fk(run)
    assert check.verdict.value == "error"
    assert check.message.startswith("not run: referenced table people could not be read:")
    assert run.by_key()["visits.nid.pattern"].verdict.value == "passed"
    assert run.by_key()["visits.visit_id.unique"].failing_count == 0


def test_row_groups_wait_for_the_parent_once_the_held_keys_budget_is_spent(extract, monkeypatch):
    real = validate_module.prepare_parent
    counted_in_loop = []
    real_resolve = validate_module._resolve

    def late_parent(keys):
        threading.Event().wait(0.2)
        return real(keys)

    def resolve(*args):
        counted_in_loop.append(args[1])
        return real_resolve(*args)

    monkeypatch.setattr(validate_module, "prepare_parent", late_parent)
    monkeypatch.setattr(validate_module, "_resolve", resolve)
    monkeypatch.setattr(validate_module, "DEFERRED_KEYS_BUDGET", 0)
    assert _fk(validate(CHILD, extract / "visits")).failing_count == 37
    assert counted_in_loop == []  # nothing was held back: every row group waited for the parent


def test_footer_statistics_that_lie_about_an_ids_span_give_a_clear_error(tmp_path, monkeypatch):
    """The dense uniqueness counter trusts the footer's min/max: a damaged footer is named, not a crash."""
    from hdc_toolkit.contracts.key_index import DenseCounter
    from hdc_toolkit.exceptions import DataError

    pq.write_table(pa.table({"visit_id": np.arange(100), "nid": ["00000000001"] * 100}), tmp_path / "v.parquet")
    real_init = DenseCounter.__init__
    monkeypatch.setattr(DenseCounter, "__init__", lambda self, low, span: real_init(self, low, span - 10))
    with pytest.raises(DataError, match=r"visits\.visit_id\.unique: the Parquet footer statistics do not match"):
        validate(CHILD, tmp_path / "v.parquet")
    assert validate(CHILD, tmp_path / "v.parquet", use_statistics=False).by_key()["visits.visit_id.unique"].failing_count == 0
