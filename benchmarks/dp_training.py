"""DP training benchmark on real clinical data shipped with scikit-survival: non-private vs DP-SGD.

For each dataset (binary outcome), model (logistic regression, MLP 64-64) and setting (non-private,
ε = 1, 3, 8 with δ = min(1e-5, 1/(10·n_train)) ≤ 1/n): test AUROC (mean ± sd over seeds) and wall time
per epoch (median), in one run, with the toolkit's own training code (hdc_toolkit.privacy.train_dp /
train_nonprivate: the same batch loader for both, so the ratio is the cost of DP alone).

Features are encoded with *declared public bounds* (hdc_toolkit.privacy.BoundedEncoder, scaled to
[-1, 1]): ranges from clinical knowledge, not from the data; heavy-tailed lab values go through log1p
first. Hyperparameters: 20 epochs; DP-SGD with flat clipping C = 1, lr 2.0 (logreg) / 0.5 (MLP), no
momentum; non-private SGD lr 0.1, momentum 0.9; per-sample gradients in ``auto`` mode (ghost
clipping for these all-Linear models). Outcomes that
leak the label (flchain's cause-of-death ``chapter``, follow-up times) are dropped.

    python benchmarks/dp_training.py                       # flchain, whas500, gbsg2, aids
    python benchmarks/dp_training.py --datasets flchain whas500 --seeds 3 --json out.json

Targets (issue 6): DP ÷ non-private time per epoch ≤ 2×; AUROC at ε = 1 within 0.01 of non-private.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hdc_toolkit.privacy import (
    BoundedEncoder,
    CategoricalFeature,
    DPConfig,
    NumericFeature,
    logistic_regression,
    mlp,
    predict_proba,
    train_dp,
    train_nonprivate,
)

EPSILONS = (1.0, 3.0, 8.0)


@dataclass(frozen=True)
class Spec:
    """A dataset: its loader, outcome field, public bounds, log-transformed columns, dropped columns."""

    loader: str
    outcome: str
    bounds: dict[str, tuple[float, float]]
    log1p: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    batch_size: int = 256


SPECS: dict[str, Spec] = {
    # Mayo serum free light chain study, 7,874 residents ≥ 50 years; outcome: death.
    "flchain": Spec(
        "load_flchain",
        "death",
        {"age": (50, 105), "creatinine": (0, 12), "kappa": (0, 25), "lambda": (0, 30)},
        log1p=("creatinine", "kappa", "lambda"),
        drop=("chapter",),
    ),
    # Worcester Heart Attack Study, 500 patients; outcome: death during follow-up (fstat).
    "whas500": Spec(
        "load_whas500",
        "fstat",
        {
            "age": (18, 105),
            "bmi": (10, 60),
            "diasbp": (0, 200),
            "sysbp": (50, 250),
            "hr": (20, 200),
            "los": (0, 60),
        },
        batch_size=64,
    ),
    # German Breast Cancer Study Group 2, 686 patients; outcome: recurrence or death (cens).
    "gbsg2": Spec(
        "load_gbsg2",
        "cens",
        {"age": (18, 90), "estrec": (0, 2500), "pnodes": (0, 60), "progrec": (0, 2500), "tsize": (0, 150)},
        log1p=("estrec", "pnodes", "progrec"),
        batch_size=64,
    ),
    # AIDS Clinical Trials Group 320, 1,151 patients; outcome: AIDS or death (censor).
    "aids": Spec(
        "load_aids",
        "censor",
        {"age": (12, 80), "cd4": (0, 1000), "priorzdv": (0, 400)},
        log1p=("cd4", "priorzdv"),
        batch_size=128,
    ),
}


def load(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import sksurv.datasets as ds

    spec = SPECS[name]
    frame, target = getattr(ds, spec.loader)()
    frame = frame.drop(columns=[c for c in spec.drop if c in frame.columns])
    y = np.asarray(target[spec.outcome], dtype=float)
    numeric, categorical = [], []
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            categorical.append(CategoricalFeature(col, tuple(frame[col].cat.categories), "dataset schema"))
            frame[col] = frame[col].astype(object)
        else:
            lo, hi = spec.bounds[col]
            if col in spec.log1p:
                frame[col] = np.log1p(frame[col])
                lo, hi = math.log1p(lo), math.log1p(hi)
            numeric.append(NumericFeature(col, lo, hi, "declared"))
    encoder = BoundedEncoder(numeric, categorical, missing_indicators=bool(frame.isna().any().any()))
    return encoder.transform(frame), y, encoder.feature_names


def split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed))


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


MODELS: dict[str, Callable[[int], Any]] = {
    "logreg": logistic_regression,
    "mlp64x64": lambda d: mlp(d, (64, 64)),
}
#: DP-SGD learning rate per model (non-private: SGD 0.1 with momentum 0.9, as in the notes).
DP_LEARNING_RATE = {"logreg": 2.0, "mlp64x64": 0.5}


def run_one(
    x_tr, y_tr, x_te, y_te, model: str, eps: float | None, seed: int, epochs: int, batch: int
) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    net = MODELS[model](x_tr.shape[1])
    if eps is None:
        net, history = train_nonprivate(
            net, x_tr, y_tr, epochs=epochs, batch_size=batch, learning_rate=0.1, momentum=0.9, seed=seed
        )
        extra: dict[str, Any] = {}
    else:
        delta = min(1e-5, 1 / (10 * len(x_tr)))
        result = train_dp(
            net,
            x_tr,
            y_tr,
            config=DPConfig(
                target_epsilon=eps,
                delta=delta,
                epochs=epochs,
                batch_size=batch,
                learning_rate=DP_LEARNING_RATE[model],
                max_grad_norm=1.0,
                seed=seed,
            ),
        )
        net, history = result.model, result.history
        extra = {
            "sigma": result.report.noise_multiplier,
            "epsilon_spent": result.report.epsilon,
            "delta": delta,
        }
    seconds = [h.seconds for h in history]
    return {
        "auroc": auroc(y_te, predict_proba(net, x_te)),
        "s_per_epoch": statistics.median(seconds),
        **extra,
    }


def bench(name: str, seeds: int, epochs: int) -> list[dict[str, Any]]:
    x, y, features = load(name)
    spec = SPECS[name]
    rows = []
    for model in MODELS:
        for eps in (None, *EPSILONS):
            runs = []
            for seed in range(seeds):
                x_tr, x_te, y_tr, y_te = split(x, y, seed)
                runs.append(run_one(x_tr, y_tr, x_te, y_te, model, eps, seed, epochs, spec.batch_size))
            aurocs = [r["auroc"] for r in runs]
            rows.append(
                {
                    "dataset": name,
                    "n": len(y),
                    "n_train": round(0.7 * len(y)),
                    "features": len(features),
                    "prevalence": float(y.mean()),
                    "model": model,
                    "epsilon": eps,
                    "delta": runs[0].get("delta"),
                    "sigma": runs[0].get("sigma"),
                    "auroc": statistics.mean(aurocs),
                    "auroc_sd": statistics.pstdev(aurocs),
                    "s_per_epoch": statistics.median(r["s_per_epoch"] for r in runs),
                }
            )
        base = next(r for r in rows if r["model"] == model and r["epsilon"] is None and r["dataset"] == name)
        for r in rows:
            if r["model"] == model and r["dataset"] == name:
                r["overhead"] = r["s_per_epoch"] / base["s_per_epoch"]
                r["auroc_gap"] = r["auroc"] - base["auroc"]
        print(f"  {name} {model} done", file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| dataset (n, prevalence) | model | setting | σ | AUROC (± sd) | Δ vs non-private | s/epoch | DP ÷ non-DP |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        setting = "non-private" if r["epsilon"] is None else f"ε={r['epsilon']:g}, δ={r['delta']:.1e}"
        sigma = "–" if r["sigma"] is None else f"{r['sigma']:.2f}"
        gap = "–" if r["epsilon"] is None else f"{r['auroc_gap']:+.3f}"
        out.append(
            f"| {r['dataset']} ({r['n']:,}, {r['prevalence']:.2f}) | {r['model']} | {setting} | {sigma} | "
            f"{r['auroc']:.3f} ± {r['auroc_sd']:.3f} | {gap} | {r['s_per_epoch']:.4f} | {r['overhead']:.2f}× |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # comparable per-epoch times on a shared 2-core machine
    started = time.perf_counter()
    rows = [r for name in args.datasets for r in bench(name, args.seeds, args.epochs)]
    print(table(rows))
    summary = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    print(
        f"\n{args.seeds} seeds, {args.epochs} epochs, torch {torch.__version__}, 1 thread; "
        f"total {summary['seconds']} s"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
