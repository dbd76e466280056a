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
event dimensions and returned per example, in nats. :class:`GaussianTestBed` gives every term
and the exact model likelihood in closed form for Gaussian data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .checks import check_count, check_float_tensor, finite_range
from .densities import gaussian_log_prob, mvn_log_prob
from .kl import gaussian_kl

VARIANCES = ("posterior", "beta")
TESTBED_VARIANCES = ("optimal", *VARIANCES)
DECODERS = ("continuous", "discretized")
# Nichol & Dhariwal (2021), Sec. 3.2: β is clipped below 1 to avoid a singularity at t = T.
COSINE_MAX_BETA = 0.999

# (x_t, t) -> (mean, logvar) of p_θ(x_{t-1} | x_t); t is an int in 1..T
ReverseModel = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


class NoiseSchedule:
    r"""β_1…β_T and everything derived from them, in float64, indexed by t = 0…T.

    ``log_alpha_bar`` is a cumulative sum of :math:`\log(1-\beta_t)` (``log1p``), and
    :math:`\log(1-\bar\alpha_t)` is ``log(-expm1(log ᾱ_t))``, so neither loses digits when
    ᾱ_t is close to 0 or 1. Posterior q(x_{t−1}|x_t,x_0) (Ho et al. 2020, Eqs. 6–7):

    .. math:: \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\beta_t}{1-\bar\alpha_t}x_0
              + \frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t,\qquad
              \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t
    """

    def __init__(self, betas: torch.Tensor, name: str = "custom"):
        betas = check_float_tensor("betas", betas)
        if betas.dim() != 1 or len(betas) < 1:
            raise ValueError(f"betas must be a 1-D tensor of β_1..β_T, got shape "
                             f"{list(betas.shape)}")
        lo, hi = finite_range("betas", betas)
        if not (lo > 0 and hi < 1):
            raise ValueError(f"betas must lie in (0, 1), got [{lo:.3g}, {hi:.3g}]")
        b = torch.cat([torch.zeros(1, dtype=torch.float64), betas.detach().double().cpu()])
        self.name = name
        self.T = len(betas)
        self.betas = b
        self.log_alphas = torch.log1p(-b)
        self.log_alpha_bar = torch.cumsum(self.log_alphas, 0)
        self.alpha_bar = torch.exp(self.log_alpha_bar)
        # log(1 − ᾱ_t); entry 0 is log 0 = −inf
        self.log_one_minus_alpha_bar = torch.log(-torch.expm1(self.log_alpha_bar))
        prev = torch.cat([torch.zeros(1, dtype=torch.float64), self.log_alpha_bar[:-1]])
        log_one_minus_prev = torch.log(-torch.expm1(prev))  # −inf at t = 1 (ᾱ_0 = 1)
        log_b = torch.log(b)
        # β̃_t, in log space; t = 1 gives −inf (q(x_0|x_1,x_0) is a point mass)
        self.posterior_logvar = log_b + log_one_minus_prev - self.log_one_minus_alpha_bar
        self.posterior_coef_x0 = torch.exp(0.5 * prev + log_b - self.log_one_minus_alpha_bar)
        self.posterior_coef_xt = torch.exp(0.5 * self.log_alphas + log_one_minus_prev
                                           - self.log_one_minus_alpha_bar)
        self.posterior_logvar[0] = self.posterior_coef_x0[0] = self.posterior_coef_xt[0] = 0.0

    def __repr__(self) -> str:
        return (f"NoiseSchedule({self.name}, T={self.T}, β_1={self.betas[1]:.3g}, "
                f"β_T={self.betas[-1]:.3g}, ᾱ_T={self.alpha_bar[-1]:.3g})")

    @property
    def log_snr(self) -> torch.Tensor:
        """log SNR_t = log ᾱ_t − log(1 − ᾱ_t) (Kingma et al. 2021), entries t = 0…T."""
        return self.log_alpha_bar - self.log_one_minus_alpha_bar

    def reverse_logvar(self, kind: str = "posterior") -> torch.Tensor:
        r"""log σ_t² of a fixed-variance reverse step, t = 0…T: ``"posterior"`` σ² = β̃_t
        ("fixed small") or ``"beta"`` σ² = β_t ("fixed large"), Ho et al. 2020 Sec. 3.2. As in
        improved-diffusion (``posterior_log_variance_clipped``), t = 1, where β̃_1 = 0, uses
        β̃_2; entry 0 repeats entry 1."""
        if kind not in VARIANCES:
            raise ValueError(f"kind must be one of {VARIANCES}, got {kind!r}")
        out = (self.posterior_logvar if kind == "posterior" else torch.log(self.betas)).clone()
        if kind == "posterior":
            out[1] = self.posterior_logvar[2] if self.T >= 2 else math.log(self.betas[1])
        out[0] = out[1]
        return out

    def check_t(self, t: int, lowest: int = 1) -> int:
        if isinstance(t, bool) or not isinstance(t, int) or not lowest <= t <= self.T:
            raise ValueError(f"t must be an integer in {lowest}..{self.T}, got {t!r}")
        return t


def linear_schedule(T: int = 1000, beta_start: float | None = None,
                    beta_end: float | None = None) -> NoiseSchedule:
    """β_t linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4: 1e-4 to 0.02 for
    T = 1000). By default both ends scale with 1000/T, as improved-diffusion's
    ``get_named_beta_schedule("linear")`` does, so that ᾱ_T stays near e^{−10} (2e-5 to 4e-5
    for T ≥ 100; smaller T destroy the data more completely)."""
    T = check_count("T", T)
    scale = 1000.0 / T
    lo = 1e-4 * scale if beta_start is None else beta_start
    hi = 0.02 * scale if beta_end is None else beta_end
    if not 0 < lo <= hi < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {lo:g}, {hi:g} (for "
                         f"T = {T} the default scaled end point is {0.02 * scale:g}; use "
                         f"T >= 21 or give beta_end)")
    return NoiseSchedule(torch.linspace(lo, hi, T, dtype=torch.float64), f"linear {lo:g}..{hi:g}")


def cosine_schedule(T: int = 1000, s: float = 0.008) -> NoiseSchedule:
    r""":math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t)=\cos^2\!\big(\frac{t/T+s}{1+s}
    \frac\pi2\big)` (Nichol & Dhariwal 2021, Eq. 17), β_t = 1 − ᾱ_t/ᾱ_{t−1} clipped at
    ``COSINE_MAX_BETA``."""
    T = check_count("T", T)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"s must be a positive offset, got {s}")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    log_f = 2 * torch.log(torch.cos((steps + s) / (1 + s) * math.pi / 2).clamp_min(0))
    betas = -torch.expm1(log_f[1:] - log_f[:-1])
    return NoiseSchedule(betas.clamp(max=COSINE_MAX_BETA), f"cosine s={s:g}")


def _coef(values: torch.Tensor, t: int, like: torch.Tensor) -> torch.Tensor:
    return values[t].to(dtype=like.dtype, device=like.device)


def q_marginal(x0: torch.Tensor, t: int, schedule: NoiseSchedule):
    r"""(mean, logvar) of :math:`q(x_t\mid x_0) = \mathcal N(\sqrt{\bar\alpha_t}x_0,
    (1-\bar\alpha_t)I)`, both of ``x0``'s shape and dtype. ``t`` in 1…T."""
    t = schedule.check_t(t)
    mean = x0 * _coef(schedule.alpha_bar, t, x0).sqrt()
    return mean, torch.full_like(x0, float(schedule.log_one_minus_alpha_bar[t]))


def q_sample(x0: torch.Tensor, t: int, schedule: NoiseSchedule, *,
             generator: torch.Generator | None = None,
             eps: torch.Tensor | None = None) -> torch.Tensor:
    """Draw x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε (Ho et al. 2020, Eq. 4). Pass ``eps`` or ``generator``."""
    mean, logvar = q_marginal(x0, t, schedule)
    if eps is None:
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    elif eps.shape != x0.shape:
        raise ValueError(f"eps must have x0's shape {list(x0.shape)}, got {list(eps.shape)}")
    return torch.addcmul(mean, torch.exp(0.5 * logvar), eps)


def q_posterior(x0: torch.Tensor, xt: torch.Tensor, t: int, schedule: NoiseSchedule):
    r"""(mean, logvar) of :math:`q(x_{t-1}\mid x_t, x_0) = \mathcal N(\tilde\mu_t,
    \tilde\beta_t I)` (see :class:`NoiseSchedule`). ``x0`` and ``xt`` broadcast; ``t`` in 2…T
    (at t = 1 the posterior is a point mass at x_0)."""
    t = schedule.check_t(t, lowest=2)
    mean = _coef(schedule.posterior_coef_x0, t, x0) * x0 + _coef(
        schedule.posterior_coef_xt, t, xt) * xt
    return mean, torch.full_like(mean, float(schedule.posterior_logvar[t]))


def x0_from_eps(xt: torch.Tensor, t: int, eps: torch.Tensor,
                schedule: NoiseSchedule) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t: the data a noise prediction implies."""
    t = schedule.check_t(t)
    return (xt - eps * float(torch.exp(0.5 * schedule.log_one_minus_alpha_bar[t]))) / float(
        torch.exp(0.5 * schedule.log_alpha_bar[t]))


def mean_from_eps(xt: torch.Tensor, t: int, eps: torch.Tensor,
                  schedule: NoiseSchedule) -> torch.Tensor:
    r"""The reverse mean of an ε-prediction model, :math:`\mu_\theta = \frac1{\sqrt{\alpha_t}}
    \big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\hat\varepsilon\big)` (Ho et al. 2020,
    Eq. 11); equal to :math:`\tilde\mu_t(x_t, \hat x_0)` for t ≥ 2, and to x̂_0 at t = 1."""
    t = schedule.check_t(t)
    b = float(schedule.betas[t])
    return (xt - eps * (b / float(torch.exp(0.5 * schedule.log_one_minus_alpha_bar[t])))) / (
        float(torch.exp(0.5 * schedule.log_alphas[t])))


# -- the terms of the bound ------------------------------------------------------------------
def _sum_event(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).sum(-1) if v.dim() > 1 else v


def prior_term(x0: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """L_T = KL(q(x_T|x_0) ‖ N(0, I)) per example (batch,), nats; via the core ``gaussian_kl``.
    No parameters: it measures only how completely the forward process destroys x_0."""
    mean, logvar = q_marginal(x0, schedule.T, schedule)
    zero = torch.zeros_like(mean)
    return _sum_event(gaussian_kl(mean, logvar, zero, zero, validate=False))


def denoising_term(x0: torch.Tensor, xt: torch.Tensor, t: int, model_mean: torch.Tensor,
                   model_logvar: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    r"""One sample of L_{t−1}: :math:`\mathrm{KL}(q(x_{t-1}|x_t,x_0)\,\|\,\mathcal N(\mu_\theta,
    \sigma_t^2))` at the given x_t, summed over event dims → (batch,), nats; ``t`` in 2…T.
    ``model_logvar`` broadcasts (a scalar tensor for a fixed variance)."""
    mean, logvar = q_posterior(x0, xt, t, schedule)
    return _sum_event(gaussian_kl(mean, logvar, model_mean,
                                  torch.as_tensor(model_logvar, dtype=mean.dtype,
                                                  device=mean.device).expand_as(mean),
                                  validate=False))


def _log_ndtr_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Φ(b) − Φ(a)) for a ≤ b, accurate in both tails: intervals right of 0 are mirrored
    (Φ(b) − Φ(a) = Φ(−a) − Φ(−b)) so the subtraction is always of the smaller tail."""
    flip = a > 0
    lo = torch.where(flip, -b, a)
    hi = torch.where(flip, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log(-torch.expm1(log_lo - log_hi))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor,
                                        logvar: torch.Tensor, *, bins: int = 256) -> torch.Tensor:
    r"""Elementwise log-probability of the bin holding ``x`` under N(mean, e^logvar), for data
    on the ``bins``-level grid of [−1, 1] (8-bit pixels scaled: x = 2k/255 − 1). Ho et al.
    2020, Eq. 13: each bin is [x − 1/255, x + 1/255], with the end bins extended to ±∞, so the
    probabilities of all bins sum to 1 exactly. Computed with ``log_ndtr`` in both tails.
    Shapes broadcast; nats (divide the summed −log p by D·ln 2 for bits/dim)."""
    lo_x, hi_x = finite_range("x", x)
    if lo_x < -1 or hi_x > 1:
        raise ValueError(f"x must be scaled to [-1, 1], got [{lo_x:.4g}, {hi_x:.4g}]")
    half = 1.0 / (bins - 1)
    inv_std = torch.exp(-0.5 * logvar)
    lower = torch.where(x < -1 + half, -math.inf, (x - half - mean) * inv_std)
    upper = torch.where(x > 1 - half, math.inf, (x + half - mean) * inv_std)
    return _log_ndtr_diff(lower, upper)


def decoder_nll(x0: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                decoder: str = "continuous") -> torch.Tensor:
    """L_0 = −log p_θ(x_0|x_1) per example (batch,), nats: ``"continuous"`` a Gaussian density,
    ``"discretized"`` the 8-bit bin probability of :func:`discretized_gaussian_log_likelihood`."""
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    logvar = torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device).expand_as(mean)
    if decoder == "continuous":
        return -_sum_event(gaussian_log_prob(x0, mean, logvar, validate=False))
    return -_sum_event(discretized_gaussian_log_likelihood(x0, mean, logvar))


@dataclass
class DiffusionBound:
    """The bound's terms per example: ``terms[:, k]`` is L_k, k = 0…T (L_0 the decoder, L_T the
    prior), nats. ``total`` = Σ_k L_k ≥ −log p_θ(x_0)."""

    terms: torch.Tensor
    data_dim: int

    @property
    def total(self) -> torch.Tensor:
        return self.terms.sum(-1)

    def bits_per_dim(self) -> torch.Tensor:
        """Mean over examples of the total, in bits per dimension."""
        return self.total.mean() / (self.data_dim * math.log(2))


def variational_bound(x0: torch.Tensor, reverse: ReverseModel, schedule: NoiseSchedule, *,
                      decoder: str = "continuous", generator: torch.Generator | None = None,
                      ) -> DiffusionBound:
    r"""Monte Carlo estimate of every term of the bound for data ``x0`` (batch, …): one draw
    x_t ~ q(x_t|x_0) per example and t (unbiased for each term), ``reverse(x_t, t)`` giving
    (mean, logvar) of p_θ(x_{t−1}|x_t). As improved-diffusion's ``calc_bpd_loop``: T model
    evaluations per example."""
    x0 = check_float_tensor("x0", x0)
    cols = []
    with torch.no_grad():
        for t in range(1, schedule.T + 1):
            xt = q_sample(x0, t, schedule, generator=generator)
            mean, logvar = reverse(xt, t)
            if t == 1:
                cols.append(decoder_nll(x0, mean, logvar, decoder))
            else:
                cols.append(denoising_term(x0, xt, t, mean, logvar, schedule))
        cols.append(prior_term(x0, schedule))
    return DiffusionBound(torch.stack(cols, -1), x0[0].numel())


# -- an exact test bed ------------------------------------------------------------------------
class GaussianTestBed:
    r"""Gaussian data :math:`x_0\sim\mathcal N(m, S)` in d dimensions, where everything is exact.

    Every :math:`q(x_t) = \mathcal N(\sqrt{\bar\alpha_t}m, \bar\alpha_t S + (1-\bar\alpha_t)I)`,
    so the best reverse mean of the DDPM family :math:`p_\theta(x_{t-1}|x_t) = \mathcal N(
    \mu_\theta(x_t), \sigma_t^2 I)` (σ_t fixed, :meth:`NoiseSchedule.reverse_logvar`) is the
    conditional expectation :math:`\mathbb E[\tilde\mu_t(x_t,x_0)\mid x_t] = M_t x_t + b_t`
    with :math:`\mathbb E[x_0|x_t] = m + \sqrt{\bar\alpha_t}SC_t^{-1}(x_t - \sqrt{\bar\alpha_t}
    m)`, :math:`C_t = \bar\alpha_t S + (1-\bar\alpha_t)I`. That model is linear-Gaussian, so

    * its exact marginal :math:`\log p_\theta(x_0)` follows by propagating N(0, I) through
      the T reverse steps (:meth:`log_likelihood`), and
    * every bound term is a closed form (:meth:`bound_terms`): the KL at the mean of x_t
      (:func:`elbolab.kl.gaussian_kl`) plus the spread :math:`(1-\bar\alpha_t)\lVert c_t I -
      M_t\rVert_F^2/2\sigma_t^2` that the expectation over x_t adds.

    ``variance`` picks σ_t²: ``"posterior"`` (β̃_t) or ``"beta"`` (β_t) as in DDPM, or
    ``"optimal"``, the best isotropic variance given the optimal mean (Bao et al. 2022,
    Analytic-DPM, Thm. 1): :math:`\sigma_t^{*2} = \tilde\beta_t + c_t^2\,\mathrm{tr}\,
    \mathrm{Cov}(x_0|x_t)/d` with c_t the x_0-coefficient of μ̃_t (at t = 1, tr Cov(x_0|x_1)/d).
    All in float64.
    """

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor, schedule: NoiseSchedule,
                 variance: str = "optimal"):
        mean = check_float_tensor("mean", mean).double()
        cov = check_float_tensor("cov", cov).double()
        d = mean.shape[-1]
        if mean.dim() != 1 or cov.shape != (d, d):
            raise ValueError(f"mean must be (d,) and cov (d, d); got {list(mean.shape)} and "
                             f"{list(cov.shape)}")
        self.scale_tril, info = torch.linalg.cholesky_ex(cov)
        if int(info) != 0:
            raise ValueError("cov must be a symmetric positive-definite (d, d) matrix; its "
                             f"Cholesky factorization fails at column {int(info)}")
        if variance not in TESTBED_VARIANCES:
            raise ValueError(f"variance must be one of {TESTBED_VARIANCES}, got {variance!r}")
        self.m, self.S, self.d, self.schedule, self.variance = mean, cov, d, schedule, variance
        self.logvar = (schedule.reverse_logvar(variance) if variance != "optimal"
                       else torch.zeros(schedule.T + 1, dtype=torch.float64))
        eye = torch.eye(d, dtype=torch.float64)
        T = schedule.T
        self.M = torch.zeros(T + 1, d, d, dtype=torch.float64)
        self.b = torch.zeros(T + 1, d, dtype=torch.float64)
        for t in range(1, T + 1):
            ab = float(schedule.alpha_bar[t])
            C = ab * cov + (1 - ab) * eye
            K = math.sqrt(ab) * torch.linalg.solve(C, cov).T  # S C⁻¹ (C, S symmetric)
            # E[x0|xt] = (I − √ᾱ K) m + K xt
            if t == 1:  # the decoder mean is E[x0 | x1]
                c0, ct = 1.0, 0.0
            else:
                c0, ct = float(schedule.posterior_coef_x0[t]), float(schedule.posterior_coef_xt[t])
            self.M[t] = c0 * K + ct * eye
            self.b[t] = c0 * (mean - math.sqrt(ab) * (K @ mean))
            if variance == "optimal":
                posterior_cov = cov - math.sqrt(ab) * K @ cov  # Cov(x0 | xt)
                beta_tilde = 0.0 if t == 1 else math.exp(float(schedule.posterior_logvar[t]))
                self.logvar[t] = math.log(beta_tilde + c0**2 * float(posterior_cov.trace()) / d)
        if variance == "optimal":
            self.logvar[0] = self.logvar[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of x_0, shape (n, d)."""
        eps = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        return self.m + eps @ self.scale_tril.T

    def data_log_prob(self, x0: torch.Tensor) -> torch.Tensor:
        """log q(x_0) = log N(x_0; m, S), (n,)."""
        return mvn_log_prob(x0, self.m, self.scale_tril)

    def reverse(self, xt: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The optimal reverse step as a :data:`ReverseModel` (for :func:`variational_bound`)."""
        return xt @ self.M[t].T + self.b[t], self.logvar[t].expand(xt.shape[-1])

    def model_marginal(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, covariance) of p_θ(x_0): N(0, I) pushed through x_{t−1} = M_t x_t + b_t +
        σ_t ξ for t = T…1."""
        mu = torch.zeros(self.d, dtype=torch.float64)
        cov = torch.eye(self.d, dtype=torch.float64)
        for t in range(self.schedule.T, 0, -1):
            mu = self.M[t] @ mu + self.b[t]
            cov = self.M[t] @ cov @ self.M[t].T + torch.exp(self.logvar[t]) * torch.eye(self.d)
        return mu, 0.5 * (cov + cov.T)

    def log_likelihood(self, x0: torch.Tensor) -> torch.Tensor:
        """The model's exact log p_θ(x_0), (n,), nats."""
        mu, cov = self.model_marginal()
        return mvn_log_prob(x0, mu, torch.linalg.cholesky(cov))

    def bound_terms(self, x0: torch.Tensor) -> DiffusionBound:
        """Every term's exact expectation over the forward process, per example (n, T + 1)."""
        sch, eye = self.schedule, torch.eye(self.d, dtype=torch.float64)
        cols = []
        for t in range(1, sch.T + 1):
            ab = float(sch.alpha_bar[t])
            xt_mean = math.sqrt(ab) * x0  # E[x_t | x_0]
            model_mean, model_logvar = self.reverse(xt_mean, t)
            var = math.exp(float(self.logvar[t]))
            if t == 1:
                spread = (1 - ab) * float((self.M[1] ** 2).sum()) / (2 * var)
                at_mean = -gaussian_log_prob(x0, model_mean, model_logvar,
                                             validate=False).sum(-1)
            else:
                D = float(sch.posterior_coef_xt[t]) * eye - self.M[t]
                spread = (1 - ab) * float((D**2).sum()) / (2 * var)
                at_mean = denoising_term(x0, xt_mean, t, model_mean, model_logvar, sch)
            cols.append(at_mean + spread)
        cols.append(prior_term(x0, sch))
        return DiffusionBound(torch.stack(cols, -1), self.d)

