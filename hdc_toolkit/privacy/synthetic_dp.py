"""Differentially private synthetic data (smartnoise-synth MST or AIM), charged to the same ledger.

MST and AIM (private-pgm, McKenna et al.) measure low-order marginals with Gaussian noise and fit a
graphical model to them; every sample drawn from it inherits the guarantee. Both are ρ-zCDP with
ρ = ``cdp_rho(ε, δ)`` (smartnoise's conversion), so the ledger records them as
:class:`~hdc_toolkit.privacy.accounting.ZCDP` and composes them with DP-SGD runs.

They need discrete columns. The domain comes from public information only, the same
:class:`~hdc_toolkit.privacy.preprocess.BoundedEncoder` used for training: numeric features are cut
into ``bins`` equal bins over their public bounds (values outside are clipped), categorical ones take
their public categories, and each column gets one more code for missing/other. smartnoise never sees
a data-derived category list or range (its own transformers would infer them from the data, spending
budget or leaking). Decoding draws a numeric value uniformly within its bin.

Install (smartnoise-synth pins an Opacus from 2021, which it needs only for its GAN synthesizers)::

    pip install --no-deps "smartnoise-synth==1.0.8"
    pip install "smartnoise-sql==1.0.10" "mbi>=1.1,<2" "disjoint-set>=0.9,<0.10" "pac-synth>=0.0.8,<0.0.9"
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hdc_toolkit.exceptions import DataError, MissingExtraError
from hdc_toolkit.privacy.accounting import ZCDP, default_delta, validate_epsilon_delta

if TYPE_CHECKING:
    import pandas as pd

    from hdc_toolkit.privacy.ledger import BudgetLedger, EntryRecord
    from hdc_toolkit.privacy.preprocess import BoundedEncoder

__all__ = ["SYNTHESIZERS", "SyntheticResult", "synthesize_dp", "zcdp_rho"]

#: The smartnoise synthesizers offered: both ρ-zCDP, both beside Opacus 1.6.
SYNTHESIZERS: tuple[str, ...] = ("mst", "aim")
DEFAULT_BINS = 20


@dataclass
class SyntheticResult:
    """The synthetic table and its guarantee."""

    frame: pd.DataFrame
    synthesizer: str
    epsilon: float
    delta: float
    rho: float
    n_rows_real: int
    seconds: float
    ledger_entry: EntryRecord | None = None

    @property
    def run_id(self) -> str | None:
        return self.ledger_entry.run_id if self.ledger_entry else None


def _snsynth() -> Any:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no accelerator probing
    try:
        import snsynth
    except ImportError:
        raise MissingExtraError("privacy", "smartnoise-synth") from None
    return snsynth


def zcdp_rho(epsilon: float, delta: float) -> float:
    """The ρ smartnoise's MST and AIM spend for (ε, δ) (OpenDP's zCDP → (ε, δ) conversion)."""
    _snsynth()
    from snsynth.utils import cdp_rho

    return float(cdp_rho(epsilon, delta))


def _fixed_transformer(k: int) -> Any:
    from snsynth.transform.base import ColumnTransformer
    from snsynth.transform.definitions import ColumnType

    class _Fixed(ColumnTransformer):  # type: ignore[misc]
        """Integer codes 0..k−1 passed through, with a fixed (public) cardinality: nothing is fitted."""

        def __init__(self, cardinality: int) -> None:
            self.k = cardinality
            super().__init__()

        @property
        def output_type(self) -> Any:
            return ColumnType.CATEGORICAL

        @property
        def cardinality(self) -> list[int]:
            return [self.k]

        def _fit(self, val: Any) -> None:
            pass

        def _clear_fit(self) -> None:
            self._fit_complete = True
            self.output_width = 1

        def _transform(self, val: Any) -> int:
            return int(val)

        def _inverse_transform(self, val: Any) -> int:
            return int(val)

    return _Fixed(k)


def _encode(frame: pd.DataFrame, encoder: BoundedEncoder, bins: int) -> tuple[np.ndarray, list[int]]:
    from hdc_toolkit.privacy.preprocess import _numeric_values

    cols, cards = [], []
    for f in encoder.numeric:
        v = _numeric_values(frame[f.name])
        code = np.floor((np.clip(v, f.lower, f.upper) - f.lower) / (f.upper - f.lower) * bins)
        code = np.minimum(code, bins - 1)
        cols.append(np.where(np.isnan(v), bins, code).astype(np.int64))
        cards.append(bins + 1)
    for f in encoder.categorical:
        values = frame[f.name].astype(object).to_numpy()
        code = np.full(len(values), len(f.categories), dtype=np.int64)
        for i, c in enumerate(f.categories):
            code[values == c] = i
        cols.append(code)
        cards.append(len(f.categories) + 1)
    return np.column_stack(cols), cards


def _decode(codes: np.ndarray, encoder: BoundedEncoder, bins: int, rng: np.random.Generator) -> pd.DataFrame:
    import pandas as pd

    out: dict[str, Any] = {}
    j = 0
    for f in encoder.numeric:
        c = codes[:, j].astype(float)
        width = (f.upper - f.lower) / bins
        value = f.lower + (c + rng.random(len(c))) * width
        out[f.name] = np.where(c >= bins, np.nan, value)
        j += 1
    for f in encoder.categorical:
        cats = np.array(list(f.categories) + [None], dtype=object)
        out[f.name] = cats[np.minimum(codes[:, j].astype(int), len(f.categories))]
        j += 1
    return pd.DataFrame(out)


def synthesize_dp(
    frame: pd.DataFrame | Any,
    encoder: BoundedEncoder,
    *,
    epsilon: float,
    delta: float | None = None,
    synthesizer: str = "mst",
    n_samples: int | None = None,
    bins: int = DEFAULT_BINS,
    ledger: BudgetLedger | None = None,
    project_id: str | None = None,
    by: str | None = None,
    dataset: str = "release",
    description: str = "",
    seed: int | None = None,
    **options: Any,
) -> SyntheticResult:
    """Fit a DP synthesizer to ``frame`` over ``encoder``'s public domain and sample from it.

    With a ledger, ``epsilon``/``delta`` are reserved (as ρ-zCDP) before fitting and committed after;
    a failure before fitting releases them, a failure while fitting charges them in full. ``options``
    go to the smartnoise synthesizer (e.g. ``max_model_size`` for AIM).
    """
    if synthesizer not in SYNTHESIZERS:
        raise ValueError(f"synthesizer must be one of {', '.join(SYNTHESIZERS)}, got {synthesizer!r}")
    if hasattr(frame, "compute"):
        frame = frame.compute()
    n = len(frame)
    if n == 0:
        raise DataError("the table is empty (0 rows): nothing to synthesise")
    cap = ledger.account(project_id, dataset).cap_delta if ledger is not None and project_id else None  # type: ignore[arg-type]
    delta = default_delta(n, cap) if delta is None else delta
    validate_epsilon_delta(epsilon, delta, n_rows=n)
    if delta == 0:
        raise DataError("MST and AIM need δ > 0 (they are zCDP mechanisms)")
    snsynth = _snsynth()
    from snsynth.transform.table import TableTransformer

    rho = zcdp_rho(epsilon, delta)
    codes, cards = _encode(frame, encoder, bins)
    reservation = None
    if ledger is not None:
        if project_id is None or by is None:
            raise ValueError("charging a ledger needs project_id and by")
        reservation = ledger.reserve(
            project_id,
            by=by,
            mechanism=ZCDP(rho),
            epsilon=epsilon,
            delta=delta,
            n_rows=n,
            dataset=dataset,
            kind="synthetic",
            accountant="zcdp",
            description=description or f"DP synthetic data ({synthesizer.upper()}, {len(cards)} columns)",
        )
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    if seed is not None:
        np.random.seed(seed)  # mbi samples with NumPy's global generator (post-processing only)

    def fit_and_sample() -> np.ndarray:
        model = snsynth.Synthesizer.create(
            synthesizer, epsilon=float(epsilon), delta=float(delta), verbose=False, **options
        )
        transformer = TableTransformer([_fixed_transformer(k) for k in cards])
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.fit(codes, transformer=transformer, preprocessor_eps=0.0)
            sampled = model.sample(n_samples or n)
        return np.asarray([list(row) for row in sampled], dtype=np.int64)

    if reservation is None:
        sampled = fit_and_sample()
    else:
        with reservation:
            reservation.start()
            sampled = fit_and_sample()
            reservation.commit()
    out = _decode(sampled, encoder, bins, rng)
    return SyntheticResult(
        frame=out,
        synthesizer=synthesizer,
        epsilon=float(epsilon),
        delta=float(delta),
        rho=rho,
        n_rows_real=n,
        seconds=time.perf_counter() - started,
        ledger_entry=reservation.entry if reservation else None,
    )
