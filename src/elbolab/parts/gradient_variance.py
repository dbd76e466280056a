"""Part 4's gradient experiments: why the reparameterization trick.

Every estimator of :mod:`elbolab.gradients` is held against an exact gradient: the
closed-form ELBO gradient of the linear-Gaussian model of Part 1
(:meth:`~elbolab.parts.latent_models.LinearGaussianModel.exact_elbo_gradient`) and the
gradient of :math:`\\mathbb E_{\\mathcal N(\\mu,\\sigma^2)}[\\sum_j z_j^2] = \\sum_j(\\mu_j^2 +
\\sigma_j^2)`, which is :math:`(2\\mu, \\sigma^2)` in (mu, logvar). Each function returns plain
numbers and arrays for the notebook's tables, figures and validations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..densities import F64
from ..gradients import (
    ELBO_ESTIMATORS,
    EXPECTATION_ESTIMATORS,
    elbo_gradient_samples,
    expectation_gradient_samples,
    iwae_gradient_samples,
    signal_to_noise,
)
from .latent_models import LinearGaussianModel


def _log_likelihood(model: LinearGaussianModel, x: torch.Tensor):
    return lambda z: model.log_likelihood(x[None], z[:, None, :])[:, 0]


def linear_problem(d: int = 3, seed: int = 0, *, orthogonal: bool = False,
                   offset: float = 0.3) -> tuple[LinearGaussianModel, torch.Tensor, torch.Tensor,
                                                 torch.Tensor]:
    """A linear-Gaussian model (D = 8, σ_x = 0.7), one x drawn from it, and a q whose mean is
    the posterior's shifted by ``offset`` and whose log-variance is the posterior diagonal's
    plus ``offset``: (model, x, mu, logvar)."""
    model = LinearGaussianModel(latent_dim=d, data_dim=max(8, d), noise_std=0.7, seed=seed,
                                orthogonal=orthogonal)
    x = model.sample_data(1, torch.Generator().manual_seed(seed + 1))[0]
    post = model.exact_posterior(x[None])
    mu = post.mean[0] + offset
    logvar = 2 * torch.diagonal(post.scale_tril).log() + offset
    return model, x, mu, logvar


@dataclass
class Unbiasedness:
    """Per estimator: the largest |z| over the 2d parameters of the mean of ``n`` estimates
    against the exact gradient, and the estimates' mean variance per parameter."""

    max_abs_z: dict[str, float]
    variance: dict[str, float]
    n: int


def elbo_unbiasedness(d: int = 3, n: int = 20_000, seed: int = 0) -> Unbiasedness:
    """Every ELBO estimator's mean against the closed-form gradient."""
    model, x, mu, logvar = linear_problem(d, seed)
    exact = torch.cat(model.exact_elbo_gradient(x, mu, logvar)[:2])
    zs, var = {}, {}
    for i, est in enumerate(ELBO_ESTIMATORS):
        g = torch.cat(elbo_gradient_samples(_log_likelihood(model, x), mu, logvar, n,
                                            estimator=est,
                                            generator=torch.Generator().manual_seed(seed + i)),
                      dim=1)
        se = g.std(0, correction=1) / math.sqrt(n)
        zs[est] = ((g.mean(0) - exact).abs() / se).max().item()
        var[est] = g.var(0).mean().item()
    return Unbiasedness(zs, var, n)


@dataclass
class VarianceSweep:
    """Per-parameter variance of one-sample gradient estimates of E[Σz²] (mean over the d
    coordinates of the variance of ∂/∂mu), for each estimator along ``values``."""

    values: np.ndarray
    variance: dict[str, np.ndarray]
    max_abs_z: float  # the largest |z| of any estimator's mean against (2μ, σ²), all settings


def _second_moment_variances(mu, logvar, n, gen) -> tuple[dict[str, float], float]:
    out, worst = {}, 0.0
    exact = torch.cat([2 * mu, torch.exp(logvar)])
    for est in EXPECTATION_ESTIMATORS:
        g = torch.cat(expectation_gradient_samples(lambda z: (z * z).sum(-1), mu, logvar, n,
                                                   estimator=est, generator=gen), dim=1)
        out[est] = g[:, :len(mu)].var(0).mean().item()
        se = g.std(0, correction=1) / math.sqrt(n)
        worst = max(worst, ((g.mean(0) - exact).abs() / se).max().item())
    return out, worst


def variance_vs_dimension(dims=(1, 2, 5, 10, 20, 50), n: int = 4000, mu: float = 0.5,
                          seed: int = 0) -> VarianceSweep:
    """Variance of ∂/∂mu estimates of E_{N(μ1, I)}[Σ z²] against the dimension d."""
    gen = torch.Generator().manual_seed(seed)
    rows, worst = [], 0.0
    for d in dims:
        v, w = _second_moment_variances(torch.full((d,), mu, dtype=F64),
                                        torch.zeros(d, dtype=F64), n, gen)
        rows.append(v)
        worst = max(worst, w)
    return VarianceSweep(np.array(dims, float),
                         {e: np.array([r[e] for r in rows]) for e in EXPECTATION_ESTIMATORS},
                         worst)


def variance_vs_sigma(sigmas=(0.1, 0.3, 1.0, 3.0), d: int = 10, n: int = 4000, mu: float = 0.5,
                      seed: int = 0) -> VarianceSweep:
    """The same against σ at a fixed dimension."""
    gen = torch.Generator().manual_seed(seed)
    rows, worst = [], 0.0
    for s in sigmas:
        v, w = _second_moment_variances(torch.full((d,), mu, dtype=F64),
                                        torch.full((d,), 2 * math.log(s), dtype=F64), n, gen)
        rows.append(v)
        worst = max(worst, w)
    return VarianceSweep(np.array(sigmas, float),
                         {e: np.array([r[e] for r in rows]) for e in EXPECTATION_ESTIMATORS},
                         worst)


@dataclass
class LandingSweep:
    """Gradient variance (largest over parameters) of the STL and reparameterization
    estimators as q moves to the exact posterior: q's mean and log-variance are the
    posterior's plus ``distance``."""

    distance: np.ndarray
    stl: np.ndarray
    reparam: np.ndarray


def stl_vs_distance(distances=(1.0, 0.3, 0.1, 0.03, 0.01, 0.0), d: int = 3, n: int = 2000,
                    seed: int = 0) -> LandingSweep:
    """On a linear-Gaussian model with a diagonal posterior (orthogonal W)."""
    stl, rep = [], []
    for off in distances:
        model, x, mu, logvar = linear_problem(d, seed, orthogonal=True, offset=off)
        for est, out in (("stl", stl), ("reparam", rep)):
            g = elbo_gradient_samples(_log_likelihood(model, x), mu, logvar, n, estimator=est,
                                      generator=torch.Generator().manual_seed(seed))
            out.append(max(t.var(0).max().item() for t in g))
    return LandingSweep(np.array(distances, float), np.array(stl), np.array(rep))


@dataclass
class SnrSweep:
    """Signal-to-noise ratio (mean over parameters of |mean|/std of one estimate) of the
    IWAE-k gradient against k: encoder (q's mu and logvar) for the standard and the DReG
    estimator, decoder (the bias b); ``slope`` the least-squares slope of log SNR on log k,
    ``slope_se`` its bootstrap standard error (resampling the n estimates)."""

    ks: np.ndarray
    snr: dict[str, np.ndarray]
    slope: dict[str, float]
    slope_se: dict[str, float]


def snr_vs_k(ks=(1, 4, 16, 64, 256), n: int = 2000, d: int = 2, seed: int = 0,
             bootstrap: int = 200) -> SnrSweep:
    """Rainforth et al. (2018): encoder SNR ~ k^(-1/2), decoder SNR ~ k^(1/2); DReG (Tucker et
    al. 2018) keeps the encoder's from falling (its SNR grows like k^(1/2))."""
    model, x, mu, logvar = linear_problem(d, seed)
    inv_s2 = math.exp(-model.noise_logvar)

    def decoder_grad(z):
        return (x - z @ model.W.T - model.b) * inv_s2

    rng = np.random.default_rng(seed)
    boots = rng.integers(0, n, (bootstrap, n))
    snr: dict[str, list] = {"encoder": [], "encoder_dreg": [], "decoder": []}
    boot: dict[str, list] = {k: [] for k in snr}
    for k in ks:
        for est in ("iwae", "dreg"):
            g_mu, g_lv, g_b = iwae_gradient_samples(
                _log_likelihood(model, x), mu, logvar, k, n, estimator=est,
                generator=torch.Generator().manual_seed(seed + k), decoder_grad=decoder_grad)
            parts = {"encoder" if est == "iwae" else "encoder_dreg": torch.cat([g_mu, g_lv], 1)}
            if est == "iwae":
                parts["decoder"] = g_b
            for name, g in parts.items():
                snr[name].append(signal_to_noise(g).mean().item())
                arr = g.numpy()[boots]  # (B, n, P)
                boot[name].append((np.abs(arr.mean(1)) / arr.std(1, ddof=1)).mean(1))
    logk = np.log(np.array(ks, float))
    slope, slope_se = {}, {}
    for name in snr:
        slope[name] = float(np.polyfit(logk, np.log(snr[name]), 1)[0])
        b = np.array(boot[name]).T  # (B, len(ks))
        slope_se[name] = float(np.std([np.polyfit(logk, np.log(r), 1)[0] for r in b], ddof=1))
    return SnrSweep(np.array(ks, float), {k: np.array(v) for k, v in snr.items()}, slope,
                    slope_se)


@dataclass
class VAEGradientVariance:
    r"""The ELBO estimators on a trained VAE, per test image, with respect to q(z|x)'s
    parameters (μ, logvar: what the encoder's weights receive through the chain rule).

    ``variance[e]`` (images,): the total variance of one estimate, the trace of its covariance
    :math:`\mathbb E\lVert g-\bar g\rVert^2` over the 2L parameters; ``variance_se[e]`` its
    standard error (of the mean of the squared deviations). ``max_abs_z[e]``: the largest |z|
    of the estimator's mean against the reference over all images and parameters, each z with
    the standard errors of both means; ``z_threshold``: the two-sided Bonferroni bound for
    that many comparisons at a family-wise false-alarm rate of 1e-3. The reference is the mean
    of ``n_ref`` analytic-KL estimates of the same gradient: ``reference`` (images, 2L),
    (∂/∂μ, ∂/∂logvar), with its standard error ``reference_se``."""

    estimators: tuple[str, ...]
    variance: dict[str, np.ndarray]
    variance_se: dict[str, np.ndarray]
    max_abs_z: dict[str, float]
    z_threshold: float
    n: int
    n_ref: int
    params: int
    reference: np.ndarray
    reference_se: np.ndarray


def bonferroni_z(comparisons: int, alpha: float = 1e-3) -> float:
    """The |z| that ``comparisons`` two-sided normal tests must all stay under for a
    family-wise false-alarm probability ``alpha``: Φ⁻¹(1 − α / (2·comparisons))."""
    from scipy.stats import norm

    return float(norm.isf(alpha / (2 * comparisons)))


def vae_gradient_variance(model, x: torch.Tensor, *, n: int = 1000, n_ref: int = 10_000,
                          estimators: tuple[str, ...] = ELBO_ESTIMATORS,
                          seed: int = 0) -> VAEGradientVariance:
    """Every ELBO estimator of :mod:`elbolab.gradients` on a trained
    :class:`~elbolab.elbo.ELBOFramework` (any likelihood), for each image of ``x`` (N, D): n
    one-sample estimates each, held against a large-sample reference (there is no exact
    gradient here). Run it on a float64 copy of the model for clean variances."""
    with torch.no_grad():
        q = model.posterior(x)
        mus, logvars = q.mu, q.logvar
    var = {e: [] for e in estimators}
    var_se = {e: [] for e in estimators}
    worst = dict.fromkeys(estimators, 0.0)
    refs, ref_ses = [], []
    for i in range(len(x)):
        xi = x[i:i + 1]

        def log_lik(z, xi=xi):  # (m, L) -> (m,)
            return model.log_likelihood(xi, z[:, None, :])[:, 0]

        def draws(est: str, m: int, offset: int, mu=mus[i], lv=logvars[i], i=i) -> torch.Tensor:
            gen = torch.Generator(device=x.device).manual_seed(seed + 1000 * i + offset)
            return torch.cat(elbo_gradient_samples(log_lik, mu, lv, m, estimator=est,
                                                   generator=gen), dim=1).double()

        ref = draws("analytic_kl", n_ref, 999)
        ref_mean, ref_se = ref.mean(0), ref.std(0, correction=1) / math.sqrt(n_ref)
        refs.append(ref_mean.cpu().numpy())
        ref_ses.append(ref_se.cpu().numpy())
        for j, est in enumerate(estimators):
            g = draws(est, n, j)
            sq = (g - g.mean(0)).square().sum(1) * n / (n - 1)  # unbiased trace, per draw
            var[est].append(sq.mean().item())
            var_se[est].append(sq.std(correction=1).item() / math.sqrt(n))
            se = (g.std(0, correction=1).square() / n + ref_se.square()).sqrt()
            worst[est] = max(worst[est], ((g.mean(0) - ref_mean).abs() / se).max().item())
    params = 2 * mus.shape[1]
    return VAEGradientVariance(tuple(estimators), {e: np.array(v) for e, v in var.items()},
                               {e: np.array(v) for e, v in var_se.items()}, worst,
                               bonferroni_z(len(x) * params * len(estimators)), n, n_ref, params,
                               np.array(refs), np.array(ref_ses))


__all__ = ["LandingSweep", "SnrSweep", "Unbiasedness", "VAEGradientVariance", "VarianceSweep",
           "bonferroni_z", "elbo_unbiasedness", "linear_problem", "snr_vs_k",
           "stl_vs_distance", "vae_gradient_variance", "variance_vs_dimension",
           "variance_vs_sigma"]
