"""Differentially private training of PyTorch models with Opacus, charged to the project's ledger.

::

    from hdc_toolkit.privacy import DPConfig, train_dp, logistic_regression

    result = train_dp(
        logistic_regression(X.shape[1]), X, y,
        config=DPConfig(target_epsilon=1.0, epochs=10, batch_size=256),
        ledger=ledger, project_id="p2026-001-diabetes", by="magnil",
    )
    result.model, result.report.epsilon, result.report.plain_words()

What :func:`train_dp` does, in order:

1. turns the features and labels (pandas, NumPy or Dask) into float32 tensors; empty data is refused;
2. checks the model with Opacus' ``ModuleValidator``; an unsupported layer (BatchNorm, ...) is refused
   with the fix (``DPConfig(fix_model=True)`` or :func:`fix_model`: BatchNorm → GroupNorm);
3. plans the mechanism: Poisson sampling at rate q = 1/⌈n/batch⌉, ``epochs·⌈n/batch⌉`` steps, and a
   noise multiplier σ, either given or calibrated to ``target_epsilon`` at δ by the accountant (the
   calibration ``make_private_with_epsilon`` performs, done once, off the training loop);
4. **reserves** that (ε, δ) in the ledger (refused if the project's composed total would pass its cap);
5. marks the run started and trains with flat clipping at ``max_grad_norm``: a plain stack of Linear
   layers and elementwise activations through the fused DP-SGD step of
   :mod:`hdc_toolkit.privacy.fast_dpsgd` (Opacus' clipping, noise and averaging, computed in a few
   batched tensor operations), any other model through ``PrivacyEngine.make_private``; progress goes
   to the reservation's heartbeat;
6. **commits** what the accountant says was spent; on an exception, charges only the steps done.

δ defaults to ``min(1e-5, 1/(10·n), permit δ)``. Without a ledger (benchmarks, tests) the run is still
DP but charged to nobody: inside the sandbox always pass the project's ledger.

torch and Opacus are imported inside the functions, never at module import.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hdc_toolkit.exceptions import DataError, HdcUserError, MissingExtraError
from hdc_toolkit.privacy.accounting import (
    InvalidPrivacyParameter,
    SubsampledGaussian,
    calibrate_noise,
    compose,
    default_delta,
    validate_epsilon_delta,
)

if TYPE_CHECKING:
    from hdc_toolkit.privacy.ledger import BudgetLedger, EntryRecord

__all__ = [
    "DPConfig",
    "EpochStats",
    "PrivacyReport",
    "TrainingResult",
    "UnsupportedModelError",
    "fix_model",
    "logistic_regression",
    "mlp",
    "plain_words",
    "predict_proba",
    "to_tensors",
    "train_dp",
    "train_nonprivate",
    "validate_model",
]

GRAD_SAMPLE_MODES: tuple[str, ...] = ("auto", "fused", "hooks", "ghost", "functorch", "ew")
#: Layers ghost clipping supports (per-sample gradient norms without per-sample gradients).
_GHOST_LAYERS: tuple[str, ...] = ("Linear", "Embedding")


class UnsupportedModelError(HdcUserError, ValueError):
    """The model has layers Opacus cannot train privately (e.g. BatchNorm mixes samples)."""


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingExtraError("privacy", "torch") from None
    return torch


def _opacus() -> Any:
    try:
        import opacus
    except ImportError:
        raise MissingExtraError("privacy", "opacus") from None
    return opacus


# ---------------------------------------------------------------- configuration and results


@dataclass(frozen=True)
class DPConfig:
    """How to train. Give ``target_epsilon`` (σ is calibrated) or ``noise_multiplier`` (ε follows).

    ``delta`` None means ``min(1e-5, 1/(10·n), permit δ)``. ``accountant`` is ``rdp`` (default, the
    ledger's) or ``prv`` (a little tighter, slower). ``grad_sample_mode`` ``auto`` (default: ``fused``
    for an ``nn.Sequential`` of Linear layers and elementwise activations, see
    :mod:`hdc_toolkit.privacy.fast_dpsgd`; else Opacus' ghost clipping when every layer with
    parameters is Linear or Embedding; else Opacus' hooks), ``fused``, or one of Opacus' modes.
    """

    target_epsilon: float | None = None
    noise_multiplier: float | None = None
    delta: float | None = None
    epochs: int = 10
    batch_size: int = 256
    max_grad_norm: float = 1.0
    learning_rate: float = 0.5
    momentum: float = 0.0
    optimizer: str = "sgd"
    accountant: str = "rdp"
    grad_sample_mode: str = "auto"
    fix_model: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise ValueError("give exactly one of target_epsilon and noise_multiplier")
        if self.noise_multiplier is not None and not self.noise_multiplier > 0:
            raise ValueError(f"noise_multiplier must be > 0, got {self.noise_multiplier!r}")
        if self.epochs < 1 or self.batch_size < 1 or not self.max_grad_norm > 0:
            raise ValueError("epochs and batch_size must be ≥ 1 and max_grad_norm > 0")
        if self.accountant not in ("rdp", "prv"):
            raise ValueError(f"accountant must be 'rdp' or 'prv', got {self.accountant!r}")
        if self.grad_sample_mode not in GRAD_SAMPLE_MODES:
            raise ValueError(f"grad_sample_mode must be one of {', '.join(GRAD_SAMPLE_MODES)}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")


@dataclass(frozen=True)
class EpochStats:
    """One epoch: mean loss, wall time, steps so far, and the CPU time of the training thread (the
    cost of the epoch itself, unaffected by other processes on a shared machine)."""

    epoch: int
    loss: float
    seconds: float
    steps: int
    cpu_seconds: float = math.nan


@dataclass(frozen=True)
class PrivacyReport:
    """The guarantee of one run and how it was obtained."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    epochs: int
    expected_batch_size: int
    max_grad_norm: float
    accountant: str
    grad_sample_mode: str
    n_rows: int
    run_id: str | None = None
    project_id: str | None = None
    dataset: str | None = None
    project_epsilon_composed: float | None = None
    project_epsilon_naive: float | None = None
    project_epsilon_cap: float | None = None
    project_delta_cap: float | None = None

    def plain_words(self) -> str:
        return plain_words(self.epsilon, self.delta, self.n_rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"plain_words": self.plain_words()}


@dataclass
class TrainingResult:
    """The trained model (plain ``nn.Module``, Opacus hooks removed), its privacy report, per-epoch stats."""

    model: Any
    report: PrivacyReport
    history: list[EpochStats] = field(default_factory=list)
    ledger_entry: EntryRecord | None = None

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.median([h.seconds for h in self.history])) if self.history else math.nan


def plain_words(epsilon: float, delta: float, n_rows: int | None = None) -> str:
    """The (ε, δ) guarantee as a sentence a patient or an ethics committee can follow."""
    factor = math.exp(epsilon)
    one_in = f"1 in {1 / delta:,.0f}" if delta > 0 else "zero"
    rows = f" of the {n_rows:,} patients" if n_rows else ""
    return (
        f"Differential privacy with ε = {epsilon:.3g} and δ = {delta:.1e}: anything that can be learned from "
        f"this model would be almost as likely if any one{rows} had been left out of the training data. "
        f"'Almost' means the probability of any outcome changes by at most a factor of {factor:.3g} "
        f"(e^ε), except with a probability of at most {one_in} (δ). Smaller ε is stronger protection."
    )


# ---------------------------------------------------------------- models


def logistic_regression(n_features: int) -> Any:
    """A logistic-regression model (one Linear layer; train with a logit loss)."""
    nn = _torch().nn
    return nn.Sequential(nn.Linear(n_features, 1))


def mlp(n_features: int, hidden: Sequence[int] = (64, 64)) -> Any:
    """A small multilayer perceptron with ReLU (no normalisation layers: DP-safe as is)."""
    nn = _torch().nn
    layers: list[Any] = []
    width = n_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def validate_model(model: Any) -> list[str]:
    """Opacus' objections to ``model`` (empty when it can be trained privately)."""
    from opacus.validators import ModuleValidator

    return [str(e) for e in ModuleValidator.validate(model, strict=False)]


def fix_model(model: Any) -> Any:
    """Opacus' ``ModuleValidator.fix``: BatchNorm → GroupNorm, and the like. Returns a new model."""
    from opacus.validators import ModuleValidator

    return ModuleValidator.fix(model)


def _checked_model(model: Any, config: DPConfig) -> Any:
    _opacus()
    problems = validate_model(model)
    if problems and config.fix_model:
        model = fix_model(model)
        problems = validate_model(model)
    if problems:
        listed = "; ".join(p.split(". ")[0].rstrip(".") for p in problems[:5])
        raise UnsupportedModelError(
            f"the model cannot be trained with differential privacy as it is: {listed}. Fix: pass "
            "DPConfig(fix_model=True), or model = hdc_toolkit.privacy.fix_model(model) (Opacus' "
            "ModuleValidator.fix replaces BatchNorm with GroupNorm), or build the model without "
            "normalisation layers that mix samples"
        )
    return model


# ---------------------------------------------------------------- data


def to_tensors(features: Any, labels: Any | None = None) -> tuple[Any, Any | None]:
    """float32 tensors from pandas, NumPy or Dask (computed); refuses empty or non-numeric data."""
    torch = _torch()
    x = _as_array(features, "features")
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.shape[0] == 0:
        raise DataError("the training data is empty (0 rows): nothing to train on")
    if not np.isfinite(x).all():
        raise DataError(
            "the features contain missing or infinite values: encode them first "
            "(hdc_toolkit.privacy.BoundedEncoder imputes and clips with public bounds)"
        )
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if labels is None:
        return xt, None
    y = _as_array(labels, "labels").reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise DataError(f"{x.shape[0]} feature rows but {y.shape[0]} labels")
    if not np.isfinite(y).all():
        raise DataError("the labels contain missing values")
    return xt, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))


def _as_array(data: Any, what: str) -> np.ndarray:
    if hasattr(data, "compute") and not isinstance(data, np.ndarray):  # Dask
        data = data.compute()
    if hasattr(data, "to_numpy"):
        data = (
            data.to_numpy(dtype=np.float64, na_value=np.nan) if hasattr(data, "dtypes") else data.to_numpy()
        )
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"the {what} must be numeric (encode categories first): {exc}") from None


def _dataset(x: Any, y: Any) -> Any:
    """A TensorDataset that hands out whole batches (``__getitems__``): no per-row Python overhead."""
    import torch
    from torch.utils.data import TensorDataset

    class _Batched(TensorDataset):
        def __getitems__(self, indices: list[int]) -> list[tuple[Any, ...]]:
            if len(indices) == 0:
                return []
            idx = torch.as_tensor(indices, dtype=torch.long)
            return [tuple(t.index_select(0, idx) for t in self.tensors)]

    return _Batched(x, y)


def _collate(batch: list[tuple[Any, ...]]) -> list[Any]:
    return list(batch[0])


def _loader(x: Any, y: Any, batch_size: int, *, shuffle: bool, generator: Any = None) -> Any:
    from torch.utils.data import DataLoader

    return DataLoader(
        _dataset(x, y), batch_size=batch_size, shuffle=shuffle, collate_fn=_collate, generator=generator
    )


# ---------------------------------------------------------------- training


def _optimizer(model: Any, config: DPConfig) -> Any:
    optim = _torch().optim
    if config.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=config.learning_rate)
    return optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)


def _plan(n: int, config: DPConfig, cap_delta: float | None) -> tuple[float, float, int, float]:
    """``(sample_rate, delta, steps, noise_multiplier)`` of the run before it starts."""
    batches = math.ceil(n / config.batch_size)
    q = 1.0 / batches
    steps = config.epochs * batches
    delta = config.delta if config.delta is not None else default_delta(n, cap_delta)
    if config.target_epsilon is not None:
        validate_epsilon_delta(config.target_epsilon, delta, n_rows=n)
        # Opacus' get_noise_multiplier search (what make_private_with_epsilon runs), cached per plan
        sigma = calibrate_noise(
            config.target_epsilon, delta, sample_rate=q, steps=steps, accountant=config.accountant
        )
    else:
        validate_epsilon_delta(1.0, delta, n_rows=n)
        assert config.noise_multiplier is not None
        sigma = config.noise_multiplier
    return q, delta, steps, sigma


def _epsilon_of(mech: SubsampledGaussian, delta: float, accountant: str) -> float:
    """The run's ε by its accountant (RDP: the ledger's implementation, equal to Opacus', cached)."""
    if accountant == "rdp":
        return compose([mech], delta).epsilon
    from opacus.accountants import create_accountant

    acc = create_accountant(mechanism=accountant)
    acc.history = [(mech.noise_multiplier, mech.sample_rate, mech.steps)]
    return float(acc.get_epsilon(delta=delta))


def train_dp(
    model: Any,
    features: Any,
    labels: Any,
    *,
    config: DPConfig,
    ledger: BudgetLedger | None = None,
    project_id: str | None = None,
    by: str | None = None,
    dataset: str = "release",
    description: str = "",
    code_sha256: str | None = None,
    release_sha256: str | None = None,
    loss: str = "binary",
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainingResult:
    """Train ``model`` with DP-SGD on ``features``/``labels``; see the module doc for the steps.

    ``loss`` is ``binary`` (one logit, BCE) or ``multiclass`` (logits, cross-entropy, integer labels).
    With ``ledger`` the run is reserved, started and committed against ``project_id`` as ``by``.
    """
    with _quiet_opacus():
        return _train_dp(
            model,
            features,
            labels,
            config=config,
            ledger=ledger,
            project_id=project_id,
            by=by,
            dataset=dataset,
            description=description,
            code_sha256=code_sha256,
            release_sha256=release_sha256,
            loss=loss,
            on_epoch=on_epoch,
        )


def _train_dp(
    model: Any,
    features: Any,
    labels: Any,
    *,
    config: DPConfig,
    ledger: BudgetLedger | None,
    project_id: str | None,
    by: str | None,
    dataset: str,
    description: str,
    code_sha256: str | None,
    release_sha256: str | None,
    loss: str,
    on_epoch: Callable[[EpochStats], None] | None,
) -> TrainingResult:
    _torch()
    from opacus import PrivacyEngine

    if ledger is not None and (project_id is None or by is None):
        raise ValueError("charging a ledger needs project_id and by")
    try:
        x, y = to_tensors(features, labels)
        n = int(x.shape[0])
        cap_delta = None
        if ledger is not None:
            cap_delta = ledger.account(project_id, dataset).cap_delta  # type: ignore[arg-type]
        q, delta, steps, sigma = _plan(n, config, cap_delta)
    except (DataError, InvalidPrivacyParameter) as exc:
        if ledger is not None:
            ledger.record_refusal(
                project_id,  # type: ignore[arg-type]
                by=by,  # type: ignore[arg-type]
                dataset=dataset,
                kind="training",
                reason="privacy.parameters" if isinstance(exc, InvalidPrivacyParameter) else "privacy.data",
                message=exc.message,
                epsilon=config.target_epsilon,
            )
        raise
    model = _checked_model(model, config)
    planned = SubsampledGaussian(sigma, q, steps)
    claimed = (
        config.target_epsilon
        if config.target_epsilon is not None
        else _epsilon_of(planned, delta, config.accountant)
    )
    reservation = None
    if ledger is not None:
        reservation = ledger.reserve(
            project_id,  # type: ignore[arg-type]
            by=by,  # type: ignore[arg-type]
            mechanism=planned,
            epsilon=claimed,
            delta=delta,
            n_rows=n,
            dataset=dataset,
            kind="training",
            accountant=config.accountant,
            description=description or f"DP-SGD {type(model).__name__}, {config.epochs} epochs",
            code_sha256=code_sha256,
            release_sha256=release_sha256,
        )
    mode = _grad_sample_mode(model, config.grad_sample_mode)
    generator = _generator(config.seed)
    criterion = _criterion(loss)
    history: list[EpochStats] = []
    state = {"steps": 0}

    def progress() -> None:
        state["steps"] += 1
        if reservation is not None:
            reservation.progress(state["steps"])

    def run() -> Any:
        if mode == "fused":
            return _run_fused(model, x, y, q, sigma, config, loss, generator, history, progress, on_epoch)
        engine = PrivacyEngine(accountant=config.accountant)
        loader = _loader(x, y, config.batch_size, shuffle=False, generator=generator)
        optimizer = _optimizer(model, config)
        made = engine.make_private(
            module=model,
            optimizer=optimizer,
            criterion=criterion,
            data_loader=loader,
            noise_multiplier=sigma,
            max_grad_norm=config.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode=mode,
        )
        if "ghost" in mode:
            private_model, private_opt, private_crit, private_loader = made
        else:
            (private_model, private_opt, private_loader), private_crit = made, criterion
        assert abs(private_loader.sample_rate - q) < 1e-12, "Opacus' sampling rate differs from the plan"

        def step(xb: Any, yb: Any) -> float:
            private_opt.zero_grad()
            batch_loss = private_crit(_forward(private_model, xb, loss), _target(yb, loss))
            batch_loss.backward()
            private_opt.step()
            return float(batch_loss.detach()) * len(xb)

        private_model.train()
        _epochs(config.epochs, lambda: private_loader, step, history, progress, on_epoch)
        return private_model

    private_model = _run_charged(run, reservation, planned, state, config.accountant, delta)
    spent_epsilon = _epsilon_of(planned.with_steps(state["steps"]), delta, config.accountant)
    report = _report(
        spent_epsilon,
        planned,
        state["steps"],
        delta,
        n,
        config,
        mode,
        ledger,
        reservation,
        project_id,
        dataset,
    )
    final = private_model._module if hasattr(private_model, "_module") else private_model
    _remove_hooks(private_model)
    return TrainingResult(final, report, history, reservation.entry if reservation else None)


def _generator(seed: int | None) -> Any:
    """The run's random generator: seeded for reproducible runs, else from the OS's entropy (an
    unseeded ``torch.Generator`` starts from one fixed, public seed: its Poisson batches would be
    known in advance)."""
    generator = _torch().Generator()
    if seed is None:
        generator.seed()
    else:
        _torch().manual_seed(seed)
        generator.manual_seed(seed)
    return generator


def _epochs(
    epochs: int,
    batches: Callable[[], Iterable[tuple[Any, Any]]],
    step: Callable[[Any, Any], float],
    history: list[EpochStats],
    progress: Callable[[], None],
    on_epoch: Callable[[EpochStats], None] | None,
) -> None:
    """The training loop: ``step`` returns the batch's summed loss; one EpochStats per epoch."""
    steps = history[-1].steps if history else 0
    for epoch in range(1, epochs + 1):
        started, cpu = time.perf_counter(), time.thread_time()
        total, count = 0.0, 0
        for xb, yb in batches():
            total += step(xb, yb)
            count += len(xb)
            steps += 1
            progress()
        wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
        stats = EpochStats(epoch, total / max(count, 1), wall, steps, cpu)
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)


def _run_fused(
    model: Any,
    x: Any,
    y: Any,
    q: float,
    sigma: float,
    config: DPConfig,
    loss: str,
    generator: Any,
    history: list[EpochStats],
    progress: Callable[[], None],
    on_epoch: Callable[[EpochStats], None] | None,
) -> Any:
    """DP-SGD through :class:`~hdc_toolkit.privacy.fast_dpsgd.FusedDPSGD`: Poisson batches at rate q,
    ``⌈n/batch⌉`` steps an epoch, the same mechanism Opacus would run."""
    from hdc_toolkit.privacy.fast_dpsgd import (
        FusedDPSGD,
        expected_batch_size,
        poisson_indices,
        steps_per_epoch,
    )

    n = int(x.shape[0])
    fused = FusedDPSGD(
        model,
        _optimizer(model, config),
        noise_multiplier=sigma,
        max_grad_norm=config.max_grad_norm,
        expected_batch_size=expected_batch_size(n, q),
        loss=loss,
        generator=generator,
    )
    target = _target(y, loss)

    def batches() -> Iterator[tuple[Any, Any]]:
        for idx in poisson_indices(n, q, steps_per_epoch(n, config.batch_size), generator):
            yield x.index_select(0, idx), target.index_select(0, idx)

    model.train()
    _epochs(config.epochs, batches, fused.step, history, progress, on_epoch)
    return model


#: Opacus warnings that are expected here and say nothing actionable to a researcher.
_BENIGN_WARNINGS: tuple[str, ...] = (
    "Secure RNG turned off",
    "Optimal order is the",
    "Full backward hook is firing",
    "Using a non-full backward hook",
)


@contextlib.contextmanager
def _quiet_opacus() -> Iterator[None]:
    with warnings.catch_warnings():
        for text in _BENIGN_WARNINGS:
            warnings.filterwarnings("ignore", message=f".*{text}")
        yield


def _run_charged(
    run: Callable[[], Any],
    reservation: Any,
    planned: SubsampledGaussian,
    state: dict[str, int],
    accountant: str,
    delta: float,
) -> Any:
    """Run the training inside the reservation: start, then commit what was spent, or fail."""
    if reservation is None:
        return run()
    with reservation:
        reservation.start()
        try:
            private_model = run()
        except BaseException as exc:
            from hdc_toolkit.exceptions import StateError

            try:
                reservation.fail(
                    f"{type(exc).__name__}: {str(exc)[:200]}", spent=planned.with_steps(state["steps"])
                )
            except StateError:
                pass  # reconciled meanwhile: already charged in full
            raise
        spent = planned.with_steps(state["steps"])
        reservation.commit(spent=spent, epsilon=_epsilon_of(spent, delta, accountant), delta=delta)
    return private_model


def _report(
    epsilon: float,
    planned: SubsampledGaussian,
    steps: int,
    delta: float,
    n: int,
    config: DPConfig,
    mode: str,
    ledger: BudgetLedger | None,
    reservation: Any,
    project_id: str | None,
    dataset: str,
) -> PrivacyReport:
    composed = naive = cap_eps = cap_delta = None
    if ledger is not None and project_id is not None:
        account = ledger.account(project_id, dataset)
        composed, naive = account.total.bound, account.total.naive_epsilon
        cap_eps, cap_delta = account.cap_epsilon, account.cap_delta
    return PrivacyReport(
        epsilon=epsilon,
        delta=delta,
        noise_multiplier=planned.noise_multiplier,
        sample_rate=planned.sample_rate,
        steps=steps,
        epochs=config.epochs,
        expected_batch_size=round(n * planned.sample_rate),
        max_grad_norm=config.max_grad_norm,
        accountant=config.accountant,
        grad_sample_mode=mode,
        n_rows=n,
        run_id=reservation.run_id if reservation is not None else None,
        project_id=project_id,
        dataset=dataset if project_id else None,
        project_epsilon_composed=composed,
        project_epsilon_naive=naive,
        project_epsilon_cap=cap_eps,
        project_delta_cap=cap_delta,
    )


def _grad_sample_mode(model: Any, requested: str) -> str:
    from hdc_toolkit.privacy.fast_dpsgd import ACTIVATIONS, fused_layers

    fusable = fused_layers(model) is not None
    if requested == "fused" and not fusable:
        raise UnsupportedModelError(
            "grad_sample_mode='fused' takes only an nn.Sequential of nn.Linear layers and elementwise "
            f"activations ({', '.join(ACTIVATIONS)}; not in-place), every parameter trainable. Fix: "
            "DPConfig(grad_sample_mode='auto') trains any other model through Opacus"
        )
    if requested != "auto":
        return requested
    if fusable:
        return "fused"
    leaves = [m for m in model.modules() if not list(m.children()) and any(True for _ in m.parameters())]
    return "ghost" if leaves and all(type(m).__name__ in _GHOST_LAYERS for m in leaves) else "hooks"


def _remove_hooks(model: Any) -> None:
    remove = getattr(model, "_close", None) or getattr(model, "remove_hooks", None)
    if remove is not None:
        try:
            remove()
        except Exception:  # noqa: BLE001 - best effort; the unwrapped module is returned either way
            pass


def _criterion(loss: str) -> Any:
    nn = _torch().nn
    if loss == "binary":
        return nn.BCEWithLogitsLoss()
    if loss == "multiclass":
        return nn.CrossEntropyLoss()
    raise ValueError(f"loss must be 'binary' or 'multiclass', got {loss!r}")


def _forward(model: Any, xb: Any, loss: str) -> Any:
    out = model(xb)
    return out.reshape(-1) if loss == "binary" else out


def _target(yb: Any, loss: str) -> Any:
    return yb if loss == "binary" else yb.long()


def train_nonprivate(
    model: Any,
    features: Any,
    labels: Any,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    optimizer: str = "sgd",
    loss: str = "binary",
    seed: int | None = None,
) -> tuple[Any, list[EpochStats]]:
    """The same loop without privacy (a baseline for benchmarks; never for outputs that leave).

    Shuffled batches of exactly ``batch_size`` drawn as index tensors, like the fused DP path's
    Poisson batches, so that timing the two compares the cost of privacy alone."""
    from hdc_toolkit.privacy.fast_dpsgd import shuffled_indices

    x, y = to_tensors(features, labels)
    generator = _generator(seed)
    cfg = DPConfig(noise_multiplier=1.0, learning_rate=learning_rate, momentum=momentum, optimizer=optimizer)
    opt = _optimizer(model, cfg)
    criterion = _criterion(loss)
    target = _target(y, loss)
    history: list[EpochStats] = []

    def batches() -> Iterator[tuple[Any, Any]]:
        for idx in shuffled_indices(len(x), batch_size, generator):
            yield x.index_select(0, idx), target.index_select(0, idx)

    def step(xb: Any, yb: Any) -> float:
        opt.zero_grad()
        batch_loss = criterion(_forward(model, xb, loss), yb)
        batch_loss.backward()
        opt.step()
        return float(batch_loss.detach()) * len(xb)

    model.train()
    _epochs(epochs, batches, step, history, lambda: None, None)
    return model, history


def predict_proba(model: Any, features: Any) -> np.ndarray:
    """Predicted probabilities (sigmoid of the logit) for a binary model, as a NumPy array."""
    torch = _torch()
    x, _ = to_tensors(features)
    model.eval()
    with torch.no_grad():
        out = model(x).reshape(-1)
    return torch.sigmoid(out).numpy().astype(np.float64)
