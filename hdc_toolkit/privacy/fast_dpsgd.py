"""Fused DP-SGD for plain stacks of ``nn.Linear`` and elementwise activations (no Opacus hooks).

For a Linear layer applied to one row ``a_i`` per sample, the per-sample gradient of its weight is
the outer product ``g_i a_iᵀ`` (``g_i = ∂ℓ_i/∂z_i``, sample i's loss differentiated at the layer's
output), so its norm needs no per-sample gradient ("ghost norm", Goodfellow 2015; Li et al. 2022)::

    ‖∇W ℓ_i‖² = ‖g_i‖²·‖a_i‖²          ∇b ℓ_i = g_i

One forward pass keeps every Linear layer's input ``a``; one ``autograd.grad`` of the *summed* loss
gives every layer's ``g`` (row i depends on sample i only: each layer acts on rows independently).
Then, per step::

    norm_i = sqrt(Σ_layers ‖g_i‖²·(‖a_i‖² + [bias]))
    c_i    = min(1, C / (norm_i + 1e-6))                Opacus' flat clipping, the same constant
    ∇W     = (c∘g)ᵀ a,   ∇b = Σ_i c_i g_i               the clipped sum: one matmul per layer
    grad   = (clipped sum + N(0, (σ·C)²·I)) / ⌊n·q⌋     Opacus' DPOptimizer (loss_reduction="mean")

which is ``DPOptimizer.clip_and_accumulate`` + ``add_noise`` + ``scale_grad`` computed without
materialising per-sample gradients, and without a second backward pass (Opacus' ghost clipping
needs one). Batches are Poisson samples at the accountant's rate q — every row independently with
probability q, the distribution of Opacus' ``UniformWithReplacementSampler`` — drawn as index
tensors in O(n·q) per step (:func:`poisson_indices`). The released
mechanism (σ, q, steps) is exactly the one the accountant charges; only the arithmetic is fused.

Eligible models (:func:`fused_layers`): an ``nn.Sequential`` (nested allowed) of ``nn.Linear`` and
the activations in :data:`ACTIVATIONS`, every parameter trainable, fed 2-D inputs. Anything else
(Dropout, normalisation, embeddings, custom ``forward``) is trained through Opacus.

torch is imported inside the functions, never at module import.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "FusedDPSGD",
    "expected_batch_size",
    "fused_layers",
    "poisson_indices",
    "shuffled_indices",
    "steps_per_epoch",
]

#: Elementwise activations the fused path accepts (each acts on every entry of a row on its own).
ACTIVATIONS: tuple[str, ...] = (
    "CELU",
    "ELU",
    "GELU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "LogSigmoid",
    "Mish",
    "ReLU",
    "ReLU6",
    "SELU",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "Softsign",
    "Tanh",
    "Tanhshrink",
)

#: Opacus' stabiliser in ``clip_and_accumulate`` (``C / (norm + 1e-6)``).
_CLIP_EPS = 1e-6


def fused_layers(model: Any) -> list[Any] | None:
    """The model's layers in order when the fused path computes exactly Opacus' result, else None.

    That is: ``model`` is a plain ``nn.Sequential`` (its own ``forward``, possibly nested) whose
    leaves are ``nn.Linear`` or an activation in :data:`ACTIVATIONS` (not in-place), with at least one
    Linear layer and every parameter trainable.
    """
    from torch import nn

    if type(model) is not nn.Sequential:
        return None
    layers: list[Any] = []
    stack = [model]
    while stack:
        module = stack.pop()
        if type(module) is nn.Sequential:
            stack.extend(reversed(list(module.children())))
        elif type(module) is nn.Linear:
            if not all(p.requires_grad for p in module.parameters()):
                return None
            layers.append(module)
        elif type(module).__name__ in ACTIVATIONS and type(module).__module__.startswith("torch.nn"):
            if getattr(module, "inplace", False):
                return None
            layers.append(module)
        else:
            return None
    if not any(type(m) is nn.Linear for m in layers):
        return None
    return layers


def poisson_indices(n: int, sample_rate: float, steps: int, generator: Any) -> Iterator[Any]:
    """``steps`` Poisson batches of ``range(n)``: each row in each batch independently with prob. q.

    The distribution of Opacus' ``DPDataLoader`` (``UniformWithReplacementSampler``, which draws
    ``rand(n) < q`` every step), drawn in O(n·q) per step instead of O(n): the ``steps × n`` (step,
    row) pairs are one Bernoulli(q) process, and the gaps between its successes are i.i.d.
    Geometric(q), so the chosen pairs are the running sums of geometric draws (float64: exact to
    2⁵³ pairs). Batches are sorted int64 index tensors; a batch may be empty.
    """
    import torch

    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if n < 1 or steps < 1:
        return
    if sample_rate == 1:  # every row in every batch (one batch an epoch)
        for _ in range(steps):
            yield torch.arange(n)
        return
    span = float(steps) * n
    parts, last = [], 0.0
    while last <= span:  # the process has not yet passed the last pair: draw more gaps
        expected = (span - last) * sample_rate
        gaps = torch.empty(int(expected + 6 * math.sqrt(expected) + 16), dtype=torch.float64)
        positions = gaps.geometric_(sample_rate, generator=generator).cumsum_(0).add_(last)
        parts.append(positions)
        last = float(positions[-1])
    chosen = torch.cat(parts) if len(parts) > 1 else parts[0]
    chosen = chosen[chosen <= span].sub_(1).long()  # 1-based running sums → 0-based pair numbers
    step_of = torch.div(chosen, n, rounding_mode="floor")
    rows = chosen - step_of * n
    yield from rows.split(torch.bincount(step_of, minlength=steps).tolist())


def shuffled_indices(n: int, batch_size: int, generator: Any) -> Iterator[Any]:
    """One shuffled pass over ``range(n)`` in batches of ``batch_size`` (the last may be smaller)."""
    import torch

    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


class FusedDPSGD:
    """One DP-SGD step at a time for a model :func:`fused_layers` accepts.

    ``optimizer`` is a plain torch optimizer over ``model.parameters()``; each :meth:`step` sets every
    parameter's ``.grad`` to the clipped, noised, averaged gradient and calls ``optimizer.step()``.
    ``expected_batch_size`` is Opacus' ``int(n·q)``. Noise comes from ``generator`` (torch's default
    generator when None), as Opacus draws it with ``secure_mode=False``.
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        *,
        noise_multiplier: float,
        max_grad_norm: float,
        expected_batch_size: int,
        loss: str = "binary",
        generator: Any = None,
    ) -> None:
        import torch

        layers = fused_layers(model)
        if layers is None:
            raise ValueError(
                "the fused DP-SGD path takes only an nn.Sequential of nn.Linear layers and elementwise "
                f"activations ({', '.join(ACTIVATIONS)}), every parameter trainable; train this model "
                "with grad_sample_mode 'auto', 'hooks' or 'ghost' (Opacus)"
            )
        if not noise_multiplier >= 0 or not max_grad_norm > 0 or expected_batch_size < 1:
            raise ValueError("noise_multiplier must be ≥ 0, max_grad_norm > 0 and expected_batch_size ≥ 1")
        if loss not in ("binary", "multiclass"):
            raise ValueError(f"loss must be 'binary' or 'multiclass', got {loss!r}")
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.layers = layers
        self.linears = [m for m in layers if isinstance(m, torch.nn.Linear)]
        self.noise_std = float(noise_multiplier) * float(max_grad_norm)
        self.max_grad_norm = float(max_grad_norm)
        self.expected_batch_size = int(expected_batch_size)
        self.generator = generator
        params = [p for m in self.linears for p in (m.weight, m.bias) if p is not None]
        optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if {id(p) for p in model.parameters()} != {id(p) for p in params} or not optimised >= {
            id(p) for p in params
        }:
            raise ValueError("the optimizer must hold every parameter of the model")
        first = params[0]
        # one flat buffer for all gradients and one for the noise, allocated once
        self._flat = torch.zeros(sum(p.numel() for p in params), dtype=first.dtype, device=first.device)
        self._noise = torch.empty_like(self._flat)
        self._views: list[tuple[Any, Any | None]] = []
        offset = 0
        for m in self.linears:
            w = self._flat[offset : offset + m.weight.numel()].view_as(m.weight)
            offset += m.weight.numel()
            b = None
            if m.bias is not None:
                b = self._flat[offset : offset + m.bias.numel()].view_as(m.bias)
                offset += m.bias.numel()
            self._views.append((w, b))
        self._bind_grads()

    def _bind_grads(self) -> None:
        """Point every ``.grad`` at its part of the buffer (again after a ``zero_grad()``)."""
        for m, (w, b) in zip(self.linears, self._views, strict=True):
            if m.weight.grad is not w:
                m.weight.grad = w
            if b is not None and m.bias.grad is not b:
                m.bias.grad = b

    def noisy_gradient(self, xb: Any, yb: Any) -> tuple[Any, float]:
        """The privatised gradient of one batch as a flat tensor (a view: copy it to keep it), and the
        batch's summed loss. Every parameter's ``.grad`` is its part of that tensor."""
        import torch
        import torch.nn.functional as F

        if xb.ndim != 2:
            raise ValueError(f"the fused DP-SGD path needs 2-D inputs (rows × features), got {xb.ndim}-D")
        if xb.shape[0] == 0:  # an empty Poisson batch still releases the noise (Opacus: zero clip factors)
            self._flat.zero_()
            summed = 0.0
        elif len(self.layers) == 1:  # a generalised linear model: ∂ℓ/∂z in closed form, no autograd
            with torch.no_grad():
                z = self.layers[0](xb)
                if self.loss == "binary":
                    summed = float(F.binary_cross_entropy_with_logits(z.reshape(-1), yb, reduction="sum"))
                    g = torch.sigmoid(z).sub_(yb.unsqueeze(1))  # ∂/∂z of log(1 + e^z) − y·z
                else:
                    labels = yb.long()
                    summed = float(F.cross_entropy(z, labels, reduction="sum"))
                    g = torch.softmax(z, 1).sub_(F.one_hot(labels, z.shape[1]))
                self._clipped_sum([xb], (g,))
        else:
            inputs, outputs = [], []
            h = xb
            for layer in self.layers:
                if isinstance(layer, torch.nn.Linear):
                    inputs.append(h)
                    h = layer(h)
                    outputs.append(h)
                else:
                    h = layer(h)
            if self.loss == "binary":
                total = F.binary_cross_entropy_with_logits(h.reshape(-1), yb, reduction="sum")
            else:
                total = F.cross_entropy(h, yb.long(), reduction="sum")
            grads = torch.autograd.grad(total, outputs)
            with torch.no_grad():
                self._clipped_sum([a.detach() for a in inputs], grads)
            summed = float(total.detach())
        if self.noise_std > 0:
            torch.randn(self._flat.shape, generator=self.generator, out=self._noise)
            self._flat.add_(self._noise, alpha=self.noise_std)
        self._flat.div_(self.expected_batch_size)
        self._bind_grads()
        return self._flat, summed

    def _clipped_sum(self, inputs: list[Any], grads: tuple[Any, ...]) -> None:
        """Σ_i c_i·∇ℓ_i into the flat buffer, from each Linear layer's inputs and output gradients."""
        import torch

        sq = None
        for m, a, g in zip(self.linears, inputs, grads, strict=True):
            part = g.square().sum(1).mul_(a.square().sum(1).add_(1.0 if m.bias is not None else 0.0))
            sq = part if sq is None else sq.add_(part)
        assert sq is not None
        clip = sq.sqrt_().add_(_CLIP_EPS).reciprocal_().mul_(self.max_grad_norm).clamp_(max=1.0).unsqueeze_(1)
        for (w, b), a, g in zip(self._views, inputs, grads, strict=True):
            gc = g * clip
            torch.mm(gc.t(), a, out=w)
            if b is not None:
                torch.sum(gc, 0, out=b)

    def step(self, xb: Any, yb: Any) -> float:
        """One DP-SGD step on the Poisson batch ``xb``/``yb``; returns the batch's summed loss."""
        _, summed = self.noisy_gradient(xb, yb)
        self.optimizer.step()
        return summed


def expected_batch_size(n: int, sample_rate: float) -> int:
    """Opacus' expected batch size, ``int(n·q)`` (``PrivacyEngine.make_private``), at least 1."""
    return max(1, int(n * sample_rate))


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch, ``⌈n / batch_size⌉`` (so q = 1 / that, as Opacus' ``DPDataLoader``)."""
    return math.ceil(n / batch_size)
