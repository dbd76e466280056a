"""Evaluation helpers on constructed cases with known answers."""

import math

import pytest
import torch
from conftest import HAVE_MNIST, SHARED

from elbolab.vae.evaluation import active_units


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


def test_iwae_progress_bar_counts_every_image(capsys):
    import torch

    from elbolab.vae.evaluation import iwae_per_example
    from elbolab.vae.models import build_model, preset_spec

    torch.manual_seed(0)
    model = build_model(preset_spec("example", data_dim=16, latent=2))
    x = torch.rand(7, 16).bernoulli()
    quiet = iwae_per_example(model, x, 5, batch_size=3, generator=torch.Generator().manual_seed(0))
    shown = iwae_per_example(model, x, 5, batch_size=3, generator=torch.Generator().manual_seed(0),
                             progress=True)
    torch.testing.assert_close(quiet, shown, rtol=0, atol=0)  # the bar changes nothing
    err = capsys.readouterr().err
    assert "IWAE-5" in err and "7/7" in err


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found")
def test_cli_evaluates_by_ais_with_a_summary_and_refuses_bad_settings(tmp_path, capsys):
    import json

    from elbolab.presentation.cli import main

    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--train-subset", "500", "--test-subset", "20",
                 "--data-dir", str(SHARED), "--device", "cpu", "--out", str(run),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--method", "ais", "--ais-steps", "30", "--chains", "4",
                 "--leapfrog", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "AIS, 30 steps x 4 chains" in out and "HMC acceptance" in out and "seconds" in out
    ais = json.loads((run / "evaluation_ais30.json").read_text())
    assert ais["method"] == "ais" and ais["n"] == 20 and 0 < ais["acceptance"] <= 1
    # every AIS increment is (β_t − β_{t−1})·log p(x|z) <= 0 for binary images: log_w <= 0
    assert math.isfinite(ais["log_px"]) and ais["log_px"] <= 0
    for bad in (["--method", "mcmc"], ["--ais-steps", "0"], ["--chains", "-1"]):
        try:  # argparse exits on a choice it does not know; the config check returns 2
            rc = main(["evaluate", str(run), *bad])
        except SystemExit as exc:
            rc = exc.code
        assert rc == 2
        assert bad[0] in capsys.readouterr().err
