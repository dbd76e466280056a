"""Kill soak: `elbolab train` killed with SIGKILL at random moments, resumed each time.

A small run (the ``example`` preset on the first 300 of the 8×8 digits, batch 32) is trained
once without interruption, then again under a killer: the same command (with ``--resume``
after the first start) is started, killed with SIGKILL at a random moment, and started again,
until it finishes. Every checkpoint write is slowed (its bytes go out in chunks with pauses,
in the child process only) so that the kills also land *inside* checkpoint writes: every
other kill waits for a write to begin and strikes at a random point of it. After every kill
the run folder's checkpoint, if any, must load with ``torch.load(weights_only=True)``; at
the end the parameters and the per-epoch metrics (timings excepted) must equal the
uninterrupted run's exactly.

Reproduce:  .venv/bin/python benchmarks/kill_soak.py [--kills 40] [--seed 0]
(the test ``tests/vae/test_kill_soak.py`` runs the same harness with four kills)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

CHECKPOINT = "checkpoint.pt"
# the run: small enough that one start costs about the interpreter's start-up
TRAIN_ARGS = ["--dataset", "digits", "--preset", "example", "--train-subset", "300",
              "--test-subset", "100", "--batch-size", "32", "--device", "cpu", "--seed", "3",
              "--no-progress"]

# The child: slow checkpoint writes (announced by a marker file), then the command line.
CHILD = r"""
import io, os, sys, time
import torch
torch.set_num_threads(1)
import elbolab.vae.checkpoint as ck
from elbolab.presentation.cli import main

marker, pause = os.environ["SOAK_MARKER"], float(os.environ["SOAK_WRITE_SECONDS"])
real_save = torch.save

def slow_save(obj, f, *args, **kwargs):
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    data = buf.getvalue()
    open(marker, "w").close()  # a checkpoint write has begun
    n = 8
    for i in range(n):
        f.write(data[i * len(data) // n:(i + 1) * len(data) // n])
        f.flush()
        time.sleep(pause / n)
    os.unlink(marker)

ck.torch.save = slow_save
print("go", flush=True)
sys.exit(main(sys.argv[1:]))
"""


def _child(out: Path, epochs: int, resume: bool, marker: Path,
           write_seconds: float) -> subprocess.Popen:
    env = {**os.environ, "SOAK_MARKER": str(marker), "SOAK_WRITE_SECONDS": str(write_seconds),
           "ELBOLAB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", CHILD, "train", *TRAIN_ARGS, "--epochs", str(epochs),
           "--out", str(out), *(["--resume"] if resume else [])]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _wait_go(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    if line.strip() != "go":
        raise RuntimeError(f"child did not start: {line!r} {proc.stderr.read()[-2000:]}")


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"train exited {proc.returncode}:\n{err[-3000:]}")


def _params_and_metrics(out: Path) -> tuple[dict, list[dict]]:
    state = torch.load(out / CHECKPOINT, weights_only=True, map_location="cpu")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]  # timings vary
    return state["model"], rows


def soak(workdir: Path, kills: int, seed: int = 0, epochs: int = 8,
         write_seconds: float = 0.4) -> dict:
    """Run the soak in ``workdir``; return its counts. Raises AssertionError if a checkpoint
    fails to load or the final run differs from the uninterrupted one."""
    rng = random.Random(seed)
    marker = workdir / "writing"
    ref_dir, run_dir = workdir / "reference", workdir / "killed"

    proc = _child(ref_dir, epochs, False, marker, write_seconds)
    _wait_go(proc)
    t0 = time.perf_counter()
    _finish(proc)
    run_seconds = time.perf_counter() - t0  # from the child's imports done to its exit
    ref_params, ref_rows = _params_and_metrics(ref_dir)

    def check_equal() -> None:
        params, rows = _params_and_metrics(run_dir)
        assert rows == ref_rows, "metrics differ from the uninterrupted run"
        assert params.keys() == ref_params.keys()
        for name, value in params.items():
            assert torch.equal(value, ref_params[name]), f"parameter {name} differs"

    counts = {"kills": 0, "inside_writes": 0, "before_first_checkpoint": 0,
              "checkpoints_loaded": 0, "starts": 0, "runs_completed": 0,
              "run_seconds": run_seconds}
    started = False
    while True:
        marker.unlink(missing_ok=True)
        proc = _child(run_dir, epochs, started, marker, write_seconds)
        counts["starts"] += 1
        started = True
        _wait_go(proc)
        if counts["kills"] >= kills:  # enough: let it finish
            _finish(proc)
            break
        in_write = counts["kills"] % 2 == 1
        deadline = time.perf_counter() + rng.uniform(0, run_seconds)
        while proc.poll() is None:
            if in_write and marker.exists():  # strike at a random point of this write
                time.sleep(rng.uniform(0, 0.8 * write_seconds))
                break
            if not in_write and time.perf_counter() >= deadline:
                break
            time.sleep(0.005)
        if proc.poll() is not None:  # it finished before the kill: check it, start anew
            _finish(proc)
            check_equal()
            counts["runs_completed"] += 1
            shutil.rmtree(run_dir)
            started = False
            continue
        writing = marker.exists()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        counts["kills"] += 1
        counts["inside_writes"] += writing
        ckpt = run_dir / CHECKPOINT
        if ckpt.exists():
            torch.load(ckpt, weights_only=True, map_location="cpu")  # must never fail
            counts["checkpoints_loaded"] += 1
        else:
            counts["before_first_checkpoint"] += 1
    check_equal()
    counts["runs_completed"] += 1
    counts["epochs"] = epochs
    counts["leftover_files"] = sorted(p.name for p in run_dir.iterdir()
                                      if p.name.endswith(".tmp"))
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from _report import write_report

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        c = soak(Path(tmp), args.kills, args.seed, args.epochs)
    seconds = time.perf_counter() - t0
    lines = [
        "# Kill soak: SIGKILL at random moments, resumed each time",
        "",
        f"Command: `.venv/bin/python benchmarks/kill_soak.py --kills {args.kills} --seed "
        f"{args.seed} --epochs {args.epochs}` ({seconds:.0f} s)",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| kills survived | {c['kills']} |",
        f"| of them inside a checkpoint write | {c['inside_writes']} |",
        f"| of them before the first checkpoint | {c['before_first_checkpoint']} |",
        f"| checkpoints loaded after a kill (`weights_only=True`) | {c['checkpoints_loaded']}"
        f" of {c['kills'] - c['before_first_checkpoint']} |",
        f"| starts of the command | {c['starts']} |",
        f"| runs completed, each checked against the uninterrupted run | {c['runs_completed']} |",
        f"| epochs of the run | {c['epochs']} |",
        "| final parameters equal the uninterrupted run's | exactly (torch.equal, every "
        "tensor) |",
        "| per-epoch metrics equal (timings excepted) | exactly |",
        f"| temporary files left in the run folder | {len(c['leftover_files'])} |",
        "",
        "Run: " + " ".join(TRAIN_ARGS) + f" --epochs {args.epochs}; checkpoint writes slowed "
        "to 0.4 s in eight chunks in the killed process only, so that every other kill lands "
        "inside one.",
    ]
    path = write_report("kill_soak", "cpu", lines, args.out)
    print("\n".join(lines))
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
