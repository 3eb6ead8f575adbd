"""Realistic synthetic source extract of a hospital: the data every demo, test and benchmark starts from.

Five tables, exactly as the data contracts in ``data_contracts/`` declare them: ``patients``
(fødselsnummer with valid check digits, birth date, sex, municipality, death date), ``episodes``,
``diagnoses`` (ICD-10), ``prescriptions`` (ATC) and ``lab_results`` (NPU), with realistic
distributions, deterministic from a seed, at any size up to 5 million patients, written as
partitioned Parquet. Known defects can be injected at a chosen rate, with the exact truth written
to ``defects.json``, to test the quality gate.

    >>> from hdc_toolkit.demo import generate_extract
    >>> summary = generate_extract("extract", patients=10_000, seed=1)  # doctest: +SKIP
    >>> summary.rows["episodes"]  # doctest: +SKIP

Module map: :mod:`~hdc_toolkit.demo.generate` (chunks, files), :mod:`~hdc_toolkit.demo.population`,
:mod:`~hdc_toolkit.demo.episodes`, :mod:`~hdc_toolkit.demo.diagnoses`,
:mod:`~hdc_toolkit.demo.prescriptions`, :mod:`~hdc_toolkit.demo.lab_results` (one table each),
:mod:`~hdc_toolkit.demo.national_id` (fødselsnummer), :mod:`~hdc_toolkit.demo.codes` (code lists and
frequencies), :mod:`~hdc_toolkit.demo.defects` (defect injection), :mod:`~hdc_toolkit.demo.frame`
(column store and Arrow schemas), :mod:`~hdc_toolkit.demo.sampling` (vectorised sampling helpers).
"""

from __future__ import annotations

from hdc_toolkit.demo.defects import DEFECT_KINDS, MAX_DEFECT_RATE
from hdc_toolkit.demo.frame import SCHEMAS
from hdc_toolkit.demo.generate import (
    DEFAULT_CHUNK_SIZE,
    DEFECTS_FILE,
    MAX_PATIENTS,
    TABLES,
    ExtractSummary,
    Progress,
    generate_extract,
)
from hdc_toolkit.demo.national_id import (
    birth_date_of,
    check_digits,
    is_valid_national_id,
    make_national_id,
    sex_of,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFECTS_FILE",
    "DEFECT_KINDS",
    "MAX_DEFECT_RATE",
    "MAX_PATIENTS",
    "SCHEMAS",
    "TABLES",
    "ExtractSummary",
    "Progress",
    "birth_date_of",
    "check_digits",
    "generate_extract",
    "is_valid_national_id",
    "make_national_id",
    "sex_of",
]
