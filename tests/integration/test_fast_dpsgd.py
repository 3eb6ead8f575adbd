"""The fused DP-SGD path against real Opacus: the same clipped sum, noise of the right scale, Poisson
batches at the accountant's rate, and Opacus for every model the fused path does not cover."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest

from hdc_toolkit.privacy import DPConfig, UnsupportedModelError, mlp, predict_proba, train_dp
from hdc_toolkit.privacy.fast_dpsgd import FusedDPSGD, fused_layers, poisson_indices

torch = pytest.importorskip("torch")
opacus = pytest.importorskip("opacus")

nn = torch.nn


def _models() -> dict[str, tuple[nn.Module, str]]:
    torch.manual_seed(3)
    return {
        "logreg": (nn.Sequential(nn.Linear(6, 1)), "binary"),
        "logreg-no-bias": (nn.Sequential(nn.Linear(6, 1, bias=False)), "binary"),
        "mlp-nested": (
            nn.Sequential(
                nn.Linear(6, 16), nn.Tanh(), nn.Sequential(nn.Linear(16, 8), nn.ReLU()), nn.Linear(8, 1)
            ),
            "binary",
        ),
        "mlp-multiclass": (nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 3)), "multiclass"),
        "softmax-regression": (nn.Sequential(nn.Linear(6, 4)), "multiclass"),
    }


def _batch(loss: str, classes: int, rows: int = 41) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(rows, 6, generator=gen) * torch.linspace(0.2, 3.0, rows).unsqueeze(1)
    if loss == "binary":
        return x, (torch.rand(rows, generator=gen) < 0.4).float()
    return x, torch.randint(0, classes, (rows,), generator=gen).float()


def _opacus_gradient(model: nn.Module, x, y, loss: str, clip: float, expected: int):
    """Opacus' own DP-SGD gradient (GradSampleModule + DPOptimizer, hooks mode), noise 0."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(model)
    opt = DPOptimizer(
        torch.optim.SGD(gsm.parameters(), lr=0.1),
        noise_multiplier=0.0,
        max_grad_norm=clip,
        expected_batch_size=expected,
    )
    out = gsm(x)
    if loss == "binary":
        value = nn.BCEWithLogitsLoss()(out.reshape(-1), y)
    else:
        value = nn.CrossEntropyLoss()(out, y.long())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value.backward()
    norms = torch.stack([p.grad_sample.reshape(len(x), -1).norm(dim=1) for p in gsm.parameters()], 1).norm(
        dim=1
    )
    opt.pre_step()  # clip_and_accumulate, add_noise, scale_grad
    return torch.cat([p.grad.reshape(-1) for p in gsm.parameters()]), norms


@pytest.mark.parametrize("name", list(_models()))
def test_noise_free_fused_gradient_equals_opacus_clipped_gradient(name):
    model, loss = _models()[name]
    classes = model[-1].out_features if isinstance(model[-1], nn.Linear) else 1
    x, y = _batch(loss, classes)
    expected = 37
    _, norms = _opacus_gradient(copy.deepcopy(model), x, y, loss, 1e9, expected)
    clip = float(norms.median())  # half the rows are clipped, half are not
    reference, _ = _opacus_gradient(copy.deepcopy(model), x, y, loss, clip, expected)
    assert (norms > clip * 1.01).sum() >= 10 and (norms < clip * 0.99).sum() >= 10

    fused_model = copy.deepcopy(model)
    opt = torch.optim.SGD(fused_model.parameters(), lr=0.1)
    fused = FusedDPSGD(
        fused_model, opt, noise_multiplier=0.0, max_grad_norm=clip, expected_batch_size=expected, loss=loss
    )
    flat, summed = fused.noisy_gradient(x, y)
    assert torch.allclose(flat, reference, atol=1e-6, rtol=1e-5), (flat - reference).abs().max()
    assert reference.abs().max() > 1e-3  # not trivially zero
    # .grad of every parameter is its part of the gradient, also after the optimizer's zero_grad()
    opt.zero_grad()
    fused.noisy_gradient(x, y)
    grads = torch.cat([p.grad.reshape(-1) for p in fused_model.parameters()])
    assert torch.allclose(grads, reference, atol=1e-6, rtol=1e-5)
    assert summed > 0


def test_noise_is_gaussian_with_std_sigma_times_clip_over_expected_batch():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(60, 100), nn.ReLU(), nn.Linear(100, 1))  # 6,201 parameters
    sigma, clip, expected = 2.5, 0.7, 40
    x, y = _batch("binary", 1, rows=50)
    x = torch.cat([x] * 10, 1)
    free_model = copy.deepcopy(model)
    free = FusedDPSGD(
        free_model,
        torch.optim.SGD(free_model.parameters(), lr=0.1),
        noise_multiplier=0.0,
        max_grad_norm=clip,
        expected_batch_size=expected,
    )
    clean = free.noisy_gradient(x, y)[0].clone()
    noisy_model = copy.deepcopy(model)
    noisy = FusedDPSGD(
        noisy_model,
        torch.optim.SGD(noisy_model.parameters(), lr=0.1),
        noise_multiplier=sigma,
        max_grad_norm=clip,
        expected_batch_size=expected,
        generator=torch.Generator().manual_seed(1),
    )
    first = noisy.noisy_gradient(x, y)[0] - clean
    second = noisy.noisy_gradient(x, y)[0] - clean
    want = sigma * clip / expected
    for noise in (first, second):
        assert noise.std().item() == pytest.approx(want, rel=0.05)
        assert abs(noise.mean().item()) < 4 * want / math.sqrt(noise.numel())
        kurtosis = ((noise - noise.mean()) ** 4).mean() / noise.var() ** 2
        assert kurtosis.item() == pytest.approx(3.0, abs=0.3)  # Gaussian, not uniform (1.8) or Laplace (6)
    assert abs(np.corrcoef(first.numpy(), second.numpy())[0, 1]) < 0.1  # a fresh draw every step
    # an empty Poisson batch releases the noise alone
    empty = noisy.noisy_gradient(x[:0], y[:0])[0]
    assert empty.std().item() == pytest.approx(want, rel=0.05)


@pytest.mark.parametrize(("n", "q", "steps"), [(400, 0.05, 600), (50, 0.3, 2000), (7, 1.0, 5)])
def test_poisson_batches_include_each_row_independently_at_the_sampling_rate(n, q, steps):
    batches = list(poisson_indices(n, q, steps, torch.Generator().manual_seed(2)))
    assert len(batches) == steps
    sizes = np.array([len(b) for b in batches])
    assert sizes.mean() == pytest.approx(n * q, rel=0.03)
    assert sizes.var() == pytest.approx(n * q * (1 - q), rel=0.15, abs=1e-9)  # binomial, not fixed
    member = np.zeros((steps, n), dtype=bool)
    for t, b in enumerate(batches):
        assert b.dtype == torch.long and (b[1:] > b[:-1]).all() and (0 <= b).all() and (b < n).all()
        member[t, b.numpy()] = True
    counts = member.sum(0)  # per row: Binomial(steps, q)
    assert counts.mean() == pytest.approx(steps * q, rel=0.03)
    assert counts.var() == pytest.approx(steps * q * (1 - q), rel=0.3, abs=1e-9)
    assert counts.min() > 0  # no row is left out of the sampling
    # independence: neighbouring rows, and a step's last row with the next step's first row
    assert (member[:, :-1] & member[:, 1:]).mean() == pytest.approx(q * q, rel=0.15)
    if steps * q * q > 100:  # enough step boundaries to tell
        assert (member[:-1, -1] & member[1:, 0]).mean() == pytest.approx(q * q, rel=0.25)


def test_poisson_batches_refuse_a_rate_outside_0_1():
    with pytest.raises(ValueError, match="sample_rate"):
        next(poisson_indices(10, 0.0, 1, None))
    with pytest.raises(ValueError, match="sample_rate"):
        next(poisson_indices(10, 1.5, 1, None))


def test_eligibility():
    assert fused_layers(mlp(4, (8, 8))) is not None
    assert fused_layers(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))) is None
    assert fused_layers(nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 1))) is None
    assert fused_layers(nn.Sequential(nn.Embedding(4, 8))) is None
    assert fused_layers(nn.Linear(4, 1)) is None  # not a Sequential
    frozen = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    frozen[0].weight.requires_grad_(False)
    assert fused_layers(frozen) is None

    class Custom(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 2

    assert fused_layers(Custom(nn.Linear(4, 1))) is None
    with pytest.raises(ValueError, match="only an nn.Sequential of nn.Linear"):
        FusedDPSGD(
            Custom(nn.Linear(4, 1)),
            torch.optim.SGD(nn.Linear(4, 1).parameters(), lr=0.1),
            noise_multiplier=1.0,
            max_grad_norm=1.0,
            expected_batch_size=10,
        )
    model = mlp(4, (8,))
    fused = FusedDPSGD(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        expected_batch_size=10,
    )
    with pytest.raises(ValueError, match="2-D inputs"):
        fused.noisy_gradient(torch.zeros(3, 2, 4), torch.zeros(3))


def _data(n: int = 600, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, d))
    y = (x @ np.linspace(2, -1, d) + rng.normal(0, 0.5, n) > 0).astype(float)
    return x, y


def test_auto_trains_linear_stacks_fused_with_the_same_mechanism_as_opacus():
    from sklearn.metrics import roc_auc_score

    x, y = _data()
    config = DPConfig(target_epsilon=3.0, epochs=3, batch_size=100, learning_rate=1.0, seed=4)
    fused = train_dp(mlp(5, (16,)), x, y, config=config)
    opacus_run = train_dp(
        mlp(5, (16,)), x, y, config=DPConfig(**{**config.__dict__, "grad_sample_mode": "ghost"})
    )
    assert fused.report.grad_sample_mode == "fused" and opacus_run.report.grad_sample_mode == "ghost"
    same = ("epsilon", "delta", "noise_multiplier", "sample_rate", "steps", "expected_batch_size")
    assert {k: getattr(fused.report, k) for k in same} == {k: getattr(opacus_run.report, k) for k in same}
    assert fused.report.steps == 18 and len(fused.history) == 3
    assert roc_auc_score(y, predict_proba(fused.model, x)) > 0.85
    assert roc_auc_score(y, predict_proba(opacus_run.model, x)) > 0.85


def test_other_models_go_through_opacus_and_fused_refuses_them_clearly():
    x, y = _data(200)
    dropout = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.1), nn.Linear(8, 1))
    config = DPConfig(noise_multiplier=1.0, epochs=1, batch_size=50)
    assert train_dp(dropout, x, y, config=config).report.grad_sample_mode == "ghost"
    grouped = nn.Sequential(nn.Linear(5, 8), nn.GroupNorm(2, 8), nn.Linear(8, 1))
    assert train_dp(grouped, x, y, config=config).report.grad_sample_mode == "hooks"
    with pytest.raises(UnsupportedModelError, match="grad_sample_mode=.fused. takes only an nn.Sequential"):
        train_dp(
            nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.1), nn.Linear(8, 1)),
            x,
            y,
            config=DPConfig(noise_multiplier=1.0, epochs=1, grad_sample_mode="fused"),
        )
    batchnorm = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(UnsupportedModelError, match="BatchNorm.*fix_model=True.*GroupNorm"):
        train_dp(batchnorm, x, y, config=DPConfig(noise_multiplier=1.0, epochs=1, grad_sample_mode="fused"))


def test_unseeded_runs_draw_fresh_batches_and_noise():
    x, y = _data(200)
    config = DPConfig(noise_multiplier=1.0, epochs=1, batch_size=50)
    torch.manual_seed(0)
    a = train_dp(mlp(5, (4,)), x, y, config=config).model
    torch.manual_seed(0)  # same initial weights, but sampling and noise are not reproducible
    b = train_dp(mlp(5, (4,)), x, y, config=config).model
    assert not torch.equal(a[0].weight, b[0].weight)
