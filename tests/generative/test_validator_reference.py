"""The fast validator agrees with a plain-Python reference implementation on random small tables.

The tables are split over several files and row groups so that the global checks (uniqueness,
foreign keys) and the per-row-group paths (statistics pruning, dictionary reads) are all exercised.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdc_toolkit.contracts.model import Column, Contract, PairRule, Reference
from hdc_toolkit.contracts.validate import validate

NIDS = ["0012", "012", "12", "0099", "99", "9x", "x9", "00012", "00af", "00AF", "0faf", "af"]  # digits, hex, upper case
NID_PATTERN = r"^[0-9]{4}$"  # the fixed-digits fast path (and hex keys that must fail it)
CODES = ["A10", "A1", "B20", "E11", "E119", "Z99", "x12", ""]
PATTERN = r"^[A-Z][0-9]{2}$"
ALLOWED = ("A10", "B20", "E11")
LO_D, HI_D = dt.date(2000, 1, 1), dt.date(2020, 12, 31)

CONTRACT = Contract(
    name="events",
    columns=(
        Column("event_id", "integer", required=True, unique=True),
        Column("person", "integer", required=True, references=(Reference("people", "person"),)),
        Column("nid", "string", unique=True, pattern=NID_PATTERN, references=(Reference("people", "nid"),)),
        Column("code", "string", required=True, pattern=PATTERN, min_length=3, max_length=3),
        Column("kind", "string", allowed_values=ALLOWED),
        Column("amount", "number", minimum=0.0, maximum=100.0, exclusive_maximum=True),
        Column("start", "date", required=True, minimum=LO_D, maximum=HI_D),
        Column("end", "date", minimum=LO_D, maximum=HI_D),
    ),
    pair_rules=(PairRule("end_not_before_start", "end", "<", "start"),),
)
PEOPLE = Contract(name="people", columns=(Column("person", "integer", required=True, unique=True),))

dates = st.one_of(st.none(), st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2025, 12, 31)))
rows = st.lists(
    st.fixed_dictionaries(
        {
            "event_id": st.one_of(st.none(), st.integers(0, 40)),
            "person": st.one_of(st.none(), st.integers(0, 12)),
            "nid": st.one_of(st.none(), st.sampled_from(NIDS)),
            "code": st.one_of(st.none(), st.sampled_from(CODES)),
            "kind": st.one_of(st.none(), st.sampled_from([*ALLOWED, "Q99", "a10"])),
            "amount": st.one_of(st.none(), st.sampled_from([-0.5, 0.0, 0.1, 50.0, 99.9, 100.0, 100.5])),
            "start": dates,
            "end": dates,
        }
    ),
    min_size=1,
    max_size=60,
)
SCHEMA = pa.schema(
    [("event_id", pa.int64()), ("person", pa.int64()), ("nid", pa.string()), ("code", pa.string()), ("kind", pa.string()),
     ("amount", pa.float64()), ("start", pa.date32()), ("end", pa.date32())]
)  # fmt: skip


def reference(events: list[dict], people: set[int], people_nids: list[str]) -> dict[str, int]:
    """Counting semantics written out by hand, one row at a time."""
    nn = lambda col: [r[col] for r in events if r[col] is not None]  # noqa: E731
    ids = nn("event_id")
    return {
        "events.event_id.not_null": sum(r["event_id"] is None for r in events),
        "events.event_id.unique": sum(ids.count(v) > 1 for v in ids),
        "events.person.not_null": sum(r["person"] is None for r in events),
        "events.person.foreign_key": sum(v not in people for v in nn("person")),
        "events.nid.pattern": sum(re.search(NID_PATTERN, v) is None for v in nn("nid")),
        "events.nid.unique": sum(nn("nid").count(v) > 1 for v in nn("nid")),
        "events.nid.foreign_key": sum(v not in people_nids for v in nn("nid")),
        "events.code.not_null": sum(r["code"] is None for r in events),
        "events.code.pattern": sum(re.search(PATTERN, v) is None for v in nn("code")),
        "events.code.length": sum(not 3 <= len(v) <= 3 for v in nn("code")),
        "events.kind.allowed_values": sum(v not in ALLOWED for v in nn("kind")),
        "events.amount.range": sum(not (0.0 <= v < 100.0) for v in nn("amount")),
        "events.start.not_null": sum(r["start"] is None for r in events),
        "events.start.range": sum(not (LO_D <= v <= HI_D) for v in nn("start")),
        "events.end.range": sum(not (LO_D <= v <= HI_D) for v in nn("end")),
        "events.rule.end_not_before_start": sum(
            r["end"] is not None and r["start"] is not None and r["end"] < r["start"] for r in events
        ),
    }


def write(rows_: list[dict], directory: Path, parts: int, row_group: int, dictionary: bool) -> None:
    directory.mkdir(parents=True)
    size = max(1, -(-len(rows_) // parts))
    for i in range(0, len(rows_), size):
        table = pa.Table.from_pylist(rows_[i : i + size], schema=SCHEMA)
        pq.write_table(table, directory / f"part-{i:05d}.parquet", row_group_size=row_group, use_dictionary=dictionary)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    events=rows,
    people=st.sets(st.integers(0, 12), min_size=1, max_size=10),
    people_nids=st.lists(st.sampled_from(NIDS), min_size=1, max_size=5, unique=True),
    parts=st.integers(1, 3),
    row_group=st.integers(1, 25),
    dictionary=st.booleans(),
    use_statistics=st.booleans(),
)
def test_validator_matches_reference(events, people, people_nids, parts, row_group, dictionary, use_statistics):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(events, root / "events", parts, row_group, dictionary)
        pnids = (people_nids * len(people))[: len(people)] if len(people) >= len(people_nids) else people_nids[: len(people)]
        people_nids = pnids
        pq.write_table(pa.table({"person": pa.array(sorted(people), pa.int64()), "nid": pa.array(pnids, pa.string())}), root / "people.parquet")
        run = validate(CONTRACT, root / "events", use_statistics=use_statistics, threads=2)
    expected = reference(events, people, people_nids)
    got = {c.key: c.failing_count for c in run.checks if c.key in expected}
    assert got == expected
    assert run.by_key()["events.schema"].verdict.value == "passed"
    for c in run.checks:
        if c.failing_count is not None and c.kind not in ("schema", "type", "row_count"):
            assert (c.verdict.value == "passed") == (c.failing_count == 0), c.key


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(events=rows, people=st.sets(st.integers(0, 12), min_size=1, max_size=10), row_group=st.integers(1, 7))
def test_spilled_uniqueness_matches_reference(events, people, row_group):
    """With a zero memory budget every key batch is spilled to disk buckets: the counts do not change."""
    import hdc_toolkit.contracts.keys as keys
    import hdc_toolkit.contracts.validate as validate_module

    saved, saved_dense = keys.KEY_MEMORY_BUDGET, validate_module.DENSE_COUNTER_BUDGET
    keys.KEY_MEMORY_BUDGET = 0
    validate_module.DENSE_COUNTER_BUDGET = 0  # integer ids too go through the spill, not the dense counter
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write(events, root / "events", 2, row_group, False)
            pq.write_table(pa.table({"person": pa.array(sorted(people), pa.int64()), "nid": pa.array(["0012"] * len(people))}), root / "people.parquet")
            run = validate(CONTRACT, root / "events", threads=2)
    finally:
        keys.KEY_MEMORY_BUDGET, validate_module.DENSE_COUNTER_BUDGET = saved, saved_dense
    ids = [r["event_id"] for r in events if r["event_id"] is not None]
    nids = [r["nid"] for r in events if r["nid"] is not None]
    assert run.by_key()["events.event_id.unique"].failing_count == sum(ids.count(v) > 1 for v in ids)
    assert run.by_key()["events.nid.unique"].failing_count == sum(nids.count(v) > 1 for v in nids)
