"""All β at once: stacked gradients equal each model's alone, the vectorized sweep equals
sequential training with the same seed, the objectives act as they should on data driven by
two latent factors, and a diverging run stops with a clear error."""

import dataclasses

import pytest
import torch

from elbolab.vae.backprop import elbo_gradients, elbo_gradients_per_dim
from elbolab.vae.config import SweepConfig
from elbolab.vae.models import ModelSpec, StackedMLPVAE, build_model
from elbolab.vae.objectives import Objective
from elbolab.vae.sweep import train_sweep


def test_stacked_gradients_equal_each_model_alone():
    spec = ModelSpec(12, (9,), 3, "tanh", "gaussian")
    models = []
    for s in range(3):
        torch.manual_seed(s)
        models.append(build_model(spec).double())
    stacked = StackedMLPVAE(spec, models).double()
    x = torch.rand(6, 12, dtype=torch.float64)
    eps = torch.randn(6, 3, dtype=torch.float64)
    betas = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)
    rec, kl_dims = elbo_gradients_per_dim(stacked, x, betas.view(3, 1, 1), eps=eps)
    for k, m in enumerate(models):
        _, r, kl = elbo_gradients(m, x, beta=float(betas[k]), eps=eps)
        torch.testing.assert_close(rec[k], r)
        torch.testing.assert_close(kl_dims[k].sum(), kl)
        stacked_params = dict(stacked.named_parameters())
        for name, p in m.named_parameters():
            torch.testing.assert_close(stacked_params[name].grad[k], p.grad, rtol=1e-12,
                                       atol=1e-14)
        for a, b in zip(stacked.model(k).state_dict().values(), m.state_dict().values(),
                        strict=True):
            torch.testing.assert_close(a, b)


def test_vectorized_sweep_equals_sequential_training():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 16, generator=g)
    cfg = SweepConfig(betas=(0.0, 1.0, 8.0), hidden=(12,), latent=4, epochs=3, batch_size=32,
                      seed=5, device="cpu")
    vec = train_sweep(x[:250], x[250:], cfg)
    seq = train_sweep(x[:250], x[250:], dataclasses.replace(cfg, vectorized=False))
    for mv, ms in zip(vec.models, seq.models, strict=True):
        for a, b in zip(mv.state_dict().values(), ms.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for hv, hs in zip(vec.history, seq.history, strict=True):
        assert hv[-1]["test_kl"] == pytest.approx(hs[-1]["test_kl"], rel=1e-3, abs=1e-3)
    # different β really train differently
    assert vec.history[0][-1]["test_kl"] > vec.history[2][-1]["test_kl"]
    assert set(vec.history[0][-1]) == {"epoch", "test_elbo", "test_reconstruction", "test_kl"}


def test_free_bits_keeps_units_open_and_capacity_tracks_its_target():
    g = torch.Generator().manual_seed(0)  # binary data driven by two latent factors
    z = torch.randn(400, 2, generator=g)
    probs = torch.sigmoid(4 * z @ torch.randn(2, 16, generator=g))
    x = (torch.rand(400, 16, generator=g) < probs).float()
    cfg = SweepConfig(betas=(8.0,), hidden=(16,), latent=4, epochs=15, batch_size=50, seed=0,
                      device="cpu")
    plain = train_sweep(x[:350], x[350:], cfg)
    floor = train_sweep(x[:350], x[350:], dataclasses.replace(
        cfg, objective=Objective("free_bits", free_bits=1.0)))
    assert plain.history[0][-1]["test_kl"] < 0.1  # β = 8 collapses every unit
    assert floor.history[0][-1]["test_kl"] > 0.5  # the 1-nat floor per unit keeps them open
    cap = train_sweep(x[:350], x[350:], dataclasses.replace(cfg, betas=(1.0,), objective=Objective(
        "capacity", capacity=3.0, capacity_steps=50, gamma=100.0)))
    assert cap.history[0][-1]["test_kl"] == pytest.approx(3.0, abs=0.6)


def test_a_diverging_sweep_stops_with_a_clear_error():
    from elbolab.vae.training import TrainingDiverged

    x = torch.rand(64, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TrainingDiverged, match="β = 1"):
        train_sweep(x, x, SweepConfig(betas=(1.0,), hidden=(8,), latent=2, epochs=3, lr=1e12,
                                      device="cpu"))
