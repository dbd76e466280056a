import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import MultivariateNormal, Normal

from elbolab import mvn_kl
from elbolab.densities import mvn_log_prob
from elbolab.estimators import LogMeanExpAccumulator, effective_sample_size, iwae_bound
from elbolab.intractable import (
    IntractableLikelihoodDemo,
    naive_mc_sweep,
    samples_for_accuracy,
    underflow_table,
)

f64 = torch.float64


@pytest.fixture
def demo():
    return IntractableLikelihoodDemo(
        latent_dim=3, data_dim=7, decoder="linear", noise_std=0.6, seed=4
    )


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
    out = demo.likelihood_given_z(x, z)
    assert out.shape == (6, 4)
    ref = Normal(demo.decode(z)[:, None, :], 0.6).log_prob(x[None]).sum(-1)
    torch.testing.assert_close(out, ref)
    assert demo.likelihood_given_z(x[0], z).shape == (6,)
    assert demo.likelihood_given_z(x, z[0]).shape == (4,)
    z_paired = torch.randn(6, 4, 3, generator=gen, dtype=f64)
    torch.testing.assert_close(
        demo.likelihood_given_z(x, z_paired), Normal(demo.decode(z_paired), 0.6).log_prob(x).sum(-1)
    )


def test_mlp_likelihood_matches_direct_evaluation(gen):
    m = IntractableLikelihoodDemo(2, 9, "mlp", 0.4, seed=1)
    x, z = m.sample_data(3, gen), m.sample_prior(5, gen)
    ref = Normal(m.decode(z)[:, None, :], 0.4).log_prob(x[None]).sum(-1)
    torch.testing.assert_close(m.likelihood_given_z(x, z), ref)


def test_naive_mc_agrees_with_exact_in_low_dimension(demo, gen):
    x = demo.sample_data(6, gen)
    r = demo.approximate_marginal_likelihood(x, 200_000, generator=gen)
    z = (r.log_mean - demo.exact_log_marginal(x)) / r.stderr
    assert (z.abs() < 4).all()
    assert (r.ess > 1000).all()


def test_naive_mc_fails_in_high_dimension_and_reports_too_small_error(gen):
    d = IntractableLikelihoodDemo(32, 64, "linear", 1.0, seed=0)
    x = d.sample_data(8, gen)
    r = d.approximate_marginal_likelihood(x, 1000, generator=gen)
    err = (r.log_mean - d.exact_log_marginal(x)).abs()
    assert err.mean() > 1.0  # fails by more than a nat
    assert (err > 2 * r.stderr).float().mean() > 0.5  # and its own error bar does not say so


def test_probability_space_underflows_in_float32_but_log_space_does_not():
    rows = underflow_table((784,), n_samples=200, generator=torch.Generator().manual_seed(0))
    assert rows[0]["prob_space_float32"] == -math.inf
    assert rows[0]["prob_space_float64"] == -math.inf
    assert abs(rows[0]["log_space"] - rows[0]["exact"]) < 1.0


def test_importance_sampling_with_exact_posterior_has_zero_variance(demo, gen):
    x = demo.sample_data(5, gen)
    r = demo.importance_sampling(x, demo.exact_posterior(x), 1000, generator=gen)
    torch.testing.assert_close(r.log_mean, demo.exact_log_marginal(x), rtol=0, atol=1e-10)
    assert (r.stderr < 1e-8).all()
    torch.testing.assert_close(r.ess, torch.full_like(r.ess, 1000.0))


def test_proposal_log_prob_matches_torch_mvn(demo, gen):
    x = demo.sample_data(3, gen)
    q = demo.exact_posterior(x).scaled(1.7)
    z, log_q = q.sample_with_log_prob(50, gen)
    ref = MultivariateNormal(q.mean, scale_tril=q.scale_tril).log_prob(z)
    torch.testing.assert_close(log_q, ref)
    torch.testing.assert_close(q.log_prob(z), ref)
    torch.testing.assert_close(mvn_log_prob(z, q.mean, q.scale_tril.expand(3, 3, 3)), ref)


def test_elbo_le_iwae_le_log_px_and_iwae_converges(demo, gen):
    x = demo.sample_data(8, gen)
    exact = demo.exact_log_marginal(x)
    q = demo.exact_posterior(x).scaled(0.5)
    ests = [demo.iwae(x, q, k, n_bounds=4000 // k, generator=gen) for k in (1, 10, 100)]
    means = [e[0].mean().item() for e in ests]
    assert means[0] < means[1] < means[2] < exact.mean().item()
    # closed-form ELBO agrees with the k = 1 estimate
    elbo = demo.exact_elbo(x, q)
    assert ((ests[0][0] - elbo).abs() < 4 * ests[0][1]).all()
    assert (exact - ests[2][0]).mean() < 0.3 * (exact - elbo).mean()


def test_compare_estimators_contains_every_estimator(demo, gen):
    x = demo.sample_data(4, gen)
    names = [r.name for r in demo.compare_estimators(x, 2000, iwae_k=(1, 10), generator=gen)]
    assert names[0] == "naive prior MC" and "IS, exact posterior" in names
    assert names[-2:] == ["ELBO (IWAE-1)", "IWAE-10"]


def test_mlp_reference_has_small_error_and_agrees_with_naive_mc_in_2d(gen):
    m = IntractableLikelihoodDemo(2, 12, "mlp", 0.5, seed=0)
    x = m.sample_data(3, gen)
    ref = m.reference_log_marginal(x, 100_000, generator=gen)
    naive = m.approximate_marginal_likelihood(x, 400_000, generator=gen)
    assert (ref.stderr < 0.02).all()
    assert (
        (ref.log_mean - naive.log_mean).abs() < 4 * torch.sqrt(ref.stderr**2 + naive.stderr**2)
    ).all()
    with pytest.raises(ValueError, match="exact only for the linear decoder"):
        m.exact_log_marginal(x)


def test_sweep_and_samples_for_accuracy_show_the_blow_up():
    rows = naive_mc_sweep(
        (1, 24), (10, 100, 1000), data_dim=32, n_data=6, generator=torch.Generator().manual_seed(0)
    )
    needed = samples_for_accuracy(rows)
    assert needed[1] == 10
    assert needed[24] is None or needed[24] >= 1000
    kl = {r["latent_dim"]: r["kl_posterior_prior"] for r in rows}
    assert kl[24] > 5 * kl[1]


def test_posterior_kl_matches_mvn_kl_oracle(demo, gen):
    x = demo.sample_data(3, gen)
    post = demo.exact_posterior(x)
    ref = torch.distributions.kl_divergence(
        MultivariateNormal(post.mean, scale_tril=post.scale_tril),
        MultivariateNormal(torch.zeros(3, dtype=f64), torch.eye(3, dtype=f64)),
    )
    torch.testing.assert_close(demo.posterior_kl_from_prior(x), ref)
    assert mvn_kl(post.mean, post.scale_tril, post.mean, post.scale_tril).abs().max() < 1e-12


def test_streaming_accumulator_equals_one_shot(gen):
    a = torch.randn(5000, 4, generator=gen, dtype=f64) * 5 - 800
    acc = LogMeanExpAccumulator()
    for chunk in a.split(333):
        acc.update(chunk)
    r = acc.result()
    torch.testing.assert_close(r.log_mean, iwae_bound(a))
    torch.testing.assert_close(r.ess, effective_sample_size(a))
    acc2 = LogMeanExpAccumulator()
    acc2.update(torch.full((3, 2), -math.inf, dtype=f64))
    acc2.update(torch.zeros(3, 2, dtype=f64))
    torch.testing.assert_close(acc2.result().log_mean, torch.full((2,), math.log(0.5), dtype=f64))


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


def test_demo_bad_x(demo):
    with pytest.raises(ValueError, match="x must have shape"):
        demo.exact_log_marginal(torch.zeros(3, 5, dtype=f64))
    with pytest.raises(ValueError, match="x contains"):
        demo.exact_log_marginal(torch.full((7,), math.nan, dtype=f64))
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        demo.approximate_marginal_likelihood(torch.zeros(7, dtype=f64), 0)


MEMORY_PROBE = r"""
import re, sys, torch
from elbolab.intractable import IntractableLikelihoodDemo
d = IntractableLikelihoodDemo(16, 784, sys.argv[1], 1.0, 0, hidden=256)
g = torch.Generator().manual_seed(0)
x = d.sample_data(4, g)
r = d.approximate_marginal_likelihood(x, int(sys.argv[2]), generator=g)
assert torch.isfinite(r.log_mean).all()
print(int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read())[1]) * 1024)
"""


@pytest.mark.parametrize(("decoder", "n"), [("linear", 1_000_000), ("mlp", 100_000)])
def test_million_sample_estimates_on_784_dim_data_stay_under_1_gib(decoder, n):
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, decoder, str(n)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    peak = int(out.stdout.strip())
    assert peak < 2**30, f"peak RSS {peak / 2**20:.0f} MiB"
