"""A small, lazy registry of contract exporters: a name maps to ``"module:function"``.

Nothing is imported until an exporter is used, so listing exporters stays fast even though the
``gx-suite`` exporter's target pulls in Great Expectations (~6 s)::

    >>> from hdc_toolkit.contracts import exporters
    >>> exporters.names()
    ('gx', 'gx-suite', 'pyarrow')
    >>> text = exporters.export(contract, "gx")             # GX 1.x suite as JSON text (the CLI's output)
    >>> suite = exporters.export_object(contract, "gx")     # the same suite as a dict
    >>> schema = exporters.export_object(contract, "pyarrow")  # a pyarrow.Schema

An exporter is a function ``f(contract, **options)`` returning an object, plus a serializer
(``"module:function"``, object → text) used by :func:`export` (``hdc contract export --format NAME``).
``extra``/``requires`` name the optional dependency group and module an exporter needs; a missing one
raises :class:`~hdc_toolkit.exceptions.MissingExtraError` with the ``pip install`` fix.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import MissingExtraError, NotFoundError

__all__ = ["Exporter", "export", "export_object", "get", "info", "names", "register"]


def _resolve(target: str, what: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    func = getattr(importlib.import_module(module_name), attr, None)
    if not callable(func):
        raise NotFoundError(f"{what}: {target} is not a function")
    return func  # type: ignore[no-any-return]


def _check_target(target: str) -> None:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"exporter target must look like 'package.module:function'; got {target!r}")


def json_text(obj: Any) -> str:
    """The default serializer: indented JSON (objects with ``to_json_dict()``, e.g. GX suites, too)."""
    if hasattr(obj, "to_json_dict"):
        obj = obj.to_json_dict()
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


@dataclass(frozen=True)
class Exporter:
    """One registered exporter."""

    name: str
    target: str
    description: str = ""
    extra: str | None = None
    requires: str | None = None
    serializer: str = "hdc_toolkit.contracts.exporters:json_text"

    def load(self) -> Callable[..., Any]:
        """Import the target function (and check its optional dependency first)."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            raise MissingExtraError(self.extra or self.requires, self.requires)
        return _resolve(self.target, f"exporter {self.name!r}")

    def to_text(self, obj: Any) -> str:
        return str(_resolve(self.serializer, f"serializer of exporter {self.name!r}")(obj))


_REGISTRY: dict[str, Exporter] = {}


def register(
    name: str,
    target: str,
    description: str = "",
    *,
    extra: str | None = None,
    requires: str | None = None,
    serializer: str | None = None,
    replace: bool = False,
) -> Exporter:
    """Register ``target`` (``"package.module:function"``) under ``name``; nothing is imported."""
    _check_target(target)
    if serializer is not None:
        _check_target(serializer)
    if name in _REGISTRY and not replace:
        raise ValueError(f"an exporter named {name!r} is already registered ({_REGISTRY[name].target})")
    exporter = Exporter(name, target, description, extra, requires, *([serializer] if serializer else []))
    _REGISTRY[name] = exporter
    return exporter


def names() -> tuple[str, ...]:
    """Registered exporter names, sorted."""
    return tuple(sorted(_REGISTRY))


def info(name: str) -> Exporter:
    """The registry entry for ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(f"no exporter named {name!r}; available: {', '.join(names())}") from None


def get(name: str) -> Callable[..., Any]:
    """The exporter function for ``name`` (imported now)."""
    return info(name).load()


def export_object(contract: Contract, name: str, **options: Any) -> Any:
    """Run exporter ``name`` on ``contract`` and return what it builds (dict, schema, suite...)."""
    return get(name)(contract, **options)


def export(contract: Contract, name: str, **options: Any) -> str:
    """Run exporter ``name`` on ``contract`` and return its text form (what ``hdc contract export`` prints)."""
    exporter = info(name)
    return exporter.to_text(exporter.load()(contract, **options))


register("gx", "hdc_toolkit.contracts.export_gx:contract_to_gx_suite",
         "Great Expectations 1.x expectation suite as JSON (a dict); needs no GX install")  # fmt: skip
register("gx-suite", "hdc_toolkit.contracts.export_gx:build_gx_suite",
         "a great_expectations.ExpectationSuite object", extra="gx", requires="great_expectations")  # fmt: skip
register("pyarrow", "hdc_toolkit.contracts.export_arrow:contract_to_arrow_schema",
         "pyarrow.Schema from logicalType/physicalType (provisioning, SDV)",
         serializer="hdc_toolkit.contracts.export_arrow:schema_to_text")  # fmt: skip
register("sdv", "hdc_toolkit.synth.metadata:contract_to_sdv_dict",
         "SDV 2.x metadata (spec V2) as JSON: contract bounds and codes only, no data")  # fmt: skip
