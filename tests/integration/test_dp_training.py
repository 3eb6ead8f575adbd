"""Real Opacus training on small data, charged to the ledger; refusals; the template notebook run
headless against a provisioned demo project."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.exceptions import DataError, PrivacyBudgetExceeded
from hdc_toolkit.privacy import (
    BudgetLedger,
    DPConfig,
    UnsupportedModelError,
    logistic_regression,
    mlp,
    predict_proba,
    train_dp,
)
from hdc_toolkit.privacy.accounting import InvalidPrivacyParameter, SubsampledGaussian
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import open_registry

PROJECT = "p2026-001-diabetes"
REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "templates" / "notebooks" / "dp_training.ipynb"


def provisioned_ledger(settings, application, day) -> BudgetLedger:
    approve_permit(settings, application, by="steward1", today=day)
    registry = open_registry(settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    return BudgetLedger(settings, registry=registry)


def data(n: int = 300, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, d))
    y = (x @ np.linspace(2, -1, d) + rng.normal(0, 0.5, n) > 0.4).astype(float)
    return x, y


def privacy_actions(settings) -> list[str]:
    return [
        e["action"] for e in AuditLog(settings).entries(project=PROJECT) if e["action"].startswith("privacy.")
    ]


def test_training_is_reserved_started_committed_and_reported(sqlite_settings, demo_application, approval_day):
    ledger = provisioned_ledger(sqlite_settings, demo_application, approval_day)
    x, y = data()
    result = train_dp(
        logistic_regression(4),
        x,
        y,
        config=DPConfig(target_epsilon=1.0, epochs=2, batch_size=50, seed=1),
        ledger=ledger,
        project_id=PROJECT,
        by="magnil",
    )
    r = result.report
    assert (r.sample_rate, r.steps, r.n_rows, r.accountant) == (1 / 6, 12, 300, "rdp")
    assert r.delta == 1e-6  # min(1e-5, 1/(10n), permit δ)
    assert 0.9 < r.epsilon <= 1.0 + 1e-9 and r.noise_multiplier > 1
    assert r.project_epsilon_composed == pytest.approx(r.epsilon, rel=0.02) and r.project_epsilon_cap == 3.0
    assert "1 in 1,000,000" in r.plain_words()
    entry = result.ledger_entry
    assert entry.state == "committed"
    assert entry.charged_mechanism == SubsampledGaussian(r.noise_multiplier, 1 / 6, 12)
    assert entry.charged_epsilon == pytest.approx(r.epsilon)
    assert privacy_actions(sqlite_settings) == ["privacy.reserved", "privacy.started", "privacy.committed"]
    assert not hasattr(result.model, "_module")  # a plain nn.Module comes back
    p = predict_proba(result.model, x)
    assert p.shape == (300,) and ((0 <= p) & (p <= 1)).all()


def test_a_project_trains_until_its_budget_is_spent_then_is_refused(
    sqlite_settings, demo_application, approval_day
):
    ledger = provisioned_ledger(sqlite_settings, demo_application, approval_day)
    x, y = data()
    config = DPConfig(target_epsilon=1.0, epochs=1, batch_size=60, seed=2)
    runs = 0
    with pytest.raises(PrivacyBudgetExceeded):
        for _ in range(20):
            train_dp(
                logistic_regression(4), x, y, config=config, ledger=ledger, project_id=PROJECT, by="magnil"
            )
            runs += 1
    account = ledger.account(PROJECT)
    assert runs >= 3 and account.total.bound <= 3.0 + 1e-9
    assert account.total.naive_epsilon == pytest.approx(runs * 1.0, abs=0.05 * runs)
    actions = privacy_actions(sqlite_settings)
    assert actions == ["privacy.reserved", "privacy.started", "privacy.committed"] * runs + [
        "privacy.refused"
    ]
    assert AuditLog(sqlite_settings).verify().passed


def test_refusals_before_the_data_is_touched(sqlite_settings, demo_application, approval_day):
    ledger = provisioned_ledger(sqlite_settings, demo_application, approval_day)
    x, y = data()
    kw = {"ledger": ledger, "project_id": PROJECT, "by": "magnil"}
    with pytest.raises(DataError, match="empty"):
        train_dp(logistic_regression(4), x[:0], y[:0], config=DPConfig(target_epsilon=1.0), **kw)
    with pytest.raises(InvalidPrivacyParameter, match="greater than 0"):
        train_dp(logistic_regression(4), x, y, config=DPConfig(target_epsilon=0.0), **kw)
    with pytest.raises(InvalidPrivacyParameter, match="not below 1/n"):
        train_dp(logistic_regression(4), x, y, config=DPConfig(target_epsilon=1.0, delta=0.01), **kw)
    with pytest.raises(UnsupportedModelError, match="BatchNorm.*fix_model=True.*GroupNorm"):
        bn = _batchnorm_model()
        train_dp(bn, x, y, config=DPConfig(target_epsilon=1.0, epochs=1), **kw)
    assert privacy_actions(sqlite_settings) == ["privacy.refused"] * 3
    assert ledger.account(PROJECT).entries == ()  # nothing reserved, nothing charged
    fixed = train_dp(_batchnorm_model(), x, y, config=DPConfig(target_epsilon=1.0, epochs=1, fix_model=True))
    assert "GroupNorm" in repr(fixed.model)


def _batchnorm_model():
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    )


def test_ghost_clipping_mlp_on_a_dask_frame():
    import dask.dataframe as dd
    import pandas as pd

    x, y = data(400, 3, seed=4)
    frame = dd.from_pandas(pd.DataFrame(x, columns=["a", "b", "c"]), npartitions=3)
    result = train_dp(
        mlp(3, (8,)),
        frame,
        dd.from_pandas(pd.Series(y), npartitions=3),
        config=DPConfig(noise_multiplier=1.0, epochs=2, batch_size=80, grad_sample_mode="ghost"),
    )
    assert result.report.steps == 10 and result.report.grad_sample_mode == "ghost"
    assert 0 < result.report.epsilon < math.inf and result.ledger_entry is None


@pytest.mark.slow
def test_template_notebook_runs_headless_on_a_provisioned_project(
    sqlite_settings, demo_application, approval_day, tmp_path, monkeypatch
):
    import datetime as dt

    import nbformat
    from nbclient import NotebookClient

    from hdc_toolkit.demo.generate import generate_extract
    from hdc_toolkit.projects.provision import provision

    settings = sqlite_settings
    generate_extract(tmp_path / "source", patients=4000, seed=11)
    approve_permit(settings, demo_application, by="steward1", today=approval_day)
    provision(settings, PROJECT, tmp_path / "source", by="steward1", today=dt.date(2027, 2, 1))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    [params] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source = params.source.replace("EPOCHS = 15", "EPOCHS = 3")
    monkeypatch.setenv("HDC_HOME", str(settings.home))
    monkeypatch.setenv("HDC_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    card = settings.projects_dir / PROJECT / "work" / "models" / "dp_mortality"
    assert {p.name for p in card.iterdir()} == {"model_card.md", "model_card.html", "model_card.json"}
    assert "Differential privacy with ε = " in (card / "model_card.md").read_text()
    [entry] = BudgetLedger(settings).account(PROJECT).entries
    assert entry.state == "committed" and entry.actor == "magnil" and entry.release_sha256
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "composed   ε = " in outputs and "naive sum  ε = " in outputs
