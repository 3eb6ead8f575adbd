"""A project's synthetic twin: fit on a release, sample, gate, and publish only what passes.

:func:`make_twin` is what provisioning calls (``HDC_HOME/projects/<id>/synthetic/``)::

    result = make_twin(workspace.data, workspace.synthetic, risk_profile=project.risk_profile,
                       refused_dir=settings.home / "reports" / project_id)

1. The release's tables are split by person: a random ``holdout_fraction`` of the root table's rows
   (patients) and all their rows in the other tables are held out; the synthesizer never sees them.
2. The synthesizer is fitted on the rest and sampled (``scale`` × the fitted row counts).
3. The tables are written as Parquet with the contracts' schemas, validated by the foundation
   validator, and judged by the release gate against the holdout.
4. Only when the gate passes are the tables, ``gate.json``, ``report.html``, ``manifest.json`` and
   the contracts renamed into ``out_dir`` together (nothing half-written is ever visible). A refused
   twin publishes nothing; its gate result and report go to ``refused_dir`` for the data centre.

The fitted model is not written anywhere (it encodes the real data); pass ``model_path`` to keep it
inside the data centre.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import ContractError, HdcUserError
from hdc_toolkit.synth.metadata import SchemaPlan, plan_schema

__all__ = ["TwinResult", "evaluate", "find_contracts", "make_twin", "split_holdout"]

GATE_FILE = "gate.json"
REPORT_FILE = "report.html"
MANIFEST_FILE = "manifest.json"


@dataclass
class TwinResult:
    published: bool
    out_dir: Path | None
    gate: Any
    synthesis: dict[str, Any] = field(default_factory=dict)
    refused_dir: Path | None = None

    @property
    def passed(self) -> bool:
        return bool(self.gate.passed)

    def _repr_html_(self) -> str:
        return self.gate._repr_html_()  # type: ignore[no-any-return]


def split_holdout(
    tables: Mapping[str, pd.DataFrame], plan: SchemaPlan, *, fraction: float = 0.2, seed: int | None = None
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Hold out a random ``fraction`` of each root table's rows with all their descendants."""
    if not 0 < fraction < 1:
        raise HdcUserError(f"holdout fraction must be between 0 and 1; got {fraction}")
    rng = np.random.default_rng(seed)
    held: dict[str, np.ndarray] = {}
    for t in plan.order:
        tp = plan.tables[t]
        df = tables[t]
        link = tp.primary_link
        if link is None:
            mask = rng.random(len(df)) < fraction
            if len(df) >= 2 and (mask.all() or not mask.any()):
                mask[:] = False
                mask[rng.integers(0, len(df))] = True
        else:
            parent_keys = tables[link.parent][link.parent_column]
            held_keys = parent_keys[held[link.parent]]
            mask = df[link.column].isin(held_keys).to_numpy()
        held[t] = mask
    train = {t: _take(tables[t], ~held[t]) for t in plan.order}
    holdout = {t: _take(tables[t], held[t]) for t in plan.order}
    return train, holdout


def _take(df: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    out = df.loc[mask].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def find_contracts(release: str | os.PathLike[str]) -> dict[str, Contract]:
    """The contracts written into a release: ``*.odcs.yaml`` in the release or its ``contracts/``."""
    from hdc_toolkit.contracts import load_contract

    root = Path(release)
    files = sorted(root.glob("*.odcs.yaml")) or sorted((root / "contracts").glob("*.odcs.yaml"))
    if not files:
        raise ContractError(
            f"no contracts (*.odcs.yaml) in {root} or {root / 'contracts'}; pass contracts explicitly"
        )
    out = {}
    for f in files:
        c = load_contract(f)
        out[c.name] = c
    return out


def evaluate(
    train: Mapping[str, pd.DataFrame],
    synthetic: Mapping[str, pd.DataFrame],
    holdout: Mapping[str, pd.DataFrame] | None,
    contracts: Mapping[str, Contract] | SchemaPlan,
    *,
    risk_profile: str | None = None,
    target: str | None = None,
    target_table: str | None = None,
    exclude: tuple[str, ...] = (),
    validation: Mapping[str, Any] | None = None,
    synthesis: Mapping[str, Any] | None = None,
    max_privacy_rows: int | None = None,
    dp_certificate: str | None = None,
) -> Any:
    """Run the release gate and attach the k-suppressed distribution summaries for the report."""
    from hdc_toolkit.synth._frames import normalise_frame
    from hdc_toolkit.synth.gate import release_gate, risk_settings
    from hdc_toolkit.synth.report import column_summaries

    plan = contracts if isinstance(contracts, SchemaPlan) else plan_schema(contracts)
    k = risk_settings(risk_profile).min_count
    norm = {t: plan.tables[t].contract for t in plan.order}
    train = {t: normalise_frame(df, norm.get(t)) for t, df in train.items()}
    synthetic = {t: normalise_frame(df, norm.get(t)) for t, df in synthetic.items()}
    holdout = None if holdout is None else {t: normalise_frame(df, norm.get(t)) for t, df in holdout.items()}
    columns = {
        t: column_summaries(train[t], synthetic[t], plan.tables[t], k)
        for t in plan.order
        if t in synthetic and t in train
    }
    info = dict(synthesis or {})
    info["columns"] = columns
    return release_gate(train, synthetic, holdout, plan, risk_profile=risk_profile, target=target, target_table=target_table,
                        exclude=exclude, validation=validation, synthesis=info, max_privacy_rows=max_privacy_rows,
                        dp_certificate=dp_certificate)  # fmt: skip


def make_twin(
    release: str | os.PathLike[str] | Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike[str],
    *,
    contracts: Mapping[str, Contract] | str | os.PathLike[str] | None = None,
    risk_profile: str | None = None,
    synthesizer: str = "fast",
    holdout_fraction: float = 0.2,
    scale: float = 1.0,
    seed: int | None = None,
    target: str | None = None,
    target_table: str | None = None,
    exclude: tuple[str, ...] = (),
    refused_dir: str | os.PathLike[str] | None = None,
    model_path: str | os.PathLike[str] | None = None,
    replace: bool = False,
    **options: Any,
) -> TwinResult:
    """Make, gate and (if it passes) publish the synthetic twin of a release; see the module docstring.

    ``target`` (and ``exclude``: columns that leak it) adds the train-on-synthetic utility check;
    ``options`` go to the synthesizer plug-in.
    """
    from hdc_toolkit._io import atomic_write_json
    from hdc_toolkit.contracts.validate import validate_extract
    from hdc_toolkit.synth._frames import read_tables, write_tables
    from hdc_toolkit.synth.synthesizers import _contracts, fit

    t0 = time.perf_counter()
    if contracts is None:
        if not isinstance(release, (str, os.PathLike)):
            raise HdcUserError("contracts are required when the release is given as DataFrames")
        contract_map = find_contracts(release)
    else:
        contract_map = _contracts(contracts)
    tables = read_tables(release, contract_map) if isinstance(release, (str, os.PathLike)) else dict(release)
    plan = plan_schema(contract_map)
    train, holdout = split_holdout(tables, plan, fraction=holdout_fraction, seed=seed)
    model = fit(train, contract_map, synthesizer=synthesizer, risk_profile=risk_profile, seed=seed, **options)
    fit_s = model.fit_seconds
    if model_path is not None:
        model.save(model_path)
    synthetic = model.sample(scale=scale, seed=None if seed is None else seed + 1)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not replace:
        raise HdcUserError(f"{out_dir} already holds a synthetic twin; pass replace=True to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        write_tables(synthetic, contract_map, tmp)
        validation = validate_extract(contract_map, tmp)
        synthesis = {
            "synthesizer": synthesizer,
            "seed": seed,
            "rows": {t: len(df) for t, df in synthetic.items()},
            "fitted_rows": {t: len(df) for t, df in train.items()},
            "holdout_rows": {t: len(df) for t, df in holdout.items()},
            "fit_seconds": round(fit_s, 3),
            "sample_seconds": round(synthetic.seconds, 3),
            "repairs": synthetic.repair_log.to_dict(),
            "rare_values_suppressed": synthetic.suppressed,
            "notes": synthetic.notes,
        }
        synthesis["dp_certificate"] = model.certificate
        gate = evaluate(train, synthetic, holdout, plan, risk_profile=risk_profile, target=target, target_table=target_table,
                        exclude=tuple(exclude), validation=validation, synthesis=synthesis,
                        dp_certificate=model.certificate)  # fmt: skip
        gate.synthesis["total_seconds"] = round(time.perf_counter() - t0, 3)
        report = gate.report(title="Synthetic twin: release report")
        if not gate.passed:
            refused = None
            if refused_dir is not None:
                refused = Path(refused_dir)
                refused.mkdir(parents=True, exist_ok=True)
                stamp = time.strftime("%Y%m%dT%H%M%S")
                atomic_write_json(refused / f"synthetic-{stamp}-{GATE_FILE}", gate.to_dict())
                report.write(refused / f"synthetic-{stamp}-{REPORT_FILE}")
            return TwinResult(False, None, gate, synthesis, refused)
        atomic_write_json(tmp / GATE_FILE, gate.to_dict())
        report.write(tmp / REPORT_FILE)
        cdir = tmp / "contracts"
        for c in contract_map.values():
            if c.source and Path(c.source).is_file():
                cdir.mkdir(exist_ok=True)
                shutil.copy2(c.source, cdir / Path(c.source).name)
        manifest = {
            "kind": "synthetic-twin",
            "synthesizer": synthesizer,
            "risk_profile": gate.settings.name,
            "gate_verdict": gate.run.verdict.value,
            "contracts": {t: {"id": c.contract_id, "version": c.version} for t, c in contract_map.items()},
            "rows": synthesis["rows"],
            "files": {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()},
        }
        atomic_write_json(tmp / MANIFEST_FILE, manifest)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
        return TwinResult(True, out_dir, gate, synthesis)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
