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


# ---- the five families' tools -------------------------------------------------------------

from elbolab.parts.connections import (  # noqa: E402
    binary_ddpm_samples,
    fit_density,
    held_out_js_bound,
    random_relu_features,
    samples_per_second,
)


def test_held_out_bound_is_below_the_exact_js_and_near_zero_for_equal_laws():
    # two Gaussians of known JS: the held-out bound of a flexible random-feature critic is a
    # bound for that critic, so below the exact value (4 SE), and for P = Q not above 0
    g = torch.Generator().manual_seed(5)
    x_p = P[0] + P[1] * torch.randn(4000, 1, generator=g, dtype=torch.float64)
    x_q = Q[0] + Q[1] * torch.randn(4000, 1, generator=g, dtype=torch.float64)
    x_p2 = P[0] + P[1] * torch.randn(4000, 1, generator=g, dtype=torch.float64)
    features = random_relu_features(1, 64, torch.Generator().manual_seed(6))
    exact = gaussian_js(*P, *Q)
    bound = held_out_js_bound(x_p, x_q, features, l2=1e-3)
    assert bound.estimate.item() < exact + 4 * bound.stderr.item()
    assert bound.estimate.item() > 0.5 * exact  # a flexible critic gets most of the way
    null = held_out_js_bound(x_p, x_p2, features, l2=1e-3)
    assert null.estimate.item() < 4 * null.stderr.item()


def test_a_critic_scored_on_its_own_training_samples_overstates_the_divergence():
    # why the bound is held out: on P = Q, a many-feature critic scored where it was fitted
    # reports a positive "divergence"
    g = torch.Generator().manual_seed(7)
    a = torch.randn(200, 5, generator=g, dtype=torch.float64)
    b = torch.randn(200, 5, generator=g, dtype=torch.float64)
    features = random_relu_features(5, 400, torch.Generator().manual_seed(8))
    critic = fit_logistic_critic(a, b, features, l2=1e-6)
    assert js_lower_bound(critic(a), critic(b)).estimate.item() > 0.1
    assert held_out_js_bound(torch.cat([a, a]), torch.cat([b, b]), features,
                             l2=1e-6).estimate.item() <= js_lower_bound(
                                 critic(a), critic(b)).estimate.item()


def test_fit_density_recovers_bernoulli_means():
    # a model of independent pixels, p_d = sigmoid(theta_d), trained on dynamically binarized
    # grey levels g_d: the maximum-likelihood theta is logit(g_d) (the draws' mean)
    grey = torch.tensor([[0.2, 0.7, 0.5]]).expand(4000, 3).contiguous()
    theta = torch.zeros(3, requires_grad=True)

    def nll(x):
        return -torch.distributions.Bernoulli(logits=theta).log_prob(x).sum(-1)

    g = torch.Generator().manual_seed(9)
    fit = fit_density(nll, [theta], grey, epochs=30, batch_size=500, lr=0.05,
                      transform=lambda x: torch.bernoulli(x, generator=g), generator=g)
    torch.testing.assert_close(torch.sigmoid(theta.detach()), grey[0], rtol=0, atol=0.02)
    assert fit.losses[-1] < fit.losses[0] and fit.seconds > 0


def test_samples_per_second_and_bad_input():
    rate = samples_per_second(lambda n: torch.zeros(n, 2), n=64, repeats=2)
    assert rate > 0
    with pytest.raises(TypeError):
        samples_per_second(3)
    with pytest.raises(ValueError, match="4 samples"):
        held_out_js_bound(torch.zeros(2, 3), torch.zeros(8, 3), lambda x: x)
    with pytest.raises(ValueError, match="data"):
        fit_density(lambda x: x.sum(-1), [], torch.zeros(5))


def test_binary_ddpm_samples_are_the_two_bin_decoders_draws():
    # a DDPM whose last reverse mean sits far on the +1 side gives +1 (here 1) almost surely;
    # the draw is the decoder's: P(x_0 = 1) = Φ(μ/σ_1), not a threshold of the mean
    from elbolab.diffusion import train_ddpm

    data = torch.tensor([[1.0, -1.0]]).repeat(256, 1)
    ddpm = train_ddpm(data, steps=300, batch_size=64, hidden=32, lr=3e-3).model
    s = binary_ddpm_samples(ddpm, 400, torch.Generator().manual_seed(4))
    assert s.shape == (400, 2) and ((s == 0) | (s == 1)).all()
    assert s[:, 0].mean() > 0.9 and s[:, 1].mean() < 0.1
