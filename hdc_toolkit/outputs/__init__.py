"""Safe outputs: statistical disclosure control, the two-reviewer airlock, differencing, the review page.

In a notebook::

    from hdc_toolkit.outputs import frequency_table, magnitude_table
    t = frequency_table(df, "county", "sex", profile="acro-default")   # pandas or Dask
    t.table, t.run.verdict, t.flags
    t.save("outputs/")                                                 # CSV + SDC record

then ``hdc output request outputs/frequency_county_sex.csv --context "..."`` (inside a sandbox server
this goes through the hub's review service, as does ``submit([...], context=...)``); two output checkers
review it (``hdc output review`` or the review page), and ``hdc output release`` copies it out.

Modules: :mod:`.rules` (pure rules and their constants), :mod:`.profiles` (risk profiles),
:mod:`.mitigate` (suppression, rounding, margins), :mod:`.tables` (the notebook API), :mod:`.files`
(file rules), :mod:`.differencing`, :mod:`.checking` (what a request runs), :mod:`.airlock` (the
workflow) and :mod:`.records` (its snapshots), :mod:`.models` (registry tables), :mod:`.review_app`
(the JupyterHub service).

Names are imported on first use, so ``import hdc_toolkit.outputs`` stays cheap (no pandas, SQLAlchemy
or tornado until needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from hdc_toolkit.outputs.airlock import REQUEST_STATES, Airlock
    from hdc_toolkit.outputs.checking import check_outputs
    from hdc_toolkit.outputs.differencing import LedgerTable, find_differences
    from hdc_toolkit.outputs.files import check_file
    from hdc_toolkit.outputs.mitigate import add_margins, round_counts, suppress
    from hdc_toolkit.outputs.profiles import ACRO_DEFAULT, NHS_SDE, OPENSAFELY, PROFILES, Profile, get_profile
    from hdc_toolkit.outputs.records import RequestRecord, ReviewRecord
    from hdc_toolkit.outputs.submission import submit
    from hdc_toolkit.outputs.tables import (
        SafeTable,
        frequency_table,
        histogram,
        magnitude_table,
        regression,
        survival_table,
    )

__all__ = [
    "ACRO_DEFAULT",
    "NHS_SDE",
    "OPENSAFELY",
    "PROFILES",
    "REQUEST_STATES",
    "Airlock",
    "LedgerTable",
    "Profile",
    "RequestRecord",
    "ReviewRecord",
    "SafeTable",
    "add_margins",
    "check_file",
    "check_outputs",
    "find_differences",
    "frequency_table",
    "get_profile",
    "histogram",
    "magnitude_table",
    "regression",
    "round_counts",
    "submit",
    "suppress",
    "survival_table",
]

_WHERE: dict[str, str] = {
    **dict.fromkeys(("REQUEST_STATES", "Airlock"), "airlock"),
    **dict.fromkeys(("RequestRecord", "ReviewRecord"), "records"),
    "check_outputs": "checking",
    **dict.fromkeys(("LedgerTable", "find_differences"), "differencing"),
    "check_file": "files",
    "submit": "submission",
    **dict.fromkeys(("add_margins", "round_counts", "suppress"), "mitigate"),
    **dict.fromkeys(
        ("ACRO_DEFAULT", "NHS_SDE", "OPENSAFELY", "PROFILES", "Profile", "get_profile"), "profiles"
    ),
    **dict.fromkeys(
        ("SafeTable", "frequency_table", "histogram", "magnitude_table", "regression", "survival_table"),
        "tables",
    ),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hdc_toolkit.outputs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hdc_toolkit.outputs.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
