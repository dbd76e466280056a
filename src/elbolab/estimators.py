"""Monte Carlo estimators and their uncertainty: sample means with standard errors, the
IWAE-k bound from log importance weights, and the effective sample size.

All functions work along a sample dimension (``dim``, default 0) and broadcast over the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .checks import check_count, should_validate
from .densities import log_mean_exp


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte Carlo estimate with its standard error and sample count.

    ``estimate`` and ``stderr`` are tensors of the batch shape (the sample dimension removed);
    ``stderr`` is :math:`\\hat s/\\sqrt n` with the unbiased sample standard deviation, so
    ``estimate ± 1.96·stderr`` is an approximate 95% interval.
    """

    estimate: torch.Tensor
    stderr: torch.Tensor
    n: int

    def z_score(self, truth: torch.Tensor | float) -> torch.Tensor:
        """(estimate − truth) / stderr: how many standard errors from a known answer."""
        return (self.estimate - truth) / self.stderr


def monte_carlo_mean(
    values: torch.Tensor, dim: int = 0, *, validate: bool | None = None
) -> MonteCarloEstimate:
    r"""Sample mean of i.i.d. draws with its standard error.

    .. math:: \hat\mu = \tfrac1n\sum_i v_i,\qquad
              \mathrm{se} = \sqrt{\tfrac{1}{n(n-1)}\sum_i (v_i-\hat\mu)^2}

    Shape: ``values`` (…, n, …) along ``dim``; results have ``dim`` removed. Needs n ≥ 2 for a
    standard error (n = 1 gives ``stderr = inf``).
    """
    if should_validate(validate):
        if not isinstance(values, torch.Tensor) or not values.is_floating_point():
            raise TypeError("values must be a floating-point torch.Tensor")
        if not bool(torch.isfinite(values).all()):
            raise ValueError("values contains NaN or infinite entries; expected finite")
    n = values.shape[dim]
    check_count("n_samples", n)
    est = values.mean(dim=dim)
    if n < 2:
        se = torch.full_like(est, math.inf)
    else:
        se = values.std(dim=dim, correction=1) / math.sqrt(n)
    return MonteCarloEstimate(est, se, n)


def iwae_bound(
    log_weights: torch.Tensor, dim: int = 0, *, validate: bool | None = None
) -> torch.Tensor:
    r"""The k-sample importance-weighted bound from log importance weights.

    .. math:: \mathcal L_k = \log \frac1k \sum_{i=1}^k w_i,\qquad
              \log w_i = \log p(x, z_i) - \log q(z_i\mid x),\ z_i\sim q

    Burda, Grosse & Salakhutdinov (2015), Eq. (8). ``E[L_1]`` is the ELBO and
    ``E[L_k] ↑ log p(x)`` as k grows. Shape: ``log_weights`` with k along ``dim``; the result
    has ``dim`` removed. Units: nats.
    """
    if should_validate(validate):
        check_count("k", log_weights.shape[dim] if log_weights.dim() > 0 else 0)
    return log_mean_exp(log_weights, dim=dim, validate=validate)


def effective_sample_size(log_weights: torch.Tensor, dim: int = 0) -> torch.Tensor:
    r"""Kish's effective sample size of importance weights, computed in log space.

    .. math:: \mathrm{ESS} = \frac{(\sum_i w_i)^2}{\sum_i w_i^2}
              = \exp\big(2\,\mathrm{LSE}(\log w) - \mathrm{LSE}(2\log w)\big)

    Lies in [1, n]; n for equal weights. Shape: ``log_weights`` with ``dim`` removed.
    """
    return torch.exp(
        2 * torch.logsumexp(log_weights, dim=dim) - torch.logsumexp(2 * log_weights, dim=dim)
    )
