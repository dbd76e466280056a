"""The forward process, its posterior and the bound's terms against numpy/mpmath float64
formulas and Gaussian conditioning; every KL is the core's."""

import math

import mpmath
import numpy as np
import pytest
import torch

import elbolab.diffusion.process
import elbolab.kl
from elbolab.diffusion import (
    GaussianTestBed,
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


def test_bound_uses_the_core_gaussian_kl(monkeypatch):
    assert elbolab.diffusion.process.gaussian_kl is elbolab.kl.gaussian_kl
    calls = []

    def counting(name, fn):
        def wrapped(*args, **kw):
            calls.append(name)
            return fn(*args, **kw)
        return wrapped

    monkeypatch.setattr(elbolab.diffusion.process, "gaussian_kl",
                        counting("L_t-1", elbolab.kl.gaussian_kl))
    monkeypatch.setattr(elbolab.diffusion.process, "standard_normal_kl_per_dim",
                        counting("L_T", elbolab.kl.standard_normal_kl_per_dim))
    tb = GaussianTestBed(M2, S2, linear_schedule(30))
    variational_bound(tb.sample(4), tb.reverse, tb.schedule)
    assert calls.count("L_t-1") == 29 and calls.count("L_T") == 1  # L_1 … L_29 and L_T


# -- the exact test bed -------------------------------------------------------------------------


def test_bad_tensors_are_refused_naming_them_not_passed_through():
    """NaN/inf and integer inputs to the forward process raise naming the argument (they
    used to come back as NaN, or as an int64 log-variance; issue 15, item 6)."""
    import math

    import pytest
    import torch

    from elbolab.diffusion.process import mean_from_eps, q_marginal, q_posterior, q_sample
    from elbolab.diffusion.schedules import linear_schedule

    sched = linear_schedule(100)
    x = torch.zeros(2, 3)
    nan = torch.full((2, 3), math.nan)
    with pytest.raises(TypeError, match="x0 must have a floating-point dtype"):
        q_marginal(torch.zeros(2, 3, dtype=torch.int64), 3, sched)
    with pytest.raises(ValueError, match="x0 contains 6 NaN"):
        q_marginal(nan, 3, sched)
    with pytest.raises(ValueError, match="eps contains"):
        q_sample(x, 3, sched, eps=nan)
    with pytest.raises(ValueError, match="xt contains"):
        q_posterior(x, nan, 3, sched)
    with pytest.raises(ValueError, match="eps contains"):
        mean_from_eps(x, 3, nan, sched)
    q_marginal(nan, 3, sched, validate=False)  # the hot paths can turn it off


def test_the_two_bin_decoder_is_the_gaussian_mass_on_each_side_of_zero():
    # binary data at ±1: bins=2 gives x0 = +1 the mass of [0, ∞) and −1 that of (−∞, 0], so
    # −L_0 per pixel is log Φ(±μ/σ) (scipy), and the two sum to 1
    from scipy import stats as sstats

    from elbolab.diffusion import decoder_nll

    g = torch.Generator().manual_seed(4)
    mean = 2 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(50, 3, generator=g, dtype=torch.float64) - 1
    x0 = torch.where(torch.rand(50, 3, generator=g) < 0.5, -1.0, 1.0).double()
    sd = torch.exp(0.5 * logvar)
    expected = -torch.from_numpy(sstats.norm.logcdf((x0 * mean / sd).numpy())).sum(-1)
    torch.testing.assert_close(decoder_nll(x0, mean, logvar, "discretized", bins=2), expected,
                               rtol=1e-12, atol=1e-12)
    both = torch.logaddexp(-decoder_nll(-torch.ones(1, 1, dtype=torch.float64), mean[:1, :1],
                                        logvar[:1, :1], "discretized", bins=2),
                           -decoder_nll(torch.ones(1, 1, dtype=torch.float64), mean[:1, :1],
                                        logvar[:1, :1], "discretized", bins=2))
    assert abs(both.item()) < 1e-14
    with pytest.raises(ValueError, match="bins"):
        decoder_nll(x0, mean, logvar, "discretized", bins=1)
