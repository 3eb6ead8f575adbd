"""Known defects injected into a demo extract, so that the quality gate can be tested against truth.

Every defect kind breaks exactly one check of the data contracts and no other (check key: what is
done to the chosen rows):

* ``patients.sex.not_null``: sex set to null;
* ``patients.birth_date.range``: birth date moved to 2027-2029 (only rows without a death date);
* ``patients.rule.death_not_before_birth``: death date set 1-365 days before birth (still in range);
* ``patients.municipality.pattern``: municipality number cut to 3 digits (``5001`` → ``500``);
* ``patients.national_id.unique``: the row is copied and appended (2 failing rows per copy, and no
  orphans, because the original id stays);
* ``episodes.department.not_null``: department set to null;
* ``episodes.care_type.allowed_values``: Norwegian label (``innlagt``, ``poliklinisk``, ``dagbehandling``);
* ``episodes.rule.discharge_not_before_admission``: admission and discharge swapped (only rows with
  discharge after admission, so both stay within their ranges);
* ``episodes.episode_id.unique``: the row is copied and appended (2 failing rows per copy);
* ``diagnoses.icd10_code.not_null``: code set to null;
* ``diagnoses.icd10_code.pattern``: code written with a dot (``E11.9``; 4-character codes only);
* ``diagnoses.episode_id.foreign_key``: an episode id beyond any real one;
* ``prescriptions.dispense_date.not_null``: dispense date set to null;
* ``prescriptions.ddd.range``: DDD made negative;
* ``prescriptions.atc_code.pattern``: ATC code cut to 5 characters (``A10BA02`` → ``A10BA``);
* ``prescriptions.national_id.foreign_key``: a D-number-like id (first digit + 4): still 11 digits,
  but no patient has it;
* ``lab_results.value.range``: value above 100 000;
* ``lab_results.unit.allowed_values``: unit misspelt (``mmol/l``, ``µmol/L``, ...);
* ``lab_results.analysis_code.pattern``: local code instead of NPU (``NPU27300`` → ``DNK27300``).

``rate`` is the share of each table's rows that carry a defect, split evenly between the table's
defect kinds; the rows are disjoint (no row carries two defects, and copies are made of clean rows).
Counts per chunk are rounded stochastically (deterministically from the seed), and the exact number
of failing rows each check must report is returned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hdc_toolkit.demo.frame import Frame
from hdc_toolkit.demo.sampling import epoch_day

__all__ = ["DEFECT_KINDS", "MAX_DEFECT_RATE", "DefectKind", "inject_defects"]

#: The defect rate must be below this (half the rows of a table).
MAX_DEFECT_RATE = 0.5
#: Orphan episode ids start here: far beyond any id the generator hands out.
ORPHAN_EPISODE_BASE = 900_000_000_000
_LAST_VALID_DAY = epoch_day("2026-12-31")
_FIRST_VALID_DAY = epoch_day("1900-01-01")
_CARE_TYPE_LABELS = {"inpatient": "innlagt", "outpatient": "poliklinisk", "day": "dagbehandling"}
_WRONG_UNITS = {
    "mmol/L": "mmol/l",
    "mmol/mol": "mmol/mol IFCC",
    "g/L": "g/l",
    "mg/L": "mg/l",
    "U/L": "U/l",
    "umol/L": "µmol/L",
    "10^9/L": "10E9/L",
    "mL/min/1.73m2": "mL/min",
    "%": "pct",
}

Eligible = Callable[[Frame], np.ndarray]
Apply = Callable[[Frame, np.ndarray, np.random.Generator], int]


@dataclass(frozen=True)
class DefectKind:
    """One kind of defect: the check it breaks, which rows may carry it, and how to inject it."""

    check: str
    eligible: Eligible | None
    apply: Apply

    @property
    def table(self) -> str:
        return self.check.split(".", 1)[0]


# ------------------------------------------------------------------------------------------------
# Helpers


def _null(column: str) -> Apply:
    def apply(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
        frame[column].set_null(rows)
        return len(rows)

    return apply


def _recode(column: str, change: Callable[[str], str]) -> Apply:
    """Replace coded strings by ``change(old)``, a string outside the column's rules."""

    def apply(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
        col = frame[column]
        assert col.vocab is not None
        old_vocab = col.vocab
        mapping = np.array([col.code_of(change(text)) for text in old_vocab], dtype=np.int32)
        col.values[rows] = mapping[col.values[rows]]
        return len(rows)

    return apply


def _duplicate(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    frame.append_rows(rows)
    return 2 * len(rows)


def _vocab_eligible(column: str, test: Callable[[str], bool]) -> Eligible:
    def eligible(frame: Frame) -> np.ndarray:
        col = frame[column]
        assert col.vocab is not None
        ok = np.array([test(t) for t in col.vocab])
        return ok[col.values]

    return eligible


# ------------------------------------------------------------------------------------------------
# patients


def _birth_after_max(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    frame["birth_date"].values[rows] = _LAST_VALID_DAY + rng.integers(1, 3 * 365, len(rows))
    return len(rows)


def _living(frame: Frame) -> np.ndarray:
    nulls = frame["death_date"].nulls
    return np.ones(len(frame), dtype=bool) if nulls is None else nulls.copy()


def _death_before_birth(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    col = frame["death_date"]
    col.values[rows] = frame["birth_date"].values[rows] - rng.integers(1, 366, len(rows))
    if col.nulls is not None:
        col.nulls[rows] = False
    return len(rows)


def _born_after_1901(frame: Frame) -> np.ndarray:
    return frame["birth_date"].values >= _FIRST_VALID_DAY + 366


# ------------------------------------------------------------------------------------------------
# episodes


def _discharge_after_admission(frame: Frame) -> np.ndarray:
    return frame["discharge_time"].values > frame["admission_time"].values


def _swap_times(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    adm, dis = frame["admission_time"].values, frame["discharge_time"].values
    adm[rows], dis[rows] = dis[rows].copy(), adm[rows].copy()
    return len(rows)


# ------------------------------------------------------------------------------------------------
# diagnoses, prescriptions, lab results


def _orphan_episode(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    frame["episode_id"].values[rows] = ORPHAN_EPISODE_BASE + rng.integers(0, 10**9, len(rows))
    return len(rows)


def _negative_ddd(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    values = frame["ddd"].values
    values[rows] = -values[rows]
    return len(rows)


def _orphan_national_id(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    # the first digit of a fødselsnummer is 0-3 (day of month); +4 gives a D-number-like id that
    # still has 11 digits but belongs to no patient
    frame["national_id"].values[rows, 0] += 4
    return len(rows)


def _value_above_max(frame: Frame, rows: np.ndarray, rng: np.random.Generator) -> int:
    frame["value"].values[rows] = np.round(100_000.5 + rng.random(len(rows)) * 900_000, 1)
    return len(rows)


DEFECT_KINDS: dict[str, tuple[DefectKind, ...]] = {
    "patients": (
        DefectKind("patients.sex.not_null", None, _null("sex")),
        DefectKind("patients.birth_date.range", _living, _birth_after_max),
        DefectKind("patients.rule.death_not_before_birth", _born_after_1901, _death_before_birth),
        DefectKind("patients.municipality.pattern", None, _recode("municipality", lambda s: s[:3])),
        DefectKind("patients.national_id.unique", None, _duplicate),
    ),
    "episodes": (
        DefectKind("episodes.department.not_null", None, _null("department")),
        DefectKind(
            "episodes.care_type.allowed_values", None, _recode("care_type", lambda s: _CARE_TYPE_LABELS[s])
        ),
        DefectKind("episodes.rule.discharge_not_before_admission", _discharge_after_admission, _swap_times),
        DefectKind("episodes.episode_id.unique", None, _duplicate),
    ),
    "diagnoses": (
        DefectKind("diagnoses.icd10_code.not_null", None, _null("icd10_code")),
        DefectKind(
            "diagnoses.icd10_code.pattern",
            _vocab_eligible("icd10_code", lambda c: len(c) == 4),
            _recode("icd10_code", lambda c: f"{c[:3]}.{c[3:]}"),
        ),
        DefectKind("diagnoses.episode_id.foreign_key", None, _orphan_episode),
    ),
    "prescriptions": (
        DefectKind("prescriptions.dispense_date.not_null", None, _null("dispense_date")),
        DefectKind("prescriptions.ddd.range", None, _negative_ddd),
        DefectKind("prescriptions.atc_code.pattern", None, _recode("atc_code", lambda c: c[:5])),
        DefectKind("prescriptions.national_id.foreign_key", None, _orphan_national_id),
    ),
    "lab_results": (
        DefectKind("lab_results.value.range", None, _value_above_max),
        DefectKind("lab_results.unit.allowed_values", None, _recode("unit", lambda u: _WRONG_UNITS[u])),
        DefectKind(
            "lab_results.analysis_code.pattern", None, _recode("analysis_code", lambda c: f"DNK{c[3:]}")
        ),
    ),
}


def inject_defects(frames: dict[str, Frame], rate: float, rng: np.random.Generator) -> Counter[str]:
    """Inject defects into one chunk's tables in place; returns the failing count per check key."""
    expected: Counter[str] = Counter()
    if rate <= 0:
        return expected
    for table, kinds in DEFECT_KINDS.items():
        frame = frames[table]
        n = len(frame)
        order = rng.permutation(n)
        used = np.zeros(n, dtype=bool)
        per_kind = rate * n / len(kinds)
        for kind in kinds:
            want = int(np.floor(per_kind + rng.random()))
            ok = ~used if kind.eligible is None else kind.eligible(frame)[:n] & ~used
            rows = np.sort(order[ok[order]][:want])
            used[rows] = True
            if len(rows):
                expected[kind.check] += kind.apply(frame, rows, rng)
    return expected
