"""The synthesizer plug-in interface: a third-party (e.g. MIT-licensed DP) synthesizer registers and runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hdc_toolkit.contracts.model import Column, Contract
from hdc_toolkit.exceptions import HdcUserError, NotFoundError
from hdc_toolkit.synth import synthesizers as S
from hdc_toolkit.synth.twin import make_twin


class IndependentMarginals(S.Synthesizer):
    """A toy plug-in: each column resampled on its own (stands in for a DP marginal synthesizer)."""

    name = "toy-marginals"
    licence = "MIT"

    def fit_table(self, data, table, context):
        self.data = data
        self.k = context.min_count
        self.certificate = "toy: not actually differentially private"

    def sample_table(self, num_rows, seed=None):
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {c: self.data[c].to_numpy()[rng.integers(0, len(self.data), num_rows)] for c in self.data.columns}
        )


@pytest.fixture()
def registered():
    S.register("toy-marginals", IndependentMarginals, licence="MIT", description="test plug-in", replace=True)
    yield "toy-marginals"
    S._REGISTRY.pop("toy-marginals", None)


def _data(n: int = 800) -> tuple[pd.DataFrame, Contract]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(n), "age": rng.integers(20, 90, n), "sex": rng.choice(["F", "M"], n),
                       "grade": rng.choice(["1", "2", "3"], n)})  # fmt: skip
    contract = Contract("t", (Column("id", "integer", primary_key=True, unique=True, required=True),
                              Column("age", "integer", required=True, minimum=0, maximum=120),
                              Column("sex", "string", required=True, allowed_values=("F", "M"), classification="quasi_identifier"),
                              Column("grade", "string", classification="sensitive")))  # fmt: skip
    return df, contract


def test_registry_lists_builtins_and_licences() -> None:
    names = S.available()
    assert {"fast", "gaussian_copula", "ctgan", "tvae", "hma", "copy"} <= set(names)
    assert S.info("fast").licence.startswith("Apache") and S.info("ctgan").licence.startswith("BUSL")
    assert S.info("copy").negative_control
    with pytest.raises(NotFoundError, match="available"):
        S.info("nope")
    with pytest.raises(ValueError, match="already registered"):
        S.register("fast", "x.y:Z", licence="MIT")
    with pytest.raises(HdcUserError, match="no option"):
        S.fit(*_data(), epochs=3)


def test_a_registered_plug_in_runs_through_the_pipeline(registered: str, tmp_path) -> None:
    df, contract = _data()
    model = S.fit(df, contract, synthesizer=registered, seed=1)
    data = model.sample(seed=2)
    assert data["t"]["id"].is_unique and len(data["t"]) == len(df)
    assert all(r.passed for r in data.validate(model.contracts).values())
    assert model.certificate == "toy: not actually differentially private"
    result = make_twin(
        {"t": df}, tmp_path / "twin", contracts={"t": contract}, synthesizer=registered, seed=3
    )
    # a certified plug-in still has to pass quality and validity; empirical privacy results become warnings
    verdicts = {c.key: c.verdict.value for c in result.gate.run.checks}
    assert verdicts["synth.t.contract"] == "passed" and "failed" not in {
        v for k, v in verdicts.items() if ".dcr" in k or "membership" in k
    }
    assert result.gate.run.metadata["dp_certificate"] == "toy: not actually differentially private"


def test_lazy_string_targets() -> None:
    entry = S.register(
        "lazy-fast", "hdc_toolkit.synth.synthesizers:FastSynthesizer", licence="Apache-2.0", replace=True
    )
    try:
        assert entry.load() is S.FastSynthesizer
        df, contract = _data(300)
        assert len(S.fit(df, contract, synthesizer="lazy-fast", seed=1).sample(seed=2)["t"]) == 300
    finally:
        S._REGISTRY.pop("lazy-fast", None)
