"""The exact Gaussian test bed: its model marginal against ancestral sampling, bound below the
exact likelihood for every x_0, the gap closing in T, sampled terms against closed forms."""

import math

import pytest
import torch

from elbolab.diffusion import (
    GaussianTestBed,
    linear_schedule,
    variational_bound,
)

F64 = torch.float64
S2 = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=F64)
M2 = torch.tensor([0.5, -0.3], dtype=F64)


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


def test_model_marginal_is_float64_throughout():
    # the same recursion in numpy float64 (an independent implementation): agreement to 1e-12
    # fails if any factor (e.g. the noise's identity matrix) is float32 (errors ~5e-8)
    import numpy as np

    tb = GaussianTestBed(M2, S2, linear_schedule(50), "optimal")
    mu, cov = tb.model_marginal()
    assert mu.dtype == cov.dtype == torch.float64
    m_np, c_np = np.zeros(2), np.eye(2)
    for t in range(50, 0, -1):
        M, b = tb.M[t].numpy(), tb.b[t].numpy()
        m_np = M @ m_np + b
        c_np = M @ c_np @ M.T + np.exp(tb.logvar[t].item()) * np.eye(2)
    np.testing.assert_allclose(mu.numpy(), m_np, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cov.numpy(), 0.5 * (c_np + c_np.T), rtol=1e-12, atol=1e-14)


def test_bound_sign_elbo_is_minus_the_total_and_below_the_log_likelihood():
    # Ho et al.'s terms are losses: total = -ELBO >= -log p; .elbo has the library's sign
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.8]], dtype=torch.float64)
    tb = GaussianTestBed(torch.zeros(2, dtype=torch.float64), cov, linear_schedule(50), "beta")
    x0 = tb.sample(64, torch.Generator().manual_seed(0))
    bound = tb.bound_terms(x0)
    assert torch.equal(bound.elbo, -bound.total)
    assert (bound.elbo <= tb.log_likelihood(x0) + 1e-12).all()
