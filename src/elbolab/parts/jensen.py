r"""Part 3: Jensen's inequality and the ELBO gap.

For the concave log, :math:`\mathbb E[\log X] \le \log\mathbb E[X]`, with equality iff X is
constant. Applied to :math:`X = p(x, z)/q(z)` with :math:`z\sim q` it gives the ELBO, and the
gap is exactly a KL divergence:

.. math:: \log p(x) - \mathrm{ELBO}(q) = \mathrm{KL}\big(q(z)\,\|\,p(z\mid x)\big).

:class:`JensenInequalityDemo` measures the gap for positive random variables whose two sides
are known in closed form, and verifies the identity in the linear-Gaussian model of
:mod:`elbolab.parts.latent_models` (a ``LinearGaussianModel``, or the
``IntractableLikelihoodDemo`` wrapping one), where both sides are exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..checks import check_count
from ..densities import F64, log_mean_exp
from ..estimators import MonteCarloEstimate, monte_carlo_mean
from ..kl import mvn_kl
from .latent_models import GaussianProposal, LinearGaussianModel


@dataclass(frozen=True)
class PositiveVariable:
    r"""A positive random variable X with :math:`\mathbb E[\log X]` and :math:`\log\mathbb E[X]`
    in closed form; ``sample(n, generator)`` draws (n,) float64 values."""

    name: str
    sample: Callable[[int, torch.Generator | None], torch.Tensor]
    e_log: float
    log_e: float

    @property
    def gap(self) -> float:
        """log E[X] − E[log X] ≥ 0 (the Jensen gap), exact."""
        return self.log_e - self.e_log


def lognormal(mu: float = 0.0, sigma: float = 1.0) -> PositiveVariable:
    """X = e^Y, Y ~ N(μ, σ²): E[log X] = μ, log E[X] = μ + σ²/2, gap σ²/2."""
    return PositiveVariable(
        f"LogNormal(μ={mu:g}, σ={sigma:g})",
        lambda n, g: torch.exp(mu + sigma * torch.randn(n, generator=g, dtype=F64)),
        mu, mu + sigma**2 / 2)


def gamma(shape: float = 2.0, scale: float = 1.0) -> PositiveVariable:
    """X ~ Gamma(k, θ): E[log X] = ψ(k) + log θ, log E[X] = log kθ, gap log k − ψ(k)."""
    from scipy import special  # here, not at import: scipy costs a command line ~0.3 s

    def sample(n: int, g: torch.Generator | None) -> torch.Tensor:
        # Marsaglia–Tsang needs a generator-aware sampler; torch's Gamma takes none, so draw
        # through the inverse CDF of uniforms from the generator.
        u = torch.rand(n, generator=g, dtype=F64).clamp(1e-300, 1 - 1e-16)
        return torch.from_numpy(special.gammaincinv(shape, u.numpy())) * scale

    return PositiveVariable(f"Gamma(k={shape:g}, θ={scale:g})", sample,
                            float(special.digamma(shape)) + math.log(scale),
                            math.log(shape * scale))


def uniform(a: float = 0.5, b: float = 3.0) -> PositiveVariable:
    """X ~ U(a, b), 0 < a < b: E[log X] = (b log b − a log a)/(b − a) − 1,
    log E[X] = log((a + b)/2)."""
    return PositiveVariable(
        f"Uniform({a:g}, {b:g})",
        lambda n, g: a + (b - a) * torch.rand(n, generator=g, dtype=F64),
        (b * math.log(b) - a * math.log(a)) / (b - a) - 1, math.log((a + b) / 2))


def two_point(a: float = 0.5, b: float = 4.0, p: float = 0.5) -> PositiveVariable:
    """X = a with probability p, else b: the chord of the picture, exactly."""
    return PositiveVariable(
        f"two-point {{{a:g}, {b:g}}}",
        lambda n, g: torch.where(torch.rand(n, generator=g, dtype=F64) < p,
                                 torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64)),
        p * math.log(a) + (1 - p) * math.log(b), math.log(p * a + (1 - p) * b))


@dataclass(frozen=True)
class JensenGap:
    """Monte Carlo E[log X] (with SE), log E[X] (log-mean-exp of log X) and their gap,
    against the exact values."""

    variable: str
    e_log: MonteCarloEstimate
    log_e: float
    gap: float
    exact_e_log: float
    exact_log_e: float
    exact_gap: float


class JensenInequalityDemo:
    """The lab's Jensen demo: the picture for several X, the gap against spread, and the
    ELBO-gap identity on a linear-Gaussian model."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @staticmethod
    def default_variables() -> list[PositiveVariable]:
        return [two_point(), uniform(), gamma(2.0, 1.0), lognormal(0.0, 0.75)]

    def measure(
        self, var: PositiveVariable, n_samples: int = 100_000,
        generator: torch.Generator | None = None,
    ) -> JensenGap:
        """Estimate both sides of Jensen's inequality for X from ``n_samples`` draws."""
        check_count("n_samples", n_samples)
        log_x = torch.log(var.sample(n_samples, generator))
        e_log = monte_carlo_mean(log_x)
        log_e = log_mean_exp(log_x).item()
        return JensenGap(var.name, e_log, log_e, log_e - e_log.estimate.item(), var.e_log,
                         var.log_e, var.gap)

    def gap_vs_spread(
        self, sigmas: list[float], n_samples: int = 100_000,
        generator: torch.Generator | None = None,
    ) -> list[JensenGap]:
        """The gap for LogNormal(0, σ) as σ grows: exactly σ²/2."""
        return [self.measure(lognormal(0.0, s), n_samples, generator) for s in sigmas]

    # -- the ELBO gap is a KL ----------------------------------------------------------------
    @staticmethod
    def random_gaussians(
        demo: LinearGaussianModel, x: torch.Tensor, n_q: int,
        generator: torch.Generator | None = None,
    ) -> list[GaussianProposal]:
        """``n_q`` random full-covariance Gaussians q(z) per x: the posterior mean moved by
        N(0, 0.5²) noise and a random lower-triangular scale with log-normal diagonal."""
        post = demo.exact_posterior(x)
        d = demo.latent_dim
        out = []
        for _ in range(n_q):
            mean = post.mean + 0.5 * torch.randn(post.mean.shape, generator=generator, dtype=F64)
            low = torch.tril(0.3 * torch.randn(d, d, generator=generator, dtype=F64), -1)
            diag = torch.exp(0.5 * torch.randn(d, generator=generator, dtype=F64))
            out.append(GaussianProposal(mean, low + torch.diag(diag) * post.scale_tril.diagonal()))
        return out

    @staticmethod
    def elbo_gap_identity(
        demo: LinearGaussianModel, x: torch.Tensor, qs: list[GaussianProposal]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""For each q: (log p(x) − ELBO(q), KL(q ‖ p(z|x))), each (n_q, B), all in closed form
        and by different routes: the left from :math:`\mathbb E_q\log p(x|z)` and KL to the prior,
        the right from the exact posterior."""
        log_px = demo.exact_log_marginal(x)
        post = demo.exact_posterior(x)
        gaps = torch.stack([log_px - demo.exact_elbo(x, q) for q in qs])
        kls = torch.stack([mvn_kl(q.mean, q.scale_tril, post.mean, post.scale_tril)
                           for q in qs])
        return gaps, kls

    @staticmethod
    def gap_vs_scale(
        demo: LinearGaussianModel, x: torch.Tensor, factors: list[float]
    ) -> torch.Tensor:
        """log p(x) − ELBO(q_c) for q_c the posterior with its scale multiplied by c, (len, B):
        zero at c = 1, positive elsewhere."""
        log_px = demo.exact_log_marginal(x)
        post = demo.exact_posterior(x)
        return torch.stack([log_px - demo.exact_elbo(x, post.scaled(c)) for c in factors])


__all__ = ["JensenGap", "JensenInequalityDemo", "PositiveVariable", "gamma", "lognormal",
           "two_point", "uniform"]
