"""Part 1's models against independent oracles: scipy's multivariate normal, float64 Gaussian
conditioning, torch.distributions' Normal and MultivariateNormal."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import MultivariateNormal, Normal

from elbolab import mvn_kl
from elbolab.densities import mvn_log_prob
from elbolab.parts.intractable import IntractableLikelihoodDemo
from elbolab.parts.latent_models import LinearGaussianModel, MLPDecoderModel

f64 = torch.float64


@pytest.fixture
def demo():
    return LinearGaussianModel(latent_dim=3, data_dim=7, noise_std=0.6, seed=4)


def test_exact_log_marginal_matches_scipy(demo, gen):
    x = demo.sample_data(20, gen)
    cov = demo.W @ demo.W.T + 0.36 * torch.eye(7, dtype=f64)
    ref = stats.multivariate_normal(demo.b.numpy(), cov.numpy()).logpdf(x.numpy())
    np.testing.assert_allclose(demo.exact_log_marginal(x).numpy(), ref, rtol=1e-12)
    assert demo.exact_log_marginal(x[0]).shape == ()


def test_exact_posterior_matches_float64_gaussian_conditioning(demo, gen):
    x = demo.sample_data(5, gen)
    # joint of (z, x) is Gaussian: condition with a plain float64 linear solve as the oracle
    cov_xx = demo.W @ demo.W.T + 0.36 * torch.eye(7, dtype=f64)
    cov_zx = demo.W.T
    mean_ref = (cov_zx @ torch.linalg.solve(cov_xx, (x - demo.b).T)).T
    cov_ref = torch.eye(3, dtype=f64) - cov_zx @ torch.linalg.solve(cov_xx, cov_zx.T)
    post = demo.exact_posterior(x)
    torch.testing.assert_close(post.mean, mean_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(post.scale_tril @ post.scale_tril.T, cov_ref, rtol=1e-10, atol=1e-12)


def test_likelihood_given_z_shapes_and_values(demo, gen):
    x = demo.sample_data(4, gen)
    z = demo.sample_prior(6, gen)
    out = demo.log_likelihood_given_z(x, z)
    assert out.shape == (6, 4)
    ref = Normal(demo.decode(z)[:, None, :], 0.6).log_prob(x[None]).sum(-1)
    torch.testing.assert_close(out, ref)
    assert demo.log_likelihood_given_z(x[0], z).shape == (6,)
    assert demo.log_likelihood_given_z(x, z[0]).shape == (4,)
    z_paired = torch.randn(6, 4, 3, generator=gen, dtype=f64)
    ref_paired = Normal(demo.decode(z_paired), 0.6).log_prob(x).sum(-1)
    torch.testing.assert_close(demo.log_likelihood_given_z(x, z_paired), ref_paired)


def test_mlp_likelihood_matches_direct_evaluation(gen):
    m = MLPDecoderModel(2, 9, 0.4, seed=1)
    x, z = m.sample_data(3, gen), m.sample_prior(5, gen)
    ref = Normal(m.decode(z)[:, None, :], 0.4).log_prob(x[None]).sum(-1)
    torch.testing.assert_close(m.log_likelihood_given_z(x, z), ref)


def test_proposal_log_prob_matches_torch_mvn(demo, gen):
    x = demo.sample_data(3, gen)
    q = demo.exact_posterior(x).scaled(1.7)
    z, log_q = q.rsample_with_log_prob(50, gen)
    ref = MultivariateNormal(q.mean, scale_tril=q.scale_tril).log_prob(z)
    torch.testing.assert_close(log_q, ref)
    torch.testing.assert_close(q.log_prob(z), ref)
    torch.testing.assert_close(mvn_log_prob(z, q.mean, q.scale_tril.expand(3, 3, 3)), ref)


def test_posterior_kl_matches_mvn_kl_oracle(demo, gen):
    x = demo.sample_data(3, gen)
    post = demo.exact_posterior(x)
    ref = torch.distributions.kl_divergence(
        MultivariateNormal(post.mean, scale_tril=post.scale_tril),
        MultivariateNormal(torch.zeros(3, dtype=f64), torch.eye(3, dtype=f64)),
    )
    torch.testing.assert_close(demo.posterior_kl_from_prior(x), ref)
    assert mvn_kl(post.mean, post.scale_tril, post.mean, post.scale_tril).abs().max() < 1e-12


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"latent_dim": 0}, "latent_dim must be >= 1"),
        ({"decoder": "conv"}, "decoder must be"),
        ({"noise_std": -1.0}, "noise_std must be a positive"),
    ],
)
def test_demo_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        IntractableLikelihoodDemo(**kwargs)
    if "decoder" not in kwargs:
        with pytest.raises(ValueError, match=needle):
            LinearGaussianModel(**kwargs)


def test_demo_bad_x(demo):
    with pytest.raises(ValueError, match="x must have shape"):
        demo.exact_log_marginal(torch.zeros(3, 5, dtype=f64))
    with pytest.raises(ValueError, match="x contains"):
        demo.exact_log_marginal(torch.full((7,), math.nan, dtype=f64))
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        demo.sample_prior(0)
