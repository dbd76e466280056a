"""Training with the importance-weighted bound and the path-derivative estimators (issue 16,
item 4): `elbolab train --objective iwae --k K --gradient {reparam,stl,dreg}`."""

import pytest
import torch
from conftest import HAVE_MNIST, SHARED, mnist_subsets

from elbolab.presentation.cli import main
from elbolab.settings import ConfigError
from elbolab.vae.config import TrainConfig
from elbolab.vae.evaluation import iwae_per_example
from elbolab.vae.training import Trainer


@pytest.fixture(scope="module")
def mnist_small():
    return mnist_subsets(2000, 300)


def _trainer(out, data, **kw):
    cfg = TrainConfig(**{"device": "cpu", "epochs": 2, "batch_size": 100, "seed": 3,
                         "preset": "iwae", "objective": "iwae", "k": 5, **kw})
    return Trainer.from_config(cfg, out, train=data[0], test=data[1], progress=False)


@pytest.mark.parametrize("gradient", ["reparam", "dreg"])
def test_iwae_objective_improves_the_test_bound(mnist_small, tmp_path, gradient):
    trainer = _trainer(tmp_path, mnist_small, gradient=gradient)
    assert not trainer.explicit  # the bound trains through autograd
    before = iwae_per_example(trainer.model, trainer.test_x, 5,
                              generator=torch.Generator().manual_seed(0)).mean().item()
    hist = trainer.fit().history
    after = hist[-1]["test_iwae"]
    # an untrained decoder gives about −545 nats, two epochs on 2,000 images about −200: a
    # loop that does not train this bound misses by hundreds of nats
    assert after > before + 200, (before, after)
    assert hist[-1]["test_loss"] == pytest.approx(-after)
    # L_5 ≥ ELBO in expectation; the gap of an IWAE-trained model is tens of nats here, the
    # Monte Carlo standard error of either 300-image mean under 1 nat
    assert after > hist[-1]["test_elbo"]


def test_resume_with_the_iwae_objective_equals_an_uninterrupted_run(mnist_small, tmp_path):
    full = _trainer(tmp_path / "full", mnist_small, gradient="dreg").fit()
    _trainer(tmp_path / "part", mnist_small, gradient="dreg", epochs=1).fit()
    resumed = _trainer(tmp_path / "part", mnist_small, gradient="dreg").fit(resume=True)
    assert resumed.resumed_from == 1
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name

    def strip(history):
        return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]

    assert strip(full.history) == strip(resumed.history)


def test_stl_trains_the_elbo_through_autograd(mnist_small, tmp_path):
    trainer = _trainer(tmp_path, mnist_small, objective="beta", k=1, gradient="stl")
    assert not trainer.explicit
    hist = trainer.fit().history
    assert "test_iwae" not in hist[-1]
    assert hist[-1]["test_elbo"] > -260  # untrained ≈ −545 nats (see above)


def test_runs_saved_before_k_and_gradient_existed_still_resume(mnist_small, tmp_path):
    _trainer(tmp_path, mnist_small, objective="beta", k=1, epochs=1).fit()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    for key in ("k", "gradient"):
        del state["config"][key]
    torch.save(state, tmp_path / "checkpoint.pt")
    resumed = _trainer(tmp_path, mnist_small, objective="beta", k=1).fit(resume=True)
    assert resumed.resumed_from == 1 and len(resumed.history) == 2


@pytest.mark.parametrize(("kw", "field", "words"), [
    (dict(k=0), "k", ">= 1"),
    (dict(objective="beta", k=5), "k", "iwae objective's sample count"),
    (dict(gradient="stl"), "gradient", "biased"),
    (dict(objective="free_bits", k=1, gradient="stl"), "gradient", "analytic KL"),
    (dict(objective="beta", k=1, gradient="dreg"), "gradient", "iwae only"),
    (dict(beta=0.5), "beta", "must be 1"),
    (dict(backward="explicit"), "backward", "autograd"),
])
def test_estimators_where_they_do_not_apply_are_refused(kw, field, words):
    with pytest.raises(ConfigError, match=words) as info:
        TrainConfig(**{"objective": "iwae", "k": 5, **kw})
    assert info.value.field == field


def test_sweeps_refuse_the_iwae_objective():
    from elbolab.vae.config import SweepConfig
    with pytest.raises(ConfigError, match="importance-weighted") as info:
        SweepConfig(objective="iwae")
    assert info.value.field == "objective"


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found")
def test_cli_trains_the_iwae_objective_and_says_so(tmp_path, capsys):
    rc = main(["train", "--objective", "iwae", "--k", "3", "--gradient", "dreg", "--epochs", "1",
               "--train-subset", "500", "--test-subset", "100", "--data-dir", str(SHARED),
               "--device", "cpu", "--out", str(tmp_path / "run"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "iwae, k = 3, dreg gradient" in out and "test −L_3" in out
    assert main(["train", "--gradient", "dreg", "--out", str(tmp_path / "bad")]) == 2
    assert "--gradient" in capsys.readouterr().err
