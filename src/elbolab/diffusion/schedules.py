r"""Noise schedules of a diffusion model: β_1…β_T and everything derived from them, in float64.

Time is 1-based as in the papers, and every per-time array has ``T + 1`` entries indexed by
``t`` itself (entry 0 is t = 0: β = 0, ᾱ = 1).
"""

from __future__ import annotations

import math

import torch

from ..checks import check_count, check_float_tensor, check_number, finite_range

# fixed reverse variances of DDPM (Ho et al. 2020, Sec. 3.2)
VARIANCES = ("posterior", "beta")
# Nichol & Dhariwal (2021), Sec. 3.2: β is clipped below 1 to avoid a singularity at t = T.
COSINE_MAX_BETA = 0.999


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


# The longest chain: 10^5 steps, 25 times improved-diffusion's 4000 (more only slows sampling).
MAX_T = 100_000


def linear_schedule(T: int = 1000, beta_start: float | None = None,
                    beta_end: float | None = None) -> NoiseSchedule:
    """β_t linear from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4: 1e-4 to 0.02 for
    T = 1000). By default both ends scale with 1000/T, as improved-diffusion's
    ``get_named_beta_schedule("linear")`` does, so that ᾱ_T stays near e^{−10} (2e-5 to 4e-5
    for T ≥ 100; smaller T destroy the data more completely)."""
    T = check_count("T", T, maximum=MAX_T)
    scale = 1000.0 / T
    lo = 1e-4 * scale if beta_start is None else check_number("beta_start", beta_start)
    hi = 0.02 * scale if beta_end is None else check_number("beta_end", beta_end)
    if not 0 < lo <= hi < 1:
        raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {lo:g}, {hi:g} (for "
                         f"T = {T} the default scaled end point is {0.02 * scale:g}; use "
                         f"T >= 21 or give beta_end)")
    return NoiseSchedule(torch.linspace(lo, hi, T, dtype=torch.float64), f"linear {lo:g}..{hi:g}")


def cosine_schedule(T: int = 1000, s: float = 0.008) -> NoiseSchedule:
    r""":math:`\bar\alpha_t = f(t)/f(0)`, :math:`f(t)=\cos^2\!\big(\frac{t/T+s}{1+s}
    \frac\pi2\big)` (Nichol & Dhariwal 2021, Eq. 17), β_t = 1 − ᾱ_t/ᾱ_{t−1} clipped at
    ``COSINE_MAX_BETA``."""
    T = check_count("T", T, maximum=MAX_T)
    check_number("s", s, minimum=0.0, exclusive=True)
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    log_f = 2 * torch.log(torch.cos((steps + s) / (1 + s) * math.pi / 2).clamp_min(0))
    betas = -torch.expm1(log_f[1:] - log_f[:-1])
    return NoiseSchedule(betas.clamp(max=COSINE_MAX_BETA), f"cosine s={s:g}")


__all__ = ["COSINE_MAX_BETA", "MAX_T", "VARIANCES", "NoiseSchedule", "cosine_schedule",
           "linear_schedule"]
