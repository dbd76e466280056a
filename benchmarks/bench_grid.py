"""A 2-trial grid (two seeds) in this process vs on a local Ray instance: Ray's overhead.

Same trials (MNIST, first N training images, five β trained at once per trial), interleaved
repeat by repeat so drift in machine speed hits all alike; medians reported. Configurations:
in-process one after another with 1 torch thread per trial (the reference; what Ray's workers
get), in-process with all threads, Ray including its start-up (what one `elbolab sweep --ray`
pays), and Ray on an instance already up (what each further grid pays). Also: whether Ray's
numbers equal the in-process ones, and the peak memory of one trial (a fresh process).

Reproduce:  ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_grid.py \
                [--n-train 2000] [--epochs 2] [--repeats 3] [--device cpu]
A cluster:  ray start --head; elbolab sweep --seeds 0,1,2,3 --objectives beta,warmup \
                --epochs 30 --out runs/grid --ray auto
"""

from __future__ import annotations

import argparse
import json
import os
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
from elbolab.parts.grid import GridConfig, run_grid  # noqa: E402
from elbolab.vae.config import SweepConfig  # noqa: E402


def _numbers(records: list[dict]) -> list:
    return [[{k: v for k, v in r.items() if k != "train_seconds"} for r in rec["result"]["rows"]]
            for rec in records]


def _peak_memory_mib(config: dict) -> float:
    """Peak resident memory of one trial in a fresh process (ru_maxrss of the child)."""
    code = ("import json, resource, sys; from elbolab.parts.grid import run_trial; "
            "run_trial(json.loads(sys.argv[1]), 1); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(config)], check=True,
                         capture_output=True, text=True, env=dict(os.environ))
    return int(out.stdout.split()[-1]) / 1024  # KiB on Linux


def main() -> None:
    import ray

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    base = SweepConfig(n_train=args.n_train, n_test=args.n_test, epochs=args.epochs,
                       k_eval=args.k, device=args.device)
    cores = os.cpu_count() or 1
    one = GridConfig(seeds=(0, 1), threads=1)
    every = GridConfig(seeds=(0, 1))  # torch's default: every core
    times: dict[str, list[float]] = {k: [] for k in (
        "in-process, 1 thread per trial", f"in-process, {torch.get_num_threads()} threads",
        "Ray (local), start-up included", "Ray (local), already up")}
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            def timed(label, grid, rep=rep, **kw):
                t0 = time.perf_counter()
                res = run_grid(base, grid, Path(tmp) / f"{label}-{rep}", **kw)
                times[label].append(time.perf_counter() - t0)
                assert not res.failed, res.failed
                return res

            ref = timed("in-process, 1 thread per trial", one)
            timed(f"in-process, {torch.get_num_threads()} threads", every)
            started = timed("Ray (local), start-up included", one, ray="local")
            ray.init(include_dashboard=False, log_to_driver=False)
            try:
                up = timed("Ray (local), already up", one, ray="local")
            finally:
                ray.shutdown()
            same &= _numbers(ref.trials) == _numbers(started.trials) == _numbers(up.trials)
            print(f"repeat {rep + 1}/{args.repeats}: "
                  + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
        trial_config = json.loads(json.dumps(base.to_dict()))
        peak = _peak_memory_mib(trial_config)
    med = {k: statistics.median(v) for k, v in times.items()}
    ref = med["in-process, 1 thread per trial"]
    best_label = min((k for k in med if k.startswith("in-process")), key=med.get)
    best = med[best_label]
    lines = [
        "# A 2-trial grid: in-process vs local Ray",
        "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}, ray {ray.__version__}, "
        f"{device_label(args.device)}, {cores} cores; MNIST, first {args.n_train} training and "
        f"{args.n_test} test images, {len(base.betas)} β per trial trained at once, "
        f"{args.epochs} epochs, IWAE-{args.k}; 2 trials (seeds 0, 1); "
        f"{args.repeats} repeats, interleaved; medians.",
        "",
        "Reproduce: `ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_grid.py "
        f"--n-train {args.n_train} --epochs {args.epochs} --repeats {args.repeats} "
        f"--device {args.device}`",
        "",
        "| run | seconds (median) | × in-process, 1 thread | per-repeat seconds |",
        "| --- | ---: | ---: | --- |",
        *[f"| {k} | {med[k]:.2f} | {med[k] / ref:.2f} | " + ", ".join(f"{t:.2f}" for t in v)
          + " |" for k, v in times.items()],
        "",
        f"Ray's numbers equal the in-process ones (1 thread per trial, same seeds): "
        f"**{'yes, exactly' if same else 'NO'}**. Peak memory of one trial (fresh process, "
        f"ru_maxrss): **{peak:.0f} MiB**. Ray runs the two trials side by side on "
        f"{min(cores, 2)} cores, one thread each; its start-up "
        f"({med['Ray (local), start-up included'] - med['Ray (local), already up']:.1f} s more "
        "than on an instance already up) is paid once per command. "
        f"At this size Ray is **{med['Ray (local), already up'] / best:.2f}x** the time of the "
        f"best in-process run ({best_label}) even when already up, "
        f"{med['Ray (local), start-up included'] / best:.2f}x with its start-up: each worker "
        "imports torch and elbolab and the two trials share two cores. The overhead is fixed "
        "per trial, not per step, so it is the trials' own length and the number of machines "
        "that decide when Ray pays.",
    ]
    out = write_report("grid", args.device, lines, args.out)
    print("\n".join(lines[-1:]), f"\nwritten to {out}")


if __name__ == "__main__":
    main()
