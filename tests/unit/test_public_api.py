"""The curated public API: ``__all__`` lists exactly the public names, and they import."""

import importlib

import pytest

import hdc_toolkit

PACKAGES = ["hdc_toolkit", "hdc_toolkit.contracts", "hdc_toolkit.exceptions", "hdc_toolkit.results", "hdc_toolkit.analysis", "hdc_toolkit.outputs", "hdc_toolkit.privacy"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_top_level_all_matches_public_members():
    public = sorted(n for n in vars(hdc_toolkit) if not n.startswith("_") and n not in {"annotations", "exceptions", "results", "contracts", "config", "cli", "commands", "demo", "projects", "audit"})
    public = [n for n in public if not isinstance(getattr(hdc_toolkit, n), type(hdc_toolkit))]
    assert sorted(n for n in hdc_toolkit.__all__ if n != "__version__") == public


def test_user_errors_subclass_builtins():
    from hdc_toolkit import exceptions as e

    assert issubclass(e.ContractError, ValueError)
    assert issubclass(e.NotFoundError, LookupError)
    assert issubclass(e.PermissionDenied, PermissionError)
    assert issubclass(e.MissingExtraError, ImportError)
    assert all(issubclass(c, e.HdcError) for c in (e.HdcUserError, e.HdcInternalError))
