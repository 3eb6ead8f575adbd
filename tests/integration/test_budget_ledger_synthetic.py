"""DP synthetic data (smartnoise-synth MST, installed without its old Opacus pin) beside Opacus 1.6,
debiting the same ledger as training: composed as ρ-zCDP with the DP-SGD runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.audit import AuditLog
from hdc_toolkit.privacy import ZCDP, BoundedEncoder, BudgetLedger, CategoricalFeature, NumericFeature
from hdc_toolkit.privacy.synthetic_dp import synthesize_dp, zcdp_rho
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import open_registry

PROJECT = "p2026-001-diabetes"


@pytest.mark.slow
def test_mst_synthetic_data_debits_the_ledger_beside_opacus(sqlite_settings, demo_application, approval_day):
    import opacus
    import snsynth

    assert opacus.__version__.startswith("1.6")  # the new Opacus, not smartnoise's pinned 0.14
    assert snsynth.Synthesizer.list_synthesizers()  # smartnoise imports beside it
    approve_permit(sqlite_settings, demo_application, by="steward1", today=approval_day)
    registry = open_registry(sqlite_settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    ledger = BudgetLedger(sqlite_settings, registry=registry)
    rng = np.random.default_rng(5)
    n = 400
    real = pd.DataFrame({"age": rng.uniform(30, 90, n), "sex": rng.choice(["F", "M"], n, p=[0.3, 0.7])})
    encoder = BoundedEncoder([NumericFeature("age", 18, 105)], [CategoricalFeature("sex", ("F", "M"))])
    result = synthesize_dp(
        real,
        encoder,
        epsilon=1.0,
        synthesizer="mst",
        bins=6,
        n_samples=300,
        seed=1,
        ledger=ledger,
        project_id=PROJECT,
        by="perlie",  # the data steward makes the synthetic twin
    )
    synth = result.frame
    assert list(synth.columns) == ["age", "sex"] and len(synth) == 300
    assert (
        synth["age"].dropna().between(18, 105).all()
        and synth["age"].notna().mean() > 0.8
        and set(synth["sex"].dropna()) <= {"F", "M"}
    )
    assert abs((synth["sex"] == "M").mean() - 0.7) < 0.2  # the marginal survives the noise
    entry = result.ledger_entry
    assert (entry.kind, entry.state, entry.actor) == ("synthetic", "committed", "perlie")
    assert entry.mechanism == ZCDP(zcdp_rho(1.0, result.delta)) and result.delta == 1e-6
    account = ledger.account(PROJECT)
    assert account.total.naive_epsilon == pytest.approx(1.0) and account.total.bound <= 1.0 + 1e-9
    actions = [e["action"] for e in AuditLog(sqlite_settings).entries(project=PROJECT)][-3:]
    assert actions == ["privacy.reserved", "privacy.started", "privacy.committed"]
