"""Rules on the application's companion documents (DPIA, ROS, benefit plan, AI documentation, patient
information), reported all at once like :mod:`hdc_toolkit.projects.application_rules`.

:func:`check_documents` returns a :class:`~hdc_toolkit.results.Run` with one check per rule (key
``documents.<area>.<rule>``); each problem names file and field (``ros.yaml: risks[2].acceptance: ...``).
:func:`check_all` runs the application rules and these in one run: what ``hdc documents check`` (and
``hdc application check``) prints.

The rules the region's AI strategy asks for:

* **DPIA required** when any trigger holds (:func:`dpia_triggers`): AI or new technology; linkage of
  two or more sources; no consent; large scale; vulnerable groups; two or more WP248 criteria.
* **AI gate**: AI in clinical validation or production (or affecting patient care) needs a model card,
  datasheet, Annex IV documentation, an oversight and logging plan, approved ROS and DPIA with no
  unaccepted red residual risk, patient information that tells about the AI, and every KPI baseline
  measured before go-live.
* **Red residual risk** (score ≥ 15) needs the risk owner's explicit, dated acceptance.

Thresholds are named constants here; the legal ones are a local policy to be confirmed by the data
protection officer, not legal advice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hdc_toolkit.projects.application_rules import Problem, check_application
from hdc_toolkit.projects.documents import (
    DOCUMENT_FILES,
    TRIPOD_AI_ITEMS,
    ApplicationDocuments,
    PatientInformation,
    Risk,
    missing_fields,
)
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "CONSENT_ART9",
    "CONSENT_NATIONAL",
    "LARGE_SCALE_SUBJECTS",
    "LIX_WARN_ABOVE",
    "LOG_RETENTION_MIN_MONTHS",
    "RULES",
    "Trigger",
    "check_all",
    "check_documents",
    "dpia_triggers",
    "lix",
    "unaccepted_red_risks",
    "wp248_criteria",
]

#: More data subjects than this is "large scale" (local rule; WP248 gives no number).
LARGE_SCALE_SUBJECTS = 10_000
#: AI Act art. 19 and 26(6): automatically generated logs are kept at least six months.
LOG_RETENTION_MIN_MONTHS = 6
#: Readability (LIX) above which patient information is flagged; 40–50 is "medium" for adults.
LIX_WARN_ABOVE = 50
#: Bases that mean the data subjects consented.
CONSENT_ART9 = frozenset({"a"})
CONSENT_NATIONAL = frozenset({"helseforskningsloven_13"})


@dataclass(frozen=True)
class Trigger:
    """One reason a DPIA is required; ``key`` names it in labels and JSON, ``detail`` is language-neutral."""

    key: str
    reason: str
    detail: str = ""


def wp248_criteria(docs: ApplicationDocuments) -> dict[str, bool]:
    """Which of the nine WP248 criteria hold, from the application, the AI file and the screening."""
    app, s = docs.application, docs.dpia.screening if docs.dpia else None
    ai = docs.ai
    return {
        "evaluation_or_scoring": ai is not None or bool(s and s.evaluation_or_scoring),
        "automated_decisions": bool(s and s.automated_decisions),
        "systematic_monitoring": bool(s and s.systematic_monitoring),
        "sensitive_data": True,  # health data (GDPR art. 9) in every project of the data centre
        "large_scale": bool(
            s and s.expected_subjects is not None and s.expected_subjects > LARGE_SCALE_SUBJECTS
        ),
        "matching_datasets": len(app.data_request.datasets) >= 2,
        "vulnerable_subjects": bool(s and s.vulnerable_groups),
        "innovative_technology": ai is not None or bool(s and s.new_technology),
        "prevents_rights": bool(s and s.prevents_rights),
    }


def dpia_triggers(docs: ApplicationDocuments) -> list[Trigger]:
    """Every reason a DPIA is required (empty: not required)."""
    app, s = docs.application, docs.dpia.screening if docs.dpia else None
    out: list[Trigger] = []
    if docs.ai is not None:
        out.append(Trigger("ai", f"the project uses AI ({docs.ai.system_name})", docs.ai.system_name))
    elif s is not None and s.new_technology:
        out.append(Trigger("new_technology", "the screening declares new technology"))
    sources = [ds.dataset for ds in app.data_request.datasets]
    if len(sources) >= 2:
        out.append(
            Trigger(
                "linkage", f"{len(sources)} sources are linked ({', '.join(sources)})", ", ".join(sources)
            )
        )
    if not _consent_based(docs):
        out.append(Trigger("no_consent", "the data are processed without the data subjects' consent"))
    if s is not None and s.expected_subjects is not None and s.expected_subjects > LARGE_SCALE_SUBJECTS:
        out.append(
            Trigger(
                "large_scale",
                f"{s.expected_subjects} data subjects (more than {LARGE_SCALE_SUBJECTS})",
                f"{s.expected_subjects} > {LARGE_SCALE_SUBJECTS}",
            )
        )
    if s is not None and s.vulnerable_groups:
        groups = ", ".join(s.vulnerable_groups)
        out.append(Trigger("vulnerable_groups", f"vulnerable groups: {groups}", groups))
    criteria = [k for k, v in wp248_criteria(docs).items() if v]
    if len(criteria) >= 2:
        out.append(
            Trigger(
                "wp248", f"{len(criteria)} WP248 criteria hold ({', '.join(criteria)})", str(len(criteria))
            )
        )
    return out


def _consent_based(docs: ApplicationDocuments) -> bool:
    basis = docs.application.legal_basis
    return basis.gdpr_art9 in CONSENT_ART9 or bool(set(basis.national) & CONSENT_NATIONAL)


def _risks(docs: ApplicationDocuments) -> Iterator[tuple[str, str, Risk]]:
    """(file, path, risk) for every risk row of the ROS and the DPIA."""
    if docs.ros is not None:
        for i, r in enumerate(docs.ros.risks):
            yield DOCUMENT_FILES["ros"], f"risks[{i}]", r
    if docs.dpia is not None:
        for i, r in enumerate(docs.dpia.risks):
            yield DOCUMENT_FILES["dpia"], f"risks[{i}]", r


def _same_person(a: str | None, b: str | None) -> bool:
    norm = lambda s: " ".join((s or "").casefold().split())  # noqa: E731
    return bool(norm(a)) and norm(a) == norm(b)


def _acceptance_problem(r: Risk) -> str | None:
    """Why a red residual risk is not accepted (None when it is, or is not red)."""
    if r.residual_band != "red":
        return None
    score = f"residual score {r.residual_score}" + ("" if r.residual_assessed else " (not reassessed)")
    if not r.risk_owner:
        return f"risk {r.id} is red ({score}) and has no risk owner to accept it"
    if r.acceptance is None:
        return f"risk {r.id} is red ({score}) and its risk owner {r.risk_owner} has not accepted it"
    if not _same_person(r.acceptance.accepted_by, r.risk_owner):
        return (
            f"risk {r.id} is red ({score}); it was accepted by {r.acceptance.accepted_by}, "
            f"not by its risk owner {r.risk_owner}"
        )
    return None


def unaccepted_red_risks(docs: ApplicationDocuments) -> list[tuple[str, str, str]]:
    """(file, path, reason) for every red residual risk without its owner's acceptance."""
    out = []
    for file, path, r in _risks(docs):
        reason = _acceptance_problem(r)
        if reason:
            out.append((file, f"{path}.acceptance", reason))
    return out


def lix(text: str) -> float:
    """LIX readability: words per sentence + percentage of words longer than six letters."""
    words = re.findall(r"[^\W\d_]+", text)
    sentences = max(1, len(re.findall(r"[.!?:]+(?:\s|$)", text.strip())))
    if not words:
        return 0.0
    long_words = sum(1 for w in words if len(w) > 6)
    return len(words) / sentences + 100.0 * long_words / len(words)


# --- the rules ------------------------------------------------------------------------------------------


@dataclass
class _Context:
    docs: ApplicationDocuments
    today: dt.date
    for_provisioning: bool

    def p(self, doc: str, path: str, message: str, verdict: Verdict = Verdict.FAILED) -> Problem:
        return Problem(verdict, DOCUMENT_FILES.get(doc, doc), path, message)


def _dpia_required(c: _Context) -> list[Problem]:
    triggers = dpia_triggers(c.docs)
    dpia = c.docs.dpia
    if dpia is None:
        if triggers:
            reasons = "; ".join(t.reason for t in triggers)
            return [c.p("dpia", "", f"a DPIA is required ({reasons}) but there is no dpia.yaml")]
        return [
            c.p(
                "dpia",
                "",
                "missing: record the DPIA screening (expected number of data subjects, vulnerable "
                "groups, new technology) even where no DPIA turns out to be required",
            )
        ]
    if not triggers or dpia.description or dpia.necessity or dpia.risks or dpia.measures:
        return []
    reasons = "; ".join(t.reason for t in triggers)
    return [c.p("dpia", "", f"only the screening is recorded, but a DPIA is required ({reasons})")]


def _complete(name: str) -> Callable[[_Context], list[Problem]]:
    def rule(c: _Context) -> list[Problem]:
        doc = c.docs.document(name)
        if doc is None:
            return []
        verdict = Verdict.FAILED if _required(c, name) else Verdict.WARNING
        return [c.p(name, path, "is empty; fill it in", verdict) for path in missing_fields(doc)]

    rule.__name__ = f"_complete_{name}"
    return rule


def _required(c: _Context, name: str) -> bool:
    """Whether a document must be complete now (else gaps are warnings)."""
    d = c.docs
    gated = d.ai is not None and d.ai.gated
    if name == "dpia":
        return bool(dpia_triggers(d)) and (gated or c.for_provisioning)
    if name == "ros":
        return gated or c.for_provisioning
    return gated


def _risk_acceptance(c: _Context) -> list[Problem]:
    return [Problem(Verdict.FAILED, f, p, m) for f, p, m in unaccepted_red_risks(c.docs)]


def _risk_scores(c: _Context) -> list[Problem]:
    out = []
    for file, path, r in _risks(c.docs):
        if r.residual_assessed and r.residual_score > r.score:
            out.append(
                Problem(
                    Verdict.WARNING,
                    file,
                    f"{path}.residual_likelihood",
                    f"risk {r.id}: residual score {r.residual_score} is above the score before "
                    f"measures ({r.score}); measures should not raise a risk",
                )
            )
        if r.acceptance is not None and r.acceptance.date > c.today:
            out.append(
                Problem(
                    Verdict.FAILED, file, f"{path}.acceptance.date", f"{r.acceptance.date} is in the future"
                )
            )
    return out


def _approval(c: _Context, name: str) -> list[Problem]:
    doc = c.docs.document(name)
    if doc is None:
        return []
    out = []
    if doc.approved_date is not None and doc.approved_date > c.today:
        out.append(c.p(name, "approved_date", f"{doc.approved_date} is in the future"))
    if doc.status == "approved" and not doc.approved:
        out.append(c.p(name, "approved_by", "status is approved but approved_by or approved_date is empty"))
    if doc.status != "approved" and c.for_provisioning and (name == "ros" or dpia_triggers(c.docs)):
        out.append(c.p(name, "status", f"is {doc.status}; it must be approved before provisioning"))
    if doc.review_date is not None and doc.review_date < c.today:
        out.append(c.p(name, "review_date", f"the review was due on {doc.review_date}", Verdict.WARNING))
    return out


def _ros_required(c: _Context) -> list[Problem]:
    if c.docs.ros is not None:
        return _approval(c, "ros")
    return [
        c.p(
            "ros",
            "",
            "missing: every project processing health data needs a risk assessment (ROS; Normen)",
        )
    ]


def _dpia_approval(c: _Context) -> list[Problem]:
    return _approval(c, "dpia")


def _dpia_prior_consultation(c: _Context) -> list[Problem]:
    dpia = c.docs.dpia
    if dpia is None or dpia.prior_consultation is not None:
        return []
    red = [r.id for r in dpia.risks if r.residual_band == "red"]
    if not red:
        return []
    return [
        c.p(
            "dpia",
            "prior_consultation",
            f"high residual risk remains ({', '.join(red)}); GDPR art. 36 requires prior consultation "
            "with Datatilsynet before processing: record its reference and date",
        )
    ]


def _dpia_dpo(c: _Context) -> list[Problem]:
    op = c.docs.dpia.dpo_opinion if c.docs.dpia else None
    if op is None:
        return []
    out = []
    if op.date > c.today:
        out.append(c.p("dpia", "dpo_opinion.date", f"{op.date} is in the future"))
    if not op.followed and not op.reason_not_followed:
        out.append(
            c.p(
                "dpia",
                "dpo_opinion.reason_not_followed",
                "the DPO's advice was not followed; record why (GDPR art. 35(2))",
            )
        )
    return out


def _ai_declared(c: _Context) -> list[Problem]:
    if c.docs.ai is None and c.docs.application.purpose == "innovation_ai_training":
        return [
            Problem(
                Verdict.FAILED,
                DOCUMENT_FILES["ai"],
                "",
                "missing: the purpose innovation_ai_training means the project develops AI; describe it "
                "in ai.yaml",
            )
        ]
    return []


def _ai_gate(c: _Context) -> list[Problem]:
    d, ai = c.docs, c.docs.ai
    if ai is None or not ai.gated:
        return []
    why = f"{ai.system_name} is at stage {ai.stage}" + (
        " and affects patient care" if ai.affects_patient_care else ""
    )
    out = []
    for name, what in (
        ("model_card", "a model card"),
        ("datasheet", "a datasheet for the data"),
        ("annex_iv", "the Annex IV technical documentation"),
        ("oversight_logging", "a human oversight and logging plan"),
    ):
        if getattr(ai, name) is None:
            out.append(c.p("ai", name, f"missing; {why}, which needs {what}"))
    if ai.go_live is None:
        out.append(c.p("ai", "go_live", f"missing; {why}: give the planned go-live date"))
    for name, what in (("ros", "ROS"), ("dpia", "DPIA")):
        doc = d.document(name)
        if doc is None:
            out.append(c.p(name, "", f"missing; {why}, which needs an approved {what}"))
        elif not doc.approved:
            out.append(c.p(name, "status", f"is {doc.status}; {why}, which needs an approved {what}"))
    for file, path, reason in unaccepted_red_risks(d):
        out.append(Problem(Verdict.FAILED, file, path, f"{reason}; it blocks the AI gate ({why})"))
    pi = d.patient_information
    if pi is None:
        out.append(c.p("patient_information", "", f"missing; {why}: patients must be informed"))
    elif pi.ai_use is None:
        out.append(c.p("patient_information", "ai_use", f"missing; {why}: tell patients how AI is used"))
    out.extend(_baselines_before_go_live(c, why))
    return out


def _baselines_before_go_live(c: _Context, why: str) -> list[Problem]:
    plan, ai = c.docs.benefit, c.docs.ai
    assert ai is not None
    if plan is None:
        return [c.p("benefit", "", f"missing; {why}: a KPI baseline must be measured before go-live")]
    out = []
    for i, j, _b, k in plan.kpis():
        path = f"benefits[{i}].kpis[{j}].baseline"
        base = k.baseline
        if base is None or base.value is None or base.date is None:
            out.append(c.p("benefit", path, f"KPI {k.id} has no measured baseline; {why}"))
        elif base.date > c.today:
            out.append(
                c.p("benefit", f"{path}.date", f"KPI {k.id}: baseline date {base.date} is in the future")
            )
        elif ai.go_live is not None and base.date >= ai.go_live:
            out.append(
                c.p(
                    "benefit",
                    f"{path}.date",
                    f"KPI {k.id}: baseline measured {base.date}, not before go-live {ai.go_live}",
                )
            )
    return out


def _ai_logging(c: _Context) -> list[Problem]:
    ol = c.docs.ai.oversight_logging if c.docs.ai else None
    if ol is None or ol.log_retention_months is None:
        return []
    if ol.log_retention_months < LOG_RETENTION_MIN_MONTHS:
        return [
            c.p(
                "ai",
                "oversight_logging.log_retention_months",
                f"{ol.log_retention_months} months; logs are kept at least {LOG_RETENTION_MIN_MONTHS} "
                "months (AI Act art. 19, 26(6))",
            )
        ]
    return []


def _ai_tripod(c: _Context) -> list[Problem]:
    ai = c.docs.ai
    if ai is None:
        return []
    open_items = [i for i in TRIPOD_AI_ITEMS if ai.tripod(i).status == "not_yet"]
    if not open_items:
        return []
    return [
        c.p(
            "ai",
            "tripod_ai",
            f"{len(open_items)} of {len(TRIPOD_AI_ITEMS)} TRIPOD+AI items not yet reported "
            f"({', '.join(open_items)}); complete them before publication",
            Verdict.WARNING,
        )
    ]


def _benefit_required(c: _Context) -> list[Problem]:
    if c.docs.benefit is None and c.docs.ai is not None:
        return [
            c.p(
                "benefit",
                "",
                "missing: every AI initiative has a benefit goal, a KPI, a baseline and a measurement plan",
            )
        ]
    return []


def _benefit_kpis(c: _Context) -> list[Problem]:
    plan = c.docs.benefit
    if plan is None:
        return []
    out = []
    for i, j, _b, k in plan.kpis():
        path = f"benefits[{i}].kpis[{j}]"
        base, target = k.baseline, k.target
        if base is None or base.value is None or base.date is None:
            verdict = Verdict.FAILED if _required(c, "benefit") else Verdict.WARNING
            out.append(c.p("benefit", f"{path}.baseline", f"KPI {k.id}: baseline not yet measured", verdict))
        if base is not None and base.date is not None and base.date > c.today:
            out.append(c.p("benefit", f"{path}.baseline.date", f"{base.date} is in the future"))
        if target is None or base is None or base.value is None or base.date is None:
            continue
        if target.date <= base.date:
            out.append(
                c.p(
                    "benefit",
                    f"{path}.target.date",
                    f"{target.date} is not after the baseline date {base.date}",
                )
            )
        better = target.value > base.value if k.direction == "increase" else target.value < base.value
        if not better:
            out.append(
                c.p(
                    "benefit",
                    f"{path}.target.value",
                    f"KPI {k.id} should {k.direction}, but the target {target.value:g} does not improve on "
                    f"the baseline {base.value:g}",
                )
            )
    return out


def _patient_information(c: _Context) -> list[Problem]:
    d, pi = c.docs, c.docs.patient_information
    if pi is None:
        if d.ai is not None and not d.ai.gated:  # gated: reported by the AI gate
            return [c.p("patient_information", "", "missing: patients are informed about the use of AI")]
        return []
    out = []
    if d.ai is not None and pi.ai_use is None and not d.ai.gated:
        out.append(c.p("patient_information", "ai_use", "missing: the project uses AI; tell patients how"))
    no_nb = [n for n in _texts(pi) if pi.text(n, "nb") is None]
    if no_nb:
        out.append(
            c.p(
                "patient_information",
                "language" if pi.language != "nb" else no_nb[0],
                f"no Norwegian (nb) text for: {', '.join(no_nb)}; patients are informed in Norwegian",
            )
        )
    return out


def _texts(pi: PatientInformation) -> list[str]:
    """The patient information's text fields that are filled in."""
    return [n for n in type(pi).model_fields if n != "language" and getattr(pi, n) is not None]


def _plain_language(c: _Context) -> list[Problem]:
    pi = c.docs.patient_information
    if pi is None:
        return []
    out = []
    for name in _texts(pi):
        for lang in ("nb", "en"):
            text = pi.text(name, lang)
            if text and len(text.split()) >= 20 and lix(text) > LIX_WARN_ABOVE:
                out.append(
                    c.p(
                        "patient_information",
                        name if isinstance(getattr(pi, name), str) else f"{name}.{lang}",
                        f"hard to read (LIX {lix(text):.0f} > {LIX_WARN_ABOVE}): use shorter sentences "
                        "and everyday words",
                        Verdict.WARNING,
                    )
                )
    return out


_Rule = Callable[[_Context], list[Problem]]
RULES: tuple[tuple[str, _Rule, str], ...] = (
    ("documents.dpia.required", _dpia_required, "a DPIA is recorded where a trigger requires one"),
    ("documents.dpia.approval", _dpia_approval, "the DPIA's approval is dated and current"),
    ("documents.dpia.dpo_opinion", _dpia_dpo, "the DPO's advice is recorded"),
    (
        "documents.dpia.prior_consultation",
        _dpia_prior_consultation,
        "no high residual risk remains without prior consultation",
    ),
    ("documents.dpia.complete", _complete("dpia"), "the DPIA is complete"),
    ("documents.ros.required", _ros_required, "a ROS is recorded, approved and current"),
    ("documents.ros.complete", _complete("ros"), "the ROS is complete"),
    ("documents.risks.acceptance", _risk_acceptance, "every red residual risk is accepted by its owner"),
    ("documents.risks.scores", _risk_scores, "residual risks are scored consistently"),
    ("documents.ai.declared", _ai_declared, "an AI purpose is documented in ai.yaml"),
    ("documents.ai.gate", _ai_gate, "AI in clinical validation or production meets the AI gate"),
    ("documents.ai.complete", _complete("ai"), "the AI documentation is complete"),
    ("documents.ai.logging", _ai_logging, f"logs are kept at least {LOG_RETENTION_MIN_MONTHS} months"),
    ("documents.ai.tripod", _ai_tripod, "the TRIPOD+AI checklist is complete"),
    ("documents.benefit.required", _benefit_required, "an AI initiative has a benefit plan"),
    ("documents.benefit.kpis", _benefit_kpis, "every KPI has a measured baseline and an improving target"),
    ("documents.benefit.complete", _complete("benefit"), "the benefit plan is complete"),
    (
        "documents.patient_information.required",
        _patient_information,
        "patients are informed, in Norwegian, about the project and its use of AI",
    ),
    (
        "documents.patient_information.complete",
        _complete("patient_information"),
        "the patient information is complete",
    ),
    (
        "documents.patient_information.plain_language",
        _plain_language,
        "the patient information is easy to read",
    ),
)


def check_documents(
    docs: ApplicationDocuments, *, today: dt.date | None = None, for_provisioning: bool = False
) -> Run:
    """Run every document rule; one check per rule, every problem listed at once."""
    today = today or dt.date.today()
    ctx = _Context(docs, today, for_provisioning)
    run = Run(
        name="documents",
        metadata={
            "project": docs.application.id,
            "today": today.isoformat(),
            "for_provisioning": for_provisioning,
            "documents": {name: str(path) for name, path in docs.files.items()},
            "dpia_triggers": [t.key for t in dpia_triggers(docs)],
            "ai_stage": docs.ai.stage if docs.ai else None,
        },
    )
    run.checks.extend(_run_rules(ctx))
    return run.finish()


def _run_rules(ctx: _Context) -> Iterator[Check]:
    for key, rule, ok in RULES:
        problems = rule(ctx)
        verdict = Verdict.worst([p.verdict for p in problems])
        yield Check(
            key=key,
            kind="documents",
            verdict=verdict,
            message="; ".join(map(str, problems)) if problems else ok,
            details={"problems": [p.to_dict() for p in problems]},
        )


def check_all(
    docs: ApplicationDocuments,
    *,
    contracts_dir: str | Path | None = None,
    today: dt.date | None = None,
    for_provisioning: bool = False,
) -> Run:
    """The application rules and the document rules in one run (named ``application``)."""
    app_run = check_application(
        docs.application, contracts_dir=contracts_dir, today=today, for_provisioning=for_provisioning
    )
    doc_run = check_documents(docs, today=today, for_provisioning=for_provisioning)
    app_run.checks.extend(doc_run.checks)
    app_run.metadata.update({k: v for k, v in doc_run.metadata.items() if k not in app_run.metadata})
    return app_run.finish()
