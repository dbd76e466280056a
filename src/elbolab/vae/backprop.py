r"""The MLP VAE's backward pass written out: explicit gradients of the β-weighted negative ELBO.

For the lab's MLP encoder/decoder (:mod:`elbolab.vae.models`, ReLU or tanh layers) this computes
the loss of one minibatch and writes every parameter's gradient into ``.grad`` in a single
pass, without building an autograd graph. It is the chain rule plus the four derivatives the
lab derives (per example, loss ℓ = −log p(x|z) + β·KL, averaged over the batch of size B):

.. math::
    \frac{\partial(-\log p(x|z))}{\partial \text{logits}} = \sigma(\text{logits}) - x
    \quad\text{(Bernoulli)},\qquad
    \frac{\partial(-\log\mathcal N(x;m,e^{v}))}{\partial m} = -(x-m)e^{-v},\;
    \frac{\partial}{\partial v} = \tfrac12\big(1-(x-m)^2e^{-v}\big)

.. math::
    z = \mu + e^{\frac12\log\sigma^2}\varepsilon \;\Rightarrow\;
    \frac{\partial z}{\partial\mu} = 1,\;
    \frac{\partial z}{\partial\log\sigma^2} = \tfrac12\sigma\varepsilon
    \quad\text{(reparameterization, Kingma & Welling 2014, Sec. 2.4)}

.. math::
    \frac{\partial\,\mathrm{KL}}{\partial\mu} = \mu,\qquad
    \frac{\partial\,\mathrm{KL}}{\partial\log\sigma^2} = \tfrac12\big(e^{\log\sigma^2}-1\big)
    \quad\text{(KL to } \mathcal N(0,I)\text{, Kingma & Welling 2014, App. B)}

The trainer uses it on the CPU, where autograd's per-node bookkeeping is a measurable part of
a step of this small model (``benchmarks/bench_training.py``); ``tests/vae/test_backprop.py``
checks every gradient against autograd in float64. The noise ε is drawn exactly as
:func:`elbolab.elbo.reparameterize` draws it, so both paths follow the same trajectory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..elbo import ELBOFramework, bernoulli_log_likelihood, gaussian_log_likelihood
from ..kl import standard_normal_kl_per_dim
from .models import MLPDecoder, MLPEncoder, StackedMLPVAE

# activation → g·f'(pre-activation) written with the activation's *output* a, using the same
# single kernels autograd calls: ReLU: g·[a > 0]; tanh: g·(1 − a²)
_BACKWARD_FROM_OUTPUT = {
    nn.ReLU: lambda g, a: torch.ops.aten.threshold_backward(g, a, 0.0),
    nn.Tanh: lambda g, a: torch.ops.aten.tanh_backward(g, a),
}


def _linear_layers(body: nn.Sequential) -> list[tuple[nn.Linear, type]] | None:
    mods = list(body)
    if len(mods) % 2:
        return None
    pairs = list(zip(mods[0::2], mods[1::2], strict=True))
    if not all(hasattr(lin, "weight") and hasattr(lin, "bias")
               and type(act) in _BACKWARD_FROM_OUTPUT for lin, act in pairs):
        return None
    return [(lin, type(act)) for lin, act in pairs]


def supports(model: nn.Module) -> bool:
    """Whether :func:`elbo_gradients` can handle ``model``: an :class:`ELBOFramework` with the
    lab's :class:`MLPEncoder`/:class:`MLPDecoder` and ReLU or tanh hidden layers."""
    return (isinstance(model, ELBOFramework) and type(model.encoder) is MLPEncoder
            and type(model.decoder) is MLPDecoder
            and model.decoder.likelihood == model.likelihood
            and _linear_layers(model.encoder.body) is not None
            and _linear_layers(model.decoder.body) is not None)


def _grad_buffer(p: nn.Parameter) -> torch.Tensor:
    if p.grad is None:
        p.grad = torch.zeros_like(p)
    return p.grad


class _Products:
    """A linear layer's three matrix products — forward h·Wᵀ + b, input gradient g·W, weight
    gradient gᵀ·h — in float32, or with operands cast to ``dtype`` (bfloat16: float32
    accumulation, results cast back to float32; each weight is cast once per call)."""

    def __init__(self, dtype: torch.dtype | None):
        self.dtype = dtype
        # every tensor (weight, activation, gradient) is cast once: id → (tensor, cast)
        self._casts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _c(self, t: torch.Tensor) -> torch.Tensor:
        hit = self._casts.get(id(t))
        if hit is None:
            hit = self._casts[id(t)] = (t, t.to(self.dtype))  # keeps t alive: ids stay unique
        return hit[1]

    def forward(self, lin: nn.Module, h: torch.Tensor) -> torch.Tensor:
        w, b = lin.weight, lin.bias
        if self.dtype is not None:
            w, b, h = self._c(w), self._c(b), self._c(h)
        if w.dim() == 2:
            out = torch.addmm(b, h, w.T)
        else:  # stacked models: (K, out, in) weights, h (B, in) shared or (K, B, in)
            out = torch.baddbmm(b.unsqueeze(-2), h.expand(w.shape[0], *h.shape[-2:]),
                                w.transpose(-1, -2))
        return out if self.dtype is None else out.float()

    def input_grad(self, lin: nn.Module, g: torch.Tensor) -> torch.Tensor:
        w = lin.weight if self.dtype is None else self._c(lin.weight)
        g = g if self.dtype is None else self._c(g)
        out = torch.mm(g, w) if w.dim() == 2 else torch.bmm(g, w)
        return out if self.dtype is None else out.float()

    def weight_grad(self, lin: nn.Module, g: torch.Tensor, inp: torch.Tensor) -> None:
        """∂/∂W = gᵀ·inp and ∂/∂b = Σ_batch g, written into the layer's ``.grad``."""
        w = lin.weight
        gc, ic = (g, inp) if self.dtype is None else (self._c(g), self._c(inp))
        if w.dim() == 2:
            prod = torch.mm(gc.T, ic, out=None if self.dtype else _grad_buffer(w))
        else:
            ic = ic.expand(w.shape[0], *ic.shape[-2:])
            prod = torch.bmm(gc.transpose(-1, -2), ic, out=None if self.dtype else _grad_buffer(w))
        if self.dtype is not None:
            _grad_buffer(w).copy_(prod)
        torch.sum(g, -2, out=_grad_buffer(lin.bias))

    def body_forward(self, layers, h: torch.Tensor) -> list[torch.Tensor]:
        """Activations of each hidden layer (the input first)."""
        acts = [h]
        for lin, act in layers:
            h = self.forward(lin, h)
            h = h.relu_() if act is nn.ReLU else h.tanh_()
            acts.append(h)
        return acts

    def body_backward(self, layers, acts: list[torch.Tensor], g: torch.Tensor,
                      need_input: bool) -> torch.Tensor:
        """Backpropagate g (gradient w.r.t. the body's output) through the hidden layers."""
        for i in range(len(layers) - 1, -1, -1):
            lin, act = layers[i]
            g = _BACKWARD_FROM_OUTPUT[act](g, acts[i + 1])
            self.weight_grad(lin, g, acts[i])
            if i > 0 or need_input:
                g = self.input_grad(lin, g)
        return g


def _gradients(enc: nn.Module, dec: nn.Module, likelihood: str, x: torch.Tensor,
               kl_weight: float | torch.Tensor, generator: torch.Generator | None,
               eps: torch.Tensor | None, compute_dtype: torch.dtype | None,
               reconstruction: bool = True):
    """The shared forward/backward of one model or of K stacked models (weights with a leading
    K). Returns batch sums: reconstruction (…,) — ``None`` when not ``reconstruction``: its
    value is not needed for the gradient — and KL per latent dimension (…, L)."""
    enc_layers, dec_layers = _linear_layers(enc.body), _linear_layers(dec.body)
    scale = 1.0 / x.shape[-2]  # the loss is a batch mean
    mm = _Products(compute_dtype)
    # kl_weight may depend on this batch's KL (free bits, capacity): resolved after the forward

    # forward
    enc_acts = mm.body_forward(enc_layers, x)
    e = mm.forward(enc.head, enc_acts[-1])
    mu, logvar = e.chunk(2, dim=-1)
    if eps is None:  # (B, L): stacked models share the draw, as K runs with one seed would
        eps = torch.randn(mu.shape[-2:], generator=generator, dtype=mu.dtype, device=mu.device)
    std = torch.exp(0.5 * logvar)
    z = torch.addcmul(mu, std, eps)
    dec_acts = mm.body_forward(dec_layers, z)
    out = mm.forward(dec.head, dec_acts[-1])
    if likelihood == "bernoulli":
        rec = bernoulli_log_likelihood(x, out, validate=False) if reconstruction else None
        g_out = torch.sigmoid(out).sub_(x).mul_(scale)
    else:
        x_logvar = dec.x_logvar
        lv = x_logvar.unsqueeze(-2) if x_logvar.dim() == 2 else x_logvar
        rec = gaussian_log_likelihood(x, out, lv, validate=False) if reconstruction else None
        inv_var_diff = (out - x).mul_(torch.exp(-lv))  # (m − x)/σ²
        g_out = inv_var_diff * scale
        # ∂/∂v Σ_b ½(1 − (x−m)²/σ²)·scale = ½·scale·Σ_b (1 − (m−x)·(m−x)/σ²)
        torch.sum(torch.addcmul(torch.ones_like(out), inv_var_diff, out - x, value=-1.0), -2,
                  out=_grad_buffer(x_logvar)).mul_(0.5 * scale)
    kl_dims = standard_normal_kl_per_dim(mu, logvar, validate=False).sum(-2)
    if callable(kl_weight):
        kl_weight = kl_weight(kl_dims * scale)

    # backward: decoder head and body, then the reparameterization and the KL
    mm.weight_grad(dec.head, g_out, dec_acts[-1])
    g_z = mm.body_backward(dec_layers, dec_acts, mm.input_grad(dec.head, g_out), True)
    g_e = torch.empty_like(e)
    g_mu, g_logvar = g_e.chunk(2, dim=-1)
    kl_grad = torch.square(std).sub_(1.0)  # ∂KL/∂logvar = ½(σ² − 1)
    # a float β becomes a 0-d CPU tensor, which broadcasts on any device like a scalar
    w = torch.as_tensor(kl_weight, dtype=mu.dtype) * scale
    torch.addcmul(g_z, w, mu, out=g_mu)
    torch.mul(g_z.mul_(eps), std, out=g_logvar).mul_(0.5)
    g_logvar.addcmul_(kl_grad, w, value=0.5)
    mm.weight_grad(enc.head, g_e, enc_acts[-1])
    mm.body_backward(enc_layers, enc_acts, mm.input_grad(enc.head, g_e), False)
    return (rec.sum(-1) if rec is not None else None), kl_dims


@torch.no_grad()
def elbo_gradients(
    model: ELBOFramework,
    x: torch.Tensor,
    *,
    beta: float = 1.0,
    generator: torch.Generator | None = None,
    eps: torch.Tensor | None = None,
    compute_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Gradients of :math:`\frac1B\sum_b[-\log p(x_b|z_b) + \beta\,\mathrm{KL}_b]` written into
    every parameter's ``.grad`` (overwriting it), for a one-sample reparameterized ELBO.

    ``x``: (B, D) data; ``eps``: optional (B, latent) noise, otherwise drawn from
    ``generator``. ``compute_dtype=torch.bfloat16`` runs the matrix products in bfloat16
    (mixed precision: parameters, elementwise math and gradients stay float32; about twice
    the matmul rate on CPUs with AVX512-BF16). Returns batch **sums** (loss, reconstruction
    log-likelihood, KL), 0-d tensors in nats, without a host sync. Raises ``TypeError`` for a
    model :func:`supports` rejects.
    """
    if not supports(model):
        raise TypeError("elbo_gradients needs an ELBOFramework with the lab's MLPEncoder/"
                        "MLPDecoder and ReLU/tanh layers; use autograd for other models")
    rec, kl_dims = _gradients(model.encoder, model.decoder, model.likelihood, x.flatten(1),
                              beta, generator, eps, compute_dtype)
    kl = kl_dims.sum(-1)
    return (beta * kl - rec).reshape(()), rec, kl


@torch.no_grad()
def elbo_gradients_per_dim(
    model: nn.Module,
    x: torch.Tensor,
    kl_weight: float | torch.Tensor | Callable[[torch.Tensor], torch.Tensor],
    *,
    generator: torch.Generator | None = None,
    eps: torch.Tensor | None = None,
    compute_dtype: torch.dtype | None = None,
    reconstruction: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor]:
    r""":func:`elbo_gradients` with a weight per latent dimension, for one model or for K at once
    (a :class:`~elbolab.vae.models.StackedMLPVAE`, weights stacked along a leading K; every model
    sees the same batch ``x`` (B, D) and the same noise ε (B, L)). Model k minimizes
    :math:`\frac1B\sum_b[-\log p_k(x_b|z_b) + \sum_j w_{kj}\mathrm{KL}_{kbj}]`; ``kl_weight``
    w broadcasts to (K, 1, L) (or (1, L) for one model): β, or a callable that maps this batch's
    mean KL per dimension (…, L) to the weights (free bits, capacity; treated as constants in
    the gradient). Returns batch sums: reconstruction (…,) and KL per dimension (…, L), nats;
    ``reconstruction=False`` skips the reconstruction's value (returned as ``None``)."""
    if not (supports(model) or isinstance(model, StackedMLPVAE)):
        raise TypeError("elbo_gradients_per_dim needs an MLP ELBOFramework or a StackedMLPVAE")
    return _gradients(model.encoder, model.decoder, model.likelihood, x.flatten(1), kl_weight,
                      generator, eps, compute_dtype, reconstruction)


__all__ = ["elbo_gradients", "elbo_gradients_per_dim", "supports"]
