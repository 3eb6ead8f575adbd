"""Synthesizer plug-ins and the pipeline every synthetic dataset goes through.

**Plug-in interface.** A synthesizer is a class with a ``name``, a ``licence`` and either

* single-table methods ``fit_table(data, table, context)`` / ``sample_table(num_rows, seed)``: it
  receives only the columns to model (keys and identifiers removed, free-text and all-null columns
  handled by the toolkit, dates as ``datetime64``) and returns those columns; the toolkit links
  tables, makes keys, enforces the contract and suppresses rare values; or
* multi-table methods ``fit_tables(data, plan, context)`` / ``sample_tables(scale, seed)`` when it
  models relationships itself (``multi_table = True``).

A differentially private plug-in also sets ``certificate`` (a description of its guarantee) after
fitting; the release gate then still requires quality and contract validity, and reports the empirical
privacy tests as warnings. Register one with :func:`register` (``"package.module:Class"``, imported
only when used)::

    from hdc_toolkit.synth import synthesizers
    synthesizers.register("mst", "hdc_toolkit.privacy.dp_synth:MSTSynthesizer", licence="MIT",
                          description="smartnoise MST, epsilon-DP")

Built in: ``fast`` (default; this toolkit's vectorised Gaussian copula, multi-table, Apache-2.0),
``gaussian_copula``, ``ctgan``, ``tvae`` (SDV single-table models) and ``hma`` (SDV's multi-table
model; at most 5 tables of depth 2) — the SDV ones are **BUSL-1.1** (see the README) — and ``copy``,
a *negative control* that releases real rows, used to prove the release gate refuses it.

**Pipeline** (:func:`fit` → :class:`SynthesisModel` → :meth:`SynthesisModel.sample`): check the input
(clear messages for empty tables, all-null required columns, unsupported types), plan columns from
the contracts, fit the plug-in, sample, drop values seen fewer than ``k`` times in the real data
(``k`` from the risk profile), repair constraints, and report what was changed.

A fitted model encodes the real data (and SDV's models also store the real minimum, maximum and
categories): save it only inside the data centre, next to the release it came from.
"""

from __future__ import annotations

import abc
import importlib
import os
import pickle
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.exceptions import DataError, HdcUserError, NotFoundError
from hdc_toolkit.synth.constraints import ConstraintSet, RepairLog, derive_constraints, repair
from hdc_toolkit.synth.metadata import SchemaPlan, TablePlan, plan_schema

__all__ = [
    "DEFAULT_SYNTHESIZER",
    "FitContext",
    "PluginInfo",
    "SynthesisModel",
    "Synthesizer",
    "SyntheticData",
    "available",
    "create",
    "fit",
    "info",
    "load_model",
    "register",
]

DEFAULT_SYNTHESIZER = "fast"
DEFAULT_MIN_COUNT = 10
#: A string column where fewer than this share of rows hold a value seen at least k times is free text.
TEXT_SHARE = 0.5


# ---------------------------------------------------------------------------------------------------
# the plug-in interface


@dataclass
class FitContext:
    """What a plug-in may use while fitting: the risk threshold, the constraints, and a notes list."""

    min_count: int
    constraints: ConstraintSet
    seed: int | None = None
    notes: list[str] = field(default_factory=list)


class Synthesizer(abc.ABC):
    """Base class of synthesizer plug-ins (see the module docstring)."""

    name: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    description: ClassVar[str] = ""
    multi_table: ClassVar[bool] = False
    #: A differentially private plug-in sets this after fitting (e.g. "MST, epsilon=3, delta=1e-6"): the
    #: release gate then reports its empirical privacy results as warnings instead of failures.
    certificate: str | None = None

    def __init__(self, *, seed: int | None = None, **options: Any) -> None:
        self.seed = seed
        self.options = options

    # single-table plug-ins
    def fit_table(self, data: pd.DataFrame, table: TablePlan, context: FitContext) -> None:
        raise NotImplementedError(f"{type(self).__name__} models whole schemas: use fit_tables")

    def sample_table(self, num_rows: int, seed: int | None = None) -> pd.DataFrame:
        raise NotImplementedError

    # multi-table plug-ins
    def fit_tables(self, data: Mapping[str, pd.DataFrame], plan: SchemaPlan, context: FitContext) -> None:
        raise NotImplementedError(f"{type(self).__name__} models one table at a time: use fit_table")

    def sample_tables(self, scale: float = 1.0, seed: int | None = None) -> dict[str, pd.DataFrame]:
        raise NotImplementedError


@dataclass(frozen=True)
class PluginInfo:
    name: str
    target: str | type
    licence: str
    description: str
    multi_table: bool
    negative_control: bool = False

    def load(self) -> type:
        if isinstance(self.target, type):
            return self.target
        module, _, attr = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attr, None)
        if not isinstance(cls, type):
            raise NotFoundError(f"synthesizer {self.name!r}: {self.target} is not a class")
        return cls


_REGISTRY: dict[str, PluginInfo] = {}


def register(
    name: str,
    target: str | type,
    *,
    licence: str,
    description: str = "",
    multi_table: bool | None = None,
    negative_control: bool = False,
    replace: bool = False,
) -> PluginInfo:
    """Register a synthesizer class (or ``"package.module:Class"``, imported when first used)."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"a synthesizer named {name!r} is already registered")
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"target must look like 'package.module:Class'; got {target!r}")
    if multi_table is None:  # a lazy target says so itself when loaded; see fit()
        multi_table = bool(getattr(target, "multi_table", False)) if isinstance(target, type) else False
    entry = PluginInfo(name, target, licence, description, multi_table, negative_control)
    _REGISTRY[name] = entry
    return entry


def available() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def info(name: str) -> PluginInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(f"no synthesizer named {name!r}; available: {', '.join(available())}") from None


def create(name: str, **options: Any) -> Synthesizer:
    """An instance of the synthesizer registered as ``name``."""
    cls = info(name).load()
    return cls(**options)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------------
# built-in plug-ins


class FastSynthesizer(Synthesizer):
    """The default: vectorised multi-table Gaussian copula (see :mod:`hdc_toolkit.synth._copula`)."""

    name = "fast"
    licence = "Apache-2.0 (this toolkit)"
    description = "vectorised Gaussian copula, empirical marginals, multi-table, constraints built in"
    multi_table = True
    #: ``protect_extremes`` (default True): beyond the k-th smallest and k-th largest real value, numbers
    #: come from a fitted tail that the k-1 most extreme people do not affect. False reproduces the
    #: full empirical range (the real minimum and maximum are then disclosed).
    OPTIONS = ("protect_extremes",)

    def __init__(self, *, seed: int | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise HdcUserError(
                f"the 'fast' synthesizer has no option(s) {', '.join(unknown)}; it takes: {', '.join(self.OPTIONS)}"
            )
        super().__init__(seed=seed, **options)

    def fit_tables(self, data: Mapping[str, pd.DataFrame], plan: SchemaPlan, context: FitContext) -> None:
        from hdc_toolkit.synth._copula import FastModel

        self.model = FastModel(plan, context.constraints, k=context.min_count, seed=self.seed,
                               protect_extremes=bool(self.options.get("protect_extremes", True))).fit(data)  # fmt: skip
        context.notes.extend(self.model.notes)

    def sample_tables(
        self, scale: float = 1.0, seed: int | None = None, num_rows: int | None = None
    ) -> dict[str, pd.DataFrame]:
        return self.model.sample(scale=scale, num_rows=num_rows, seed=seed)


class SDVSingleTable(Synthesizer):
    """An SDV 2.x single-table synthesizer (BUSL-1.1) behind the plug-in interface."""

    sdv_class: ClassVar[str] = "GaussianCopulaSynthesizer"
    licence = "BUSL-1.1 (SDV)"

    def fit_table(self, data: pd.DataFrame, table: TablePlan, context: FitContext) -> None:
        from hdc_toolkit.synth._deps import require_sdv

        require_sdv()
        import sdv.single_table as st
        from sdv.metadata import Metadata

        from hdc_toolkit.synth.metadata import sdmetrics_metadata

        cols = sdmetrics_metadata(table, data.columns)["columns"]
        meta = Metadata.load_from_dict(
            {"tables": {"t": {"columns": cols}}, "relationships": [], "METADATA_SPEC_VERSION": "V2"}
        )
        cls = getattr(st, self.sdv_class)
        self.columns = list(data.columns)
        self.synth = cls(meta, **self.options)
        constraints = []
        try:
            from sdv.cag import Inequality

            for o in context.constraints.orders_of(table.name):
                if o.lower in data.columns and o.upper in data.columns:
                    constraints.append(Inequality(o.lower, o.upper, strict_boundaries=o.strict))
            if constraints:
                self.synth.add_constraints(constraints)
        except Exception as exc:  # noqa: BLE001 - SDV's constraint checks vary; the repair pass covers
            context.notes.append(
                f"{table.name}: SDV constraints not used ({type(exc).__name__}); repaired after sampling"
            )
            self.synth = cls(meta, **self.options)
        self.synth.fit({"t": data})

    def sample_table(self, num_rows: int, seed: int | None = None) -> pd.DataFrame:
        out = self.synth.sample(num_rows)
        df = out["t"] if isinstance(out, dict) else out
        return df[self.columns]


class SDVGaussianCopula(SDVSingleTable):
    name = "gaussian_copula"
    description = "SDV GaussianCopulaSynthesizer (default beta marginals)"
    sdv_class = "GaussianCopulaSynthesizer"


class SDVCTGAN(SDVSingleTable):
    name = "ctgan"
    description = "SDV CTGANSynthesizer (GAN; default 300 epochs)"
    sdv_class = "CTGANSynthesizer"

    def __init__(self, *, seed: int | None = None, **options: Any) -> None:
        options.setdefault("enable_gpu", False)
        super().__init__(seed=seed, **options)


class SDVTVAE(SDVCTGAN):
    name = "tvae"
    description = "SDV TVAESynthesizer (variational autoencoder; default 300 epochs)"
    sdv_class = "TVAESynthesizer"


class SDVHMA(Synthesizer):
    """SDV's HMASynthesizer: multi-table, at most 5 tables and a relationship depth of 2."""

    name = "hma"
    licence = "BUSL-1.1 (SDV)"
    description = "SDV HMASynthesizer (multi-table Gaussian copulas; <= 5 tables, depth <= 2)"
    multi_table = True

    def fit_tables(self, data: Mapping[str, pd.DataFrame], plan: SchemaPlan, context: FitContext) -> None:
        from hdc_toolkit.synth._deps import require_sdv

        require_sdv()
        from sdv.errors import SynthesizerInputError
        from sdv.multi_table import HMASynthesizer

        from hdc_toolkit.synth.metadata import to_sdv_metadata

        meta = to_sdv_metadata(plan, public_bounds=False)
        for t in plan.order:  # columns the toolkit handles itself (free text, all null) are not SDV's
            for col in [c for c in meta.tables[t].columns if c not in data[t].columns]:
                meta.remove_column(col, table_name=t)
        depth = meta._get_max_schema_depth()
        if len(plan.order) > 5 or depth > 2:
            raise HdcUserError(
                f"the 'hma' synthesizer (SDV community) models at most 5 tables with a relationship depth of 2; "
                f"this schema has {len(plan.order)} tables and depth {depth}. Use the default 'fast' synthesizer, "
                "or synthesize fewer tables."
            )
        self.plan = plan
        self.root = plan.roots[0]
        self.root_rows = len(data[self.root])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*save_to_json.*")
            self.synth = HMASynthesizer(meta, verbose=False)
        try:
            self.synth.fit({t: data[t] for t in plan.order})
        except SynthesizerInputError as exc:
            raise HdcUserError(f"SDV HMA refused the data: {exc}") from None

    def sample_tables(self, scale: float = 1.0, seed: int | None = None) -> dict[str, pd.DataFrame]:
        # SDV 2.0 samples by the main table's row count (1.x took a scale)
        out = self.synth.sample(max(1, round(self.root_rows * scale)), main_table_name=self.root)
        return dict(out)


class CopyRows(Synthesizer):
    """NEGATIVE CONTROL: 'synthesizes' by releasing real training rows. Exists to test the release gate."""

    name = "copy"
    licence = "Apache-2.0 (this toolkit)"
    description = "negative control: copies real rows (for testing the release gate only)"

    def fit_table(self, data: pd.DataFrame, table: TablePlan, context: FitContext) -> None:
        self.data = data.reset_index(drop=True)

    def sample_table(self, num_rows: int, seed: int | None = None) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(self.data))
        if num_rows > len(idx):
            idx = np.concatenate([idx, rng.integers(0, len(self.data), num_rows - len(idx))])
        return self.data.iloc[idx[:num_rows]].reset_index(drop=True)


register("fast", FastSynthesizer, licence=FastSynthesizer.licence, description=FastSynthesizer.description)
register(
    "gaussian_copula", SDVGaussianCopula, licence="BUSL-1.1 (SDV)", description=SDVGaussianCopula.description
)
register("ctgan", SDVCTGAN, licence="BUSL-1.1 (SDV)", description=SDVCTGAN.description)
register("tvae", SDVTVAE, licence="BUSL-1.1 (SDV)", description=SDVTVAE.description)
register("hma", SDVHMA, licence="BUSL-1.1 (SDV)", description=SDVHMA.description)
register("copy", CopyRows, licence=CopyRows.licence, description=CopyRows.description, negative_control=True)


# ---------------------------------------------------------------------------------------------------
# the pipeline


@dataclass
class SyntheticData(dict):  # type: ignore[type-arg]
    """Synthetic tables (a dict of DataFrames) with what the pipeline did to them."""

    repair_log: RepairLog = field(default_factory=RepairLog)
    suppressed: dict[str, int] = field(default_factory=dict)
    synthesizer: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        dict.__init__(self)

    def __hash__(self) -> int:  # dataclass + dict
        return id(self)

    def write(self, out_dir: str | os.PathLike[str], contracts: Mapping[str, Contract]) -> dict[str, Path]:
        from hdc_toolkit.synth._frames import write_tables

        return write_tables(self, contracts, out_dir)

    def validate(self, contracts: Mapping[str, Contract]) -> dict[str, Any]:
        """Run the foundation validator over these tables (written to a temporary directory)."""
        from hdc_toolkit.synth.constraints import validate_synthetic

        return validate_synthetic(self, contracts)

    def summary(self) -> dict[str, Any]:
        return {
            "synthesizer": self.synthesizer,
            "rows": {t: len(df) for t, df in self.items()},
            "seconds": round(self.seconds, 3),
            "repairs": self.repair_log.to_dict(),
            "rare_values_suppressed": dict(self.suppressed),
            "notes": list(self.notes),
        }


@dataclass
class SynthesisModel:
    """A fitted synthesizer with its plan; :meth:`sample` gives contract-valid synthetic tables."""

    plan: SchemaPlan
    constraints: ConstraintSet
    synthesizer: str
    plugin: Synthesizer | dict[str, Synthesizer]
    min_count: int
    real_rows: dict[str, int]
    frequent: dict[str, dict[str, frozenset[Any]]]
    handling: dict[str, dict[str, Any]]
    child_counts: dict[str, np.ndarray]
    fit_seconds: float
    notes: list[str] = field(default_factory=list)
    seed: int | None = None

    @property
    def contracts(self) -> dict[str, Contract]:
        return {t: self.plan.tables[t].contract for t in self.plan.order}

    @property
    def certificate(self) -> str | None:
        """The plug-in's differential-privacy certificate (every table's, for single-table plug-ins)."""
        plugins = list(self.plugin.values()) if isinstance(self.plugin, dict) else [self.plugin]
        certs = [getattr(p, "certificate", None) for p in plugins]
        if not certs or any(c is None for c in certs):
            return None
        return "; ".join(dict.fromkeys(str(c) for c in certs))

    def sample(
        self,
        *,
        scale: float = 1.0,
        num_rows: int | None = None,
        seed: int | None = None,
        repair_constraints: bool = True,
    ) -> SyntheticData:
        """Sample ``scale`` times the real row counts (or ``num_rows`` rows of a single-root schema)."""
        t0 = time.perf_counter()
        seed = self.seed if seed is None else seed
        rng = np.random.default_rng(seed)
        if isinstance(self.plugin, Synthesizer):  # a multi-table plug-in (single-table ones: one per table)
            plugin = self.plugin
            kwargs = {"num_rows": num_rows} if isinstance(plugin, FastSynthesizer) else {}
            tables = plugin.sample_tables(scale=scale, seed=seed, **kwargs)
        else:
            tables = self._sample_linked(scale, num_rows, rng)
        out = SyntheticData(synthesizer=self.synthesizer, notes=list(self.notes))
        tables = {t: self._finish(t, df, rng, out) for t, df in tables.items()}
        if repair_constraints:
            tables, log = repair(tables, self.constraints, seed=None if seed is None else seed + 1)
            out.repair_log = log
        for t in self.plan.order:
            if t in tables:
                out[t] = tables[t]
        out.seconds = time.perf_counter() - t0
        return out

    def _sample_linked(
        self, scale: float, num_rows: int | None, rng: np.random.Generator
    ) -> dict[str, pd.DataFrame]:
        """Single-table plug-ins on a schema: sample each table, attach children to parents."""
        from hdc_toolkit.synth._copula import fill_keys

        plugins = self.plugin
        assert isinstance(plugins, dict)
        out: dict[str, pd.DataFrame] = {}
        for t in self.plan.order:
            tp = self.plan.tables[t]
            parent = tp.parent
            if parent is None:
                n = (
                    int(num_rows)
                    if (num_rows is not None and len(self.plan.roots) == 1)
                    else round(self.real_rows[t] * scale)
                )
                parent_idx = None
            else:
                dist = self.child_counts[t]
                per = (
                    rng.choice(len(dist), size=len(out[parent]), p=dist)
                    if len(dist)
                    else np.zeros(len(out[parent]), int)
                )
                parent_idx = np.repeat(np.arange(len(out[parent])), per)
                n = len(parent_idx)
            seed = int(rng.integers(0, 2**31))
            df = plugins[t].sample_table(n, seed=seed) if n and t in plugins else pd.DataFrame(index=range(n))
            df = df.reset_index(drop=True)
            for c in tp.columns:
                if c.name not in df.columns:
                    df[c.name] = None
            if parent_idx is not None:
                df["__parent__"] = parent_idx
            fill_keys(tp, df, out, rng, self.plan)
            out[t] = df.drop(columns=[c for c in df.columns if c.startswith("__")])[
                [c.name for c in tp.columns]
            ]
        return out

    def _finish(self, t: str, df: pd.DataFrame, rng: np.random.Generator, out: SyntheticData) -> pd.DataFrame:
        """Column order, free text, all-null columns, and no value seen fewer than k times in the real data."""
        from hdc_toolkit.synth._copula import _generate_text

        tp = self.plan.tables[t]
        df = df.copy()
        for c in tp.columns:
            if c.name not in df.columns:
                df[c.name] = None
        handling = self.handling.get(t, {})
        for col, how in handling.items():
            if how == "empty":
                df[col] = None
            elif isinstance(how, dict):
                df[col] = _generate_text(how, len(df), rng)
        for col, frequent in self.frequent.get(t, {}).items():
            if col not in df.columns or handling.get(col) is not None:
                continue
            s = df[col]
            rare = s.notna().to_numpy() & ~s.isin(list(frequent)).to_numpy()
            if rare.any():
                pool = s[~rare & s.notna().to_numpy()].to_numpy(dtype=object)
                if len(pool) == 0:
                    pool = np.array(sorted(frequent, key=str), dtype=object)
                s = s.astype(object).copy()
                s[rare] = pool[rng.integers(0, len(pool), size=int(rare.sum()))] if len(pool) else None
                df[col] = s
                out.suppressed[f"{t}.{col}"] = int(rare.sum())
        return df[[c.name for c in tp.columns]]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Pickle the model (sensitive: it encodes the real data; keep it inside the data centre)."""
        from hdc_toolkit._io import atomic_write_bytes

        return atomic_write_bytes(path, pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))


def load_model(path: str | os.PathLike[str]) -> SynthesisModel:
    """Load a model written by :meth:`SynthesisModel.save` (pickle: load only files the data centre wrote)."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"no model file at {p}")
    with p.open("rb") as fh:
        model = pickle.load(fh)
    if not isinstance(model, SynthesisModel):
        raise DataError("not a synthesis model written by hdc synth fit", location=str(p))
    return model


def fit(
    data: Mapping[str, pd.DataFrame] | pd.DataFrame | str | os.PathLike[str],
    contracts: Mapping[str, Contract] | Contract | str | os.PathLike[str],
    *,
    synthesizer: str = DEFAULT_SYNTHESIZER,
    min_count: int | None = None,
    risk_profile: str | None = None,
    seed: int | None = None,
    **options: Any,
) -> SynthesisModel:
    """Fit a synthesizer to real tables under their contracts.

    ``data``: a dict of DataFrames, one DataFrame (single contract), or a release directory
    (``<table>/`` Parquet). ``contracts``: a dict, one contract, or a directory of ``*.odcs.yaml``.
    ``min_count`` (default: the risk profile's smallest safe count, else 10): values seen fewer times
    in the real data are never generated, and numbers beyond the ``min_count``-th smallest/largest come
    from a fitted tail, never from the most extreme people's values.
    ``options`` go to the plug-in (e.g. ``epochs=50`` for ``ctgan``).
    """
    from hdc_toolkit.synth._frames import normalise_frame, read_tables

    contract_map = _contracts(contracts)
    if isinstance(data, (str, os.PathLike)):
        tables = read_tables(data, contract_map)
    elif isinstance(data, pd.DataFrame):
        if len(contract_map) != 1:
            raise HdcUserError("a single DataFrame needs exactly one contract")
        tables = {next(iter(contract_map)): normalise_frame(data, next(iter(contract_map.values())))}
    else:
        tables = {t: normalise_frame(df, contract_map.get(t)) for t, df in data.items()}
    missing = [t for t in contract_map if t not in tables]
    if missing:
        raise DataError(f"no data for table(s) {', '.join(missing)}")
    k = int(min_count if min_count is not None else _profile_threshold(risk_profile))
    plan = plan_schema(contract_map)
    _check_input(tables, plan)
    constraints = derive_constraints(plan, tables)
    context = FitContext(min_count=k, constraints=constraints, seed=seed)
    multi_table = bool(getattr(info(synthesizer).load(), "multi_table", False))
    t0 = time.perf_counter()
    frequent, handling = _column_handling(tables, plan, k, context.notes)
    child_counts: dict[str, np.ndarray] = {}
    if multi_table:
        plugin: Synthesizer | dict[str, Synthesizer] = create(synthesizer, seed=seed, **options)
        assert isinstance(plugin, Synthesizer)
        if synthesizer != "fast":
            tables_in = {
                t: _model_input(tables[t], plan.tables[t], handling.get(t, {}), keep_keys=True)
                for t in plan.order
            }
        else:
            tables_in = tables
        plugin.fit_tables(tables_in, plan, context)
    else:
        plugin = {}
        for t in plan.order:
            tp = plan.tables[t]
            df_in = _model_input(tables[t], tp, handling.get(t, {}))
            inst = create(synthesizer, seed=seed, **options)
            if len(df_in.columns):
                inst.fit_table(df_in, tp, context)
                plugin[t] = inst
            if tp.parent is not None:
                child_counts[t] = _count_distribution(tables, plan, t, k)
    return SynthesisModel(
        plan=plan,
        constraints=constraints,
        synthesizer=synthesizer,
        plugin=plugin,
        min_count=k,
        real_rows={t: len(tables[t]) for t in plan.order},
        frequent=frequent,
        handling=handling,
        child_counts=child_counts,
        fit_seconds=time.perf_counter() - t0,
        notes=context.notes,
        seed=seed,
    )


def _contracts(contracts: Any) -> dict[str, Contract]:
    if isinstance(contracts, Contract):
        return {contracts.name: contracts}
    if isinstance(contracts, (str, os.PathLike)):
        from hdc_toolkit.contracts import load_contract_dir

        loaded = load_contract_dir(Path(contracts))
        return dict(loaded) if isinstance(loaded, Mapping) else {c.name: c for c in loaded}
    if isinstance(contracts, Mapping):
        return dict(contracts)
    return {c.name: c for c in contracts}


def _profile_threshold(risk_profile: str | None) -> int:
    if risk_profile is None:
        return DEFAULT_MIN_COUNT
    from hdc_toolkit.synth.gate import risk_settings

    return risk_settings(risk_profile).min_count


def _check_input(tables: Mapping[str, pd.DataFrame], plan: SchemaPlan) -> None:
    """Clear messages for input no synthesizer can learn from."""
    for t in plan.order:
        df = tables[t]
        tp = plan.tables[t]
        if len(df) == 0:
            raise DataError(
                f"table {t!r} has no rows: a synthesizer cannot learn from an empty table; "
                "leave it out of the release or provide data"
            )
        missing = [c.name for c in tp.columns if c.name not in df.columns]
        if missing:
            raise DataError(f"table {t!r} lacks contract column(s): {', '.join(missing)}")
        for c in tp.columns:
            s = df[c.name]
            if c.required and c.modelled and s.isna().all():
                raise DataError(f"{t}.{c.name} is required by the contract but every value is null")
            if c.role == "unsupported" and s.notna().any():
                raise DataError(
                    f"{t}.{c.name}: logical type {c.logical_type!r} cannot be synthesized; leave the column out of the release"
                )


def _column_handling(
    tables: Mapping[str, pd.DataFrame], plan: SchemaPlan, k: int, notes: list[str]
) -> tuple[dict[str, dict[str, frozenset[Any]]], dict[str, dict[str, Any]]]:
    """Per string column: the values seen at least k times; free-text and all-null columns."""
    from hdc_toolkit.synth._copula import _text_spec

    frequent: dict[str, dict[str, frozenset[Any]]] = {}
    handling: dict[str, dict[str, Any]] = {}
    for t in plan.order:
        df = tables[t]
        for c in plan.tables[t].columns:
            if not c.modelled:
                continue
            s = df[c.name]
            if s.isna().all():
                handling.setdefault(t, {})[c.name] = "empty"
                continue
            if c.role != "categorical":
                continue
            counts = s.value_counts(dropna=True)
            keep = counts[counts >= k]
            share = float(keep.sum()) / max(int(counts.sum()), 1)
            if keep.empty or share < TEXT_SHARE:
                handling.setdefault(t, {})[c.name] = _text_spec(c, s, k, share)
                continue
            frequent.setdefault(t, {})[c.name] = frozenset(keep.index.tolist())
    return frequent, handling


def _model_input(
    df: pd.DataFrame, tp: TablePlan, handling: Mapping[str, Any], *, keep_keys: bool = False
) -> pd.DataFrame:
    cols = [
        c.name
        for c in tp.columns
        if (c.modelled or keep_keys) and c.role != "unsupported" and c.name not in handling
    ]
    out = df[cols].copy()
    for c in tp.columns:
        if c.name in out.columns and c.logical_type == "string":
            out[c.name] = out[c.name].astype(object).where(out[c.name].notna(), np.nan)
        elif c.name in out.columns and c.temporal:
            # SDV 2.0 reads datetime64[ms] values as nanoseconds (everything lands in 1970): use ns
            out[c.name] = pd.to_datetime(out[c.name]).astype("datetime64[ns]")
    return out


def _count_distribution(
    tables: Mapping[str, pd.DataFrame], plan: SchemaPlan, child: str, k: int
) -> np.ndarray:
    """P(a parent row has j children), j = 0..max, counts beyond the k-th largest folded in."""
    tp = plan.tables[child]
    link = tp.primary_link
    assert link is not None
    parent = tables[link.parent][link.parent_column]
    counts = parent.map(tables[child][link.column].value_counts()).fillna(0).astype(int).to_numpy()
    if len(counts) == 0:
        return np.array([1.0])
    cap = int(np.sort(counts)[max(len(counts) - k, 0)]) if k > 1 else int(counts.max())
    counts = np.minimum(counts, cap)
    dist = np.bincount(counts).astype("float64")
    return dist / dist.sum()
