"""Model-card metrics: AUROC, subgroups with small-group suppression, age bands, rendering."""

from __future__ import annotations

import numpy as np
import pytest

from hdc_toolkit.privacy.model_card import (
    Evaluation,
    ModelCard,
    age_bands,
    auroc,
    evaluate,
    render_html,
    render_markdown,
)


def test_auroc_matches_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert np.isnan(auroc([1, 1], [0.2, 0.3]))


def test_age_bands():
    assert list(age_bands([12, 40, 59.9, 60, 80, 101, np.nan])) == [
        "<40",
        "40–59",
        "40–59",
        "60–79",
        "≥80",
        "≥80",
        "missing",
    ]


def test_small_subgroups_are_suppressed_and_counts_rounded():
    rng = np.random.default_rng(1)
    y = np.r_[rng.integers(0, 2, 200), [1, 0, 1, 0, 1]]
    p = rng.random(205)
    sex = np.r_[rng.choice(["F", "M"], 200), ["X"] * 5]
    ev = evaluate(y, p, groups={"sex": sex})
    rows = {r.group: r for r in ev.subgroups["sex"]}
    assert rows["X"].suppressed and rows["X"].n is None and rows["X"].auroc is None
    assert not rows["F"].suppressed and rows["F"].n % 5 == 0 and ev.overall.n == 205
    assert 0 <= rows["M"].auroc <= 1


def test_card_renders_every_section_and_escapes_html():
    ev = evaluate(np.r_[np.zeros(30), np.ones(30)], np.linspace(0, 1, 60), groups={"sex": ["F", "M"] * 30})
    card = ModelCard(
        model_name="<script>x</script>",
        model_type="logistic regression",
        intended_purpose="research",
        predictors=[{"name": "age", "kind": "numeric", "lower": 18, "upper": 105, "source": "declared"}],
        training={"epochs": 3},
        privacy={"epsilon": 1.0, "delta": 1e-6},
        dp_plain_words="ε = 1",
        evaluation=ev,
        limitations=["small"],
    )
    md, html = render_markdown(card), render_html(card)
    for heading in (
        "Intended use",
        "Data",
        "Training setup",
        "Privacy guarantee",
        "Performance",
        "Limitations",
    ):
        assert f"## {heading}" in md and heading in html
    assert "sex = F" in md and "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert isinstance(card.evaluation, Evaluation)
