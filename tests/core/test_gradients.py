"""Gradient estimators against exact gradients (issue 16).

Oracles: autograd on the closed-form ELBO of the linear-Gaussian model in float64 (for the
closed-form gradient, to 1e-10); the closed-form gradient (for each estimator's mean, within 4
standard errors of the mean of n i.i.d. estimates); the exact posterior (STL's zero variance);
a paired Monte Carlo difference (DReG against the standard IWAE gradient)."""

from __future__ import annotations

import math

import pytest
import torch

from elbolab.gradients import (
    ELBO_ESTIMATORS,
    EXPECTATION_ESTIMATORS,
    elbo_gradient_samples,
    expectation_gradient_samples,
    iwae_gradient_samples,
    signal_to_noise,
    surrogate_objective,
)
from elbolab.parts.latent_models import GaussianProposal, LinearGaussianModel

F64 = torch.float64


def _problem(d=3, seed=0, orthogonal=False):
    model = LinearGaussianModel(latent_dim=d, data_dim=8, noise_std=0.7, seed=seed,
                                orthogonal=orthogonal)
    x = model.sample_data(1, torch.Generator().manual_seed(seed + 1))[0]
    mu = torch.linspace(-0.5, 0.5, d, dtype=F64)
    logvar = torch.linspace(-1.0, 0.3, d, dtype=F64)
    return model, x, mu, logvar


def _log_lik(model, x):
    return lambda z: model.log_likelihood(x[None], z[:, None, :])[:, 0]


def _within_4_se(samples, exact):
    mean = samples.mean(0)
    se = samples.std(0, correction=1) / math.sqrt(len(samples))
    z = (mean - exact).abs() / se
    assert bool((z < 4).all()), f"z-scores {z.tolist()}"


def test_closed_form_gradient_equals_autograd_on_the_closed_form_elbo():
    model, x, mu, logvar = _problem(d=4)
    g_mu, g_lv, g_b = model.exact_elbo_gradient(x, mu, logvar)
    m, lv = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    b = model.b.clone()
    model.b = b.requires_grad_()
    elbo = model.exact_elbo(x[None], GaussianProposal(m[None], torch.diag(torch.exp(0.5 * lv))))
    a_mu, a_lv, a_b = torch.autograd.grad(elbo.sum(), (m, lv, model.b))
    for ours, auto in ((g_mu, a_mu), (g_lv, a_lv), (g_b, a_b)):
        assert (ours - auto).abs().max().item() < 1e-10  # float64, a few dozen operations


@pytest.mark.parametrize("estimator", ELBO_ESTIMATORS)
def test_every_elbo_estimator_is_unbiased(estimator):
    model, x, mu, logvar = _problem(d=3)
    exact_mu, exact_lv, _ = model.exact_elbo_gradient(x, mu, logvar)
    g_mu, g_lv = elbo_gradient_samples(_log_lik(model, x), mu, logvar, 20_000, estimator=estimator,
                                generator=torch.Generator().manual_seed(3))
    _within_4_se(g_mu, exact_mu)
    _within_4_se(g_lv, exact_lv)


@pytest.mark.parametrize("estimator", EXPECTATION_ESTIMATORS)
def test_every_expectation_estimator_is_unbiased_for_the_second_moment(estimator):
    # E_{N(μ, σ²)}[Σ z²] = Σ(μ² + σ²): ∂/∂μ = 2μ, ∂/∂logvar = σ²
    mu = torch.tensor([0.3, -1.0, 2.0], dtype=F64)
    logvar = torch.tensor([0.0, -0.5, 0.4], dtype=F64)
    g_mu, g_lv = expectation_gradient_samples(lambda z: (z * z).sum(-1), mu, logvar, 20_000,
                                       estimator=estimator,
                                       generator=torch.Generator().manual_seed(4))
    _within_4_se(g_mu, 2 * mu)
    _within_4_se(g_lv, torch.exp(logvar))


def test_reparameterization_has_lower_variance_than_the_score_function_and_baseline_helps():
    mu, logvar = torch.full((10,), 0.5, dtype=F64), torch.zeros(10, dtype=F64)
    var = {}
    for est in EXPECTATION_ESTIMATORS:
        g_mu, _ = expectation_gradient_samples(lambda z: (z * z).sum(-1), mu, logvar, 4000,
                                        estimator=est, generator=torch.Generator().manual_seed(5))
        var[est] = g_mu.var(0).mean().item()
    # theory at σ = 1, μ = 0.5, d = 10: reparam Var[2z] = 4; the score function's is in the
    # hundreds (f carries all d coordinates' spread); the baseline removes E[f]
    assert var["reparam"] < 5 and var["score"] > 20 * var["reparam"]
    assert var["score_loo"] < var["score"]


def test_sticking_the_landing_has_zero_variance_at_the_exact_posterior():
    model, x, _, _ = _problem(d=3, orthogonal=True)  # the posterior is a diagonal Gaussian
    post = model.exact_posterior(x[None])
    mu, logvar = post.mean[0], 2 * torch.diagonal(post.scale_tril).log()
    assert (post.scale_tril - torch.diag(torch.diagonal(post.scale_tril))).abs().max() < 1e-14
    stl = elbo_gradient_samples(_log_lik(model, x), mu, logvar, 500, estimator="stl",
                         generator=torch.Generator().manual_seed(6))
    rep = elbo_gradient_samples(_log_lik(model, x), mu, logvar, 500, estimator="reparam",
                         generator=torch.Generator().manual_seed(6))
    assert max(g.var(0).max().item() for g in stl) < 1e-20
    assert min(g.var(0).max().item() for g in rep) > 1e-2


def test_dreg_equals_the_standard_iwae_gradient_in_expectation():
    model, x, mu, logvar = _problem(d=2)
    out = {}
    for est in ("iwae", "dreg"):
        out[est] = iwae_gradient_samples(_log_lik(model, x), mu, logvar, 8, 4000, estimator=est,
                                  generator=torch.Generator().manual_seed(7))
    for a, b in zip(out["iwae"], out["dreg"], strict=True):
        diff = a - b  # paired: the same draws
        z = diff.mean(0).abs() / (diff.std(0, correction=1) / math.sqrt(len(diff)))
        assert bool((z < 4).all()), z


def test_iwae_with_k_1_is_the_reparameterized_elbo_gradient():
    model, x, mu, logvar = _problem(d=2)
    a = iwae_gradient_samples(_log_lik(model, x), mu, logvar, 1, 50, estimator="iwae",
                       generator=torch.Generator().manual_seed(8))
    b = elbo_gradient_samples(_log_lik(model, x), mu, logvar, 50, estimator="reparam",
                       generator=torch.Generator().manual_seed(8))
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-12)


def test_encoder_snr_falls_with_k_and_dreg_keeps_it():
    model, x, mu, logvar = _problem(d=2)
    snr = {}
    for est in ("iwae", "dreg"):
        for k in (1, 64):
            g_mu, _ = iwae_gradient_samples(_log_lik(model, x), mu, logvar, k, 2000, estimator=est,
                                     generator=torch.Generator().manual_seed(9))
            snr[est, k] = signal_to_noise(g_mu).mean().item()
    assert snr["iwae", 64] < snr["iwae", 1] / 2  # Rainforth et al.: ~ k^(-1/2), so ~1/8 here
    assert snr["dreg", 64] > snr["iwae", 64] * 4


@pytest.mark.parametrize(("kwargs", "error", "needle"), [
    ({"estimator": "magic"}, ValueError, "estimator must be one of"),
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"estimator": "score_loo", "n": 1}, ValueError, "leave-one-out"),
])
def test_bad_input_names_the_argument(kwargs, error, needle):
    args = {"estimator": "score", "n": 10, **kwargs}
    with pytest.raises(error, match=needle):
        expectation_gradient_samples(lambda z: z.sum(-1), torch.zeros(2, dtype=F64),
                              torch.zeros(2, dtype=F64), args["n"], estimator=args["estimator"])


def test_iwae_bad_k_and_estimator():
    model, x, mu, logvar = _problem(d=2)
    with pytest.raises(ValueError, match="k must be >= 1"):
        iwae_gradient_samples(_log_lik(model, x), mu, logvar, 0, 10, estimator="iwae")
    with pytest.raises(ValueError, match="estimator must be one of"):
        iwae_gradient_samples(_log_lik(model, x), mu, logvar, 4, 10, estimator="stl")


# -- the training surrogate (surrogate_objective): per-row gradients of a batch of copies -----

def _surrogate_grads(model, x, mu, logvar, k, gradient, n, seed, beta=1.0):
    """n independent per-row gradients (n, d) of the surrogate, from a batch of n copies of
    (x, mu, logvar): row b's gradient depends only on row b's draws."""
    m = mu.expand(n, -1).clone().requires_grad_()
    lv = logvar.expand(n, -1).clone().requires_grad_()

    def log_lik(z):  # (k, n, d) -> (k, n)
        return model.log_likelihood(x[None], z.reshape(-1, z.shape[-1])[:, None, :])[:, 0] \
            .view(z.shape[:-1])

    res = surrogate_objective(log_lik, m, lv, k, gradient=gradient, beta=beta,
                              generator=torch.Generator().manual_seed(seed))
    g_mu, g_lv = torch.autograd.grad(res.objective.sum(), (m, lv))
    return res, g_mu, g_lv


@pytest.mark.parametrize("gradient", ["reparam", "stl"])
def test_surrogate_elbo_gradients_are_unbiased_for_the_exact_gradient(gradient):
    model, x, mu, logvar = _problem(d=3)
    exact_mu, exact_lv, _ = model.exact_elbo_gradient(x, mu, logvar)
    _, g_mu, g_lv = _surrogate_grads(model, x, mu, logvar, 1, gradient, 20_000, seed=5)
    _within_4_se(g_mu, exact_mu)
    _within_4_se(g_lv, exact_lv)


@pytest.mark.parametrize(("gradient", "estimator"), [("reparam", "iwae"), ("dreg", "dreg")])
def test_surrogate_iwae_gradient_equals_the_written_out_estimator(gradient, estimator):
    # one batch row, the same ε (both draw (k, d) normals from the same seed): autograd through
    # the surrogate (a hook for DReG) against the closed formulas of iwae_gradient_samples
    model, x, mu, logvar = _problem(d=3)
    _, g_mu, g_lv = _surrogate_grads(model, x, mu, logvar, 7, gradient, 1, seed=6)
    w_mu, w_lv = iwae_gradient_samples(_log_lik(model, x), mu, logvar, 7, 1, estimator=estimator,
                                       generator=torch.Generator().manual_seed(6))
    assert torch.allclose(g_mu, w_mu, rtol=1e-10, atol=1e-12)  # float64, same arithmetic
    assert torch.allclose(g_lv, w_lv, rtol=1e-10, atol=1e-12)


def test_surrogate_dreg_equals_the_iwae_gradient_in_expectation():
    # paired on the same draws: the mean difference within 4 standard errors of 0
    model, x, mu, logvar = _problem(d=3)
    _, a_mu, a_lv = _surrogate_grads(model, x, mu, logvar, 10, "reparam", 20_000, seed=7)
    _, b_mu, b_lv = _surrogate_grads(model, x, mu, logvar, 10, "dreg", 20_000, seed=7)
    _within_4_se(torch.cat([a_mu - b_mu, a_lv - b_lv], 1), torch.zeros(6, dtype=F64))


@pytest.mark.parametrize(("gradient", "k"), [("stl", 1), ("dreg", 10)])
def test_surrogate_path_estimators_vanish_at_the_exact_posterior(gradient, k):
    model, x, _, _ = _problem(d=3, orthogonal=True)  # a diagonal posterior: q can equal it
    post = model.exact_posterior(x[None])
    mu, logvar = post.mean[0], 2 * torch.diagonal(post.scale_tril).log()
    _, g_mu, g_lv = _surrogate_grads(model, x, mu, logvar, k, gradient, 500, seed=8)
    assert g_mu.var(0).max().item() < 1e-20 and g_lv.var(0).max().item() < 1e-20
    _, r_mu, _ = _surrogate_grads(model, x, mu, logvar, k, "reparam", 500, seed=8)
    assert r_mu.var(0).min().item() > 1e-3  # the total derivative's does not vanish


def test_surrogate_value_is_the_importance_weighted_bound_of_torch_distributions():
    model, x, mu, logvar = _problem(d=3)
    k, n = 6, 4
    eps = torch.randn(k, n, 3, generator=torch.Generator().manual_seed(9), dtype=F64)
    m, lv = mu.expand(n, -1), logvar.expand(n, -1)

    def log_lik(z):
        return model.log_likelihood(x[None], z.reshape(-1, 3)[:, None, :])[:, 0].view(z.shape[:-1])

    for beta in (1.0, 0.25):
        kk = k if beta == 1.0 else 1
        res = surrogate_objective(log_lik, m, lv, kk, beta=beta, eps=eps[:kk])
        z = m + torch.exp(0.5 * lv) * eps[:kk]
        q = torch.distributions.Normal(m, torch.exp(0.5 * lv)).log_prob(z).sum(-1)
        p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_w = log_lik(z) + beta * (p - q)
        expected = torch.logsumexp(log_w, 0) - math.log(kk)
        assert torch.allclose(res.objective, expected, rtol=1e-12, atol=1e-12)
        assert torch.allclose(res.kl, (q - p).mean(0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    (dict(k=0), ValueError, "k"),
    (dict(gradient="rebar"), ValueError, "gradient"),
    (dict(k=4, gradient="stl"), ValueError, "biased"),
    (dict(k=4, beta=0.5), ValueError, "beta"),
    (dict(k=2, eps=torch.zeros(3, 2, 3, dtype=F64)), ValueError, "eps"),
])
def test_surrogate_bad_input_names_the_argument(kwargs, error, words):
    mu = torch.zeros(2, 3, dtype=F64)
    kwargs = {"k": 1, **kwargs}
    k = kwargs.pop("k")
    with pytest.raises(error, match=words):
        surrogate_objective(lambda z: z.sum(-1), mu, mu, k, **kwargs)


# -- the trained-VAE comparison (parts.gradient_variance.vae_gradient_variance) ---------------

class _FixedEncoder(torch.nn.Module):
    def __init__(self, mu, logvar):
        super().__init__()
        self.mu, self.logvar = mu, logvar

    def forward(self, x):
        return self.mu.expand(len(x), -1), self.logvar.expand(len(x), -1)


class _LinearDecoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, z):
        return z @ self.model.W.T + self.model.b, torch.tensor(self.model.noise_logvar, dtype=F64)


def test_vae_gradient_variance_reference_is_the_exact_gradient_of_a_linear_gaussian_vae():
    # the linear-Gaussian model of Part 1 as an ELBOFramework (Gaussian decoder Wz + b, fixed
    # noise): its exact ELBO gradient is the oracle for the large-sample reference
    from elbolab.elbo import ELBOFramework
    from elbolab.parts.gradient_variance import linear_problem, vae_gradient_variance

    model, x, mu, logvar = linear_problem(d=3)
    vae = ELBOFramework(_FixedEncoder(mu, logvar), _LinearDecoder(model), "gaussian")
    res = vae_gradient_variance(vae, x[None], n=2_000, n_ref=20_000, seed=1)
    exact = torch.cat(model.exact_elbo_gradient(x, mu, logvar)[:2]).numpy()
    z = abs(res.reference[0] - exact) / res.reference_se[0]
    assert z.max() < 4.0, z  # 6 z-scores at 4 SE
    assert max(res.max_abs_z.values()) < res.z_threshold, res.max_abs_z
    # the score function's variance dwarfs reparameterization's (here ~100x, SE ~1%)
    assert res.variance["score"][0] > 10 * res.variance["reparam"][0]
    # total variance: trace of the covariance, against an independent numpy computation
    from elbolab.gradients import elbo_gradient_samples

    def log_lik(zz):
        return vae.log_likelihood(x[None], zz[:, None, :])[:, 0]

    g = torch.cat(elbo_gradient_samples(log_lik, mu, logvar, 2_000, estimator="reparam",
                                        generator=torch.Generator().manual_seed(1 + 2)), 1)
    assert res.variance["reparam"][0] == pytest.approx(float(g.numpy().var(0, ddof=1).sum()),
                                                       rel=1e-9)
