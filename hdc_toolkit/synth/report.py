"""The synthetic-data report: one self-contained HTML page (inline SVG plots, no scripts, no internet).

It shows the gate's verdict and every check, the quality scores (per table, per column, per pair),
the privacy comparison with fresh real people (with the DCR histogram), and real-vs-synthetic
distributions of every modelled column. In Jupyter a :class:`SynthReport` (and a
:class:`~hdc_toolkit.synth.gate.GateResult`) renders itself.

**Disclosure control inside the report.** The real-data side of every plot is an aggregate that
follows the risk profile: a histogram bin or a category with fewer than ``k`` real rows is not drawn
(it is counted as suppressed), numeric axes run from the ``k``-th smallest to the ``k``-th largest
real value (so no individual extreme value is shown), and only proportions are plotted.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.synth.metadata import TablePlan

__all__ = ["SynthReport", "column_summaries"]

REAL = "#4c72b0"
SYN = "#dd8452"
MAX_CATEGORIES = 12
BINS = 20


# ---------------------------------------------------------------------------------------------------
# aggregates (what the report may contain)


def column_summaries(
    real: pd.DataFrame, synthetic: pd.DataFrame, table: TablePlan, k: int
) -> list[dict[str, Any]]:
    """Per modelled column: k-suppressed real and synthetic proportions, ready to plot."""
    from hdc_toolkit.synth._copula import to_units

    out = []
    for c in table.columns:
        if not c.modelled or c.name not in real.columns or c.name not in synthetic.columns:
            continue
        r, s = real[c.name], synthetic[c.name]
        entry: dict[str, Any] = {"column": c.name, "classification": c.classification,
                                 "null_real": _share(r.isna().sum(), len(r), k), "null_synthetic": float(s.isna().mean()) if len(s) else 0.0}  # fmt: skip
        if c.role in ("numerical", "datetime"):
            rv = to_units(r, c.logical_type)
            sv = to_units(s, c.logical_type)
            rv, sv = rv[~np.isnan(rv)], sv[~np.isnan(sv)]
            if len(rv) < 2 * k or len(sv) == 0:
                entry["kind"] = "suppressed"
                out.append(entry)
                continue
            srt = np.sort(rv)
            lo, hi = srt[min(k - 1, len(srt) - 1)], srt[max(len(srt) - k, 0)]
            if hi <= lo:
                hi = lo + 1
            edges = np.linspace(lo, hi, BINS + 1)
            rc = np.histogram(np.clip(rv, lo, hi), edges)[0]
            sc = np.histogram(np.clip(sv, lo, hi), edges)[0]
            rp = np.where(rc >= k, rc / max(len(rv), 1), np.nan)
            entry.update(kind="numeric", logical_type=c.logical_type, edges=edges.tolist(), real=rp.tolist(),
                         synthetic=(sc / max(len(sv), 1)).tolist(), suppressed_bins=int((rc < k).sum() - (rc == 0).sum()),
                         labels=[_fmt(edges[0], c.logical_type), _fmt(edges[-1], c.logical_type)])  # fmt: skip
        else:
            rcounts = r.astype(object).where(r.notna(), None).dropna().astype(str).value_counts()
            scounts = s.astype(object).where(s.notna(), None).dropna().astype(str).value_counts()
            shown = rcounts[rcounts >= k].head(MAX_CATEGORIES)
            entry.update(kind="categorical", categories=[str(x) for x in shown.index],
                         real=(shown / max(len(r), 1)).tolist(),
                         synthetic=[float(scounts.get(x, 0)) / max(len(s), 1) for x in shown.index],
                         other_categories=int(len(rcounts) - len(shown)))  # fmt: skip
        out.append(entry)
    return out


def _share(n: int, total: int, k: int) -> float | None:
    if total == 0:
        return None
    return float(n) / total if (n == 0 or n >= k) else None


def _fmt(v: float, logical_type: str) -> str:
    if logical_type == "date":
        return str(np.datetime64(int(v), "D"))
    if logical_type == "timestamp":
        return str(np.datetime64(int(v), "s"))[:16]
    return f"{v:.4g}"


# ---------------------------------------------------------------------------------------------------
# SVG


def svg_bars(
    real: list[float | None],
    synthetic: list[float],
    labels: list[str] | None = None,
    *,
    width: int = 320,
    height: int = 150,
) -> str:
    n = len(synthetic)
    if n == 0:
        return ""
    vals = [
        v
        for v in list(real) + list(synthetic)
        if v is not None and not (isinstance(v, float) and np.isnan(v))
    ]
    top = max(vals) if vals else 1.0
    top = top or 1.0
    pad_b = 28 if labels else 6
    plot_h = height - pad_b - 4
    bw = (width - 10) / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i in range(n):
        x = 5 + i * bw
        rv = real[i]
        if rv is not None and not (isinstance(rv, float) and np.isnan(rv)):
            h = plot_h * rv / top
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{4 + plot_h - h:.1f}" width="{max(bw / 2 - 1, 0.5):.1f}" height="{h:.1f}" fill="{REAL}"/>'
            )
        else:
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{4 + plot_h - 3:.1f}" width="{max(bw / 2 - 1, 0.5):.1f}" height="3" fill="#bbb"><title>suppressed (fewer than k real rows)</title></rect>'
            )
        h = plot_h * synthetic[i] / top
        parts.append(
            f'<rect x="{x + bw / 2:.1f}" y="{4 + plot_h - h:.1f}" width="{max(bw / 2 - 1, 0.5):.1f}" height="{h:.1f}" fill="{SYN}"/>'
        )
        if labels and len(labels) == n:
            lab = html.escape(labels[i][:10])
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{height - 16}" font-size="8" text-anchor="end" transform="rotate(-40 {x + bw / 2:.1f} {height - 16})">{lab}</text>'
            )
    parts.append(f'<line x1="4" y1="{4 + plot_h}" x2="{width - 4}" y2="{4 + plot_h}" stroke="#888"/>')
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(entry: Mapping[str, Any], *, width: int = 320, height: int = 150) -> str:
    svg = svg_bars(list(entry["real"]), list(entry["synthetic"]), width=width, height=height - 14)
    lo, hi = entry.get("labels", ["", ""])
    return f'<div class="hist">{svg}<div class="axis"><span>{html.escape(lo)}</span><span>{html.escape(hi)}</span></div></div>'


def svg_heatmap(names: list[str], scores: Mapping[tuple[str, str], float], *, cell: int = 18) -> str:
    n = len(names)
    if n < 2:
        return ""
    label_w = 110
    size = label_w + n * cell + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" role="img">']
    for i, a in enumerate(names):
        parts.append(
            f'<text x="{label_w - 4}" y="{label_w + i * cell + cell * 0.7:.1f}" font-size="9" text-anchor="end">{html.escape(a[:18])}</text>'
        )
        parts.append(
            f'<text x="{label_w + i * cell + cell * 0.7:.1f}" y="{label_w - 4}" font-size="9" transform="rotate(-60 {label_w + i * cell + cell * 0.7:.1f} {label_w - 4})">{html.escape(a[:18])}</text>'
        )
        for j, b in enumerate(names):
            v = scores.get((a, b), scores.get((b, a)))
            if i == j or v is None:
                color = "#f4f4f4"
                title = ""
            else:
                color = _score_color(v)
                title = f"<title>{html.escape(a)} × {html.escape(b)}: {v:.3f}</title>"
            parts.append(
                f'<rect x="{label_w + j * cell}" y="{label_w + i * cell}" width="{cell - 1}" height="{cell - 1}" fill="{color}">{title}</rect>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _score_color(v: float) -> str:
    v = float(np.clip(v, 0, 1))
    # red (0) → yellow (0.75) → green (1)
    if v < 0.75:
        t = v / 0.75
        r, g, b = 215, int(48 + t * (190 - 48)), 39
    else:
        t = (v - 0.75) / 0.25
        r, g, b = int(215 - t * (215 - 26)), int(190 - t * (190 - 152)), int(39 + t * (80 - 39))
    return f"#{r:02x}{g:02x}{b:02x}"


# ---------------------------------------------------------------------------------------------------
# the report


@dataclass
class SynthReport:
    """Everything the HTML page shows; holds aggregates only (safe to hand out with the synthetic data)."""

    title: str
    verdict: str
    checks: list[dict[str, Any]]
    settings: dict[str, Any]
    quality: dict[str, Any] | None = None
    privacy: dict[str, dict[str, Any]] = field(default_factory=dict)
    columns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    synthesis: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_gate(
        cls,
        gate: Any,
        *,
        title: str = "Synthetic data release report",
        columns: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> SynthReport:
        privacy = {t: {k: v for k, v in p.to_dict().items()} for t, p in gate.privacy.items()}
        return cls(
            title=title,
            verdict=gate.run.verdict.value,
            checks=[c.to_dict() for c in gate.run.checks],
            settings=gate.settings.to_dict(),
            quality=gate.quality.to_dict() if gate.quality is not None else None,
            privacy=privacy,
            columns=dict(columns if columns is not None else gate.synthesis.get("columns", {})),
            synthesis={k: v for k, v in gate.synthesis.items() if k != "columns"},
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def _repr_html_(self) -> str:
        return self.to_html(standalone=False)

    def write(self, path: str | os.PathLike[str]) -> Path:
        from hdc_toolkit._io import atomic_write_text

        return atomic_write_text(path, self.to_html())

    # ------------------------------------------------------------------------------------- render
    def to_html(self, *, standalone: bool = True) -> str:
        e = html.escape
        v = self.verdict
        badge = {"passed": "#2e7d32", "warning": "#b26a00", "failed": "#c62828", "error": "#6a1b9a"}.get(
            v, "#555"
        )
        body = [f'<div class="hdc-synth"><h1>{e(self.title)}</h1>',
                f'<p class="verdict" style="background:{badge}">{e(v.upper())}</p>',
                (f'<p>Risk profile <b>{e(str(self.settings.get("name")))}</b>: smallest safe count k = {self.settings.get("min_count")}; '
                 f'minimum quality {self.settings.get("min_quality")}. Privacy is judged against fresh real people (a holdout), '
                 "never against absolute thresholds.</p>")]  # fmt: skip
        if self.synthesis:
            items = "".join(
                f"<li><b>{e(str(k))}</b>: {e(_short(val))}</li>" for k, val in self.synthesis.items()
            )
            body.append(f"<h2>Synthesis</h2><ul>{items}</ul>")
        body.append(self._checks_html())
        if self.quality:
            body.append(self._quality_html())
        if self.privacy:
            body.append(self._privacy_html())
        if self.columns:
            body.append(self._columns_html())
        body.append('<p class="foot">Real-data aggregates in this report follow the risk profile: bins and categories with fewer than '
                    'k real rows are not shown; numeric axes run from the k-th smallest to the k-th largest real value.</p></div>')  # fmt: skip
        content = "\n".join(body)
        if not standalone:
            return f"<style>{_CSS}</style>{content}"
        return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(self.title)}</title>'
                f"<style>{_CSS}</style></head><body>{content}</body></html>")  # fmt: skip

    def _checks_html(self) -> str:
        e = html.escape
        rows = []
        for c in self.checks:
            rows.append(
                f'<tr class="{e(c["verdict"])}"><td>{e(c["verdict"])}</td><td><code>{e(c["key"])}</code></td><td>{e(c.get("message") or "")}</td></tr>'
            )
        return f'<h2>Checks</h2><table class="checks"><tr><th>verdict</th><th>check</th><th>result</th></tr>{"".join(rows)}</table>'

    def _quality_html(self) -> str:
        e = html.escape
        q = self.quality or {}
        diag = "; diagnostic " + _num(q.get("diagnostic")) if q.get("diagnostic") is not None else ""
        out = [
            f"<h2>Quality</h2><p>Overall score <b>{_num(q.get('score'))}</b> (SDMetrics quality report over tables and relationships){diag}.</p>"
        ]
        util = q.get("utility")
        if util:
            out.append(f"<p>Utility for <code>{e(util['target'])}</code> ({e(util['task'])}): train on real, test on real "
                       f"{e(util['metric'])} {_num(util['trtr'])}; train on synthetic, test on real {_num(util['tstr'])}.</p>")  # fmt: skip
        rel = q.get("relationships") or {}
        if rel:
            out.append(
                "<p>Children per parent (1 − KS): "
                + ", ".join(f"{e(k)} {_num(v)}" for k, v in rel.items())
                + "</p>"
            )
        for t, tq in (q.get("tables") or {}).items():
            sub = " (scored on a random subsample)" if tq.get("subsampled") else ""
            out.append(f"<h3>{e(t)}</h3><p>score {_num(tq['score'])}: column shapes {_num(tq['column_shapes'])}, "
                       f"column pair trends {_num(tq['column_pair_trends'])}{sub}</p>")  # fmt: skip
            names = [s["Column"] for s in tq.get("shapes", [])]
            scores = {}
            for p in tq.get("pairs", []):
                if p.get("Score") is not None:
                    scores[(p["Column 1"], p["Column 2"])] = p["Score"]
            if len(names) >= 2 and scores:
                out.append('<div class="row"><div><p class="cap">Column pair trends (green = similar; grey = weak real association, not scored)</p>'
                           + svg_heatmap(names, scores) + "</div></div>")  # fmt: skip
        return "".join(out)

    def _privacy_html(self) -> str:
        e = html.escape
        out = ["<h2>Privacy, relative to fresh real people</h2>"]
        for t, p in self.privacy.items():
            out.append(f"<h3>{e(t)}</h3><table class='kv'>"
                       f"<tr><td>median distance of synthetic rows to the closest record</td><td>training {_num(p['median_dcr_synthetic'], 4)}</td><td>holdout {_num(p.get('median_dcr_synthetic_holdout'), 4)}</td></tr>"
                       f"<tr><td>median distance of fresh real people to training</td><td>{_num(p['median_dcr_holdout'], 4)}</td><td></td></tr>"
                       f"<tr><td>synthetic rows closer to training than to holdout</td><td>{_pct(p['closer_to_training'])}</td><td>SDMetrics ranges: {_pct(p.get('closer_to_training_sdmetrics'))}</td></tr>"
                       f"<tr><td>membership inference AUC</td><td>{_num(p['membership_auc'])}</td><td>0.5 = no signal</td></tr>"
                       f"<tr><td>rows equal to a training row</td><td>synthetic {_pct(p['exact_match_synthetic'])}</td><td>holdout {_pct(p['exact_match_holdout'])}</td></tr>"
                       + _rare_match_row(p.get("rare_matches")) +
                       "</table>")  # fmt: skip
            hist = p.get("dcr_histogram") or {}
            if hist.get("edges"):
                tot_s = max(sum(hist["synthetic"]), 1)
                tot_h = max(sum(hist["holdout"]), 1)
                svg = svg_bars(
                    [h / tot_h for h in hist["holdout"]],
                    [s / tot_s for s in hist["synthetic"]],
                    width=420,
                    height=140,
                )
                out.append(f'<p class="cap">Distance to the closest training record: holdout (<span style="color:{REAL}">■</span>) '
                           f'vs synthetic (<span style="color:{SYN}">■</span>), 0 to {_num(hist["edges"][-1], 3)}</p>{svg}')  # fmt: skip
        return "".join(out)

    def _columns_html(self) -> str:
        e = html.escape
        out = [
            (
                f'<h2>Distributions</h2><p class="cap">real (<span style="color:{REAL}">■</span>) vs synthetic '
                f'(<span style="color:{SYN}">■</span>), proportions; grey = suppressed (fewer than k real rows)</p>'
            )
        ]
        for t, cols in self.columns.items():
            out.append(f"<h3>{e(t)}</h3><div class='grid'>")
            for c in cols:
                if c.get("kind") == "numeric":
                    fig = svg_histogram(c)
                elif c.get("kind") == "categorical":
                    fig = svg_bars(c["real"], c["synthetic"], c["categories"])
                    if c.get("other_categories"):
                        fig += f"<div class='cap'>+{c['other_categories']} more values (rare values suppressed)</div>"
                else:
                    fig = "<div class='cap'>too few rows to show</div>"
                out.append(
                    f"<div class='fig'><div class='t'>{e(c['column'])} <span class='cls'>{e(c.get('classification', ''))}</span></div>{fig}</div>"
                )
            out.append("</div>")
        return "".join(out)


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{float(v):.{digits}f}"


def _pct(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{100 * float(v):.1f}%"


def _short(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 300 else s[:297] + "..."


_CSS = """
.hdc-synth{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:14px;color:#222;max-width:1100px}
.hdc-synth h1{font-size:22px}.hdc-synth h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
.hdc-synth h3{font-size:15px;margin-bottom:4px}
.hdc-synth .verdict{display:inline-block;color:#fff;padding:4px 14px;border-radius:4px;font-weight:bold}
.hdc-synth table{border-collapse:collapse;margin:6px 0}.hdc-synth td,.hdc-synth th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
.hdc-synth tr.passed td:first-child{color:#2e7d32}.hdc-synth tr.failed td:first-child{color:#c62828;font-weight:bold}
.hdc-synth tr.warning td:first-child{color:#b26a00}.hdc-synth tr.error td:first-child{color:#6a1b9a;font-weight:bold}
.hdc-synth .grid{display:flex;flex-wrap:wrap;gap:12px}.hdc-synth .fig{border:1px solid #eee;padding:4px}
.hdc-synth .t{font-weight:600;font-size:12px}.hdc-synth .cls{color:#888;font-weight:normal}
.hdc-synth .cap{color:#555;font-size:12px;margin:2px 0}.hdc-synth .axis{display:flex;justify-content:space-between;font-size:10px;color:#555;width:320px}
.hdc-synth .foot{color:#666;font-size:12px;margin-top:24px}
"""


def _rare_match_row(r: dict | None) -> str:
    """The tested exact-match measure: whose rare records the synthetic rows equal."""
    if not r or r.get("rare_rows") is None:
        return ""
    return (
        f"<tr><td>rows equal to a real record seen &lt; {r['k']} times (tested)</td><td>synthetic {_pct(r['rare_rows'])}; "
        f"of those records {_pct(r.get('training_share'))} training, {_pct(r.get('expected_share'))} by chance</td>"
        f"<td>estimated copies {_pct(r['excess'])} of rows, z = {_num(r['z'], 2)}</td></tr>"
    )
