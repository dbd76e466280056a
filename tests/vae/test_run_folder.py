"""A run folder holds one run: never overwritten silently, never written by two commands at
once, resumable from anywhere (issue 15, items 1 and 2)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from elbolab.io import LOCK_FILE, FolderBusy, folder_lock
from elbolab.presentation.cli import main
from elbolab.vae.checkpoint import CHECKPOINT, CONFIG, RunExists, claim_run_folder
from elbolab.vae.config import TrainConfig
from elbolab.vae.data import load_dataset
from elbolab.vae.training import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


def _fit(digits, out, *, resume=False, overwrite=False, log=None, **kw):
    cfg = TrainConfig(**{"dataset": "digits", "device": "cpu", "epochs": 2,
                         "batch_size": 100, "seed": 3, **kw})
    trainer = Trainer.from_config(cfg, out, train=digits[0], test=digits[1], progress=False,
                                  log=log)
    return trainer.fit(resume=resume, overwrite=overwrite)


def _params(result):
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def test_a_folder_that_holds_a_run_is_never_replaced_silently(digits, tmp_path):
    _fit(digits, tmp_path, epochs=1)
    (tmp_path / "notes.txt").write_text("mine")
    before = (tmp_path / CHECKPOINT).read_bytes()
    with pytest.raises(RunExists, match=r"already holds a run.*--resume.*--overwrite"):
        _fit(digits, tmp_path, epochs=1, seed=7)
    assert (tmp_path / CHECKPOINT).read_bytes() == before  # untouched
    assert json.loads((tmp_path / CONFIG).read_text())["seed"] == 3
    again = _fit(digits, tmp_path, epochs=1, seed=7, overwrite=True)
    assert [h["epoch"] for h in again.history] == [1]
    assert json.loads((tmp_path / CONFIG).read_text())["seed"] == 7
    assert (tmp_path / "notes.txt").read_text() == "mine"  # overwrite removes the run only
    with pytest.raises(ValueError, match="exclude each other"):
        claim_run_folder(tmp_path, resume=True, overwrite=True)


def test_resume_before_the_first_checkpoint_starts_over_with_the_saved_config(digits, tmp_path):
    full = _fit(digits, tmp_path / "full")
    killed = tmp_path / "killed"
    _fit(digits, killed)
    for name in os.listdir(killed):  # as if killed before its first checkpoint was written
        if name != CONFIG:
            (killed / name).unlink() if (killed / name).is_file() else None
    said = []
    resumed = _fit(digits, killed, resume=True, log=said.append)
    assert any("no checkpoint.pt" in s and "from epoch 1" in s for s in said), said
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for k, v in _params(full).items():
        assert torch.equal(v, _params(resumed)[k]), k
    # the saved config is the run's: other options are refused, as with a checkpoint
    (killed / CHECKPOINT).unlink()
    with pytest.raises(ValueError, match="different configuration.*lr"):
        _fit(digits, killed, resume=True, lr=0.5)
    # killed before it wrote anything (the lock taken, the data still loading): it starts
    said.clear()
    started = _fit(digits, tmp_path / "empty", resume=True, log=said.append)
    assert any("nothing to resume" in s for s in said), said
    for k, v in _params(full).items():
        assert torch.equal(v, _params(started)[k]), k


_HOLD = ("import sys, time; from elbolab.io import folder_lock\n"
         "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")


def test_a_second_command_on_a_locked_folder_stops_at_once_naming_the_first(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=rf"in use by process {holder.pid} "):
            with folder_lock(tmp_path):
                pass
        (tmp_path / CONFIG).write_text('{"seed": 0}')
        rc = main(["train", "--dataset", "digits", "--epochs", "1", "--no-progress",
                   "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert rc == 1 and f"in use by process {holder.pid}" in err and "Traceback" not in err
        assert (tmp_path / CONFIG).read_text() == '{"seed": 0}'  # the first's files untouched
    finally:
        holder.kill()
        holder.wait()
    # the kernel drops a killed holder's lock: the folder is free again
    with folder_lock(tmp_path):
        with folder_lock(tmp_path):  # re-entrant within a process
            assert str(os.getpid()) in (tmp_path / LOCK_FILE).read_text()


def test_train_command_refuses_then_resumes_or_overwrites(tmp_path, capsys):
    args = ["train", "--dataset", "digits", "--epochs", "1",
            "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert main([*args[:4], "2", *args[5:], "--resume"]) == 0
    assert json.loads((tmp_path / CONFIG).read_text())["epochs"] == 2
    assert main([*args, "--overwrite"]) == 0
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1]


def test_a_lock_on_a_folder_it_made_and_left_empty_leaves_nothing(tmp_path):
    """A command refused before it wrote anything leaves no folder behind; one that wrote
    keeps its folder (and a folder that was there before is never removed)."""
    with folder_lock(tmp_path / "a" / "b"):
        assert (tmp_path / "a" / "b" / LOCK_FILE).exists()
    assert not (tmp_path / "a").exists()
    with folder_lock(tmp_path / "c"):
        (tmp_path / "c" / "result.json").write_text("{}")
    assert (tmp_path / "c" / "result.json").exists()
    (tmp_path / "d").mkdir()
    with folder_lock(tmp_path / "d"):
        pass
    assert (tmp_path / "d").is_dir()
