"""Frozen snapshots of output requests, files and reviews, as the airlock returns them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hdc_toolkit.outputs.models import OutputFile, OutputRequest, OutputReview

__all__ = ["FileRecord", "RequestRecord", "ReviewRecord", "record_of"]


@dataclass(frozen=True)
class FileRecord:
    round: int
    name: str
    sha256: str
    size: int
    kind: str
    verdict: str


@dataclass(frozen=True)
class ReviewRecord:
    round: int
    reviewer: str
    decision: str
    comment: str
    created_at: dt.datetime


@dataclass(frozen=True)
class RequestRecord:
    """A request as stored; ``files`` and ``reviews`` of the current round unless ``history``."""

    id: int
    project_id: str
    author: str
    context: str
    state: str
    round: int
    risk_profile: str
    permit_version: int
    permit_sha256: str
    code_name: str | None
    code_sha256: str | None
    verdict: str
    blocking: int
    flagged_cells: int
    record_sha256: str
    staging_path: str
    outbox_path: str | None
    release_sha256: str | None
    released_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    released_at: dt.datetime | None
    files: tuple[FileRecord, ...]
    reviews: tuple[ReviewRecord, ...]
    history: tuple[ReviewRecord, ...]

    @property
    def reviewers(self) -> list[str]:
        return [r.reviewer for r in self.reviews]


def record_of(s: Session, req: OutputRequest) -> RequestRecord:
    """The snapshot of a request row (files and reviews of its current round; all reviews in history)."""
    file_rows = s.scalars(
        select(OutputFile)
        .where(OutputFile.request_id == req.id, OutputFile.round == req.round)
        .order_by(OutputFile.id)
    )
    review_rows = list(
        s.scalars(select(OutputReview).where(OutputReview.request_id == req.id).order_by(OutputReview.id))
    )
    reviews = [ReviewRecord(r.round, r.reviewer, r.decision, r.comment, r.created_at) for r in review_rows]
    return RequestRecord(
        req.id,
        req.project_id,
        req.author,
        req.context,
        req.state,
        req.round,
        req.risk_profile,
        req.permit_version,
        req.permit_sha256,
        req.code_name,
        req.code_sha256,
        req.verdict,
        req.blocking,
        req.flagged_cells,
        req.record_sha256,
        req.staging_path,
        req.outbox_path,
        req.release_sha256,
        req.released_by,
        req.created_at,
        req.updated_at,
        req.released_at,
        tuple(FileRecord(f.round, f.name, f.sha256, f.size, f.kind, f.verdict) for f in file_rows),
        tuple(r for r in reviews if r.round == req.round),
        tuple(reviews),
    )
