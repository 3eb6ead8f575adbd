"""The append-only, hash-chained audit log (JSON lines at ``Settings.audit_log``).

Each line is one entry::

    {"seq": 7, "ts": "2026-05-09T10:00:00.123456+00:00", "actor": "steward1", "action": "permit.approved",
     "project": "demo-diabetes", "details": {...}, "prev": "<hash of entry 6>", "hash": "<sha256>"}

``hash`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the entry without
``hash``; ``prev`` is the previous entry's hash (64 zeros for the first). The head hash and the entry
count are also kept in the registry (``audit_head`` table), updated in the same transaction as the
change being audited, so :meth:`AuditLog.verify` detects an edited, removed, reordered, inserted or
truncated entry and a file replaced wholesale.

Writing. Entries are recorded inside a registry write transaction (:func:`record`, or
:meth:`AuditLog.append` which opens one) and appended to the file when that transaction commits:
under the registry's write lock, then ``fcntl.flock`` on the log file, written, ``fsync``-ed, and
the transaction committed while the file lock is held. If the commit fails the lines are cut off
again. A crash between the file write and the commit leaves the log one step ahead of the registry;
``verify`` reports that, as it must.

**Never put sensitive values in ``details``**: no national ids or pseudonyms, no data values or
cell counts, no names beyond usernames, no keys, tokens or passwords. Record identifiers (project,
permit version, hashes, check keys, file names). :func:`record` refuses the obvious mistakes
(secret-like key names, 11-digit national-id-like numbers), but that is a safety net, not a filter.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import HdcInternalError
from hdc_toolkit.projects.registry import GENESIS_HASH, AuditHead, Registry, open_registry
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_HASH",
    "AuditEntry",
    "AuditLog",
    "Problem",
    "canonical_json",
    "commit_with_audit",
    "entry_hash",
    "record",
    "verify_lines",
]

ENTRY_FIELDS: tuple[str, ...] = ("seq", "ts", "actor", "action", "project", "details", "prev", "hash")
ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
SECRET_KEY_PATTERN = re.compile(
    r"password|passwd|secret|token|private_key|api_key|fnr|national_id|fodselsnummer"
)
NATIONAL_ID_PATTERN = re.compile(r"\b\d{6} ?\d{5}\b")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_PENDING = "hdc_audit_pending"

CHECK_LINES = "audit.lines"
CHECK_SEQUENCE = "audit.sequence"
CHECK_CHAIN = "audit.chain"
CHECK_HASHES = "audit.hashes"
CHECK_HEAD = "audit.head"
CHECKS: tuple[tuple[str, str, str], ...] = (
    (CHECK_LINES, "parse", "every line is one complete entry"),
    (CHECK_SEQUENCE, "sequence", "seq runs 1, 2, 3, … without gaps"),
    (CHECK_CHAIN, "chain", "each entry's prev is the previous entry's hash"),
    (CHECK_HASHES, "hash", "each entry's hash matches its content"),
    (CHECK_HEAD, "head", "the last entry is the head recorded in the registry"),
)


class AuditEntry(TypedDict):
    seq: int
    ts: str
    actor: str
    action: str
    project: str | None
    details: dict[str, Any]
    prev: str
    hash: str


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 characters as themselves, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``entry`` without its ``hash`` field."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- writing


def _clean_details(details: dict[str, Any] | None) -> dict[str, Any]:
    clean = json.loads(json.dumps(details or {}, default=str, allow_nan=False))
    if not isinstance(clean, dict):
        raise TypeError("audit details must be a mapping")
    _refuse_sensitive(clean, "details")
    return clean


def _refuse_sensitive(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if SECRET_KEY_PATTERN.search(str(key).lower()):
                raise ValueError(
                    f"audit {where}.{key}: secret or identifier-like keys do not belong in the audit log"
                )
            _refuse_sensitive(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_sensitive(item, f"{where}[{i}]")
    elif isinstance(value, str) and NATIONAL_ID_PATTERN.search(value):
        raise ValueError(f"audit {where}: looks like a national id number; never log identifiers")


def record(
    session: Session,
    action: str,
    *,
    actor: str,
    project: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record an entry inside a :meth:`Registry.write` session; it is appended when that commits."""
    if not session.info.get("hdc_write"):
        raise HdcInternalError("audit.record() needs a session from Registry.write()")
    if not ACTION_PATTERN.fullmatch(action):
        raise ValueError(f"audit action must look like 'noun.verb', got {action!r}")
    if not actor or not isinstance(actor, str):
        raise ValueError("audit entries need an actor")
    head = session.get(AuditHead, 1)
    if head is None:
        head = AuditHead(id=1, head_hash=GENESIS_HASH, entry_count=0)
        session.add(head)
    now = dt.datetime.now(dt.timezone.utc)
    entry: AuditEntry = {
        "seq": head.entry_count + 1,
        "ts": now.isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "project": project,
        "details": _clean_details(details),
        "prev": head.head_hash,
        "hash": "",
    }
    entry["hash"] = entry_hash(dict(entry))
    head.entry_count = entry["seq"]
    head.head_hash = entry["hash"]
    head.updated_at = now
    session.info.setdefault(_PENDING, []).append(entry)
    return entry


def _line(entry: AuditEntry) -> bytes:
    return (json.dumps(entry, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode()


@contextmanager
def _locked_for_append(path: Path) -> Iterator[int]:
    """An append-only fd on the log holding ``flock(LOCK_EX)`` until it is closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        if not existed:
            _fsync_dir(path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def commit_with_audit(session: Session, path: Path) -> None:
    """Commit ``session``; first append its recorded entries to the log (cut off again on failure)."""
    pending: list[AuditEntry] = session.info.pop(_PENDING, [])
    if not pending:
        session.commit()
        return
    with _locked_for_append(path) as fd:
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, b"".join(_line(e) for e in pending))
            os.fsync(fd)
            session.commit()
        except BaseException:
            os.ftruncate(fd, size)
            os.fsync(fd)
            raise


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Problem:
    """One break in the log: which check, which line and entry, and what is wrong there."""

    check: str
    line: int | None
    seq: int | None
    what: str

    @property
    def where(self) -> str:
        if self.line is None:
            return "the empty log"
        return f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")

    @property
    def message(self) -> str:
        return f"{self.where}: {self.what}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "line": self.line,
            "seq": self.seq,
            "where": self.where,
            "what": self.what,
            "message": self.message,
        }


def _parse(raw: str) -> tuple[dict[str, Any] | None, str]:
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg})"
    if not isinstance(entry, dict):
        return None, "not a JSON object"
    if set(entry) != set(ENTRY_FIELDS):
        missing, extra = set(ENTRY_FIELDS) - set(entry), set(entry) - set(ENTRY_FIELDS)
        return None, f"wrong fields (missing: {sorted(missing) or '-'}, unexpected: {sorted(extra) or '-'})"
    if type(entry["seq"]) is not int or not all(
        isinstance(entry[k], str) and _HEX64.fullmatch(entry[k]) for k in ("prev", "hash")
    ):
        return None, "seq must be an integer and prev/hash 64 hex digits"
    return entry, ""


def _entry_problems(line: int, entry: dict[str, Any], expected_seq: int, expected_prev: str) -> list[Problem]:
    seq = entry["seq"]
    out = []
    if seq != expected_seq:
        out.append(
            Problem(
                CHECK_SEQUENCE,
                line,
                seq,
                f"expected seq {expected_seq}: an entry before it was removed, inserted or moved",
            )
        )
    if entry["prev"] != expected_prev:
        out.append(
            Problem(
                CHECK_CHAIN,
                line,
                seq,
                f"prev {entry['prev'][:12]}… is not the previous entry's "
                f"hash {expected_prev[:12]}…: the chain is broken here",
            )
        )
    if entry_hash(entry) != entry["hash"]:
        out.append(
            Problem(
                CHECK_HASHES, line, seq, "the hash does not match the entry's content: the entry was edited"
            )
        )
    return out


def _head_problem(
    last: dict[str, Any] | None, last_line: int, head_hash: str, head_count: int
) -> Problem | None:
    seq = last["seq"] if last else 0
    digest = last["hash"] if last else GENESIS_HASH
    if seq == head_count and digest == head_hash:
        return None
    if seq < head_count:
        what = (
            f"the log ends here but the registry records {head_count} entries: entries {seq + 1}–"
            f"{head_count} are missing (the tail was truncated or the file replaced)"
        )
    elif seq > head_count:
        what = (
            f"the log runs to seq {seq} but the registry records only {head_count} entries: entries were "
            "added outside the toolkit, or an append was interrupted before its registry commit"
        )
    else:
        what = (
            f"the last entry is not the head recorded in the registry ({head_hash[:12]}…): "
            "the file was replaced or its last entry rewritten"
        )
    return Problem(CHECK_HEAD, last_line if last else None, seq if last else None, what)


def verify_lines(lines: list[str], head_hash: str, head_count: int, *, name: str = "audit-verify") -> Run:
    """Verify the chain in ``lines`` (without newlines) against the registry head."""
    problems: list[Problem] = []
    expected_seq, expected_prev = 1, GENESIS_HASH
    last: dict[str, Any] | None = None
    last_line = 0
    for number, raw in enumerate(lines, start=1):
        entry, error = _parse(raw)
        if entry is None:
            problems.append(Problem(CHECK_LINES, number, None, error))
            continue
        problems += _entry_problems(number, entry, expected_seq, expected_prev)
        expected_seq, expected_prev = entry["seq"] + 1, entry["hash"]
        last, last_line = entry, number
    head = _head_problem(last, last_line, head_hash, head_count)
    problems += [head] if head else []
    return _run(name, problems, len(lines), head_hash, head_count)


def _run(name: str, problems: list[Problem], entries: int, head_hash: str, head_count: int) -> Run:
    run = Run(
        name=name, metadata={"entries": entries, "registry_head": {"hash": head_hash, "count": head_count}}
    )
    for key, kind, what in CHECKS:
        mine = [p for p in problems if p.check == key]
        run.checks.append(
            Check(
                key=key,
                kind=kind,
                verdict=Verdict.FAILED if mine else Verdict.PASSED,
                message=mine[0].message if mine else what,
                element_count=entries,
                failing_count=len(mine),
                examples=[p.message for p in mine[:5]],
                details={"problems": [p.to_dict() for p in mine[:100]]},
            )
        )
    if problems:
        run.metadata["first_problem"] = problems[0].to_dict()
    return run.finish()


# ---------------------------------------------------------------- the log object


class AuditLog:
    """The audit log of one ``HDC_HOME`` (its file plus the head in its registry)."""

    def __init__(self, settings: Settings, *, registry: Registry | None = None) -> None:
        self.settings = settings
        self.path = settings.audit_log
        self._registry = registry

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.settings)
        return self._registry

    def append(
        self, action: str, *, actor: str, project: str | None = None, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        """Append one entry in its own transaction and return it (durable when this returns)."""
        with self.registry.write() as session:
            return record(session, action, actor=actor, project=project, details=details)

    def _read_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            data = fh.read()
        return _split(data)

    def entries(self, *, project: str | None = None, tail: int | None = None) -> list[dict[str, Any]]:
        """Parsed entries, oldest first (unparseable lines are skipped: use :meth:`verify`)."""
        out = []
        for raw in self._read_lines():
            entry, _ = _parse(raw)
            if entry is not None and (project is None or entry["project"] == project):
                out.append(entry)
        return out[-tail:] if tail else out

    def verify(self) -> Run:
        """Check every line, the chain and the registry head; the run fails naming the first break."""
        registry = self.registry
        if not self.path.exists():
            head_hash, head_count = registry.audit_head()
            lines: list[str] = []
        else:
            with open(self.path, "rb") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH)  # appenders hold LOCK_EX until they commit
                lines = _split(fh.read())
                head_hash, head_count = registry.audit_head()
        run = verify_lines(lines, head_hash, head_count)
        run.metadata["path"] = str(self.path)
        return run


def _split(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines
