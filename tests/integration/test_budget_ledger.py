"""The privacy budget ledger on SQLite and PostgreSQL: spend until refused, refusals, failures and
reconciliation of reservations whose owner died, overran its deadline or went silent on another host."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

import pytest

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.exceptions import NotFoundError, PermissionDenied, PrivacyBudgetExceeded, StateError
from hdc_toolkit.privacy.accounting import (
    ZCDP,
    ApproxDP,
    InvalidPrivacyParameter,
    SubsampledGaussian,
    calibrate_noise,
)
from hdc_toolkit.privacy.ledger import BudgetLedger, Owner, _boot_id
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import open_registry

PROJECT = "p2026-001-diabetes"
RESEARCHER = "magnil"
N = 5000


def provisioned_ledger(settings, application, day, **kwargs) -> BudgetLedger:
    approve_permit(settings, application, by="steward1", today=day)
    registry = open_registry(settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    return BudgetLedger(settings, registry=registry, **kwargs)


def dpsgd_run(epsilon: float = 1.0, delta: float = 1e-7) -> SubsampledGaussian:
    q, steps = 0.05, 200
    return SubsampledGaussian(calibrate_noise(epsilon, delta, sample_rate=q, steps=steps), q, steps)


def reserve(ledger, mechanism=None, epsilon=1.0, delta=1e-7, **kw):
    kw.setdefault("by", RESEARCHER)
    kw.setdefault("n_rows", N)
    return ledger.reserve(PROJECT, mechanism=mechanism or ZCDP(0.01), epsilon=epsilon, delta=delta, **kw)


def actions(settings):
    return [
        (e["action"], e["details"].get("run_id"))
        for e in AuditLog(settings).entries(project=PROJECT)
        if e["action"].startswith("privacy.")
    ]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_project_spends_until_refused_with_every_step_audited(settings, demo_application, approval_day):
    ledger = provisioned_ledger(settings, demo_application, approval_day)
    run = dpsgd_run()
    committed = []
    with pytest.raises(PrivacyBudgetExceeded, match="over its cap|is spent") as refused:
        for _ in range(50):
            r = reserve(ledger, run)
            with r:
                r.start()
                committed.append(r.commit().run_id)
    account = ledger.account(PROJECT)
    assert len(committed) >= 4  # composition: four runs of ε = 1 fit a cap of 3 (naive sum would allow 3)
    assert account.total.bound <= 3.0 + 1e-9 < account.total.naive_epsilon
    assert "composed" in str(refused.value) and "naive sum" in str(refused.value)
    log = actions(settings)
    for run_id in committed:
        assert [a for a, rid in log if rid == run_id] == [
            "privacy.reserved",
            "privacy.started",
            "privacy.committed",
        ]
    assert log[-1][0] == "privacy.refused"
    assert AuditLog(settings).verify().passed


def test_a_spent_budget_is_refused_clearly(settings, demo_application, approval_day):
    ledger = provisioned_ledger(settings, demo_application, approval_day)
    r = reserve(ledger, ApproxDP(3.0, 0.0), epsilon=3.0, delta=0.0, kind="query")
    r.start()
    r.commit()
    assert ledger.account(PROJECT).exhausted
    with pytest.raises(PrivacyBudgetExceeded, match="is spent: composed ε 3 of 3"):
        reserve(ledger, ZCDP(1e-6), epsilon=0.01)


REFUSALS = [
    ({"epsilon": 0.0}, InvalidPrivacyParameter, "privacy.parameters", "greater than 0"),
    ({"epsilon": -1.0}, InvalidPrivacyParameter, "privacy.parameters", "greater than 0"),
    ({"delta": 0.01, "n_rows": 100}, InvalidPrivacyParameter, "privacy.parameters", "not below 1/n"),
    ({"n_rows": 0}, InvalidPrivacyParameter, "privacy.parameters", "empty data is refused"),
    ({"delta": 1e-5}, InvalidPrivacyParameter, "privacy.cap", "above the permit's δ"),
    ({"n_rows": 2_000_000}, InvalidPrivacyParameter, "privacy.cap", "permit.s δ 1e-06 is not below 1/n"),
    ({"by": "stranger"}, PermissionDenied, "privacy.actor", "not an active member"),
    ({"by": "karmoe"}, PermissionDenied, "privacy.actor", "output_checker"),
]


def test_refusals_are_clear_and_audited(settings, demo_application, approval_day):
    ledger = provisioned_ledger(settings, demo_application, approval_day)
    for kwargs, error, reason, match in REFUSALS:
        with pytest.raises(error, match=match):
            reserve(ledger, **kwargs)
        last = AuditLog(settings).entries(project=PROJECT)[-1]
        assert (last["action"], last["details"]["reason"]) == ("privacy.refused", reason), kwargs
    assert ledger.account(PROJECT).entries == ()


def test_projects_without_data_or_registry_entry_are_refused(settings, demo_application, approval_day):
    approve_permit(settings, demo_application, by="steward1", today=approval_day)  # approved, not provisioned
    ledger = BudgetLedger(settings)
    with pytest.raises(StateError, match="provisioned or active"):
        reserve(ledger)
    with pytest.raises(NotFoundError):
        ledger.reserve(
            "p2026-999-nothing", by=RESEARCHER, mechanism=ZCDP(0.01), epsilon=1.0, delta=1e-7, n_rows=N
        )


def test_failures_charge_only_what_was_done(settings, demo_application, approval_day):
    ledger = provisioned_ledger(settings, demo_application, approval_day)
    run = dpsgd_run()
    before_start = reserve(ledger, run)
    assert before_start.fail("data did not load").state == "released"
    partial = reserve(ledger, run)
    partial.start()
    entry = partial.fail("out of memory", spent=run.with_steps(50))
    assert entry.state == "committed" and entry.charged_mechanism == run.with_steps(50)
    assert 0 < entry.charged_epsilon < 1.0
    with pytest.raises(RuntimeError), reserve(ledger, run) as r:  # an exception leaving the block
        r.start()
        raise RuntimeError("boom")
    assert ledger.entry(r.run_id).state == "committed"  # unknown progress: charged in full
    assert ledger.entry(r.run_id).charged_epsilon == pytest.approx(1.0)
    states = [e.state for e in ledger.account(PROJECT).entries]
    assert states == ["released", "committed", "committed"]


def test_dead_owners_are_reconciled_live_ones_are_not(settings, demo_application, approval_day):
    ledger = provisioned_ledger(settings, demo_application, approval_day)
    gone = Owner(dead_pid(), socket.gethostname(), _boot_id(), 1.0)
    reused = Owner(os.getpid(), socket.gethostname(), _boot_id(), 1.0)  # our pid, another start time
    running = reserve(ledger, owner=gone)
    ledger.start(running.run_id)
    waiting = reserve(ledger, owner=gone)  # this reservation reconciles `running` first
    reused_pid = reserve(ledger, owner=reused)
    mine = reserve(ledger)  # this process: alive; reconciles the two before it
    assert ledger.reconcile(PROJECT) == []  # every dead owner was settled by the reservations
    state = {e.run_id: e for e in ledger.account(PROJECT).entries}
    assert state[running.run_id].state == "abandoned"
    assert state[running.run_id].charged_epsilon == 1.0  # may have released outputs: charged in full
    assert state[waiting.run_id].state == state[reused_pid.run_id].state == "released"  # never touched data
    assert state[mine.run_id].state == "reserved"
    with pytest.raises(StateError, match="already abandoned"):
        ledger.commit(running.run_id)
    with pytest.raises(StateError, match="already released"):
        ledger.start(waiting.run_id)
    log = actions(settings)
    assert ("privacy.reconciled", running.run_id) in log and ("privacy.released", waiting.run_id) in log


def test_reconcile_on_demand(settings, demo_application, approval_day):
    ledger = provisioned_ledger(settings, demo_application, approval_day)
    r = reserve(ledger, owner=Owner(dead_pid(), socket.gethostname(), _boot_id(), 1.0))
    ledger.start(r.run_id)
    [decision] = ledger.reconcile()
    assert (decision.run_id, decision.from_state, decision.to_state) == (r.run_id, "running", "abandoned")
    assert "is gone" in decision.reason


def test_other_hosts_are_presumed_dead_only_after_their_lease(settings, demo_application, approval_day):
    now = [dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)]
    ledger = provisioned_ledger(settings, demo_application, approval_day, clock=lambda: now[0])
    remote = Owner(4242, "node-elsewhere", "another-boot", 5.0)
    r = reserve(ledger, owner=remote, lease_s=60, max_duration_s=3600)
    ledger.start(r.run_id)
    now[0] += dt.timedelta(seconds=50)
    assert ledger.reconcile() == []
    ledger.heartbeat(r.run_id, progress_steps=3)  # renews the lease for another 60 s
    now[0] += dt.timedelta(seconds=50)
    assert ledger.reconcile() == []
    now[0] += dt.timedelta(seconds=11)
    [decision] = ledger.reconcile()
    assert decision.to_state == "abandoned" and "no heartbeat" in decision.reason
    with pytest.raises(StateError):
        ledger.heartbeat(r.run_id)


def test_nothing_is_stuck_forever_a_live_owner_past_its_deadline_is_charged(
    settings, demo_application, approval_day
):
    now = [dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)]
    ledger = provisioned_ledger(settings, demo_application, approval_day, clock=lambda: now[0])
    r = reserve(ledger, lease_s=60, max_duration_s=600)
    ledger.start(r.run_id)
    now[0] += dt.timedelta(seconds=601)
    [decision] = ledger.reconcile()
    assert decision.to_state == "abandoned" and "deadline" in decision.reason
    assert ledger.entry(r.run_id).charged_epsilon == 1.0


def test_budget_cli_shows_composed_and_naive(settings, hdc_env, demo_application, approval_day, capsys):
    from hdc_toolkit.cli import main

    ledger = provisioned_ledger(settings, demo_application, approval_day)
    for _ in range(2):
        r = reserve(ledger, dpsgd_run())
        r.start()
        r.commit()
    assert main(["budget", "show", PROJECT], environ=hdc_env) == 0
    out = capsys.readouterr().out
    assert "composed" in out and "naive sum    ε 2" in out and "DP-SGD σ=" in out and "committed" in out
    assert main(["budget", "show", PROJECT, "--json"], environ=hdc_env) == 0
    assert '"naive_epsilon": 2.0' in capsys.readouterr().out
    assert main(["budget", "reconcile", PROJECT], environ=hdc_env) == 0
    assert "nothing to reconcile" in capsys.readouterr().out
    assert main(["budget", "show", "p2026-999-none"], environ=hdc_env) == 2
