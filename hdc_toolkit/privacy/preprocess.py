"""Feature encoding for DP training with *public* bounds: scaling must not leak private statistics.

A ``StandardScaler`` fitted on the private training data is itself a release of the data's means and
variances, outside any DP guarantee. :class:`BoundedEncoder` never looks at the data to decide how to
encode it: numeric features are clipped to bounds and scaled to [-1, 1] (centred on the middle of the
bounds, which helps SGD as standardising would; ``symmetric=False`` gives [0, 1]), categorical ones
one-hot encoded over a fixed list of categories, and every bound and category comes from

* the data contract (``logicalTypeOptions.minimum/maximum``, ``invalidValues.validValues``): public,
  because contracts are published documents (source ``contract``);
* the caller, for derived features such as age, with public domain knowledge (source ``declared``);
* or the data itself *with budget spent on it*: :func:`private_bounds` estimates bounds with the
  exponential mechanism and charges ε to the project's ledger (source ``dp``).

Missing values are imputed with the middle of the bounds (numeric: 0, or 0.5 with ``symmetric=False``)
or no category (one-hot all 0), with an optional ``<name>__missing`` indicator; neither depends on the
data.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hdc_toolkit.exceptions import DataError
from hdc_toolkit.privacy.accounting import ApproxDP, InvalidPrivacyParameter

if TYPE_CHECKING:
    import pandas as pd

    from hdc_toolkit.contracts.model import Contract
    from hdc_toolkit.privacy.ledger import BudgetLedger

__all__ = [
    "BoundedEncoder",
    "CategoricalFeature",
    "NumericFeature",
    "dp_quantile",
    "private_bounds",
]

_DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True)
class NumericFeature:
    """A numeric feature clipped to ``[lower, upper]`` and scaled to [-1, 1]; ``source`` says why
    the bounds may be used (``contract``, ``declared`` or ``dp``)."""

    name: str
    lower: float
    upper: float
    source: str = "declared"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower < self.upper):
            raise InvalidPrivacyParameter(
                f"feature {self.name!r}: bounds must be finite with lower < upper, got [{self.lower}, {self.upper}]"
            )


@dataclass(frozen=True)
class CategoricalFeature:
    """A categorical feature one-hot encoded over fixed ``categories`` (others and missing: all 0)."""

    name: str
    categories: tuple[Any, ...]
    source: str = "declared"

    def __post_init__(self) -> None:
        if not self.categories:
            raise InvalidPrivacyParameter(f"feature {self.name!r}: give at least one category")


def _date_to_years(value: Any) -> float:
    d = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return d.year + (d.toordinal() - dt.date(d.year, 1, 1).toordinal()) / _DAYS_PER_YEAR


class BoundedEncoder:
    """Encode a table into a float matrix using public bounds only (see the module doc).

    Date columns become fractional years (``2020-07-02`` → 2020.5); their contract bounds likewise.
    """

    def __init__(
        self,
        numeric: Sequence[NumericFeature] = (),
        categorical: Sequence[CategoricalFeature] = (),
        *,
        missing_indicators: bool = False,
        symmetric: bool = True,
    ) -> None:
        self.numeric = tuple(numeric)
        self.symmetric = symmetric
        self.categorical = tuple(categorical)
        self.missing_indicators = missing_indicators
        names = [f.name for f in self.numeric] + [f.name for f in self.categorical]
        if len(set(names)) != len(names):
            raise ValueError("a feature is named twice")
        if not names:
            raise ValueError("give at least one feature")

    @classmethod
    def from_contracts(
        cls,
        contracts: Contract | Mapping[str, Contract] | Sequence[Contract],
        columns: Sequence[str],
        *,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        categories: Mapping[str, Sequence[Any]] | None = None,
        missing_indicators: bool = False,
        symmetric: bool = True,
    ) -> BoundedEncoder:
        """Features ``columns`` with bounds/categories from the contracts, unless given in ``bounds`` /
        ``categories`` (those win, source ``declared``; a feature only there, e.g. a derived age, is fine).

        A column is named ``column`` or ``table.column``. A numeric or date column without contract
        bounds, or a string column without a list of valid values, is refused with the fix.
        """
        bounds, categories = dict(bounds or {}), dict(categories or {})
        by_name = _contract_columns(contracts)
        numeric: list[NumericFeature] = []
        categorical: list[CategoricalFeature] = []
        for name in columns:
            short = name.split(".")[-1]
            if short in bounds or name in bounds:
                lo, hi = bounds.get(name, bounds.get(short))  # type: ignore[misc]
                numeric.append(NumericFeature(short, float(lo), float(hi), "declared"))
                continue
            if short in categories or name in categories:
                cats = categories.get(name, categories.get(short))
                categorical.append(CategoricalFeature(short, tuple(cats or ()), "declared"))
                continue
            col = by_name.get(name) or by_name.get(short)
            if col is None:
                raise DataError(
                    f"feature {name!r} is in no contract: declare public bounds (bounds={{'{short}': (lo, hi)}}) "
                    f"or categories (categories={{'{short}': [...]}})"
                )
            numeric_or_cat = _from_column(col, short)
            if isinstance(numeric_or_cat, NumericFeature):
                numeric.append(numeric_or_cat)
            else:
                categorical.append(numeric_or_cat)
        return cls(numeric, categorical, missing_indicators=missing_indicators, symmetric=symmetric)

    @property
    def feature_names(self) -> list[str]:
        out = [f.name for f in self.numeric]
        if self.missing_indicators:
            out += [f"{f.name}__missing" for f in self.numeric]
        for f in self.categorical:
            out += [f"{f.name}={c}" for c in f.categories]
        return out

    def transform(self, frame: pd.DataFrame | Any) -> np.ndarray:
        """The encoded float64 matrix (rows × :attr:`feature_names`); Dask frames are computed."""
        if hasattr(frame, "compute"):
            frame = frame.compute()
        missing = [f.name for f in (*self.numeric, *self.categorical) if f.name not in frame.columns]
        if missing:
            raise DataError(f"the table has no column(s) {', '.join(missing)}")
        blocks: list[np.ndarray] = []
        indicators: list[np.ndarray] = []
        for f in self.numeric:
            values = _numeric_values(frame[f.name])
            isnan = np.isnan(values)
            scaled = (np.clip(values, f.lower, f.upper) - f.lower) / (f.upper - f.lower)
            if self.symmetric:
                scaled = 2 * scaled - 1
            blocks.append(np.where(isnan, 0.0 if self.symmetric else 0.5, scaled))
            indicators.append(isnan.astype(np.float64))
        if self.missing_indicators:
            blocks += indicators
        for f in self.categorical:
            col = frame[f.name].astype(object).to_numpy()
            for c in f.categories:
                blocks.append((col == c).astype(np.float64))
        return np.column_stack(blocks) if blocks else np.zeros((len(frame), 0))

    def describe(self) -> list[dict[str, Any]]:
        """One dict per feature (name, kind, bounds or categories, source): for model cards."""
        out: list[dict[str, Any]] = [
            {"name": f.name, "kind": "numeric", "lower": f.lower, "upper": f.upper, "source": f.source}
            for f in self.numeric
        ]
        out += [
            {"name": f.name, "kind": "categorical", "categories": list(f.categories), "source": f.source}
            for f in self.categorical
        ]
        return out


def _contract_columns(contracts: Any) -> dict[str, Any]:
    from hdc_toolkit.contracts.model import Contract

    if isinstance(contracts, Contract):
        items = [contracts]
    elif isinstance(contracts, Mapping):
        items = list(contracts.values())
    else:
        items = list(contracts)
    out: dict[str, Any] = {}
    for contract in items:
        for col in contract.columns:
            out[f"{contract.name}.{col.name}"] = col
            out.setdefault(col.name, col)
    return out


def _from_column(col: Any, name: str) -> NumericFeature | CategoricalFeature:
    if col.allowed_values:
        return CategoricalFeature(name, tuple(col.allowed_values), "contract")
    if col.logical_type in ("number", "integer"):
        if col.minimum is None or col.maximum is None:
            raise DataError(_no_bounds(name))
        return NumericFeature(name, float(col.minimum), float(col.maximum), "contract")
    if col.logical_type in ("date", "timestamp"):
        if col.minimum is None or col.maximum is None:
            raise DataError(_no_bounds(name))
        return NumericFeature(name, _date_to_years(col.minimum), _date_to_years(col.maximum), "contract")
    raise DataError(
        f"feature {name!r} ({col.logical_type}) has no list of valid values in its contract: declare its "
        f"categories (categories={{'{name}': [...]}}) from public knowledge"
    )


def _no_bounds(name: str) -> str:
    return (
        f"feature {name!r} has no minimum/maximum in its contract: scaling it with the data's own range "
        f"is not private. Declare public bounds (bounds={{'{name}': (lo, hi)}}) or spend budget on them "
        "(hdc_toolkit.privacy.private_bounds)"
    )


def _numeric_values(series: Any) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        s = pd.to_datetime(series)
        return (s.dt.year + (s.dt.dayofyear - 1) / _DAYS_PER_YEAR).to_numpy(dtype=float, na_value=np.nan)
    if series.dtype == object:
        first = series.dropna().head(1)
        if len(first) and isinstance(first.iloc[0], dt.date):
            return np.array(
                [np.nan if v is None or pd.isna(v) else _date_to_years(v) for v in series], dtype=float
            )
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------- bounds bought with budget


def dp_quantile(
    values: np.ndarray,
    p: float,
    *,
    epsilon: float,
    lower: float,
    upper: float,
    candidates: int = 1000,
    rng: np.random.Generator | None = None,
) -> float:
    """An ε-DP estimate of the ``p``-quantile of ``values`` among ``candidates`` points of a *public*
    search range [lower, upper] (exponential mechanism, utility −|rank − p·n|, sensitivity 1).

    Uses NumPy's generator seeded from the OS: adequate against the analyst of a project, not
    hardened against floating-point side channels.
    """
    if not epsilon > 0:
        raise InvalidPrivacyParameter(f"epsilon must be > 0, got {epsilon!r}")
    rng = rng or np.random.default_rng(secrets.randbits(128))
    x = np.sort(np.clip(np.asarray(values, dtype=float)[~np.isnan(values)], lower, upper))
    grid = np.linspace(lower, upper, candidates)
    ranks = np.searchsorted(x, grid, side="left")
    utility = -np.abs(ranks - p * len(x))
    logits = epsilon * utility / 2.0
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return float(grid[rng.choice(len(grid), p=probs)])


def private_bounds(
    values: Any,
    *,
    epsilon: float,
    search_lower: float,
    search_upper: float,
    quantiles: tuple[float, float] = (0.01, 0.99),
    ledger: BudgetLedger | None = None,
    project_id: str | None = None,
    by: str | None = None,
    dataset: str = "release",
    name: str = "feature",
) -> NumericFeature:
    """Bounds of ``values`` bought with ``epsilon`` (two DP quantiles at ε/2 each; pure ε-DP).

    With a ledger the spend is reserved and committed as a ``preprocessing`` entry first; without one
    (tests, public data) nothing is charged.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise DataError("no values to estimate bounds from")
    mechanism = ApproxDP(epsilon, 0.0)
    reservation = None
    if ledger is not None:
        if project_id is None or by is None:
            raise ValueError("charging a ledger needs project_id and by")
        reservation = ledger.reserve(
            project_id,
            by=by,
            mechanism=mechanism,
            epsilon=epsilon,
            delta=0.0,
            n_rows=int(arr.size),
            dataset=dataset,
            kind="preprocessing",
            description=f"DP bounds of {name} ({quantiles[0]:g}–{quantiles[1]:g} quantiles)",
        )
        reservation.start()
    lo = dp_quantile(arr, quantiles[0], epsilon=epsilon / 2, lower=search_lower, upper=search_upper)
    hi = dp_quantile(arr, quantiles[1], epsilon=epsilon / 2, lower=search_lower, upper=search_upper)
    if reservation is not None:
        reservation.commit()
    if hi <= lo:
        hi = min(lo + (search_upper - search_lower) / 1000, search_upper)
        lo = hi - (search_upper - search_lower) / 1000
    return NumericFeature(name, lo, hi, "dp")
