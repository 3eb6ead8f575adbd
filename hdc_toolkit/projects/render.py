"""Render the application and its documents to Markdown or HTML, in Norwegian (bokmål) or English.

One Jinja2 template per document in ``templates/application/documents/`` serves both languages: every
fixed text comes from :data:`LABELS` and every closed-list code from :data:`TERMS`, one dict per
language. Templates run under :class:`jinja2.StrictUndefined`, so a misspelt field or a missing label
is an error, never a silently empty cell. A field the application leaves empty is shown as
:data:`MISSING_MARK` plus "not filled in", so a reader (and a test) sees every gap.

    >>> docs = load_documents("project.yaml")                        # doctest: +SKIP
    >>> render_documents(docs, "out", lang="nb", fmt="html")         # doctest: +SKIP

HTML is the Markdown converted by markdown-it-py (CommonMark + tables, raw HTML disabled, so text
from the YAML cannot inject markup) inside a small stand-alone page.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from hdc_toolkit import __version__
from hdc_toolkit._io import atomic_write_text
from hdc_toolkit.exceptions import HdcUserError
from hdc_toolkit.projects import vocabularies as voc
from hdc_toolkit.projects.application import application_hash
from hdc_toolkit.projects.document_rules import dpia_triggers, wp248_criteria
from hdc_toolkit.projects.documents import (
    AI_STAGES,
    BENEFIT_TYPES,
    DIMENSIONS,
    DOCUMENT_STATUSES,
    LANGUAGES,
    TRIPOD_AI_ITEMS,
    TRIPOD_STATUSES,
    WP248_CRITERIA,
    AnnexIV,
    ApplicationDocuments,
    risk_band,
)

__all__ = [
    "DOCUMENTS",
    "FORMATS",
    "LABELS",
    "MISSING_MARK",
    "TEMPLATES_DIR",
    "TERMS",
    "DocumentSpec",
    "available_documents",
    "render_document",
    "render_documents",
]

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "application" / "documents"
FORMATS = ("md", "html")
#: Marks a field the application leaves empty (followed by the label ``missing``).
MISSING_MARK = "⚠"
_BAND_MARK = {"green": "🟩", "yellow": "🟨", "red": "🟥"}


@dataclass(frozen=True)
class DocumentSpec:
    """A renderable document: its template and the companion file it needs (None: the application)."""

    template: str
    needs: str | None = None


#: Every document, in the order of the application bundle.
DOCUMENTS: dict[str, DocumentSpec] = {
    "rek_application": DocumentSpec("rek_application.md.j2"),
    "data_request": DocumentSpec("data_request.md.j2"),
    "dpia": DocumentSpec("dpia.md.j2", "dpia"),
    "ros": DocumentSpec("ros.md.j2", "ros"),
    "benefit_plan": DocumentSpec("benefit_plan.md.j2", "benefit"),
    "model_card": DocumentSpec("model_card.md.j2", "ai"),
    "datasheet": DocumentSpec("datasheet.md.j2", "ai"),
    "annex_iv": DocumentSpec("annex_iv.md.j2", "ai"),
    "oversight_logging": DocumentSpec("oversight_logging.md.j2", "ai"),
    "tripod_ai": DocumentSpec("tripod_ai.md.j2", "ai"),
    "patient_information": DocumentSpec("patient_information.md.j2", "patient_information"),
}


def available_documents(docs: ApplicationDocuments) -> list[str]:
    """The documents that can be rendered: those whose companion file exists."""
    return [n for n, s in DOCUMENTS.items() if s.needs is None or docs.document(s.needs) is not None]


def render_document(docs: ApplicationDocuments, name: str, *, lang: str = "nb", fmt: str = "md") -> str:
    """One document as Markdown (``fmt="md"``) or a stand-alone HTML page (``fmt="html"``)."""
    _check_choice(lang, LANGUAGES, "language")
    _check_choice(fmt, FORMATS, "format")
    if name not in DOCUMENTS:
        raise HdcUserError(f"unknown document {name!r}; choose from: {', '.join(DOCUMENTS)}")
    if name not in available_documents(docs):
        needs = DOCUMENTS[name].needs or ""
        raise HdcUserError(f"the {name} document needs {needs}.yaml beside project.yaml")
    env = _environment(lang)
    markdown = env.get_template(DOCUMENTS[name].template).render(_context(docs, lang))
    markdown = _tidy(markdown)
    if fmt == "md":
        return markdown
    title = f"{LABELS[lang]['doc_' + name]}: {docs.application.title}"
    return _to_html(markdown, title, lang)


def render_documents(
    docs: ApplicationDocuments,
    out_dir: str | Path,
    *,
    lang: str = "nb",
    fmt: str = "md",
    names: list[str] | None = None,
) -> list[Path]:
    """Render every available document (or ``names``) to ``out_dir/<name>.<lang>.<fmt>``, atomically."""
    out = Path(out_dir)
    written = []
    for name in names or available_documents(docs):
        text = render_document(docs, name, lang=lang, fmt=fmt)
        written.append(atomic_write_text(out / f"{name}.{lang}.{fmt}", text))
    return written


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise HdcUserError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


# --- Jinja environment ----------------------------------------------------------------------------------


def _environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown; the HTML page escapes through markdown-it
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    labels, terms = LABELS[lang], TERMS[lang]

    def value(x: Any) -> str:
        if x is None or (isinstance(x, (str, tuple, list, dict)) and not x):
            return f"{MISSING_MARK} {labels['missing']}"
        if isinstance(x, bool):
            return labels["yes"] if x else labels["no"]
        if isinstance(x, dt.date):
            return x.isoformat()
        if isinstance(x, float):
            return f"{x:g}"
        return str(x)

    def cell(x: Any) -> str:
        return " ".join(value(x).split()).replace("|", "\\|")

    def optional(x: Any) -> str:
        return "–" if x is None or x == "" else cell(x)

    def term(code: str, category: str) -> str:
        return terms[category][code]

    def band(x: int | str) -> str:
        name = risk_band(x) if isinstance(x, int) else x
        return f"{_BAND_MARK[name]} {labels['band_' + name]}"

    def mark(x: int) -> str:
        return _BAND_MARK[risk_band(x)]

    env.filters.update(v=value, cell=cell, opt=optional, term=term, band=band, mark=mark)
    return env


def _context(docs: ApplicationDocuments, lang: str) -> dict[str, Any]:
    app = docs.application
    leader = app.leader
    ros_bands = Counter(r.residual_band for r in docs.ros.risks) if docs.ros else Counter()
    matrix: dict[tuple[int, int], list[str]] = {(s, k): [] for s in range(1, 6) for k in range(1, 6)}
    for r in docs.ros.risks if docs.ros else ():
        key = (
            (r.residual_likelihood, r.residual_consequence)
            if r.residual_assessed
            else (r.likelihood, r.consequence)
        )
        matrix[key].append(r.id)  # type: ignore[index]
    dpia_bands = [r.residual_band for r in docs.dpia.risks] if docs.dpia else []
    ai = docs.ai
    sections: dict[str, list[str]] = {}
    for item, (section, _topic) in TRIPOD_AI_ITEMS.items():
        sections.setdefault(section, []).append(item)
    counts = Counter(ai.tripod(i).status for i in TRIPOD_AI_ITEMS) if ai else Counter()
    pi = docs.patient_information

    def pitext(name: str) -> str:
        assert pi is not None
        text = pi.text(name, lang) or next((pi.text(name, o) for o in LANGUAGES if pi.text(name, o)), None)
        return text if text else f"{MISSING_MARK} {LABELS[lang]['missing']}"

    return {
        "L": LABELS[lang],
        "lang": lang,
        "app": app,
        "app_hash": application_hash(app),
        "version": __version__,
        "files": {
            "project": app.file_names[0],
            "documents": [p.name for p in docs.files.values()],
        },
        "leader": leader,
        "leader_name": leader.name if leader else app.project_leader,
        "dpia": docs.dpia,
        "ros": docs.ros,
        "benefit": docs.benefit,
        "ai": ai,
        "pi": pi,
        "pitext": pitext,
        "triggers": dpia_triggers(docs),
        "wp248": wp248_criteria(docs),
        "consent_based": app.legal_basis.gdpr_art9 == "a"
        or "helseforskningsloven_13" in app.legal_basis.national,
        "ros_bands": {b: ros_bands.get(b, 0) for b in ("green", "yellow", "red")},
        "matrix": matrix,
        "dpia_max_band": max(dpia_bands, key=["green", "yellow", "red"].index) if dpia_bands else "green",
        "annex_iv_fields": list(AnnexIV.model_fields),
        "tripod_sections": list(sections.items()),
        "tripod_counts": {s: counts.get(s, 0) for s in TRIPOD_STATUSES},
        "rendered": available_documents(docs),
    }


def _tidy(markdown: str) -> str:
    """Collapse runs of blank lines left by template blocks; end with one newline."""
    lines, out, blank = markdown.splitlines(), [], 0
    for line in lines:
        blank = blank + 1 if not line.strip() else 0
        if blank <= 1:
            out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"


def _to_html(markdown: str, title: str, lang: str) -> str:
    from markdown_it import MarkdownIt  # a dependency of rich, which the core already needs

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR), undefined=jinja2.StrictUndefined, autoescape=True
    )
    page = env.get_template("_page.html.j2")
    return page.render(title=title, lang=lang, version=__version__, body=markupsafe.Markup(body))


# --- labels and terms -------------------------------------------------------------------------------------

_LABELS_EN: dict[str, str] = {
    # general
    "missing": "not filled in",
    "yes": "yes",
    "no": "no",
    "band_green": "green",
    "band_yellow": "yellow",
    "band_red": "red",
    "project": "Project",
    "project_id": "Project id",
    "institution": "Institution",
    "project_leader": "Project leader",
    "period": "Project period",
    "status": "Status",
    "approved_by": "Approved by",
    "approved_date": "Approved on",
    "review_date": "Next review",
    "generated_from": "Generated from",
    "not_legal_advice": "Legal bases and assessments are confirmed by the data protection officer; "
    "this document is not legal advice.",
    "name": "Name",
    "date": "Date",
    "title": "Title",
    "purpose": "Purpose",
    "role": "Role",
    "members": "Members with access",
    "training_date": "Data protection training",
    "confidentiality_signed": "Confidentiality declaration signed",
    "source": "Source",
    "variables": "Variables",
    "variable": "Variable",
    "justification": "Justification",
    "identifiability": "Identifiability",
    "granularity": "Granularity",
    "cohort": "Cohort",
    "cohort_window": "Cohort window",
    "code_system": "Code system",
    "code": "Code",
    "meaning": "Meaning",
    "why_not_anonymous": "Why anonymous data do not suffice",
    "legal_basis": "Legal basis",
    "gdpr_art6": "GDPR art. 6(1)",
    "gdpr_art9": "GDPR art. 9(2)",
    "national_basis": "National legal basis",
    "approvals": "Approvals",
    "approval_type": "Approval",
    "reference": "Reference",
    "valid_until": "Valid until",
    "start_date": "Start date",
    "end_date": "End date",
    "deletion_date": "Deletion date",
    "scope": "Scope",
    "method": "Method",
    "measures": "Measures",
    "notes": "Notes",
    "none_listed": "none",
    "version": "Version",
    "value": "Value",
    "group": "Group",
    "data": "Data",
    "metric": "Metric",
    "owner": "owner",
    "months": "months",
    "item": "Item",
    "topic": "Topic",
    # document names
    "doc_rek_application": "Research application (REK)",
    "doc_data_request": "Data request",
    "doc_dpia": "Data protection impact assessment (DPIA)",
    "doc_ros": "Risk and vulnerability analysis (ROS)",
    "doc_benefit_plan": "Benefit realisation plan",
    "doc_model_card": "Model card",
    "doc_datasheet": "Datasheet for the data",
    "doc_annex_iv": "Technical documentation (AI Act Annex IV)",
    "doc_oversight_logging": "Human oversight and logging plan",
    "doc_tripod_ai": "TRIPOD+AI checklist",
    "doc_patient_information": "Information to patients",
    # REK application
    "rek_title": "Research application (REK)",
    "rek_intro": "Application for prior approval of a medical and health research project "
    "(helseforskningsloven "
    "§§ 9-10, forskningsforskriften §§ 7-8), with the request for exemption from confidentiality "
    "(§ 35) where relevant.",
    "identification": "Identification",
    "lay_summary": "Lay summary",
    "responsibility": "Responsibility",
    "responsible_institution": "Research-responsible institution",
    "science": "Scientific content",
    "design": "Design",
    "design_register": "Register-based cohort study on hospital data (secondary use)",
    "expected_subjects": "Expected number of data subjects",
    "ai_system": "AI system",
    "linkage_text": "Tables are linked by a project-specific pseudonym; the national identity number is "
    "never "
    "released and the linkage key stays with the health data centre.",
    "see_data_request": "Each variable and its justification is listed in the data request.",
    "consent": "Consent",
    "consent_yes": "The data subjects consent (helseforskningsloven § 13).",
    "consent_no": "No consent; exemption from confidentiality or a statutory basis is used.",
    "processing": "Processing of the data",
    "storage_security": "Storage and security",
    "sandbox_text": "Only inside the health data centre's research sandbox: one closed workspace per "
    "project, "
    "no internet access, personal accounts, access logging.",
    "deidentification": "De-identification and linkage key",
    "pseudonym_text": "Project-specific pseudonyms (keyed HMAC); dates and places coarsened as requested; "
    "the key is kept by the data centre, never in the workspace.",
    "access": "Access",
    "access_text": "Only the named members, by work-related need, for the project period.",
    "transfers": "Transfers outside the EEA",
    "no_transfers": "None.",
    "dp_budget": "Differential-privacy budget",
    "disclosure_profile": "Output disclosure control",
    "benefit_and_risk": "Benefit and risk",
    "ros_summary": "Risk assessment (ROS)",
    "risks": "risks",
    "residual": "residual",
    "time": "Time frame",
    "attachments": "Documents in this application",
    # data request
    "data_request_title": "Data request",
    # DPIA
    "dpia_title": "Data protection impact assessment (DPIA)",
    "dpia_intro": "Assessment under GDPR art. 35(7): (a) a systematic description of the processing, (b) its "
    "necessity and proportionality, (c) the risks to the data subjects' rights and freedoms and (d) the "
    "measures to address them, with the data protection officer's advice (art. 35(2)).",
    "screening": "Screening",
    "dpia_required": "A DPIA is required because",
    "dpia_not_required": "No trigger holds; a DPIA is not required. The screening is kept as the record.",
    "trigger_ai": "AI",
    "trigger_new_technology": "New technology",
    "trigger_linkage": "Linkage of sources",
    "trigger_no_consent": "No consent",
    "trigger_large_scale": "Large scale",
    "trigger_vulnerable_groups": "Vulnerable groups",
    "trigger_wp248": "Two or more WP248 criteria",
    "wp248_criterion": "Criterion (Article 29 Working Party, WP248)",
    "holds": "Holds",
    "vulnerable_groups": "Vulnerable groups",
    "dpia_description": "Systematic description of the processing (art. 35(7)(a))",
    "data_subjects": "Data subjects",
    "data_categories": "Data categories (variables)",
    "nature": "Nature",
    "context": "Context",
    "data_flow": "Data flow",
    "recipients_and_processors": "Recipients and processors",
    "necessity_proportionality": "Necessity and proportionality (art. 35(7)(b))",
    "necessity": "Necessity",
    "minimisation": "Data minimisation",
    "storage_limitation": "Storage limitation",
    "data_subject_rights": "Data subjects' rights",
    "dpia_risks": "Risks to the data subjects (art. 35(7)(c))",
    "dpo_opinion": "The data protection officer's advice",
    "advice": "Advice",
    "advice_followed": "Advice followed",
    "residual_risk_conclusion": "Residual risk and prior consultation",
    "highest_residual": "Highest residual risk",
    "prior_consultation": "Prior consultation with Datatilsynet (art. 36)",
    "prior_consultation_required": "High residual risk remains: prior consultation with Datatilsynet "
    "(GDPR art. 36) is required before processing.",
    "prior_consultation_not_required": "No high residual risk remains; prior consultation (art. 36) is not "
    "required.",
    # risks / ROS
    "ros_title": "Risk and vulnerability analysis (ROS)",
    "ros_bands_text": "Risk = likelihood (S) × consequence (K), each 1-5. Bands: 🟩 green ≤ 4, "
    "🟨 yellow 5-12, 🟥 red ≥ 15. A red residual risk needs the risk owner's explicit acceptance.",
    "risk_matrix": "Risk matrix (residual risk)",
    "risk_matrix_text": "Each cell lists the risks at that likelihood and consequence after measures.",
    "risk_register": "Risk register",
    "risk_details": "Risks in detail",
    "risk_id": "Id",
    "risk_event": "Unwanted event",
    "risk_asset": "Asset",
    "risk_dimensions": "Threatens",
    "likelihood": "Likelihood",
    "consequence": "Consequence",
    "likelihood_short": "S",
    "consequence_short": "K",
    "score": "Score",
    "existing_controls": "Existing controls",
    "residual_risk": "Residual risk",
    "risk_owner": "Risk owner",
    "acceptance": "Acceptance",
    "acceptance_needed": "acceptance needed",
    "acceptance_not_needed": "not needed",
    # benefit plan
    "benefit_title": "Benefit realisation plan",
    "rationale": "Rationale and goals",
    "benefit_owner": "Benefit owner",
    "kpi_overview": "Overview of KPIs",
    "benefit": "Benefit",
    "benefits": "Benefits",
    "benefit_type": "Type of benefit",
    "kpi": "KPI",
    "baseline": "Baseline",
    "baseline_method": "How the baseline was measured",
    "measured": "measured",
    "target": "Target",
    "by_date": "by",
    "measurement_frequency": "Measured",
    "measurement_plan": "Measurement plan",
    "definition": "Definition",
    "unit": "Unit",
    "query": "Query",
    "direction": "Desired direction",
    "preconditions": "Preconditions",
    "risks_and_side_effects": "Risks and side effects (patient safety, equity)",
    "review_plan": "Reviews",
    # AI
    "ai_stage": "Stage",
    "affects_patient_care": "Affects patient care",
    "model_card_title": "Model card",
    "model_card_intro": "After Mitchell et al., Model Cards for Model Reporting (2019).",
    "model_details": "Model details",
    "model_type": "Model type",
    "developers": "Developers",
    "intended_use": "Intended use",
    "intended_purpose": "Intended purpose",
    "primary_uses": "Primary uses",
    "primary_users": "Primary users",
    "out_of_scope": "Out of scope",
    "factors": "Factors",
    "metrics": "Metrics",
    "decision_thresholds": "Decision thresholds",
    "training_data": "Training data",
    "evaluation_data": "Evaluation data",
    "quantitative_analyses": "Quantitative analyses",
    "ethical_considerations": "Ethical considerations",
    "caveats": "Caveats and recommendations",
    "datasheet_title": "Datasheet for the data",
    "datasheet_intro": "After Gebru et al., Datasheets for Datasets (2021), and AI Act art. 10 (data "
    "governance).",
    "datasheet_motivation": "Motivation",
    "datasheet_motivation_q": "Why was the dataset created, and by whom?",
    "datasheet_composition": "Composition",
    "datasheet_composition_q": "What do the records represent, how many are there, what is missing?",
    "datasheet_collection": "Collection",
    "datasheet_collection_q": "How were the data collected, with what consent and ethics review?",
    "datasheet_preprocessing": "Preprocessing",
    "datasheet_preprocessing_q": "What cleaning, coarsening or labelling was done?",
    "datasheet_uses": "Uses",
    "datasheet_uses_q": "What may the data be used for, and what not?",
    "datasheet_distribution": "Distribution",
    "datasheet_distribution_q": "Who receives the data or anything derived from them?",
    "datasheet_maintenance": "Maintenance",
    "datasheet_maintenance_q": "Who maintains the data, and when are they deleted?",
    "annex_iv_title": "Technical documentation (AI Act Annex IV)",
    "annex_iv_intro": "Skeleton of the technical documentation of Regulation (EU) 2024/1689 Annex IV. For a "
    "medical device it forms one file with the MDR documentation (art. 11(2)).",
    "annex_general_description": "General description of the AI system",
    "annex_development_methods": "Development methods and steps",
    "annex_architecture_and_compute": "System architecture and computational resources",
    "annex_data_and_governance": "Data requirements and data governance (art. 10)",
    "annex_human_oversight": "Assessment of human oversight measures (art. 14)",
    "annex_predetermined_changes": "Pre-determined changes",
    "annex_validation_and_testing": "Validation and testing, with signed test logs",
    "annex_discriminatory_impact": "Potentially discriminatory impacts",
    "annex_cybersecurity": "Cybersecurity measures",
    "annex_monitoring_and_control": "Monitoring, functioning and control",
    "annex_metric_appropriateness": "Appropriateness of the performance metrics",
    "annex_risk_management": "Risk management system (art. 9)",
    "annex_lifecycle_changes": "Changes through the life cycle",
    "annex_standards_applied": "Harmonised standards and specifications applied",
    "annex_declaration_of_conformity": "EU declaration of conformity",
    "annex_post_market_monitoring": "Post-market monitoring plan",
    "oversight_title": "Human oversight and logging plan",
    "oversight_intro": "How people oversee the AI system (AI Act art. 14) and which events are logged "
    "automatically (art. 12), kept (art. 19, 26(6)) and reviewed (Normen).",
    "human_oversight": "Human oversight",
    "overseers": "Overseers",
    "competence": "Competence and training",
    "automation_bias": "Against automation bias",
    "interpretation": "Interpreting the output",
    "override": "Overriding or not using the output",
    "stop": "Stopping the system safely",
    "logging": "Logging",
    "logged_events": "Events logged automatically",
    "log_retention": "Logs kept",
    "log_retention_min": "at least 6 months",
    "log_review": "Log review",
    "tripod_title": "TRIPOD+AI checklist",
    "tripod_intro": "Reporting checklist for prediction models using regression or machine learning (Collins "
    "et "
    "al., BMJ 2024;385:e078378). Item topics are paraphrased; the published checklist is authoritative.",
    "tripod_progress": "Progress",
    "where_reported": "Where reported",
    # patient information
    "pi_intro": "This is information about a research project that uses information about you.",
    "pi_what": "What is the project about?",
    "pi_why": "Why do we do this?",
    "pi_which_data": "Which information do we use?",
    "pi_who_has_access": "Who can see the information?",
    "pi_ai_use": "How do we use artificial intelligence?",
    "pi_risks_and_benefits": "Risks and benefits",
    "pi_legal_basis": "Why we may use the information",
    "pi_your_rights": "Your rights",
    "pi_contact": "Contact",
    "pi_facts": "Facts about the project",
}

_LABELS_NB: dict[str, str] = {
    "missing": "ikke utfylt",
    "yes": "ja",
    "no": "nei",
    "band_green": "grønn",
    "band_yellow": "gul",
    "band_red": "rød",
    "project": "Prosjekt",
    "project_id": "Prosjekt-ID",
    "institution": "Institusjon",
    "project_leader": "Prosjektleder",
    "period": "Prosjektperiode",
    "status": "Status",
    "approved_by": "Godkjent av",
    "approved_date": "Godkjent dato",
    "review_date": "Neste gjennomgang",
    "generated_from": "Generert fra",
    "not_legal_advice": "Rettslig grunnlag og vurderinger bekreftes av personvernombudet; dokumentet er ikke "
    "juridisk rådgivning.",
    "name": "Navn",
    "date": "Dato",
    "title": "Tittel",
    "purpose": "Formål",
    "role": "Rolle",
    "members": "Medlemmer med tilgang",
    "training_date": "Personvernopplæring",
    "confidentiality_signed": "Taushetserklæring signert",
    "source": "Kilde",
    "variables": "Variabler",
    "variable": "Variabel",
    "justification": "Begrunnelse",
    "identifiability": "Identifiserbarhet",
    "granularity": "Detaljnivå",
    "cohort": "Kohort",
    "cohort_window": "Tidsvindu for kohorten",
    "code_system": "Kodeverk",
    "code": "Kode",
    "meaning": "Betydning",
    "why_not_anonymous": "Hvorfor anonyme data ikke er tilstrekkelig",
    "legal_basis": "Rettslig grunnlag",
    "gdpr_art6": "GDPR art. 6 nr. 1",
    "gdpr_art9": "GDPR art. 9 nr. 2",
    "national_basis": "Nasjonalt rettsgrunnlag",
    "approvals": "Godkjenninger",
    "approval_type": "Godkjenning",
    "reference": "Referanse",
    "valid_until": "Gyldig til",
    "start_date": "Startdato",
    "end_date": "Sluttdato",
    "deletion_date": "Slettedato",
    "scope": "Omfang",
    "method": "Metode",
    "measures": "Tiltak",
    "notes": "Merknader",
    "none_listed": "ingen",
    "version": "Versjon",
    "value": "Verdi",
    "group": "Gruppe",
    "data": "Data",
    "metric": "Mål",
    "owner": "ansvarlig",
    "months": "måneder",
    "item": "Punkt",
    "topic": "Tema",
    "doc_rek_application": "Forskningssøknad (REK)",
    "doc_data_request": "Dataforespørsel",
    "doc_dpia": "Vurdering av personvernkonsekvenser (DPIA)",
    "doc_ros": "Risiko- og sårbarhetsanalyse (ROS)",
    "doc_benefit_plan": "Gevinstrealiseringsplan",
    "doc_model_card": "Modellkort",
    "doc_datasheet": "Datablad for dataene",
    "doc_annex_iv": "Teknisk dokumentasjon (KI-forordningen vedlegg IV)",
    "doc_oversight_logging": "Plan for menneskelig tilsyn og logging",
    "doc_tripod_ai": "TRIPOD+AI-sjekkliste",
    "doc_patient_information": "Informasjon til pasienter",
    "rek_title": "Forskningssøknad (REK)",
    "rek_intro": "Søknad om forhåndsgodkjenning av et medisinsk og helsefaglig forskningsprosjekt "
    "(helseforskningsloven §§ 9-10, forskningsforskriften §§ 7-8), med søknad om dispensasjon fra "
    "taushetsplikt (§ 35) der det er aktuelt.",
    "identification": "Identifikasjon",
    "lay_summary": "Populærvitenskapelig sammendrag",
    "responsibility": "Ansvar",
    "responsible_institution": "Forskningsansvarlig institusjon",
    "science": "Faglig innhold",
    "design": "Design",
    "design_register": "Registerbasert kohortstudie på sykehusdata (sekundærbruk)",
    "expected_subjects": "Forventet antall registrerte",
    "ai_system": "KI-system",
    "linkage_text": "Tabellene kobles med et prosjektspesifikt pseudonym; fødselsnummeret utleveres aldri, "
    "og "
    "koblingsnøkkelen blir hos helsedatasenteret.",
    "see_data_request": "Hver variabel og begrunnelsen for den står i dataforespørselen.",
    "consent": "Samtykke",
    "consent_yes": "De registrerte samtykker (helseforskningsloven § 13).",
    "consent_no": "Uten samtykke; dispensasjon fra taushetsplikt eller annet lovgrunnlag brukes.",
    "processing": "Behandling av opplysningene",
    "storage_security": "Lagring og sikkerhet",
    "sandbox_text": "Bare i helsedatasenterets forskningssandkasse: ett lukket arbeidsområde per prosjekt, "
    "uten "
    "internettilgang, personlige brukere og tilgangslogging.",
    "deidentification": "Avidentifisering og koblingsnøkkel",
    "pseudonym_text": "Prosjektspesifikke pseudonymer (nøklet HMAC); datoer og steder grovinndelt som søkt; "
    "nøkkelen oppbevares av helsedatasenteret, aldri i arbeidsområdet.",
    "access": "Tilgang",
    "access_text": "Bare de navngitte medlemmene, etter tjenstlig behov, i prosjektperioden.",
    "transfers": "Overføring ut av EØS",
    "no_transfers": "Ingen.",
    "dp_budget": "Budsjett for differensielt personvern",
    "disclosure_profile": "Utleveringskontroll av resultater",
    "benefit_and_risk": "Nytte og risiko",
    "ros_summary": "Risikovurdering (ROS)",
    "risks": "risikoer",
    "residual": "restrisiko",
    "time": "Tidsramme",
    "attachments": "Dokumenter i denne søknaden",
    "data_request_title": "Dataforespørsel",
    "dpia_title": "Vurdering av personvernkonsekvenser (DPIA)",
    "dpia_intro": "Vurdering etter GDPR art. 35 nr. 7: a) en systematisk beskrivelse av behandlingen, b) "
    "nødvendighet og forholdsmessighet, c) risikoene for de registrertes rettigheter og friheter og d) "
    "tiltakene mot dem, med personvernombudets råd (art. 35 nr. 2).",
    "screening": "Innledende vurdering",
    "dpia_required": "En DPIA er påkrevd fordi",
    "dpia_not_required": "Ingen utløsende kriterier er oppfylt; en DPIA er ikke påkrevd. Vurderingen "
    "oppbevares som dokumentasjon.",
    "trigger_ai": "Kunstig intelligens",
    "trigger_new_technology": "Ny teknologi",
    "trigger_linkage": "Sammenstilling av kilder",
    "trigger_no_consent": "Uten samtykke",
    "trigger_large_scale": "Stor skala",
    "trigger_vulnerable_groups": "Sårbare grupper",
    "trigger_wp248": "To eller flere WP248-kriterier",
    "wp248_criterion": "Kriterium (Artikkel 29-gruppen, WP248)",
    "holds": "Oppfylt",
    "vulnerable_groups": "Sårbare grupper",
    "dpia_description": "Systematisk beskrivelse av behandlingen (art. 35 nr. 7 a)",
    "data_subjects": "Registrerte",
    "data_categories": "Opplysningskategorier (variabler)",
    "nature": "Art",
    "context": "Sammenheng",
    "data_flow": "Dataflyt",
    "recipients_and_processors": "Mottakere og databehandlere",
    "necessity_proportionality": "Nødvendighet og forholdsmessighet (art. 35 nr. 7 b)",
    "necessity": "Nødvendighet",
    "minimisation": "Dataminimering",
    "storage_limitation": "Lagringsbegrensning",
    "data_subject_rights": "De registrertes rettigheter",
    "dpia_risks": "Risikoer for de registrerte (art. 35 nr. 7 c)",
    "dpo_opinion": "Personvernombudets råd",
    "advice": "Råd",
    "advice_followed": "Rådet fulgt",
    "residual_risk_conclusion": "Restrisiko og forhåndsdrøfting",
    "highest_residual": "Høyeste restrisiko",
    "prior_consultation": "Forhåndsdrøfting med Datatilsynet (art. 36)",
    "prior_consultation_required": "Høy restrisiko gjenstår: forhåndsdrøfting med Datatilsynet (GDPR art. "
    "36) "
    "er påkrevd før behandlingen starter.",
    "prior_consultation_not_required": "Ingen høy restrisiko gjenstår; forhåndsdrøfting (art. 36) er ikke "
    "påkrevd.",
    "ros_title": "Risiko- og sårbarhetsanalyse (ROS)",
    "ros_bands_text": "Risiko = sannsynlighet (S) × konsekvens (K), hver 1-5. Nivåer: 🟩 grønn ≤ 4, 🟨 gul "
    "5-12, "
    "🟥 rød ≥ 15. En rød restrisiko krever uttrykkelig aksept fra risikoeier.",
    "risk_matrix": "Risikomatrise (restrisiko)",
    "risk_matrix_text": "Hver celle viser risikoene med den sannsynligheten og konsekvensen etter tiltak.",
    "risk_register": "Risikoregister",
    "risk_details": "Risikoene i detalj",
    "risk_id": "ID",
    "risk_event": "Uønsket hendelse",
    "risk_asset": "Verdi",
    "risk_dimensions": "Truer",
    "likelihood": "Sannsynlighet",
    "consequence": "Konsekvens",
    "likelihood_short": "S",
    "consequence_short": "K",
    "score": "Risikotall",
    "existing_controls": "Eksisterende tiltak",
    "residual_risk": "Restrisiko",
    "risk_owner": "Risikoeier",
    "acceptance": "Aksept",
    "acceptance_needed": "aksept påkrevd",
    "acceptance_not_needed": "ikke nødvendig",
    "benefit_title": "Gevinstrealiseringsplan",
    "rationale": "Begrunnelse og mål",
    "benefit_owner": "Gevinsteier",
    "kpi_overview": "Oversikt over styringsindikatorer",
    "benefit": "Gevinst",
    "benefits": "Gevinster",
    "benefit_type": "Type gevinst",
    "kpi": "Indikator",
    "baseline": "Nullpunkt",
    "baseline_method": "Slik ble nullpunktet målt",
    "measured": "målt",
    "target": "Mål",
    "by_date": "innen",
    "measurement_frequency": "Måles",
    "measurement_plan": "Måleplan",
    "definition": "Definisjon",
    "unit": "Enhet",
    "query": "Spørring",
    "direction": "Ønsket retning",
    "preconditions": "Forutsetninger",
    "risks_and_side_effects": "Risiko og bivirkninger (pasientsikkerhet, likeverd)",
    "review_plan": "Gjennomganger",
    "ai_stage": "Fase",
    "affects_patient_care": "Påvirker pasientbehandling",
    "model_card_title": "Modellkort",
    "model_card_intro": "Etter Mitchell mfl., Model Cards for Model Reporting (2019).",
    "model_details": "Om modellen",
    "model_type": "Modelltype",
    "developers": "Utviklere",
    "intended_use": "Tiltenkt bruk",
    "intended_purpose": "Tiltenkt formål",
    "primary_uses": "Hovedbruk",
    "primary_users": "Hovedbrukere",
    "out_of_scope": "Utenfor tiltenkt bruk",
    "factors": "Faktorer",
    "metrics": "Mål for ytelse",
    "decision_thresholds": "Beslutningsterskler",
    "training_data": "Treningsdata",
    "evaluation_data": "Evalueringsdata",
    "quantitative_analyses": "Kvantitative analyser",
    "ethical_considerations": "Etiske hensyn",
    "caveats": "Forbehold og anbefalinger",
    "datasheet_title": "Datablad for dataene",
    "datasheet_intro": "Etter Gebru mfl., Datasheets for Datasets (2021), og KI-forordningen art. 10 "
    "(datastyring).",
    "datasheet_motivation": "Motivasjon",
    "datasheet_motivation_q": "Hvorfor ble datasettet laget, og av hvem?",
    "datasheet_composition": "Innhold",
    "datasheet_composition_q": "Hva representerer radene, hvor mange er de, og hva mangler?",
    "datasheet_collection": "Innsamling",
    "datasheet_collection_q": "Hvordan ble dataene samlet inn, med hvilket samtykke og hvilken etisk "
    "vurdering?",
    "datasheet_preprocessing": "Forbehandling",
    "datasheet_preprocessing_q": "Hvilken rensing, grovinndeling eller merking er gjort?",
    "datasheet_uses": "Bruk",
    "datasheet_uses_q": "Hva kan dataene brukes til, og hva ikke?",
    "datasheet_distribution": "Utlevering",
    "datasheet_distribution_q": "Hvem får dataene eller noe som er avledet av dem?",
    "datasheet_maintenance": "Forvaltning",
    "datasheet_maintenance_q": "Hvem forvalter dataene, og når slettes de?",
    "annex_iv_title": "Teknisk dokumentasjon (KI-forordningen vedlegg IV)",
    "annex_iv_intro": "Skjelett for den tekniske dokumentasjonen etter forordning (EU) 2024/1689 vedlegg IV. "
    "For "
    "medisinsk utstyr utgjør den én fil med MDR-dokumentasjonen (art. 11 nr. 2).",
    "annex_general_description": "Generell beskrivelse av KI-systemet",
    "annex_development_methods": "Utviklingsmetoder og -trinn",
    "annex_architecture_and_compute": "Systemarkitektur og beregningsressurser",
    "annex_data_and_governance": "Datakrav og datastyring (art. 10)",
    "annex_human_oversight": "Vurdering av tiltak for menneskelig tilsyn (art. 14)",
    "annex_predetermined_changes": "Forhåndsbestemte endringer",
    "annex_validation_and_testing": "Validering og testing, med signerte testlogger",
    "annex_discriminatory_impact": "Mulige diskriminerende virkninger",
    "annex_cybersecurity": "Tiltak for cybersikkerhet",
    "annex_monitoring_and_control": "Overvåking, funksjon og kontroll",
    "annex_metric_appropriateness": "Egnethet av ytelsesmålene",
    "annex_risk_management": "Risikostyringssystem (art. 9)",
    "annex_lifecycle_changes": "Endringer gjennom livsløpet",
    "annex_standards_applied": "Harmoniserte standarder og spesifikasjoner som er brukt",
    "annex_declaration_of_conformity": "EU-samsvarserklæring",
    "annex_post_market_monitoring": "Plan for overvåking etter markedsføring",
    "oversight_title": "Plan for menneskelig tilsyn og logging",
    "oversight_intro": "Hvordan mennesker fører tilsyn med KI-systemet (KI-forordningen art. 14), og hvilke "
    "hendelser som logges automatisk (art. 12), oppbevares (art. 19, 26 nr. 6) og gjennomgås (Normen).",
    "human_oversight": "Menneskelig tilsyn",
    "overseers": "Tilsynsansvarlige",
    "competence": "Kompetanse og opplæring",
    "automation_bias": "Mot automatiseringsskjevhet",
    "interpretation": "Tolkning av resultatet",
    "override": "Overstyre eller la være å bruke resultatet",
    "stop": "Stanse systemet trygt",
    "logging": "Logging",
    "logged_events": "Hendelser som logges automatisk",
    "log_retention": "Logger oppbevares",
    "log_retention_min": "minst 6 måneder",
    "log_review": "Gjennomgang av logger",
    "tripod_title": "TRIPOD+AI-sjekkliste",
    "tripod_intro": "Sjekkliste for rapportering av prediksjonsmodeller med regresjon eller maskinlæring "
    "(Collins "
    "mfl., BMJ 2024;385:e078378). Temaene er gjengitt med egne ord; den publiserte sjekklisten gjelder.",
    "tripod_progress": "Fremdrift",
    "where_reported": "Hvor rapportert",
    "pi_intro": "Dette er informasjon om et forskningsprosjekt som bruker opplysninger om deg.",
    "pi_what": "Hva handler prosjektet om?",
    "pi_why": "Hvorfor gjør vi dette?",
    "pi_which_data": "Hvilke opplysninger bruker vi?",
    "pi_who_has_access": "Hvem kan se opplysningene?",
    "pi_ai_use": "Hvordan bruker vi kunstig intelligens?",
    "pi_risks_and_benefits": "Risiko og nytte",
    "pi_legal_basis": "Hvorfor vi kan bruke opplysningene",
    "pi_your_rights": "Dine rettigheter",
    "pi_contact": "Kontakt",
    "pi_facts": "Fakta om prosjektet",
}

LABELS: dict[str, dict[str, str]] = {"nb": _LABELS_NB, "en": _LABELS_EN}

_TRIPOD_SECTIONS_EN = {
    "title_abstract": "Title and abstract",
    "introduction": "Introduction",
    "methods": "Methods",
    "open_science": "Open science",
    "results": "Results",
    "discussion": "Discussion",
}

#: Terms for closed-list codes, per language and category. English comes from the vocabularies.
TERMS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "purpose": dict(voc.PURPOSES),
        "art6": dict(voc.GDPR_ART6),
        "art9": dict(voc.GDPR_ART9),
        "national": dict(voc.NATIONAL_BASES),
        "role": dict(voc.ROLES),
        "approval_type": dict(voc.APPROVAL_TYPES),
        "approval_status": dict(voc.APPROVAL_STATUSES),
        "risk_profile": dict(voc.RISK_PROFILES),
        "dataset": dict(voc.DATASETS),
        "identifiability": dict(voc.IDENTIFIABILITY),
        "granularity": dict(voc.GRANULARITIES),
        "stage": dict(AI_STAGES),
        "dimension": dict(DIMENSIONS),
        "benefit_type": dict(BENEFIT_TYPES),
        "status": dict(DOCUMENT_STATUSES),
        "direction": {"increase": "increase", "decrease": "decrease"},
        "wp248": dict(WP248_CRITERIA),
        "tripod_status": dict(TRIPOD_STATUSES),
        "tripod_section": _TRIPOD_SECTIONS_EN,
        "tripod_item": {k: topic for k, (_s, topic) in TRIPOD_AI_ITEMS.items()},
    },
    "nb": {
        "purpose": {
            "public_interest_public_health": "allmenne interesser innen folkehelse og arbeidshelse (EHDS "
            "art. 53 nr. 1 a)",
            "policy_making": "politikkutforming og myndighetsutøvelse (EHDS art. 53 nr. 1 b)",
            "statistics": "offisiell statistikk om helse og omsorg (EHDS art. 53 nr. 1 c)",
            "education": "utdanning og undervisning innen helse og omsorg (EHDS art. 53 nr. 1 d)",
            "scientific_research": "vitenskapelig forskning om helse og omsorg (EHDS art. 53 nr. 1 e)",
            "innovation_development": "utvikling og innovasjon av produkter og tjenester (EHDS art. 53 nr. 1 "
            "e i)",
            "innovation_ai_training": "trening, testing og evaluering av algoritmer og KI (EHDS art. 53 nr. "
            "1 e ii)",
            "personalised_medicine": "bedre helsehjelp, behandling og persontilpasset medisin (EHDS art. 53 "
            "nr. 1 f)",
        },
        "art6": {
            "a": "art. 6 nr. 1 a samtykke",
            "c": "art. 6 nr. 1 c rettslig forpliktelse",
            "e": "art. 6 nr. 1 e oppgave i allmennhetens interesse eller offentlig myndighetsutøvelse",
        },
        "art9": {
            "a": "art. 9 nr. 2 a uttrykkelig samtykke",
            "h": "art. 9 nr. 2 h helsehjelp, behandling og forvaltning av helsetjenester",
            "i": "art. 9 nr. 2 i allmennhetens interesse på folkehelseområdet",
            "j": "art. 9 nr. 2 j vitenskapelig forskning eller statistikk (med garantier etter art. 89)",
        },
        "national": {
            "helseforskningsloven_9": "helseforskningsloven § 9 (forhåndsgodkjenning fra REK)",
            "helseforskningsloven_13": "helseforskningsloven § 13 (bredt eller spesifikt samtykke)",
            "helseforskningsloven_35": "helseforskningsloven § 35 (dispensasjon fra taushetsplikt for "
            "forskning)",
            "helseregisterloven_19a": "helseregisterloven § 19 a (tilgjengeliggjøring av helsedata)",
            "helseregisterloven_19b": "helseregisterloven § 19 b (utlevering fra helseregistre)",
            "helseregisterloven_19c": "helseregisterloven § 19 c (tilgang til helsedata)",
            "helseregisterloven_19d": "helseregisterloven § 19 d (sammenstilling av registre)",
            "helseregisterloven_19e": "helseregisterloven § 19 e (taushetsplikt for mottakere)",
            "helsepersonelloven_29": "helsepersonelloven § 29 (dispensasjon fra taushetsplikt)",
            "forvaltningsloven_13d": "forvaltningsloven § 13 d (dispensasjon fra taushetsplikt for "
            "forskning)",
            "personopplysningsloven_8": "personopplysningsloven § 8 (forskning, statistikk, arkiv)",
            "personopplysningsloven_9": "personopplysningsloven § 9 (garantier for særlige kategorier)",
        },
        "role": {
            "project_leader": "prosjektleder, ansvarlig for prosjektet",
            "researcher": "forsker som arbeider med dataene",
            "data_steward": "dataforvalter ved helsedatasenteret",
            "output_checker": "kontrollerer resultater for identifiseringsrisiko før utlevering",
        },
        "approval_type": {
            "rek": "REK (regional komité for medisinsk og helsefaglig forskningsetikk)",
            "dpo": "personvernombudets vurdering",
            "exemption_from_confidentiality": "dispensasjon fra taushetsplikt",
            "data_owner": "dataansvarliges godkjenning av utleveringen",
        },
        "approval_status": {"pending": "søkt, ikke avgjort", "approved": "godkjent", "rejected": "avslått"},
        "risk_profile": {
            "acro-default": "ACRO-standard: minste celle 10, nuller avslørende, N-K 2/90 %, p-prosent 10 %",
            "opensafely": "OpenSAFELY: tall på 7 eller mindre skjules, resten rundes til 5",
            "nhs-sde": "NHS England SDE: tall under 10 skjules, resten rundes til 5",
        },
        "dataset": {
            "patients": "pasienter: fødselsdato, kjønn, kommune, dødsdato",
            "episodes": "sykehusopphold: innleggelse, utskrivning, avdeling, omsorgsnivå, hastegrad",
            "diagnoses": "ICD-10-diagnoser registrert på oppholdene",
            "prescriptions": "utleverte resepter med ATC-koder",
            "lab_results": "laboratoriesvar (NPU-koder)",
        },
        "identifiability": {
            "pseudonymised": "radnivå, koblet med prosjektspesifikt pseudonym",
            "coarsened": "radnivå med grovinndelt verdi (datoer, steder, alder)",
            "aggregated": "bare aggregert over grupper",
        },
        "granularity": {
            "as_is": "verdien slik den er registrert",
            "day": "tidspunkt avkortet til dag",
            "month": "dato avkortet til måned",
            "year": "dato avkortet til år",
            "county": "kommunenummer redusert til fylke",
            "5y_band": "femårsgrupper",
            "10y_band": "tiårsgrupper",
        },
        "stage": {
            "research": "utviklet og brukt bare til vitenskapelig forskning (KI-forordningen art. 2 nr. 6)",
            "clinical_validation": "testes i klinisk praksis på ekte pasienter",
            "production": "i klinisk bruk",
        },
        "dimension": {
            "confidentiality": "konfidensialitet",
            "integrity": "integritet",
            "availability": "tilgjengelighet",
            "patient_safety": "pasientsikkerhet",
            "rights_and_freedoms": "de registrertes rettigheter og friheter",
        },
        "benefit_type": {
            "efficiency": "effektivisering (spart tid eller penger)",
            "quality": "bedre kvalitet i helsehjelpen",
            "benefit_for_others": "nytte for pasienter, pårørende eller samfunnet",
        },
        "status": {"draft": "utkast", "approved": "godkjent"},
        "direction": {"increase": "økning", "decrease": "reduksjon"},
        "wp248": {
            "evaluation_or_scoring": "evaluering eller poengsetting, også profilering og prediksjon",
            "automated_decisions": "automatiserte beslutninger med rettsvirkning eller tilsvarende betydning",
            "systematic_monitoring": "systematisk overvåking",
            "sensitive_data": "sensitive opplysninger eller opplysninger av svært personlig karakter",
            "large_scale": "behandling i stor skala",
            "matching_datasets": "sammenstilling eller kombinasjon av datasett",
            "vulnerable_subjects": "opplysninger om sårbare registrerte",
            "innovative_technology": "innovativ bruk eller nye teknologiske eller organisatoriske løsninger",
            "prevents_rights": "behandling som hindrer de registrerte i å utøve en rettighet eller bruke en "
            "tjeneste",
        },
        "tripod_status": {
            "reported": "rapportert",
            "not_applicable": "ikke relevant",
            "not_yet": "ikke rapportert ennå",
        },
        "tripod_section": {
            "title_abstract": "Tittel og sammendrag",
            "introduction": "Innledning",
            "methods": "Metode",
            "open_science": "Åpen forskning",
            "results": "Resultater",
            "discussion": "Diskusjon",
        },
        "tripod_item": {
            "1": "Tittel",
            "2": "Sammendrag",
            "3a": "Helsefaglig kontekst og begrunnelse",
            "3b": "Målgruppe, plass i pasientforløpet, tiltenkte brukere",
            "3c": "Kjente ulikheter i helse mellom grupper",
            "4": "Mål (utvikling, evaluering eller begge)",
            "5a": "Datakilder og hvor representative de er",
            "5b": "Datoer for datainnsamling og oppfølging",
            "6a": "Setting og sentre",
            "6b": "Inklusjonskriterier",
            "6c": "Behandling som er gitt",
            "7": "Klargjøring av data og kvalitetskontroll",
            "8a": "Definisjon av utfall, hvordan og når det er vurdert",
            "8b": "Kvalifikasjoner hos dem som vurderte utfallet",
            "8c": "Blinding av utfallsvurderingen",
            "9a": "Valg av prediktorer",
            "9b": "Definisjon av prediktorer, hvordan og når de er målt",
            "9c": "Kvalifikasjoner hos dem som vurderte prediktorene",
            "10": "Utvalgsstørrelse",
            "11": "Manglende data",
            "12a": "Hvordan dataene ble brukt (utvikling, evaluering)",
            "12b": "Håndtering av prediktorer",
            "12c": "Modelltype, bygging, tuning og intern validering",
            "12d": "Heterogenitet mellom klynger eller sentre",
            "12e": "Mål for ytelse",
            "12f": "Oppdatering og rekalibrering av modellen",
            "12g": "Hvordan prediksjoner ble beregnet i evalueringen",
            "13": "Skjev klassefordeling",
            "14": "Rettferdighet",
            "15": "Modellens resultat og terskler",
            "16": "Forskjeller mellom utviklings- og evalueringsdata",
            "17": "Etisk godkjenning",
            "18a": "Finansiering",
            "18b": "Interessekonflikter",
            "18c": "Protokoll",
            "18d": "Registrering",
            "18e": "Deling av data",
            "18f": "Deling av kode",
            "19": "Medvirkning fra pasienter og publikum",
            "20a": "Flyt av deltakere",
            "20b": "Kjennetegn ved deltakerne",
            "20c": "Sammenligning av utviklings- og evalueringsdata",
            "21": "Deltakere og utfallshendelser per analyse",
            "22": "Full spesifikasjon av modellen",
            "23a": "Modellens ytelse",
            "23b": "Ytelse i viktige undergrupper",
            "24": "Resultater av modelloppdatering",
            "25": "Tolkning",
            "26": "Begrensninger",
            "27a": "Håndtering av dårlige eller manglende inndata i bruk",
            "27b": "Samhandling med brukeren og nødvendig kompetanse",
            "27c": "Videre forskning og overførbarhet",
        },
    },
}
