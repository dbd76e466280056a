import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from elbolab.parts.intractable import IntractableLikelihoodDemo
from elbolab.parts.jensen import JensenInequalityDemo, gamma, lognormal, two_point, uniform


@pytest.mark.parametrize("var", [two_point(), uniform(), gamma(2.0, 1.5), lognormal(0.3, 0.8)])
def test_measured_sides_of_jensen_match_the_exact_ones(var, gen):
    r = JensenInequalityDemo().measure(var, 200_000, gen)
    assert abs(r.e_log.z_score(r.exact_e_log).item()) < 4
    assert r.gap > 0 and r.exact_gap > 0
    assert r.gap == pytest.approx(r.exact_gap, abs=0.03)


def test_exact_sides_against_scipy():
    g = gamma(2.5, 1.3)
    assert g.e_log == pytest.approx(special.digamma(2.5) + math.log(1.3))
    assert g.log_e == pytest.approx(math.log(stats.gamma(2.5, scale=1.3).mean()))
    u = uniform(0.5, 3.0)
    e_log = stats.uniform(0.5, 2.5).expect(np.log)
    assert u.e_log == pytest.approx(e_log, rel=1e-9)
    ln = lognormal(0.2, 0.9)
    assert ln.log_e == pytest.approx(math.log(stats.lognorm(0.9, scale=math.exp(0.2)).mean()))


def test_gamma_sampler_follows_gamma_law(gen):
    x = gamma(2.0, 1.0).sample(20_000, gen).numpy()
    assert stats.kstest(x, stats.gamma(2.0).cdf).pvalue > 1e-3


def test_gap_vs_spread_is_sigma_squared_over_two(gen):
    res = JensenInequalityDemo().gap_vs_spread([0.2, 0.5, 1.0], 200_000, gen)
    for r, s in zip(res, [0.2, 0.5, 1.0], strict=True):
        assert r.exact_gap == pytest.approx(s**2 / 2)
        assert r.gap == pytest.approx(s**2 / 2, rel=0.05)


def test_elbo_gap_equals_kl_to_posterior_for_random_q(gen):
    demo = IntractableLikelihoodDemo(3, 9, "linear", 0.5, seed=2)
    x = demo.sample_data(5, gen)
    qs = JensenInequalityDemo.random_gaussians(demo, x, 30, gen)
    gaps, kls = JensenInequalityDemo.elbo_gap_identity(demo, x, qs)
    assert gaps.shape == kls.shape == (30, 5)
    torch.testing.assert_close(gaps, kls, rtol=1e-4, atol=0)
    assert (gaps > 0).all()
    by = JensenInequalityDemo.gap_vs_scale(demo, x, [0.5, 1.0, 2.0])
    assert by[1].abs().max() < 1e-9 and (by[0] > 0).all() and (by[2] > 0).all()


def test_closed_form_elbo_matches_monte_carlo(gen):
    demo = IntractableLikelihoodDemo(2, 6, "linear", 0.8, seed=3)
    x = demo.sample_data(4, gen)
    q = demo.exact_posterior(x).scaled(1.6)
    z, log_q = q.rsample_with_log_prob(100_000, gen)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    vals = demo.likelihood_given_z(x, z) + log_prior - log_q
    se = vals.std(0) / math.sqrt(len(vals))
    assert ((vals.mean(0) - demo.exact_elbo(x, q)).abs() < 4 * se).all()
