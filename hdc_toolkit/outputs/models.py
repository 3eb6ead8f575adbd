"""Registry tables of the airlock: output requests, their files, the reviews, the released-table ledger.

Declared on the registry's :class:`~hdc_toolkit.projects.registry.Base`; the schema belongs to the
migration ``0002_outputs`` (keep the two identical: a test compares them).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hdc_toolkit.projects.registry import Base, UTCDateTime

__all__ = [
    "DECISIONS",
    "REQUEST_STATES",
    "OutputFile",
    "OutputLedgerEntry",
    "OutputRequest",
    "OutputReview",
]

SUBMITTED = "submitted"
PARTIALLY_REVIEWED = "partially_reviewed"
APPROVED = "approved"
REJECTED = "rejected"
RETURNED = "returned"
RELEASED = "released"
WITHDRAWN = "withdrawn"
REQUEST_STATES: tuple[str, ...] = (
    SUBMITTED,
    PARTIALLY_REVIEWED,
    APPROVED,
    REJECTED,
    RETURNED,
    RELEASED,
    WITHDRAWN,
)
APPROVE = "approve"
REJECT = "reject"
RETURN = "return"
DECISIONS: tuple[str, ...] = (APPROVE, REJECT, RETURN)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class OutputRequest(Base):
    """One request to release files from a project; ``round`` grows each time it is resubmitted."""

    __tablename__ = "output_requests"
    __table_args__ = (CheckConstraint(f"state IN ({_in(REQUEST_STATES)})", name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    author: Mapped[str] = mapped_column(String(64), index=True)
    context: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(24), default=SUBMITTED)
    round: Mapped[int] = mapped_column(Integer, default=1)
    risk_profile: Mapped[str] = mapped_column(String(64))
    profile_version: Mapped[int] = mapped_column(Integer)
    profile_sha256: Mapped[str] = mapped_column(String(64))
    permit_version: Mapped[int] = mapped_column(Integer)
    permit_sha256: Mapped[str] = mapped_column(String(64))
    code_name: Mapped[str | None] = mapped_column(Text)
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    blocking: Mapped[int] = mapped_column(Integer, default=0)
    flagged_cells: Mapped[int] = mapped_column(Integer, default=0)
    record_sha256: Mapped[str] = mapped_column(String(64))
    staging_path: Mapped[str] = mapped_column(Text)
    outbox_path: Mapped[str | None] = mapped_column(Text)
    release_sha256: Mapped[str | None] = mapped_column(String(64))
    released_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow, onupdate=_utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OutputFile(Base):
    """A file of one round of a request, as staged and checked."""

    __tablename__ = "output_files"
    __table_args__ = (UniqueConstraint("request_id", "round", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("output_requests.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    table_json: Mapped[str | None] = mapped_column(Text)


class OutputReview(Base):
    """One output checker's decision on one round of a request."""

    __tablename__ = "output_reviews"
    __table_args__ = (
        UniqueConstraint("request_id", "round", "reviewer"),
        CheckConstraint(f"decision IN ({_in(DECISIONS)})", name="decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("output_requests.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)


class OutputLedgerEntry(Base):
    """A released count table (its labelled cells), for differencing against later requests."""

    __tablename__ = "output_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("output_requests.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    table_json: Mapped[str] = mapped_column(Text)
    released_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
