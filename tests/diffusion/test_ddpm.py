"""A tiny trained DDPM: its loss falls, its bound stays above the data's exact entropy, and
its samples lie on the data."""

import math

import numpy as np
import torch

from elbolab.diffusion import (
    linear_schedule,
    ring_mixture,
    train_ddpm,
)


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
