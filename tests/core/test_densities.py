import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from torch.distributions import Bernoulli, Normal

from elbolab import bernoulli_log_prob, gaussian_log_prob, log_mean_exp, set_default_validate
from elbolab.checks import validation

f64 = torch.float64


def test_gaussian_log_prob_matches_torch_and_scipy(gen):
    x, mean, logvar = torch.randn(3, 1000, generator=gen, dtype=f64)
    ours = gaussian_log_prob(x, mean, logvar)
    torch.testing.assert_close(
        ours, Normal(mean, torch.exp(0.5 * logvar)).log_prob(x), rtol=1e-12, atol=1e-12
    )
    ref = stats.norm.logpdf(x.numpy(), mean.numpy(), np.exp(0.5 * logvar.numpy()))
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_gaussian_log_prob_broadcasts(gen):
    x = torch.randn(5, 1, 3, generator=gen, dtype=f64)
    mean = torch.randn(4, 3, generator=gen, dtype=f64)
    logvar = torch.tensor(0.3, dtype=f64)
    out = gaussian_log_prob(x, mean, logvar)
    assert out.shape == (5, 4, 3)
    torch.testing.assert_close(out, Normal(mean, math.exp(0.15)).log_prob(x))


def test_gaussian_log_prob_extreme_values_float32_match_float64_reference():
    g = torch.Generator().manual_seed(0)
    n = 20_000
    logvar = torch.empty(n).uniform_(-30, 30, generator=g)
    mean = torch.empty(n).uniform_(-1e3, 1e3, generator=g)
    # x within a few standard deviations and also far out in the tails
    x = mean + torch.randn(n, generator=g) * torch.exp(0.5 * logvar) * 3
    corners = torch.tensor([[-30.0, -1e3, -1e3], [30.0, 1e3, -1e3], [-30.0, 1e3, 1e3 - 1e-3]])
    logvar = torch.cat([logvar, corners[:, 0]])
    mean = torch.cat([mean, corners[:, 1]])
    x = torch.cat([x, corners[:, 2]])
    ours = gaussian_log_prob(x, mean, logvar)
    assert torch.isfinite(ours).all()
    ref = stats.norm.logpdf(
        x.double().numpy(), mean.double().numpy(), np.exp(0.5 * logvar.double().numpy())
    )
    # 1e-5 relative, with the relative scale floored at 1 nat: where the two terms of the
    # log-density cancel to |log p| << 1, float32 rounding of O(1) terms dominates (any
    # float32 implementation has this absolute error, ~1e-7 here).
    np.testing.assert_allclose(ours.double().numpy(), ref, rtol=1e-5, atol=1e-5)
    big = np.abs(ref) >= 1
    np.testing.assert_allclose(ours.double().numpy()[big], ref[big], rtol=1e-5)


def test_bernoulli_log_prob_matches_torch_for_binary_data(gen):
    logits = torch.randn(2000, generator=gen, dtype=f64) * 5
    x = torch.bernoulli(torch.full((2000,), 0.4, dtype=f64), generator=gen)
    torch.testing.assert_close(bernoulli_log_prob(x, logits), Bernoulli(logits=logits).log_prob(x))
    p = torch.sigmoid(logits).numpy()
    np.testing.assert_allclose(
        bernoulli_log_prob(x, logits).numpy(), stats.bernoulli.logpmf(x.numpy(), p), rtol=1e-6
    )


def test_bernoulli_log_prob_gradient_matches_torch(gen):
    logits = (torch.randn(500, generator=gen, dtype=f64) * 30).requires_grad_()
    x = torch.rand(500, generator=gen, dtype=f64)
    (g_ours,) = torch.autograd.grad(bernoulli_log_prob(x, logits).sum(), logits)
    (g_ref,) = torch.autograd.grad(
        (
            x * torch.nn.functional.logsigmoid(logits)
            + (1 - x) * torch.nn.functional.logsigmoid(-logits)
        ).sum(),
        logits,
    )
    torch.testing.assert_close(g_ours, g_ref)


def test_bernoulli_log_prob_continuous_intensities_is_negative_bce(gen):
    x = torch.rand(1000, generator=gen, dtype=f64)
    logits = torch.randn(1000, generator=gen, dtype=f64) * 3
    p = torch.sigmoid(logits)
    ref = x * torch.log(p) + (1 - x) * torch.log1p(-p)
    torch.testing.assert_close(bernoulli_log_prob(x, logits), ref)


def test_bernoulli_log_prob_never_forms_log_zero():
    logits = torch.tensor([-1e3, -100.0, 100.0, 1e3])
    x = torch.tensor([1.0, 1.0, 0.0, 0.0])
    out = bernoulli_log_prob(x, logits)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, -logits.abs())  # log sigmoid(-|l|) ~ -|l|


def test_bernoulli_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match="x must lie in"):
        bernoulli_log_prob(torch.tensor([1.5]), torch.tensor([0.0]))


@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=30))
def test_log_mean_exp_matches_float64_reference(values):
    a = torch.tensor(values, dtype=f64)
    ref = np.log(np.mean(np.exp(np.array(values) - max(values)))) + max(values)
    assert log_mean_exp(a).item() == pytest.approx(ref, rel=1e-12, abs=1e-9)


def test_log_mean_exp_huge_values_and_neg_inf_weights():
    a = torch.tensor([[1000.0, 1000.0], [-math.inf, 0.0]])
    out = log_mean_exp(a, dim=1)
    assert out[0].item() == pytest.approx(1000.0)
    assert out[1].item() == pytest.approx(-math.log(2))


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"x": torch.tensor([float("nan")])}, ValueError, "x contains"),
        ({"mean": torch.tensor([float("inf")])}, ValueError, "mean contains"),
        ({"logvar": torch.tensor([1, 2])}, TypeError, "logvar must have a floating-point"),
        ({"x": torch.zeros(3), "mean": torch.zeros(4)}, ValueError, "cannot be broadcast"),
        ({"x": [0.0]}, TypeError, "x must be a torch.Tensor"),
    ],
)
def test_gaussian_log_prob_bad_input_names_the_argument(kwargs, exc, needle):
    args = {"x": torch.zeros(1), "mean": torch.zeros(1), "logvar": torch.zeros(1)}
    args.update(kwargs)
    with pytest.raises(exc, match=needle):
        gaussian_log_prob(**args)


def test_validate_switch_skips_checks():
    bad = torch.tensor([float("nan")])
    assert torch.isnan(gaussian_log_prob(bad, torch.zeros(1), torch.zeros(1), validate=False))
    with validation(False):
        assert torch.isnan(gaussian_log_prob(bad, torch.zeros(1), torch.zeros(1)))
    with pytest.raises(ValueError):
        gaussian_log_prob(bad, torch.zeros(1), torch.zeros(1))
    set_default_validate(False)
    try:
        gaussian_log_prob(bad, torch.zeros(1), torch.zeros(1))
    finally:
        set_default_validate(True)


def test_float32_in_float32_out():
    out = gaussian_log_prob(torch.zeros(3), torch.zeros(3), torch.zeros(3))
    assert out.dtype == torch.float32
    out = bernoulli_log_prob(torch.zeros(3, dtype=f64), torch.zeros(3, dtype=f64))
    assert out.dtype == f64
