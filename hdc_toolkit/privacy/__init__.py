"""Differential privacy: DP training on Opacus, DP synthetic data, the project's ε budget ledger,
privacy accounting, public-bounds preprocessing and model cards.

Modules (each name below is importable from here; nothing heavy is imported until it is used)::

    accounting     mechanisms (DP-SGD, zCDP, (ε, δ)) and their composition: RDP, naive sum
    ledger         BudgetLedger: reserve → start → commit per project and dataset; reconciliation
    training       train_dp (Opacus, Poisson sampling, RDP/PRV), PrivacyReport, model helpers
    fast_dpsgd     the fused DP-SGD step train_dp uses for Linear stacks (import it by its path)
    preprocess     BoundedEncoder (contract bounds, no private statistics), private_bounds
    synthetic_dp   synthesize_dp (smartnoise-synth MST / AIM) debiting the same ledger
    model_card     ModelCard, evaluate (overall, per sex / age band), Markdown + HTML
    models         the registry table (privacy_ledger)

torch, Opacus and smartnoise are imported by the functions that need them (``hdc --help`` and the
ledger never load them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hdc_toolkit.privacy.accounting import (
        ZCDP,
        ApproxDP,
        Composition,
        InvalidPrivacyParameter,
        Mechanism,
        SubsampledGaussian,
        calibrate_noise,
        compose,
        default_delta,
    )
    from hdc_toolkit.privacy.ledger import (
        BudgetAccount,
        BudgetLedger,
        EntryRecord,
        Owner,
        Reconciliation,
        Reservation,
    )
    from hdc_toolkit.privacy.model_card import (
        Evaluation,
        MetricRow,
        ModelCard,
        age_bands,
        auroc,
        evaluate,
        render_html,
        render_markdown,
        write_model_card,
    )
    from hdc_toolkit.privacy.preprocess import (
        BoundedEncoder,
        CategoricalFeature,
        NumericFeature,
        private_bounds,
    )
    from hdc_toolkit.privacy.synthetic_dp import SyntheticResult, synthesize_dp
    from hdc_toolkit.privacy.training import (
        DPConfig,
        EpochStats,
        PrivacyReport,
        TrainingResult,
        UnsupportedModelError,
        fix_model,
        logistic_regression,
        mlp,
        plain_words,
        predict_proba,
        to_tensors,
        train_dp,
        train_nonprivate,
        validate_model,
    )

_EXPORTS: dict[str, str] = {
    # accounting
    "ApproxDP": "accounting",
    "Composition": "accounting",
    "InvalidPrivacyParameter": "accounting",
    "Mechanism": "accounting",
    "SubsampledGaussian": "accounting",
    "ZCDP": "accounting",
    "calibrate_noise": "accounting",
    "compose": "accounting",
    "default_delta": "accounting",
    # ledger
    "BudgetAccount": "ledger",
    "BudgetLedger": "ledger",
    "EntryRecord": "ledger",
    "Owner": "ledger",
    "Reconciliation": "ledger",
    "Reservation": "ledger",
    # training
    "DPConfig": "training",
    "EpochStats": "training",
    "PrivacyReport": "training",
    "TrainingResult": "training",
    "UnsupportedModelError": "training",
    "fix_model": "training",
    "logistic_regression": "training",
    "mlp": "training",
    "plain_words": "training",
    "predict_proba": "training",
    "to_tensors": "training",
    "train_dp": "training",
    "train_nonprivate": "training",
    "validate_model": "training",
    # preprocess
    "BoundedEncoder": "preprocess",
    "CategoricalFeature": "preprocess",
    "NumericFeature": "preprocess",
    "private_bounds": "preprocess",
    # synthetic data
    "SyntheticResult": "synthetic_dp",
    "synthesize_dp": "synthetic_dp",
    # model cards
    "Evaluation": "model_card",
    "MetricRow": "model_card",
    "ModelCard": "model_card",
    "age_bands": "model_card",
    "auroc": "model_card",
    "evaluate": "model_card",
    "render_html": "model_card",
    "render_markdown": "model_card",
    "write_model_card": "model_card",
}

__all__ = [
    "ZCDP",
    "ApproxDP",
    "BoundedEncoder",
    "BudgetAccount",
    "BudgetLedger",
    "CategoricalFeature",
    "Composition",
    "DPConfig",
    "EntryRecord",
    "EpochStats",
    "Evaluation",
    "InvalidPrivacyParameter",
    "Mechanism",
    "MetricRow",
    "ModelCard",
    "NumericFeature",
    "Owner",
    "PrivacyReport",
    "Reconciliation",
    "Reservation",
    "SubsampledGaussian",
    "SyntheticResult",
    "TrainingResult",
    "UnsupportedModelError",
    "age_bands",
    "auroc",
    "calibrate_noise",
    "compose",
    "default_delta",
    "evaluate",
    "fix_model",
    "logistic_regression",
    "mlp",
    "plain_words",
    "predict_proba",
    "private_bounds",
    "render_html",
    "render_markdown",
    "synthesize_dp",
    "to_tensors",
    "train_dp",
    "train_nonprivate",
    "validate_model",
    "write_model_card",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hdc_toolkit.privacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hdc_toolkit.privacy.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
