"""Dispensed prescriptions (ATC codes with defined daily doses) for the patients of one chunk.

Each patient has a dispensing rate per therapeutic category: general drugs for everyone (child or
adult lists by age), and one category per chronic condition (diabetics get A10 drugs, people with
hypertension C09/C08/C07, ...), plus contraception for some women of 15-49 and prostate drugs for
some men over 55. A category is only dispensed while the patient is of its age and alive inside
the period, so every dispense date lies between birth and death. Every diabetic with such time gets
at least one A10 dispensing.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hdc_toolkit.demo import codes
from hdc_toolkit.demo.frame import Column, Frame
from hdc_toolkit.demo.population import CONDITION_INDEX, Population
from hdc_toolkit.demo.sampling import GroupedChoice, uniform_days

__all__ = ["ATC_VOCAB", "PRESCRIPTION_RATE_SCALE", "generate_prescriptions"]

#: Scales all dispensing rates; tuned for about 5-6 dispensings per patient.
PRESCRIPTION_RATE_SCALE = 0.2
_YEAR = 365.2425
_CAT = {c.name: i for i, c in enumerate(codes.DRUG_CATEGORIES)}

ATC_VOCAB: tuple[str, ...] = tuple(sorted({d[0] for c in codes.DRUG_CATEGORIES for d in c.drugs}))
_INDEX = {c: i for i, c in enumerate(ATC_VOCAB)}

#: Per-year weight of each category for a patient who has it (general categories: 1).
_CATEGORY_WEIGHT = {
    **{c.name: c.drug_weight for c in codes.CONDITIONS},
    "general_child": 1.0,
    "general_adult": 1.0,
    "cancer_female": 1.0,
    "cancer_male": 1.0,
    "contraception": 1.0,
    "prostate": 1.5,
}


@lru_cache(maxsize=1)
def _tables() -> tuple[GroupedChoice, np.ndarray]:
    weights = np.zeros((len(codes.DRUG_CATEGORIES), len(ATC_VOCAB)))
    typical = np.zeros(len(ATC_VOCAB))
    for i, cat in enumerate(codes.DRUG_CATEGORIES):
        for code, w, ddd in cat.drugs:
            weights[i, _INDEX[code]] += w
            typical[_INDEX[code]] = max(typical[_INDEX[code]], ddd)
    return GroupedChoice(weights), typical


def _has_category(rng: np.random.Generator, pop: Population) -> np.ndarray:
    n = len(pop)
    has = np.zeros((n, len(codes.DRUG_CATEGORIES)), dtype=bool)
    has[:, _CAT["general_child"]] = True
    has[:, _CAT["general_adult"]] = True
    for cond in codes.CONDITIONS:
        if cond.name in _CAT:
            has[:, _CAT[cond.name]] = pop.conditions[:, CONDITION_INDEX[cond.name]]
    cancer = pop.conditions[:, CONDITION_INDEX["cancer"]]
    has[:, _CAT["cancer_female"]] = cancer
    has[:, _CAT["cancer_male"]] = cancer
    has[:, _CAT["contraception"]] = rng.random(n) < 0.35
    has[:, _CAT["prostate"]] = rng.random(n) < 0.25
    for j, cat in enumerate(codes.DRUG_CATEGORIES):
        if cat.sex is not None:
            has[:, j] &= pop.male if cat.sex == "M" else ~pop.male
    return has


def generate_prescriptions(rng: np.random.Generator, pop: Population, first_id: int) -> Frame:
    """The ``prescriptions`` table of a chunk; ids are ``first_id``, ``first_id + 1``, ..."""
    drug_table, typical = _tables()
    min_age = np.array([c.min_age for c in codes.DRUG_CATEGORIES], dtype=np.float64)
    max_age = np.array([c.max_age for c in codes.DRUG_CATEGORIES], dtype=np.float64)
    birth = pop.birth[:, None]
    lo = np.maximum(pop.obs_start[:, None], birth + np.ceil(min_age * _YEAR).astype(np.int64))
    hi = np.minimum(pop.obs_end[:, None], birth + np.floor((max_age + 1) * _YEAR).astype(np.int64) - 1)
    has = _has_category(rng, pop) & (lo <= hi)
    years = np.where(has, (hi - lo + 1) / _YEAR, 0.0)
    cat_weight = np.array([_CATEGORY_WEIGHT[c.name] for c in codes.DRUG_CATEGORIES])
    rates = years * cat_weight[None, :] * PRESCRIPTION_RATE_SCALE
    rates[:, _CAT["general_adult"]] *= 1 + 0.015 * np.maximum(pop.age - 40, 0)
    diabetic = has[:, _CAT["diabetes_type1"]] | has[:, _CAT["diabetes_type2"]]
    counts = rng.poisson(rates.sum(axis=1) * np.minimum(pop.frailty, 3.0)) + diabetic

    patient = np.repeat(np.arange(len(pop)), counts)
    category = GroupedChoice(rates).sample(rng, patient)
    first_row = np.concatenate([[0], np.cumsum(counts)[:-1]])
    forced = first_row[diabetic]
    diabetes_cat = np.where(
        has[diabetic, _CAT["diabetes_type1"]], _CAT["diabetes_type1"], _CAT["diabetes_type2"]
    )
    category[forced] = diabetes_cat

    drug = drug_table.sample(rng, category)
    day = uniform_days(rng, lo[patient, category], hi[patient, category])
    packs = np.searchsorted(np.array([0.65, 0.9, 1.0]), rng.random(len(drug)), side="right") + 1
    ddd = typical[drug] * np.minimum(packs, 3) * rng.lognormal(0.0, 0.15, len(drug))
    ddd = np.clip(np.round(ddd, 1), 0.5, 999.0)
    return Frame(
        "prescriptions",
        {
            "prescription_id": Column(first_id + np.arange(len(drug), dtype=np.int64)),
            "national_id": Column(pop.id_digits[patient]),
            "atc_code": Column(drug.astype(np.int32), vocab=ATC_VOCAB),
            "dispense_date": Column(day),
            "ddd": Column(ddd),
        },
    )
