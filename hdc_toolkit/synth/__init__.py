"""Synthetic twins: contract-true synthetic data, quality and privacy reports, and a release gate.

Notebook use::

    from hdc_toolkit import synth

    model = synth.fit("data/", "data/contracts/", seed=1)         # default: the fast multi-table copula
    twin = model.sample(scale=1.0, seed=2)                        # dict of DataFrames, contract-valid
    gate = synth.evaluate(train, twin, holdout, model.contracts, risk_profile="acro-default")
    gate                                                          # renders the HTML report in Jupyter

    synth.make_twin(release_dir, out_dir, risk_profile="opensafely")   # what provisioning calls

Modules: :mod:`.metadata` (contract → plan and SDV metadata), :mod:`.synthesizers` (plug-ins, the
pipeline), :mod:`.constraints`, :mod:`.quality`, :mod:`.privacy`, :mod:`.gate`, :mod:`.report`,
:mod:`.twin`. Heavy packages (SDV, SDMetrics, scikit-learn) are imported only when used.

Licences: SDV, rdt, copulas and ctgan (the ``gaussian_copula``, ``ctgan``, ``tvae`` and ``hma``
plug-ins) are under the Business Source License 1.1, which bars offering a synthetic-data service to
third parties; the default ``fast`` synthesizer and SDMetrics (MIT) are not affected.
"""

from __future__ import annotations

import importlib
from typing import Any

from hdc_toolkit.synth import metadata as _metadata  # noqa: F401  (registers the "sdv" contract exporter)

__all__ = [
    "GateResult",
    "SynthReport",
    "SynthesisModel",
    "SyntheticData",
    "evaluate",
    "fit",
    "load_model",
    "make_twin",
    "plan_schema",
    "register_synthesizer",
    "release_gate",
    "risk_settings",
    "split_holdout",
    "synthesizers_available",
    "to_sdv_metadata",
]

_LAZY = {
    "fit": ("hdc_toolkit.synth.synthesizers", "fit"),
    "load_model": ("hdc_toolkit.synth.synthesizers", "load_model"),
    "SynthesisModel": ("hdc_toolkit.synth.synthesizers", "SynthesisModel"),
    "SyntheticData": ("hdc_toolkit.synth.synthesizers", "SyntheticData"),
    "register_synthesizer": ("hdc_toolkit.synth.synthesizers", "register"),
    "synthesizers_available": ("hdc_toolkit.synth.synthesizers", "available"),
    "evaluate": ("hdc_toolkit.synth.twin", "evaluate"),
    "make_twin": ("hdc_toolkit.synth.twin", "make_twin"),
    "split_holdout": ("hdc_toolkit.synth.twin", "split_holdout"),
    "release_gate": ("hdc_toolkit.synth.gate", "release_gate"),
    "risk_settings": ("hdc_toolkit.synth.gate", "risk_settings"),
    "GateResult": ("hdc_toolkit.synth.gate", "GateResult"),
    "SynthReport": ("hdc_toolkit.synth.report", "SynthReport"),
    "plan_schema": ("hdc_toolkit.synth.metadata", "plan_schema"),
    "to_sdv_metadata": ("hdc_toolkit.synth.metadata", "to_sdv_metadata"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'hdc_toolkit.synth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
