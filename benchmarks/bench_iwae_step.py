"""What a training step with the importance-weighted bound costs, against the samples it draws.

An IWAE-k step on a batch of B images decodes k·B latent samples. Its fair baseline is the
ELBO step that decodes as many rows: the VAE objective through autograd on a batch of k·B
images (the encoder then runs k times as often, so that baseline does *more* work). The
surrogate objective adds no per-step Python work beyond the samples when the IWAE-k step costs
no more per decoded sample than that baseline. The ELBO's CPU fast path (the written-out
backward pass, batch B) is listed for reference. All loops run interleaved in chunks of
``--chunk`` steps (drift in the machine's speed hits all alike); medians over epochs of the
training time per 1,000 decoded samples.

Reproduce:  ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_iwae_step.py \\
                [--ks 1,5,50] [--n-train 12800] [--epochs 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _report import device_label, write_report  # noqa: E402
from bench_training import interleave  # noqa: E402

import elbolab  # noqa: E402
from elbolab.vae.config import TrainConfig  # noqa: E402
from elbolab.vae.data import load_dataset  # noqa: E402
from elbolab.vae.training import Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,5,50")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--n-train", type=int, default=12_800)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--preset", default="iwae")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    bs = args.batch_size

    def trainer(**options) -> Trainer:
        cfg = TrainConfig(**{"preset": args.preset, "epochs": args.epochs, "device": args.device,
                             "seed": 0, "train_subset": args.n_train, "test_subset": 500,
                             "batch_size": bs, **options})
        return Trainer.from_config(cfg, tempfile.mkdtemp(), train=train, test=test,
                                   progress=False)

    loops: dict[str, tuple[Trainer, int]] = {  # name: (trainer, decoded samples per image)
        f"ELBO, written-out backward, batch {bs}": (trainer(), 1)}
    for k in ks:
        loops[f"ELBO, autograd, batch {k * bs}"] = (trainer(batch_size=k * bs,
                                                            backward="autograd"), 1)
        for grad in ("reparam", "dreg"):
            if k == 1 and grad == "dreg":
                continue
            loops[f"IWAE k={k} ({grad}), batch {bs}"] = (
                trainer(objective="iwae", k=k, gradient=grad), k)
    per_1000: dict[str, list[float]] = {name: [] for name in loops}
    for epoch in range(args.epochs):
        res = interleave({name: t.epoch_steps(epoch, args.chunk) for name, (t, _) in
                          loops.items()})
        for name, (_, rows) in loops.items():
            per_1000[name].append(1000 * res[name]["train_seconds"] / (args.n_train * rows))
    med = {name: statistics.median(v) for name, v in per_1000.items()}
    lines = [
        f"# The cost of an IWAE-k training step ({device_label(args.device)})", "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}. Command: "
        f"`ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_iwae_step.py "
        f"--ks {args.ks} --n-train {args.n_train} --epochs {args.epochs} --chunk {args.chunk} "
        f"--preset {args.preset} --device {args.device}`: the `{args.preset}` preset on "
        f"{args.n_train:,} MNIST images, loops interleaved every {args.chunk} steps, median of "
        f"{args.epochs} epochs.", "",
        "| training loop | seconds per 1,000 decoded samples | / ELBO through autograd with as "
        "many rows |",
        "| --- | ---: | ---: |",
    ]
    for name, (_, rows) in loops.items():
        base = (f"ELBO, autograd, batch {rows * bs}" if name.startswith("IWAE") else None)
        ratio = f"{med[name] / med[base]:.2f}x" if base else ""
        lines.append(f"| {name} | {med[name]:.4f} | {ratio} |")
    lines += ["", "A ratio ≤ 1 means the IWAE step costs no more per decoded sample than an ELBO "
                  "step over as many rows (which also runs the encoder on every row)."]
    out = write_report("iwae_step", args.device, lines, args.out)
    print("\n".join(lines), f"\nwritten to {out}")


if __name__ == "__main__":
    main()
