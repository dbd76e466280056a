"""The objectives' KL weights and penalties against hand-computed values."""

import pytest
import torch

from elbolab.vae.objectives import Objective


def test_objective_kl_weights():
    kl = torch.tensor([[0.2, 1.0, 3.0], [0.0, 0.6, 0.4]])
    betas = torch.tensor([1.0, 4.0])
    w, pen = Objective("beta").kl_weights(kl, betas, step=10)
    assert w.shape == (2, 1, 1) and torch.equal(w.flatten(), betas)
    torch.testing.assert_close(pen, betas * kl.sum(-1))
    w, pen = Objective("warmup", warmup_steps=100).kl_weights(kl, betas, step=25)
    torch.testing.assert_close(w.flatten(), 0.25 * betas)
    w, pen = Objective("free_bits", free_bits=0.5).kl_weights(kl, betas, step=1)
    assert w.shape == (2, 1, 3)
    torch.testing.assert_close(w[:, 0], torch.tensor([[0.0, 1.0, 1.0], [0.0, 4.0, 0.0]]))
    torch.testing.assert_close(pen, torch.tensor([0.5 + 1 + 3, 4 * (0.5 + 0.6 + 0.5)]))
    obj = Objective("capacity", capacity=2.0, capacity_steps=10, gamma=50.0)
    assert obj.capacity_at(5) == 1.0 and obj.capacity_at(50) == 2.0
    w, pen = obj.kl_weights(kl, betas, step=5)  # C = 1: KL 4.2 above, 1.0 at C
    torch.testing.assert_close(w.flatten(), torch.tensor([50.0, 0.0]))
    torch.testing.assert_close(pen, torch.tensor([50 * 3.2, 0.0]))
    with pytest.raises(ValueError, match="kind must be one of"):
        Objective("cyclic")
