"""NPU-coded laboratory results: samples taken during episodes and outside them.

Inpatient stays have several samples, outpatient visits and day treatments fewer; some samples are
taken outside any episode (``episode_id`` empty). Which analysis is ordered depends on the setting
and the patient's conditions (diabetics get HbA1c and glucose, kidney disease creatinine and eGFR).
Values follow per-analysis distributions shifted by sex, diabetes, kidney disease, cancer and
inpatient status, clipped to plausible limits and rounded like a laboratory reports them.
"""

from __future__ import annotations

import numpy as np

from hdc_toolkit.demo import codes
from hdc_toolkit.demo.episodes import DAY, INPATIENT, Episodes
from hdc_toolkit.demo.frame import Column, Frame
from hdc_toolkit.demo.population import CONDITION_INDEX, Population
from hdc_toolkit.demo.sampling import DAY_MS, MINUTE_MS, categorical_rows, uniform_days

__all__ = ["LAB_RATE_SCALE", "generate_lab_results"]

#: Scales the number of samples; tuned for about 1.5 results per episode plus samples outside.
LAB_RATE_SCALE = 1.0
_YEAR = 365.2425
_CODE = {a.code: i for i, a in enumerate(codes.ANALYSES)}
_UNITS = tuple(sorted({a.unit for a in codes.ANALYSES}))
OUTSIDE = 3  # setting index for samples outside an episode


def _boosts(pop: Population) -> np.ndarray:
    """(n, analyses) multipliers of analysis frequency from each patient's conditions."""
    boost = np.ones((len(pop), len(codes.ANALYSES)), dtype=np.float32)
    for cond in codes.CONDITIONS:
        has = pop.conditions[:, CONDITION_INDEX[cond.name]]
        for code, factor in cond.lab_boost:
            boost[has, _CODE[code]] *= factor
    return boost


def generate_lab_results(rng: np.random.Generator, pop: Population, eps: Episodes, first_id: int) -> Frame:
    """The ``lab_results`` table of a chunk; ids are ``first_id``, ``first_id + 1``, ..."""
    ncond = pop.n_conditions
    lam_ep = np.select(
        [eps.care_type == INPATIENT, eps.care_type == DAY],
        [3.0 + 0.4 * ncond[eps.patient], np.full(len(eps), 1.0)],
        0.5 + 0.2 * ncond[eps.patient],
    )
    per_episode = rng.poisson(lam_ep * LAB_RATE_SCALE)
    ep_row = np.repeat(np.arange(len(eps)), per_episode)
    years = (pop.obs_end - pop.obs_start + 1) / _YEAR
    outside_counts = rng.poisson(0.06 * years * (1 + 0.5 * ncond) * LAB_RATE_SCALE)
    out_patient = np.repeat(np.arange(len(pop)), outside_counts)

    n_in, n_out = len(ep_row), len(out_patient)
    patient = np.concatenate([eps.patient[ep_row], out_patient])
    setting = np.concatenate([eps.care_type[ep_row], np.full(n_out, OUTSIDE)])

    # sample times: inside the episode, or on a weekday morning inside the patient's lifetime
    adm, dis = eps.admission[ep_row], eps.discharge[ep_row]
    offset = np.floor(rng.random(n_in) * ((dis - adm) // MINUTE_MS + 1)).astype(np.int64)
    t_in = adm + np.minimum(offset * MINUTE_MS, dis - adm)
    day_out = uniform_days(rng, pop.obs_start[out_patient], pop.obs_end[out_patient])
    t_out = day_out * DAY_MS + (450 + rng.integers(0, 480, n_out)) * MINUTE_MS
    sample_time = np.concatenate([t_in, t_out])

    base = np.array([a.weights for a in codes.ANALYSES], dtype=np.float32).T  # (settings, analyses)
    analysis = categorical_rows(rng, base[setting] * _boosts(pop)[patient])
    age = np.floor((sample_time // DAY_MS - pop.birth[patient]) / _YEAR)
    value = _values(rng, pop, patient, analysis, setting, age)

    unit_of = np.array([_UNITS.index(a.unit) for a in codes.ANALYSES], dtype=np.int32)
    episode_id = np.concatenate([eps.episode_id[ep_row], np.zeros(n_out, dtype=np.int64)])
    nulls = np.concatenate([np.zeros(n_in, dtype=bool), np.ones(n_out, dtype=bool)])
    return Frame(
        "lab_results",
        {
            "lab_result_id": Column(first_id + np.arange(n_in + n_out, dtype=np.int64)),
            "national_id": Column(pop.id_digits[patient]),
            "episode_id": Column(episode_id, nulls=nulls),
            "analysis_code": Column(analysis.astype(np.int32), vocab=tuple(a.code for a in codes.ANALYSES)),
            "value": Column(value),
            "unit": Column(unit_of[analysis], vocab=_UNITS),
            "sample_time": Column(sample_time),
        },
    )


def _values(
    rng: np.random.Generator,
    pop: Population,
    patient: np.ndarray,
    analysis: np.ndarray,
    setting: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    n = len(patient)
    cond = pop.conditions[patient]
    male = pop.male[patient]
    diabetic = cond[:, CONDITION_INDEX["diabetes_type2"]] | cond[:, CONDITION_INDEX["diabetes_type1"]]
    ckd = cond[:, CONDITION_INDEX["chronic_kidney_disease"]]
    anaemic = ckd | cond[:, CONDITION_INDEX["cancer"]]
    inpatient = setting == INPATIENT

    centre = np.array([a.centre for a in codes.ANALYSES])[analysis]
    spread = np.array([a.spread for a in codes.ANALYSES])[analysis]
    i = _CODE
    a = analysis
    centre = np.where((a == i["NPU27300"]) & diabetic, 57.0, centre)
    spread = np.where((a == i["NPU27300"]) & diabetic, 12.0, spread)
    centre = np.where((a == i["NPU02192"]) & diabetic, 8.5, centre)
    spread = np.where((a == i["NPU02192"]) & diabetic, 0.3, spread)
    centre = np.where(a == i["NPU18016"], np.where(male, 82.0, 65.0) * np.where(ckd, 2.0, 1.0), centre)
    spread = np.where((a == i["NPU18016"]) & ckd, 0.4, spread)
    centre = np.where(
        a == i["NPU27158"], np.where(ckd, 42.0, np.clip(118.0 - 0.8 * age, 45.0, 120.0)), centre
    )
    centre = np.where(a == i["NPU02319"], np.where(male, 9.0, 8.1) - 0.8 * anaemic, centre)
    centre = np.where((a == i["NPU19748"]) & inpatient, 18.0, centre)
    centre = np.where((a == i["NPU02593"]) & inpatient, 8.5, centre)

    lognormal = np.array([x.dist == "lognormal" for x in codes.ANALYSES])[analysis]
    z = rng.standard_normal(n)
    value = np.where(lognormal, centre * np.exp(spread * z), centre + spread * z)
    low = np.array([x.low for x in codes.ANALYSES])[analysis]
    high = np.array([x.high for x in codes.ANALYSES])[analysis]
    scale = (10.0 ** np.array([x.decimals for x in codes.ANALYSES]))[analysis]
    return np.round(np.clip(value, low, high) * scale) / scale
