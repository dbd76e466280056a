"""The diffusion bound against independent references: numpy/mpmath float64 formulas,
Gaussian conditioning, scipy's normal CDF, the exact likelihood of a linear-Gaussian chain."""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import stats

import elbolab.diffusion as diffusion
import elbolab.kl
from elbolab.ddpm import ring_mixture, train_ddpm
from elbolab.diffusion import (
    GaussianTestBed,
    NoiseSchedule,
    cosine_schedule,
    discretized_gaussian_log_likelihood,
    linear_schedule,
    mean_from_eps,
    prior_term,
    q_posterior,
    q_sample,
    variational_bound,
    x0_from_eps,
)

F64 = torch.float64
S2 = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=F64)
M2 = torch.tensor([0.5, -0.3], dtype=F64)


# -- schedules -----------------------------------------------------------------------------
def test_linear_schedule_is_ho_et_al_and_float64():
    s = linear_schedule(1000)
    assert s.betas.dtype == F64 and s.T == 1000 and len(s.betas) == 1001
    assert s.betas[1].item() == pytest.approx(1e-4, rel=1e-12)
    assert s.betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    ref = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    np.testing.assert_allclose(s.alpha_bar[1:].numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(np.exp(s.log_one_minus_alpha_bar[1:].numpy()), 1 - ref, rtol=1e-10)
    # the default end points scale with 1000/T so that ᾱ_T stays near e^-10 for any T
    for T in (100, 1000, 4000):
        assert 1e-5 < linear_schedule(T).alpha_bar[-1].item() < 1e-4


def test_cosine_schedule_matches_nichol_dhariwal():
    T, s_off = 1000, 0.008
    s = cosine_schedule(T, s_off)
    f = np.cos((np.arange(T + 1) / T + s_off) / (1 + s_off) * np.pi / 2) ** 2
    ref = f / f[0]
    unclipped = s.betas[1:].numpy() < diffusion.COSINE_MAX_BETA
    np.testing.assert_allclose(s.alpha_bar.numpy()[1:][unclipped][:-1],
                               ref[1:][unclipped][:-1], rtol=1e-9)
    assert s.betas.max().item() <= diffusion.COSINE_MAX_BETA


def test_bad_schedules_raise():
    with pytest.raises(ValueError, match="T >= 21"):
        linear_schedule(10)
    with pytest.raises(ValueError, match="betas must lie in"):
        NoiseSchedule(torch.tensor([0.1, 1.0], dtype=F64))
    with pytest.raises(ValueError, match="betas"):
        NoiseSchedule(torch.tensor([0.1, float("nan")], dtype=F64))
    with pytest.raises(ValueError, match="1-D"):
        NoiseSchedule(torch.ones(2, 2, dtype=F64) * 0.1)
    with pytest.raises(ValueError, match="t must be"):
        q_posterior(torch.zeros(2), torch.zeros(2), 1, linear_schedule(100))
    with pytest.raises(ValueError, match="t must be"):
        q_sample(torch.zeros(2), 101, linear_schedule(100))


# -- forward process and posterior ------------------------------------------------------------
@pytest.mark.parametrize("t", [2, 3, 50, 999, 1000])
def test_posterior_equals_gaussian_conditioning(t):
    s = linear_schedule(1000)
    ab = np.cumprod(np.concatenate([[1.0], 1 - np.linspace(1e-4, 0.02, 1000)]))
    beta = 1 - ab[t] / ab[t - 1]
    x0 = np.array([0.7, -1.2, 0.1])
    xt = np.array([0.3, 0.9, -2.0])
    # (x_{t-1}, x_t) | x_0 is jointly Gaussian: condition on x_t
    m1, v1 = np.sqrt(ab[t - 1]) * x0, 1 - ab[t - 1]
    m2, v2 = np.sqrt(ab[t]) * x0, 1 - ab[t]
    cov12 = np.sqrt(1 - beta) * v1
    ref_mean = m1 + cov12 / v2 * (xt - m2)
    ref_var = v1 - cov12**2 / v2
    mean, logvar = q_posterior(torch.tensor(x0), torch.tensor(xt), t, s)
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.exp(logvar.numpy()), ref_var, rtol=1e-9)


def test_eps_parameterization_identities():
    s = linear_schedule(1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(5, 3, generator=g, dtype=F64)
    eps = torch.randn(5, 3, generator=g, dtype=F64)
    for t in (1, 2, 10, 500, 1000):
        xt = q_sample(x0, t, s, eps=eps)
        torch.testing.assert_close(
            xt, math.sqrt(s.alpha_bar[t]) * x0 + math.sqrt(1 - s.alpha_bar[t]) * eps)
        torch.testing.assert_close(x0_from_eps(xt, t, eps, s), x0, rtol=1e-9, atol=1e-9)
        if t >= 2:  # Ho et al. Eq. 11 with the true noise is the posterior mean
            torch.testing.assert_close(mean_from_eps(xt, t, eps, s),
                                       q_posterior(x0, xt, t, s)[0], rtol=1e-9, atol=1e-12)
        else:
            torch.testing.assert_close(mean_from_eps(xt, t, eps, s), x0, rtol=1e-9, atol=1e-9)


def test_q_sample_moments():
    s = linear_schedule(1000)
    x0 = torch.full((200_000,), 0.8, dtype=F64)
    xt = q_sample(x0, 300, s, generator=torch.Generator().manual_seed(1))
    se = math.sqrt((1 - s.alpha_bar[300]) / len(x0))
    assert abs(xt.mean().item() - 0.8 * math.sqrt(s.alpha_bar[300])) < 4 * se
    assert xt.var().item() == pytest.approx(1 - s.alpha_bar[300].item(), rel=0.02)


# -- the bound's terms ------------------------------------------------------------------------
def test_prior_term_matches_mpmath_closed_form_and_ho_et_al():
    s = linear_schedule(1000)
    mpmath.mp.dps = 40
    ab = mpmath.mpf(1)
    for b in np.linspace(1e-4, 0.02, 1000):
        ab *= 1 - mpmath.mpf(float(b))
    x = torch.tensor([[-1.0, 0.0, 0.5, 1.0]], dtype=F64)
    ref = sum(0.5 * (ab * mpmath.mpf(float(v)) ** 2 + (1 - ab) - 1 - mpmath.log(1 - ab))
              for v in x[0].tolist())
    assert prior_term(x, s).item() == pytest.approx(float(ref), rel=1e-8)
    # Ho et al. 2020, Sec. 4: L_T ≈ 1e-5 bits/dim for data scaled to [-1, 1]
    u = torch.rand(256, 3072, generator=torch.Generator().manual_seed(0), dtype=F64) * 2 - 1
    bpd = prior_term(u, s).mean().item() / (3072 * math.log(2))
    assert 5e-6 < bpd < 2e-5


@pytest.mark.parametrize("mean,logvar", [(0.3, math.log(1e-2)), (0.999, math.log(1e-6)),
                                         (-0.2, math.log(4.0)), (5.0, math.log(0.1)),
                                         (-0.7, math.log(1e-8))])
def test_discretized_likelihood_normalizes_and_matches_scipy(mean, logvar):
    grid = torch.arange(256, dtype=F64) * 2 / 255 - 1
    lp = discretized_gaussian_log_likelihood(grid, torch.tensor(mean, dtype=F64),
                                             torch.tensor(logvar, dtype=F64))
    assert torch.isfinite(lp).all() or mean == 5.0
    assert torch.logsumexp(lp, 0).item() == pytest.approx(0.0, abs=1e-12)
    sd = math.exp(0.5 * logvar)
    edges = np.concatenate([[-np.inf], (grid[:-1].numpy() + grid[1:].numpy()) / 2, [np.inf]])
    ref = stats.norm.cdf(edges[1:], mean, sd) - stats.norm.cdf(edges[:-1], mean, sd)
    big = ref > 1e-3
    np.testing.assert_allclose(np.exp(lp.numpy())[big], ref[big], rtol=1e-9)


def test_discretized_likelihood_tail_bins_match_mpmath():
    mpmath.mp.dps = 400  # the upper-tail bins differ from 1 in the 87th digit
    grid = torch.tensor([-1.0, -1 + 2 / 255, 1 - 2 / 255, 1.0], dtype=F64)
    mean, sd = 0.0, 0.05
    lp = discretized_gaussian_log_likelihood(grid, torch.tensor(mean, dtype=F64),
                                             torch.tensor(2 * math.log(sd), dtype=F64))
    for x, got in zip(grid.tolist(), lp.tolist(), strict=True):
        lo = -mpmath.inf if x < -1 + 1e-6 else mpmath.mpf(x) - mpmath.mpf(1) / 255
        hi = mpmath.inf if x > 1 - 1e-6 else mpmath.mpf(x) + mpmath.mpf(1) / 255
        ref = mpmath.log(mpmath.ncdf(hi, mean, sd) - mpmath.ncdf(lo, mean, sd))
        assert got == pytest.approx(float(ref), rel=1e-9)  # about -150 nats: tails intact


def test_discretized_rejects_unscaled_data():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        discretized_gaussian_log_likelihood(torch.tensor([0.0, 255.0]), torch.zeros(2),
                                            torch.zeros(2))


def test_bound_uses_the_core_gaussian_kl(monkeypatch):
    assert diffusion.gaussian_kl is elbolab.kl.gaussian_kl
    calls = []

    def counting(*args, **kw):
        calls.append(1)
        return elbolab.kl.gaussian_kl(*args, **kw)

    monkeypatch.setattr(diffusion, "gaussian_kl", counting)
    tb = GaussianTestBed(M2, S2, linear_schedule(30))
    variational_bound(tb.sample(4), tb.reverse, tb.schedule)
    assert len(calls) == 30  # L_1 … L_29 and L_T


# -- the exact test bed -------------------------------------------------------------------------
def test_testbed_model_marginal_matches_ancestral_sampling():
    tb = GaussianTestBed(M2, S2, linear_schedule(40), "beta")
    g = torch.Generator().manual_seed(0)
    n = 100_000
    x = torch.randn(n, 2, generator=g, dtype=F64)
    for t in range(40, 0, -1):  # run the chain itself, no propagation formula
        mean, logvar = tb.reverse(x, t)
        x = mean + torch.exp(0.5 * logvar) * torch.randn(n, 2, generator=g, dtype=F64)
    mu, cov = tb.model_marginal()
    emp_cov = torch.cov(x.T)
    se_mu = torch.sqrt(torch.diagonal(cov) / n)
    assert ((x.mean(0) - mu).abs() / se_mu).max() < 4
    torch.testing.assert_close(emp_cov, cov, rtol=0.02, atol=0.01)


@pytest.mark.parametrize("variance", ["optimal", "beta", "posterior"])
def test_bound_below_exact_likelihood_and_gap_shrinks_with_T(variance):
    x0 = GaussianTestBed(M2, S2, linear_schedule(25)).sample(
        500, torch.Generator().manual_seed(1))
    gaps = []
    for T in (25, 100, 400):
        tb = GaussianTestBed(M2, S2, linear_schedule(T), variance)
        neg_bound = tb.bound_terms(x0).total
        log_p = tb.log_likelihood(x0)
        assert (-neg_bound <= log_p + 1e-10).all()  # every single x_0, exactly
        gaps.append((log_p + neg_bound).mean().item())
    assert gaps[0] > gaps[1] > gaps[2] > 0
    if variance != "posterior":  # O(1/T): the gap falls ~4x per 4x steps
        assert gaps[2] < gaps[0] / 8
        assert gaps[2] < 0.02


def test_optimal_variance_gives_the_tightest_bound():
    tb = {v: GaussianTestBed(M2, S2, linear_schedule(100), v)
          for v in ("optimal", "beta", "posterior")}
    x0 = tb["optimal"].sample(20_000, torch.Generator().manual_seed(2))
    nb = {v: b.bound_terms(x0).total.mean().item() for v, b in tb.items()}
    assert nb["optimal"] < nb["beta"] < nb["posterior"]


def test_sampled_bound_matches_closed_form_terms():
    tb = GaussianTestBed(M2, S2, linear_schedule(25), "beta")
    x0 = tb.sample(1, torch.Generator().manual_seed(1)).expand(100_000, 2)
    mc = variational_bound(x0, tb.reverse, tb.schedule, generator=torch.Generator().manual_seed(2))
    exact = tb.bound_terms(x0[:1]).terms[0]
    se = mc.terms.std(0) / math.sqrt(len(x0))
    z = (mc.terms.mean(0) - exact) / se.clamp_min(1e-12)
    assert z.abs().max() < 4.5, z
    assert mc.terms.shape == (100_000, 26)
    assert (exact[1:] >= 0).all()  # KL terms are non-negative
    assert mc.bits_per_dim().item() == pytest.approx(
        mc.total.mean().item() / (2 * math.log(2)), rel=1e-12)


def test_testbed_validates_inputs():
    with pytest.raises(ValueError, match="variance"):
        GaussianTestBed(M2, S2, linear_schedule(25), "large")
    with pytest.raises(ValueError, match="mean must be"):
        GaussianTestBed(M2, torch.eye(3, dtype=F64), linear_schedule(25))
    with pytest.raises(ValueError, match="cov must be a symmetric positive-definite"):
        GaussianTestBed(M2, -torch.eye(2, dtype=F64), linear_schedule(25))


# -- a trained model ------------------------------------------------------------------------------
def test_tiny_ddpm_learns_and_its_bound_is_above_the_data_entropy():
    mix = ring_mixture(k=4, radius=1.0, std=0.15)
    data = mix.sample(4000, torch.Generator().manual_seed(0))
    sch = linear_schedule(100)
    res = train_ddpm(data, schedule=sch, steps=600, batch_size=256, hidden=64, seed=0)
    first, last = np.mean(res.losses[:50]), np.mean(res.losses[-100:])
    assert last < 0.8 * first
    test = mix.sample(1000, torch.Generator().manual_seed(1))
    bound = res.model.bound(test.float(), torch.Generator().manual_seed(2))
    assert bound.terms.shape == (1000, 101)
    excess = (bound.total.double() - (-mix.log_prob(test)))
    se = excess.std().item() / math.sqrt(len(excess))
    # E[-bound] >= cross-entropy >= entropy, so the paired excess is positive (up to noise)
    assert excess.mean().item() > -4 * se
    samples = res.model.sample(500, 2, torch.Generator().manual_seed(3))
    assert samples.shape == (500, 2) and torch.isfinite(samples).all()
