"""Every bad command-line value gets one line (issue 15, item 4): each case runs a subcommand
with one bad value and asserts exit code 2, a one-line message on stderr that names the option
(or the data file), no traceback, and no output folder made. Cases are refused by the config
objects the options come from (or by argparse, for values of the wrong type), before any data
is loaded or any folder is written."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from elbolab.presentation.cli import main

HUGE = str(10**12)


def _garbage_mnist(folder: Path) -> None:
    """An MNIST folder whose training images are not an IDX file."""
    (folder / "mnist").mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / "mnist" / f"{stem}.gz").write_bytes(gzip.compress(b"not an idx file"))


def _truncated_mnist(folder: Path) -> None:
    """An MNIST folder whose files are cut short (a download interrupted)."""
    (folder / "mnist").mkdir(parents=True)
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (60000, 28, 28))
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (folder / "mnist" / f"{stem}.gz").write_bytes(gzip.compress(header + bytes(1000)))
    labels = bytes([0, 0, 8, 1]) + (60000).to_bytes(4, "big") + bytes(10)
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / "mnist" / f"{stem}.gz").write_bytes(gzip.compress(labels))


NO_DEVICE = "cuda" if not torch.cuda.is_available() else "mps"

# (command, arguments, what the message must name); {file}: a file, {missing}: no such folder,
# {garbage}/{truncated}: corrupted MNIST folders
CASES = [
    # train: counts, rates, names, folders, data, devices
    ("train", ["--latent", "-1"], "--latent"),
    ("train", ["--latent", "0"], "--latent"),
    ("train", ["--epochs", "0"], "--epochs"),
    ("train", ["--epochs", "x"], "--epochs"),
    ("train", ["--batch-size", "0"], "--batch-size"),
    ("train", ["--train-subset", "0"], "--train-subset"),
    ("train", ["--train-subset", "-1"], "--train-subset"),
    ("train", ["--test-subset", "0"], "--test-subset"),
    ("train", ["--lr", "-1"], "--lr"),
    ("train", ["--lr", "nan"], "--lr"),
    ("train", ["--lr", "inf"], "--lr"),
    ("train", ["--lr-decay", "-1"], "--lr-decay"),
    ("train", ["--lr-decay", "nan"], "--lr-decay"),
    ("train", ["--lr-decay", "2"], "--lr-decay"),
    ("train", ["--adam-eps", "0"], "--adam-eps"),
    ("train", ["--beta", "-1"], "--beta"),
    ("train", ["--max-minutes", "0"], "--max-minutes"),
    ("train", ["--max-minutes", "-5"], "--max-minutes"),
    ("train", ["--seed", "-1"], "--seed"),
    ("train", ["--free-bits", "-1"], "--free-bits"),
    ("train", ["--warmup-steps", "0"], "--warmup-steps"),
    ("train", ["--capacity", "nan"], "--capacity"),
    ("train", ["--objective", "bogus"], "--objective"),
    ("train", ["--dataset", "bogus"], "--dataset"),
    ("train", ["--preset", "bogus"], "--preset"),
    ("train", ["--lr-schedule", "bogus"], "--lr-schedule"),
    ("train", ["--device", "nonsense"], "--device"),
    ("train", ["--device", NO_DEVICE], "--device"),
    ("train", ["--data-dir", "{file}"], "--data-dir"),
    ("train", ["--data-dir", "{missing}"], "--data-dir"),
    ("train", ["--out", "{file}"], "--out"),
    ("train", ["--dataset", "mnist", "--data-dir", "{garbage}"], "train-images-idx3-ubyte"),
    ("train", ["--dataset", "mnist", "--data-dir", "{truncated}"], "train-images-idx3-ubyte"),
    # evaluate (the run folder need not exist: values are checked first)
    ("evaluate", ["{run}", "--k", "0"], "--k"),
    ("evaluate", ["{run}", "--k", "-1"], "--k"),
    ("evaluate", ["{run}", "--k", HUGE], "--k"),
    ("evaluate", ["{run}", "--batch-size", "0"], "--batch-size"),
    ("evaluate", ["{run}", "--chunk-size", "0"], "--chunk-size"),
    ("evaluate", ["{run}", "--n-test", "0"], "--n-test"),
    ("evaluate", ["{run}", "--n-test", "-1"], "--n-test"),
    ("evaluate", ["{run}", "--seed", "-2"], "--seed"),
    ("evaluate", ["{run}", "--device", "nonsense"], "--device"),
    ("evaluate", ["{run}", "--data-dir", "{file}"], "--data-dir"),
    # sweep
    ("sweep", ["--hidden", "-3"], "--hidden"),
    ("sweep", ["--hidden", "0"], "--hidden"),
    ("sweep", ["--hidden", ""], "--hidden"),
    ("sweep", ["--hidden", "a,b"], "--hidden"),
    ("sweep", ["--latent", "0"], "--latent"),
    ("sweep", ["--n-train", "0"], "--n-train"),
    ("sweep", ["--n-train", "-1"], "--n-train"),
    ("sweep", ["--n-test", "0"], "--n-test"),
    ("sweep", ["--n-test", "1"], "--n-test"),
    ("sweep", ["--betas", "a,b"], "--betas"),
    ("sweep", ["--betas", "-1"], "--betas"),
    ("sweep", ["--betas", "nan"], "--betas"),
    ("sweep", ["--betas", ""], "--betas"),
    ("sweep", ["--k", "0"], "--k"),
    ("sweep", ["--k", HUGE], "--k"),
    ("sweep", ["--epochs", "0"], "--epochs"),
    ("sweep", ["--lr", "0"], "--lr"),
    ("sweep", ["--activation", "bogus"], "--activation"),
    ("sweep", ["--seeds", "-1"], "--seeds"),
    ("sweep", ["--seeds", "1,1"], "--seeds"),
    ("sweep", ["--objectives", "bogus"], "--objectives"),
    ("sweep", ["--datasets", "bogus"], "--datasets"),
    ("sweep", ["--threads", "0"], "--threads"),
    ("sweep", ["--gpus-per-trial", "2"], "--gpus-per-trial"),
    ("sweep", ["--device", "nonsense"], "--device"),
    ("sweep", ["--out", "{file}"], "--out"),
    ("sweep", ["--data-dir", "{file}"], "--data-dir"),
    ("sweep", ["--data-dir", "{missing}"], "--data-dir"),
    ("sweep", ["--dataset", "mnist", "--n-train", "6", "--data-dir", "{garbage}"],
     "train-images-idx3-ubyte"),
    # lab
    ("lab", ["--cell-timeout", "0"], "--cell-timeout"),
    ("lab", ["--cell-timeout", "-1"], "--cell-timeout"),
    ("lab", ["--seed", "-1"], "--seed"),
    ("lab", ["--device", "nonsense"], "--device"),
    ("lab", ["--out", "{file}"], "--out"),
    ("lab", ["--data-dir", "{file}"], "--data-dir"),
    ("lab", ["--data-dir", "{missing}"], "--data-dir"),
]


@pytest.mark.parametrize("command, args, names", CASES,
                         ids=[f"{c}{' '.join(a)}" for c, a, _ in CASES])
def test_a_bad_value_is_one_line_naming_it_with_exit_2(command, args, names, tmp_path,
                                                      monkeypatch, capsys):
    monkeypatch.setenv("ELBOLAB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    _garbage_mnist(tmp_path / "garbage")
    _truncated_mnist(tmp_path / "truncated")
    places = {"{file}": str(tmp_path / "a-file"), "{missing}": str(tmp_path / "no-such-dir"),
              "{garbage}": str(tmp_path / "garbage"), "{run}": str(tmp_path / "run"),
              "{truncated}": str(tmp_path / "truncated")}
    argv = [command, *(places.get(a, a) for a in args)]
    if command != "evaluate" and "--out" not in args:
        argv += ["--out", str(tmp_path / "out")]
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        rc = main(argv + ["--no-progress"])
    except SystemExit as exc:  # argparse's own refusals (wrong type, unknown choice)
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2, (argv, err)
    assert err.count("\n") == 0, err  # one line
    assert "Traceback" not in err
    assert err.startswith(f"elbolab {command}: error:"), err
    assert names in err, (names, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_missing_data_falls_back_on_one_line_and_the_run_says_what_it_trained_on(
        tmp_path, monkeypatch, capsys):
    """No MNIST anywhere (downloads off): the digits are used, one warning line says so, and
    the run's config.json records ``digits``, not the dataset that was asked for."""
    import json

    monkeypatch.setenv("ELBOLAB_OFFLINE", "1")
    monkeypatch.setenv("ELBOLAB_DATA_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--epochs", "1", "--train-subset", "200",
                 "--test-subset", "50", "--no-progress", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "8x8 digits" in warning[0], err
    assert json.loads((run / "config.json").read_text())["dataset"] == "digits"
    assert not (tmp_path / "empty" / "mnist").exists()
    last = (run / "metrics.jsonl").read_text().splitlines()[-1]
    assert np.isfinite(json.loads(last)["test_loss"])
