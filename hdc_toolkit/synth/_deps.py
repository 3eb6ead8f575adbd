"""Optional dependencies of the synth package, checked with a clear ``pip install`` message."""

from __future__ import annotations

import importlib.util

from hdc_toolkit.exceptions import MissingExtraError

__all__ = ["require", "require_sdmetrics", "require_sdv"]


def require(module: str, extra: str = "synth", package: str | None = None) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(extra, package or module)


def require_sdv() -> None:
    require("sdv", "synth", "sdv")


def require_sdmetrics() -> None:
    require("sdmetrics", "synth", "sdmetrics")
