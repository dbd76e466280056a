"""Annealed importance sampling and its reverse chain (issue 18) against the exact log p(x) of
the linear-Gaussian model of Part 1."""

from __future__ import annotations

import math

import pytest
import torch

from elbolab.ais import annealed_importance_sampling, sigmoid_schedule
from elbolab.parts.latent_models import LinearGaussianModel

F64 = torch.float64


def _problem(n=16, seed=0, noise=0.5, data_dim=8):
    model = LinearGaussianModel(latent_dim=3, data_dim=data_dim, noise_std=noise, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    x = model.sample_data(n, gen)
    return model, x, model.exact_log_marginal(x), gen


def _bounds(steps, chains=32, seed=0, **problem):
    model, x, exact, gen = _problem(seed=seed, **problem)

    def ll(z):
        return model.log_likelihood(x, z)

    fw = annealed_importance_sampling(ll, torch.randn(chains, len(x), 3, generator=gen, dtype=F64),
                                      sigmoid_schedule(steps), leapfrog=5, generator=gen)
    z_post = model.exact_posterior(x).sample(chains, gen)  # (chains, n, 3): exact draws
    rv = annealed_importance_sampling(ll, z_post, sigmoid_schedule(steps).flip(0), leapfrog=5,
                                      generator=gen)
    return fw, rv, exact


def test_sigmoid_schedule_runs_from_0_to_1_and_is_symmetric():
    b = sigmoid_schedule(100)
    assert b.dtype == F64 and b[0] == 0 and b[-1] == 1 and bool((b.diff() > 0).all())
    assert torch.allclose(b + b.flip(0), torch.ones_like(b), atol=1e-15)  # σ(-u) = 1 - σ(u)


def test_ais_agrees_with_the_exact_log_marginal_within_its_standard_error():
    fw, _, exact = _bounds(300)
    z = (fw.estimate.estimate - exact) / fw.estimate.stderr
    assert z.abs().max().item() < 4.0, z  # 16 data points, the delta-method SE of 32 chains
    assert 0.3 < fw.acceptance < 0.95


# a sharp posterior (σ_x = 0.1, D = 16): the bounds' bias, not their noise, sets the bracket
SHARP = dict(noise=0.1, data_dim=16)


def test_bdmc_sandwiches_the_exact_log_marginal():
    fw, rv, exact = _bounds(125, chains=16, **SHARP)
    # averaged over the 16 data points (Wu et al. 2017 report averages): the lower bound below
    # the truth, the upper bound above it (both stochastic bounds; seeded)
    assert fw.estimate.estimate.mean() <= exact.mean() <= rv.estimate.estimate.mean()


def test_the_bdmc_bracket_narrows_as_the_schedule_grows():
    widths = []
    for steps in (5, 25, 125):
        fw, rv, _ = _bounds(steps, chains=16, **SHARP)
        widths.append((rv.estimate.estimate - fw.estimate.estimate).mean().item())
    # measured ~12, ~3 and ~0.4 nats: each 5x longer schedule narrows it severalfold
    assert widths[0] > 2 * widths[1] > 4 * widths[2] > 0, widths


def test_one_step_is_importance_sampling_from_the_prior():
    # T = 1 and no move that matters: log w = log p(x | z0), z0 ~ p(z): naive Monte Carlo
    model, x, _, gen = _problem(n=3)
    z0 = torch.randn(8, 3, 3, generator=gen, dtype=F64)
    res = annealed_importance_sampling(lambda z: model.log_likelihood(x, z), z0,
                                       torch.tensor([0.0, 1.0], dtype=F64), generator=gen)
    assert torch.allclose(res.log_weights, model.log_likelihood(x, z0), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(betas=torch.tensor([0.0, 0.5], dtype=F64)), "from 0 to 1"),
    (dict(betas=torch.tensor([0.0, 0.7, 0.3, 1.0], dtype=F64)), "monotonically"),
    (dict(step_size=-0.1), "step_size"),
    (dict(leapfrog=0), "leapfrog"),
    (dict(z0=torch.zeros(3, dtype=F64)), "z0"),
    (dict(z0=torch.full((2, 1, 3), math.nan, dtype=F64)), "z0"),
])
def test_bad_input_names_the_argument(kwargs, words):
    args = dict(log_likelihood=lambda z: -(z ** 2).sum(-1), z0=torch.zeros(2, 1, 3, dtype=F64),
                betas=sigmoid_schedule(5))
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=words):
        annealed_importance_sampling(**args)
