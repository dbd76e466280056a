r"""Part 2's analysis: forward vs reverse KL fits of one Gaussian to a mixture.

Minimizing the forward :math:`\mathrm{KL}(p\|q)` over Gaussians q is *mode covering*: its
optimum matches the mixture's mean and (co)variance exactly (moment matching). Minimizing the
reverse :math:`\mathrm{KL}(q\|p)` — the direction the ELBO uses — is *mode seeking*: q settles
on one component. Both fits here use gradient descent on Monte Carlo estimates
(reparameterized samples for the reverse direction), so the closed-form optimum of the
forward fit is an independent check of the optimizer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..densities import F64, gaussian_log_prob
from ..estimators import MonteCarloEstimate
from ..kl import gaussian_kl, monte_carlo_kl
from ..mixture import GaussianMixture
from ..variational import fit_diagonal_gaussian, forward_kl_loss, reverse_kl_loss

DIRECTIONS = ("forward", "reverse")


def bimodal_1d() -> GaussianMixture:
    """The lab's bimodal target: 0.5 N(−2, 0.6²) + 0.5 N(2.5, 0.8²)."""
    return GaussianMixture(torch.tensor([0.5, 0.5], dtype=F64),
                           torch.tensor([[-2.0], [2.5]], dtype=F64),
                           torch.tensor([[0.6], [0.8]], dtype=F64))


def bimodal_2d() -> GaussianMixture:
    """A 2-D target with two well-separated modes of unequal weight."""
    return GaussianMixture(torch.tensor([0.6, 0.4], dtype=F64),
                           torch.tensor([[-2.0, -1.0], [2.0, 1.5]], dtype=F64),
                           torch.tensor([[0.7, 0.5], [0.5, 0.8]], dtype=F64))


@dataclass
class GaussianFit:
    """A diagonal Gaussian q = N(mean, diag std²) fitted by ``direction``; ``losses`` is the
    per-step Monte Carlo objective (nats: KL(p‖q) up to the entropy of p for the forward fit,
    KL(q‖p) up to a constant for the reverse fit; :mod:`elbolab.variational`)."""

    direction: str
    mean: torch.Tensor
    std: torch.Tensor
    losses: list[float] = field(default_factory=list)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(x, self.mean, 2 * self.std.log(), validate=False).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(n, self.mean.shape[0], generator=generator, dtype=self.mean.dtype)
        return self.mean + self.std * eps


def fit_gaussian(
    target: GaussianMixture,
    direction: str,
    *,
    steps: int = 1500,
    n_samples: int = 512,
    lr: float = 0.05,
    init_mean: torch.Tensor | None = None,
    init_std: float = 0.5,
    generator: torch.Generator | None = None,
) -> GaussianFit:
    r"""Fit q = N(m, diag s²) to ``target`` by Adam on a Monte Carlo KL.

    - ``forward``: minimize :math:`-\mathbb E_{x\sim p}[\log q(x)]` (= KL(p‖q) − H(p)) with fresh
      draws from p each step; the optimum is moment matching.
    - ``reverse``: minimize :math:`\mathbb E_{z\sim q}[\log q(z) - \log p(z)]` (up to a
      constant: the entropy of q is exact) with reparameterized draws z = m + s·ε; it locks
      onto a mode near ``init_mean``. The reverse KL has several local optima: started wide
      (``init_std`` ≳ 1) between the lab's two modes it can also settle on a broad Gaussian
      straddling both, hence the narrow default start.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    d = target.dim
    mean = torch.zeros(d, dtype=F64) if init_mean is None else init_mean.detach().to(F64)
    log_std = torch.full((d,), math.log(init_std), dtype=F64)
    if direction == "forward":
        loss = forward_kl_loss(lambda n: target.sample(n, generator), n_samples)
    else:
        loss = reverse_kl_loss(target.log_prob, n_samples, generator=generator)
    fit = fit_diagonal_gaussian(loss, mean, log_std, steps=steps, lr=lr, final_lr=lr * 0.02)
    return GaussianFit(direction, fit.mean, fit.std, fit.losses)


def kl_both_ways(
    target: GaussianMixture,
    fit: GaussianFit,
    n_samples: int = 200_000,
    generator: torch.Generator | None = None,
) -> tuple[MonteCarloEstimate, MonteCarloEstimate]:
    """Monte Carlo KL(p‖q) and KL(q‖p) (with standard errors) between the mixture and a fit."""
    forward = monte_carlo_kl(target.sample(n_samples, generator), target.log_prob, fit.log_prob)
    reverse = monte_carlo_kl(fit.sample(n_samples, generator), fit.log_prob, target.log_prob)
    return forward, reverse


def asymmetry_grid(
    delta_mu: np.ndarray, sigma_ratio: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """KL(p‖q) and KL(q‖p) for p = N(0, 1), q = N(Δμ, r²) on the grid (len(r), len(Δμ)),
    from the closed form :func:`elbolab.kl.gaussian_kl`."""
    dm = torch.as_tensor(np.asarray(delta_mu), dtype=F64)[None, :]
    lv = 2 * torch.log(torch.as_tensor(np.asarray(sigma_ratio), dtype=F64))[:, None]
    zero = torch.zeros((), dtype=F64)
    forward = gaussian_kl(zero, zero, dm, lv)
    reverse = gaussian_kl(dm, lv, zero, zero)
    return forward.numpy(), reverse.numpy()


__all__ = ["DIRECTIONS", "GaussianFit", "asymmetry_grid", "bimodal_1d", "bimodal_2d",
           "fit_gaussian", "kl_both_ways"]
