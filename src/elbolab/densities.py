"""Log-densities, in nats, elementwise and broadcasting.

Conventions (``docs/architecture.md``): variances travel as ``logvar``; Bernoulli parameters as
``logits``; nothing here reduces over event dimensions unless its name says so, so callers
choose what to sum (``.sum(-1)`` for a diagonal Gaussian over a vector).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import (
    check_broadcastable,
    check_count,
    check_dim,
    check_float_tensor,
    check_floats,
    check_log_weights,
    finite_range,
    should_validate,
)

# the dtype of references, exact answers and schedules (float32 rounding would hide the errors
# they are there to measure)
F64 = torch.float64
LOG_2PI = math.log(2.0 * math.pi)
LN2 = math.log(2.0)
# softplus(l) = log1p(e^l) is replaced by l above this: e^-40 < float64 epsilon, so exact.
SOFTPLUS_LINEAR_ABOVE = 40.0


def gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, *, validate: bool | None = None
) -> torch.Tensor:
    r"""Elementwise log-density of a univariate Gaussian, full normalizing constant.

    .. math:: \log \mathcal N(x;\mu,\sigma^2) = -\tfrac12\big(\log 2\pi + \log\sigma^2
              + (x-\mu)^2 e^{-\log\sigma^2}\big)

    Shapes: ``x``, ``mean`` and ``logvar`` broadcast together; the result has the broadcast
    shape. Units: nats. Sum the trailing event dimensions yourself for a diagonal Gaussian.
    Computed from ``logvar`` directly (no ``exp`` then ``log``) through the standardized
    residual :math:`(x-\mu)e^{-(\log\sigma^2 + \ln 2)/2}`, never :math:`1/\sigma^2`. Safe
    range (the stability map, :mod:`elbolab.parts.stability`): |logvar| ≤ 100 and |x − μ| ≤ 1e6,
    worst error 2e-15 (float64) and 2e-6 (float32) mixed relative, gradient as accurate.
    """
    check_floats(validate, x=x, mean=mean, logvar=logvar)
    # the standardized residual over √2, so that z² = (x − μ)²/2σ² needs neither 1/σ² (0·∞ at
    # x = μ for logvar < −88 in float32) nor (x − μ)²/σ² (which overflows before its half does)
    z = (x - mean) * torch.exp(-0.5 * (logvar + LN2))
    return -torch.addcmul(0.5 * (logvar + LOG_2PI), z, z)


def bernoulli_log_prob(
    x: torch.Tensor, logits: torch.Tensor, *, validate: bool | None = None
) -> torch.Tensor:
    r"""Elementwise Bernoulli log-probability from logits, never forming ``log(0)``.

    .. math:: \log p(x\mid\ell) = x\,\ell - \operatorname{softplus}(\ell)
              = x\log\sigma(\ell) + (1-x)\log(1-\sigma(\ell))

    ``x`` may be binary or a continuous intensity in [0, 1] (then this is the negative binary
    cross-entropy used by the PyTorch example VAE). Shapes broadcast; result in nats. Safe
    range: |logits| ≤ 1e4, mixed error (absolute below 1 nat, relative above) ≤ 2e-16
    (float64) / 1e-7 (float32); the gradient x − σ(ℓ) to an absolute eps.
    """
    if should_validate(validate):
        lo, hi = finite_range("x", x)
        if lo < 0 or hi > 1:
            raise ValueError(
                f"x must lie in [0, 1] for a Bernoulli log-probability, got [{lo:.4g}, {hi:.4g}]"
            )
        check_float_tensor("logits", logits)
        check_broadcastable(x=x, logits=logits)
    # x·ℓ − softplus(ℓ) as one fused multiply-add; the in-place negation is autograd-safe
    # because softplus's backward reads its input, not its output. Where the result is tiny
    # (x = 1, ℓ ≫ 0: −e^{−ℓ}) it is exact to an absolute eps, not relative: a log-likelihood
    # is summed with others, and the relative form costs three times as much (the stability
    # map, elbolab.parts.stability, measures both).
    return torch.addcmul(F.softplus(logits, threshold=SOFTPLUS_LINEAR_ABOVE).neg_(), x, logits)


# Enumerating {0, 1}^D: 2^20 rows (a million vectors of D floats) is as far as an exact check by
# enumeration is sensible.
MAX_ENUMERATE_DIM = 20


def all_binary_vectors(dim: int, dtype: torch.dtype = F64) -> torch.Tensor:
    """Every vector of {0, 1}^dim — the support of ``dim`` independent Bernoullis — as a
    (2^dim, dim) tensor whose row i holds the bits of i (bit j in column j): for normalization
    checks by enumeration (Σ_x p(x) = 1). ``dim`` ≤ :data:`MAX_ENUMERATE_DIM`."""
    check_count("dim", dim, maximum=MAX_ENUMERATE_DIM)
    return ((torch.arange(2 ** dim)[:, None] >> torch.arange(dim)[None, :]) & 1).to(dtype)


def log_mean_exp(a: torch.Tensor, dim: int = 0, *, validate: bool | None = None) -> torch.Tensor:
    r"""Numerically stable :math:`\log \frac1n \sum_i e^{a_i}` along ``dim``.

    Computed as ``logsumexp(a, dim) - log n``; entries of ``-inf`` are allowed (zero
    weights). Shape: ``a`` with ``dim`` removed. Accurate to 1e-16 (float64) / 1e-7 (float32)
    mixed relative for shifts |a| ≤ 1e4; its float32 gradient (the softmax weights) carries the
    rounding of the result, ulp(|a|): 1e-5 for |a| ≤ 200.
    """
    if should_validate(validate):
        check_log_weights("a", a)
        check_dim("dim", dim, a.dim())
    n = a.shape[dim]
    if n < 1:
        raise ValueError(f"a has no elements along dim={dim}")
    return torch.logsumexp(a, dim=dim) - math.log(n)


def solve_tril(name: str, scale_tril: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``L⁻¹ B`` for a lower-triangular ``L`` (``torch.linalg.solve_triangular``); a dtype that
    torch has no triangular solve for on this device (float16 on the CPU) is a TypeError
    naming ``name``, not a NotImplementedError from inside torch."""
    try:
        return torch.linalg.solve_triangular(scale_tril, rhs, upper=False)
    except NotImplementedError:
        raise TypeError(f"{name} has dtype {scale_tril.dtype}, which torch cannot solve "
                        f"triangular systems in on {scale_tril.device.type}; use float32 or "
                        "float64") from None


def mvn_log_prob(
    x: torch.Tensor, mean: torch.Tensor, scale_tril: torch.Tensor, *, validate: bool | None = None
) -> torch.Tensor:
    r"""Log-density of a full-covariance Gaussian :math:`\mathcal N(\mu, LL^\top)`.

    .. math:: \log\mathcal N(x;\mu,LL^\top) = -\tfrac12\big(d\log2\pi
              + \lVert L^{-1}(x-\mu)\rVert^2\big) - \sum_i\log L_{ii}

    One triangular solve, no inverse. Shapes: ``x`` and ``mean`` (…, d) broadcast,
    ``scale_tril`` (…, d, d) lower triangular with positive diagonal; result (…,). Nats.
    """
    if should_validate(validate):
        check_floats(validate, x=x, mean=mean)
        check_float_tensor("scale_tril", scale_tril)
        if scale_tril.dim() < 2 or scale_tril.shape[-1] != scale_tril.shape[-2] or (
            scale_tril.shape[-1] != x.shape[-1]
        ):
            raise ValueError(
                f"scale_tril must have shape (..., d, d) with d = {x.shape[-1]}, "
                f"got {list(scale_tril.shape)}"
            )
        if not bool((torch.diagonal(scale_tril, dim1=-2, dim2=-1) > 0).all()):
            raise ValueError("scale_tril must have a strictly positive diagonal")
    d = x.shape[-1]
    diff = x - mean
    if scale_tril.dim() == 2:  # one shared factor: a single solve with many right-hand sides
        y = solve_tril("scale_tril", scale_tril, diff.reshape(-1, d).T)
        y = y.T.reshape(diff.shape)
    else:
        batch = torch.broadcast_shapes(diff.shape[:-1], scale_tril.shape[:-2])
        y = solve_tril("scale_tril", scale_tril.expand(*batch, d, d),
                       diff.expand(*batch, d).unsqueeze(-1)).squeeze(-1)
    half_logdet = torch.diagonal(scale_tril, dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * (d * LOG_2PI + y.pow(2).sum(-1)) - half_logdet


def sum_event(t: torch.Tensor, event_dims: int) -> torch.Tensor:
    """Sum the last ``event_dims`` dimensions of an elementwise log-density (or KL): the
    one reduction over event dimensions of the library. ``event_dims = 0`` returns ``t``.
    A reduction helper, like ``torch.sum``: it checks its arguments' types and ranks, not
    their values (the functions that produce ``t`` check those)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor, got {type(t).__name__}")
    check_count("event_dims", event_dims, minimum=0, maximum=t.dim())
    return t.sum(dim=tuple(range(-event_dims, 0))) if event_dims > 0 else t


def _log_ndtr_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Φ(b) − Φ(a)) for a ≤ b, accurate in both tails: intervals right of 0 are mirrored
    (Φ(b) − Φ(a) = Φ(−a) − Φ(−b)) so the subtraction is always of the smaller tail."""
    flip = a > 0
    lo = torch.where(flip, -b, a)
    hi = torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log(-torch.expm1(log_lo - log_hi))


# A bin whose half-width h (in standard deviations, times 1 + |centre m|) is below this takes
# the midpoint rule log(2h·φ(m)·(1 + (m² − 1)h²/6)): the next term, (m⁴ − 6m² + 3)h⁴/120, is
# below 1e-18 there, while the difference of the two CDFs loses eps/(2hφ) ~ 1e-12 of its digits
# (a bin of width 2/255 under σ = e^30 is 3e-16 σ wide).
MIDPOINT_BELOW = 1e-4


# The finest grid: 2^24 levels (24-bit data); bins of 2/2^24 are still 1e8 float64 ulps wide.
MAX_BINS = 2**24


def discretized_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor,
                                  logvar: torch.Tensor, *, bins: int = 256,
                                  validate: bool | None = None) -> torch.Tensor:
    r"""Elementwise log-probability of the bin holding ``x`` under N(mean, e^logvar), for data
    on the ``bins``-level grid of [−1, 1] (8-bit pixels scaled: x = 2k/255 − 1). Ho et al.
    2020, Eq. 13: each bin is [x − 1/255, x + 1/255], with the end bins extended to ±∞, so the
    probabilities of all bins sum to 1 exactly.

    Computed in float64 whatever the input dtype (the bin edges of a float32 mean of 1e6 would
    otherwise round onto each other), with ``log_ndtr`` in both tails, and with the midpoint
    rule for bins much narrower than σ (:data:`MIDPOINT_BELOW`). Shapes broadcast; nats
    (divide the summed −log p by D·ln 2 for bits/dim); the result has the inputs' dtype.
    Safe range (the stability map): logvar from −10 to 80 and |x − mean| up to 1e6 σ, mixed
    error 3e-14 (float64) / 5e-8 (float32); the gradient to 1e-12 within 50 σ of the bin.
    """
    check_count("bins", bins, minimum=2, maximum=MAX_BINS)
    if should_validate(validate):
        lo_x, hi_x = finite_range("x", x)
        if lo_x < -1 or hi_x > 1:
            raise ValueError(f"x must be scaled to [-1, 1], got [{lo_x:.4g}, {hi_x:.4g}]")
        check_float_tensor("mean", mean)
        check_float_tensor("logvar", logvar)
        check_broadcastable(x=x, mean=mean, logvar=logvar)
    dtype = torch.promote_types(torch.promote_types(x.dtype, mean.dtype), logvar.dtype)
    x, mean, logvar = x.to(F64), mean.to(F64), logvar.to(F64)
    half = 1.0 / (bins - 1)
    inv_std = torch.exp(-0.5 * logvar)
    centre = (x - mean) * inv_std  # m: the bin's centre in standard deviations
    h = half * inv_std  # its half-width
    interior = (x >= -1 + half) & (x <= 1 - half)
    narrow = interior & (h * (1 + centre.abs()) < MIDPOINT_BELOW)
    # each branch sees harmless inputs where the other is chosen, so that neither's gradient
    # (multiplied by the zero that torch.where passes it) can be 0·∞
    lower = torch.where(x < -1 + half, -math.inf, torch.where(narrow, -1.0, centre - h))
    upper = torch.where(x > 1 - half, math.inf, torch.where(narrow, 1.0, centre + h))
    exact = _log_ndtr_diff(lower, upper)
    m = torch.where(narrow, centre, 0.0)
    hn = torch.where(narrow, h, MIDPOINT_BELOW)
    midpoint = torch.log(2 * hn) - 0.5 * (m * m + LOG_2PI) + torch.log1p((m * m - 1) * hn * hn / 6)
    return torch.where(narrow, midpoint, exact).to(dtype)


__all__ = ["F64", "LN2", "LOG_2PI", "MAX_BINS", "MAX_ENUMERATE_DIM", "MIDPOINT_BELOW",
           "SOFTPLUS_LINEAR_ABOVE", "all_binary_vectors", "bernoulli_log_prob", "solve_tril",
           "discretized_gaussian_log_prob",
           "gaussian_log_prob", "log_mean_exp", "mvn_log_prob", "sum_event"]
