"""An exact test bed for the diffusion bound: Gaussian data, where the model likelihood and
every term of the bound are closed forms."""

from __future__ import annotations

import math

import torch

from ..checks import MAX_DRAWS, check_count, check_float_tensor, check_generator
from ..densities import gaussian_log_prob, mvn_log_prob
from .process import DiffusionBound, denoising_term, prior_term
from .schedules import VARIANCES, NoiseSchedule

TESTBED_VARIANCES = ("optimal", *VARIANCES)


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

    def _points(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Check points (..., d) and return them in float64 (the test bed's precision)."""
        check_float_tensor(name, x)
        if x.dim() < 1 or x.shape[-1] != self.d:
            raise ValueError(f"{name} must be (..., {self.d}) for this {self.d}-D test bed, got "
                             f"{list(x.shape)}")
        return x.to(torch.float64)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws of x_0, shape (n, d)."""
        check_count("n", n, maximum=MAX_DRAWS)
        check_generator("generator", generator)
        eps = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        return self.m + eps @ self.scale_tril.T

    def data_log_prob(self, x0: torch.Tensor) -> torch.Tensor:
        """log q(x_0) = log N(x_0; m, S), (n,)."""
        return mvn_log_prob(self._points("x0", x0), self.m, self.scale_tril)

    def reverse(self, xt: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The optimal reverse step as a :data:`ReverseModel` (for :func:`variational_bound`),
        computed in float64 and returned in ``xt``'s dtype."""
        t = self.schedule.check_t(t)
        x = self._points("xt", xt)
        return ((x @ self.M[t].T + self.b[t]).to(xt.dtype),
                self.logvar[t].expand(xt.shape[-1]).to(xt.dtype))

    def model_marginal(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, covariance) of p_θ(x_0): N(0, I) pushed through x_{t−1} = M_t x_t + b_t +
        σ_t ξ for t = T…1."""
        mu = torch.zeros(self.d, dtype=torch.float64)
        cov = torch.eye(self.d, dtype=torch.float64)
        for t in range(self.schedule.T, 0, -1):
            mu = self.M[t] @ mu + self.b[t]
            cov = self.M[t] @ cov @ self.M[t].T + torch.exp(self.logvar[t]) * torch.eye(
                self.d, dtype=torch.float64)
        return mu, 0.5 * (cov + cov.T)

    def log_likelihood(self, x0: torch.Tensor) -> torch.Tensor:
        """The model's exact log p_θ(x_0), (n,), nats."""
        x0 = self._points("x0", x0)
        mu, cov = self.model_marginal()
        return mvn_log_prob(x0, mu, torch.linalg.cholesky(cov))

    def bound_terms(self, x0: torch.Tensor) -> DiffusionBound:
        """Every term's exact expectation over the forward process, per example (n, T + 1)."""
        x0 = self._points("x0", x0)
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



__all__ = ["TESTBED_VARIANCES", "GaussianTestBed"]
