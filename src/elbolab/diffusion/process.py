r"""The bridge to diffusion: a DDPM is a hierarchical VAE whose encoder is fixed.

Forward process (the "encoder"): :math:`q(x_t\mid x_{t-1}) = \mathcal N(\sqrt{\alpha_t}\,
x_{t-1}, \beta_t I)`, :math:`\alpha_t = 1-\beta_t`, so :math:`q(x_t\mid x_0) = \mathcal N(
\sqrt{\bar\alpha_t}\,x_0, (1-\bar\alpha_t)I)` with :math:`\bar\alpha_t=\prod_{s\le t}\alpha_s`.
Its ELBO (Sohl-Dickstein et al. 2015; Ho, Jain & Abbeel 2020, Eq. 5) is a sum of the same
Gaussian KLs as the VAE's:

.. math:: -\log p_\theta(x_0) \le \underbrace{\mathrm{KL}(q(x_T|x_0)\,\|\,p(x_T))}_{L_T}
          + \sum_{t=2}^T \underbrace{\mathbb E_{q(x_t|x_0)}\mathrm{KL}(q(x_{t-1}|x_t,x_0)\,\|\,
          p_\theta(x_{t-1}|x_t))}_{L_{t-1}}
          \underbrace{-\,\mathbb E_{q(x_1|x_0)}\log p_\theta(x_0|x_1)}_{L_0}

Conventions: time is 1-based as in the papers, and every per-time array has ``T + 1`` entries
indexed by ``t`` itself (entry 0 is t = 0: β = 0, ᾱ = 1). Schedules are float64. Every KL is
:func:`elbolab.kl.gaussian_kl` (no second implementation); bound terms are summed over the
event dimensions and returned per example, in nats. The schedules live in
:mod:`elbolab.diffusion.schedules`; :class:`~elbolab.diffusion.testbed.GaussianTestBed` gives
every term and the exact model likelihood in closed form for Gaussian data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..checks import (
    check_callable,
    check_choice,
    check_count,
    check_float_tensor,
    check_floats,
    check_full_precision,
    check_generator,
    check_number,
    should_validate,
)
from ..densities import MAX_BINS, discretized_gaussian_log_prob, gaussian_log_prob, sum_event
from ..kl import gaussian_kl, standard_normal_kl_per_dim
from .schedules import NoiseSchedule

DECODERS = ("continuous", "discretized")

# (x_t, t) -> (mean, logvar) of p_θ(x_{t-1} | x_t); t is an int in 1..T
ReverseModel = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def _coef(values: torch.Tensor, t: int, like: torch.Tensor) -> torch.Tensor:
    return values[t].to(dtype=like.dtype, device=like.device)


def q_marginal(x0: torch.Tensor, t: int, schedule: NoiseSchedule, *,
               validate: bool | None = None):
    r"""(mean, logvar) of :math:`q(x_t\mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}x_0,
    (1-\bar\alpha_t)I)`, both of ``x0``'s shape and dtype. ``t`` in 1…T. ``x0``: a finite
    floating tensor (checked unless ``validate`` is off)."""
    t = schedule.check_t(t)
    check_floats(validate, x0=x0)
    mean = x0 * _coef(schedule.alpha_bar, t, x0).sqrt()
    return mean, torch.full_like(x0, float(schedule.log_one_minus_alpha_bar[t]))


def q_sample(x0: torch.Tensor, t: int, schedule: NoiseSchedule, *,
             generator: torch.Generator | None = None,
             eps: torch.Tensor | None = None) -> torch.Tensor:
    """Draw x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε (Ho et al. 2020, Eq. 4). Pass ``eps`` or ``generator``."""
    mean, logvar = q_marginal(x0, t, schedule)
    if eps is not None:
        check_floats(None, eps=eps)
    if eps is None:
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    elif eps.shape != x0.shape:
        raise ValueError(f"eps must have x0's shape {list(x0.shape)}, got {list(eps.shape)}")
    return torch.addcmul(mean, torch.exp(0.5 * logvar), eps)


def q_posterior(x0: torch.Tensor, xt: torch.Tensor, t: int, schedule: NoiseSchedule, *,
                validate: bool | None = None):
    r"""(mean, logvar) of :math:`q(x_{t-1}\mid x_t, x_0) = \mathcal N(\tilde\mu_t,
    \tilde\beta_t I)` (see :class:`NoiseSchedule`). ``x0`` and ``xt`` broadcast; ``t`` in 2…T
    (at t = 1 the posterior is a point mass at x_0)."""
    t = schedule.check_t(t, lowest=2)
    check_floats(validate, x0=x0, xt=xt)
    mean = _coef(schedule.posterior_coef_x0, t, x0) * x0 + _coef(
        schedule.posterior_coef_xt, t, xt) * xt
    return mean, torch.full_like(mean, float(schedule.posterior_logvar[t]))


def x0_from_eps(xt: torch.Tensor, t: int, eps: torch.Tensor,
                schedule: NoiseSchedule) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t: the data a noise prediction implies."""
    t = schedule.check_t(t)
    check_floats(None, xt=xt, eps=eps)
    return (xt - eps * float(torch.exp(0.5 * schedule.log_one_minus_alpha_bar[t]))) / float(
        torch.exp(0.5 * schedule.log_alpha_bar[t]))


def mean_from_eps(xt: torch.Tensor, t: int, eps: torch.Tensor,
                  schedule: NoiseSchedule) -> torch.Tensor:
    r"""The reverse mean of an ε-prediction model, :math:`\mu_\theta = \frac1{\sqrt{\alpha_t}}
    \big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\varepsilon\big)` (Ho et al. 2020,
    Eq. 11); equal to :math:`\tilde\mu_t(x_t, \hat x_0)` for t ≥ 2, and to x̂_0 at t = 1."""
    t = schedule.check_t(t)
    check_floats(None, xt=xt, eps=eps)
    b = float(schedule.betas[t])
    return (xt - eps * (b / float(torch.exp(0.5 * schedule.log_one_minus_alpha_bar[t])))) / (
        float(torch.exp(0.5 * schedule.log_alphas[t])))


def _per_example(v: torch.Tensor) -> torch.Tensor:
    """Sum an elementwise term over every event dimension (all but the batch's)."""
    return sum_event(v, v.dim() - 1)


# -- the terms of the bound ------------------------------------------------------------------
def prior_term(x0: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """L_T = KL(q(x_T|x_0) ‖ N(0, I)) per example (batch,), nats; via the core
    ``standard_normal_kl_per_dim`` (``gaussian_kl`` against N(0, 1)).
    No parameters: it measures only how completely the forward process destroys x_0."""
    mean, logvar = q_marginal(x0, schedule.T, schedule)
    return _per_example(standard_normal_kl_per_dim(mean, logvar, validate=False))


def _check_model(validate: bool | None, like: tuple[str, torch.Tensor], **tensors) -> None:
    """Check a reverse model's (mean, logvar) under the caller's names: finite floating
    tensors (a logvar may be a number) that broadcast to ``like``'s shape."""
    if not should_validate(validate):
        return
    like_name, like = like
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor):
            check_float_tensor(name, value)
            try:
                ok = torch.broadcast_shapes(value.shape, like.shape) == like.shape
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(f"{name} {list(value.shape)} must broadcast to the shape of "
                                 f"{like_name}, {list(like.shape)}")
        elif name.endswith("logvar"):
            check_number(name, value)
        else:
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def denoising_term(x0: torch.Tensor, xt: torch.Tensor, t: int, model_mean: torch.Tensor,
                   model_logvar: torch.Tensor, schedule: NoiseSchedule, *,
                   validate: bool | None = None) -> torch.Tensor:
    r"""One sample of L_{t−1}: :math:`\mathrm{KL}(q(x_{t-1}|x_t,x_0)\,\|\,\mathcal N(\mu_\theta,
    \sigma_t^2))` at the given x_t, summed over event dims → (batch,), nats; ``t`` in 2…T.
    ``model_logvar`` broadcasts (a scalar tensor for a fixed variance)."""
    mean, logvar = q_posterior(x0, xt, t, schedule, validate=validate)
    _check_model(validate, ("x0 and xt", mean), model_mean=model_mean,
                 model_logvar=model_logvar)
    return _per_example(gaussian_kl(mean, logvar, model_mean,
                                  torch.as_tensor(model_logvar, dtype=mean.dtype,
                                                  device=mean.device).expand_as(mean),
                                  validate=False))


def decoder_nll(x0: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                decoder: str = "continuous", *, bins: int = 256,
                validate: bool | None = None) -> torch.Tensor:
    """L_0 = −log p_θ(x_0|x_1) per example (batch,), nats: ``"continuous"`` a Gaussian density,
    ``"discretized"`` the probability of x_0's bin among ``bins`` levels of [−1, 1]
    (:func:`discretized_gaussian_log_prob`: 256 for 8-bit images, 2 for binary ones at ±1)."""
    check_choice("decoder", decoder, DECODERS)
    check_count("bins", bins, minimum=2, maximum=MAX_BINS)
    if should_validate(validate):
        check_float_tensor("x0", x0)
        _check_model(True, ("x0", x0), mean=mean, logvar=logvar)
    logvar = torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device).expand_as(mean)
    if decoder == "continuous":
        return -_per_example(gaussian_log_prob(x0, mean, logvar, validate=False))
    return -_per_example(discretized_gaussian_log_prob(x0, mean, logvar, bins=bins,
                                                       validate=validate))


@dataclass
class DiffusionBound:
    """The bound's terms per example: ``terms[:, k]`` is L_k, k = 0…T (L_0 the decoder, L_T the
    prior), nats. Sign: the terms are *losses*, as in Ho et al. (2020): ``total`` = Σ_k L_k ≥
    −log p_θ(x_0) is an upper bound on the negative log-likelihood (minimize it); ``elbo`` =
    −``total`` ≤ log p_θ(x_0) is the quantity to maximize, the sign of every other bound in the
    library."""

    terms: torch.Tensor
    data_dim: int

    @property
    def total(self) -> torch.Tensor:
        """Σ_k L_k per example: the negative ELBO, ≥ −log p_θ(x_0) (nats)."""
        return self.terms.sum(-1)

    @property
    def elbo(self) -> torch.Tensor:
        """−Σ_k L_k per example: the ELBO, ≤ log p_θ(x_0) (nats)."""
        return -self.total

    def bits_per_dim(self) -> torch.Tensor:
        """Mean over examples of the total, in bits per dimension."""
        return self.total.mean() / (self.data_dim * math.log(2))


def variational_bound(x0: torch.Tensor, reverse: ReverseModel, schedule: NoiseSchedule, *,
                      decoder: str = "continuous", bins: int = 256,
                      generator: torch.Generator | None = None) -> DiffusionBound:
    r"""Monte Carlo estimate of every term of the bound for data ``x0`` (batch, …): one draw
    x_t ~ q(x_t|x_0) per example and t (unbiased for each term), ``reverse(x_t, t)`` giving
    (mean, logvar) of p_θ(x_{t−1}|x_t). As improved-diffusion's ``calc_bpd_loop``: T model
    evaluations per example. ``bins``: the discretized decoder's levels (``decoder_nll``)."""
    x0 = check_float_tensor("x0", x0)
    check_full_precision("x0", x0)  # a sum of T terms needs more digits than half precision
    if x0.dim() < 1 or len(x0) < 1:
        raise ValueError(f"x0 must be (batch, ...) with batch >= 1, got {list(x0.shape)}")
    check_callable("reverse", reverse)
    check_choice("decoder", decoder, DECODERS)
    check_count("bins", bins, minimum=2, maximum=MAX_BINS)
    check_generator("generator", generator)
    cols = []
    with torch.no_grad():
        for t in range(1, schedule.T + 1):
            xt = q_sample(x0, t, schedule, generator=generator)
            mean, logvar = reverse(xt, t)
            if t == 1:
                cols.append(decoder_nll(x0, mean, logvar, decoder, bins=bins))
            else:
                cols.append(denoising_term(x0, xt, t, mean, logvar, schedule))
        cols.append(prior_term(x0, schedule))
    return DiffusionBound(torch.stack(cols, -1), x0[0].numel())



__all__ = ["DECODERS", "DiffusionBound", "ReverseModel", "decoder_nll", "denoising_term",
           "mean_from_eps", "prior_term", "q_marginal", "q_posterior", "q_sample",
           "variational_bound", "x0_from_eps"]
