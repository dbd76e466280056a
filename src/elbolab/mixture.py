r"""Finite mixtures of diagonal Gaussians: an exact log-density (logsumexp over components),
samples, and the first two moments. The target of Part 2's fits and the data of the DDPM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .checks import MAX_DRAWS, check_count, check_float_tensor, check_generator, check_positive
from .densities import gaussian_log_prob


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
        check_float_tensor("x", x)
        if x.dim() == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"x must be (..., {self.dim}) for this {self.dim}-D mixture, got "
                             f"shape {tuple(x.shape)}")
        comp = gaussian_log_prob(x.unsqueeze(-2), self.means, 2 * self.stds.log(),
                                 validate=False).sum(-1)
        return torch.logsumexp(comp + self.weights.log(), dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, d) draws: a component by its weight, then its Gaussian."""
        check_count("n", n, maximum=MAX_DRAWS)
        check_generator("generator", generator)
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


__all__ = ["GaussianMixture"]
