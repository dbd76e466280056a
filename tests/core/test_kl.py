import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from elbolab import (
    KLDivergenceBuilder,
    gaussian_kl,
    gaussian_log_prob,
    monte_carlo_kl,
    mvn_kl,
    reparameterize,
    standard_normal_kl,
)

f64 = torch.float64
finite = st.floats(-50, 50, allow_nan=False)
logvars = st.floats(-20, 20, allow_nan=False)


def _normal(mu, logvar):
    return Normal(mu, torch.exp(0.5 * logvar))


def test_gaussian_kl_matches_torch_distributions(gen):
    mu1, lv1, mu2, lv2 = torch.randn(4, 5000, generator=gen, dtype=f64) * 2
    torch.testing.assert_close(
        gaussian_kl(mu1, lv1, mu2, lv2), kl_divergence(_normal(mu1, lv1), _normal(mu2, lv2))
    )


def _kl_mpmath(mu1, lv1, mu2, lv2):
    mpmath.mp.dps = 40
    mu1, lv1, mu2, lv2 = (mpmath.mpf(float(v)) for v in (mu1, lv1, mu2, lv2))
    return float(
        0.5 * (lv2 - lv1 + mpmath.exp(lv1 - lv2) + (mu1 - mu2) ** 2 * mpmath.exp(-lv2) - 1)
    )


def test_gaussian_kl_extreme_float32_matches_high_precision_reference():
    g = torch.Generator().manual_seed(3)
    n = 400
    lv1, lv2 = torch.empty(2, n).uniform_(-30, 30, generator=g)
    mu1, mu2 = torch.empty(2, n).uniform_(-1e3, 1e3, generator=g)
    corners = torch.tensor(
        [
            [-1e3, -30.0, 1e3, -30.0],
            [1e3, 30.0, -1e3, -30.0],
            [0.0, 30.0, 0.0, -30.0],
            [0.0, -30.0, 0.0, 30.0],
        ]
    )
    mu1, lv1, mu2, lv2 = (torch.cat([a, corners[:, i]]) for i, a in enumerate((mu1, lv1, mu2, lv2)))
    ours = gaussian_kl(mu1, lv1, mu2, lv2)
    assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
    ref = np.array([_kl_mpmath(*v) for v in zip(mu1, lv1, mu2, lv2, strict=True)])
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=1e-5)


def test_standard_normal_kl_extreme_float32_matches_reference():
    g = torch.Generator().manual_seed(4)
    mu = torch.empty(300, 8).uniform_(-1e3, 1e3, generator=g)
    logvar = torch.empty(300, 8).uniform_(-30, 30, generator=g)
    ours = standard_normal_kl(mu, logvar)
    ref = kl_divergence(
        Independent(_normal(mu.double(), logvar.double()), 1),
        Independent(Normal(torch.zeros(8, dtype=f64), 1.0), 1),
    )
    np.testing.assert_allclose(ours.double().numpy(), ref.numpy(), rtol=1e-5)


def test_gaussian_kl_near_zero_is_accurate_and_nonnegative():
    # tiny differences: the two-term form has no cancellation in the mean term and an
    # absolute error ~ eps·|r| in the variance term
    r = torch.tensor([1e-8, 1e-4, -1e-4, 1e-2], dtype=f64)
    out = gaussian_kl(
        torch.zeros(4, dtype=f64), r, torch.zeros(4, dtype=f64), torch.zeros(4, dtype=f64)
    )
    ref = torch.tensor([float(0.5 * (mpmath.expm1(v) - v)) for v in r.tolist()], dtype=f64)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-20)
    assert (out >= 0).all()


@given(finite, logvars, finite, logvars)
def test_kl_is_nonnegative(mu1, lv1, mu2, lv2):
    t = [torch.tensor(v, dtype=f64) for v in (mu1, lv1, mu2, lv2)]
    assert gaussian_kl(*t).item() >= 0


@given(finite, logvars)
def test_kl_of_a_distribution_with_itself_is_zero(mu, lv):
    mu, lv = torch.tensor(mu), torch.tensor(lv)
    assert gaussian_kl(mu, lv, mu, lv).item() == 0.0


@given(finite, logvars, finite, logvars)
def test_kl_is_asymmetric_except_for_equal_variances(mu1, lv1, mu2, lv2):
    t = [torch.tensor(v, dtype=f64) for v in (mu1, lv1, mu2, lv2)]
    forward, backward = gaussian_kl(*t).item(), gaussian_kl(t[2], t[3], t[0], t[1]).item()
    if abs(lv1 - lv2) > 0.1:
        assert forward != pytest.approx(backward, rel=1e-6)
    if lv1 == lv2:
        assert forward == pytest.approx(backward, rel=1e-12, abs=1e-300)


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 6))
def test_kl_broadcasts_like_tensors(a, b, d):
    g = torch.Generator().manual_seed(a * 100 + b * 10 + d)
    mu1 = torch.randn(a, 1, d, generator=g, dtype=f64)
    lv1 = torch.randn(d, generator=g, dtype=f64)
    mu2 = torch.randn(b, d, generator=g, dtype=f64)
    lv2 = torch.randn(a, b, 1, generator=g, dtype=f64)
    out = gaussian_kl(mu1, lv1, mu2, lv2)
    assert out.shape == (a, b, d)
    e = [t.expand(a, b, d) for t in (mu1, lv1, mu2, lv2)]
    torch.testing.assert_close(out, kl_divergence(_normal(e[0], e[1]), _normal(e[2], e[3])))


def test_standard_normal_kl_sums_last_dim(gen):
    mu, lv = torch.randn(2, 7, 3, generator=gen, dtype=f64)
    out = standard_normal_kl(mu, lv)
    assert out.shape == (7,)
    ref = kl_divergence(
        Independent(_normal(mu, lv), 1), Independent(Normal(torch.zeros(3, dtype=f64), 1.0), 1)
    )
    torch.testing.assert_close(out, ref)


def _random_tril(g, *shape):
    a = torch.randn(*shape, generator=g, dtype=f64)
    return torch.linalg.cholesky(a @ a.mT + 0.3 * torch.eye(shape[-1], dtype=f64))


def test_mvn_kl_matches_torch_distributions_with_batch_broadcasting(gen):
    l1, l2 = _random_tril(gen, 6, 1, 4, 4), _random_tril(gen, 3, 4, 4)
    m1, m2 = (
        torch.randn(6, 3, 4, generator=gen, dtype=f64),
        torch.randn(4, generator=gen, dtype=f64),
    )
    out = mvn_kl(m1, l1, m2, l2)
    assert out.shape == (6, 3)
    ref = kl_divergence(
        MultivariateNormal(m1, scale_tril=l1), MultivariateNormal(m2, scale_tril=l2)
    )
    torch.testing.assert_close(out, ref)


def test_mvn_kl_reduces_to_diagonal_kl(gen):
    mu1, lv1, mu2, lv2 = torch.randn(4, 5, 3, generator=gen, dtype=f64)
    out = mvn_kl(
        mu1, torch.diag_embed(torch.exp(0.5 * lv1)), mu2, torch.diag_embed(torch.exp(0.5 * lv2))
    )
    torch.testing.assert_close(out, gaussian_kl(mu1, lv1, mu2, lv2).sum(-1))


def test_mvn_kl_uses_no_explicit_inverse(monkeypatch, gen):
    def forbidden(*a, **k):
        raise AssertionError("explicit inverse used")

    monkeypatch.setattr(torch, "inverse", forbidden)
    monkeypatch.setattr(torch.linalg, "inv", forbidden)
    l1 = _random_tril(gen, 3, 3)
    assert mvn_kl(torch.zeros(3, dtype=f64), l1, torch.ones(3, dtype=f64), l1).item() > 0


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"scale_tril1": -torch.eye(3)}, ValueError, "diagonal of scale_tril1"),
        ({"scale_tril2": torch.ones(3, 2)}, ValueError, "scale_tril2 must have shape"),
        ({"mu1": torch.zeros(4)}, ValueError, "mu1 must have shape"),
        ({"mu2": torch.tensor([0.0, float("nan"), 0.0])}, ValueError, "mu2 contains"),
    ],
)
def test_mvn_kl_bad_input(kwargs, exc, needle):
    args = {
        "mu1": torch.zeros(3),
        "scale_tril1": torch.eye(3),
        "mu2": torch.zeros(3),
        "scale_tril2": torch.eye(3),
    }
    args.update(kwargs)
    with pytest.raises(exc, match=needle):
        mvn_kl(**args)


def test_monte_carlo_kl_agrees_with_closed_form_within_4_standard_errors(gen):
    mu_p, lv_p = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([0.5, -0.3, 0.0])
    mu_q, lv_q = torch.tensor([0.3, 0.0, -1.0]), torch.tensor([0.0, 0.2, 1.0])
    exact = gaussian_kl(mu_p, lv_p, mu_q, lv_q).sum()
    for n in (100, 10_000, 200_000):
        x = reparameterize(mu_p, lv_p, sample_shape=(n,), generator=gen)
        r = monte_carlo_kl(
            x,
            lambda s: gaussian_log_prob(s, mu_p, lv_p).sum(-1),
            lambda s: gaussian_log_prob(s, mu_q, lv_q).sum(-1),
        )
        assert r.n == n
        assert abs(r.z_score(exact).item()) < 4, (n, r)


def test_monte_carlo_kl_standard_error_is_calibrated():
    """Across 400 independent repetitions the spread of the estimate equals the reported SE."""
    g = torch.Generator().manual_seed(7)
    p, q = Normal(0.0, 1.0), Normal(1.0, 1.5)
    x = torch.randn(400, 500, generator=g)  # 400 repetitions of n = 500 draws from p
    est, se = [], []
    for row in x:
        r = monte_carlo_kl(row, p.log_prob, q.log_prob)
        est.append(r.estimate.item())
        se.append(r.stderr.item())
    ratio = np.std(est, ddof=1) / np.mean(se)
    # the sample std of 400 estimates has relative std ~ 1/sqrt(800) = 3.5%; allow 4 sigma
    assert abs(ratio - 1) < 0.15


def test_monte_carlo_kl_batched_and_builder_api(gen):
    kl = KLDivergenceBuilder()
    mu = torch.tensor([[0.0], [2.0]])  # two independent problems, batch of 2
    x = mu + torch.randn(5000, 2, 1, generator=gen)

    def log_p(s):
        return gaussian_log_prob(s, mu, torch.zeros(1)).sum(-1)

    def log_q(s):
        return gaussian_log_prob(s, torch.zeros(1), torch.zeros(1)).sum(-1)

    r = kl.monte_carlo_kl(x, log_p, log_q)
    assert r.estimate.shape == (2,) and r.stderr.shape == (2,) and r.n == 5000
    assert torch.all((r.estimate - torch.tensor([0.0, 2.0])).abs() < 4 * r.stderr + 1e-6)


def test_builder_closed_form_takes_standard_deviations():
    kl = KLDivergenceBuilder()
    out = kl.gaussian_kl_closed_form(
        torch.tensor([0.0, 1.0]),
        torch.tensor([1.0, 2.0]),
        torch.tensor([1.0, 1.0]),
        torch.tensor([2.0, 0.5]),
    )
    ref = kl_divergence(
        Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])),
        Normal(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.5])),
    )
    torch.testing.assert_close(out, ref)
    assert kl.gaussian_kl_closed_form(0.0, 1.0, 1.0, 2.0).item() == pytest.approx(
        math.log(2) + 2 / 8 - 0.5
    )
    assert kl.standard_normal_kl(torch.zeros(3, 4), torch.zeros(3, 4)).shape == (3,)


@pytest.mark.parametrize(
    ("args", "exc", "needle"),
    [
        ((0.0, -1.0, 0.0, 1.0), ValueError, "sigma1 must be strictly positive"),
        ((0.0, 1.0, 0.0, 0.0), ValueError, "sigma2 must be strictly positive"),
        ((float("nan"), 1.0, 0.0, 1.0), ValueError, "mu1 contains"),
        ((0.0, float("inf"), 0.0, 1.0), ValueError, "sigma1 contains"),
        ((torch.tensor([1, 2]), 1.0, 0.0, 1.0), TypeError, "mu1 must have a floating-point"),
        ((torch.zeros(3), torch.ones(2), 0.0, 1.0), ValueError, "cannot be broadcast"),
        (("a", 1.0, 0.0, 1.0), TypeError, "mu1 must be a tensor or a float"),
    ],
)
def test_builder_bad_input_names_the_argument(args, exc, needle):
    with pytest.raises(exc, match=needle):
        KLDivergenceBuilder().gaussian_kl_closed_form(*args)


def test_monte_carlo_kl_bad_input():
    with pytest.raises(ValueError, match="n >= 1 samples"):
        monte_carlo_kl(torch.zeros(0, 2), lambda s: s.sum(-1), lambda s: s.sum(-1))
    with pytest.raises(ValueError, match="log_q"):
        monte_carlo_kl(torch.zeros(5, 2), lambda s: s.sum(-1), lambda s: s.sum())
    with pytest.raises(TypeError, match="samples_from_p"):
        monte_carlo_kl(torch.zeros(5, 2, dtype=torch.int64), lambda s: s, lambda s: s)
