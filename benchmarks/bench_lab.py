"""How long the lab takes: the whole book, each chapter, one chapter alone, and a rerun.

Runs ``elbolab lab`` (full or ``--quick``) in a fresh output folder and records, for the
whole run, the wall-clock seconds and the CPU seconds of the command and its kernels (user +
system, from the children's rusage: contention with other work inflates wall-clock time far
more than CPU time); then each chapter's seconds (from ``metrics.json``); then the same
command again, when every chapter is reused; then ``--chapter N --rerun`` alone (its kernel
start included). With ``--baseline-rev REV`` it first runs the lab of that git revision (the
single-notebook lab before the chapters, e.g. 5c67ba1) from a worktree, so that before and
after are measured side by side on the same machine, and reports the ratio.

    python benchmarks/bench_lab.py                          # the full lab, MNIST
    python benchmarks/bench_lab.py --baseline-rev 5c67ba1   # and the lab before the chapters
    python benchmarks/bench_lab.py --quick --chapter 3
    python benchmarks/bench_lab.py --device cuda            # on a GPU

Needs the MNIST files (``ELBOLAB_DATA_DIR``). Writes
``benchmarks/results/lab_<full or quick>_<device>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; its wall-clock seconds, CPU seconds (with its children) and exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "code": proc.returncode}


def lab_cmd(out: Path, args: argparse.Namespace, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "elbolab.presentation.cli", "lab", "--out", str(out),
           "--no-progress", "--device", args.device, *extra]
    return cmd + (["--quick"] if args.quick else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chapter", default="3", help="the chapter timed alone")
    parser.add_argument("--baseline-rev", help="a git revision whose lab runs first")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    rows, mode = [], "quick" if args.quick else "full"
    try:
        baseline = None
        if args.baseline_rev:
            tree = work / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                            args.baseline_rev], check=True, capture_output=True)
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            baseline = timed(lab_cmd(work / "before", args), env)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
            rows.append((f"lab at {args.baseline_rev} (one notebook, one kernel)", baseline))
        book = timed(lab_cmd(work / "lab", args))
        rows.append(("the book: every chapter, each in its own kernel", book))
        metrics = json.loads((work / "lab" / "metrics.json").read_text())
        again = timed(lab_cmd(work / "lab", args))
        rows.append(("the same command again (every chapter reused)", again))
        alone = timed(lab_cmd(work / "lab", args, "--chapter", args.chapter, "--rerun"))
        rows.append((f"`--chapter {args.chapter} --rerun` alone", alone))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cmd = "python benchmarks/bench_lab.py" + (" --quick" if args.quick else "") + (
        f" --baseline-rev {args.baseline_rev}" if args.baseline_rev else "") + (
        f" --device {args.device}" if args.device != "cpu" else "")
    lines = [f"# elbolab lab ({mode}, MNIST) on {args.device}", "",
             f"`{cmd}` — {platform.machine()}, {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d')}.", "",
             "| run | wall-clock s | CPU s (user + system, with kernels) | exit |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['code']} |" for name, r in rows]
    if baseline:
        lines += ["", f"Book / baseline: {book['wall'] / baseline['wall']:.2f}x wall-clock, "
                      f"{book['cpu'] / baseline['cpu']:.2f}x CPU."]
    lines += ["", "Each chapter, as the book's run measured it (its kernel's start included):",
              "", "| chapter | title | seconds | checks |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {c['id']} | {c['title']} | {c['seconds']:.1f} | {c['passed']}/"
              f"{c['validations']} |" for c in metrics["chapters"]]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"lab_{mode}_{args.device.split(':')[0]}.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
