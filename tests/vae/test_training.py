import json
import math

import pytest
import torch
from conftest import HAVE_MNIST, SHARED, mnist_subsets

from elbolab.presentation.cli import main
from elbolab.vae.checkpoint import load_run
from elbolab.vae.config import TrainConfig, learning_rate
from elbolab.vae.evaluation import evaluate_elbo, iwae_per_example
from elbolab.vae.models import ModelSpec, StackedMLPVAE, build_model, preset_spec
from elbolab.vae.objectives import Objective
from elbolab.vae.training import Trainer, TrainingDiverged, budgeted_epochs


def _trainer(cfg: TrainConfig, out, tr, te) -> Trainer:
    return Trainer.from_config(cfg, out, train=tr, test=te, progress=False)


@pytest.fixture(scope="module")
def mnist_small():
    return mnist_subsets(2000, 500)


def _cfg(**kw):
    return TrainConfig(**{"device": "cpu", "epochs": 2, "batch_size": 100, "seed": 3, **kw})


def test_short_real_training_improves_test_elbo(mnist_small, tmp_path):
    tr, te = mnist_small
    trainer = _trainer(_cfg(epochs=3), tmp_path, tr, te)
    before = evaluate_elbo(
        trainer.model, trainer.test_x, generator=torch.Generator().manual_seed(0)
    )["elbo"]
    hist = trainer.fit().history
    assert len(hist) == 3
    assert hist[-1]["test_elbo"] > before + 200  # untrained ELBO is about -540 nats
    assert hist[-1]["test_loss"] < hist[0]["test_loss"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert (tmp_path / "metrics.csv").read_text().startswith("epoch,lr,train_loss")


def test_resume_equals_uninterrupted_training(mnist_small, tmp_path):
    tr, te = mnist_small
    for binar in ("none", "dynamic"):
        full = _trainer(_cfg(binarize=binar), tmp_path / f"full-{binar}", tr, te).fit()
        part = tmp_path / f"part-{binar}"
        _trainer(_cfg(epochs=1, binarize=binar), part, tr, te).fit()
        resumed = _trainer(_cfg(binarize=binar), part, tr, te).fit(
            resume=True
        )
        assert resumed.resumed_from == 1
        for (k, a), b in zip(
            full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), k
        def strip(history):
            return [{k: v for k, v in h.items() if k != "train_seconds"} for h in history]

        assert strip(full.history) == strip(resumed.history)


def test_resume_refuses_a_different_configuration(mnist_small, tmp_path):
    tr, te = mnist_small
    _trainer(_cfg(epochs=1), tmp_path, tr, te).fit()
    with pytest.raises(ValueError, match="different configuration.*lr"):
        _trainer(_cfg(lr=0.5), tmp_path, tr, te).fit(resume=True)


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(mnist_small, tmp_path):
    tr, te = mnist_small
    # grey levels (a NaN pixel could not be binarized: the guard is what is tested here)
    _trainer(_cfg(epochs=1, binarize="none"), tmp_path, tr, te).fit()
    good = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    trainer = _trainer(_cfg(epochs=3, binarize="none"), tmp_path, tr, te)
    trainer.data.train_x = trainer.data.train_x.clone()  # (a view of the shared fixture)
    trainer.data.train_x[5, 100] = math.nan  # poison one pixel: the loss goes NaN in epoch 2
    with pytest.raises(TrainingDiverged, match="NaN or infinite in epoch 2.*last good"):
        trainer.fit(resume=True)
    after = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert after["epoch"] == 1
    for k in good["model"]:
        assert torch.equal(good["model"][k], after["model"][k])


def test_keyboard_interrupt_saves_state(mnist_small, tmp_path, monkeypatch):
    tr, te = mnist_small
    trainer = _trainer(_cfg(epochs=3), tmp_path, tr, te)
    real = trainer._train_epoch

    def interrupt_second(epoch, *args):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(epoch, *args)

    monkeypatch.setattr(trainer, "_train_epoch", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    saved = torch.load(tmp_path / "interrupted.pt", weights_only=True)
    assert saved["interrupted"] is True
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_elbo_le_iwae_and_iwae_increases_in_k(mnist_small, tmp_path):
    tr, te = mnist_small
    model = _trainer(_cfg(epochs=2), tmp_path, tr, te).fit().model
    x = te.images[:64]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([model.compute_elbo(x, generator=g).elbo for _ in range(20)]).mean(0)
    bounds = {k: iwae_per_example(model, x, k, chunk_size=64, generator=g) for k in (1, 10, 200)}
    assert (bounds[10] - elbo).mean() > 0
    assert bounds[1].mean() < bounds[10].mean() < bounds[200].mean()
    # chunked streaming equals the one-shot bound in distribution; here: same mean within noise
    one_shot = model.iwae_bound(x, 200, generator=g)
    assert abs(one_shot.mean() - bounds[200].mean()) < 0.5


def test_learning_rate_schedules():
    cfg = TrainConfig(lr=1e-3, lr_schedule="iwae")
    # stage i lasts 3^i epochs with lr 1e-3 * 10^(-i/7)
    assert learning_rate(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 1) == pytest.approx(1e-3 * 10 ** (-1 / 7))
    assert learning_rate(cfg, 3) == pytest.approx(1e-3 * 10 ** (-1 / 7))
    assert learning_rate(cfg, 4) == pytest.approx(1e-3 * 10 ** (-2 / 7))
    assert learning_rate(cfg, 3279) == pytest.approx(1e-4)
    exp = TrainConfig(lr=1.0, lr_schedule="exponential", lr_decay=0.5)
    assert learning_rate(exp, 3) == 0.125


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"lr": -1.0}, "lr must be"),
        ({"beta": math.nan}, "beta must be"),
        ({"epochs": 0}, "epochs must be"),
        ({"binarize": "yes"}, "binarize must be"),
        ({"max_minutes": 0.0}, "max_minutes must be"),
        ({"max_minutes": math.inf}, "max_minutes must be"),
    ],
)
def test_config_validation(kw, needle):
    with pytest.raises(ValueError, match=needle):
        TrainConfig(**kw)


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not found")
def test_cli_train_and_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(
        [
            "train",
            "--epochs",
            "1",
            "--train-subset",
            "1000",
            "--test-subset",
            "200",
            "--device",
            "cpu",
            "--out",
            str(run),
            "--no-progress",
            "--latent",
            "2",
            "--data-dir",
            str(SHARED),
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "test −ELBO" in out
    for f in ("learning_curves", "reconstructions", "samples", "latent"):
        assert (run / "figures" / f"{f}.png").exists()
    rc = main(
        [
            "evaluate",
            str(run),
            "--k",
            "50",
            "--n-test",
            "100",
            "--device",
            "cpu",
            "--data-dir",
            str(SHARED),
        ]
    )
    assert rc == 0
    res = json.loads((run / "evaluation_k50.json").read_text())
    assert res["n"] == 100 and res["log_px"] >= res["test_elbo"] - 2.0
    assert res["normalized_likelihood"] is True  # binarized by default: a likelihood
    assert "log p(x), IWAE k=50" in capsys.readouterr().out
    model, state = load_run(run, "cpu")
    assert state["epoch"] == 1
    assert state["config"]["binarize"] == "dynamic"


def test_grey_level_runs_are_not_called_likelihoods(tmp_path, capsys):
    run = tmp_path / "grey"
    common = ["--device", "cpu", "--data-dir", str(SHARED)]
    assert main(["train", "--epochs", "1", "--train-subset", "300", "--test-subset", "50",
                 "--binarize", "none", "--out", str(run), "--no-progress", *common]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--k", "5", *common]) == 0
    out = capsys.readouterr().out
    assert "grey levels" in out and "not a normalized likelihood" in out
    assert "log p(x)" not in out.split("note:")[0]
    assert json.loads((run / "evaluation_k5.json").read_text())["normalized_likelihood"] is False


def test_binarize_auto_follows_the_likelihood():
    from elbolab.vae.config import SweepConfig, is_normalized_likelihood

    assert TrainConfig().binarize == "dynamic"
    assert TrainConfig(likelihood="gaussian").binarize == "none"
    assert TrainConfig(binarize="static").binarize == "static"
    assert SweepConfig().binarize == "dynamic"
    with pytest.raises(ValueError, match="binarize must be one of"):
        SweepConfig(binarize="sometimes")
    assert not is_normalized_likelihood("bernoulli", "none")
    assert is_normalized_likelihood("bernoulli", "dynamic")
    assert is_normalized_likelihood("gaussian", "none")


def test_cli_evaluate_missing_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 1
    assert "no checkpoint" in capsys.readouterr().err


def test_corrupted_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupted"):
        load_run(tmp_path, "cpu")


def test_explicit_backward_follows_the_autograd_trajectory(mnist_small, tmp_path):
    tr, te = mnist_small
    runs = {}
    for backward in ("explicit", "autograd"):
        cfg = _cfg(epochs=1, backward=backward, preset="iwae", binarize="dynamic")
        trainer = _trainer(cfg, tmp_path / backward, tr, te)
        assert trainer.explicit == (backward == "explicit")
        runs[backward] = (trainer.run_epoch(0), trainer.model.state_dict())
    (row_e, sd_e), (row_a, sd_a) = runs["explicit"], runs["autograd"]
    assert row_e["train_loss"] == pytest.approx(row_a["train_loss"], rel=1e-4)
    for k in sd_e:  # same noise, same data order: only float32 rounding differs
        torch.testing.assert_close(sd_e[k], sd_a[k], rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="backward must be one of"):
        _cfg(backward="symbolic")


@pytest.mark.parametrize("objective", ["free_bits", "capacity", "warmup"])
def test_objectives_explicit_backward_follows_autograd(mnist_small, tmp_path, objective):
    tr, te = mnist_small
    runs = {}
    for backward in ("explicit", "autograd"):
        cfg = _cfg(epochs=1, backward=backward, objective=Objective(
            objective, free_bits=1.0, capacity=10.0, capacity_steps=10, warmup_steps=15))
        trainer = _trainer(cfg, tmp_path / f"{objective}-{backward}", tr, te)
        runs[backward] = (trainer.run_epoch(0), trainer.model.state_dict())
    (row_e, sd_e), (row_a, sd_a) = runs["explicit"], runs["autograd"]
    assert row_e["train_loss"] == pytest.approx(row_a["train_loss"], rel=1e-4)
    for k in sd_e:
        torch.testing.assert_close(sd_e[k], sd_a[k], rtol=1e-3, atol=1e-4)
    if objective == "capacity":  # 20 steps: the KL has been steered toward C = 10 nats
        assert row_e["test_kl"] == pytest.approx(10.0, abs=3.0)


def test_resume_keeps_the_objective_schedule(mnist_small, tmp_path):
    tr, te = mnist_small
    kw = dict(objective=Objective("warmup", warmup_steps=30))
    full = _trainer(_cfg(**kw), tmp_path / "full", tr, te).fit()
    _trainer(_cfg(epochs=1, **kw), tmp_path / "part", tr, te).fit()
    resumed = _trainer(_cfg(**kw), tmp_path / "part", tr, te).fit(resume=True)
    assert resumed.history[-1]["test_loss"] == full.history[-1]["test_loss"]
    with pytest.raises(ValueError, match="kind must be one of"):
        _cfg(objective="cyclical")


def test_epoch_in_chunks_equals_run_epoch_and_restores_float_mode(mnist_small, tmp_path):
    """epoch_steps (what the benchmark interleaves with the baseline) trains exactly as
    run_epoch, pauses every `chunk` steps, and leaves subnormals unflushed while paused."""
    tr, te = mnist_small
    whole = _trainer(_cfg(epochs=1), tmp_path / "whole", tr, te)
    row_w = whole.run_epoch(0)
    chunked = _trainer(_cfg(epochs=1), tmp_path / "chunked", tr, te)
    steps, pauses = chunked.epoch_steps(0, chunk=7), 0
    tiny = torch.tensor([1e-39])  # a float32 subnormal: flushed to 0 only while training
    while True:
        try:
            next(steps)
        except StopIteration as done:
            row_c = done.value
            break
        pauses += 1
        assert (tiny * 1.0).item() != 0.0
    assert pauses == math.ceil(2000 / 100 / 7) - 1
    assert row_c["train_seconds"] > 0
    assert {k: v for k, v in row_c.items() if k != "train_seconds"} == {
        k: v for k, v in row_w.items() if k != "train_seconds"}
    for a, b in zip(whole.model.parameters(), chunked.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_conv_preset_shapes_and_clear_errors():
    for dim in (784, 64):  # MNIST 28×28, sklearn digits 8×8
        m = build_model(preset_spec("conv", data_dim=dim))
        mu, logvar = m.encoder(torch.rand(3, dim))
        assert mu.shape == logvar.shape == (3, 20)
        assert m.decoder(mu).shape == (3, dim)
    assert build_model(preset_spec("conv", likelihood="gaussian")).decoder(mu)[0].shape == (3, 784)
    for dim in (100, 50):  # side 10 is not a multiple of 4; 50 is not a square
        with pytest.raises(ValueError, match=f"data_dim={dim}"):
            build_model(preset_spec("conv", data_dim=dim))
    with pytest.raises(ValueError, match="two channel counts"):
        build_model(ModelSpec(784, (8, 16, 32), 4, "relu", arch="conv"))
    with pytest.raises(ValueError, match="arch must be one of"):
        build_model(ModelSpec(arch="transformer"))
    with pytest.raises(ValueError, match="stacks MLP models"):
        StackedMLPVAE(preset_spec("conv"), [build_model(preset_spec("conv"))])
    # checkpoints written before `arch` existed load as MLPs
    old = {"data_dim": 784, "hidden": [400], "latent": 20, "activation": "relu",
           "likelihood": "bernoulli"}
    assert ModelSpec.from_dict(old).arch == "mlp"


def test_conv_preset_trains_with_autograd_and_reloads(mnist_small, tmp_path):
    tr, te = mnist_small
    with pytest.raises(ValueError, match="supports MLP models"):
        _trainer(_cfg(preset="conv", backward="explicit"), tmp_path / "x", tr, te)
    trainer = _trainer(_cfg(preset="conv", epochs=3), tmp_path, tr, te)
    assert not trainer.explicit
    before = evaluate_elbo(trainer.model, trainer.test_x,
                           generator=torch.Generator().manual_seed(0))["elbo"]
    hist = trainer.fit().history
    assert hist[-1]["test_elbo"] > before + 250  # untrained: about -630 nats
    model, _ = load_run(tmp_path, "cpu")
    x = trainer.test_x[:8]
    with torch.no_grad():
        torch.testing.assert_close(model.encoder(x), trainer.model.eval().encoder(x),
                                   rtol=0, atol=0)


def test_time_budget_stops_before_it_is_exceeded(mnist_small, tmp_path, monkeypatch):
    """Epochs of 25 s (faked) under a 1.5-minute budget: 3 epochs fit (75 s), a 4th would
    end at 100 s > 90 s. Resuming with a larger budget continues the same run."""
    tr, te = mnist_small
    trainer = _trainer(_cfg(epochs=10, max_minutes=1.5), tmp_path, tr, te)
    real = trainer.run_epoch
    monkeypatch.setattr(trainer, "run_epoch", lambda epoch: {**real(epoch), "train_seconds": 25.0})
    hist = trainer.fit().history
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 3
    more = _trainer(_cfg(epochs=4, max_minutes=60.0), tmp_path, tr, te)
    assert [h["epoch"] for h in more.fit(resume=True).history] == [1, 2, 3, 4]


def test_budgeted_epochs_is_the_stopping_rule_in_closed_form():
    """25-s epochs under 90 s: after one epoch (25 s spent) floor(65/25) = 2 more fit, so the
    run ends at 3; the longest epoch so far is what counts; never past ``epochs``, never
    before the epochs done; no history yet: the epochs asked for."""
    row = {"train_seconds": 25.0}
    assert budgeted_epochs([row], 10, 1.5) == 3
    assert budgeted_epochs([row] * 3, 10, 1.5) == 3
    assert budgeted_epochs([row, {"train_seconds": 40.0}], 10, 1.5) == 2  # 65 + 40 > 90
    assert budgeted_epochs([row], 2, 1.5) == 2
    assert budgeted_epochs([row] * 5, 10, 1.5) == 5  # already past the budget
    assert budgeted_epochs([], 7, 1.5) == 7


def test_time_budget_bounds_the_progress_bar(mnist_small, tmp_path, monkeypatch, capsys):
    """With a budget, the bar's total (and so its ETA) is the epochs the budget allows, not
    the epochs asked for: the run ends at 3/3, never shows /10 after its first epoch."""
    tr, te = mnist_small
    trainer = Trainer.from_config(_cfg(epochs=10, max_minutes=1.5), tmp_path, train=tr,
                                  test=te, progress=True)
    real = trainer.run_epoch
    monkeypatch.setattr(trainer, "run_epoch", lambda epoch: {**real(epoch), "train_seconds": 25.0})
    trainer.fit()
    err = capsys.readouterr().err
    assert "3/3" in err and "2/10" not in err and "3/10" not in err
