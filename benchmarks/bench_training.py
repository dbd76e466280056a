"""Training speed: elbolab's trainer vs the PyTorch example's loop, same model, same run.

Both train the `example` VAE (784-400-20-400-784, ReLU, Bernoulli/BCE summed on continuous
intensities, analytic KL, Adam 1e-3, batch 128) on MNIST for the same number of epochs,
**interleaved in chunks of steps** (``--chunk``, 16 by default: each loop runs 16 training
steps, then the next loop does) so that drift in the speed of a shared machine hits all alike;
each epoch time is the sum of that loop's own chunks. Reports the median epoch time of each,
their ratio, and the test-loss curves (nats per image). On the CPU
a third run, elbolab's trainer with ``backward="autograd"``, shows what the written-out
backward pass (``elbolab.vae.backprop``) contributes, and a fourth, ``precision="bfloat16"``,
the mixed-precision option (bfloat16 matrix products, float32 everything else).

Reproduce:  ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_training.py \
                [--epochs 10] [--chunk 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _report import device_label, write_report  # noqa: E402
from pytorch_example_baseline import BaselineRun  # noqa: E402

import elbolab  # noqa: E402
from elbolab.vae.config import TrainConfig  # noqa: E402
from elbolab.vae.data import load_dataset  # noqa: E402
from elbolab.vae.training import Trainer  # noqa: E402


def interleave(loops: dict) -> dict:
    """Run generators (``epoch_steps``) in turn, one chunk each, until all have returned;
    their return values by name."""
    results, active = {}, dict(loops)
    while active:
        for name, gen in list(active.items()):
            try:
                next(gen)
            except StopIteration as done:
                results[name] = done.value
                del active[name]
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=16,
                    help="training steps per turn when interleaving the loops (0: whole epochs)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    to_u8 = lambda d: (d.images.reshape(-1, 28, 28) * 255).round().to(torch.uint8).numpy()  # noqa: E731
    baseline = BaselineRun(to_u8(train), to_u8(test), device=args.device)
    def trainer(name: str, **options) -> Trainer:
        # grey-level pixels, as the PyTorch example trains: same data, same loss, side by side
        cfg = TrainConfig(epochs=args.epochs, device=args.device, seed=1, binarize="none",
                          **options)
        return Trainer.from_config(cfg, f"/tmp/elbolab-bench-training{name}", train=train,
                                   test=test, progress=False)

    ours = trainer("")
    # variants of our trainer, on the CPU path only: autograd (ablation) and mixed precision
    ablation = trainer("-autograd", backward="autograd") if ours.explicit else None
    bf16 = trainer("-bf16", precision="bfloat16") if ours.explicit else None
    rows, autograd_s, bf16_rows = [], [], []
    chunk = args.chunk or None
    for epoch in range(args.epochs):
        loops = {"baseline": baseline.epoch_steps(chunk), "ours": ours.epoch_steps(epoch, chunk)}
        if ablation is not None:
            loops["autograd"] = ablation.epoch_steps(epoch, chunk)
        if bf16 is not None:
            loops["bf16"] = bf16.epoch_steps(epoch, chunk)
        res = interleave(loops)
        b, o = res["baseline"], res["ours"]
        rows.append((epoch + 1, b["train_seconds"], o["train_seconds"], b["test_loss"],
                     o["test_loss"]))
        extra = ""
        if ablation is not None:
            autograd_s.append(res["autograd"]["train_seconds"])
            extra = f", elbolab with autograd {autograd_s[-1]:.2f} s"
        if bf16 is not None:
            r = res["bf16"]
            bf16_rows.append((r["train_seconds"], r["test_loss"]))
            extra += (f", elbolab bfloat16 {r['train_seconds']:.2f} s "
                      f"(test {r['test_loss']:.2f})")
        print(f"epoch {epoch + 1}: baseline {b['train_seconds']:.2f} s "
              f"(test {b['test_loss']:.2f}), "
              f"elbolab {o['train_seconds']:.2f} s (test {o['test_loss']:.2f}){extra}", flush=True)
    mb = statistics.median(r[1] for r in rows)
    mo = statistics.median(r[2] for r in rows)
    ablation_line = []
    if autograd_s:
        ma = statistics.median(autograd_s)
        ablation_line = [
            "",
            f"Ablation, same run: elbolab's trainer with `backward=\"autograd\"` (instead of "
            f"the written-out backward pass) has a median epoch of {ma:.2f} s: the explicit "
            f"backward is {ma / mo:.2f}x faster; autograd alone would be {mb / ma:.2f}x the "
            f"baseline. Per-epoch autograd times: "
            + ", ".join(f"{t:.2f}" for t in autograd_s) + " s.",
        ]
    if bf16_rows:
        mf = statistics.median(t for t, _ in bf16_rows)
        ablation_line += [
            "",
            f"Mixed precision, same run: `precision=\"bfloat16\"` (bfloat16 matrix products, "
            f"float32 parameters, optimizer and elementwise math) has a median epoch of "
            f"{mf:.2f} s: **{mb / mf:.2f}x** the baseline; its test loss after {args.epochs} "
            f"epochs is {bf16_rows[-1][1]:.2f} nats (difference to the baseline "
            f"{bf16_rows[-1][1] - rows[-1][3]:+.2f}). Per-epoch times: "
            + ", ".join(f"{t:.2f}" for t, _ in bf16_rows) + " s.",
        ]
    dev = device_label(args.device)
    lines = [
        f"# Training the `example` VAE on MNIST: elbolab vs the PyTorch example loop ({dev})",
        "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}. The loops run interleaved "
        f"in chunks of {args.chunk or 'one epoch of'} training steps; median of {args.epochs} "
        f"epochs. Command: `ELBOLAB_DATA_DIR=../shared/data .venv/bin/python "
        f"benchmarks/bench_training.py --epochs {args.epochs} --chunk {args.chunk} "
        f"--device {args.device}`",
        "",
        "| epoch | baseline s | elbolab s | baseline test loss | elbolab test loss |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *[f"| {e} | {b:.2f} | {o:.2f} | {tb:.2f} | {to:.2f} |" for e, b, o, tb, to in rows],
        "",
        f"Median epoch: baseline {mb:.2f} s, elbolab {mo:.2f} s: **{mb / mo:.2f}x faster**. "
        f"Test loss after {args.epochs} epochs: baseline {rows[-1][3]:.2f}, elbolab "
        f"{rows[-1][4]:.2f} nats (difference {rows[-1][4] - rows[-1][3]:+.2f}).",
        *ablation_line,
    ]
    out = write_report("training", args.device, lines, args.out)
    print("\n".join(lines[-5:]), f"\nwritten to {out}")


if __name__ == "__main__":
    main()
