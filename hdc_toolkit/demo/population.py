"""The patient population of one chunk: ages, sexes, places, chronic conditions, deaths and national ids.

Ages follow Norway's population pyramid at the end of the extract period; the share of men falls
with age. Chronic conditions have logistic age prevalences and cluster in frail patients (a gamma
frailty shared by all conditions and by the contact rates of the other tables). Deaths are more likely
with age and with each condition, and fall inside the extract period, never before birth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdc_toolkit.demo import codes
from hdc_toolkit.demo.frame import Column, Frame
from hdc_toolkit.demo.national_id import IndividualNumberAllocator, national_id_digits
from hdc_toolkit.demo.sampling import PERIOD_END, PERIOD_START

__all__ = ["CONDITION_INDEX", "Population", "generate_population"]

CONDITION_INDEX = {c.name: i for i, c in enumerate(codes.CONDITIONS)}
_YEAR = 365.2425


@dataclass
class Population:
    """Everything the other tables need to know about the patients of one chunk."""

    birth: np.ndarray  # days since 1970
    male: np.ndarray  # bool
    dead: np.ndarray  # bool
    death: np.ndarray  # days since 1970 (undefined where not dead)
    age: np.ndarray  # whole years at the end of the period
    frailty: np.ndarray  # mean 1
    conditions: np.ndarray  # (n, len(CONDITIONS)) bool
    cancer_site: np.ndarray  # index into codes.CANCER_SITES[sex], -1 without cancer
    id_digits: np.ndarray  # (n, 11) uint8 ASCII
    municipality: np.ndarray  # index into codes.MUNICIPALITIES

    def __len__(self) -> int:
        return len(self.birth)

    @property
    def obs_start(self) -> np.ndarray:
        """First day the patient can have hospital activity in the extract."""
        return np.maximum(self.birth, PERIOD_START)

    @property
    def obs_end(self) -> np.ndarray:
        """Last day the patient can have hospital activity (death or the end of the period)."""
        return np.where(self.dead, self.death, PERIOD_END)

    @property
    def n_conditions(self) -> np.ndarray:
        return self.conditions.sum(axis=1)

    def to_frame(self) -> Frame:
        """The ``patients`` table of this chunk."""
        return Frame(
            "patients",
            {
                "national_id": Column(self.id_digits),
                "birth_date": Column(self.birth),
                "sex": Column(np.where(self.male, 1, 0).astype(np.int32), vocab=("F", "M")),
                "municipality": Column(
                    self.municipality.astype(np.int32), vocab=tuple(m[0] for m in codes.MUNICIPALITIES)
                ),
                "death_date": Column(self.death, nulls=~self.dead),
            },
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def annual_mortality(age: np.ndarray) -> np.ndarray:
    """Gompertz annual probability of death at an age (about Norway's: 0.6 % at 60, 14 % at 90)."""
    return np.minimum(0.6, np.exp(-10.4 + 0.094 * age))


def generate_population(rng: np.random.Generator, n: int, allocator: IndividualNumberAllocator) -> Population:
    """Draw ``n`` patients. ``allocator`` hands out unique individual numbers across chunks."""
    bands = np.array([b[0] for b in codes.AGE_BANDS])
    weights = np.array([b[1] for b in codes.AGE_BANDS])
    male_share = np.array([b[2] for b in codes.AGE_BANDS])
    band = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right")
    age_exact = bands[band] + 5.0 * rng.random(n)
    birth = PERIOD_END - np.floor(age_exact * _YEAR).astype(np.int64)
    age = np.floor((PERIOD_END - birth) / _YEAR).astype(np.int64)
    male = rng.random(n) < male_share[band]

    muni_w = np.array([m[2] for m in codes.MUNICIPALITIES], dtype=np.float64)
    municipality = np.searchsorted(np.cumsum(muni_w) / muni_w.sum(), rng.random(n), side="right")
    municipality = np.minimum(municipality, len(muni_w) - 1)

    frailty = rng.gamma(1.5, 1 / 1.5, n)
    conditions = np.zeros((n, len(codes.CONDITIONS)), dtype=bool)
    susceptibility = np.minimum(0.5 + 0.5 * frailty, 3.0)
    for j, cond in enumerate(codes.CONDITIONS):
        p = cond.top * _sigmoid((age - cond.mid) / cond.scale)
        p = p * np.where(male, cond.male_rr, 1.0) * susceptibility
        p = np.where(age >= cond.min_age, np.minimum(p, 0.95), 0.0)
        conditions[:, j] = rng.random(n) < p
    cancer = conditions[:, CONDITION_INDEX["cancer"]]
    site_f = _draw_site(rng, "F", n)
    site_m = _draw_site(rng, "M", n)
    cancer_site = np.where(cancer, np.where(male, site_m, site_f), -1)

    years = (PERIOD_END - np.maximum(birth, PERIOD_START) + 1) / _YEAR
    hazard = annual_mortality(np.maximum(age - years / 2, 0)) * (1 + 0.35 * conditions.sum(axis=1))
    dead = rng.random(n) < 1 - np.exp(-hazard * years)
    first = np.maximum(birth, PERIOD_START)
    death = first + np.floor(rng.random(n) * (PERIOD_END - first + 1)).astype(np.int64)

    individual = allocator.allocate(birth, male)
    return Population(
        birth=birth,
        male=male,
        dead=dead,
        death=death,
        age=age,
        frailty=frailty,
        conditions=conditions,
        cancer_site=cancer_site,
        id_digits=national_id_digits(birth, individual),
        municipality=municipality,
    )


def _draw_site(rng: np.random.Generator, sex: str, n: int) -> np.ndarray:
    w = np.array([s[1] for s in codes.CANCER_SITES[sex]], dtype=np.float64)
    return np.minimum(np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n), side="right"), len(w) - 1)
