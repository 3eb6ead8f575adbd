"""Model cards for models trained in a project: Markdown and HTML, from one :class:`ModelCard`.

The sections follow what the EU AI Act asks of technical documentation (Annex IV: intended purpose,
data and data governance, design and training choices, accuracy and its limits, human oversight)
and the TRIPOD+AI reporting items for prediction models (source of data, participants, outcome,
predictors, sample size, missing data, analysis methods, performance overall and in subgroups,
limitations). Each section names the items it answers, so a reviewer can check them off.

Subgroup metrics are an output that may leave the sandbox, so they follow the output rules: a
subgroup with fewer than :data:`MIN_SUBGROUP_SIZE` people, or fewer than :data:`MIN_SUBGROUP_EVENTS`
events or non-events, is shown as suppressed, and counts are rounded to :data:`COUNT_ROUNDING`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from jinja2 import Environment

    from hdc_toolkit.privacy.training import PrivacyReport, TrainingResult

__all__ = [
    "AGE_BAND_EDGES",
    "COUNT_ROUNDING",
    "MIN_SUBGROUP_EVENTS",
    "MIN_SUBGROUP_SIZE",
    "Evaluation",
    "MetricRow",
    "ModelCard",
    "age_bands",
    "auroc",
    "evaluate",
    "render_html",
    "render_markdown",
    "write_model_card",
]

#: A subgroup smaller than this is not reported (as the output checker's minimum cell count).
MIN_SUBGROUP_SIZE = 10
#: Nor one with fewer events or non-events than this (AUROC on a handful of events discloses them).
MIN_SUBGROUP_EVENTS = 10
#: Counts shown in a card are rounded to a multiple of this.
COUNT_ROUNDING = 5
#: Default age bands (years): <40, 40–59, 60–79, ≥80.
AGE_BAND_EDGES: tuple[float, ...] = (40, 60, 80)
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


# ---------------------------------------------------------------- metrics


def auroc(y_true: Any, y_score: Any) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half); NaN with one class only."""
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _round(n: int) -> int:
    return int(COUNT_ROUNDING * round(n / COUNT_ROUNDING))


@dataclass(frozen=True)
class MetricRow:
    """Performance in one group. ``suppressed`` rows carry no numbers (too few people or events)."""

    group: str
    n: int | None
    events: int | None
    auroc: float | None
    brier: float | None
    accuracy: float | None
    observed_rate: float | None
    mean_predicted: float | None
    suppressed: bool = False
    note: str = ""

    @classmethod
    def compute(cls, group: str, y: np.ndarray, p: np.ndarray, threshold: float) -> MetricRow:
        n, events = len(y), int((y == 1).sum())
        if n < MIN_SUBGROUP_SIZE or min(events, n - events) < MIN_SUBGROUP_EVENTS:
            return cls(
                group,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                True,
                f"suppressed: fewer than {MIN_SUBGROUP_SIZE} people or {MIN_SUBGROUP_EVENTS} events/non-events",
            )
        return cls(
            group=group,
            n=_round(n),
            events=_round(events),
            auroc=auroc(y, p),
            brier=float(np.mean((p - y) ** 2)),
            accuracy=float(np.mean((p >= threshold) == (y == 1))),
            observed_rate=float(y.mean()),
            mean_predicted=float(p.mean()),
        )


@dataclass(frozen=True)
class Evaluation:
    """Metrics on held-out data: overall and per subgroup attribute (e.g. sex, age band)."""

    overall: MetricRow
    subgroups: dict[str, list[MetricRow]] = field(default_factory=dict)
    threshold: float = 0.5
    dataset: str = "held-out test split"


def age_bands(ages: Any, edges: Sequence[float] = AGE_BAND_EDGES) -> np.ndarray:
    """Labels such as ``<40``, ``40–59``, ``60–79``, ``≥80`` for ages in years (``missing`` for NaN)."""
    a = np.asarray(ages, dtype=float)
    labels = (
        [f"<{edges[0]:g}"]
        + [f"{lo:g}–{hi - 1:g}" for lo, hi in itertools.pairwise(edges)]
        + [f"≥{edges[-1]:g}"]
    )
    idx = np.searchsorted(np.asarray(edges, dtype=float), a, side="right")
    out = np.array([labels[i] for i in idx], dtype=object)
    out[np.isnan(a)] = "missing"
    return out


def evaluate(
    y_true: Any,
    y_score: Any,
    *,
    groups: Mapping[str, Any] | None = None,
    threshold: float = 0.5,
    dataset: str = "held-out test split",
) -> Evaluation:
    """AUROC, Brier score, accuracy and calibration-in-the-large overall and per group value."""
    y = np.asarray(y_true, dtype=float).reshape(-1)
    p = np.asarray(y_score, dtype=float).reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} predictions")
    overall = MetricRow.compute("all", y, p, threshold)
    subgroups: dict[str, list[MetricRow]] = {}
    for attribute, values in (groups or {}).items():
        v = np.asarray(values, dtype=object).reshape(-1)
        if len(v) != len(y):
            raise ValueError(f"group {attribute!r} has {len(v)} values for {len(y)} rows")
        keys = sorted({str(x) for x in v})
        subgroups[attribute] = [
            MetricRow.compute(k, y[v.astype(str) == k], p[v.astype(str) == k], threshold) for k in keys
        ]
    return Evaluation(overall, subgroups, threshold, dataset)


# ---------------------------------------------------------------- the card


@dataclass
class ModelCard:
    """Everything a model card says. Build it with :meth:`from_training` or by hand."""

    model_name: str
    model_type: str
    version: str = "1"
    created: str = field(default_factory=lambda: dt.date.today().isoformat())
    developers: list[str] = field(default_factory=list)
    # intended use
    intended_purpose: str = ""
    intended_users: str = "Researchers of the project, inside the project's secure sandbox."
    out_of_scope: list[str] = field(
        default_factory=lambda: [
            "Decisions about the diagnosis, treatment or care of individual patients.",
            "Use outside the population, time window and setting of the training data.",
            "Any use as a medical device (it has not been assessed under the MDR or the EU AI Act).",
        ]
    )
    ai_act_risk: str = (
        "Research use only; not placed on the market or put into service. Clinical use would likely make "
        "it a high-risk AI system (EU AI Act art. 6, medical device software) and needs a conformity "
        "assessment, a risk analysis (ROS) and a DPIA first."
    )
    human_oversight: str = (
        "Results are reviewed by the researchers and released only through the output checker."
    )
    # data
    project_id: str = ""
    project_title: str = ""
    permit_version: int | None = None
    permit_sha256: str | None = None
    release_sha256: str | None = None
    data_source: str = ""
    population: str = ""
    outcome: str = ""
    time_window: str = ""
    n_train: int | None = None
    n_test: int | None = None
    predictors: list[dict[str, Any]] = field(default_factory=list)
    missing_data: str = (
        "Numeric predictors missing in a record are set to the middle of their public bounds; categories "
        "not in the public list are encoded as none. Neither depends on the data."
    )
    preprocessing: str = (
        "Features are clipped to public bounds (data contracts or declared domain knowledge) and scaled to "
        "[0, 1]; no statistic of the private data is used for scaling."
    )
    # training
    training: dict[str, Any] = field(default_factory=dict)
    n_parameters: int | None = None
    # privacy
    privacy: dict[str, Any] = field(default_factory=dict)
    dp_plain_words: str = ""
    # performance
    evaluation: Evaluation | None = None
    limitations: list[str] = field(default_factory=list)
    tripod_ai: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_training(
        cls,
        result: TrainingResult,
        evaluation: Evaluation,
        *,
        model_name: str,
        intended_purpose: str,
        outcome: str,
        project_title: str = "",
        permit: Any = None,
        predictors: list[dict[str, Any]] | None = None,
        n_test: int | None = None,
        **fields: Any,
    ) -> ModelCard:
        """A card from a :class:`TrainingResult` (its privacy report and ledger entry) and an evaluation.

        ``permit`` is the project's :class:`~hdc_toolkit.projects.registry.PermitRecord` (optional).
        """
        report: PrivacyReport = result.report
        entry = result.ledger_entry
        n_params = sum(int(p.numel()) for p in result.model.parameters())
        card = cls(
            model_name=model_name,
            model_type=fields.pop("model_type", _describe_model(result.model)),
            intended_purpose=intended_purpose,
            outcome=outcome,
            project_id=report.project_id or "",
            project_title=project_title,
            permit_version=getattr(permit, "version", None) or (entry.permit_version if entry else None),
            permit_sha256=getattr(permit, "sha256", None) or (entry.permit_sha256 if entry else None),
            release_sha256=entry.release_sha256 if entry else fields.pop("release_sha256", None),
            developers=[entry.actor] if entry else [],
            n_train=report.n_rows,
            n_test=n_test,
            predictors=predictors or [],
            training={
                "algorithm": (
                    "DP-SGD (fused step for Linear layers; Opacus accounting)"
                    if report.grad_sample_mode == "fused"
                    else "DP-SGD (Opacus)"
                )
                + ", Poisson sampling, flat per-sample gradient clipping",
                "epochs": report.epochs,
                "expected batch size": report.expected_batch_size,
                "max gradient norm (clipping)": report.max_grad_norm,
                "noise multiplier σ": round(report.noise_multiplier, 4),
                "sampling rate q": round(report.sample_rate, 6),
                "steps": report.steps,
                "accountant": report.accountant,
                "per-sample gradients": report.grad_sample_mode,
                "seconds per epoch (median)": round(result.seconds_per_epoch, 3),
            },
            n_parameters=n_params,
            privacy={
                "epsilon": report.epsilon,
                "delta": report.delta,
                "run": report.run_id,
                "dataset": report.dataset,
                "project composed ε after this run": report.project_epsilon_composed,
                "project naive sum of ε": report.project_epsilon_naive,
                "project cap ε": report.project_epsilon_cap,
                "project cap δ": report.project_delta_cap,
            },
            dp_plain_words=report.plain_words(),
            evaluation=evaluation,
            **fields,
        )
        card.limitations = card.limitations or _default_limitations(card)
        card.tripod_ai = card.tripod_ai or _tripod_map()
        return card

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def _describe_model(model: Any) -> str:
    layers = [type(m).__name__ for m in model.modules() if not list(m.children())]
    linear = layers.count("Linear")
    if linear == 1 and len(layers) == 1:
        return "logistic regression (one linear layer, PyTorch)"
    return f"neural network ({', '.join(layers)}; PyTorch)"


def _default_limitations(card: ModelCard) -> list[str]:
    out = [
        (
            "Differential privacy adds noise to training: performance is lower than, or at best equal to, a "
            "non-private model, and the gap is larger for small subgroups."
        ),
        "Validated only internally, on a random split of the same release: no temporal or external validation.",
        "Performance in subgroups not shown (suppressed or not evaluated) is unknown.",
        "Associations learned from registry data are not causal effects.",
    ]
    if card.evaluation is not None and any(
        r.suppressed for rows in card.evaluation.subgroups.values() for r in rows
    ):
        out.append("Some subgroups were too small to report (fewer than 10 people or events).")
    return out


def _tripod_map() -> dict[str, str]:
    return {
        "Title, abstract (1–2)": "Model details",
        "Objectives, intended use (3)": "Intended use",
        "Source of data (4)": "Data",
        "Participants, eligibility (5)": "Data: population",
        "Data preparation (6)": "Data: preprocessing, missing data",
        "Outcome (7)": "Data: outcome",
        "Predictors (8)": "Data: predictors",
        "Sample size (9)": "Data: n train / test",
        "Missing data (10)": "Data: missing data",
        "Analytical methods (12)": "Training setup",
        "Class imbalance, fairness (14)": "Performance per subgroup",
        "Model output, performance (23–24)": "Performance",
        "Limitations (27)": "Limitations",
        "Ethics, privacy (18)": "Privacy guarantee; permit",
    }


# ---------------------------------------------------------------- rendering


@lru_cache(maxsize=2)
def _environment(autoescape: bool) -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return (
            f"{value:.{digits}g}"
            if abs(value) < 1e-3 and value != 0
            else f"{value:.{digits}f}".rstrip("0").rstrip(".")
        )
    return str(value)


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown."""
    return _environment(False).get_template("model_card.md.j2").render(card=card)


def render_html(card: ModelCard) -> str:
    """The card as a self-contained HTML page (values escaped)."""
    return _environment(True).get_template("model_card.html.j2").render(card=card)


def write_model_card(card: ModelCard, directory: str | Path, *, stem: str = "model_card") -> dict[str, Path]:
    """Write ``<stem>.md``, ``<stem>.html`` and ``<stem>.json`` atomically; returns their paths."""
    from hdc_toolkit._io import atomic_write_json, atomic_write_text

    directory = Path(directory)
    return {
        "markdown": atomic_write_text(directory / f"{stem}.md", render_markdown(card)),
        "html": atomic_write_text(directory / f"{stem}.html", render_html(card)),
        "json": atomic_write_json(directory / f"{stem}.json", card.to_dict()),
    }
