"""The application's companion documents: DPIA, ROS, benefit plan, AI documentation, patient information.

``project.yaml`` and ``data_request.yaml`` (:mod:`hdc_toolkit.projects.application`) say who, why,
what, on which basis and when. The documents the region's AI strategy and the law ask for on top of
that live beside them, one YAML file each, read by :func:`load_documents`::

    project.yaml                 the application (people, purpose, basis, approvals, dates)
    data_request.yaml            variables and cohort
    dpia.yaml                    GDPR art. 35 screening and assessment (DPIA, personvernkonsekvenser)
    ros.yaml                     risk register, likelihood × consequence 1–5, residual risk, owner
    benefit.yaml                 benefit realisation plan (gevinstrealiseringsplan): goals and KPIs
    ai.yaml                      AI stage, model card, datasheet, Annex IV, oversight, TRIPOD+AI
    patient_information.yaml     plain-language information to patients

Every file except the application's two is optional at load time: a project writes them as it goes,
and the rules in :mod:`hdc_toolkit.projects.document_rules` decide which are required (a DPIA when a
trigger holds; everything for AI that reaches clinical validation). The schema checks shapes, closed
lists, scales and dates; most prose fields may be left empty (``null``) in a draft, and the rules list
each empty one. :func:`missing_fields` lists them; the renderer marks them in the documents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from hdc_toolkit.exceptions import ApplicationError
from hdc_toolkit.projects.application import Application, _parse_date, _read_mapping, load_application

__all__ = [
    "AI_STAGES",
    "BENEFIT_TYPES",
    "DIMENSIONS",
    "DOCUMENT_FILES",
    "DOCUMENT_STATUSES",
    "GREEN_MAX",
    "GATED_STAGES",
    "LANGUAGES",
    "TRIPOD_AI_ITEMS",
    "TRIPOD_STATUSES",
    "WP248_CRITERIA",
    "YELLOW_MAX",
    "AiDocumentation",
    "AnnexIV",
    "ApplicationDocuments",
    "Baseline",
    "Benefit",
    "BenefitPlan",
    "Datasheet",
    "Dpia",
    "DpiaDescription",
    "DpiaNecessity",
    "DpiaScreening",
    "DpoOpinion",
    "Kpi",
    "Measurement",
    "ModelCard",
    "OversightLogging",
    "PatientInformation",
    "PerformanceResult",
    "PriorConsultation",
    "Risk",
    "RiskAcceptance",
    "Ros",
    "Target",
    "TripodItem",
    "load_documents",
    "missing_fields",
    "risk_band",
]

#: The file of each document, beside ``project.yaml``.
DOCUMENT_FILES: dict[str, str] = {
    "dpia": "dpia.yaml",
    "ros": "ros.yaml",
    "benefit": "benefit.yaml",
    "ai": "ai.yaml",
    "patient_information": "patient_information.yaml",
}

#: Languages of the rendered documents (labels) and of patient information texts.
LANGUAGES = ("nb", "en")

#: Life-cycle stages of an AI system; duties switch on from clinical validation (AI Act art. 2(6), 2(8)).
AI_STAGES: dict[str, str] = {
    "research": "developed and used for scientific research only (AI Act art. 2(6))",
    "clinical_validation": "tested in clinical practice on real patients (real-world testing)",
    "production": "in clinical use",
}
#: Stages at which the AI gate applies.
GATED_STAGES: frozenset[str] = frozenset({"clinical_validation", "production"})

#: What a risk threatens: information security (CIA) and, for clinical AI, patient safety; for a DPIA
#: the data subjects' rights and freedoms.
DIMENSIONS: dict[str, str] = {
    "confidentiality": "confidentiality",
    "integrity": "integrity",
    "availability": "availability",
    "patient_safety": "patient safety",
    "rights_and_freedoms": "the data subjects' rights and freedoms",
}

BENEFIT_TYPES: dict[str, str] = {
    "efficiency": "efficiency (time or money saved)",
    "quality": "better quality of care",
    "benefit_for_others": "benefit for patients, relatives or society",
}

DOCUMENT_STATUSES: dict[str, str] = {"draft": "draft", "approved": "approved"}

#: The nine criteria of the Article 29 Working Party's DPIA guidelines (WP248 rev.01), which the
#: Norwegian Data Protection Authority (Datatilsynet) applies; two or more usually mean a DPIA.
WP248_CRITERIA: dict[str, str] = {
    "evaluation_or_scoring": "evaluation or scoring, including profiling and predicting",
    "automated_decisions": "automated decision-making with legal or similarly significant effect",
    "systematic_monitoring": "systematic monitoring",
    "sensitive_data": "sensitive data or data of a highly personal nature",
    "large_scale": "data processed on a large scale",
    "matching_datasets": "matching or combining datasets",
    "vulnerable_subjects": "data concerning vulnerable data subjects",
    "innovative_technology": "innovative use or new technological or organisational solutions",
    "prevents_rights": "processing that prevents data subjects from exercising a right or using a service",
}

TRIPOD_STATUSES: dict[str, str] = {
    "reported": "reported",
    "not_applicable": "not applicable",
    "not_yet": "not yet reported",
}

#: TRIPOD+AI (Collins et al., BMJ 2024;385:e078378): item → (section, topic). Topics paraphrased.
TRIPOD_AI_ITEMS: dict[str, tuple[str, str]] = {
    "1": ("title_abstract", "Title"),
    "2": ("title_abstract", "Abstract"),
    "3a": ("introduction", "Healthcare context and rationale"),
    "3b": ("introduction", "Target population, place in the care pathway, intended users"),
    "3c": ("introduction", "Known health inequalities between groups"),
    "4": ("introduction", "Objectives (development, evaluation or both)"),
    "5a": ("methods", "Data sources and their representativeness"),
    "5b": ("methods", "Dates of data collection and follow-up"),
    "6a": ("methods", "Setting and centres"),
    "6b": ("methods", "Eligibility criteria"),
    "6c": ("methods", "Treatments received"),
    "7": ("methods", "Data preparation and quality checks"),
    "8a": ("methods", "Outcome definition, how and when assessed"),
    "8b": ("methods", "Qualifications of outcome assessors"),
    "8c": ("methods", "Blinding of outcome assessment"),
    "9a": ("methods", "Choice of initial predictors"),
    "9b": ("methods", "Predictor definitions, how and when measured"),
    "9c": ("methods", "Qualifications of predictor assessors"),
    "10": ("methods", "Sample size"),
    "11": ("methods", "Missing data"),
    "12a": ("methods", "How the data were used (development, evaluation)"),
    "12b": ("methods", "Handling of predictors"),
    "12c": ("methods", "Model type, building, tuning and internal validation"),
    "12d": ("methods", "Heterogeneity across clusters or centres"),
    "12e": ("methods", "Performance measures"),
    "12f": ("methods", "Model updating and recalibration"),
    "12g": ("methods", "How predictions were calculated in evaluation"),
    "13": ("methods", "Class imbalance"),
    "14": ("methods", "Fairness"),
    "15": ("methods", "Model output and thresholds"),
    "16": ("methods", "Differences between development and evaluation data"),
    "17": ("methods", "Ethical approval"),
    "18a": ("open_science", "Funding"),
    "18b": ("open_science", "Conflicts of interest"),
    "18c": ("open_science", "Protocol"),
    "18d": ("open_science", "Registration"),
    "18e": ("open_science", "Data sharing"),
    "18f": ("open_science", "Code sharing"),
    "19": ("open_science", "Patient and public involvement"),
    "20a": ("results", "Flow of participants"),
    "20b": ("results", "Participant characteristics"),
    "20c": ("results", "Comparison of development and evaluation data"),
    "21": ("results", "Participants and outcome events per analysis"),
    "22": ("results", "Full model specification"),
    "23a": ("results", "Model performance"),
    "23b": ("results", "Performance in key subgroups"),
    "24": ("results", "Results of model updating"),
    "25": ("discussion", "Interpretation"),
    "26": ("discussion", "Limitations"),
    "27a": ("discussion", "Handling of poor quality or missing input data in use"),
    "27b": ("discussion", "User interaction and expertise needed"),
    "27c": ("discussion", "Future research and generalisability"),
}

#: ROS bands of a likelihood × consequence score (1–25): green ≤ 4, yellow 5–12, red ≥ 15.
GREEN_MAX = 4
YELLOW_MAX = 12


def risk_band(score: int) -> str:
    """``green``, ``yellow`` or ``red`` for a likelihood × consequence score."""
    if score <= GREEN_MAX:
        return "green"
    return "yellow" if score <= YELLOW_MAX else "red"


# --- field types ----------------------------------------------------------------------------------

IsoDate = Annotated[dt.date, BeforeValidator(_parse_date)]
Text = Annotated[str, Field(min_length=1)]
Prose = Text | None  # may be left empty in a draft; listed by missing_fields
Scale = Annotated[int, Field(ge=1, le=5, strict=True)]
Dimension = Literal["confidentiality", "integrity", "availability", "patient_safety", "rights_and_freedoms"]
Status = Literal["draft", "approved"]
Stage = Literal["research", "clinical_validation", "production"]
Lang = Literal["nb", "en"]


def _local_text(value: Any) -> str | dict[str, str]:
    """One non-empty text, or one per language: ``{nb: ..., en: ...}``."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict) and value:
        unknown = sorted(str(k) for k in value if k not in LANGUAGES)
        if unknown:
            raise ValueError(f"the languages are {' and '.join(LANGUAGES)} (got {', '.join(unknown)})")
        empty = [k for k, v in value.items() if not isinstance(v, str) or not v.strip()]
        if empty:
            raise ValueError(f"the {', '.join(empty)} text should be a non-empty text")
        return {k: v.strip() for k, v in value.items()}
    if value == "" or value == {}:
        raise ValueError("is empty; fill it in")
    raise ValueError("should be a text, or one text per language: {nb: ..., en: ...}")


#: A text in one language (the document's ``language``) or per language: ``{nb: ..., en: ...}``.
LocalText = Annotated[str | dict[str, str], PlainValidator(_local_text)]


class _Doc(BaseModel):
    """Base of every document model: strict, frozen; ``optional`` fields may stay empty for good."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    #: fields that are allowed to stay empty in a complete document
    optional: ClassVar[frozenset[str]] = frozenset()


# --- ROS and the risk rows a DPIA shares --------------------------------------------------------------


class RiskAcceptance(_Doc):
    """The risk owner's explicit acceptance of a residual risk."""

    accepted_by: Text
    date: IsoDate
    rationale: Text


class Risk(_Doc):
    """One row of a risk register: an unwanted event scored before and after measures."""

    optional: ClassVar[frozenset[str]] = frozenset({"acceptance"})

    id: Text
    event: Text
    asset: Prose = None
    dimensions: tuple[Dimension, ...] = Field(min_length=1)
    existing_controls: Prose = None
    likelihood: Scale
    consequence: Scale
    measures: Prose = None
    residual_likelihood: Scale | None = None
    residual_consequence: Scale | None = None
    risk_owner: Prose = None
    acceptance: RiskAcceptance | None = None

    @property
    def score(self) -> int:
        return self.likelihood * self.consequence

    @property
    def band(self) -> str:
        return risk_band(self.score)

    @property
    def residual_assessed(self) -> bool:
        return self.residual_likelihood is not None and self.residual_consequence is not None

    @property
    def residual_score(self) -> int:
        """The score after measures; the inherent score while the residual risk is not assessed."""
        if self.residual_likelihood is None or self.residual_consequence is None:
            return self.score
        return self.residual_likelihood * self.residual_consequence

    @property
    def residual_band(self) -> str:
        return risk_band(self.residual_score)


def _unique_ids(risks: tuple[Risk, ...]) -> tuple[Risk, ...]:
    seen: set[str] = set()
    for r in risks:
        if r.id in seen:
            raise ValueError(f"risk id {r.id!r} is used more than once")
        seen.add(r.id)
    return risks


class _Approvable(_Doc):
    status: Status = "draft"
    approved_by: Prose = None
    approved_date: IsoDate | None = None
    review_date: IsoDate | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved" and bool(self.approved_by) and self.approved_date is not None


class Ros(_Approvable):
    """``ros.yaml``: the risk and vulnerability analysis (risiko- og sårbarhetsanalyse)."""

    optional: ClassVar[frozenset[str]] = frozenset({"approved_by", "approved_date"})

    scope: Prose = None
    method: Prose = None
    risks: tuple[Risk, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> Ros:
        _unique_ids(self.risks)
        return self


# --- DPIA ---------------------------------------------------------------------------------------------


class DpiaScreening(_Doc):
    """What the DPIA triggers are judged on, beyond what the application itself says."""

    optional: ClassVar[frozenset[str]] = frozenset({"vulnerable_groups", "notes"})

    expected_subjects: Annotated[int, Field(ge=0, strict=True)] | None = None
    vulnerable_groups: tuple[Text, ...] = ()
    new_technology: bool = False
    evaluation_or_scoring: bool = False
    automated_decisions: bool = False
    systematic_monitoring: bool = False
    prevents_rights: bool = False
    notes: Prose = None


class DpiaDescription(_Doc):
    """Art. 35(7)(a): a systematic description of the processing and its purposes."""

    nature: Prose = None
    scope: Prose = None
    context: Prose = None
    data_flow: Prose = None
    recipients_and_processors: Prose = None
    storage_and_security: Prose = None


class DpiaNecessity(_Doc):
    """Art. 35(7)(b): necessity and proportionality."""

    necessity: Prose = None
    minimisation: Prose = None
    storage_limitation: Prose = None
    data_subject_rights: Prose = None
    transfers_outside_eea: Prose = None


class DpoOpinion(_Doc):
    """Art. 35(2): the data protection officer's advice."""

    optional: ClassVar[frozenset[str]] = frozenset({"reason_not_followed"})

    name: Text
    date: IsoDate
    advice: Text
    followed: bool = True
    reason_not_followed: Prose = None


class PriorConsultation(_Doc):
    """Art. 36: consultation of the supervisory authority when high risk remains."""

    reference: Text
    date: IsoDate


class Dpia(_Approvable):
    """``dpia.yaml``: the screening, and the assessment where it is required."""

    optional: ClassVar[frozenset[str]] = frozenset({"approved_by", "approved_date", "prior_consultation"})

    screening: DpiaScreening
    description: DpiaDescription | None = None
    necessity: DpiaNecessity | None = None
    risks: tuple[Risk, ...] = ()
    measures: Prose = None
    dpo_opinion: DpoOpinion | None = None
    prior_consultation: PriorConsultation | None = None

    @model_validator(mode="after")
    def _ids(self) -> Dpia:
        _unique_ids(self.risks)
        return self


# --- benefit realisation plan ---------------------------------------------------------------------------


class Baseline(_Doc):
    value: float | None = None
    date: IsoDate | None = None
    method: Prose = None


class Target(_Doc):
    value: float
    date: IsoDate


class Measurement(_Doc):
    frequency: Text
    owner: Text


class Kpi(_Doc):
    """A key performance indicator: how a benefit is measured, from a baseline to a target."""

    #: baselines are judged by the benefit rules (not yet measured / measured before go-live)
    optional: ClassVar[frozenset[str]] = frozenset({"query", "baseline"})

    id: Text
    name: Text
    definition: Prose = None
    unit: Prose = None
    source: Prose = None
    query: Prose = None
    direction: Literal["increase", "decrease"]
    baseline: Baseline | None = None
    target: Target | None = None
    measurement: Measurement | None = None


class Benefit(_Doc):
    id: Text
    type: Literal["efficiency", "quality", "benefit_for_others"]
    goal: Text
    kpis: tuple[Kpi, ...] = Field(min_length=1)


class BenefitPlan(_Doc):
    """``benefit.yaml``: the benefit realisation plan (gevinstrealiseringsplan)."""

    rationale: Prose = None
    benefit_owner: Prose = None
    benefits: tuple[Benefit, ...] = Field(min_length=1)
    preconditions: Prose = None
    risks_and_side_effects: Prose = None
    review_plan: Prose = None

    def kpis(self) -> Iterator[tuple[int, int, Benefit, Kpi]]:
        for i, b in enumerate(self.benefits):
            for j, k in enumerate(b.kpis):
                yield i, j, b, k


# --- AI documentation -------------------------------------------------------------------------------------


class PerformanceResult(_Doc):
    metric: Text
    group: Text
    value: Text
    data: Text


class ModelCard(_Doc):
    """Model card (Mitchell et al. 2019)."""

    name: Prose = None
    version: Prose = None
    model_type: Prose = None
    developers: Prose = None
    date: IsoDate | None = None
    primary_uses: Prose = None
    primary_users: Prose = None
    out_of_scope: Prose = None
    factors: Prose = None
    metrics: Prose = None
    decision_thresholds: Prose = None
    training_data: Prose = None
    evaluation_data: Prose = None
    performance: tuple[PerformanceResult, ...] = ()
    ethical_considerations: Prose = None
    caveats: Prose = None


class Datasheet(_Doc):
    """Datasheet for the training and evaluation data (Gebru et al. 2021)."""

    motivation: Prose = None
    composition: Prose = None
    collection: Prose = None
    preprocessing: Prose = None
    uses: Prose = None
    distribution: Prose = None
    maintenance: Prose = None


class AnnexIV(_Doc):
    """Skeleton of the technical documentation of EU AI Act Annex IV (high-risk AI)."""

    general_description: Prose = None
    development_methods: Prose = None
    architecture_and_compute: Prose = None
    data_and_governance: Prose = None
    human_oversight: Prose = None
    predetermined_changes: Prose = None
    validation_and_testing: Prose = None
    discriminatory_impact: Prose = None
    cybersecurity: Prose = None
    monitoring_and_control: Prose = None
    metric_appropriateness: Prose = None
    risk_management: Prose = None
    lifecycle_changes: Prose = None
    standards_applied: Prose = None
    declaration_of_conformity: Prose = None
    post_market_monitoring: Prose = None


class OversightLogging(_Doc):
    """Human oversight (AI Act art. 14) and automatic logging (art. 12, 19, 26(6))."""

    overseers: tuple[Text, ...] = ()
    competence: Prose = None
    automation_bias: Prose = None
    interpretation: Prose = None
    override: Prose = None
    stop: Prose = None
    logged_events: tuple[Text, ...] = ()
    log_retention_months: Annotated[int, Field(ge=0, strict=True)] | None = None
    log_review: Prose = None


class TripodItem(_Doc):
    optional: ClassVar[frozenset[str]] = frozenset({"where"})

    status: Literal["reported", "not_applicable", "not_yet"] = "not_yet"
    where: Prose = None


class AiDocumentation(_Doc):
    """``ai.yaml``: the AI system, its stage and its documentation."""

    #: go_live, Annex IV and the oversight plan are judged by the AI gate; TRIPOD+AI by its own rule
    optional: ClassVar[frozenset[str]] = frozenset({"go_live", "annex_iv", "oversight_logging", "tripod_ai"})

    system_name: Text
    stage: Stage = "research"
    affects_patient_care: bool = False
    intended_purpose: Prose = None
    go_live: IsoDate | None = None
    model_card: ModelCard | None = None
    datasheet: Datasheet | None = None
    annex_iv: AnnexIV | None = None
    oversight_logging: OversightLogging | None = None
    tripod_ai: dict[str, TripodItem] = Field(default_factory=dict)

    @field_validator("tripod_ai")
    @classmethod
    def _tripod_items(cls, value: dict[str, TripodItem]) -> dict[str, TripodItem]:
        unknown = sorted(set(value) - set(TRIPOD_AI_ITEMS))
        if unknown:
            raise ValueError(
                f"unknown TRIPOD+AI item(s) {', '.join(map(repr, unknown))}; items are "
                f"{', '.join(TRIPOD_AI_ITEMS)}"
            )
        return value

    @property
    def gated(self) -> bool:
        """True when the AI gate applies: clinical validation, production, or patient care affected."""
        return self.stage in GATED_STAGES or self.affects_patient_care

    def tripod(self, item: str) -> TripodItem:
        return self.tripod_ai.get(item) or TripodItem()


# --- patient information --------------------------------------------------------------------------------


class PatientInformation(_Doc):
    """``patient_information.yaml``: plain-language information about the project and its use of AI.

    Each text is either one string, written in ``language``, or a mapping ``{nb: ..., en: ...}``.
    """

    optional: ClassVar[frozenset[str]] = frozenset({"ai_use"})

    language: Lang = "nb"
    title: LocalText
    what: LocalText | None = None
    why: LocalText | None = None
    which_data: LocalText | None = None
    who_has_access: LocalText | None = None
    ai_use: LocalText | None = None
    risks_and_benefits: LocalText | None = None
    legal_basis: LocalText | None = None
    your_rights: LocalText | None = None
    contact: LocalText | None = None

    def text(self, name: str, lang: str) -> str | None:
        """The field in ``lang`` (None when not written in that language)."""
        value = getattr(self, name)
        if isinstance(value, dict):
            return value.get(lang)
        return value if lang == self.language else None


# --- the whole set ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationDocuments:
    """An application with whichever companion documents exist beside its ``project.yaml``."""

    application: Application
    directory: Path
    dpia: Dpia | None = None
    ros: Ros | None = None
    benefit: BenefitPlan | None = None
    ai: AiDocumentation | None = None
    patient_information: PatientInformation | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def uses_ai(self) -> bool:
        return self.ai is not None

    def document(self, name: str) -> _Doc | None:
        return getattr(self, name)


def load_documents(path: str | Path) -> ApplicationDocuments:
    """Load ``project.yaml`` (with its data request) and the documents beside it.

    Raises one :class:`~hdc_toolkit.exceptions.ApplicationError` listing every problem of every file
    (``file: dotted.path: message``); missing companion documents are not an error here.
    """
    project_path = Path(path)
    problems: list[str] = []
    app: Application | None = None
    try:
        app = load_application(project_path)
    except ApplicationError as exc:
        problems.extend(exc.problems or [str(exc)])
    docs: dict[str, Any] = {}
    files: dict[str, Path] = {}
    for name, filename in DOCUMENT_FILES.items():
        doc_path = project_path.parent / filename
        if not doc_path.is_file():
            continue
        files[name] = doc_path
        try:
            raw = _read_mapping(doc_path, filename)
            docs[name] = _MODELS[name].model_validate(raw)
        except ApplicationError as exc:
            problems.extend(exc.problems or [str(exc)])
        except ValidationError as exc:
            problems.extend(_format_errors(exc, filename))
    if problems or app is None:
        raise ApplicationError(
            f"the application documents cannot be read ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''})",
            location=str(project_path),
            problems=problems,
        )
    return ApplicationDocuments(app, project_path.parent, files=files, **docs)


_MODELS: dict[str, type[_Doc]] = {
    "dpia": Dpia,
    "ros": Ros,
    "benefit": BenefitPlan,
    "ai": AiDocumentation,
    "patient_information": PatientInformation,
}


def missing_fields(doc: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of the fields left empty (None, blank or an empty list) that a complete document fills.

    Fields in a model's ``optional`` set may stay empty; nested documents and list entries are walked.
    """
    out: list[str] = []
    optional = getattr(doc, "optional", frozenset())
    for name in type(doc).model_fields:
        value = getattr(doc, name)
        path = f"{prefix}.{name}" if prefix else name
        if _is_empty(value):
            if name not in optional:
                out.append(path)
        elif isinstance(value, BaseModel):
            out.extend(missing_fields(value, path))
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    out.extend(missing_fields(item, f"{path}[{i}]"))
    return out


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, tuple, dict)) and not value)


_PLAIN_MESSAGES = {
    "missing": "required field is missing",
    "tuple_type": "should be a list",
    "model_type": "should be a mapping of fields (key: value)",
    "model_attributes_type": "should be a mapping of fields (key: value)",
    "dict_type": "should be a mapping of fields (key: value)",
    "extra_forbidden": "unknown field",
    "int_type": "should be a whole number",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
}


def _format_errors(exc: ValidationError, filename: str) -> list[str]:
    """pydantic's errors as ``file: dotted.path: message`` lines."""
    lines: list[str] = []
    errors = exc.errors(include_url=False)
    failing = {tuple(e["loc"]) for e in errors}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and any(o[: len(loc)] == loc and len(o) > len(loc) for o in failing):
            continue  # "at least one entry" only because the entries themselves are invalid
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        kind, value = err["type"], err.get("input")
        if kind in _PLAIN_MESSAGES:
            message = _PLAIN_MESSAGES[kind]
        elif value is None or (kind == "string_too_short" and value == ""):
            message = "is empty; fill it in"
        elif kind == "too_short":
            message = "should list at least one entry"
        elif kind in ("value_error", "assertion_error"):
            message = str(err["msg"]).removeprefix("Value error, ")
        else:
            message = f"{err['msg']} (got {value!r})"
        lines.append(f"{filename}: {path}: {message}" if path else f"{filename}: {message}")
    return lines
