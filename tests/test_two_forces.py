"""Part 5: the vectorized β sweep against sequential training, the objectives' KL weights,
active units on constructed cases, and the trade-off on a small real run."""

import math
import time

import pytest
import torch
from conftest import HAVE_MNIST, SHARED

from elbolab.backprop import elbo_gradients, elbo_gradients_per_dim
from elbolab.data import load_dataset
from elbolab.models import ModelSpec, StackedMLPVAE, build_model
from elbolab.objectives import Objective
from elbolab.two_forces import (
    TwoForcesAnalysis,
    active_units,
    train_sweep,
)


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
    spec = ModelSpec(16, (12,), 4, "relu", "bernoulli")
    kw = dict(spec=spec, epochs=3, batch_size=32, seed=5, device="cpu")
    vec = train_sweep(x[:250], x[250:], [0.0, 1.0, 8.0], vectorized=True, **kw)
    seq = train_sweep(x[:250], x[250:], [0.0, 1.0, 8.0], vectorized=False, **kw)
    for mv, ms in zip(vec.models, seq.models, strict=True):
        for a, b in zip(mv.state_dict().values(), ms.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for hv, hs in zip(vec.history, seq.history, strict=True):
        assert hv[-1]["rate"] == pytest.approx(hs[-1]["rate"], rel=1e-3, abs=1e-3)
    # different β really train differently
    assert vec.history[0][-1]["rate"] > vec.history[2][-1]["rate"]


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
    with pytest.raises(ValueError, match="objective kind"):
        Objective("cyclic")


def test_free_bits_keeps_units_open_and_capacity_tracks_its_target():
    g = torch.Generator().manual_seed(0)  # binary data driven by two latent factors
    z = torch.randn(400, 2, generator=g)
    probs = torch.sigmoid(4 * z @ torch.randn(2, 16, generator=g))
    x = (torch.rand(400, 16, generator=g) < probs).float()
    spec = ModelSpec(16, (16,), 4, "relu", "bernoulli")
    kw = dict(spec=spec, epochs=15, batch_size=50, seed=0, device="cpu")
    plain = train_sweep(x[:350], x[350:], [8.0], **kw)
    floor = train_sweep(x[:350], x[350:], [8.0], objective=Objective("free_bits", free_bits=1.0),
                        **kw)
    assert plain.history[0][-1]["rate"] < 0.1  # β = 8 collapses every unit
    assert floor.history[0][-1]["rate"] > 0.5  # the 1-nat floor per unit keeps them open
    cap = train_sweep(x[:350], x[350:], [1.0], objective=Objective(
        "capacity", capacity=3.0, capacity_steps=50, gamma=100.0), **kw)
    assert cap.history[0][-1]["rate"] == pytest.approx(3.0, abs=0.6)


def test_active_units_on_constructed_cases():
    g = torch.Generator().manual_seed(0)
    n = 20_000
    mu = torch.randn(n, 4, generator=g, dtype=torch.float64) * torch.tensor(
        [1.0, 0.3, 0.05, 0.0], dtype=torch.float64)
    count, activity = active_units(mu)
    assert count == 2  # variances 1, 0.09 above 0.01; 0.0025 and 0 below
    torch.testing.assert_close(activity, torch.tensor([1.0, 0.09, 0.0025, 0.0],
                                                      dtype=torch.float64), rtol=0.05, atol=1e-4)
    assert active_units(mu, threshold=0.001)[0] == 3
    with pytest.raises(ValueError, match="mu must be"):
        active_units(torch.zeros(1, 3))


def test_analysis_validates_its_data():
    a = TwoForcesAnalysis()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        a.analyze_beta_vae(torch.full((10, 4), 2.0))
    with pytest.raises(TypeError, match="floating-point"):
        a.analyze_beta_vae(torch.zeros(10, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="betas"):
        a.analyze_beta_vae(torch.rand(10, 4), [-1.0])


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found in ELBOLAB_DATA_DIR")
def test_rate_falls_and_distortion_rises_with_beta_on_mnist():
    x = load_dataset("mnist", "train", SHARED, allow_download=False, fallback=False).images
    start = time.perf_counter()  # the defaults, on 3,000 images: the "under 2 minutes"
    res = TwoForcesAnalysis().analyze_beta_vae(x[:3000], [0.0, 1.0, 10.0])
    assert time.perf_counter() - start < 120
    rates = [r["rate"] for r in res.rows]
    dist = [r["distortion"] for r in res.rows]
    assert rates[0] > rates[1] > rates[2] and dist[0] < dist[1] < dist[2]
    assert rates[0] > 3 * rates[1]  # β = 0: an autoencoder spends many nats
    for r in res.rows:
        assert r["neg_elbo"] == pytest.approx(r["rate"] + r["distortion"], rel=1e-6)
        assert r["log_px"] >= -r["neg_elbo"] - 4 * r["log_px_se"]  # IS above the ELBO
        assert math.isclose(sum(r["kl_per_dim"]), r["rate"], rel_tol=1e-4)
    md = res.to_markdown()
    assert md.count("\n") == 4 and "| 10 |" in md
    assert set(res.to_dict()) >= {"rows", "spec", "history"}


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found in ELBOLAB_DATA_DIR")
def test_sweep_cli_writes_table_json_and_figures(tmp_path, capsys):
    from elbolab.cli import main

    out = tmp_path / "sweep"
    args = ["sweep", "--betas", "0,1", "--n-train", "300", "--n-test", "100", "--epochs", "1",
            "--k", "5", "--data-dir", str(SHARED), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| β |" in printed and "sweep time" in printed
    assert (out / "sweep.json").exists() and (out / "sweep.md").exists()
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "two_forces_rate_distortion.png", "two_forces_traversals.png"}
    assert main(["sweep", "--betas", "0,-1", "--data-dir", str(SHARED), "--out", str(out),
                 "--no-progress"]) == 1
    assert "betas" in capsys.readouterr().err


def test_a_diverging_sweep_stops_with_a_clear_error():
    from elbolab.training import TrainingDiverged

    x = torch.rand(64, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TrainingDiverged, match="β = 1"):
        train_sweep(x, x, [1.0], spec=ModelSpec(8, (8,), 2, "relu", "bernoulli"), epochs=3,
                    lr=1e12, device="cpu")
