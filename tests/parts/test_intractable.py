"""Part 1's estimators of log p(x), each held against the exact answer of a linear-Gaussian
model or, for the MLP decoder, against an independent estimator within a paired standard
error."""

import math
import subprocess
import sys

import pytest
import torch

from elbolab.estimators import MonteCarloEstimate
from elbolab.parts.intractable import (
    IntractableLikelihoodDemo,
    naive_mc_sweep,
    quadrature_log_marginal,
    samples_for_accuracy,
    underflow_table,
)

f64 = torch.float64


@pytest.fixture
def demo():
    return IntractableLikelihoodDemo(
        latent_dim=3, data_dim=7, decoder="linear", noise_std=0.6, seed=4
    )


def test_naive_mc_agrees_with_exact_in_low_dimension(demo, gen):
    x = demo.sample_data(6, gen)
    r = demo.approximate_marginal_likelihood(x, 200_000, generator=gen)
    z = (r.estimate - demo.exact_log_marginal(x)) / r.stderr
    assert (z.abs() < 4).all()
    assert (r.ess > 1000).all()


def test_naive_mc_fails_in_high_dimension_and_reports_too_small_error(gen):
    d = IntractableLikelihoodDemo(32, 64, "linear", 1.0, seed=0)
    x = d.sample_data(8, gen)
    r = d.approximate_marginal_likelihood(x, 1000, generator=gen)
    err = (r.estimate - d.exact_log_marginal(x)).abs()
    assert err.mean() > 1.0  # fails by more than a nat
    assert (err > 2 * r.stderr).float().mean() > 0.5  # and its own error bar does not say so


def test_probability_space_underflows_in_float32_but_log_space_does_not():
    rows = underflow_table((784,), n_samples=200, generator=torch.Generator().manual_seed(0))
    assert rows[0]["prob_space_float32"] == -math.inf
    assert rows[0]["prob_space_float64"] == -math.inf
    assert abs(rows[0]["log_space"] - rows[0]["exact"]) < 1.0


def test_the_underflow_table_averages_the_same_draws_in_every_column():
    """Where nothing underflows, float64 probability space and log space average the same
    draws, so they agree to rounding (different draws would differ by the Monte Carlo error)."""
    rows = underflow_table((1, 4), n_samples=300, generator=torch.Generator().manual_seed(0))
    for r in rows:
        assert abs(r["prob_space_float64"] - r["log_space"]) < 1e-12
        assert abs(r["prob_space_float32"] - r["log_space"]) < 1e-4


def test_importance_sampling_with_exact_posterior_has_zero_variance(demo, gen):
    x = demo.sample_data(5, gen)
    r = demo.importance_sampling(x, demo.exact_posterior(x), 1000, generator=gen)
    torch.testing.assert_close(r.estimate, demo.exact_log_marginal(x), rtol=0, atol=1e-10)
    assert (r.stderr < 1e-8).all()
    torch.testing.assert_close(r.ess, torch.full_like(r.ess, 1000.0))


def test_elbo_le_iwae_le_log_px_and_iwae_converges(demo, gen):
    x = demo.sample_data(8, gen)
    exact = demo.exact_log_marginal(x)
    q = demo.exact_posterior(x).scaled(0.5)
    ests = [demo.iwae(x, q, k, n_bounds=4000 // k, generator=gen) for k in (1, 10, 100)]
    means = [e.estimate.mean().item() for e in ests]
    assert means[0] < means[1] < means[2] < exact.mean().item()
    assert [e.n for e in ests] == [4000, 400, 40]  # n counts the independent bounds
    # closed-form ELBO agrees with the k = 1 estimate
    elbo = demo.exact_elbo(x, q)
    assert ((ests[0].estimate - elbo).abs() < 4 * ests[0].stderr).all()
    assert (exact - ests[2].estimate).mean() < 0.3 * (exact - elbo).mean()


def test_compare_estimators_contains_every_estimator(demo, gen):
    x = demo.sample_data(4, gen)
    runs = demo.compare_estimators(x, 2000, iwae_k=(1, 10), generator=gen)
    names = [r.name for r in runs]
    assert names[0] == "naive prior MC" and "IS, exact posterior" in names
    assert names[-2:] == ["ELBO (IWAE-1)", "IWAE-10"]
    assert [r.evaluations for r in runs] == [2000] * 4 + [2000, 2000]
    assert all(isinstance(r.result, MonteCarloEstimate) for r in runs)
    assert runs[0].result.ess is not None and runs[-1].result.ess is None


def test_mlp_reference_has_small_error_and_agrees_with_naive_mc_in_2d(gen):
    m = IntractableLikelihoodDemo(2, 12, "mlp", 0.5, seed=0)
    x = m.sample_data(3, gen)
    ref = m.reference_log_marginal(x, 100_000, generator=gen)
    naive = m.approximate_marginal_likelihood(x, 400_000, generator=gen)
    assert (ref.stderr < 0.02).all()
    assert (
        (ref.estimate - naive.estimate).abs() < 4 * torch.sqrt(ref.stderr**2 + naive.stderr**2)
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


MEMORY_PROBE = r"""
import re, sys, torch
from elbolab.parts.intractable import IntractableLikelihoodDemo
d = IntractableLikelihoodDemo(16, 784, sys.argv[1], 1.0, 0, hidden=256)
g = torch.Generator().manual_seed(0)
x = d.sample_data(4, g)
r = d.approximate_marginal_likelihood(x, int(sys.argv[2]), generator=g)
assert torch.isfinite(r.estimate).all()
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


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_quadrature_is_exact_on_the_linear_model(latent_dim, gen):
    # the midpoint rule on a Gaussian integrand converges spectrally: float64 rounding remains
    m = IntractableLikelihoodDemo(latent_dim, 9, "linear", 0.5, seed=2)
    x = m.sample_data(5, gen)
    err = (quadrature_log_marginal(m.model, x, points=601) - m.exact_log_marginal(x)).abs()
    assert err.max() < 1e-10


def test_quadrature_confirms_the_mlp_reference_within_its_error_bar(gen):
    m = IntractableLikelihoodDemo(2, 12, "mlp", 0.5, seed=0)
    x = m.sample_data(4, gen)
    quad = quadrature_log_marginal(m.model, x)
    # halving the step changes nothing: the rule has converged
    assert (quad - quadrature_log_marginal(m.model, x, points=2401)).abs().max() < 1e-9
    ref = m.reference_log_marginal(x, 50_000, generator=gen)
    assert ref.z_score(quad).abs().max() < 4


def test_quadrature_refuses_more_than_two_latent_dimensions(demo):
    with pytest.raises(ValueError, match="latent dimension of 1 or 2"):
        quadrature_log_marginal(demo.model, torch.zeros(1, 7, dtype=f64))


def test_sweep_rows_report_honest_z_scores_where_naive_mc_works(gen):
    rows = naive_mc_sweep((1,), (10_000,), data_dim=16, n_data=64, seed=1, generator=gen)
    # |error| / SE is half-normal when the error bar is honest: median 0.674, and the median
    # of 64 has SE 1/(2 f(0.674) √64) = 0.098 (f the half-normal density), so 4 SE is 0.39
    assert abs(rows[0]["median_abs_z"] - 0.674) < 0.39
    assert rows[0]["max_abs_z"] < 4.5  # the largest of 64 |N(0,1)|: P(> 4.5) < 5e-4
