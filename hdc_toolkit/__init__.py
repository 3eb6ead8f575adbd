"""hdc-toolkit: the research sandbox toolkit of a regional hospital health data centre.

The curated public API is listed in ``__all__``; heavy parts (GX, SDV, Opacus, Dask) are imported
lazily by the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from hdc_toolkit.exceptions import (
    ApplicationError,
    ContractError,
    DataError,
    HdcError,
    HdcInternalError,
    HdcUserError,
    MissingExtraError,
    NotFoundError,
    PermissionDenied,
    PrivacyBudgetExceeded,
    StateError,
)
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "ApplicationError",
    "Check",
    "ContractError",
    "DataError",
    "HdcError",
    "HdcInternalError",
    "HdcUserError",
    "MissingExtraError",
    "NotFoundError",
    "PermissionDenied",
    "PrivacyBudgetExceeded",
    "Run",
    "StateError",
    "Verdict",
    "__version__",
]
