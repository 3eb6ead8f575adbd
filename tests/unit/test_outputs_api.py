"""The public surface of ``hdc_toolkit.outputs``: curated, importable, cheap to import."""

from __future__ import annotations

import subprocess
import sys

import hdc_toolkit.outputs as outputs


def test_all_names_exist_and_are_sorted() -> None:
    assert [n for n in outputs.__all__ if not hasattr(outputs, n)] == []
    assert outputs.__all__ == sorted(outputs.__all__, key=lambda n: (not n.isupper(), n))


def test_import_is_light() -> None:
    code = (
        "import sys, hdc_toolkit.outputs, hdc_toolkit.outputs.rules, hdc_toolkit.outputs.profiles\n"
        "heavy = ('pandas', 'sqlalchemy', 'tornado', 'jupyterhub', 'dask')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_review_service_wiring() -> None:
    from hdc_toolkit.outputs.review_app import SERVICE_NAME, service_definition, service_roles

    svc = service_definition(port=10123, environment={"HDC_HOME": "/srv/hdc"})
    assert svc["url"] == "http://127.0.0.1:10123" and svc["name"] == SERVICE_NAME
    assert svc["command"][-2:] == ["-m", "hdc_toolkit.outputs.review_app"]
    assert svc["environment"] == {"HDC_HOME": "/srv/hdc"} and svc["oauth_no_confirm"] is True
    (role,) = service_roles()
    assert role["name"] == "user" and f"access:services!service={SERVICE_NAME}" in role["scopes"]
    assert "self" in role["scopes"]


def test_cli_help_lists_output_commands() -> None:
    from hdc_toolkit.cli import build_parser

    text = build_parser().format_help()
    assert "output" in text
