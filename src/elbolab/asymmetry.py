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

from .checks import check_count, check_float_tensor, check_positive
from .densities import gaussian_log_prob
from .estimators import MonteCarloEstimate
from .kl import gaussian_kl, monte_carlo_kl

F64 = torch.float64
DIRECTIONS = ("forward", "reverse")


@dataclass(frozen=True)
class GaussianMixture:
    """p(x) = Σ_k π_k N(x; μ_k, diag σ_k²): ``weights`` (K,), ``means`` and ``stds`` (K, d)."""

    weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def __post_init__(self) -> None:
        check_positive("weights", self.weights)
        check_float_tensor("means", self.means)
        check_positive("stds", self.stds)
        if self.means.dim() != 2 or self.means.shape != self.stds.shape or (
            self.weights.shape != self.means.shape[:1]
        ):
            raise ValueError("means and stds must be (K, d) and weights (K,)")
        if abs(float(self.weights.sum()) - 1) > 1e-6:
            raise ValueError(f"weights must sum to 1, got {float(self.weights.sum()):.6g}")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) for x (…, d) → (…,), by logsumexp over components."""
        comp = gaussian_log_prob(x.unsqueeze(-2), self.means, 2 * self.stds.log(),
                                 validate=False).sum(-1)
        return torch.logsumexp(comp + self.weights.log(), dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, d) draws: a component by its weight, then its Gaussian."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        return self.means[k] + self.stds[k] * eps

    def mean(self) -> torch.Tensor:
        """E[x] = Σ π_k μ_k, shape (d,)."""
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """Cov[x] = Σ π_k (diag σ_k² + μ_k μ_kᵀ) − E[x]E[x]ᵀ, shape (d, d)."""
        second = torch.einsum("k,ki,kj->ij", self.weights, self.means, self.means)
        second = second + torch.diag(self.weights @ self.stds**2)
        m = self.mean()
        return second - torch.outer(m, m)


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
    per-step Monte Carlo objective (nats, up to the entropy of p for the forward fit)."""

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
    - ``reverse``: minimize :math:`\mathbb E_{z\sim q}[\log q(z) - \log p(z)]` with
      reparameterized draws z = m + s·ε; it locks onto a mode near ``init_mean``. The reverse
      KL has several local optima: started wide (``init_std`` ≳ 1) between the lab's two modes
      it can also settle on a broad Gaussian straddling both, hence the narrow default start.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    check_count("steps", steps)
    check_count("n_samples", n_samples)
    d = target.dim
    mean = (torch.zeros(d, dtype=F64) if init_mean is None
            else init_mean.detach().to(F64).clone()).requires_grad_()
    log_std = torch.full((d,), math.log(init_std), dtype=F64, requires_grad=True)
    opt = torch.optim.Adam([mean, log_std], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.02)
    losses = []
    for _ in range(steps):
        if direction == "forward":
            x = target.sample(n_samples, generator)
            loss = -gaussian_log_prob(x, mean, 2 * log_std, validate=False).sum(-1).mean()
        else:
            eps = torch.randn(n_samples, d, generator=generator, dtype=F64)
            z = mean + log_std.exp() * eps
            log_q = gaussian_log_prob(z, mean, 2 * log_std, validate=False).sum(-1)
            loss = (log_q - target.log_prob(z)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return GaussianFit(direction, mean.detach(), log_std.detach().exp(), losses)


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
