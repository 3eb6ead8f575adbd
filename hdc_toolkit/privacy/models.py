"""Registry tables of the privacy budget ledger (migration ``0003_privacy_ledger``).

One row of ``privacy_ledger`` is one use of a project's budget: a DP training run, a DP synthetic
dataset, a DP preprocessing step. Rows are never deleted; their ``state`` moves forward only::

    reserved ──► running ──► committed        spent what the run actually did
       │            │
       │            ├──────► abandoned        owner died or overran its deadline: charged in full
       │            └──────► committed        failed after touching data: charged for the steps done
       ├──────────────────► released          never touched the data: nothing charged
       └──────────────────► released          (owner died before starting: reconciled, nothing charged)

``reserved`` and ``running`` rows count against the cap at their planned size until they end. The
mechanism (``mechanism_json``) and its RDP curve (``rdp_json``, on
:data:`hdc_toolkit.privacy.accounting.DEFAULT_ORDERS`) are what the project's total is composed from.
The owner columns (``owner_pid``, ``owner_host``, ``owner_boot_id``, ``owner_started``) identify the
process holding a reservation, so reconciliation can tell a dead owner from a live one; the lease
(``lease_expires_at``, renewed by heartbeats) and the hard ``deadline_at`` decide when an owner that
cannot be checked (another host) is presumed dead.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hdc_toolkit.projects.registry import Base, UTCDateTime

__all__ = ["ENTRY_KINDS", "ENTRY_STATES", "LIVE_STATES", "LedgerEntry"]

#: What a ledger entry paid for.
ENTRY_KINDS: tuple[str, ...] = ("training", "synthetic", "preprocessing", "query")
#: Every state of an entry; ``reserved`` and ``running`` are live (they hold budget).
ENTRY_STATES: tuple[str, ...] = ("reserved", "running", "committed", "released", "abandoned")
LIVE_STATES: tuple[str, ...] = ("reserved", "running")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LedgerEntry(Base):
    """One reservation / charge against a project's privacy budget for one dataset."""

    __tablename__ = "privacy_ledger"
    __table_args__ = (
        CheckConstraint(f"state IN ({_in(ENTRY_STATES)})", name="state"),
        CheckConstraint(f"kind IN ({_in(ENTRY_KINDS)})", name="kind"),
        Index("ix_privacy_ledger_project_dataset", "project_id", "dataset"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(36), unique=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    permit_version: Mapped[int] = mapped_column(Integer)
    permit_sha256: Mapped[str] = mapped_column(String(64))
    release_sha256: Mapped[str | None] = mapped_column(String(64))
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    # what the run asked for (its own guarantee) and the mechanism it planned
    epsilon: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    n_rows: Mapped[int] = mapped_column(Integer)
    accountant: Mapped[str] = mapped_column(String(16))
    mechanism_json: Mapped[str] = mapped_column(Text)
    rdp_json: Mapped[str | None] = mapped_column(Text)
    # what it was charged (set when it ends; live entries count at their planned size)
    charged_epsilon: Mapped[float | None] = mapped_column(Float)
    charged_delta: Mapped[float | None] = mapped_column(Float)
    charged_mechanism_json: Mapped[str | None] = mapped_column(Text)
    charged_rdp_json: Mapped[str | None] = mapped_column(Text)
    progress_steps: Mapped[int] = mapped_column(Integer, default=0)
    # the process holding it
    owner_pid: Mapped[int] = mapped_column(Integer)
    owner_host: Mapped[str] = mapped_column(String(255))
    owner_boot_id: Mapped[str] = mapped_column(String(64))
    owner_started: Mapped[float] = mapped_column(Float)
    # times
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_utcnow)
    lease_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(Text, default="")
