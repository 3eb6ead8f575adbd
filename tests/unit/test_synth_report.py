"""The synthetic-data report: self-contained HTML, k-suppressed aggregates, notebook rendering."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hdc_toolkit.contracts.model import Column, Contract
from hdc_toolkit.synth import quality as Q
from hdc_toolkit.synth.metadata import plan_schema
from hdc_toolkit.synth.report import SynthReport, column_summaries, svg_bars, svg_heatmap


def _data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(60, 10, n).round(),
            "sex": rng.choice(["F", "M"], n),
            "code": rng.choice(list("abcdef"), n, p=[0.4, 0.3, 0.2, 0.08, 0.015, 0.005]),
        }
    )
    df.loc[0, "age"] = 120.0  # one extreme person
    return df


CONTRACT = Contract(
    "t",
    (
        Column("age", "number"),
        Column("sex", "string", classification="quasi_identifier"),
        Column("code", "string", classification="sensitive"),
    ),
)


def test_summaries_never_show_cells_below_k() -> None:
    real, syn = _data(), _data(seed=1)
    summaries = column_summaries(real, syn, plan_schema(CONTRACT).tables["t"], k=10)
    age = next(s for s in summaries if s["column"] == "age")
    assert age["kind"] == "numeric"
    assert float(age["edges"][-1]) < 120  # the axis stops at the 10th largest value
    shown = [v for v in age["real"] if v is not None and not np.isnan(v)]
    assert all(v * len(real) >= 10 - 1e-9 for v in shown)
    code = next(s for s in summaries if s["column"] == "code")
    counts = real["code"].value_counts()
    assert set(code["categories"]) == set(counts[counts >= 10].index)
    assert code["other_categories"] == int((counts < 10).sum())


def test_report_html_is_self_contained() -> None:
    report = SynthReport(
        title="t", verdict="failed",
        checks=[{"key": "synth.t.dcr", "verdict": "failed", "message": "a <b>tag</b>"}],
        settings={"name": "acro-default", "min_count": 10, "min_quality": 0.8},
        quality={"score": 0.9, "diagnostic": 1.0, "utility": None, "relationships": {},
                 "tables": {"t": {"score": 0.9, "column_shapes": 0.95, "column_pair_trends": 0.85, "subsampled": False,
                                  "shapes": [{"Column": "a"}, {"Column": "b"}], "pairs": [{"Column 1": "a", "Column 2": "b", "Score": 0.7}]}}},
        columns={"t": column_summaries(_data(), _data(seed=2), plan_schema(CONTRACT).tables["t"], 10)},
    )  # fmt: skip
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "FAILED" in page
    assert "a &lt;b&gt;tag&lt;/b&gt;" in page  # escaped
    urls = set(re.findall(r"https?://[^\"' >]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # no internet assets
    assert "<script" not in page
    assert report._repr_html_().startswith("<style>")


def test_svg_helpers() -> None:
    assert svg_bars([0.5, None], [0.4, 0.6], ["a", "b"]).count("<rect") == 4
    assert "<title>a × b: 0.500</title>" in svg_heatmap(["a", "b"], {("a", "b"): 0.5})


def test_utility_and_relationships() -> None:
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(0, 1, n)
    df = pd.DataFrame(
        {"x": x, "g": rng.choice(["u", "v"], n), "y": np.where(x + rng.normal(0, 0.5, n) > 0, "yes", "no")}
    )
    train, test = df.iloc[:400], df.iloc[400:]
    noise = train.copy()
    noise["y"] = rng.permutation(noise["y"].to_numpy())
    good = Q.utility(train, train, test, "y")
    bad = Q.utility(train, noise, test, "y")
    assert good.task == "classification" and good.metric == "AUROC" and good.trtr > 0.85
    assert bad.tstr < 0.65 < good.tstr
    reg = Q.utility(
        train.assign(z=train.x * 2),
        train.assign(z=train.x * 2),
        test.assign(z=test.x * 2),
        "z",
        exclude=("y",),
    )
    assert reg.task == "regression" and reg.trtr > 0.9
