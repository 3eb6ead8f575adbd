"""Hospital episodes: admissions, outpatient visits and day treatments of the patients of one chunk.

Contact rates rise with age, frailty and chronic conditions (so a few patients have many episodes).
Admission days have a winter peak, and elective contacts fall on weekdays and outside the July
holidays. Inpatient stays last days (log-normal, median about 3), outpatient visits 15-90 minutes,
day treatments a few hours. Every episode lies between the patient's birth (or the start of the
period) and death (or the end of the period), and discharge is never before admission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdc_toolkit.demo import codes
from hdc_toolkit.demo.frame import Column, Frame
from hdc_toolkit.demo.population import CONDITION_INDEX, Population
from hdc_toolkit.demo.sampling import DAY_MS, MINUTE_MS, categorical_rows, seasonal_days

__all__ = ["EPISODE_RATE_SCALE", "Episodes", "generate_episodes"]

#: Scales all contact rates; tuned for about 3.5 episodes per patient.
EPISODE_RATE_SCALE = 0.95
_YEAR = 365.2425
INPATIENT, OUTPATIENT, DAY = 0, 1, 2
ELECTIVE, EMERGENCY = 0, 1
_DEP = {d: i for i, d in enumerate(codes.DEPARTMENTS)}

#: Hour-of-day weights of emergency admissions (00-23).
_EMERGENCY_HOURS = np.array(
    [2, 1.5, 1.2, 1, 1, 1, 1.2, 1.8, 3, 4.5, 5.5, 6, 6, 6, 6, 6, 6, 5.8, 5.5, 5, 4.5, 4, 3.2, 2.5]
)


@dataclass
class Episodes:
    """The episodes of one chunk, sorted by patient and admission time."""

    episode_id: np.ndarray
    patient: np.ndarray  # row index into the chunk's Population
    admission: np.ndarray  # ms since 1970
    discharge: np.ndarray  # ms since 1970
    department: np.ndarray  # index into codes.DEPARTMENTS
    care_type: np.ndarray  # index into codes.CARE_TYPES
    urgency: np.ndarray  # index into codes.URGENCIES
    age: np.ndarray  # whole years at admission

    def __len__(self) -> int:
        return len(self.episode_id)

    def to_frame(self, population: Population) -> Frame:
        """The ``episodes`` table of this chunk."""
        return Frame(
            "episodes",
            {
                "episode_id": Column(self.episode_id),
                "national_id": Column(population.id_digits[self.patient]),
                "admission_time": Column(self.admission),
                "discharge_time": Column(self.discharge),
                "department": Column(self.department.astype(np.int32), vocab=codes.DEPARTMENTS),
                "care_type": Column(self.care_type.astype(np.int32), vocab=codes.CARE_TYPES),
                "urgency": Column(self.urgency.astype(np.int32), vocab=codes.URGENCIES),
            },
        )


def episode_counts(rng: np.random.Generator, pop: Population) -> np.ndarray:
    """Number of episodes per patient: Poisson with a rate from age, frailty, conditions, time at risk."""
    years = (pop.obs_end - pop.obs_start + 1) / _YEAR
    age = pop.age.astype(np.float64)
    rate = 0.15 + 0.4 * (age < 2) + 0.0055 * np.maximum(age - 25, 0)
    lam = EPISODE_RATE_SCALE * rate * pop.frailty * (1 + 0.5 * pop.n_conditions) * years
    return rng.poisson(lam)


def generate_episodes(rng: np.random.Generator, pop: Population, first_id: int) -> Episodes:
    """Draw the episodes of a chunk's patients; ids are ``first_id``, ``first_id + 1``, ..."""
    counts = episode_counts(rng, pop)
    patient = np.repeat(np.arange(len(pop)), counts)
    n = len(patient)
    age_ref = pop.age[patient]

    p_in = 0.12 + 0.18 / (1 + np.exp(-(age_ref - 65) / 8.0))
    u = rng.random(n)
    care = np.where(u < p_in, INPATIENT, np.where(u < p_in + 0.12, DAY, OUTPATIENT))
    p_emergency = np.array([0.68, 0.10, 0.03])[care]
    urgency = np.where(rng.random(n) < p_emergency, EMERGENCY, ELECTIVE)

    first, last = pop.obs_start[patient], pop.obs_end[patient]
    day = seasonal_days(rng, first, last, urgency == ELECTIVE)
    age = np.floor((day - pop.birth[patient]) / _YEAR).astype(np.int64)

    department = _departments(rng, pop, patient, care, urgency, age)
    admission, discharge = _times(rng, day, care, urgency, last)

    order = np.lexsort((admission, patient))
    return Episodes(
        episode_id=first_id + np.arange(n, dtype=np.int64),
        patient=patient[order],
        admission=admission[order],
        discharge=discharge[order],
        department=department[order],
        care_type=care[order],
        urgency=urgency[order],
        age=age[order],
    )


def _departments(
    rng: np.random.Generator,
    pop: Population,
    patient: np.ndarray,
    care: np.ndarray,
    urgency: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    base = np.array([codes.DEPARTMENT_WEIGHTS[c] for c in codes.CARE_TYPES], dtype=np.float32)
    w = base[care]
    child = age < 18
    w[child] = np.array(codes.CHILD_DEPARTMENT_WEIGHTS, dtype=np.float32)
    cond = pop.conditions[patient]
    female = ~pop.male[patient]
    cardio = (
        cond[:, CONDITION_INDEX["ischaemic_heart_disease"]]
        | cond[:, CONDITION_INDEX["atrial_fibrillation"]]
        | cond[:, CONDITION_INDEX["heart_failure"]]
    )
    w[:, _DEP["OBS"]] *= female & (age >= 15) & (age <= 55)
    w[:, _DEP["GER"]] *= (age >= 70) * (2.0 + 3.0 * (age >= 80))
    w[:, _DEP["PSY"]] *= (age >= 6) * (1.0 + 4.0 * cond[:, CONDITION_INDEX["depression"]])
    w[:, _DEP["CAR"]] *= 1.0 + 3.0 * cardio
    w[:, _DEP["ONC"]] *= np.where(cond[:, CONDITION_INDEX["cancer"]], 6.0, 0.05)
    w[:, _DEP["MED"]] *= 1.0 + 0.3 * cond.sum(axis=1)
    department = categorical_rows(rng, w)
    return np.where((care == OUTPATIENT) & (urgency == EMERGENCY), _DEP["EMR"], department)


def _times(
    rng: np.random.Generator,
    day: np.ndarray,
    care: np.ndarray,
    urgency: np.ndarray,
    last_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Admission and discharge in ms, whole minutes; discharge clipped to the patient's last day."""
    n = len(day)
    emergency = urgency == EMERGENCY
    hour_cum = np.cumsum(_EMERGENCY_HOURS) / _EMERGENCY_HOURS.sum()
    emergency_minute = np.searchsorted(hour_cum, rng.random(n), side="right") * 60 + rng.integers(0, 60, n)
    elective_minute = np.select(
        [care == INPATIENT, care == DAY],
        [7 * 60 + rng.integers(0, 7 * 60, n), 7 * 60 + rng.integers(0, 3 * 60, n)],
        8 * 60 + 15 * rng.integers(0, 32, n),
    )
    minute = np.where(emergency, np.minimum(emergency_minute, 24 * 60 - 1), elective_minute)
    admission = day * DAY_MS + minute * MINUTE_MS

    los_days = np.floor(rng.lognormal(1.1, 0.8, n)).astype(np.int64)
    inpatient_end = (day + los_days) * DAY_MS + (9 * 60 + rng.integers(0, 7 * 60, n)) * MINUTE_MS
    inpatient_end = np.maximum(inpatient_end, admission + 120 * MINUTE_MS)
    outpatient_end = admission + 15 * rng.integers(1, 7, n) * MINUTE_MS
    day_end = admission + rng.integers(2 * 60, 8 * 60, n) * MINUTE_MS
    discharge = np.select([care == INPATIENT, care == DAY], [inpatient_end, day_end], outpatient_end)
    latest = (last_day + 1) * DAY_MS - 1000  # 23:59:59 on the last day
    return admission, np.minimum(discharge, latest)
