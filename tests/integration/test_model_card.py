"""A model card from a real DP training run: every section, the permit and release hashes, subgroup
metrics per sex and age band with small groups suppressed, Markdown + HTML + JSON written atomically."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hdc_toolkit.privacy import (
    BoundedEncoder,
    BudgetLedger,
    CategoricalFeature,
    DPConfig,
    ModelCard,
    NumericFeature,
    age_bands,
    evaluate,
    logistic_regression,
    predict_proba,
    train_dp,
    write_model_card,
)
from hdc_toolkit.projects.permit import approve_permit
from hdc_toolkit.projects.registry import open_registry

PROJECT = "p2026-001-diabetes"


@pytest.fixture
def trained(sqlite_settings, demo_application, approval_day):
    import pandas as pd

    approve_permit(sqlite_settings, demo_application, by="steward1", today=approval_day)
    registry = open_registry(sqlite_settings)
    registry.transition(PROJECT, "provisioned", by="steward1")
    registry.record_release(
        PROJECT,
        permit_sha256=registry.current_permit(PROJECT).sha256,
        path="/x",
        manifest_sha256="ab" * 32,
        by="steward1",
    )
    rng = np.random.default_rng(7)
    n = 600
    table = pd.DataFrame(
        {
            "age": rng.uniform(20, 95, n),
            "sex": rng.choice(["F", "M"], n),
            "hba1c": rng.normal(55, 15, n),
        }
    )
    risk = -4 + 0.05 * table["age"] + 0.02 * table["hba1c"]
    table["died"] = (rng.random(n) < 1 / (1 + np.exp(-risk))).astype(int)
    table.loc[:4, "sex"] = "X"  # a tiny group that must be suppressed
    encoder = BoundedEncoder(
        [NumericFeature("age", 18, 105), NumericFeature("hba1c", 20, 150)],
        [CategoricalFeature("sex", ("F", "M"))],
    )
    train, test = table.iloc[:400], table.iloc[400:]
    test = pd.concat([table.iloc[:5], test])
    result = train_dp(
        logistic_regression(4),
        encoder.transform(train),
        train["died"],
        config=DPConfig(target_epsilon=2.0, epochs=3, batch_size=50, seed=3),
        ledger=BudgetLedger(sqlite_settings, registry=registry),
        project_id=PROJECT,
        by="magnil",
    )
    scores = predict_proba(result.model, encoder.transform(test))
    evaluation = evaluate(
        test["died"], scores, groups={"sex": test["sex"], "age band": age_bands(test["age"])}
    )
    return result, evaluation, encoder, registry.current_permit(PROJECT), len(test)


def test_model_card_renders_from_a_training_run(trained, tmp_path):
    result, evaluation, encoder, permit, n_test = trained
    card = ModelCard.from_training(
        result,
        evaluation,
        model_name="Mortality in type 2 diabetes",
        intended_purpose="Research on mortality risk factors.",
        outcome="Death during follow-up",
        permit=permit,
        predictors=encoder.describe(),
        n_test=n_test,
    )
    assert card.permit_sha256 == permit.sha256 and card.release_sha256 == "ab" * 32
    assert card.privacy["epsilon"] <= 2.0 + 1e-9 and card.privacy["project cap ε"] == 3.0
    assert card.developers == ["magnil"] and card.n_parameters == 5
    paths = write_model_card(card, tmp_path / "card")
    md = paths["markdown"].read_text()
    html = paths["html"].read_text()
    for section in (
        "Model details",
        "Intended use",
        "Data",
        "Training setup",
        "Privacy guarantee",
        "Performance",
        "Limitations",
        "Reporting checklist",
    ):
        assert f"## {section}" in md and section in html
    for expected in (
        permit.sha256,
        "ab" * 32,
        "Differential privacy with ε = ",
        "EU AI Act",
        "TRIPOD+AI",
        "sex = F",
        "sex = M",
        "age band = 60–79",
        "noise multiplier σ",
        "logistic regression",
    ):
        assert expected in md, expected
    assert "sex = X | suppressed" in md and "suppressed: fewer than 10" in html
    assert "≥80" in html and "<40" not in html.replace("&lt;40", "")  # escaped in HTML
    data = json.loads(paths["json"].read_text())
    assert data["evaluation"]["overall"]["auroc"] > 0.5
    assert [r["group"] for r in data["evaluation"]["subgroups"]["sex"]] == ["F", "M", "X"]
