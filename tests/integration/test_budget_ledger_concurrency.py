"""N processes reserving at once never overspend, on SQLite and PostgreSQL; a run killed with
SIGKILL in the middle of real Opacus training leaves a consistent ledger that reconciliation settles.

The reserving processes are forked (real processes, each with its own database connection; the
registry disposes inherited pools after fork) so that eight of them start in well under a second.
The killed trainer is a fresh interpreter running train_dp, as in a notebook kernel."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.privacy.accounting import ZCDP, compose
from hdc_toolkit.privacy.ledger import BudgetLedger
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import open_registry

PROJECT = "p2026-001-diabetes"
REPO = Path(__file__).resolve().parents[2]
PROCESSES = 8
RHO, RUN_DELTA = 0.03, 1e-7

KILLED_TRAINER = """
import sys, time
import numpy as np
from pathlib import Path
from hdc_toolkit.config import Settings
from hdc_toolkit.privacy import BudgetLedger, DPConfig, logistic_regression, train_dp

ready = Path(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 4))
y = (x[:, 0] + rng.normal(size=300) > 0).astype(float)

def on_epoch(stats):
    if stats.epoch == 2:
        ready.touch()
    time.sleep(0.05)

train_dp(logistic_regression(4), x, y, config=DPConfig(target_epsilon=1.0, epochs=2000, batch_size=50),
         ledger=BudgetLedger(Settings.from_env()), project_id="PROJECT", by="magnil", on_epoch=on_epoch)
""".replace("PROJECT", PROJECT)


def provision(settings, application, day) -> BudgetLedger:
    approve_permit(settings, application, by="steward1", today=day)
    registry = open_registry(settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    return BudgetLedger(settings, registry=registry)


def child_env(settings) -> dict[str, str]:
    env = dict(os.environ, HDC_HOME=str(settings.home), HDC_DATABASE_URL=settings.database_url)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def wait_for(paths, timeout=90.0):
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, "child processes did not get ready"
        time.sleep(0.02)


def _reserve_at_once(settings, barrier, results) -> None:
    """One process: open the ledger, wait for the others, reserve, start and commit one run."""
    from hdc_toolkit.exceptions import PrivacyBudgetExceeded

    ledger = BudgetLedger(settings)
    mechanism = ZCDP(RHO)
    claimed = compose([mechanism], RUN_DELTA).epsilon
    barrier.wait(timeout=60)
    try:
        r = ledger.reserve(
            PROJECT, by="magnil", mechanism=mechanism, epsilon=claimed, delta=RUN_DELTA, n_rows=5000
        )
        r.start()
        r.commit()
        results.put(("ok", r.run_id))
    except PrivacyBudgetExceeded as exc:
        results.put(("refused", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put(("error", repr(exc)))


def test_concurrent_reservations_never_overspend(settings, demo_application, approval_day):
    ledger = provision(settings, demo_application, approval_day)
    claimed = compose([ZCDP(RHO)], RUN_DELTA).epsilon
    fits = max(
        k
        for k in range(1, PROCESSES + 1)
        if compose([(ZCDP(RHO), claimed, RUN_DELTA)] * k, 1e-6).bound <= 3.0
    )
    assert 1 < fits < PROCESSES  # some must be refused for the test to mean anything
    ctx = multiprocessing.get_context("fork")  # real processes, each with its own connection
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_reserve_at_once, args=(settings, barrier, results)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [o for o in outcomes if o[0] == "error"] == []
    ok = [run_id for kind, run_id in outcomes if kind == "ok"]
    assert len(ok) == fits and len(outcomes) - len(ok) == PROCESSES - fits
    account = ledger.account(PROJECT)
    assert account.total.bound <= 3.0 + 1e-9
    assert sorted(e.run_id for e in account.entries) == sorted(ok)
    assert len({e.owner.pid for e in account.entries}) == fits  # one process each
    log = AuditLog(settings)
    assert log.verify().passed
    assert sum(e["action"] == "privacy.refused" for e in log.entries(project=PROJECT)) == PROCESSES - fits


@pytest.mark.slow
def test_a_run_killed_mid_training_is_consistent_and_reconciled(
    sqlite_settings, demo_application, approval_day, tmp_path
):
    settings = sqlite_settings  # the ledger logic runs on both backends in test_budget_ledger.py
    ledger = provision(settings, demo_application, approval_day)
    ready = tmp_path / "training"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_TRAINER, str(ready)],
        env=child_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for([ready])
        [entry] = ledger.account(PROJECT).entries
        assert entry.state == "running" and entry.owner.pid == child.pid
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # consistent: the live run still counts at its planned size, the audit chain is intact
    account = ledger.account(PROJECT)
    [entry] = account.entries
    assert entry.state == "running" and account.total.naive_epsilon == pytest.approx(1.0)
    assert AuditLog(settings).verify().passed
    # reconciliation: the dead owner's started run is charged in full, and the ledger moves on
    [decision] = ledger.reconcile(PROJECT)
    assert (decision.run_id, decision.to_state) == (entry.run_id, "abandoned")
    settled = ledger.entry(entry.run_id)
    assert settled.charged_epsilon == pytest.approx(1.0) and "reconciled" in settled.outcome
    r = ledger.reserve(PROJECT, by="magnil", mechanism=ZCDP(0.01), epsilon=0.5, delta=1e-7, n_rows=300)
    assert r.entry.state == "reserved"
    actions = [e["action"] for e in AuditLog(settings).entries(project=PROJECT)]
    assert actions[-4:] == ["privacy.reserved", "privacy.started", "privacy.reconciled", "privacy.reserved"]
