"""The toolkit's exceptions.

A failed check is *not* an exception: gates return a :class:`~hdc_toolkit.results.Run` whose checks
say passed / warning / failed / error. An exception means something could not run at all.

Exceptions subclass the matching builtin too, so ``except ValueError`` keeps working::

    HdcError (Exception)
    ├── HdcUserError                     shown to the user as one message, no traceback
    │   ├── ContractError (ValueError)        a contract file is unusable          exit 2
    │   ├── DataError (ValueError)            a data file or directory is unusable exit 2
    │   ├── ApplicationError (ValueError)     an application/permit is invalid    exit 2
    │   ├── NotFoundError (LookupError)       a project, table or file is unknown  exit 2
    │   ├── StateError (RuntimeError)         an illegal lifecycle transition      exit 3
    │   ├── PermissionDenied (PermissionError) not permitted by the permit/role    exit 4
    │   ├── PrivacyBudgetExceeded (ValueError) a DP run would exceed the budget    exit 5
    │   └── MissingExtraError (ImportError)   an optional extra is not installed   exit 6
    └── HdcInternalError (RuntimeError)   a bug or an environment fault: traceback shown
"""

from __future__ import annotations

__all__ = [
    "ApplicationError",
    "ContractError",
    "DataError",
    "HdcError",
    "HdcInternalError",
    "HdcUserError",
    "MissingExtraError",
    "NotFoundError",
    "PermissionDenied",
    "PrivacyBudgetExceeded",
    "StateError",
]


class HdcError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class HdcUserError(HdcError):
    """An error caused by the user's input; the CLI prints the message without a traceback.

    ``location`` names the file (and line/field where known) the message is about.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, location: str | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class ContractError(HdcUserError, ValueError):
    """A data contract cannot be loaded or compiled."""


class DataError(HdcUserError, ValueError):
    """A data file or dataset cannot be read (missing, empty, not Parquet)."""


class ApplicationError(HdcUserError, ValueError):
    """An application or permit breaks one or more rules; ``problems`` lists each one."""

    def __init__(self, message: str, *, location: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(message, location=location)


class NotFoundError(HdcUserError, LookupError):
    """A named project, table, column or file does not exist."""


class StateError(HdcUserError, RuntimeError):
    """An operation is not allowed in the object's current lifecycle state."""

    exit_code = 3


class PermissionDenied(HdcUserError, PermissionError):
    """The permit or the person's role does not allow this."""

    exit_code = 4


class PrivacyBudgetExceeded(HdcUserError, ValueError):
    """A differentially private run would spend more than the project's remaining budget."""

    exit_code = 5


class MissingExtraError(HdcUserError, ImportError):
    """An optional dependency group is not installed; the message names the ``pip install`` fix."""

    exit_code = 6

    def __init__(self, extra: str, package: str) -> None:
        super().__init__(
            f"this needs the optional package {package!r}; install it with: pip install 'hdc-toolkit[{extra}]'"
        )


class HdcInternalError(HdcError, RuntimeError):
    """Something that should not happen; reported with a traceback."""
