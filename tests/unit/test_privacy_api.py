"""The privacy package's public API: declared, importable, and light (no torch at import)."""

from __future__ import annotations

import subprocess
import sys

from hdc_toolkit import privacy


def test_all_names_resolve():
    assert sorted(privacy.__all__) == sorted(privacy._EXPORTS)  # every export declared, once
    missing = [n for n in privacy.__all__ if getattr(privacy, n, None) is None]
    assert missing == []


def test_importing_the_ledger_and_the_budget_cli_loads_no_torch():
    code = (
        "import sys; import hdc_toolkit.privacy, hdc_toolkit.privacy.ledger, hdc_toolkit.privacy.accounting, "
        "hdc_toolkit.privacy.preprocess, hdc_toolkit.privacy.model_card, hdc_toolkit.commands.budget; "
        "from hdc_toolkit.privacy import BudgetLedger, compose; "
        "heavy = [m for m in ('torch', 'opacus', 'snsynth', 'jax') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError):
        privacy.no_such_thing  # noqa: B018
