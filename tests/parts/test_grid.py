"""Grids of Part 5 trials: the trials, resuming, failures, the aggregate, and Ray."""

import json
import math
import statistics
import sys

import numpy as np
import pytest

from elbolab.parts import grid as grid_mod
from elbolab.parts.grid import (
    GridConfig,
    aggregate,
    make_trials,
    mean_and_se,
    run_grid,
    run_trial,
    trial_path,
)
from elbolab.vae.config import SweepConfig
from elbolab.vae.objectives import Objective

# a grid small enough for a test: the bundled 8x8 digits, two β, one epoch
BASE = SweepConfig(betas=(0.0, 1.0), dataset="digits", n_train=300, n_test=40, epochs=1,
                   hidden=(32,), latent=4, batch_size=64, k_eval=5)
TIMING = ("train_seconds",)  # and the results' "seconds" and "wall_seconds", not compared


def _numbers(records):
    """Every trial's rows without their wall times (which differ from run to run)."""
    return [[{k: v for k, v in row.items() if k not in TIMING} for row in rec["result"]["rows"]]
            for rec in records]


def test_grid_config_refuses_bad_axes_naming_them():
    with pytest.raises(ValueError, match="objectives must be one of .*got 'annealing'"):
        GridConfig(objectives=("beta", "annealing"))
    with pytest.raises(ValueError, match="datasets must be one of .*got 'cifar'"):
        GridConfig(datasets=("cifar",))
    with pytest.raises(ValueError, match="seeds must not repeat"):
        GridConfig(seeds=(0, 0))
    with pytest.raises(ValueError, match="seeds must be >= 0"):
        GridConfig(seeds=(-1,))
    with pytest.raises(ValueError, match="threads"):
        GridConfig(threads=0)
    with pytest.raises(ValueError, match="gpus_per_trial"):
        GridConfig(gpus_per_trial=2.0)


def test_trials_cover_the_grid_with_the_base_settings():
    base = SweepConfig(objective=Objective("free_bits", free_bits=1.5), seed=3)
    assert [t.id for t in make_trials(base, GridConfig())] == ["mnist-free_bits-seed3"]
    trials = make_trials(base, GridConfig(seeds=(0, 1), objectives=("beta", "capacity"),
                                          datasets=("digits", "mnist")))
    assert len(trials) == 8 and len({t.id for t in trials}) == 8
    assert trials[0].id == "digits-beta-seed0" and trials[-1].id == "mnist-capacity-seed1"
    for t in trials:
        assert (t.config.dataset, t.config.seed, t.config.objective.kind) == (
            t.dataset, t.seed, t.objective)
        assert t.config.objective.free_bits == 1.5 and t.config.betas == base.betas


def test_mean_and_se_against_the_statistics_module():
    values = [1.0, 2.5, 4.0, 3.25]
    mean, se = mean_and_se(values)
    assert mean == pytest.approx(statistics.fmean(values), rel=1e-15)
    assert se == pytest.approx(statistics.stdev(values) / math.sqrt(4), rel=1e-14)
    mean, se = mean_and_se([2.0])
    assert mean == 2.0 and math.isnan(se)  # one seed: no standard error, never 0
    with pytest.raises(ValueError, match="empty"):
        mean_and_se([])


def test_aggregate_on_hand_made_trial_results():
    def rec(dataset, objective, seed, rows):
        return {"id": f"{dataset}-{objective}-seed{seed}", "dataset": dataset, "seed": seed,
                "objective": objective, "result": {"rows": rows}}

    def row(beta, kl, rec_, elbo, log_px, active):
        return {"beta": beta, "kl": kl, "reconstruction": rec_, "elbo": elbo, "log_px": log_px,
                "active_units": active, "informative_units": active - 1}

    records = [
        rec("mnist", "beta", 0, [row(0.0, 30.0, -80.0, -110.0, -100.0, 10),
                                 row(1.0, 20.0, -90.0, -110.0, -95.0, 8)]),
        rec("mnist", "beta", 1, [row(0.0, 34.0, -78.0, -112.0, -101.0, 10),
                                 row(1.0, 22.0, -91.0, -113.0, -96.0, 6)]),
        rec("mnist", "beta", 2, [row(0.0, 32.0, -82.0, -114.0, -102.0, 10),
                                 row(1.0, 18.0, -89.0, -107.0, -94.0, 7)]),
        rec("digits", "warmup", 0, [row(1.0, 5.0, -20.0, -25.0, -24.0, 3)]),
    ]
    rows = aggregate(records)
    assert [(r["dataset"], r["objective"], r["beta"], r["n_seeds"]) for r in rows] == [
        ("mnist", "beta", 0.0, 3), ("mnist", "beta", 1.0, 3), ("digits", "warmup", 1.0, 1)]
    b1 = rows[1]
    assert b1["seeds"] == [0, 1, 2]
    # numpy as the oracle: the mean and s / sqrt(n) with n - 1 in s
    for name, vals in (("rate", [20.0, 22.0, 18.0]), ("distortion", [90.0, 91.0, 89.0]),
                       ("neg_elbo", [110.0, 113.0, 107.0]), ("log_px", [-95.0, -96.0, -94.0]),
                       ("active_units", [8.0, 6.0, 7.0])):
        assert b1[f"{name}_mean"] == pytest.approx(np.mean(vals), rel=1e-15)
        assert b1[f"{name}_se"] == pytest.approx(np.std(vals, ddof=1) / np.sqrt(3), rel=1e-14)
    assert rows[2]["rate_mean"] == 5.0 and math.isnan(rows[2]["rate_se"])


def test_an_interrupted_grid_resumes_without_redoing_finished_trials(tmp_path):
    grid = GridConfig(seeds=(0, 1))  # torch's threads, as they are
    calls = []

    def stop_at_second(config, threads):
        calls.append(config["seed"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # a kill after the first trial was written
        return run_trial(config, threads)

    with pytest.raises(KeyboardInterrupt):
        run_grid(BASE, grid, tmp_path / "g", runner=stop_at_second)
    first = trial_path(tmp_path / "g", make_trials(BASE, grid)[0])
    written = first.read_bytes()
    assert calls == [0, 1] and not trial_path(tmp_path / "g", make_trials(BASE, grid)[1]).exists()

    ran = []

    def counting(config, threads):
        ran.append(config["seed"])
        return run_trial(config, threads)

    resumed = run_grid(BASE, grid, tmp_path / "g", runner=counting)
    assert ran == [1] and resumed.skipped == ["digits-beta-seed0"] and not resumed.failed
    assert first.read_bytes() == written  # the finished trial was not touched
    fresh = run_grid(BASE, grid, tmp_path / "fresh")
    assert _numbers(resumed.trials) == _numbers(fresh.trials)  # as if never interrupted
    again = run_grid(BASE, grid, tmp_path / "g", runner=counting)
    assert ran == [1] and again.skipped == ["digits-beta-seed0", "digits-beta-seed1"]


def test_a_failing_trial_is_reported_and_the_others_finish(tmp_path):
    grid = GridConfig(seeds=(0, 1, 2))

    def seed_one_fails(config, threads):
        if config["seed"] == 1:
            raise ValueError("seed 1 diverged")
        return run_trial(config, threads)

    seen = []
    res = run_grid(BASE, grid, tmp_path, runner=seed_one_fails,
                   on_trial=lambda t, rec, err: seen.append((t.id, rec is None, err)))
    assert [r["id"] for r in res.trials] == ["digits-beta-seed0", "digits-beta-seed2"]
    assert len(res.failed) == 1 and res.failed[0]["id"] == "digits-beta-seed1"
    assert res.failed[0]["error"].startswith("ValueError: seed 1 diverged")
    assert seen[1] == ("digits-beta-seed1", True, res.failed[0]["error"])
    assert not trial_path(tmp_path, make_trials(BASE, grid)[1]).exists()
    retried = run_grid(BASE, grid, tmp_path)  # a rerun runs only the failed trial
    assert retried.skipped == ["digits-beta-seed0", "digits-beta-seed2"]
    assert len(retried.trials) == 3 and not retried.failed


def test_a_finished_trial_with_other_settings_is_refused(tmp_path):
    run_grid(BASE, GridConfig(), tmp_path)
    other = SweepConfig(**{**BASE.to_dict(), "epochs": 2})
    with pytest.raises(ValueError, match="other settings \\(epochs differ\\)"):
        run_grid(other, GridConfig(), tmp_path)
    trial_path(tmp_path, make_trials(BASE, GridConfig())[0]).write_text("{not json")
    with pytest.raises(ValueError, match="is not a finished trial"):
        run_grid(BASE, GridConfig(), tmp_path)


def test_sweep_cli_runs_a_grid_and_resumes_it(tmp_path, capsys):
    from elbolab.presentation.cli import main

    out = tmp_path / "grid"
    args = ["sweep", "--dataset", "digits", "--betas", "0,1", "--seeds", "0,1",
            "--objectives", "beta,warmup", "--n-train", "300", "--n-test", "40", "--epochs", "1",
            "--hidden", "32", "--latent", "4", "--k", "5", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "4 run, 0 already finished, 0 failed" in printed and "| β |" in printed
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["trials"]) == 4 and data["grid"]["seeds"] == [0, 1]
    assert {(r["objective"], r["beta"], r["n_seeds"]) for r in data["aggregate"]} == {
        ("beta", 0.0, 2), ("beta", 1.0, 2), ("warmup", 0.0, 2), ("warmup", 1.0, 2)}
    assert (out / "figures" / "grid_rate_distortion.png").stat().st_size > 0
    assert "## Every trial" in (out / "sweep.md").read_text()
    assert main(args) == 0
    assert "0 run, 4 already finished" in capsys.readouterr().out
    assert main([*args, "--objectives", "beta,annealing"]) == 2  # a bad value: usage error
    assert "--objectives: must be one of" in capsys.readouterr().err
    # other settings in the same folder: refused, naming --overwrite, and the trials kept
    other = list(args)
    other[other.index("--epochs") + 1] = "2"
    assert main(other) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert len(list((out / "trials").glob("*.json"))) == 4
    (out / "notes.txt").write_text("mine")
    assert main([*other, "--overwrite"]) == 0
    assert "4 run, 0 already finished" in capsys.readouterr().out
    assert (out / "notes.txt").read_text() == "mine"  # only the sweep's outputs are replaced


def test_ray_without_the_extra_names_it(tmp_path, monkeypatch, capsys):
    from elbolab.presentation.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["sweep", "--dataset", "digits", "--ray", "--out", str(tmp_path)]) == 1
    assert "pip install 'elbolab[ray]'" in capsys.readouterr().err


def _fails_for_seed_one(config, threads):
    if config["seed"] == 1:
        raise RuntimeError("trial blew up")
    return run_trial(config, threads)


@pytest.mark.slow
def test_ray_grid_equals_the_in_process_grid(tmp_path):
    ray = pytest.importorskip("ray")
    grid = GridConfig(seeds=(0, 1), threads=1)  # what each Ray worker gets
    here = run_grid(BASE, grid, tmp_path / "here")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        there = run_grid(BASE, grid, tmp_path / "ray", ray="local")
        assert not there.failed and _numbers(there.trials) == _numbers(here.trials)
        # a trial that raises on a worker is reported; the other finishes
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        mixed = run_grid(BASE, GridConfig(seeds=(0, 1, 2), threads=1), tmp_path / "mixed",
                         ray="local",
                         runner=_fails_for_seed_one)
    finally:
        ray.shutdown()
    assert [r["id"] for r in mixed.trials] == ["digits-beta-seed0", "digits-beta-seed2"]
    assert mixed.failed[0]["id"] == "digits-beta-seed1"
    assert "RuntimeError: trial blew up" in mixed.failed[0]["error"]
    assert grid_mod.trial_path(tmp_path / "mixed", make_trials(BASE, grid)[0]).exists()
