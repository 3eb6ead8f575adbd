"""Benchmark: synthetic twins — the toolkit's default synthesizer and fast privacy metrics vs SDV / SDMetrics.

Data: a demo extract (``hdc_toolkit.demo``) big enough for two million episodes; each episode is joined
with its patient into one 11-column table (episode and national ids, admission and discharge times,
department, care type, urgency, birth date, sex, municipality, death date), split by patient into a
training half and a holdout half.

1. **Fit + sample 1M rows**: the toolkit's default (``fast``) against SDV 2.0's default
   ``GaussianCopulaSynthesizer`` (metadata from ``Metadata.detect_from_dataframes``, beta marginals),
   same 1M training rows, same machine, one after the other. Quality: SDMetrics ``QualityReport`` on
   the same 100,000-row random subsample of the real rows against 100,000 synthetic rows of each (the
   report on 1M rows takes minutes and moves the score by < 0.005). The fast output is also checked
   against the contract (validator and constraint counts); SDV's output is taken as it comes.
2. **DCR metrics vs SDMetrics** at 1k / 3k / 10k rows (training, holdout and synthetic of that many
   rows each): ``DCROverfittingProtection`` and ``DCRBaselineProtection`` timed with SDMetrics and with
   ``hdc_toolkit.synth.privacy`` (SDMetrics' own range normalisation, for equal values), plus the
   fixed-range share. The baseline at 10k is skipped unless ``--baseline-10k`` (SDMetrics: ~10 min).
3. **Privacy evaluation of 1M rows**: ``evaluate_privacy`` on 1M training, 1M holdout and 1M synthetic
   rows (five exact nearest-record searches, exact matches, rare values, attribute disclosure).
4. **Real data**: flchain and gbsg2 (scikit-survival), halves as training / holdout: quality, utility
   and privacy of ``fast`` and SDV's GaussianCopula, and of the holdout itself (the ceiling).

Usage: ``python benchmarks/synthetic.py [--rows 1000000] [--sizes 1000 3000 10000] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

COLUMNS = {  # the modelled columns and their SDMetrics sdtypes
    "admission_time": "datetime", "discharge_time": "datetime", "department": "categorical",
    "care_type": "categorical", "urgency": "categorical", "birth_date": "datetime", "sex": "categorical",
    "municipality": "categorical", "death_date": "datetime",
}  # fmt: skip


def log(*a: object) -> None:
    print(*a, flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wide_contract():
    from hdc_toolkit.contracts import load_contract_dir
    from hdc_toolkit.contracts.model import Contract

    cs = load_contract_dir(ROOT / "data_contracts")
    e, p = cs["episodes"], cs["patients"]
    nid = e.column("national_id")
    cols = [c for c in e.columns] + [c for c in p.columns if c.name != "national_id"]
    cols = [
        c if c.name != "national_id" else nid.__class__(**{**nid.__dict__, "references": ()}) for c in cols
    ]
    return Contract(name="episodes_wide", columns=tuple(cols), contract_id="urn:hdc:bench:episodes_wide", version="1",
                    pair_rules=e.pair_rules + p.pair_rules)  # fmt: skip


def build(rows: int, workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pyarrow.parquet as pq

    from hdc_toolkit.demo import generate_extract

    patients = int(rows * 2 / 4.0) + 20_000
    t = time.perf_counter()
    generate_extract(workdir / "extract", patients=patients, seed=42)
    p = pq.read_table(workdir / "extract" / "patients").to_pandas(date_as_object=False)
    e = pq.read_table(workdir / "extract" / "episodes").to_pandas(date_as_object=False)
    df = e.merge(p, on="national_id", how="left")
    half = set(p["national_id"].sample(frac=0.5, random_state=1))
    in_train = df["national_id"].isin(half).to_numpy()
    train, hold = df[in_train].reset_index(drop=True), df[~in_train].reset_index(drop=True)
    log(f"data: {len(df):,} episodes of {patients:,} patients in {time.perf_counter() - t:.0f} s; "
        f"train {len(train):,}, holdout {len(hold):,}")  # fmt: skip
    return train.iloc[:rows].reset_index(drop=True), hold.iloc[:rows].reset_index(drop=True)


def quality(real: pd.DataFrame, syn: pd.DataFrame, plan_table, n: int = 100_000) -> dict:
    from hdc_toolkit.synth.quality import table_quality

    q = table_quality(real.sample(n=min(n, len(real)), random_state=3), syn.sample(n=min(n, len(syn)), random_state=4),
                      plan_table, max_rows=None, diagnostic=False)  # fmt: skip
    return {
        "score": round(q.score, 4),
        "column_shapes": round(q.column_shapes, 4),
        "pair_trends": round(q.pair_trends, 4),
    }


# ---------------------------------------------------------------------------------------------------


def section_fit(train: pd.DataFrame, contract, skip_sdv: bool) -> tuple[dict, pd.DataFrame]:
    from hdc_toolkit.synth import synthesizers as S
    from hdc_toolkit.synth.constraints import violations
    from hdc_toolkit.synth.metadata import plan_schema

    plan = plan_schema(contract)
    tp = plan.tables[contract.name]
    out: dict = {"rows": len(train), "columns": len(train.columns)}
    gc.collect()
    t = time.perf_counter()
    model = S.fit(train, contract, seed=1)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    syn = model.sample(seed=2)[contract.name]
    sample_s = time.perf_counter() - t
    runs = model.sample(seed=5, num_rows=200_000).validate(model.contracts)
    out["fast"] = {"fit_s": round(fit_s, 2), "sample_s": round(sample_s, 2), "total_s": round(fit_s + sample_s, 2),
                   "quality": quality(train, syn, tp), "validator_200k_passed": all(r.passed for r in runs.values()),
                   "constraint_violations": violations({contract.name: syn}, model.constraints), "peak_rss_mb": round(rss_mb())}  # fmt: skip
    log("fit+sample 1M, fast:", out["fast"])
    if skip_sdv:
        return out, syn
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    data = train[list(COLUMNS)].copy()
    for c, t_ in COLUMNS.items():
        if t_ == "datetime":
            data[c] = pd.to_datetime(data[c]).astype("datetime64[ns]")
    gc.collect()
    t = time.perf_counter()
    meta = Metadata.detect_from_dataframes({"t": data})
    sdv = GaussianCopulaSynthesizer(meta)
    sdv.fit({"t": data})
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    sdv_syn = sdv.sample(len(data))
    sdv_syn = sdv_syn["t"] if isinstance(sdv_syn, dict) else sdv_syn
    sample_s = time.perf_counter() - t
    from hdc_toolkit.synth.constraints import derive_constraints

    cons = derive_constraints(plan)
    sdv_full = train.iloc[: len(sdv_syn)].copy()
    for c in COLUMNS:
        sdv_full[c] = sdv_syn[c].to_numpy()
    out["sdv_gaussian_copula"] = {"fit_s": round(fit_s, 2), "sample_s": round(sample_s, 2), "total_s": round(fit_s + sample_s, 2),
                                  "quality": quality(train, sdv_full, tp),
                                  "constraint_violations": violations({contract.name: sdv_full}, cons), "peak_rss_mb": round(rss_mb())}  # fmt: skip
    out["speedup"] = round(out["sdv_gaussian_copula"]["total_s"] / out["fast"]["total_s"], 1)
    log("fit+sample 1M, SDV GaussianCopula:", out["sdv_gaussian_copula"], "speed-up", out["speedup"])
    return out, syn


def section_dcr(
    train: pd.DataFrame, hold: pd.DataFrame, syn: pd.DataFrame, sizes: list[int], baseline_10k: bool
) -> list[dict]:
    from sdmetrics.single_table import DCRBaselineProtection, DCROverfittingProtection

    from hdc_toolkit.synth import privacy as P

    meta = {"columns": {c: {"sdtype": t} for c, t in COLUMNS.items()}}
    rows = []
    for n in sizes:
        tr = train[list(COLUMNS)].sample(n=n, random_state=n).reset_index(drop=True)
        ho = hold[list(COLUMNS)].sample(n=n, random_state=n + 1).reset_index(drop=True)
        sy = syn[list(COLUMNS)].sample(n=n, random_state=n + 2).reset_index(drop=True)
        for df in (tr, ho, sy):
            for c, t_ in COLUMNS.items():
                if t_ == "datetime":
                    df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
        r: dict = {"rows": n}
        t = time.perf_counter()
        ours = P.dcr_overfitting_protection(tr, sy, ho, COLUMNS, ranges="reference")
        r["overfitting_fast_s"] = round(time.perf_counter() - t, 3)
        r["overfitting_fast"] = round(ours["score"], 4)
        r["closer_to_training_fast"] = round(ours["synthetic_data_percentages"]["closer_to_training"], 4)
        r["closer_to_training_fixed_ranges"] = round(
            P.dcr_overfitting_protection(tr, sy, ho, COLUMNS, ranges="fixed")["synthetic_data_percentages"][
                "closer_to_training"
            ],
            4,
        )
        t = time.perf_counter()
        theirs = DCROverfittingProtection.compute_breakdown(tr, sy, ho, meta, None)
        r["overfitting_sdmetrics_s"] = round(time.perf_counter() - t, 2)
        r["overfitting_sdmetrics"] = round(float(theirs["score"]), 4)
        r["closer_to_training_sdmetrics"] = round(
            float(theirs["synthetic_data_percentages"]["closer_to_training"]), 4
        )
        if n < 10_000 or baseline_10k:
            rnd = P.random_baseline(tr, n, seed=n)
            t = time.perf_counter()
            ours = P.dcr_baseline_protection(tr, sy, COLUMNS, random_data=rnd)
            r["baseline_fast_s"] = round(time.perf_counter() - t, 3)
            original = DCRBaselineProtection._generate_random_data
            DCRBaselineProtection._generate_random_data = classmethod(
                lambda cls, real, num_samples=None, rnd=rnd: rnd
            )
            try:
                t = time.perf_counter()
                theirs = DCRBaselineProtection.compute_breakdown(tr, sy, meta, None)
                r["baseline_sdmetrics_s"] = round(time.perf_counter() - t, 2)
            finally:
                DCRBaselineProtection._generate_random_data = original
            r["baseline_fast"] = round(ours["score"], 4)
            r["baseline_sdmetrics"] = round(float(theirs["score"]), 4)
        r["overfitting_speedup"] = round(r["overfitting_sdmetrics_s"] / max(r["overfitting_fast_s"], 1e-3), 0)
        log("DCR", r)
        rows.append(r)
    return rows


def section_privacy_1m(train: pd.DataFrame, hold: pd.DataFrame, syn: pd.DataFrame, contract) -> dict:
    from hdc_toolkit.synth.privacy import evaluate_privacy

    n = min(len(train), len(hold), len(syn))
    qi = [c.name for c in contract.columns if c.classification == "quasi_identifier" and c.name in COLUMNS]
    t = time.perf_counter()
    people = {
        name: d["national_id"].to_numpy()[:n] if "national_id" in d.columns else None
        for name, d in (("train", train), ("hold", hold))
    }
    r = evaluate_privacy(train.iloc[:n][list(COLUMNS)], syn.iloc[:n][list(COLUMNS)], hold.iloc[:n][list(COLUMNS)], COLUMNS, k=10,
                         quasi_identifiers=[c for c in qi if c in ("birth_date", "sex", "municipality")], sensitive=["department"],
                         train_groups=people["train"], holdout_groups=people["hold"])  # fmt: skip
    rm = r.rare_matches or {}
    out = {"rows_each": n, "seconds": round(time.perf_counter() - t, 1), "closer_to_training": round(r.closer_to_training, 4),
           "membership_auc": round(r.membership_auc, 4), "median_dcr_synthetic_train": round(r.median_dcr_synthetic, 5),
           "median_dcr_synthetic_holdout": round(r.median_dcr_synthetic_holdout, 5), "median_dcr_holdout_train": round(r.median_dcr_holdout, 5),
           "exact_match_synthetic": round(r.exact_match_synthetic, 5), "exact_match_holdout": round(r.exact_match_holdout, 5),
           "rare_match_rows": round(rm.get("rare_rows", float("nan")), 5), "rare_match_z": round(rm.get("z", float("nan")), 2),
           "rare_match_excess": round(rm.get("excess", float("nan")), 5), "peak_rss_mb": round(rss_mb())}  # fmt: skip
    log("privacy 1M:", out)
    return out


def section_real(skip_sdv: bool) -> dict:
    from sksurv.datasets import load_flchain, load_gbsg2

    from hdc_toolkit.synth import synthesizers as S
    from hdc_toolkit.synth.gate import release_gate
    from hdc_toolkit.synth.metadata import contract_from_frame, plan_schema
    from hdc_toolkit.synth.twin import split_holdout

    out = {}
    for name, loader, target, leaks, roles in (
        ("flchain", load_flchain, "death", ("chapter", "futime"), {"age": "quasi_identifier", "sex": "quasi_identifier", "chapter": "sensitive"}),
        ("gbsg2", load_gbsg2, "cens", ("time",), {"age": "quasi_identifier", "menostat": "quasi_identifier", "tgrade": "sensitive"}),
    ):  # fmt: skip
        x, y = loader()
        df = x.assign(**{n_: y[n_] for n_ in y.dtype.names}).reset_index(drop=True)
        contract = contract_from_frame(df, name, classifications=roles)
        plan = plan_schema(contract)
        res = {}
        for seed in (1, 2, 3):
            train, hold = split_holdout({name: df}, plan, fraction=0.5, seed=seed)
            cands = {"holdout (ceiling)": None, "fast": "fast"}
            if not skip_sdv:
                cands["sdv_gaussian_copula"] = "gaussian_copula"
            for label, synth in cands.items():
                t = time.perf_counter()
                if synth is None:
                    syn = {name: hold[name].copy()}
                    other = split_holdout(hold, plan, fraction=0.5, seed=seed + 10)
                else:
                    syn = S.fit(train, contract, synthesizer=synth, seed=seed).sample(seed=seed + 1)
                secs = time.perf_counter() - t
                if synth is None:  # the ceiling: half of the holdout judged against the other half
                    g = release_gate(train, other[0], other[1], plan, target=target, exclude=leaks, seed=seed)
                else:
                    g = release_gate(train, syn, hold, plan, target=target, exclude=leaks, seed=seed)
                p = g.privacy[name]
                res.setdefault(label, []).append({
                    "quality": g.quality.score, "tstr": g.quality.utility.tstr, "trtr": g.quality.utility.trtr,
                    "closer_to_training": p.closer_to_training, "membership_auc": p.membership_auc,
                    "dcr_ratio": p.median_dcr_synthetic / max(p.median_dcr_synthetic_holdout, 1e-12),
                    "exact_match": p.exact_match_synthetic, "exact_match_holdout": p.exact_match_holdout,
                    "rare_match_z": p.rare_matches["z"], "rare_match_excess": p.rare_matches["excess"],
                    "gate_passed": g.passed, "seconds": secs,
                })  # fmt: skip
        out[name] = {label: {k: (round(float(np.mean([r[k] for r in rs])), 3) if k != "gate_passed" else f"{sum(r[k] for r in rs)}/{len(rs)}")
                             for k in rs[0]} for label, rs in res.items()}  # fmt: skip
        log(f"real data {name}:", json.dumps(out[name]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    ap.add_argument(
        "--baseline-10k", action="store_true", help="also time SDMetrics' DCRBaselineProtection at 10k rows"
    )
    ap.add_argument("--skip-sdv", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result: dict = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        }
    }
    import sdmetrics
    import sdv

    result["versions"] = {"sdv": sdv.__version__, "sdmetrics": sdmetrics.__version__}
    contract = wide_contract()
    with tempfile.TemporaryDirectory(prefix="hdc-bench-synth-") as tmp:
        train, hold = build(args.rows, Path(tmp))
    result["fit_sample"], syn = section_fit(train, contract, args.skip_sdv)
    result["dcr"] = section_dcr(train, hold, syn, args.sizes, args.baseline_10k)
    result["privacy_1m"] = section_privacy_1m(train, hold, syn, contract)
    result["real_data"] = section_real(args.skip_sdv)
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
