"""ICD-10 diagnoses: one main diagnosis per episode and a number of secondary ones.

The main diagnosis comes from the department's code list (or, in medicine, geriatrics, cardiology
and paediatrics, sometimes from one of the patient's chronic conditions); secondary diagnoses come
from the patient's chronic conditions or a general comorbidity list. Every code respects its sex and
age limits at the time of the episode (no O-codes for men, no prostate cancer for women, no heart
attacks in children). Inpatient episodes get more secondary diagnoses than outpatient visits. A
diagnosis is dated within its episode: the main one on the admission day.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hdc_toolkit.demo import codes
from hdc_toolkit.demo.episodes import DAY, INPATIENT, Episodes
from hdc_toolkit.demo.frame import Column, Frame
from hdc_toolkit.demo.population import CONDITION_INDEX, Population
from hdc_toolkit.demo.sampling import (
    AGE_EDGES,
    DAY_MS,
    GroupedChoice,
    age_bands,
    categorical_rows,
    uniform_days,
)

__all__ = ["ICD10_VOCAB", "generate_diagnoses"]


def _all_codes() -> tuple[str, ...]:
    found = {codes.FALLBACK_DIAGNOSIS}
    for entries in codes.MAIN_DIAGNOSES.values():
        found.update(e[0] for e in entries)
    found.update(e[0] for e in codes.GENERAL_DIAGNOSES)
    for cond in codes.CONDITIONS:
        found.update(e[0] for e in cond.codes)
    for sites in codes.CANCER_SITES.values():
        found.update(s[0] for s in sites)
    return tuple(sorted(found))


#: Every ICD-10 code the generator can write, sorted; diagnosis columns hold indices into it.
ICD10_VOCAB: tuple[str, ...] = _all_codes()
_INDEX = {c: i for i, c in enumerate(ICD10_VOCAB)}
_N_BANDS = len(AGE_EDGES) - 1
_CHRONIC_MAIN_DEPARTMENTS = ("MED", "GER", "CAR", "PED")
_CANCER = CONDITION_INDEX["cancer"]


def _fits(entry: codes.CodeEntry, male: int, band: int) -> bool:
    _, _, sex, min_age, max_age = entry
    lo, hi = AGE_EDGES[band], AGE_EDGES[band + 1]
    if sex is not None and sex != ("M" if male else "F"):
        return False
    return min_age <= lo and hi - 1 <= max_age


def _weights(entries: tuple[codes.CodeEntry, ...], male: int, band: int) -> np.ndarray:
    w = np.zeros(len(ICD10_VOCAB))
    for entry in entries:
        if _fits(entry, male, band):
            w[_INDEX[entry[0]]] += entry[1]
    return w


@lru_cache(maxsize=1)
def _tables() -> tuple[GroupedChoice, GroupedChoice, GroupedChoice]:
    """(department main codes, general secondary codes, condition codes) samplers.

    Groups: department tables by (department, sex, age band); general by (sex, age band); condition
    tables by (condition, sex, age band).
    """
    fallback = _INDEX[codes.FALLBACK_DIAGNOSIS]
    dept = [
        _weights(codes.MAIN_DIAGNOSES[d], male, band)
        for d in codes.DEPARTMENTS
        for male in (0, 1)
        for band in range(_N_BANDS)
    ]
    general = [_weights(codes.GENERAL_DIAGNOSES, male, band) for male in (0, 1) for band in range(_N_BANDS)]
    cond = [
        _weights(c.codes, male, band) for c in codes.CONDITIONS for male in (0, 1) for band in range(_N_BANDS)
    ]
    return (
        GroupedChoice(np.array(dept), fallback),
        GroupedChoice(np.array(general), fallback),
        GroupedChoice(np.array(cond), fallback),
    )


def _cancer_codes() -> dict[int, np.ndarray]:
    return {
        male: np.array([_INDEX[s[0]] for s in codes.CANCER_SITES["M" if male else "F"]]) for male in (0, 1)
    }


def _eligible_conditions(pop: Population, patient: np.ndarray, age: np.ndarray) -> np.ndarray:
    min_age = np.array([c.min_age for c in codes.CONDITIONS])
    return pop.conditions[patient] & (age[:, None] >= min_age[None, :])


def _condition_codes(
    rng: np.random.Generator, pop: Population, patient: np.ndarray, age: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """One code per row from one of the patient's eligible conditions (rows need at least one)."""
    _, _, cond_table = _tables()
    which = categorical_rows(rng, eligible.astype(np.float32))
    male = pop.male[patient].astype(np.int64)
    band = age_bands(age)
    code = cond_table.sample(rng, (which * 2 + male) * _N_BANDS + band)
    cancer = which == _CANCER
    if cancer.any():
        sites = _cancer_codes()
        site = pop.cancer_site[patient[cancer]]
        code[cancer] = np.where(male[cancer] == 1, sites[1][site], sites[0][site])
    return code


def generate_diagnoses(rng: np.random.Generator, pop: Population, eps: Episodes, first_id: int) -> Frame:
    """The ``diagnoses`` table for a chunk's episodes; ids are ``first_id``, ``first_id + 1``, ..."""
    dept_table, general_table, _ = _tables()
    n_eps = len(eps)
    ncond = pop.n_conditions[eps.patient]
    lam = np.select(
        [eps.care_type == INPATIENT, eps.care_type == DAY],
        [0.9 + 0.35 * ncond, 0.3 + 0.1 * ncond],
        0.15 + 0.1 * ncond,
    )
    n_secondary = np.minimum(rng.poisson(lam), 14)

    # main diagnoses, one per episode
    male = pop.male[eps.patient].astype(np.int64)
    band = age_bands(eps.age)
    main = dept_table.sample(rng, (eps.department * 2 + male) * _N_BANDS + band)
    eligible = _eligible_conditions(pop, eps.patient, eps.age)
    chronic_dept = np.isin(eps.department, [codes.DEPARTMENTS.index(d) for d in _CHRONIC_MAIN_DEPARTMENTS])
    use_chronic = chronic_dept & eligible.any(axis=1) & (rng.random(n_eps) < 0.25)
    if use_chronic.any():
        rows = np.flatnonzero(use_chronic)
        main[rows] = _condition_codes(rng, pop, eps.patient[rows], eps.age[rows], eligible[rows])

    # secondary diagnoses
    ep_of = np.repeat(np.arange(n_eps), n_secondary)
    patient = eps.patient[ep_of]
    age = eps.age[ep_of]
    sec_eligible = eligible[ep_of]
    chronic = sec_eligible.any(axis=1) & (rng.random(len(ep_of)) < 0.65)
    secondary = general_table.sample(rng, (pop.male[patient].astype(np.int64)) * _N_BANDS + age_bands(age))
    if chronic.any():
        rows = np.flatnonzero(chronic)
        secondary[rows] = _condition_codes(rng, pop, patient[rows], age[rows], sec_eligible[rows])

    # interleave: each episode's main row followed by its secondary rows
    per_episode = 1 + n_secondary
    starts = np.concatenate([[0], np.cumsum(per_episode)[:-1]])
    total = int(per_episode.sum())
    episode_row = np.repeat(np.arange(n_eps), per_episode)
    is_main = np.zeros(total, dtype=bool)
    is_main[starts] = True
    code = np.empty(total, dtype=np.int64)
    code[starts] = main
    code[~is_main] = secondary

    adm_day = np.floor_divide(eps.admission, DAY_MS)
    dis_day = np.floor_divide(eps.discharge, DAY_MS)
    date = np.where(
        is_main, adm_day[episode_row], uniform_days(rng, adm_day[episode_row], dis_day[episode_row])
    )
    return Frame(
        "diagnoses",
        {
            "diagnosis_id": Column(first_id + np.arange(total, dtype=np.int64)),
            "episode_id": Column(eps.episode_id[episode_row]),
            "national_id": Column(pop.id_digits[eps.patient[episode_row]]),
            "icd10_code": Column(code.astype(np.int32), vocab=ICD10_VOCAB),
            "diagnosis_type": Column(np.where(is_main, 0, 1).astype(np.int32), vocab=("main", "secondary")),
            "diagnosis_date": Column(date),
        },
    )
