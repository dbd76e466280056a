"""Monte Carlo estimators and their uncertainty: sample means with standard errors, the
IWAE-k bound from log importance weights, and the effective sample size.

All functions work along a sample dimension (``dim``, default 0) and broadcast over the rest.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .checks import (
    check_callable,
    check_count,
    check_dim,
    check_float_tensor,
    check_log_weights,
    should_validate,
)
from .densities import log_mean_exp

#: The most draws one streamed estimate may take: 10^10 log-weights are 80 GB of float64
#: drawn and reduced chunk by chunk, hours of work; more is a mistaken count, not a plan.
MAX_STREAMED_SAMPLES = 10**10


@dataclass(frozen=True)
class MonteCarloEstimate:
    """Every Monte Carlo answer of the library: an estimate, its standard error, the number of
    draws, and (for importance sampling) Kish's effective sample size.

    ``estimate`` and ``stderr`` are tensors of the batch shape (the sample dimension removed).
    For a sample mean (:func:`monte_carlo_mean`) ``stderr`` is :math:`\\hat s/\\sqrt n` with
    the unbiased sample standard deviation, so ``estimate ± 1.96·stderr`` is an approximate
    95% interval; for a log-mean of weights (:func:`streaming_log_mean_exp`) it is the
    delta-method standard error and ``ess`` is set (``None`` elsewhere).
    """

    estimate: torch.Tensor
    stderr: torch.Tensor
    n: int
    ess: torch.Tensor | None = None

    def z_score(self, truth: torch.Tensor | float) -> torch.Tensor:
        """(estimate − truth) / stderr: how many standard errors from a known answer. A zero
        standard error gives ±inf (0/0 = NaN where the estimate equals the truth)."""
        if hasattr(truth, "__array__") and not isinstance(truth, torch.Tensor):
            truth = torch.as_tensor(truth)  # a NumPy array or scalar
        if isinstance(truth, bool) or not isinstance(truth, (numbers.Real, torch.Tensor)):
            raise TypeError(f"truth must be a number or a floating tensor, got "
                            f"{type(truth).__name__}")
        if isinstance(truth, torch.Tensor):
            check_float_tensor("truth", truth)
        elif not math.isfinite(truth):
            raise ValueError(f"truth must be finite, got {truth}")
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
        check_float_tensor("values", values)
        check_dim("dim", dim, values.dim())
    n = values.shape[dim]
    if n < 1:
        raise ValueError(f"values must hold at least one sample along dim={dim}, got shape "
                         f"{tuple(values.shape)}")
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
    has ``dim`` removed. Units: nats. As accurate as :func:`~elbolab.densities.log_mean_exp`
    (the stability map: 1e-16 float64 for log-weights up to 1e4 in size).
    """
    if should_validate(validate):
        check_log_weights("log_weights", log_weights)
        check_dim("dim", dim, log_weights.dim())
        if log_weights.shape[dim] < 1:
            raise ValueError(f"log_weights must hold k >= 1 weights along dim={dim}, got shape "
                             f"{tuple(log_weights.shape)}")
    return log_mean_exp(log_weights, dim=dim, validate=False)


def effective_sample_size(log_weights: torch.Tensor, dim: int = 0, *,
                          validate: bool | None = None) -> torch.Tensor:
    r"""Kish's effective sample size of importance weights, computed in log space.

    .. math:: \mathrm{ESS} = \frac{(\sum_i w_i)^2}{\sum_i w_i^2}
              = \exp\big(2\,\mathrm{LSE}(\log w) - \mathrm{LSE}(2\log w)\big)

    Lies in [1, n]; n for equal weights. Shape: ``log_weights`` with ``dim`` removed.
    Shift-invariant, and computed after subtracting the largest log-weight: accurate to 1e-16
    (float64) / 1e-7 (float32) for log-weights of any size up to 1e6 (the stability map).
    """
    if should_validate(validate):
        check_log_weights("log_weights", log_weights)
        check_dim("dim", dim, log_weights.dim())
        if log_weights.shape[dim] == 0:
            raise ValueError(f"log_weights must hold at least one weight along dim={dim}, got "
                             f"shape {tuple(log_weights.shape)}")
        if bool((log_weights == -math.inf).all(dim=dim).any()):
            raise ValueError("log_weights: every weight of a slice is zero (-inf); the "
                             "effective sample size is undefined")
    # shift by the largest weight first: both log-sums are then O(log n), so the difference
    # keeps its digits whatever the scale of the weights (ESS is invariant to the shift)
    a = log_weights - log_weights.amax(dim=dim, keepdim=True)
    return torch.exp(2 * torch.logsumexp(a, dim=dim) - torch.logsumexp(2 * a, dim=dim))


class LogMeanExpAccumulator:
    r"""Streaming :math:`\log\frac1n\sum_i e^{a_i}` over chunks of samples, in float64.

    Keeps a running maximum and the rescaled sums :math:`\sum e^{a-m}` and
    :math:`\sum e^{2(a-m)}`, so memory is one chunk regardless of n and nothing overflows or
    underflows. ``update(chunk)`` takes (m, *batch); ``result()`` gives a
    :class:`MonteCarloEstimate` of :math:`\log\frac1n\sum_i w_i` whose ``stderr`` is the
    delta-method standard error :math:`\sqrt{(n/\mathrm{ESS}-1)/(n-1)}` (itself unreliable when
    the weights are heavy-tailed: it is computed from the same few dominant weights) and
    whose ``ess`` is Kish's effective sample size.
    """

    def __init__(self) -> None:
        self.max: torch.Tensor | None = None
        self.s = self.s2 = None
        self.n = 0

    def update(self, log_w: torch.Tensor, *, validate: bool | None = None) -> None:
        """Add a chunk of log-weights (m, *batch); every chunk has the same batch shape. An
        empty chunk (m = 0) adds nothing."""
        if should_validate(validate):
            check_log_weights("log_w", log_w)
            if log_w.dim() == 0:
                raise ValueError("log_w must be (m, *batch), got a scalar")
            if self.max is not None and log_w.shape[1:] != self.max.shape:
                raise ValueError(f"log_w's batch shape {tuple(log_w.shape[1:])} differs from "
                                 f"the earlier chunks' {tuple(self.max.shape)}")
        if log_w.dim() > 0 and log_w.shape[0] == 0:
            return  # an empty chunk adds nothing
        a = log_w.detach().to(torch.float64)
        cmax = a.amax(dim=0)
        if self.max is None:
            new_max = cmax
            self.s = torch.zeros_like(cmax)
            self.s2 = torch.zeros_like(cmax)
        else:
            new_max = torch.maximum(self.max, cmax)
        # rescale old sums; a -inf maximum (no mass yet) contributes nothing
        safe = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
        if self.max is not None:
            shift = torch.where(torch.isfinite(self.max), self.max - safe,
                                torch.full_like(safe, -math.inf))
            self.s = self.s * torch.exp(shift)
            self.s2 = self.s2 * torch.exp(2 * shift)
        self.s = self.s + torch.exp(a - safe).sum(0)
        self.s2 = self.s2 + torch.exp(2 * (a - safe)).sum(0)
        self.max = new_max
        self.n += a.shape[0]

    def result(self) -> MonteCarloEstimate:
        if self.max is None or self.n == 0:
            raise ValueError("no samples were accumulated")
        safe = torch.where(torch.isfinite(self.max), self.max, torch.zeros_like(self.max))
        log_mean = safe + torch.log(self.s) - math.log(self.n)
        ess = self.s**2 / self.s2
        if self.n > 1:
            rel_var = (self.n / ess - 1).clamp_min(0) / (self.n - 1)
            stderr = rel_var.sqrt()
        else:
            stderr = torch.full_like(log_mean, math.inf)
        return MonteCarloEstimate(log_mean, stderr, self.n, ess)


def streaming_log_mean_exp(
    draw_log_weights: Callable[[int], torch.Tensor], n_samples: int, chunk_size: int = 65_536
) -> MonteCarloEstimate:
    r"""Estimate :math:`\log\mathbb E[w]` from ``n_samples`` log-weights drawn
    ``chunk_size`` at a time by ``draw_log_weights(m) -> (m, *batch)``.

    Memory is bounded by one chunk, whatever ``n_samples`` (at most
    :data:`MAX_STREAMED_SAMPLES`; a ``chunk_size`` above ``n_samples`` draws them at once).
    This is the engine of naive
    Monte Carlo (w = p(x|z), z ~ p(z)) and importance sampling (w = p(x,z)/q(z)) alike.
    """
    check_callable("draw_log_weights", draw_log_weights)
    check_count("n_samples", n_samples, maximum=MAX_STREAMED_SAMPLES)
    check_count("chunk_size", chunk_size)
    acc = LogMeanExpAccumulator()
    done = 0
    while done < n_samples:
        m = min(chunk_size, n_samples - done)
        acc.update(draw_log_weights(m))
        done += m
    return acc.result()


__all__ = ["MAX_STREAMED_SAMPLES", "LogMeanExpAccumulator", "MonteCarloEstimate",
           "effective_sample_size", "iwae_bound", "monte_carlo_mean", "streaming_log_mean_exp"]
