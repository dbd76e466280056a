"""The β sweep: all five β trained at once vs one after another, against one model alone.

Same data (MNIST, first N training images), model (784-256-10 ReLU, Bernoulli), optimizer,
epochs and seed for every configuration. Runs are **interleaved** repeat by repeat so drift in
machine speed hits all alike; medians are reported, with the cost of each sweep as a multiple
of one model and the largest parameter difference between the two sweeps.

Reproduce:  ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_sweep.py \
                [--n-train 10000] [--epochs 3] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _report import device_label, write_report  # noqa: E402

import elbolab  # noqa: E402
from elbolab.vae.config import SweepConfig  # noqa: E402
from elbolab.vae.data import load_dataset  # noqa: E402
from elbolab.vae.sweep import train_sweep  # noqa: E402

BETAS = [0.0, 0.1, 1.0, 5.0, 10.0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (one column leaves out the first epoch)")
    x = load_dataset("mnist", "train").images[: args.n_train]
    test = load_dataset("mnist", "test").images[:200]
    # the defaults: MLP 784-256-10 (ReLU, Bernoulli), batch 128, Adam 1e-3
    cfg = SweepConfig(betas=tuple(BETAS), epochs=args.epochs, seed=0, device=args.device)
    names = ("one model", "all at once", "one after another", "all at once, bfloat16")
    times: dict[str, list[float]] = {k: [] for k in names}
    train_times: dict[str, list[float]] = {k: [] for k in names}
    # steady state: the steps of epochs 2.. (start-up costs weigh most on one small model)
    steady: dict[str, list[float]] = {k: [] for k in names}
    runs = {}
    for _ in range(args.repeats):
        runs["one model"] = train_sweep(x, test, replace(cfg, betas=(1.0,)))
        runs["all at once"] = train_sweep(x, test, cfg)
        runs["one after another"] = train_sweep(x, test, replace(cfg, vectorized=False))
        runs["all at once, bfloat16"] = train_sweep(x, test, replace(cfg, precision="bfloat16"))
        for name, run in runs.items():
            times[name].append(run.seconds)
            train_times[name].append(run.train_seconds)
            steady[name].append(sum(run.epoch_seconds[1:]))
        print({k: f"{v[-1]:.2f} s" for k, v in times.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_train = {k: statistics.median(v) for k, v in train_times.items()}
    med_steady = {k: statistics.median(v) for k, v in steady.items()}
    diff = max((a - b).abs().max().item()  # the two float32 sweeps
               for ma, mb in zip(runs["all at once"].models, runs["one after another"].models,
                                 strict=True)
               for a, b in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True))
    dev = device_label(args.device)
    lines = [
        f"# β sweep ({len(BETAS)} models): all at once vs one after another ({dev})",
        "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}. MNIST, {args.n_train} "
        f"training images, {args.epochs} epochs, batch 128, model 784-256-10. Medians of "
        f"{args.repeats} interleaved repeats. Command: `ELBOLAB_DATA_DIR=../shared/data "
        f".venv/bin/python benchmarks/bench_sweep.py --n-train {args.n_train} --epochs "
        f"{args.epochs} --repeats {args.repeats} --device {args.device}`",
        "",
        "| run | seconds (median) | × one model | training steps only, s | × one model "
        "| steps of epochs 2–, s | × one model | per-repeat seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *[f"| {k} | {med[k]:.2f} | {med[k] / med['one model']:.2f} | {med_train[k]:.2f} | "
          f"{med_train[k] / med_train['one model']:.2f} | {med_steady[k]:.2f} | "
          f"{med_steady[k] / med_steady['one model']:.2f} | "
          + ", ".join(f"{t:.2f}" for t in times[k]) + " |" for k in times],
        "",
        f"All at once is **{med['one after another'] / med['all at once']:.2f}x** faster than "
        f"one after another and costs **{med['all at once'] / med['one model']:.2f}x** one "
        f"model (training steps alone: {med_train['all at once'] / med_train['one model']:.2f}x; "
        f"after the first epoch, when start-up costs are paid: "
        f"{med_steady['all at once'] / med_steady['one model']:.2f}x; target on this CPU: "
        f"≤ 4x). Largest parameter difference between the two sweeps: "
        f"{diff:.1e} (same seeds, same minibatches and noise). One model's time is the noisiest "
        f"yardstick on this VM; one after another / {len(BETAS)} is another "
        f"({med_train['all at once'] / (med_train['one after another'] / len(BETAS)):.2f}x). "
        f"With `precision=\"bfloat16\"` the sweep costs "
        f"{med_train['all at once, bfloat16'] / med_train['one model']:.2f}x one float32 model.",
    ]
    out = write_report("sweep", args.device, lines, args.out)
    print("\n".join(lines[-1:]), f"\nwritten to {out}")


if __name__ == "__main__":
    main()
