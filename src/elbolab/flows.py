r"""Planar normalizing flows (Rezende & Mohamed 2015, Sec. 4.1 and App. A.1): a Gaussian pushed
through K invertible maps, a richer q(z|x) whose density stays exact by the change of variables

.. math:: z_k = z_{k-1} + \hat u_k\,\tanh(w_k^\top z_{k-1} + b_k),\qquad
          \log q_K(z_K) = \log q_0(z_0) - \sum_{k=1}^K
          \log\bigl|1 + \hat u_k^\top \psi_k(z_{k-1})\bigr|,\quad
          \psi_k(z) = \bigl(1 - \tanh^2(w_k^\top z + b_k)\bigr)\,w_k

with :math:`\hat u = u + [m(w^\top u) - w^\top u]\,w/\lVert w\rVert^2`, :math:`m(a) = -1 +
\log(1 + e^a)`, which keeps :math:`w^\top\hat u \ge -1` and so every map invertible (App. A.1).

Written here rather than taken from a flow library: a planar layer is six lines, its
parameters are per example (what the lab optimizes for each image, batched), and
:func:`identity_planar_parameters` starts it at the identity, where it reproduces the Gaussian
exactly. Shapes: z (*S, B, L); parameters u, w (B, K, L), b (B, K). Units: nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .checks import check_count, check_float_tensor

#: softplus(IDENTITY_SHIFT) = 1, i.e. m(IDENTITY_SHIFT) = 0: u = IDENTITY_SHIFT·w/‖w‖² gives û = 0
IDENTITY_SHIFT = math.log(math.e - 1)


def _u_hat(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    wu = (w * u).sum(-1, keepdim=True)
    return u + (F.softplus(wu) - 1 - wu) * w / (w * w).sum(-1, keepdim=True)


def planar_flow(z: torch.Tensor, u: torch.Tensor, w: torch.Tensor,
                b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Push z (*S, B, L) through the K planar layers; returns (z_K, Σ_k log|det ∂z_k/∂z_{k−1}|)
    of shapes (*S, B, L) and (*S, B). See the module for the equations."""
    log_det = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
    for k in range(u.shape[-2]):
        wk, uk = w[..., k, :], _u_hat(u[..., k, :], w[..., k, :])
        h = torch.tanh((z * wk).sum(-1) + b[..., k])  # (*S, B)
        z = z + uk * h.unsqueeze(-1)
        # 1 + ûᵀψ = 1 + (1 − h²)·wᵀû, and wᵀû >= −1: positive up to rounding
        log_det = log_det + torch.log(torch.abs(1 + (1 - h * h) * (wk * uk).sum(-1)))
    return z, log_det


def identity_planar_parameters(batch: int, latent: int, layers: int, *,
                               dtype: torch.dtype = torch.float32, device=None,
                               generator: torch.Generator | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u, w, b) of ``layers`` planar layers that are the identity map (û = 0) for each of
    ``batch`` examples, with random directions w ~ N(0, I/latent) to move away from."""
    check_count("batch", batch)
    check_count("latent", latent)
    check_count("layers", layers)
    w = torch.randn(batch, layers, latent, generator=generator, dtype=dtype,
                    device=device) / math.sqrt(latent)
    u = IDENTITY_SHIFT * w / (w * w).sum(-1, keepdim=True)
    return u, w, torch.zeros(batch, layers, dtype=dtype, device=device)


def planar_posterior_sample(mu: torch.Tensor, logvar: torch.Tensor, u: torch.Tensor,
                            w: torch.Tensor, b: torch.Tensor, shape: tuple[int, ...] = (), *,
                            generator: torch.Generator | None = None,
                            eps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draws z_K of the flow posterior and their log prior ratio, differentiable in every
    argument:

    .. math:: z_0 = \mu + \sigma\odot\varepsilon,\quad z_K = \text{flow}(z_0),\quad
              \log p(z_K) - \log q_K(z_K) = \log\mathcal N(z_K; 0, I) - \log q_0(z_0)
              + \textstyle\sum_k\log|\det J_k|

    ``mu``, ``logvar`` (B, L); ε of shape (*shape, B, L) from ``generator`` (or ``eps``).
    Returns z_K (*shape, B, L) and the log ratio (*shape, B), nats: the ELBO of a draw is
    log p(x|z_K) plus it."""
    if eps is None:
        eps = torch.randn((*shape, *mu.shape), generator=generator, dtype=mu.dtype,
                          device=mu.device)
    log_q0 = -0.5 * (eps * eps + logvar + math.log(2 * math.pi)).sum(-1)
    zk, log_det = planar_flow(mu + torch.exp(0.5 * logvar) * eps, u, w, b)
    log_prior = -0.5 * (zk * zk + math.log(2 * math.pi)).sum(-1)
    return zk, log_prior - log_q0 + log_det


def flow_elbo(log_likelihood: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor,
              logvar: torch.Tensor, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *,
              samples: int = 1, generator: torch.Generator | None = None,
              eps: torch.Tensor | None = None) -> torch.Tensor:
    r"""Per-example ELBO of the flow posterior, a ``samples``-draw Monte Carlo estimate,
    differentiable in every argument: the mean over draws of :math:`\log p(x\mid z_K)` plus
    the log prior ratio of :func:`planar_posterior_sample`.

    ``log_likelihood(z)``: (S, B, L) → (S, B). ``mu``, ``logvar``: (B, L). Shape (B,), nats."""
    check_count("samples", samples)
    check_float_tensor("mu", mu)
    check_float_tensor("logvar", logvar)
    zk, log_ratio = planar_posterior_sample(mu, logvar, u, w, b, (samples,),
                                            generator=generator, eps=eps)
    return (log_likelihood(zk) + log_ratio).mean(0)


__all__ = ["IDENTITY_SHIFT", "flow_elbo", "identity_planar_parameters", "planar_flow",
           "planar_posterior_sample"]
