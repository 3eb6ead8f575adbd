"""Quality of synthetic data: SDMetrics quality report and diagnostic, relationships, and utility.

* :func:`table_quality` — SDMetrics' ``QualityReport`` (column shapes: KS / TV complements; column pair
  trends: correlation and contingency similarity) on the modelled columns of one table, plus
  ``DiagnosticReport`` (data validity and structure). Keys and identifiers are left out: they are
  fresh by design.
* :func:`relationship_quality` — for each parent → child relationship, 1 − KS distance between the
  real and synthetic distributions of "children per parent" (SDMetrics' cardinality shape idea).
* :func:`utility` — train on synthetic, test on real (TSTR) against train on real, test on real
  (TRTR), with the same model (histogram gradient boosting), on a real holdout neither was fitted on.

SDMetrics is MIT-licensed. Its reports are quadratic nowhere but slow on millions of rows:
``max_rows`` (default 100,000) evaluates a random subsample of each side and says so.

A caveat worth knowing when reading pair-trend scores: SDMetrics bins a numeric column into ten
equal-width bins *separately* for the real and the synthetic data, so a synthesizer that (for
privacy) never reproduces the real extreme values is scored on different bins for heavy-tailed
columns. The toolkit's default keeps that protection; its effect is visible per pair in the details.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.synth.metadata import SchemaPlan, TablePlan, sdmetrics_metadata

__all__ = [
    "QualityResult",
    "TableQuality",
    "UtilityResult",
    "eval_frame",
    "evaluate_quality",
    "relationship_quality",
    "table_quality",
    "utility",
]

MAX_ROWS = 100_000


@dataclass
class TableQuality:
    table: str
    score: float
    column_shapes: float
    pair_trends: float
    diagnostic: float | None
    shapes: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    rows: tuple[int, int] = (0, 0)
    sampled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "score": self.score,
            "column_shapes": self.column_shapes,
            "column_pair_trends": self.pair_trends,
            "diagnostic": self.diagnostic,
            "rows": {"real": self.rows[0], "synthetic": self.rows[1]},
            "subsampled": self.sampled,
            "shapes": self.shapes,
            "pairs": self.pairs,
        }


@dataclass
class UtilityResult:
    target: str
    task: str
    metric: str
    trtr: float
    tstr: float
    rows: dict[str, int]

    @property
    def gap(self) -> float:
        return self.trtr - self.tstr

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "task": self.task, "metric": self.metric, "trtr": self.trtr,
                "tstr": self.tstr, "gap": self.gap, "rows": self.rows}  # fmt: skip


@dataclass
class QualityResult:
    tables: dict[str, TableQuality]
    relationships: dict[str, float] = field(default_factory=dict)
    utility: UtilityResult | None = None

    @property
    def score(self) -> float:
        scores = [q.score for q in self.tables.values() if not np.isnan(q.score)]
        scores += list(self.relationships.values())
        return float(np.mean(scores)) if scores else float("nan")

    @property
    def diagnostic(self) -> float | None:
        vals = [q.diagnostic for q in self.tables.values() if q.diagnostic is not None]
        return float(min(vals)) if vals else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "diagnostic": self.diagnostic,
            "tables": {t: q.to_dict() for t, q in self.tables.items()},
            "relationships": dict(self.relationships),
            "utility": self.utility.to_dict() if self.utility else None,
        }


def eval_frame(df: pd.DataFrame, table: TablePlan, columns: list[str] | None = None) -> pd.DataFrame:
    """The modelled columns in the dtypes SDMetrics expects (datetime64[ns], float64, object)."""
    out = {}
    for c in table.columns:
        if not c.modelled or c.role == "unsupported" or c.name not in df.columns:
            continue
        if columns is not None and c.name not in columns:
            continue
        s = df[c.name]
        if c.temporal:
            out[c.name] = pd.to_datetime(s).astype("datetime64[ns]")
        elif c.role == "numerical":
            out[c.name] = pd.to_numeric(s, errors="coerce").astype("float64")
        elif c.logical_type == "boolean":
            out[c.name] = s.astype(object).where(s.notna(), np.nan)
        else:
            out[c.name] = s.astype(object).where(s.notna(), np.nan)
    return pd.DataFrame(out)


def _subsample(df: pd.DataFrame, max_rows: int | None, seed: int) -> tuple[pd.DataFrame, bool]:
    if max_rows is None or len(df) <= max_rows:
        return df, False
    return df.sample(n=max_rows, random_state=seed).reset_index(drop=True), True


def table_quality(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    table: TablePlan,
    *,
    max_rows: int | None = MAX_ROWS,
    diagnostic: bool = True,
    seed: int = 0,
) -> TableQuality:
    """SDMetrics quality report (and diagnostic) of one table's modelled columns."""
    from hdc_toolkit.synth._deps import require_sdmetrics

    require_sdmetrics()
    from sdmetrics.reports import DiagnosticReport, QualityReport

    r = eval_frame(real, table)
    s = eval_frame(synthetic, table, list(r.columns))
    # all-null columns cannot be scored
    keep = [c for c in r.columns if r[c].notna().any() and s[c].notna().any()]
    r, s = r[keep], s[keep]
    r, sub_r = _subsample(r, max_rows, seed)
    s, sub_s = _subsample(s, max_rows, seed + 1)
    meta = {"tables": {table.name: sdmetrics_metadata(table, keep)}}
    if not keep:
        return TableQuality(
            table.name, float("nan"), float("nan"), float("nan"), None, rows=(len(real), len(synthetic))
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = QualityReport()
        report.generate({table.name: r}, {table.name: s}, meta, verbose=False)
        props = report.get_properties().set_index("Property")["Score"].to_dict()
        shapes = report.get_details("Column Shapes")
        pairs = report.get_details("Column Pair Trends")
        diag = None
        if diagnostic:
            d = DiagnosticReport()
            d.generate({table.name: r}, {table.name: s}, meta, verbose=False)
            diag = float(d.get_score())
    pair_trends = float(props.get("Column Pair Trends", np.nan))
    return TableQuality(
        table=table.name,
        score=float(report.get_score()),
        column_shapes=float(props.get("Column Shapes", np.nan)),
        pair_trends=pair_trends,
        diagnostic=diag,
        shapes=_records(shapes),
        pairs=_records(pairs),
        rows=(len(real), len(synthetic)),
        sampled=sub_r or sub_s,
    )


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    df = df.drop(columns=[c for c in ("Table",) if c in df.columns])
    for rec in df.to_dict("records"):
        out.append(
            {
                k: (
                    None
                    if isinstance(v, float) and np.isnan(v)
                    else (v.item() if isinstance(v, np.generic) else v)
                )
                for k, v in rec.items()
            }
        )
    return out


def relationship_quality(
    real: Mapping[str, pd.DataFrame], synthetic: Mapping[str, pd.DataFrame], plan: SchemaPlan
) -> dict[str, float]:
    """1 − KS distance of "children per parent" for every primary relationship."""
    out = {}
    for t in plan.order:
        tp = plan.tables[t]
        link = tp.primary_link
        if link is None or t not in real or t not in synthetic:
            continue
        counts = []
        for data in (real, synthetic):
            parent_keys = data[link.parent][link.parent_column]
            per = parent_keys.map(data[t][link.column].value_counts()).fillna(0).to_numpy(dtype="float64")
            counts.append(per)
        out[f"{link.parent}->{t}"] = 1.0 - _ks(counts[0], counts[1])
    return out


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) == 0 or len(b) == 0:
        return 1.0
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def utility(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    *,
    table: TablePlan | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    seed: int = 0,
) -> UtilityResult:
    """Train-on-synthetic / test-on-real against train-on-real / test-on-real for ``target``.

    Classification (a target with at most 20 values) is scored by AUROC (binary) or macro AUROC
    one-vs-rest; regression by R². Features are every other modelled column except ``exclude``.
    """
    from threadpoolctl import threadpool_limits

    if target not in train.columns:
        raise KeyError(f"target column {target!r} is not in the data")
    # small fits spend most of their time starting OpenMP threads
    with threadpool_limits(1 if len(train) + len(synthetic) < 100_000 else None):
        return _utility(train, synthetic, test, target, table=table, exclude=exclude, seed=seed)


def _utility(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    test: pd.DataFrame,
    target: str,
    *,
    table: TablePlan | None,
    exclude: list[str] | tuple[str, ...],
    seed: int,
) -> UtilityResult:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import r2_score, roc_auc_score

    if target not in train.columns:
        raise KeyError(f"target column {target!r} is not in the data")
    cols = [c for c in train.columns if c != target and c not in exclude]
    if table is not None:
        cols = (
            [c for c in cols if table.column(c).modelled]
            if all(c in table.contract.column_names for c in cols)
            else cols
        )
    y_train, y_syn, y_test = train[target], synthetic[target], test[target]
    keep_test = y_test.notna()
    values = pd.unique(pd.concat([y_train.dropna(), y_test.dropna()]).astype(str))
    classification = len(values) <= 20 and not (pd.api.types.is_float_dtype(y_train) and len(values) > 10)
    x_train, x_syn, x_test = _features([train, synthetic, test], cols)
    if classification:
        classes = sorted(values)

        def enc(y: pd.Series) -> np.ndarray:
            return pd.Categorical(y.astype(str), categories=classes).codes

        yt, ys, yv = enc(y_train), enc(y_syn), enc(y_test)
        scores = []
        for x, y in ((x_train, yt), (x_syn, ys)):
            ok = y >= 0
            model = HistGradientBoostingClassifier(random_state=seed, categorical_features="from_dtype")
            if len(np.unique(y[ok])) < 2:
                scores.append(0.5)
                continue
            model.fit(x[ok], y[ok])
            proba = model.predict_proba(x_test[keep_test.to_numpy()])
            yv_ok = yv[keep_test.to_numpy()]
            if len(classes) == 2:
                col = list(model.classes_).index(1) if 1 in model.classes_ else None
                p = proba[:, col] if col is not None else np.zeros(len(yv_ok))
                scores.append(float(roc_auc_score(yv_ok, p)) if len(np.unique(yv_ok)) == 2 else float("nan"))
            else:
                full = np.zeros((len(yv_ok), len(classes)))
                full[:, model.classes_] = proba
                present = np.unique(yv_ok)
                scores.append(
                    float(
                        roc_auc_score(
                            yv_ok,
                            full[:, present] / np.maximum(full[:, present].sum(1, keepdims=True), 1e-12),
                            multi_class="ovr",
                            average="macro",
                            labels=present,
                        )
                    )
                )
        task, metric = "classification", "AUROC"
    else:
        scores = []
        yv = pd.to_numeric(y_test, errors="coerce").to_numpy(dtype="float64")
        ok_test = ~np.isnan(yv)
        for x, y in ((x_train, y_train), (x_syn, y_syn)):
            yy = pd.to_numeric(y, errors="coerce").to_numpy(dtype="float64")
            ok = ~np.isnan(yy)
            model = HistGradientBoostingRegressor(random_state=seed, categorical_features="from_dtype")
            model.fit(x[ok], yy[ok])
            scores.append(float(r2_score(yv[ok_test], model.predict(x_test[ok_test]))))
        task, metric = "regression", "R2"
    return UtilityResult(
        target,
        task,
        metric,
        scores[0],
        scores[1],
        {"train": len(train), "synthetic": len(synthetic), "test": len(test)},
    )


def _features(frames: list[pd.DataFrame], cols: list[str]) -> list[pd.DataFrame]:
    """Numeric features; codes as pandas categoricals over the union of values (HGB handles them)."""
    out: list[dict[str, Any]] = [{} for _ in frames]
    for c in cols:
        series = [f[c] for f in frames]
        if any(pd.api.types.is_datetime64_any_dtype(s) for s in series):
            for i, s in enumerate(series):
                out[i][c] = (
                    pd.to_datetime(s).astype("datetime64[ns]").astype("int64").where(s.notna(), np.nan)
                    / 86_400e9
                )
        elif all(pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in series):
            for i, s in enumerate(series):
                out[i][c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            cats = pd.unique(pd.concat([s.dropna().astype(str) for s in series]))
            if len(cats) > 250:
                continue
            for i, s in enumerate(series):
                out[i][c] = pd.Categorical(
                    s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v)),
                    categories=cats,
                )
    return [pd.DataFrame(o, index=f.index).reset_index(drop=True) for o, f in zip(out, frames, strict=True)]


def evaluate_quality(
    real: Mapping[str, pd.DataFrame],
    synthetic: Mapping[str, pd.DataFrame],
    plan: SchemaPlan,
    *,
    holdout: Mapping[str, pd.DataFrame] | None = None,
    target: str | None = None,
    target_table: str | None = None,
    exclude: tuple[str, ...] = (),
    max_rows: int | None = MAX_ROWS,
    diagnostic: bool = True,
) -> QualityResult:
    """Quality of every table, every relationship, and (with ``target`` and a holdout) utility."""
    tables = {t: table_quality(real[t], synthetic[t], plan.tables[t], max_rows=max_rows, diagnostic=diagnostic)
              for t in plan.order if t in real and t in synthetic}  # fmt: skip
    rel = relationship_quality(real, synthetic, plan)
    util = None
    if target and holdout is not None:
        t = target_table or next(t for t in plan.order if t in real and target in real[t].columns)
        util = utility(real[t], synthetic[t], holdout[t], target, table=plan.tables[t], exclude=exclude)
    return QualityResult(tables, rel, util)
