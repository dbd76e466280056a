"""GANs as implicit variational inference: the f-GAN bounds against the exact divergences of
Gaussians (closed-form KL, quadrature JS checked against scipy)."""

import math

import pytest
import torch
from scipy import integrate, stats

from elbolab.kl import gaussian_kl
from elbolab.parts.connections import (
    fit_logistic_critic,
    gaussian_js,
    js_lower_bound,
    kl_lower_bound,
)

P, Q = (0.0, 1.0), (1.0, 1.5)  # (mean, standard deviation)


def _samples(n=40_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_p = P[0] + P[1] * torch.randn(n, generator=g, dtype=torch.float64)
    x_q = Q[0] + Q[1] * torch.randn(n, generator=g, dtype=torch.float64)
    return x_p, x_q


def _log_ratio(x):  # log p(x) / q(x), exactly
    return (torch.from_numpy(stats.norm.logpdf(x.numpy(), *P))
            - torch.from_numpy(stats.norm.logpdf(x.numpy(), *Q)))


def _exact_kl():
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return gaussian_kl(t(P[0]), t(2 * math.log(P[1])), t(Q[0]), t(2 * math.log(Q[1]))).item()


def test_gaussian_js_against_scipy_quadrature():
    def integrand(x):
        p, q = stats.norm.pdf(x, *P), stats.norm.pdf(x, *Q)
        m = (p + q) / 2
        return 0.5 * (p * math.log(p / m) + q * math.log(q / m)) if m > 0 else 0.0

    ref, err = integrate.quad(integrand, -30, 30, limit=500)
    assert err < 1e-10
    assert gaussian_js(*P, *Q) == pytest.approx(ref, abs=1e-9)  # the trapezoid rule's error
    assert gaussian_js(0.0, 1.0, 0.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_js(0.0, 1.0, 50.0, 1.0) == pytest.approx(math.log(2), abs=1e-9)  # disjoint


def test_the_optimal_critics_make_both_bounds_tight():
    """At T* = 1 + log p/q and ℓ* = log p/q each bound equals its divergence in expectation:
    within 4 standard errors of the exact value."""
    x_p, x_q = _samples()
    kl = kl_lower_bound(1 + _log_ratio(x_p), 1 + _log_ratio(x_q))
    assert abs(kl.z_score(_exact_kl()).item()) < 4
    js = js_lower_bound(_log_ratio(x_p), _log_ratio(x_q))
    assert abs(js.z_score(gaussian_js(*P, *Q)).item()) < 4


def test_any_other_critic_gives_a_lower_bound():
    """A wrong critic (here: half the true log ratio, and a constant) falls below the exact
    divergence by more than 4 standard errors: the bounds are bounds, and a sign or a factor
    error in them would show."""
    x_p, x_q = _samples(seed=1)
    exact_kl, exact_js = _exact_kl(), gaussian_js(*P, *Q)
    for t_p, t_q in ((1 + 0.5 * _log_ratio(x_p), 1 + 0.5 * _log_ratio(x_q)),
                     (torch.zeros_like(x_p), torch.zeros_like(x_q))):
        assert kl_lower_bound(t_p, t_q).z_score(exact_kl).item() < -4
    for l_p, l_q in ((0.5 * _log_ratio(x_p), 0.5 * _log_ratio(x_q)),
                     (torch.zeros_like(x_p), torch.zeros_like(x_q))):
        assert js_lower_bound(l_p, l_q).z_score(exact_js).item() < -4
    # a constant logit 0 is the discriminator that cannot tell: the bound is exactly 0
    assert js_lower_bound(torch.zeros(5, dtype=torch.float64),
                          torch.zeros(5, dtype=torch.float64)).estimate.item() == pytest.approx(
        0.0, abs=1e-15)


def test_a_trained_discriminator_estimates_the_density_ratio():
    """A logistic discriminator on (1, x, x²), trained with the GAN loss on samples, recovers
    log p/q where the data are (|error| < 0.1 over the central 95% of P) and its JS bound, on
    fresh samples, sits below the exact JS and within 0.01 nats of it."""
    x_p, x_q = _samples(seed=2)
    logit = fit_logistic_critic(x_p, x_q, lambda x: torch.stack([torch.ones_like(x), x, x * x],
                                                                 -1))
    grid = torch.linspace(-1.96, 1.96, 101, dtype=torch.float64)
    assert (logit(grid) - _log_ratio(grid)).abs().max() < 0.1
    f_p, f_q = _samples(seed=3)
    js = js_lower_bound(logit(f_p), logit(f_q))
    exact = gaussian_js(*P, *Q)
    assert js.estimate.item() <= exact + 4 * js.stderr.item()
    assert js.estimate.item() > exact - 0.01


def test_bad_scores_are_refused_by_name():
    with pytest.raises(ValueError, match="t_q must be a 1-D tensor"):
        kl_lower_bound(torch.zeros(4, dtype=torch.float64), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="logit_p"):
        js_lower_bound(torch.tensor([0.0, math.nan]), torch.zeros(2))
    with pytest.raises(ValueError, match="sigma2"):
        gaussian_js(0.0, 1.0, 0.0, -1.0)
