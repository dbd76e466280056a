"""The latent-variable-model interface and its posteriors, against torch.distributions and the
exact answers of the linear-Gaussian model."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

import elbolab
from elbolab.ais import ais_bounds
from elbolab.flows import PlanarFlowPosterior, identity_planar_parameters
from elbolab.parts.latent_models import LinearGaussianModel, MLPDecoderModel
from elbolab.posterior import (
    STANDARD_NORMAL,
    DiagonalGaussian,
    LatentVariableModel,
    log_importance_weights,
)


def _q(gen, batch=4, latent=3, dtype=torch.float64):
    mu = torch.randn(batch, latent, generator=gen, dtype=dtype)
    logvar = torch.randn(batch, latent, generator=gen, dtype=dtype)
    return mu, logvar


def test_diagonal_gaussian_against_torch_distributions(gen):
    mu, logvar = _q(gen)
    q = DiagonalGaussian(mu, logvar)
    oracle = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    z = q.rsample((7,), generator=gen)
    assert z.shape == (7, 4, 3)
    # float64: the two formulas agree to rounding (a few ulp of values of order 10)
    assert torch.allclose(q.log_prob(z), oracle.log_prob(z), rtol=0, atol=1e-12)
    prior = Independent(Normal(torch.zeros(3, dtype=torch.float64),
                               torch.ones(3, dtype=torch.float64)), 1)
    assert torch.allclose(q.kl_to_standard_normal(), kl_divergence(oracle, prior), atol=1e-12)
    assert torch.allclose(STANDARD_NORMAL.log_prob(z), prior.log_prob(z), atol=1e-12)
    # the draws have the law N(mu, sigma^2): 20,000 draws, 4 standard errors
    big = q.rsample((20_000,), generator=gen)
    se = torch.exp(0.5 * logvar) / math.sqrt(20_000)
    assert ((big.mean(0) - mu).abs() <= 4 * se).all()


def test_log_prob_with_stop_gradient_reaches_z_only(gen):
    mu, logvar = (t.requires_grad_(True) for t in _q(gen))
    q = DiagonalGaussian(mu, logvar)
    z = q.rsample(generator=gen)
    # through z and the parameters (the total derivative): d/dmu of log q(mu + sigma eps) is 0
    (g_total,) = torch.autograd.grad(q.log_prob(z).sum(), mu, retain_graph=True)
    assert torch.allclose(g_total, torch.zeros_like(mu), atol=1e-12)
    # with the parameters held fixed only the path through z remains: -(z - mu)/sigma^2 * dz/dmu
    (g_path,) = torch.autograd.grad(q.log_prob(z, stop_gradient=True).sum(), mu)
    expected = -(z - mu).detach() / torch.exp(logvar).detach()
    assert torch.allclose(g_path, expected, atol=1e-12)


def test_a_given_eps_is_the_noise_and_is_checked(gen):
    mu, logvar = _q(gen)
    eps = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    z = DiagonalGaussian(mu, logvar).rsample((2,), eps=eps)
    assert torch.equal(z, torch.addcmul(mu, torch.exp(0.5 * logvar), eps))
    with pytest.raises(ValueError, match="eps must have shape"):
        DiagonalGaussian(mu, logvar).rsample((3,), eps=eps)
    with pytest.raises(ValueError, match="mu"):
        DiagonalGaussian(mu * math.nan, logvar)  # checked once, when made


def test_every_model_satisfies_the_interface():
    vae = elbolab.ELBOFramework(torch.nn.Linear(6, 4), torch.nn.Linear(2, 6), "bernoulli")
    for model in (vae, LinearGaussianModel(2, 5), MLPDecoderModel(2, 5)):
        assert isinstance(model, LatentVariableModel)
    with pytest.raises(NotImplementedError, match="proposal"):
        MLPDecoderModel(2, 5).posterior(torch.zeros(1, 5, dtype=torch.float64))


def test_importance_weights_of_the_exact_posterior_are_all_p_x():
    """An identity: with q the exact posterior every weight equals p(x) (float64 rounding)."""
    model = LinearGaussianModel(3, 6)
    x = model.sample_data(5, torch.Generator().manual_seed(1))
    log_w = log_importance_weights(model, x, 50, generator=torch.Generator().manual_seed(2))
    assert log_w.shape == (50, 5)
    assert (log_w - model.exact_log_marginal(x)).abs().max() < 1e-12
    bound = elbolab.importance_weighted_bound(model, x, 10)
    assert (bound - model.exact_log_marginal(x)).abs().max() < 1e-12


def test_ais_runs_on_any_model_and_brackets_the_exact_answer():
    """AIS through the interface on the linear model: the forward estimate within 4 of its
    own delta-method standard errors (plus 0.1 nat of annealing bias at 200 steps) of the
    exact log p(x)."""
    model = LinearGaussianModel(2, 4)
    x = model.sample_data(3, torch.Generator().manual_seed(3))
    res = ais_bounds(model, x, steps=200, chains=16, leapfrog=5,
                     generator=torch.Generator().manual_seed(4))
    err = res.lower.estimate.estimate - model.exact_log_marginal(x)
    assert (err.abs() <= 4 * res.lower.estimate.stderr + 0.1).all(), err


def test_the_flow_posterior_at_the_identity_is_its_base_gaussian(gen):
    mu, logvar = _q(gen, dtype=torch.float32)
    flow = identity_planar_parameters(4, 3, 2, generator=gen)
    q = PlanarFlowPosterior(mu, logvar, *flow)
    eps = torch.randn(5, 4, 3, generator=gen)
    z, log_q = q.rsample_with_log_prob(5, eps=eps)
    base = DiagonalGaussian(mu, logvar)
    assert torch.allclose(z, base.rsample((5,), eps=eps), atol=1e-6)
    assert torch.allclose(log_q, base.log_prob(z), atol=1e-5)
    assert (q.latent, q.dtype) == (3, torch.float32)


def test_the_trainers_fused_log_ratio_is_the_posteriors_minus_the_priors(gen):
    """surrogate_objective's reparam path writes log q − log p of the draw in three operations;
    it must equal the posterior's log q minus the prior's log p at the same draws (float64
    rounding of values of order 10)."""
    from elbolab.gradients import surrogate_objective

    mu, logvar = _q(gen)
    eps = torch.randn(6, 4, 3, generator=gen, dtype=torch.float64)
    res = surrogate_objective(lambda z: torch.zeros(z.shape[:-1], dtype=z.dtype), mu, logvar,
                              6, gradient="reparam", eps=eps)
    z, log_q = DiagonalGaussian(mu, logvar).rsample_with_log_prob(6, eps=eps)
    assert torch.allclose(res.kl, (log_q - STANDARD_NORMAL.log_prob(z)).mean(0), atol=1e-12)
    # and log q read off the noise is log q evaluated at the draw
    assert torch.allclose(log_q, DiagonalGaussian(mu, logvar).log_prob(z), atol=1e-12)
