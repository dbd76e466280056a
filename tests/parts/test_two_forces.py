"""Part 5: the analysis validates its data, and the trade-off holds on a small real run
(and through the command line)."""

import math

import pytest
import torch
from conftest import HAVE_MNIST, SHARED

from elbolab.parts.two_forces import TwoForcesAnalysis
from elbolab.vae.data import load_dataset


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
    md = res.to_markdown()
    assert md.count("\n") == 4 and "| 10 |" in md
    assert set(res.to_dict()) >= {"rows", "spec", "history"}


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found in ELBOLAB_DATA_DIR")
def test_sweep_cli_writes_table_json_and_figures(tmp_path, capsys):
    from elbolab.presentation.cli import main

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
