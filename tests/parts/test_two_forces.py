"""Part 5: the analysis validates its data, and the trade-off holds on a small real run
(and through the command line)."""

import math

import pytest
import torch
from conftest import HAVE_MNIST, SHARED

from elbolab.parts.two_forces import TwoForcesAnalysis, encoder_forces
from elbolab.vae.data import load_dataset
from elbolab.vae.evaluation import per_example_elbo
from elbolab.vae.models import ModelSpec, build_model


def _small_model():
    torch.manual_seed(0)
    return build_model(ModelSpec(12, (16,), 3, "tanh", "bernoulli")).double()


def test_per_example_elbo_is_the_mean_of_independent_draws():
    model, x = _small_model(), torch.bernoulli(torch.full((40, 12), 0.3, dtype=torch.float64))
    one = per_example_elbo(model, x, draws=1, generator=torch.Generator().manual_seed(5))
    ref = model.compute_elbo(x, generator=torch.Generator().manual_seed(5))
    for key in ("elbo", "reconstruction", "kl"):
        assert torch.equal(one[key], getattr(ref, key).detach())
    many = per_example_elbo(model, x, draws=4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(many["kl"], one["kl"])  # analytic: no noise
    g = torch.Generator().manual_seed(5)
    draws = torch.stack([model.compute_elbo(x, generator=g).elbo.detach() for _ in range(4)])
    assert torch.allclose(many["elbo"], draws.mean(0), rtol=0, atol=1e-12)


def test_encoder_forces_add_up_to_the_gradient_of_the_beta_loss():
    model, x = _small_model(), torch.bernoulli(torch.full((64, 12), 0.4, dtype=torch.float64))
    f = encoder_forces(model, x, 2.5, generator=torch.Generator().manual_seed(1))
    res = model.compute_elbo(x, generator=torch.Generator().manual_seed(1))
    params = list(model.encoder.parameters())
    total = torch.autograd.grad((2.5 * res.kl - res.reconstruction).mean(), params,
                                retain_graph=True)
    # independent: one autograd pass over the whole β-loss, the same noise
    assert f["total_norm"] == pytest.approx(
        torch.cat([g.flatten() for g in total]).norm().item(), rel=1e-12)
    rate = torch.autograd.grad(res.kl.mean(), params)
    assert f["rate_norm"] == pytest.approx(
        2.5 * torch.cat([g.flatten() for g in rate]).norm().item(), rel=1e-12)
    assert -1.0 <= f["cosine"] <= 1.0
    zero = encoder_forces(model, x, 0.0, generator=torch.Generator().manual_seed(1))
    assert zero["rate_norm"] == 0.0 and math.isnan(zero["cosine"])


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
    res = TwoForcesAnalysis().analyze_beta_vae(x[:3000], [0.0, 1.0, 10.0])  # the defaults
    rates = [r["kl"] for r in res.rows]
    dist = [-r["reconstruction"] for r in res.rows]
    assert rates[0] > rates[1] > rates[2] and dist[0] < dist[1] < dist[2]
    assert rates[0] > 3 * rates[1]  # β = 0: an autoencoder spends many nats
    for r in res.rows:
        assert r["elbo"] == pytest.approx(r["reconstruction"] - r["kl"], rel=1e-6)
        assert r["log_px"] >= r["elbo"] - 4 * r["log_px_stderr"]  # IS above the ELBO
        assert math.isclose(sum(r["kl_per_dim"]), r["kl"], rel_tol=1e-4)
    from elbolab.presentation.tables import two_forces_table

    md = two_forces_table(res)
    assert md.count("\n") == 4 and "| 10 |" in md
    assert "Var μ > 0.01" in md and "KL > 0.1 nat" in md  # two definitions, both named
    assert set(res.to_dict()) >= {"rows", "spec", "history"}
    # likelihoods of binary images: the test set is binarized once, and per-image values exist
    assert res.meta["binarize"] == "dynamic"
    assert set(res.test_x.unique().tolist()) <= {0.0, 1.0}
    assert len(res.per_example) == 3
    for r, per in zip(res.rows, res.per_example, strict=True):
        assert per["log_px"].shape == (len(res.test_x),)
        assert per["elbo"].mean().item() == pytest.approx(r["elbo"], rel=1e-12)


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found in ELBOLAB_DATA_DIR")
def test_sweep_cli_writes_table_json_and_figures(tmp_path, capsys):
    from elbolab.presentation.cli import main

    out = tmp_path / "sweep"
    args = ["sweep", "--betas", "0,1", "--n-train", "300", "--n-test", "100", "--epochs", "1",
            "--k", "5", "--data-dir", str(SHARED), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| β |" in printed and "grid time" in printed
    assert "trial mnist-beta-seed0: done" in printed
    assert (out / "sweep.json").exists() and (out / "sweep.md").exists()
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "two_forces_rate_distortion.png", "two_forces_traversals.png"}
    assert main(["sweep", "--betas", "0,-1", "--data-dir", str(SHARED), "--out", str(out),
                 "--no-progress"]) == 2  # a bad value: usage error
    assert "betas" in capsys.readouterr().err
