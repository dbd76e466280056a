"""Evaluation helpers on constructed cases with known answers."""

import pytest
import torch

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
