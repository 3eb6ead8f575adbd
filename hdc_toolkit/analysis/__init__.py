"""Scalable analysis inside a project: a Dask client, permitted-column tables, epidemiology helpers.

::

    from hdc_toolkit.analysis import connect, open_table, code_filter, select_cohort, incidence

    client = connect()                                    # local TLS cluster, Gateway or scheduler
    e11 = open_table("diagnoses", ["pid", "episode_id"], filters=code_filter("icd10_code", "E11"))
    episodes = open_table("episodes", ["episode_id", "admission_time"])
    cohort = select_cohort(broadcast_merge(episodes, e11, on="episode_id"), date="admission_time")
    patients = open_table("patients", ["pid", "birth_date", "sex", "death_date"])
    rates = incidence(patients, cohort, start="2016-01-01", end="2025-12-31")   # pandas, per cell

Names are imported on first use, so ``import hdc_toolkit.analysis`` does not import Dask.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEFAULT_AGE_BANDS",
    "INDEX_DATE",
    "Resources",
    "age_at",
    "age_band_labels",
    "binomial_ci",
    "broadcast_merge",
    "close",
    "code_filter",
    "connect",
    "describe_tables",
    "follow_up",
    "incidence",
    "local_cluster",
    "match_codes",
    "open_release",
    "open_table",
    "person_time",
    "poisson_ci",
    "prevalence",
    "read_parquet_table",
    "resources",
    "select_cohort",
]

_WHERE = {
    "cluster": ("Resources", "close", "connect", "local_cluster", "resources"),
    "tables": ("describe_tables", "open_release", "open_table", "read_parquet_table"),
    "epi": (
        "DEFAULT_AGE_BANDS", "INDEX_DATE", "age_at", "age_band_labels", "binomial_ci", "broadcast_merge",
        "code_filter", "follow_up", "incidence", "match_codes", "person_time", "poisson_ci", "prevalence",
        "select_cohort",
    ),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'hdc_toolkit.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hdc_toolkit.analysis.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
