"""The discretized Gaussian decoder against scipy's normal CDF and mpmath in the tails."""

import math

import mpmath
import numpy as np
import pytest
import torch
from scipy import stats

from elbolab.densities import discretized_gaussian_log_prob

F64 = torch.float64


@pytest.mark.parametrize("mean,logvar", [(0.3, math.log(1e-2)), (0.999, math.log(1e-6)),
                                         (-0.2, math.log(4.0)), (5.0, math.log(0.1)),
                                         (-0.7, math.log(1e-8))])
def test_discretized_likelihood_normalizes_and_matches_scipy(mean, logvar):
    grid = torch.arange(256, dtype=F64) * 2 / 255 - 1
    lp = discretized_gaussian_log_prob(grid, torch.tensor(mean, dtype=F64),
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
    lp = discretized_gaussian_log_prob(grid, torch.tensor(mean, dtype=F64),
                                             torch.tensor(2 * math.log(sd), dtype=F64))
    for x, got in zip(grid.tolist(), lp.tolist(), strict=True):
        lo = -mpmath.inf if x < -1 + 1e-6 else mpmath.mpf(x) - mpmath.mpf(1) / 255
        hi = mpmath.inf if x > 1 - 1e-6 else mpmath.mpf(x) + mpmath.mpf(1) / 255
        ref = mpmath.log(mpmath.ncdf(hi, mean, sd) - mpmath.ncdf(lo, mean, sd))
        assert got == pytest.approx(float(ref), rel=1e-9)  # about -150 nats: tails intact


def test_discretized_rejects_unscaled_data():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        discretized_gaussian_log_prob(torch.tensor([0.0, 255.0]), torch.zeros(2),
                                            torch.zeros(2))
