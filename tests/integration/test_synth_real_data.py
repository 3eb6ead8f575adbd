"""Real clinical data nobody on the project wrote (scikit-survival's bundled datasets): quality and privacy.

flchain (7,874 people: serum free light chains and mortality) and gbsg2 (686 breast-cancer patients)
are split in halves: the synthesizer sees one half, the other half is the fresh-people holdout.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from hdc_toolkit.synth import synthesizers as S
from hdc_toolkit.synth.metadata import contract_from_frame
from hdc_toolkit.synth.twin import make_twin

warnings.filterwarnings("ignore", category=FutureWarning)
sksurv = pytest.importorskip("sksurv.datasets")


def _flchain() -> tuple[pd.DataFrame, object]:
    x, y = sksurv.load_flchain()
    df = x.assign(death=y["death"], futime=y["futime"]).reset_index(drop=True)
    roles = {
        "age": "quasi_identifier",
        "sex": "quasi_identifier",
        "sample.yr": "quasi_identifier",
        "chapter": "sensitive",
        "death": "sensitive",
    }
    return df, contract_from_frame(df, "flchain", classifications=roles)


def _gbsg2() -> tuple[pd.DataFrame, object]:
    x, y = sksurv.load_gbsg2()
    df = x.assign(cens=y["cens"], time=y["time"]).reset_index(drop=True)
    roles = {
        "age": "quasi_identifier",
        "menostat": "quasi_identifier",
        "tgrade": "sensitive",
        "cens": "sensitive",
    }
    return df, contract_from_frame(df, "gbsg2", classifications=roles)


CASES = {
    # dataset: (loader, target, columns the utility model must not see (label leaks), minimum quality)
    "flchain": (_flchain, "death", ("chapter", "futime"), 0.90),  # the aim; SDV: 0.85
    "gbsg2": (_gbsg2, "cens", ("time",), 0.85),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_twin_of_real_clinical_data(name: str, tmp_path: Path, record_property) -> None:
    loader, target, leaks, min_quality = CASES[name]
    df, contract = loader()
    result = make_twin({name: df}, tmp_path / "twin", contracts={name: contract}, holdout_fraction=0.5, seed=2,
                       target=target, exclude=leaks)  # fmt: skip
    gate = result.gate
    q, p = gate.quality, gate.privacy[name]
    figures = {
        "quality": round(q.score, 3),
        "column_shapes": round(q.tables[name].column_shapes, 3),
        "pair_trends": round(q.tables[name].pair_trends, 3),
        "trtr_auroc": round(q.utility.trtr, 3),
        "tstr_auroc": round(q.utility.tstr, 3),
        "closer_to_training": round(p.closer_to_training, 3),
        "membership_auc": round(p.membership_auc, 3),
        "median_dcr_syn_train": round(p.median_dcr_synthetic, 4),
        "median_dcr_syn_holdout": round(p.median_dcr_synthetic_holdout, 4),
        "median_dcr_holdout_train": round(p.median_dcr_holdout, 4),
        "exact_match": round(p.exact_match_synthetic, 4),
    }
    for k, v in figures.items():
        record_property(k, v)
    print(name, figures)
    assert result.published, [c.message for c in gate.run.checks if c.verdict.value != "passed"]
    assert q.score >= min_quality
    assert q.utility.tstr >= q.utility.trtr - 0.10
    assert (
        p.closer_to_training < 0.6 and p.membership_auc < 0.56
    )  # the gate applies the exact, size-aware limits


def test_copy_of_real_data_is_refused(tmp_path: Path) -> None:
    df, contract = _flchain()
    result = make_twin({"flchain": df}, tmp_path / "twin", contracts={"flchain": contract}, holdout_fraction=0.5,
                       synthesizer="copy", seed=2)  # fmt: skip
    assert not result.published
    failed = {c.key for c in result.gate.run.checks if c.verdict.value == "failed"}
    assert {
        "synth.flchain.exact_match",
        "synth.flchain.membership",
        "synth.flchain.dcr",
        "synth.flchain.closer_to_training",
    } <= failed


@pytest.mark.parametrize("name", ["ctgan", "tvae"])
def test_sdv_deep_models_are_selectable_and_contract_valid(name: str) -> None:
    df, contract = _flchain()
    df = df.iloc[:400].reset_index(drop=True)
    model = S.fit(df, contract, synthesizer=name, seed=1, epochs=2)
    data = model.sample(seed=2)
    assert len(data["flchain"]) == 400
    assert all(r.passed for r in data.validate(model.contracts).values())
