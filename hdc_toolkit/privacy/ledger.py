"""The privacy budget ledger: reserve before a DP run, commit what it spent, reconcile the dead.

Every differentially private use of a project's data (training, synthetic data, DP preprocessing)
is one entry in the registry's ``privacy_ledger`` table, per project and dataset. The cap is the
current permit's ``dp_budget`` (ε, δ); the total is the runs' mechanisms *composed* with the RDP
accountant at the permit's δ (see :mod:`.accounting`), reported beside the naive sum of ε's.

The protocol (:class:`BudgetLedger`, or the :class:`Reservation` it hands out)::

    r = ledger.reserve(project, by=user, mechanism=SubsampledGaussian(σ, q, steps), epsilon=ε, delta=δ,
                       n_rows=n)           # one transaction: refuses if the total would exceed the cap
    with r:                                # heartbeats in a background thread while the block runs
        r.start()                          # BEFORE the data is touched: from here on it is charged
        ... train, calling r.progress(steps_done) ...
        r.commit(spent=actual_mechanism)   # charges what the run actually did
    # an exception in the block: r.fail() charges the steps done (nothing if it never started)

**Reconciliation of reservations left by killed processes.** Each entry stores its owner: pid,
host name, boot id and the process' start time, plus a lease renewed by heartbeats and a hard
deadline. :meth:`BudgetLedger.reconcile` (run inside every reservation, and by
``hdc budget reconcile``) decides each live entry:

* owner on this host and alive (same pid *and* start time, not a zombie): left alone;
* owner on this host and dead (no such pid, a reused pid, a zombie, another boot), or on another host
  with its lease expired: a ``reserved`` entry is **released** (nothing charged: it never touched the
  data), a ``running`` one is **abandoned and charged in full** (it may have released outputs);
* past its deadline, alive or not: the same (so nothing is stuck forever).

A live entry is never *freed* while its owner might be running: freeing happens only to entries that
never started, and :meth:`start` re-checks under the registry's write lock, so a presumed-dead owner
that wakes up is refused before it reads anything. Charging in full is always safe.

Every reservation, start, commit, release, refusal and reconciliation is appended to the audit log
(action ``privacy.<verb>``) in the same transaction as the ledger change. Heartbeats are not.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import (
    HdcUserError,
    NotFoundError,
    PermissionDenied,
    PrivacyBudgetExceeded,
    StateError,
)
from hdc_toolkit.privacy.accounting import (
    ApproxDP,
    Composition,
    InvalidPrivacyParameter,
    Mechanism,
    SubsampledGaussian,
    compose,
    epsilon_from_rdp,
    mechanism_from_dict,
    rdp_curve,
    validate_epsilon_delta,
)
from hdc_toolkit.privacy.models import ENTRY_KINDS, LIVE_STATES, LedgerEntry
from hdc_toolkit.projects import lifecycle
from hdc_toolkit.projects.registry import (
    Member,
    Project,
    Registry,
    Release,
    current_permit_in,
    open_registry,
)
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "DEFAULT_DATASET",
    "DEFAULT_LEASE_S",
    "DEFAULT_MAX_DURATION_S",
    "SPENDING_ROLES",
    "SPENDING_STATES",
    "BudgetAccount",
    "BudgetLedger",
    "EntryRecord",
    "Owner",
    "Reconciliation",
    "Reservation",
]

#: The dataset key of a project's release: every table of it describes the same people (linked by
#: ``pid``), so by default all of them share one budget.
DEFAULT_DATASET = "release"
#: Roles that may spend budget: researchers train, the data centre makes DP synthetic twins.
SPENDING_ROLES: frozenset[str] = frozenset({"project_leader", "researcher", "data_steward"})
#: Lifecycle states in which a project has data to spend budget on.
SPENDING_STATES: frozenset[str] = frozenset({lifecycle.PROVISIONED, lifecycle.ACTIVE})
#: A reservation whose owner cannot be checked (another host) and is silent this long is presumed dead.
DEFAULT_LEASE_S = 600.0
#: No reservation lives longer than this (the owner may ask for more at reserve time).
DEFAULT_MAX_DURATION_S = 24 * 3600.0
#: Composed ε may exceed the cap by this much (floating point), no more.
EPSILON_TOLERANCE = 1e-9
_DATASET_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,127}")

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _finite(x: float | None) -> float | str | None:
    """A JSON-safe number for the audit log (it refuses NaN and infinity)."""
    if x is None:
        return None
    return float(x) if math.isfinite(x) else "inf"


# ---------------------------------------------------------------- owners


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        import psutil

        return f"boot-{psutil.boot_time():.0f}"


@dataclass(frozen=True)
class Owner:
    """The process holding a reservation: pid, host, boot id and the process' start time."""

    pid: int
    host: str
    boot_id: str
    started: float

    @classmethod
    def current(cls) -> Owner:
        import psutil

        pid = os.getpid()
        return cls(
            pid=pid, host=socket.gethostname(), boot_id=_boot_id(), started=psutil.Process(pid).create_time()
        )

    def status(self) -> Literal["alive", "dead", "unknown"]:
        """``alive``/``dead`` when the owner is on this machine (since this boot), else ``unknown``."""
        import psutil

        if self.host != socket.gethostname():
            return "unknown"
        if self.boot_id != _boot_id():
            return "dead"
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.started) > 0.05:
                return "dead"  # the pid was reused by another process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return "dead"
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return "dead"
        except psutil.AccessDenied:
            return "alive"  # exists, owned by someone else: assume alive
        return "alive"


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class EntryRecord:
    """A ledger entry as returned to callers (never a live ORM object)."""

    run_id: str
    project_id: str
    dataset: str
    kind: str
    state: str
    actor: str
    permit_version: int
    permit_sha256: str
    release_sha256: str | None
    code_sha256: str | None
    description: str
    epsilon: float
    delta: float
    n_rows: int
    accountant: str
    mechanism: Mechanism
    charged_epsilon: float | None
    charged_delta: float | None
    charged_mechanism: Mechanism | None
    progress_steps: int
    owner: Owner
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime
    lease_expires_at: dt.datetime
    deadline_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def counted_epsilon(self) -> float:
        """The ε this entry counts in the naive sum now (planned while live, charged once ended)."""
        return self.epsilon if self.live else float(self.charged_epsilon or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project_id": self.project_id,
            "dataset": self.dataset,
            "kind": self.kind,
            "state": self.state,
            "actor": self.actor,
            "permit_version": self.permit_version,
            "release_sha256": self.release_sha256,
            "code_sha256": self.code_sha256,
            "description": self.description,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "n_rows": self.n_rows,
            "accountant": self.accountant,
            "mechanism": self.mechanism.to_dict(),
            "charged_epsilon": self.charged_epsilon,
            "charged_delta": self.charged_delta,
            "charged_mechanism": self.charged_mechanism.to_dict() if self.charged_mechanism else None,
            "progress_steps": self.progress_steps,
            "owner": {"pid": self.owner.pid, "host": self.owner.host},
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "lease_expires_at": self.lease_expires_at.isoformat(),
            "deadline_at": self.deadline_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
        }


def _record(e: LedgerEntry) -> EntryRecord:
    return EntryRecord(
        run_id=e.run_id,
        project_id=e.project_id,
        dataset=e.dataset,
        kind=e.kind,
        state=e.state,
        actor=e.actor,
        permit_version=e.permit_version,
        permit_sha256=e.permit_sha256,
        release_sha256=e.release_sha256,
        code_sha256=e.code_sha256,
        description=e.description,
        epsilon=e.epsilon,
        delta=e.delta,
        n_rows=e.n_rows,
        accountant=e.accountant,
        mechanism=mechanism_from_dict(json.loads(e.mechanism_json)),
        charged_epsilon=e.charged_epsilon,
        charged_delta=e.charged_delta,
        charged_mechanism=(
            mechanism_from_dict(json.loads(e.charged_mechanism_json)) if e.charged_mechanism_json else None
        ),
        progress_steps=e.progress_steps,
        owner=Owner(e.owner_pid, e.owner_host, e.owner_boot_id, e.owner_started),
        created_at=e.created_at,
        started_at=e.started_at,
        heartbeat_at=e.heartbeat_at,
        lease_expires_at=e.lease_expires_at,
        deadline_at=e.deadline_at,
        finished_at=e.finished_at,
        outcome=e.outcome,
    )


@dataclass(frozen=True)
class BudgetAccount:
    """One (project, dataset) account: the cap, the composed total, the naive sum, the entries.

    ``total`` counts committed and abandoned entries at their charge and live ones at their planned
    size; ``spent`` counts ended entries only.
    """

    project_id: str
    dataset: str
    cap_epsilon: float | None
    cap_delta: float | None
    total: Composition
    spent: Composition
    entries: tuple[EntryRecord, ...]

    @property
    def live(self) -> tuple[EntryRecord, ...]:
        return tuple(e for e in self.entries if e.live)

    @property
    def remaining_epsilon(self) -> float:
        """``cap − composed total`` (≥ 0): indicative, since ε's do not add up linearly."""
        if self.cap_epsilon is None:
            return 0.0
        return max(self.cap_epsilon - self.total.bound, 0.0)

    @property
    def exhausted(self) -> bool:
        return self.remaining_epsilon <= EPSILON_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "dataset": self.dataset,
            "cap": {"epsilon": self.cap_epsilon, "delta": self.cap_delta},
            "total": self.total.to_dict(),
            "spent": self.spent.to_dict(),
            "remaining_epsilon": self.remaining_epsilon,
            "live": len(self.live),
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True)
class Reconciliation:
    """What reconciliation decided for one live entry."""

    run_id: str
    project_id: str
    from_state: str
    to_state: str
    reason: str
    charged_epsilon: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project_id": self.project_id,
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
            "charged_epsilon": self.charged_epsilon,
        }


# ---------------------------------------------------------------- helpers


def _charges(entries: list[LedgerEntry]) -> list[tuple[Mechanism, float, float, Any]]:
    """What each entry counts in the total: ended ones at their charge, live ones as planned."""
    out = []
    for e in entries:
        if e.state == "released":
            continue
        if e.state in LIVE_STATES or e.charged_mechanism_json is None:
            mech, eps, delta, curve = e.mechanism_json, e.epsilon, e.delta, e.rdp_json
        else:
            mech, eps, delta = e.charged_mechanism_json, e.charged_epsilon or 0.0, e.charged_delta or 0.0
            curve = e.charged_rdp_json
        out.append((mechanism_from_dict(json.loads(mech)), eps, delta, json.loads(curve) if curve else None))
    return out


def _composition(entries: list[LedgerEntry], delta: float, extra: list[Any] | None = None) -> Composition:
    return compose(_charges(entries) + (extra or []), delta)


def _claimed_epsilon(mech: Mechanism, delta: float) -> float:
    """A mechanism's own ε at ``delta`` (RDP), for charges computed by the ledger."""
    if isinstance(mech, ApproxDP):
        return mech.epsilon
    curve = mech.rdp()
    return float(epsilon_from_rdp(curve, delta)[0]) if curve.any() else 0.0


def _check_steps(planned: Mechanism, spent: Mechanism) -> None:
    if type(planned) is not type(spent):
        raise InvalidPrivacyParameter(
            f"the spent mechanism ({spent.kind}) is not the reserved one ({planned.kind})"
        )


def _spent_dict(spent: Mechanism) -> tuple[str, str | None]:
    curve = rdp_curve(spent)
    return json.dumps(spent.to_dict()), (json.dumps(curve) if curve is not None else None)


# ---------------------------------------------------------------- the ledger


class BudgetLedger:
    """The privacy budget ledger of one registry. All writes go through :meth:`Registry.write`.

    ``clock`` (default: UTC now) exists for tests of leases and deadlines.
    """

    def __init__(
        self, settings: Settings, *, registry: Registry | None = None, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry or open_registry(settings)
        self.clock: Clock = clock or _utcnow

    # -- reading

    def account(self, project_id: str, dataset: str = DEFAULT_DATASET) -> BudgetAccount:
        """The account of ``project_id`` for ``dataset`` (read-only; live entries as they stand)."""
        with self.registry.read() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise NotFoundError(f"no project {project_id!r} in the registry")
            return self._account_in(s, project, dataset)

    def accounts(self, project_id: str) -> list[BudgetAccount]:
        """Every dataset account of a project (at least the default one)."""
        with self.registry.read() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise NotFoundError(f"no project {project_id!r} in the registry")
            names = set(
                s.scalars(select(LedgerEntry.dataset).where(LedgerEntry.project_id == project_id)).all()
            )
            return [self._account_in(s, project, d) for d in sorted(names | {DEFAULT_DATASET})]

    def entry(self, run_id: str) -> EntryRecord:
        with self.registry.read() as s:
            return _record(self._entry(s, run_id))

    def _account_in(self, s: Session, project: Project, dataset: str) -> BudgetAccount:
        rows = self._entries(s, project.id, dataset)
        delta = project.dp_delta or 0.0
        ended = [e for e in rows if e.state not in LIVE_STATES]
        return BudgetAccount(
            project_id=project.id,
            dataset=dataset,
            cap_epsilon=project.dp_epsilon,
            cap_delta=project.dp_delta,
            total=_composition(rows, delta),
            spent=_composition(ended, delta),
            entries=tuple(_record(e) for e in rows),
        )

    @staticmethod
    def _entries(s: Session, project_id: str, dataset: str) -> list[LedgerEntry]:
        stmt = (
            select(LedgerEntry)
            .where(LedgerEntry.project_id == project_id, LedgerEntry.dataset == dataset)
            .order_by(LedgerEntry.id)
        )
        return list(s.scalars(stmt))

    @staticmethod
    def _entry(s: Session, run_id: str) -> LedgerEntry:
        e = s.scalars(select(LedgerEntry).where(LedgerEntry.run_id == run_id)).first()
        if e is None:
            raise NotFoundError(f"no privacy ledger entry {run_id!r}")
        return e

    # -- checking and reserving

    def check(
        self,
        project_id: str,
        *,
        by: str,
        mechanism: Mechanism,
        epsilon: float,
        delta: float,
        n_rows: int,
        dataset: str = DEFAULT_DATASET,
    ) -> Run:
        """Would this run be allowed now? A :class:`Run` of checks (nothing is reserved)."""
        with self.registry.read() as s:
            run, _ = self._evaluate(s, project_id, by, mechanism, epsilon, delta, n_rows, dataset)
            return run

    def reserve(
        self,
        project_id: str,
        *,
        by: str,
        mechanism: Mechanism,
        epsilon: float,
        delta: float,
        n_rows: int,
        dataset: str = DEFAULT_DATASET,
        kind: str = "training",
        accountant: str = "rdp",
        description: str = "",
        release_sha256: str | None = None,
        code_sha256: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        max_duration_s: float = DEFAULT_MAX_DURATION_S,
        owner: Owner | None = None,
    ) -> Reservation:
        """Reserve ``epsilon``/``delta`` for a run of ``mechanism`` on ``n_rows`` rows; see the module doc.

        Refusals raise (and are audited): :class:`InvalidPrivacyParameter` (ε ≤ 0, δ ≥ 1/n, no rows),
        :class:`~hdc_toolkit.exceptions.NotFoundError`, :class:`~hdc_toolkit.exceptions.StateError`
        (project not provisioned/active), :class:`~hdc_toolkit.exceptions.PermissionDenied` (not a
        member with a spending role), :class:`~hdc_toolkit.exceptions.PrivacyBudgetExceeded`.
        """
        if kind not in ENTRY_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ENTRY_KINDS)}, got {kind!r}")
        if not lease_s > 0 or not max_duration_s >= lease_s:
            raise ValueError("lease_s must be > 0 and max_duration_s ≥ lease_s")
        owner = owner or Owner.current()
        curve = rdp_curve(mechanism)  # outside the lock: can take a fraction of a second
        refusal: HdcUserError | None = None
        with self.registry.write() as s:
            from hdc_toolkit.audit import record

            now = self.clock()
            self._reconcile_in(s, project_id, now)
            run, project = self._evaluate(
                s, project_id, by, mechanism, epsilon, delta, n_rows, dataset, extra_curve=curve
            )
            if not run.passed:
                refusal = _refusal_from(run)
                record(
                    s,
                    "privacy.refused",
                    actor=by or "?",
                    project=project_id,
                    details={
                        "dataset": dataset,
                        "kind": kind,
                        "epsilon": _finite(epsilon) if isinstance(epsilon, (int, float)) else str(epsilon),
                        "delta": _finite(delta) if isinstance(delta, (int, float)) else str(delta),
                        "reason": refusal.reason_key,  # type: ignore[attr-defined]
                        "message": refusal.message,
                    },
                )
            else:
                assert project is not None
                permit = current_permit_in(s, project_id)
                assert permit is not None
                if release_sha256 is None:
                    release_sha256 = _current_release_sha(s, project_id)
                entry = LedgerEntry(
                    run_id=uuid.uuid4().hex,
                    project_id=project_id,
                    dataset=dataset,
                    kind=kind,
                    state="reserved",
                    actor=by,
                    permit_version=permit.version,
                    permit_sha256=permit.sha256,
                    release_sha256=release_sha256,
                    code_sha256=code_sha256,
                    description=description,
                    epsilon=float(epsilon),
                    delta=float(delta),
                    n_rows=int(n_rows),
                    accountant=accountant,
                    mechanism_json=json.dumps(mechanism.to_dict()),
                    rdp_json=json.dumps(curve) if curve is not None else None,
                    progress_steps=0,
                    owner_pid=owner.pid,
                    owner_host=owner.host,
                    owner_boot_id=owner.boot_id,
                    owner_started=owner.started,
                    created_at=now,
                    heartbeat_at=now,
                    lease_expires_at=now + dt.timedelta(seconds=lease_s),
                    deadline_at=now + dt.timedelta(seconds=max_duration_s),
                    outcome="",
                )
                s.add(entry)
                s.flush()
                after = run.metadata["composed_after"]
                record(
                    s,
                    "privacy.reserved",
                    actor=by,
                    project=project_id,
                    details={
                        "run_id": entry.run_id,
                        "dataset": dataset,
                        "kind": kind,
                        "epsilon": float(epsilon),
                        "delta": float(delta),
                        "mechanism": mechanism.to_dict(),
                        "accountant": accountant,
                        "n_rows": int(n_rows),
                        "permit_version": permit.version,
                        "release_sha256": release_sha256,
                        "composed_epsilon_after": _finite(after["bound"]),
                        "naive_epsilon_after": _finite(after["naive_epsilon"]),
                        "cap_epsilon": project.dp_epsilon,
                    },
                )
                result = _record(entry)
        if refusal is not None:
            raise refusal
        return Reservation(self, result, lease_s=lease_s)

    def record_refusal(
        self,
        project_id: str,
        *,
        by: str,
        reason: str,
        message: str,
        dataset: str = DEFAULT_DATASET,
        kind: str = "training",
        epsilon: float | None = None,
    ) -> None:
        """Audit a refusal decided before reserving (e.g. empty data found while loading it)."""
        with self.registry.write() as s:
            from hdc_toolkit.audit import record

            record(
                s,
                "privacy.refused",
                actor=by or "?",
                project=project_id,
                details={
                    "dataset": dataset,
                    "kind": kind,
                    "epsilon": _finite(epsilon) if isinstance(epsilon, (int, float)) else None,
                    "reason": reason,
                    "message": message,
                },
            )

    def _evaluate(
        self,
        s: Session,
        project_id: str,
        by: str,
        mechanism: Mechanism,
        epsilon: float,
        delta: float,
        n_rows: int,
        dataset: str,
        *,
        extra_curve: list[float] | None = None,
    ) -> tuple[Run, Project | None]:
        run = Run(name="privacy-budget-check", metadata={"project": project_id, "dataset": dataset})
        checks = run.checks

        def add(key: str, ok: bool, message: str, error: type[HdcUserError] | None = None) -> bool:
            checks.append(
                Check(
                    key=key,
                    kind="privacy",
                    verdict=Verdict.PASSED if ok else Verdict.FAILED,
                    message=message,
                    details={} if ok or error is None else {"error": error.__name__},
                )
            )
            return ok

        # parameters
        try:
            if not isinstance(n_rows, int) or isinstance(n_rows, bool) or n_rows <= 0:
                raise InvalidPrivacyParameter(
                    f"the data has {n_rows} rows: there is nothing to train on (empty data is refused)"
                )
            validate_epsilon_delta(epsilon, delta, n_rows=n_rows)
            if not _DATASET_PATTERN.fullmatch(dataset or ""):
                raise InvalidPrivacyParameter(
                    f"dataset must look like 'release' or 'lab_results', got {dataset!r}"
                )
            add("privacy.parameters", True, "ε > 0, 0 ≤ δ < 1/n, data not empty")
        except InvalidPrivacyParameter as exc:
            add("privacy.parameters", False, exc.message, InvalidPrivacyParameter)
            return run.finish(), None
        project = s.get(Project, project_id)
        if project is None:
            add("privacy.project", False, f"no project {project_id!r} in the registry", NotFoundError)
            return run.finish(), None
        if not add(
            "privacy.project",
            project.state in SPENDING_STATES,
            f"project {project_id!r} is {project.state}"
            + ("" if project.state in SPENDING_STATES else ": DP runs need a provisioned or active project"),
            StateError,
        ):
            return run.finish(), project
        member = s.scalars(
            select(Member).where(
                Member.project_id == project_id, Member.username == by, Member.active.is_(True)
            )
        ).first()
        role_ok = member is not None and member.role in SPENDING_ROLES
        if not add(
            "privacy.actor",
            role_ok,
            f"{by!r} is "
            + (f"a {member.role}" if member else "not an active member of the project")
            + ("" if role_ok else f"; spending the budget needs one of: {', '.join(sorted(SPENDING_ROLES))}"),
            PermissionDenied,
        ):
            return run.finish(), project
        cap_eps, cap_delta = project.dp_epsilon, project.dp_delta
        if cap_eps is None or cap_delta is None:
            add(
                "privacy.cap",
                False,
                "the permit grants no differential-privacy budget",
                PrivacyBudgetExceeded,
            )
            return run.finish(), project
        if delta > cap_delta:
            add(
                "privacy.cap",
                False,
                f"delta {delta:g} is above the permit's δ {cap_delta:g}: use delta ≤ {cap_delta:g}",
                InvalidPrivacyParameter,
            )
            return run.finish(), project
        if cap_delta >= 1 / n_rows:
            add(
                "privacy.cap",
                False,
                f"the permit's δ {cap_delta:g} is not below 1/n = {1 / n_rows:g} for these {n_rows} rows: "
                "no meaningful guarantee; the permit must be amended to a smaller δ",
                InvalidPrivacyParameter,
            )
            return run.finish(), project
        add("privacy.cap", True, f"cap ε = {cap_eps:g}, δ = {cap_delta:g}")
        rows = self._entries(s, project_id, dataset)
        before = _composition(rows, cap_delta)
        after = _composition(rows, cap_delta, [(mechanism, float(epsilon), float(delta), extra_curve)])
        run.metadata |= {"composed_before": before.to_dict(), "composed_after": after.to_dict()}
        fits = after.bound <= cap_eps + EPSILON_TOLERANCE
        remaining = max(cap_eps - before.bound, 0.0)
        if fits:
            message = (
                f"fits: composed ε {before.bound:.4g} → {after.bound:.4g} of {cap_eps:g} "
                f"(naive sum {after.naive_epsilon:.4g})"
            )
        elif remaining <= EPSILON_TOLERANCE:
            message = (
                f"the budget of project {project_id!r} ({dataset}) is spent: composed ε {before.bound:.4g} of "
                f"{cap_eps:g} (naive sum {before.naive_epsilon:.4g}); no further DP run is possible "
                "without an amended permit"
            )
        else:
            message = (
                f"this run (ε = {epsilon:g}) would bring the composed ε of project {project_id!r} ({dataset}) "
                f"to {after.bound:.4g}, over its cap {cap_eps:g}; about ε {remaining:.3g} is left "
                f"(composed {before.bound:.4g}, naive sum {before.naive_epsilon:.4g}): ask for less ε, "
                "train fewer epochs, or wait for live reservations to end"
            )
        add("privacy.budget", fits, message, PrivacyBudgetExceeded)
        return run.finish(), project

    # -- the run's lifecycle

    def start(self, run_id: str) -> EntryRecord:
        """Mark the run as touching the data (call before reading it); refused if reconciled away."""
        with self.registry.write() as s:
            from hdc_toolkit.audit import record

            e = self._entry(s, run_id)
            if e.state != "reserved":
                raise StateError(_not_live_message(e, "start"))
            now = self.clock()
            e.state, e.started_at = "running", now
            self._renew(e, now)
            record(s, "privacy.started", actor=e.actor, project=e.project_id, details={"run_id": run_id})
            return _record(e)

    def heartbeat(self, run_id: str, *, progress_steps: int | None = None) -> EntryRecord:
        """Renew the lease (and record progress); raises :class:`StateError` if the run was reconciled."""
        with self.registry.write() as s:
            e = self._entry(s, run_id)
            if e.state not in LIVE_STATES:
                raise StateError(_not_live_message(e, "continue"))
            self._renew(e, self.clock())
            if progress_steps is not None:
                e.progress_steps = max(int(progress_steps), e.progress_steps)
            return _record(e)

    @staticmethod
    def _renew(e: LedgerEntry, now: dt.datetime) -> None:
        lease = e.lease_expires_at - e.heartbeat_at
        e.heartbeat_at = now
        e.lease_expires_at = min(now + lease, e.deadline_at)

    def commit(
        self,
        run_id: str,
        *,
        spent: Mechanism | None = None,
        epsilon: float | None = None,
        delta: float | None = None,
        outcome: str = "completed",
    ) -> EntryRecord:
        """Charge what the run actually spent (default: the reserved mechanism) and end it."""
        with self.registry.write() as s:
            e = self._entry(s, run_id)
            if e.state not in LIVE_STATES:
                raise StateError(_not_live_message(e, "commit"))
            return self._charge(s, e, spent, epsilon, delta, outcome, action="privacy.committed")

    def fail(self, run_id: str, *, reason: str, spent: Mechanism | None = None) -> EntryRecord:
        """End a failed run: nothing is charged if it never started (or did zero steps); else ``spent``
        (the steps it did), or the whole reservation when what it did is unknown."""
        with self.registry.write() as s:
            e = self._entry(s, run_id)
            if e.state not in LIVE_STATES:
                raise StateError(_not_live_message(e, "fail"))
            zero = spent is not None and isinstance(spent, SubsampledGaussian) and spent.steps == 0
            if e.state == "reserved" or zero:
                return self._release(s, e, f"failed before touching the data: {reason}")
            outcome = (
                f"failed: {reason}; charged for what it did"
                if spent is not None
                else f"failed: {reason}; charged in full (what it did is unknown)"
            )
            return self._charge(s, e, spent, None, None, outcome, action="privacy.committed")

    def _charge(
        self,
        s: Session,
        e: LedgerEntry,
        spent: Mechanism | None,
        epsilon: float | None,
        delta: float | None,
        outcome: str,
        *,
        action: str,
        state: str = "committed",
        actor: str | None = None,
    ) -> EntryRecord:
        from hdc_toolkit.audit import record

        planned = mechanism_from_dict(json.loads(e.mechanism_json))
        if spent is None:
            spent, mech_json, curve_json = planned, e.mechanism_json, e.rdp_json
            epsilon = e.epsilon if epsilon is None else epsilon
        else:
            _check_steps(planned, spent)
            mech_json, curve_json = _spent_dict(spent)
        charged_delta = float(e.delta if delta is None else delta)
        charged_eps = float(epsilon) if epsilon is not None else _claimed_epsilon(spent, charged_delta)
        now = self.clock()
        e.state, e.finished_at, e.outcome = state, now, outcome
        e.charged_mechanism_json, e.charged_rdp_json = mech_json, curve_json
        e.charged_epsilon, e.charged_delta = charged_eps, charged_delta
        if isinstance(spent, SubsampledGaussian):
            e.progress_steps = spent.steps
        s.flush()
        project = s.get(Project, e.project_id)
        assert project is not None
        total = _composition(self._entries(s, e.project_id, e.dataset), project.dp_delta or 0.0)
        over = project.dp_epsilon is not None and total.bound > project.dp_epsilon + EPSILON_TOLERANCE
        if over:
            e.outcome += "; the charge exceeds the reservation and the project's cap"
        record(
            s,
            action,
            actor=actor or e.actor,
            project=e.project_id,
            details={
                "run_id": e.run_id,
                "dataset": e.dataset,
                "state": state,
                "charged_epsilon": _finite(charged_eps),
                "charged_delta": charged_delta,
                "mechanism": spent.to_dict(),
                "outcome": e.outcome,
                "composed_epsilon": _finite(total.bound),
                "naive_epsilon": _finite(total.naive_epsilon),
                "cap_epsilon": project.dp_epsilon,
            },
        )
        return _record(e)

    def _release(self, s: Session, e: LedgerEntry, outcome: str, *, actor: str | None = None) -> EntryRecord:
        from hdc_toolkit.audit import record

        e.state, e.finished_at, e.outcome = "released", self.clock(), outcome
        e.charged_epsilon, e.charged_delta = 0.0, 0.0
        record(
            s,
            "privacy.released",
            actor=actor or e.actor,
            project=e.project_id,
            details={"run_id": e.run_id, "dataset": e.dataset, "outcome": outcome},
        )
        return _record(e)

    # -- reconciliation

    def reconcile(self, project_id: str | None = None, *, by: str = "hdc-ledger") -> list[Reconciliation]:
        """Decide every live entry whose owner is dead or past its deadline (see the module doc)."""
        with self.registry.write() as s:
            return self._reconcile_in(s, project_id, self.clock(), by=by)

    def _reconcile_in(
        self, s: Session, project_id: str | None, now: dt.datetime, *, by: str = "hdc-ledger"
    ) -> list[Reconciliation]:
        stmt = select(LedgerEntry).where(LedgerEntry.state.in_(LIVE_STATES)).order_by(LedgerEntry.id)
        if project_id is not None:
            stmt = stmt.where(LedgerEntry.project_id == project_id)
        out = []
        for e in list(s.scalars(stmt)):
            reason = _verdict(e, now)
            if reason is None:
                continue
            from_state = e.state
            if e.state == "reserved":
                rec = self._release(s, e, f"reconciled: {reason}; it never touched the data", actor=by)
            else:
                rec = self._charge(
                    s,
                    e,
                    None,
                    None,
                    None,
                    f"reconciled: {reason}; charged in full (it may have released outputs)",
                    action="privacy.reconciled",
                    state="abandoned",
                    actor=by,
                )
            out.append(
                Reconciliation(
                    e.run_id, e.project_id, from_state, rec.state, reason, rec.charged_epsilon or 0.0
                )
            )
        return out


def _verdict(e: LedgerEntry, now: dt.datetime) -> str | None:
    """Why a live entry must be decided now, or None while its owner may still be running it."""
    if now > e.deadline_at:
        return f"past its deadline {e.deadline_at.isoformat(timespec='seconds')}"
    owner = Owner(e.owner_pid, e.owner_host, e.owner_boot_id, e.owner_started)
    status = owner.status()
    if status == "dead":
        return f"its process {e.owner_pid} on {e.owner_host} is gone"
    if status == "unknown" and now > e.lease_expires_at:
        return (
            f"its process on another host ({e.owner_host}) sent no heartbeat since "
            f"{e.heartbeat_at.isoformat(timespec='seconds')}"
        )
    return None


def _not_live_message(e: LedgerEntry, what: str) -> str:
    charged = f"charged ε {e.charged_epsilon:g}" if e.charged_epsilon else "nothing charged"
    return (
        f"cannot {what} privacy run {e.run_id}: it is already {e.state} ({e.outcome}; {charged}); "
        "start a new run"
    )


def _current_release_sha(s: Session, project_id: str) -> str | None:
    stmt = (
        select(Release.manifest_sha256)
        .where(Release.project_id == project_id, Release.state == "released")
        .order_by(Release.id.desc())
        .limit(1)
    )
    return s.scalar(stmt)


_ERRORS: dict[str, type[HdcUserError]] = {
    c.__name__: c
    for c in (InvalidPrivacyParameter, NotFoundError, StateError, PermissionDenied, PrivacyBudgetExceeded)
}


def _refusal_from(run: Run) -> HdcUserError:
    failed = next(c for c in run.checks if c.verdict is not Verdict.PASSED)
    cls = _ERRORS.get(failed.details.get("error", ""), PrivacyBudgetExceeded)
    exc = cls(failed.message)
    exc.reason_key = failed.key  # type: ignore[attr-defined]
    exc.check_run = run  # type: ignore[attr-defined]
    return exc


# ---------------------------------------------------------------- the reservation handle


class Reservation:
    """A reserved run. Use it as a context manager: it heartbeats in the background, and an exception
    leaving the block ends the run with :meth:`fail` (charging only what was done).

    Leaving the block without :meth:`commit` or :meth:`fail` charges the reservation in full.
    """

    def __init__(self, ledger: BudgetLedger, entry: EntryRecord, *, lease_s: float) -> None:
        self.ledger = ledger
        self.entry = entry
        self.run_id = entry.run_id
        self.lease_s = lease_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: BaseException | None = None
        self.progress_steps = 0

    @property
    def mechanism(self) -> Mechanism:
        return self.entry.mechanism

    @property
    def finished(self) -> bool:
        return not self.entry.live

    def start(self) -> EntryRecord:
        self.entry = self.ledger.start(self.run_id)
        return self.entry

    def progress(self, steps: int) -> None:
        """Record progress (cheap: stored with the next heartbeat). Raises if the run was reconciled."""
        if self._lost is not None:
            raise self._lost
        self.progress_steps = max(self.progress_steps, int(steps))

    def commit(
        self, *, spent: Mechanism | None = None, epsilon: float | None = None, delta: float | None = None
    ) -> EntryRecord:
        self._stop_heartbeat()
        self.entry = self.ledger.commit(self.run_id, spent=spent, epsilon=epsilon, delta=delta)
        return self.entry

    def fail(self, reason: str, *, spent: Mechanism | None = None) -> EntryRecord:
        self._stop_heartbeat()
        self.entry = self.ledger.fail(self.run_id, reason=reason, spent=spent)
        return self.entry

    # heartbeats

    def _beat(self) -> None:
        interval = max(self.lease_s / 3.0, 0.05)
        while not self._stop.wait(interval):
            try:
                self.ledger.heartbeat(self.run_id, progress_steps=self.progress_steps)
            except StateError as exc:
                self._lost = exc
                return
            except Exception:  # noqa: BLE001 - a transient database error: try again next beat
                continue

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> Reservation:
        self._thread = threading.Thread(
            target=self._beat, name=f"hdc-heartbeat-{self.run_id[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_heartbeat()
        if self.finished:
            return
        try:
            if exc is not None:
                self.fail(f"{exc_type.__name__ if exc_type else 'error'}: {str(exc)[:200]}")
            else:
                self.entry = self.ledger.commit(
                    self.run_id, outcome="closed without an explicit commit: charged as reserved"
                )
        except StateError:
            if exc is None:
                raise
