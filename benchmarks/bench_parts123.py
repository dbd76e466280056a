"""Parts 1–3 of the lab in full mode: wall time of each experiment, and the memory of
million-sample log p(x) estimates on 784-dimensional data (chunked vs one shot).

Reproduce:  .venv/bin/python benchmarks/bench_parts123.py
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import elbolab
from elbolab.io import atomic_write_text
from elbolab.parts.asymmetry import (
    asymmetry_grid,
    bimodal_1d,
    bimodal_2d,
    fit_gaussian,
    kl_both_ways,
)
from elbolab.parts.intractable import IntractableLikelihoodDemo, naive_mc_sweep, underflow_table
from elbolab.parts.jensen import JensenInequalityDemo

PROBE = r"""
import re, sys, time, torch
from elbolab.parts.intractable import IntractableLikelihoodDemo
dec, n, chunk = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = IntractableLikelihoodDemo(16, 784, dec, 1.0, 0, hidden=256)
g = torch.Generator().manual_seed(0)
x = d.sample_data(4, g)
def hwm():  # peak RSS of this process image in bytes (VmHWM resets at exec; ru_maxrss does not)
    return int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read())[1]) * 1024
base = hwm()
t = time.perf_counter()
d.approximate_marginal_likelihood(x, n, generator=g, chunk_size=None if chunk == "auto" else n)
print(time.perf_counter() - t, base, hwm())
"""


def probe(decoder: str, n: int, chunk: str) -> tuple[float, float, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, decoder, str(n), chunk],
                         capture_output=True, text=True, check=True)
    seconds, base, peak = map(float, out.stdout.split())
    return seconds, base / 2**20, peak / 2**20


def main() -> None:
    g = torch.Generator().manual_seed(0)
    timings = []

    def timed(name, fn):
        t0 = time.perf_counter()
        fn()
        timings.append((name, time.perf_counter() - t0))
        print(f"{name}: {timings[-1][1]:.1f} s", flush=True)

    timed("naive MC sweep, d = 1..64, n = 10..10^6, 16 points",
          lambda: naive_mc_sweep((1, 2, 4, 8, 16, 32, 64),
                                 (10, 100, 1_000, 10_000, 100_000, 1_000_000),
                                 data_dim=64, n_data=16, generator=g))
    timed("probability-space underflow table, D = 1..784",
          lambda: underflow_table((1, 4, 16, 64, 256, 784), generator=g))
    demo = IntractableLikelihoodDemo(8, 32, "linear", 1.0, 0)
    x = demo.sample_data(16, g)
    timed("estimator comparison, 10^5 samples, IWAE k <= 10^4",
          lambda: demo.compare_estimators(x, 100_000, iwae_k=(1, 10, 100, 1000, 10_000),
                                          generator=g))
    mlp = IntractableLikelihoodDemo(2, 16, "mlp", 0.5, 0)
    xm = mlp.sample_data(8, g)
    timed("MLP reference log p(x), 10^6 samples", lambda: mlp.reference_log_marginal(
        xm, 1_000_000, generator=g))

    def asym():
        t1, t2 = bimodal_1d(), bimodal_2d()
        for t in (t1, t2):
            f = fit_gaussian(t, "forward", steps=1500, generator=g)
            r = fit_gaussian(t, "reverse", steps=1500, init_mean=torch.tensor([1.0] * t.dim),
                             generator=g)
            if t is t1:
                kl_both_ways(t, f, 200_000, g)
                kl_both_ways(t, r, 200_000, g)
        asymmetry_grid(np.linspace(-3, 3, 121), np.geomspace(0.2, 5, 101))

    timed("KL asymmetry: 4 fits x 1500 steps, KLs, heat map", asym)

    def jensen():
        j = JensenInequalityDemo()
        for v in j.default_variables():
            j.measure(v, 400_000, g)
        j.gap_vs_spread([0.1, 0.25, 0.5, 0.75, 1.0, 1.25], 400_000, g)
        jd = IntractableLikelihoodDemo(3, 10, "linear", 0.7, 0)
        xj = jd.sample_data(8, g)
        j.elbo_gap_identity(jd, xj, j.random_gaussians(jd, xj, 60, g))

    timed("Jensen: 4 laws + spread sweep (4x10^5 draws), identity for 60 q", jensen)
    total = sum(t for _, t in timings)

    mem = [("linear", 1_000_000, "auto"), ("mlp", 1_000_000, "auto"),
           ("mlp", 100_000, "auto"), ("mlp", 100_000, "one-shot")]
    mem_rows = []
    for dec, n, chunk in mem:
        s, base, peak = probe(dec, n, chunk)
        mem_rows.append((dec, n, chunk, s, base, peak))
        print(f"memory {dec} n={n:,} {chunk}: {peak:.0f} MiB peak ({peak - base:.0f} MiB for "
              f"the estimate), {s:.1f} s", flush=True)

    lines = [
        "# Parts 1–3 in full mode: timings and memory",
        "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}, {torch.get_num_threads()} "
        f"threads, {platform.machine()}. Command: `.venv/bin/python benchmarks/bench_parts123.py`",
        "",
        "| experiment (full mode parameters) | seconds |",
        "| --- | ---: |",
        *[f"| {n} | {t:.1f} |" for n, t in timings],
        f"| **total** | **{total:.1f}** |",
        "",
        "Memory of naive Monte Carlo log p(x) on 784-dimensional x (latent 16, 4 data points; "
        "MLP hidden 256), peak resident set of the whole process (torch included):",
        "",
        "| decoder | samples | chunking | peak RSS (MiB) | of which the estimate (MiB) | s |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
        *[f"| {d} | {n:,} | {c} | {p:.0f} | {p - b:.0f} | {s:.1f} |"
          for d, n, c, s, b, p in mem_rows],
    ]
    one = next(r for r in mem_rows if r[2] == "one-shot")
    chunked = next(r for r in mem_rows if r[0] == "mlp" and r[1] == one[1] and r[2] == "auto")
    lines += ["", f"Chunked vs one shot at n = {one[1]:,} (MLP): "
              f"{(one[5] - one[4]) / max(chunked[5] - chunked[4], 1):.1f}x less memory for the "
              "estimate; a one-shot 10^6-sample MLP estimate would need about 10x the one-shot "
              "figure above."]
    out = Path(__file__).with_name("results") / "parts123_cpu.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
