"""Noise schedules against Ho et al. (2020) and Nichol & Dhariwal (2021), in float64."""


import numpy as np
import pytest
import torch

import elbolab.diffusion as diffusion
from elbolab.diffusion import (
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
    q_posterior,
    q_sample,
)

F64 = torch.float64


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
