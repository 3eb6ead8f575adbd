"""The hash-chained audit log: appending, and detecting every kind of tampering."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hdc_toolkit.audit import GENESIS_HASH, AuditLog, canonical_json, entry_hash, record
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import HdcInternalError
from hdc_toolkit.projects.registry import open_registry


def _fill(settings: Settings, n: int = 5) -> AuditLog:
    log = AuditLog(settings)
    for i in range(n):
        log.append("test.event", actor=f"user{i}", project="p1" if i % 2 else "p2", details={"i": i})
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("".join(line + "\n" for line in lines))


def _first(run) -> dict:  # type: ignore[no-untyped-def]
    assert not run.passed
    return run.metadata["first_problem"]


def _failed(run) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.key for c in run.checks if not c.verdict.value == "passed"}


# ---------------------------------------------------------------- a fresh chain


def test_empty_log_verifies(sqlite_settings: Settings) -> None:
    run = AuditLog(sqlite_settings).verify()
    assert run.passed and run.metadata["entries"] == 0


def test_fresh_chain_verifies_and_links(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 4)
    entries = [json.loads(line) for line in _lines(log)]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert entries[0]["prev"] == GENESIS_HASH
    for before, after in zip(entries, entries[1:], strict=False):
        assert after["prev"] == before["hash"]
    for e in entries:
        assert list(e) == ["seq", "ts", "actor", "action", "project", "details", "prev", "hash"]
        assert e["hash"] == entry_hash(e)
    run = log.verify()
    assert run.passed, run.to_dict()
    assert {c.key for c in run.checks} == {
        "audit.lines",
        "audit.sequence",
        "audit.chain",
        "audit.hashes",
        "audit.head",
    }
    assert open_registry(sqlite_settings).audit_head() == (entries[-1]["hash"], 4)


def test_append_returns_the_written_entry(sqlite_settings: Settings) -> None:
    log = AuditLog(sqlite_settings)
    entry = log.append(
        "permit.approved", actor="steward", project="p1", details={"when": dt.date(2027, 1, 4)}
    )
    assert entry["details"] == {"when": "2027-01-04"}  # normalised to JSON values before hashing
    assert json.loads(_lines(log)[0]) == entry
    assert entry["hash"] == entry_hash(dict(entry))


def test_hash_is_sha256_of_canonical_json_without_hash() -> None:
    import hashlib

    body = {
        "seq": 1,
        "ts": "t",
        "actor": "a",
        "action": "x.y",
        "project": None,
        "details": {"b": 1, "a": "æ"},
        "prev": GENESIS_HASH,
    }
    expected = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    assert entry_hash({**body, "hash": "ignored"}) == expected
    assert canonical_json(body).startswith('{"action":"x.y","actor":"a","details":{"a":"æ","b":1}')


def test_entries_filter_by_project_and_tail(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 5)
    assert [e["seq"] for e in log.entries(project="p1")] == [2, 4]
    assert [e["seq"] for e in log.entries(tail=2)] == [4, 5]
    assert [e["seq"] for e in log.entries(project="p2", tail=1)] == [5]


# ---------------------------------------------------------------- refusing bad entries


@pytest.mark.parametrize(
    "details",
    [
        {"password": "x"},
        {"nested": {"api_token": "x"}},
        {"patient": "01019012345"},
        {"rows": ["ok", "010190 12345"]},
    ],
)
def test_sensitive_details_are_refused(sqlite_settings: Settings, details: dict) -> None:
    log = AuditLog(sqlite_settings)
    with pytest.raises(ValueError):
        log.append("test.event", actor="a", details=details)
    assert log.verify().passed and log.entries() == []


def test_hashes_in_details_are_not_taken_for_national_ids(sqlite_settings: Settings) -> None:
    digest = "ab" + "12345678901" + "c" * 51
    log = AuditLog(sqlite_settings)
    log.append("test.event", actor="a", details={"sha256": digest})
    assert log.entries()[-1]["details"] == {"sha256": digest} and log.verify().passed


@pytest.mark.parametrize(
    ("action", "actor"), [("approved", "a"), ("Permit.Approved", "a"), ("permit.approved", "")]
)
def test_bad_action_or_actor_is_refused(sqlite_settings: Settings, action: str, actor: str) -> None:
    with pytest.raises(ValueError):
        AuditLog(sqlite_settings).append(action, actor=actor)


def test_record_needs_a_write_session(sqlite_settings: Settings) -> None:
    registry = open_registry(sqlite_settings)
    with registry.read() as session, pytest.raises(HdcInternalError):
        record(session, "test.event", actor="a")


def test_failed_commit_cuts_the_lines_off_again(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 2)
    before = log.path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with log.registry.write() as session:
            record(session, "test.event", actor="a")
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="commit failed"):
        with log.registry.write() as session:
            record(session, "test.event", actor="a")

            def fail() -> None:
                raise RuntimeError("commit failed")

            session.commit = fail  # type: ignore[method-assign]
    assert log.path.read_bytes() == before
    assert log.verify().passed
    assert log.append("test.event", actor="a")["seq"] == 3


def test_several_entries_in_one_transaction(sqlite_settings: Settings) -> None:
    log = AuditLog(sqlite_settings)
    with log.registry.write() as session:
        first = record(session, "test.one", actor="a")
        second = record(session, "test.two", actor="a")
    assert (first["seq"], second["seq"], second["prev"]) == (1, 2, first["hash"])
    assert log.verify().passed


# ---------------------------------------------------------------- tampering


def test_edited_field_is_named(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings)
    lines = _lines(log)
    entry = json.loads(lines[2])
    entry["actor"] = "mallory"
    lines[2] = json.dumps(entry)
    _write(log, lines)
    run = log.verify()
    assert _first(run)["line"] == 3 and _first(run)["seq"] == 3
    assert _failed(run) == {"audit.hashes"}
    assert "edited" in run.by_key()["audit.hashes"].message


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings)
    lines = _lines(log)
    entry = json.loads(lines[1])
    entry["details"] = {"i": 99}
    entry["hash"] = entry_hash(entry)
    lines[1] = json.dumps(entry)
    _write(log, lines)
    run = log.verify()
    assert _failed(run) == {"audit.chain"}
    assert (_first(run)["line"], _first(run)["seq"]) == (3, 3)


def test_edited_last_entry_with_recomputed_hash_is_caught_by_the_registry_head(
    sqlite_settings: Settings,
) -> None:
    log = _fill(sqlite_settings)
    lines = _lines(log)
    entry = json.loads(lines[-1])
    entry["action"] = "test.nothing"
    entry["hash"] = entry_hash(entry)
    lines[-1] = json.dumps(entry)
    _write(log, lines)
    run = log.verify()
    assert _failed(run) == {"audit.head"}
    assert _first(run)["seq"] == 5 and "replaced or its last entry rewritten" in _first(run)["what"]


def test_deleted_line_is_named(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings)
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    run = log.verify()
    assert {"audit.sequence", "audit.chain"} <= _failed(run)
    first = _first(run)
    assert (first["line"], first["seq"]) == (2, 3)
    assert "expected seq 2" in first["what"]


def test_swapped_lines_are_named(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings)
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    run = log.verify()
    assert {"audit.sequence", "audit.chain"} <= _failed(run)
    assert (_first(run)["line"], _first(run)["seq"]) == (2, 3)


def test_truncated_tail_is_detected(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings)
    _write(log, _lines(log)[:3])
    run = log.verify()
    assert _failed(run) == {"audit.head"}
    first = _first(run)
    assert first["seq"] == 3 and "entries 4–5 are missing" in first["what"]


def test_truncation_followed_by_new_appends_is_still_detected(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings)
    _write(log, _lines(log)[:3])
    log.append("test.after", actor="a")  # continues from the registry head, not from the cut file
    run = log.verify()
    assert "audit.sequence" in _failed(run)
    assert (_first(run)["line"], _first(run)["seq"]) == (4, 6)


def test_deleted_file_is_detected(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 2)
    log.path.unlink()
    run = log.verify()
    assert _failed(run) == {"audit.head"} and "entries 1–2 are missing" in _first(run)["what"]


def test_file_replaced_wholesale_is_detected(sqlite_settings: Settings, tmp_path: Path) -> None:
    log = _fill(sqlite_settings, 3)
    forged = _fill(Settings.from_env({"HDC_HOME": str(tmp_path / "forger")}), 3)  # a valid chain of its own
    log.path.write_bytes(forged.path.read_bytes())
    run = log.verify()
    assert _failed(run) == {"audit.head"}
    assert _first(run)["seq"] == 3 and "replaced" in _first(run)["what"]


def test_entries_appended_by_hand_are_detected(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 2)
    last = json.loads(_lines(log)[-1])
    extra = {
        "seq": 3,
        "ts": last["ts"],
        "actor": "x",
        "action": "test.event",
        "project": None,
        "details": {},
        "prev": last["hash"],
    }
    extra["hash"] = entry_hash(extra)
    _write(log, [*_lines(log), json.dumps(extra)])
    run = log.verify()
    assert _failed(run) == {"audit.head"} and "registry records only 2" in _first(run)["what"]


@pytest.mark.parametrize("garbage", ["not json", "[1, 2]", '{"seq": 1}', ""])
def test_unparseable_line_is_named(sqlite_settings: Settings, garbage: str) -> None:
    log = _fill(sqlite_settings, 3)
    lines = _lines(log)
    lines.insert(1, garbage)
    _write(log, lines)
    run = log.verify()
    assert "audit.lines" in _failed(run)
    assert _first(run)["line"] == 2


def test_partial_last_line_is_named(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 3)
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-20])
    run = log.verify()
    assert "audit.lines" in _failed(run) and _first(run)["line"] == 3


def test_reformatted_but_unchanged_entries_still_verify(sqlite_settings: Settings) -> None:
    log = _fill(sqlite_settings, 3)
    _write(log, [json.dumps(json.loads(line), indent=None, sort_keys=True) for line in _lines(log)])
    assert log.verify().passed
