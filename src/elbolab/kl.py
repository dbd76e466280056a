"""Kullback–Leibler divergences: closed forms for Gaussians and a Monte Carlo estimator.

All results in nats. ``gaussian_kl`` is the one Gaussian KL of the library: the VAE's
regularizer and every diffusion step's term are computed with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .checks import (
    check_broadcastable,
    check_callable,
    check_float_tensor,
    check_floats,
    check_positive,
    should_validate,
)
from .densities import LN2, solve_tril
from .estimators import MonteCarloEstimate, monte_carlo_mean

# Below these |r|, e^r − 1 − r is summed as its Taylor series r²(1/2! + r/3! + … + r⁴/6!):
# expm1(r) − r cancels there, losing a relative 2·eps/|r|. Each threshold balances the two:
# float64 at 1e-3 (expm1 − r: 2.2e-13 above it; series truncation (1e-3)⁴·2/7! = 4e-16 below),
# float32 and narrower at 0.02 (6e-6 above; 0.02⁴·2/7! = 6e-11 below).
EXPM1_SERIES_BELOW = {torch.float64: 1e-3}
EXPM1_SERIES_BELOW_DEFAULT = 0.02
_SERIES = tuple(1.0 / math.factorial(k) for k in range(2, 7))  # 1/2!, …, 1/6!


def _series(r: torch.Tensor) -> torch.Tensor:
    """½ r²(1/2! + r/3! + r²/4! + r³/5! + r⁴/6!) by Horner's rule."""
    poly = r * (_SERIES[4] / 2) + _SERIES[3] / 2
    for c in (_SERIES[2], _SERIES[1], _SERIES[0]):
        poly = poly * r + c / 2
    return poly * r * r


def _half_expm1_minus_x(r: torch.Tensor) -> torch.Tensor:
    """½(e^r − 1 − r) ≥ 0, the variance-ratio part of a Gaussian KL (r = log σ₁²/σ₂²),
    accurate to ~1e-13 (float64) / 6e-6 (float32) relative for every r whose result fits the
    dtype: ½(expm1(r) − r), with the entries below :data:`EXPM1_SERIES_BELOW` replaced by the
    Taylor series. On the CPU only those entries are recomputed (a gather and a scatter: the
    common case costs one extra comparison); on an accelerator both branches are evaluated
    everywhere and selected with ``where`` (no host sync, so CUDA graphs can capture it)."""
    # (the halving in place on a fresh temporary: sub's backward does not read it; expm1's
    # output must stay intact, its backward does)
    out = (torch.expm1(r) - r).mul_(0.5)
    small = r.abs() < EXPM1_SERIES_BELOW.get(r.dtype, EXPM1_SERIES_BELOW_DEFAULT)
    if r.device.type != "cpu" or r.dim() == 0:  # no host sync on an accelerator
        return torch.where(small, _series(r), out)
    index = small.nonzero(as_tuple=True)
    if index[0].numel():
        out = out.index_put(index, _series(r[index]))
    return out


def gaussian_kl(
    mu1: torch.Tensor,
    logvar1: torch.Tensor,
    mu2: torch.Tensor,
    logvar2: torch.Tensor,
    *,
    validate: bool | None = None,
) -> torch.Tensor:
    r"""Elementwise KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) between univariate Gaussians.

    .. math:: \mathrm{KL} = \tfrac12\Big[\big(e^{r}-1-r\big)
              + (\mu_1-\mu_2)^2 e^{-\log\sigma_2^2}\Big],\qquad r=\log\sigma_1^2-\log\sigma_2^2

    which is the textbook :math:`\log\frac{\sigma_2}{\sigma_1}+\frac{\sigma_1^2+(\mu_1-\mu_2)^2}
    {2\sigma_2^2}-\frac12` (e.g. Kingma & Welling 2014, App. B) rearranged into two non-negative
    terms, so no cancellation between large terms occurs and the result is never negative;
    the variance term is a Taylor series for nearly equal variances, where expm1(r) − r
    cancels. Safe range (the stability map): |logvar| ≤ 100, |Δμ| ≤ 1e6, variances equal to
    within 1e-12 or far apart; worst relative error 3e-15 (float64) / 2e-6 (float32); exactly 0
    for identical Gaussians. Shapes: all four broadcast; the result has the broadcast shape
    (sum event dims yourself).
    """
    check_floats(validate, mu1=mu1, logvar1=logvar1, mu2=mu2, logvar2=logvar2)
    # z = Δμ/(√2 σ₂) without forming 1/σ₂² (which overflows float32 for logvar < −88, turning
    # 0·∞ into NaN at Δμ = 0, or is subnormal for logvar > 87): finite for |logvar| ≤ 176
    # in float32 and 1418 in float64. (In place on a fresh temporary: a scalar mul's backward
    # does not read it.)
    z = (mu1 - mu2) * torch.exp(logvar2.mul(-0.5).sub_(0.5 * LN2))
    return torch.addcmul(_half_expm1_minus_x(logvar1 - logvar2), z, z)


def standard_normal_kl_per_dim(
    mu: torch.Tensor, logvar: torch.Tensor, *, validate: bool | None = None
) -> torch.Tensor:
    r"""Elementwise KL(N(μ_j, σ_j²) ‖ N(0, 1)), one value per latent dimension (not summed).

    .. math:: \mathrm{KL}_j = \tfrac12\big(\mu_j^2 + e^{\log\sigma_j^2} - 1 - \log\sigma_j^2\big)

    Kingma & Welling (2014), Appendix B; :func:`gaussian_kl` with μ₂ = 0, log σ₂² = 0.
    Shapes: ``mu`` and ``logvar`` broadcast; result has their shape. Nats. Used for KL per
    latent unit (free bits, active units) and the diffusion prior term.
    """
    check_floats(validate, mu=mu, logvar=logvar)
    return 0.5 * (mu * mu) + _half_expm1_minus_x(logvar)


def standard_normal_kl(
    mu: torch.Tensor, logvar: torch.Tensor, *, validate: bool | None = None
) -> torch.Tensor:
    r"""KL(N(μ, diag σ²) ‖ N(0, I)) summed over the last dimension.

    .. math:: \mathrm{KL} = \tfrac12\sum_j\big(\mu_j^2 + e^{\log\sigma_j^2} - 1
              - \log\sigma_j^2\big)

    Kingma & Welling (2014), Appendix B. Shape: ``mu``, ``logvar`` (…, d) → (…,). Nats. Safe
    range (the stability map): |logvar| ≤ 100, relative error 2e-15 (float64) / 2e-6 (float32),
    including logvar → 0 (a collapsed unit), where the Taylor series takes over.
    """
    check_floats(validate, mu=mu, logvar=logvar)
    return (0.5 * (mu * mu) + _half_expm1_minus_x(logvar)).sum(dim=-1)


def mvn_kl(
    mu1: torch.Tensor,
    scale_tril1: torch.Tensor,
    mu2: torch.Tensor,
    scale_tril2: torch.Tensor,
    *,
    validate: bool | None = None,
) -> torch.Tensor:
    r"""KL(N(μ₁, L₁L₁ᵀ) ‖ N(μ₂, L₂L₂ᵀ)) for full covariances given by Cholesky factors.

    .. math:: \mathrm{KL} = \tfrac12\Big[\lVert L_2^{-1}L_1\rVert_F^2
              + \lVert L_2^{-1}(\mu_2-\mu_1)\rVert^2 - d\Big]
              + \sum_i \log\frac{(L_2)_{ii}}{(L_1)_{ii}}

    (the trace, Mahalanobis and log-determinant terms of the Gaussian KL, Bishop 2006 / the
    Matrix Cookbook Eq. 380) computed with triangular solves, never an explicit inverse.
    Shapes: ``mu`` (…, d), ``scale_tril`` (…, d, d) lower triangular with positive diagonal;
    batch dimensions broadcast; result (…,). Nats. Safe range (the stability map): scales
    from 1e-30 to 1e30, relative error 1e-16 (float64) / 6e-8 (float32).
    """
    if should_validate(validate):
        for name, m, s in (("1", mu1, scale_tril1), ("2", mu2, scale_tril2)):
            check_float_tensor(f"mu{name}", m)
            check_float_tensor(f"scale_tril{name}", s)
            if s.dim() < 2 or s.shape[-1] != s.shape[-2]:
                raise ValueError(
                    f"scale_tril{name} must have shape (..., d, d), got {list(s.shape)}"
                )
            if m.dim() < 1 or m.shape[-1] != s.shape[-1]:
                raise ValueError(
                    f"mu{name} must have shape (..., d) with d = {s.shape[-1]} to match "
                    f"scale_tril{name}, got {list(m.shape)}"
                )
            check_positive(f"diagonal of scale_tril{name}", torch.diagonal(s, dim1=-2, dim2=-1))
        if mu1.shape[-1] != mu2.shape[-1]:
            raise ValueError(f"mu1 and mu2 differ in dimension: {mu1.shape[-1]} vs {mu2.shape[-1]}")
        check_broadcastable(
            mu1=mu1[..., 0], mu2=mu2[..., 0], scale_tril1=scale_tril1[..., 0, 0],
            scale_tril2=scale_tril2[..., 0, 0],
        )
    d = mu1.shape[-1]
    batch = torch.broadcast_shapes(
        mu1.shape[:-1], mu2.shape[:-1], scale_tril1.shape[:-2], scale_tril2.shape[:-2]
    )
    l1 = scale_tril1.expand(*batch, d, d)
    l2 = scale_tril2.expand(*batch, d, d)
    m = solve_tril("scale_tril2", l2, l1)
    diff = (mu2 - mu1).expand(*batch, d).unsqueeze(-1)
    y = solve_tril("scale_tril2", l2, diff).squeeze(-1)
    trace = m.pow(2).sum(dim=(-2, -1))
    mahalanobis = y.pow(2).sum(dim=-1)
    logdet_ratio = (
        torch.diagonal(l2, dim1=-2, dim2=-1).log() - torch.diagonal(l1, dim1=-2, dim2=-1).log()
    ).sum(dim=-1)
    return 0.5 * (trace + mahalanobis - d) + logdet_ratio


def monte_carlo_kl(
    samples_from_p: torch.Tensor,
    log_p: Callable[[torch.Tensor], torch.Tensor],
    log_q: Callable[[torch.Tensor], torch.Tensor],
    *,
    validate: bool | None = None,
) -> MonteCarloEstimate:
    r"""Monte Carlo estimate of KL(p ‖ q) with its standard error.

    .. math:: \widehat{\mathrm{KL}} = \frac1n\sum_{i=1}^n
              \big[\log p(x_i) - \log q(x_i)\big],\qquad x_i\sim p

    Unbiased; its standard error is the sample std of the log-ratio over √n.
    Shapes: ``samples_from_p`` (n, …); ``log_p`` and ``log_q`` map it to log-densities of
    shape (n, *batch) (summed over event dims). Returns a
    :class:`~elbolab.estimators.MonteCarloEstimate` of batch shape. Nats.
    """
    _check_mc_kl_args(validate, samples_from_p=samples_from_p, log_p=log_p, log_q=log_q)
    return _monte_carlo_kl(samples_from_p, log_p, log_q, validate)


def _monte_carlo_kl(samples, log_p, log_q, validate: bool | None) -> MonteCarloEstimate:
    """:func:`monte_carlo_kl` once its arguments are checked: the log-densities the callables
    return are checked here (their shape and values), the mean taken without checking again."""
    lp, lq = log_p(samples), log_q(samples)
    if should_validate(validate):
        for name, v in (("log_p(samples)", lp), ("log_q(samples)", lq)):
            check_float_tensor(name, v)
            if v.dim() < 1 or v.shape[0] != samples.shape[0]:
                raise ValueError(
                    f"{name} must return shape (n, ...) with n = {samples.shape[0]}, "
                    f"got {list(v.shape)}"
                )
    return monte_carlo_mean(lp - lq, dim=0, validate=False)


def _check_mc_kl_args(validate: bool | None, **args) -> None:
    """Check Monte Carlo KL arguments given as (samples, log_p, log_q) under the caller's own
    names, so that a wrapper's error names the wrapper's argument."""
    (s_name, samples), (p_name, log_p), (q_name, log_q) = args.items()
    check_callable(p_name, log_p)
    check_callable(q_name, log_q)
    if should_validate(validate):
        check_float_tensor(s_name, samples)
        if samples.dim() < 1 or samples.shape[0] < 1:
            raise ValueError(f"{s_name} must have shape (n, ...) with n >= 1 samples, got "
                             f"{list(samples.shape)}")


class KLDivergenceBuilder:
    """The lab's KL toolbox: thin wrappers over :mod:`elbolab.kl` with the handout's names.

    ``validate`` (default: the global default) is passed to every call.
    """

    def __init__(self, *, validate: bool | None = None) -> None:
        self.validate = validate

    def monte_carlo_kl(
        self,
        p_samples: torch.Tensor,
        p_logprob_fn: Callable[[torch.Tensor], torch.Tensor],
        q_logprob_fn: Callable[[torch.Tensor], torch.Tensor],
    ) -> MonteCarloEstimate:
        """KL(p‖q) ≈ mean of log p − log q over samples of p; see :func:`monte_carlo_kl`.

        Returns a result with ``.estimate``, ``.stderr`` and ``.n``.
        """
        _check_mc_kl_args(self.validate, p_samples=p_samples, p_logprob_fn=p_logprob_fn,
                          q_logprob_fn=q_logprob_fn)
        # the arguments checked under the wrapper's own names, not again under the function's
        return _monte_carlo_kl(p_samples, p_logprob_fn, q_logprob_fn, self.validate)

    def gaussian_kl_closed_form(
        self,
        mu1: torch.Tensor,
        sigma1: torch.Tensor,
        mu2: torch.Tensor,
        sigma2: torch.Tensor,
    ) -> torch.Tensor:
        """Elementwise KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) with *standard deviations* as arguments.

        Converts to log-variances (``2·log σ``) and calls :func:`gaussian_kl`. Raises
        ``ValueError`` for a σ that is not strictly positive.
        """
        mu1, sigma1, mu2, sigma2 = (_as_tensor(n, t) for n, t in
                                    (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2),
                                     ("sigma2", sigma2)))
        if should_validate(self.validate):
            check_float_tensor("mu1", mu1)
            check_float_tensor("mu2", mu2)
            check_positive("sigma1", sigma1)
            check_positive("sigma2", sigma2)
            check_broadcastable(mu1=mu1, sigma1=sigma1, mu2=mu2, sigma2=sigma2)
        return gaussian_kl(
            mu1, 2 * torch.log(sigma1), mu2, 2 * torch.log(sigma2), validate=False
        )

    def standard_normal_kl(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(μ, diag e^logvar) ‖ N(0, I)) summed over the last dim: one value per row."""
        return standard_normal_kl(mu, logvar, validate=self.validate)


def _as_tensor(name: str, value: torch.Tensor | float) -> torch.Tensor:
    """Python floats become float64 tensors (the lab passes plain numbers)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a tensor or a float, got {type(value).__name__}")
    return torch.tensor(float(value), dtype=torch.float64)


__all__ = ["KLDivergenceBuilder", "gaussian_kl", "monte_carlo_kl", "mvn_kl", "standard_normal_kl",
           "standard_normal_kl_per_dim"]
