"""The whole process of `elbolab train` against the PyTorch example's whole program.

Wall time from process start to exit, as a user meets it (interpreter start, imports, data
loading, training, evaluation, checkpoints, figures and the summary for elbolab; imports,
DataLoaders, training and the test pass after every epoch for the baseline,
``pytorch_example_baseline.py``), for ``--epochs`` epochs of the ``example`` VAE on MNIST.
The two commands alternate ``--repeats`` times so that drift on a shared machine hits both;
the median of each and their ratio are reported, with the part of each process spent in its
training loop (both print it: the summed seconds of their training epochs, test passes
excluded), so that the whole-process ratio can be read as per-epoch speed plus fixed costs.

Reproduce:  ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_train_process.py \
                [--epochs 3] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _report import device_label, write_report  # noqa: E402

import elbolab  # noqa: E402

HERE = Path(__file__).parent


def timed(cmd: list[str]) -> tuple[float, float]:
    """Seconds from start to exit of ``cmd`` (which must succeed), and the training seconds
    it printed ("training time X s")."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    found = re.search(r"training time\s+([\d.]+) s", proc.stdout)
    if found is None:
        raise SystemExit(f"{' '.join(cmd)} printed no training time:\n{proc.stdout[-2000:]}")
    return seconds, float(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    elbolab_cmd = [sys.executable, "-m", "elbolab.presentation.cli", "train", "--preset",
                   "example", "--epochs", str(args.epochs), "--device", args.device,
                   "--no-progress", "--out"]
    baseline_cmd = [sys.executable, str(HERE / "pytorch_example_baseline.py"), "--epochs",
                    str(args.epochs), "--device", args.device]
    times: dict[str, list[float]] = {"baseline": [], "elbolab": []}
    train: dict[str, list[float]] = {"baseline": [], "elbolab": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name, cmd in (("baseline", baseline_cmd),
                              ("elbolab", [*elbolab_cmd, f"{tmp}/run{i}"])):
                total, training = timed(cmd)
                times[name].append(total)
                train[name].append(training)
            print(f"repeat {i + 1}: baseline {times['baseline'][-1]:.2f} s "
                  f"({train['baseline'][-1]:.2f} training), elbolab {times['elbolab'][-1]:.2f} s "
                  f"({train['elbolab'][-1]:.2f} training)", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_train = {k: statistics.median(v) for k, v in train.items()}
    outside = {k: statistics.median(t - r for t, r in zip(times[k], train[k], strict=True))
               for k in times}
    ratio = med["baseline"] / med["elbolab"]
    lines = [
        f"# `elbolab train` vs the PyTorch example, whole process ({device_label(args.device)})",
        "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}. {args.epochs} epochs of the "
        f"`example` VAE on MNIST, {args.repeats} alternating runs of each command, wall time "
        "from process start to exit; 'training' is the part each program spent in its training "
        "epochs (test passes excluded), as it printed it. Command: `ELBOLAB_DATA_DIR="
        "../shared/data .venv/bin/python benchmarks/bench_train_process.py --epochs "
        f"{args.epochs} --repeats {args.repeats} --device {args.device}`",
        "",
        "| run | baseline s | of which training | elbolab s | of which training |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *(f"| {i + 1} | {b:.2f} | {bt:.2f} | {e:.2f} | {et:.2f} |"
          for i, (b, bt, e, et) in enumerate(zip(times["baseline"], train["baseline"],
                                                 times["elbolab"], train["elbolab"],
                                                 strict=True))),
        "",
        f"Medians: training loop baseline {med_train['baseline']:.2f} s, elbolab "
        f"{med_train['elbolab']:.2f} s ({med_train['baseline'] / med_train['elbolab']:.2f}x); "
        f"outside it (interpreter, imports, data, test passes, checkpoints, figures) baseline "
        f"{outside['baseline']:.2f} s, elbolab {outside['elbolab']:.2f} s.",
        "",
        f"Median whole process: baseline {med['baseline']:.2f} s, elbolab {med['elbolab']:.2f} s: "
        f"**{ratio:.2f}x**.",
    ]
    path = write_report("train_process", args.device, lines, args.out)
    print("\n".join(lines[-1:]) + f"\nwritten to {path}")


if __name__ == "__main__":
    main()
