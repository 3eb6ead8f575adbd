"""Closed lists and formats used by research applications (``project.yaml`` + ``data_request.yaml``).

Each closed list maps the code written in the YAML to a short human description. The legal lists
are a starting point agreed with the data protection officer, not legal advice: the DPO confirms the
legal basis of every project.
"""

from __future__ import annotations

import re

__all__ = [
    "APPROVAL_STATUSES",
    "APPROVAL_TYPES",
    "ATC_PREFIX_PATTERN",
    "CONFIDENTIALITY_EXEMPTION_BASES",
    "DATASETS",
    "EMAIL_PATTERN",
    "GDPR_ART6",
    "GDPR_ART9",
    "GRANULARITIES",
    "ICD10_PREFIX_PATTERN",
    "IDENTIFIABILITY",
    "NATIONAL_BASES",
    "PROJECT_ID_MAX_LENGTH",
    "PROJECT_ID_PATTERN",
    "PURPOSES",
    "RISK_PROFILES",
    "ROLES",
    "USERNAME_PATTERN",
    "choices",
]

# Permitted purposes of secondary use, modelled on Reg. (EU) 2025/327 (EHDS) art. 53(1).
PURPOSES: dict[str, str] = {
    "public_interest_public_health": "public interest in public and occupational health (EHDS art. 53(1)(a))",
    "policy_making": "policy-making and regulatory activities (EHDS art. 53(1)(b))",
    "statistics": "official statistics on health or care (EHDS art. 53(1)(c))",
    "education": "education or teaching in health or care (EHDS art. 53(1)(d))",
    "scientific_research": "scientific research related to health or care (EHDS art. 53(1)(e))",
    "innovation_development": "development and innovation of products or services (EHDS art. 53(1)(e)(i))",
    "innovation_ai_training": "training, testing and evaluating algorithms and AI (EHDS art. 53(1)(e)(ii))",
    "personalised_medicine": "better delivery of care, treatment, personalised medicine (EHDS art. 53(1)(f))",
}

# GDPR art. 6(1) lawful bases that a public hospital can use for research.
GDPR_ART6: dict[str, str] = {
    "a": "art. 6(1)(a) consent",
    "c": "art. 6(1)(c) legal obligation",
    "e": "art. 6(1)(e) task in the public interest or exercise of official authority",
}

# GDPR art. 9(2) exceptions for special categories (health data).
GDPR_ART9: dict[str, str] = {
    "a": "art. 9(2)(a) explicit consent",
    "h": "art. 9(2)(h) health care, treatment and management of health services",
    "i": "art. 9(2)(i) public interest in the area of public health",
    "j": "art. 9(2)(j) scientific research or statistics (with art. 89 safeguards)",
}

# Supplementary national legal bases (Norway).
NATIONAL_BASES: dict[str, str] = {
    "helseforskningsloven_9": "helseforskningsloven § 9 (REK prior approval of health research)",
    "helseforskningsloven_13": "helseforskningsloven § 13 (broad or specific consent)",
    "helseforskningsloven_35": "helseforskningsloven § 35 (exemption from confidentiality for research)",
    "helseregisterloven_19a": "helseregisterloven § 19 a (making health data available)",
    "helseregisterloven_19b": "helseregisterloven § 19 b (disclosure from health registers)",
    "helseregisterloven_19c": "helseregisterloven § 19 c (access to health data)",
    "helseregisterloven_19d": "helseregisterloven § 19 d (linking of registers)",
    "helseregisterloven_19e": "helseregisterloven § 19 e (duty of confidentiality on recipients)",
    "helsepersonelloven_29": "helsepersonelloven § 29 (exemption from confidentiality)",
    "forvaltningsloven_13d": "forvaltningsloven § 13 d (exemption from confidentiality for research)",
    "personopplysningsloven_8": "personopplysningsloven § 8 (research, statistics, archiving)",
    "personopplysningsloven_9": "personopplysningsloven § 9 (safeguards for special categories)",
}

# National bases that lift the duty of confidentiality and therefore need an exemption decision.
CONFIDENTIALITY_EXEMPTION_BASES: frozenset[str] = frozenset(
    {"helseforskningsloven_35", "helsepersonelloven_29", "forvaltningsloven_13d"}
)

ROLES: dict[str, str] = {
    "project_leader": "project leader (PI), responsible for the project",
    "researcher": "researcher working on the data",
    "data_steward": "data steward at the health data centre",
    "output_checker": "checks outputs for disclosure risk before release",
}

APPROVAL_TYPES: dict[str, str] = {
    "rek": "REK (regional committee for medical and health research ethics)",
    "dpo": "data protection officer (personvernombud) assessment",
    "exemption_from_confidentiality": "exemption from confidentiality (dispensasjon fra taushetsplikt)",
    "data_owner": "the data owner's (dataansvarlig's) approval of the release",
}

APPROVAL_STATUSES: dict[str, str] = {
    "pending": "applied for, no decision yet",
    "approved": "approved",
    "rejected": "rejected",
}

RISK_PROFILES: dict[str, str] = {
    "acro-default": "ACRO defaults: minimum cell 10, zeros disclosive, N-K 2/90 %, p-percent 10 %",
    "opensafely": "OpenSAFELY: counts 7 or less redacted, the rest rounded to 5",
    "nhs-sde": "NHS England SDE: counts under 10 suppressed, the rest rounded to 5",
}

# The source tables of the hospital extract (one data contract each in data_contracts/).
DATASETS: dict[str, str] = {
    "patients": "one row per patient: birth date, sex, municipality, death date",
    "episodes": "hospital episodes: admission, discharge, department, care type, urgency",
    "diagnoses": "ICD-10 diagnoses registered on episodes",
    "prescriptions": "dispensed prescriptions with ATC codes",
    "lab_results": "laboratory results (NPU codes)",
}

IDENTIFIABILITY: dict[str, str] = {
    "pseudonymised": "row level, linked by a project-specific pseudonym",
    "coarsened": "row level with the value coarsened (dates, places, ages)",
    "aggregated": "only aggregated over groups",
}

# What a column may be coarsened to (the contracts' names); the column's contract lists the ones it allows.
GRANULARITIES: dict[str, str] = {
    "as_is": "the value as recorded",
    "day": "a timestamp truncated to the day",
    "month": "a date truncated to the month",
    "year": "a date truncated to the year",
    "county": "a municipality number reduced to its county",
    "5y_band": "a date or age in 5-year bands",
    "10y_band": "a date or age in 10-year bands",
}

# Formats. A project id becomes a Unix group and a JupyterHub server name.
PROJECT_ID_MAX_LENGTH = 40
PROJECT_ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
ICD10_PREFIX_PATTERN = re.compile(r"[A-Z][0-9]{1,2}[0-9A-Z]{0,3}")
ATC_PREFIX_PATTERN = re.compile(r"[A-Z](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?")


def choices(vocabulary: dict[str, str]) -> str:
    """The codes of a closed list, for messages: ``a, c, e``."""
    return ", ".join(vocabulary)
