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

from .checks import check_count, check_float_tensor, should_validate
from .posterior import STANDARD_NORMAL, DiagonalGaussian

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
                               generator: torch.Generator | None = None,
                               validate: bool | None = None
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u, w, b) of ``layers`` planar layers that are the identity map (û = 0) for each of
    ``batch`` examples, with random directions w ~ N(0, I/latent) to move away from."""
    if should_validate(validate):
        check_count("batch", batch)
        check_count("latent", latent)
        check_count("layers", layers)
    w = torch.randn(batch, layers, latent, generator=generator, dtype=dtype,
                    device=device) / math.sqrt(latent)
    u = IDENTITY_SHIFT * w / (w * w).sum(-1, keepdim=True)
    return u, w, torch.zeros(batch, layers, dtype=dtype, device=device)


class PlanarFlowPosterior:
    r"""q_K: the diagonal Gaussian :math:`q_0 = \mathcal N(\mu, \operatorname{diag}
    e^{\text{logvar}})` (``base``, a :class:`~elbolab.posterior.DiagonalGaussian`) pushed
    through the K planar layers (u, w, b) of each example:

    .. math:: z_0\sim q_0,\quad z_K = \text{flow}(z_0),\quad
              \log q_K(z_K) = \log q_0(z_0) - \textstyle\sum_k\log|\det J_k|

    ``mu``, ``logvar`` (B, L); u, w (B, K, L), b (B, K); checked once, here. A posterior of
    the latent-variable-model interface (:mod:`elbolab.posterior`): its draws and their
    log-density come from :meth:`rsample_with_log_prob`, differentiable in every parameter.
    A planar flow has no closed-form inverse, so there is no ``log_prob`` of an arbitrary z."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, u: torch.Tensor,
                 w: torch.Tensor, b: torch.Tensor, *, validate: bool | None = None) -> None:
        self.base = DiagonalGaussian(mu, logvar, validate=validate)
        if should_validate(validate):
            for name, value in (("u", u), ("w", w), ("b", b)):
                check_float_tensor(name, value)
        self.u, self.w, self.b = u, w, b

    @property
    def latent(self) -> int:
        return self.base.latent

    @property
    def dtype(self) -> torch.dtype:
        return self.base.dtype

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None, *,
                              eps: torch.Tensor | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` draws z_K (n, B, L) and log q_K(z_K) (n, B), nats; ``eps`` (n, B, L) gives
        the base Gaussian's noise instead of ``generator``."""
        z0, log_q0 = self.base.rsample_with_log_prob(n, generator, eps=eps)
        zk, log_det = planar_flow(z0, self.u, self.w, self.b)
        return zk, log_q0 - log_det


def flow_elbo(log_likelihood: Callable[[torch.Tensor], torch.Tensor], mu: torch.Tensor,
              logvar: torch.Tensor, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor, *,
              samples: int = 1, generator: torch.Generator | None = None,
              eps: torch.Tensor | None = None, validate: bool | None = None) -> torch.Tensor:
    r"""Per-example ELBO of the flow posterior (:class:`PlanarFlowPosterior`), a
    ``samples``-draw Monte Carlo estimate, differentiable in every argument: the mean over
    draws of :math:`\log p(x\mid z_K) + \log p(z_K) - \log q_K(z_K)`, p(z) = N(0, I).

    ``log_likelihood(z)``: (S, B, L) → (S, B). ``mu``, ``logvar``: (B, L); ``eps`` (S, B, L)
    gives the noise of S draws instead of ``samples`` draws from ``generator``. Shape (B,),
    nats."""
    if should_validate(validate):
        check_count("samples", samples)
    q = PlanarFlowPosterior(mu, logvar, u, w, b, validate=validate)
    n = samples if eps is None or eps.dim() == 0 else len(eps)  # eps (S, B, L) sets S
    zk, log_q = q.rsample_with_log_prob(n, generator, eps=eps)
    return (log_likelihood(zk) + STANDARD_NORMAL.log_prob(zk) - log_q).mean(0)


__all__ = ["IDENTITY_SHIFT", "PlanarFlowPosterior", "flow_elbo", "identity_planar_parameters",
           "planar_flow"]
