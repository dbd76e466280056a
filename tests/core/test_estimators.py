import math

import numpy as np
import pytest
import torch

from elbolab import effective_sample_size, iwae_bound, monte_carlo_mean
from elbolab.estimators import LogMeanExpAccumulator


def test_monte_carlo_mean_matches_numpy(gen):
    v = torch.randn(1000, 3, generator=gen, dtype=torch.float64)
    r = monte_carlo_mean(v)
    np.testing.assert_allclose(r.estimate.numpy(), v.numpy().mean(0))
    np.testing.assert_allclose(r.stderr.numpy(), v.numpy().std(0, ddof=1) / math.sqrt(1000))
    assert r.n == 1000


def test_monte_carlo_mean_single_sample_has_infinite_stderr():
    r = monte_carlo_mean(torch.tensor([2.0]))
    assert r.estimate.item() == 2.0 and math.isinf(r.stderr.item())


def test_monte_carlo_mean_rejects_bad_values():
    with pytest.raises(ValueError, match="values contains"):
        monte_carlo_mean(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="values must hold at least one sample"):
        monte_carlo_mean(torch.zeros(0))


def test_iwae_bound_is_log_mean_of_weights():
    log_w = torch.log(torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64))
    torch.testing.assert_close(
        iwae_bound(log_w, dim=0), torch.log(torch.tensor([2.0, 4.0], dtype=torch.float64))
    )
    torch.testing.assert_close(iwae_bound(log_w[:1]), log_w[0])  # k = 1 is the log-weight
    with pytest.raises(ValueError, match="log_weights must hold k >= 1"):
        iwae_bound(torch.zeros(0, 3))


def test_iwae_bound_does_not_overflow_for_huge_log_weights():
    log_w = torch.tensor([-1e4, -1e4 + math.log(3.0)])
    assert iwae_bound(log_w).item() == pytest.approx(-1e4 + math.log(2.0))


def test_effective_sample_size_bounds():
    assert effective_sample_size(torch.zeros(50)).item() == pytest.approx(50.0)
    assert effective_sample_size(torch.tensor([0.0, -1e3, -1e3])).item() == pytest.approx(1.0)
    w = torch.tensor([1.0, 2.0, 3.0])
    assert effective_sample_size(w.log()).item() == pytest.approx(36 / 14)


def test_streaming_accumulator_equals_one_shot(gen):
    a = torch.randn(5000, 4, generator=gen, dtype=torch.float64) * 5 - 800
    acc = LogMeanExpAccumulator()
    for chunk in a.split(333):
        acc.update(chunk)
    r = acc.result()
    torch.testing.assert_close(r.estimate, iwae_bound(a))
    torch.testing.assert_close(r.ess, effective_sample_size(a))
    acc2 = LogMeanExpAccumulator()
    acc2.update(torch.full((3, 2), -math.inf, dtype=torch.float64))
    acc2.update(torch.zeros(3, 2, dtype=torch.float64))
    half = torch.full((2,), math.log(0.5), dtype=torch.float64)
    torch.testing.assert_close(acc2.result().estimate, half)


def test_weights_that_are_not_log_weights_are_refused_naming_them():
    """NaN or +inf log-weights, integer dtypes, empty or all-zero-weight slices: a clear error,
    never a NaN effective sample size or log-mean (issue 15, item 6). −inf is a zero weight."""
    from elbolab.estimators import LogMeanExpAccumulator, effective_sample_size

    for bad, err, needle in [(torch.tensor([0.0, math.nan]), ValueError, "NaN or \\+inf"),
                             (torch.tensor([0.0, math.inf]), ValueError, "NaN or \\+inf"),
                             (torch.tensor([1, 2]), TypeError, "floating-point"),
                             (torch.zeros(0), ValueError, "at least one weight"),
                             (torch.full((3,), -math.inf), ValueError, "undefined")]:
        with pytest.raises(err, match=f"log_weights.*{needle}|{needle}"):
            effective_sample_size(bad)
    # a zero weight among others is fine: ESS of (1, 1, 0) is 2
    assert effective_sample_size(torch.tensor([0.0, 0.0, -math.inf])).item() == pytest.approx(2)
    acc = LogMeanExpAccumulator()
    with pytest.raises(ValueError, match="log_w contains 1 NaN"):
        acc.update(torch.tensor([[0.0], [math.nan]]))
    acc.update(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="batch shape \\(3,\\) differs"):
        acc.update(torch.zeros(4, 3))
    est = acc.result()
    with pytest.raises(ValueError, match="truth must be finite"):
        est.z_score(math.nan)


def test_mixture_and_objective_refuse_what_they_used_to_broadcast_or_accept():
    """A mixture's log_prob of points of the wrong dimension (once broadcast silently), a
    negative draw count, and a negative warm-up step (once negative KL weights)."""
    from elbolab.mixture import GaussianMixture
    from elbolab.vae.objectives import Objective

    mix = GaussianMixture(torch.tensor([0.5, 0.5]), torch.zeros(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="x must be \\(..., 3\\)"):
        mix.log_prob(torch.zeros(4, 1))
    with pytest.raises(ValueError, match="n must be >= 1"):
        mix.sample(-1)
    with pytest.raises(ValueError, match="step must be >= 0"):
        Objective("warmup").kl_weights(torch.ones(1, 2), torch.ones(1), step=-5)
