import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

from elbolab.mixture import GaussianMixture
from elbolab.parts.asymmetry import (
    asymmetry_grid,
    bimodal_1d,
    bimodal_2d,
    fit_gaussian,
    kl_both_ways,
)

f64 = torch.float64


def _torch_mixture(m: GaussianMixture):
    return MixtureSameFamily(Categorical(probs=m.weights), Independent(Normal(m.means, m.stds), 1))


def test_mixture_log_prob_and_moments_match_torch(gen):
    m = bimodal_2d()
    x = m.sample(20_000, gen)
    torch.testing.assert_close(m.log_prob(x[:100]), _torch_mixture(m).log_prob(x[:100]))
    ref = _torch_mixture(m)
    torch.testing.assert_close(m.mean(), ref.mean)
    torch.testing.assert_close(m.covariance().diagonal(), ref.variance)
    # sample moments within 4 standard errors
    se = m.covariance().diagonal().sqrt() / np.sqrt(len(x))
    assert ((x.mean(0) - m.mean()).abs() < 4 * se).all()


def test_forward_fit_recovers_moment_matching(gen):
    target = bimodal_1d()
    fit = fit_gaussian(target, "forward", steps=800, generator=gen)
    assert abs(fit.mean - target.mean()).item() < 0.1
    assert abs(fit.std / target.covariance().diagonal().sqrt() - 1).item() < 0.03


def test_reverse_fit_seeks_the_nearest_mode(gen):
    target = bimodal_1d()
    for start, mode in ((-0.5, 0), (1.0, 1)):
        fit = fit_gaussian(
            target, "reverse", steps=800, init_mean=torch.tensor([start]), generator=gen
        )
        assert abs(fit.mean - target.means[mode]).item() < 0.15
        assert abs(fit.std / target.stds[mode] - 1).item() < 0.1
        # KL(q||p) to a single mode of weight 1/2 is about log 2
        _, reverse = kl_both_ways(target, fit, 50_000, gen)
        assert abs(reverse.estimate.item() - np.log(2)) < 0.05


def test_each_fit_wins_its_own_direction(gen):
    target = bimodal_1d()
    fwd = fit_gaussian(target, "forward", steps=600, generator=gen)
    rev = fit_gaussian(target, "reverse", steps=600, init_mean=torch.tensor([1.0]), generator=gen)
    f_pq, f_qp = kl_both_ways(target, fwd, 50_000, gen)
    r_pq, r_qp = kl_both_ways(target, rev, 50_000, gen)
    assert f_pq.estimate < r_pq.estimate - 4 * (f_pq.stderr + r_pq.stderr)
    assert r_qp.estimate < f_qp.estimate - 4 * (f_qp.stderr + r_qp.stderr)


def test_asymmetry_grid_against_torch_and_symmetry_at_equal_widths():
    dm = np.linspace(-2, 2, 9)
    r = np.array([0.5, 1.0, 3.0])
    fwd, rev = asymmetry_grid(dm, r)
    assert fwd.shape == rev.shape == (3, 9)
    p = Normal(torch.zeros((), dtype=f64), 1.0)
    q = Normal(torch.tensor(dm)[None, :], torch.tensor(r)[:, None])
    np.testing.assert_allclose(fwd, kl_divergence(p, q).numpy(), rtol=1e-12)
    np.testing.assert_allclose(rev, kl_divergence(q, p).numpy(), rtol=1e-12)
    np.testing.assert_allclose(fwd[1], rev[1], rtol=1e-12)
    assert (fwd[0] > rev[0]).all() and (fwd[2] < rev[2]).all()


def test_mixture_and_fit_bad_input():
    with pytest.raises(ValueError, match="weights must sum to 1"):
        GaussianMixture(torch.tensor([0.5, 0.6]), torch.zeros(2, 1), torch.ones(2, 1))
    with pytest.raises(ValueError, match="stds must be strictly positive"):
        GaussianMixture(torch.tensor([1.0]), torch.zeros(1, 1), torch.zeros(1, 1))
    with pytest.raises(ValueError, match="direction must be one of"):
        fit_gaussian(bimodal_1d(), "sideways")
