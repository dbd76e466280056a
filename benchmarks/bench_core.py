"""Closed-form KLs and log-densities: elbolab vs torch.distributions, side by side.

Each row times the same computation on the same inputs (10^7 elements, float32, CPU by
default) in one process, interleaving the two implementations, and reports medians and the
ratio torch.distributions / elbolab (> 1 means elbolab is faster). Two regimes:

- ``checked``: both sides validate their arguments (elbolab's default ``validate=True``;
  torch.distributions' default ``validate_args``);
- ``unchecked``: both skip validation (``validate=False`` / ``validate_args=False``), as a hot
  training loop would.

Reproduce:  .venv/bin/python benchmarks/bench_core.py [--n 10000000] [--repeats 9]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal, kl_divergence

import elbolab
from elbolab import bernoulli_log_prob, gaussian_kl, gaussian_log_prob, mvn_kl, standard_normal_kl
from elbolab.io import atomic_write_text


def _time(fn, repeats):
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def cases(n: int, g: torch.Generator):
    x, m1, lv1, m2, lv2 = torch.randn(5, n, generator=g)
    s1, s2 = torch.exp(0.5 * lv1), torch.exp(0.5 * lv2)
    d = 32
    mu_z, lv_z = m1.view(-1, d), lv1.view(-1, d)
    s_z = s1.view(-1, d)
    zero, one = torch.zeros(d), torch.ones(d)
    xb = torch.bernoulli(torch.full((n,), 0.5), generator=g)
    k = 10
    nb = n // (k * k)
    a = torch.randn(nb, k, k, generator=g) / k**0.5
    eye = torch.eye(k)
    L1 = torch.linalg.cholesky(a @ a.mT + eye)
    L2 = torch.linalg.cholesky(a.mT @ a + eye)
    mm1, mm2 = torch.randn(2, nb, k, generator=g)

    def rows(v):
        return [
            ("Gaussian log-density (N elements)",
             lambda: gaussian_log_prob(x, m1, lv1, validate=v),
             lambda: Normal(m1, s1, validate_args=v).log_prob(x)),
            ("Gaussian KL, elementwise (N elements)",
             lambda: gaussian_kl(m1, lv1, m2, lv2, validate=v),
             lambda: kl_divergence(Normal(m1, s1, validate_args=v),
                                   Normal(m2, s2, validate_args=v))),
            (f"KL to N(0, I), summed over d={d} (N elements)",
             lambda: standard_normal_kl(mu_z, lv_z, validate=v),
             lambda: kl_divergence(Independent(Normal(mu_z, s_z, validate_args=v), 1),
                                   Independent(Normal(zero, one, validate_args=v), 1))),
            ("Bernoulli log-prob from logits (N elements)",
             lambda: bernoulli_log_prob(xb, m1, validate=v),
             lambda: Bernoulli(logits=m1, validate_args=v).log_prob(xb)),
            (f"full-covariance KL, {nb:,} pairs of {k}x{k} (N matrix entries)",
             lambda: mvn_kl(mm1, L1, mm2, L2, validate=v),
             lambda: kl_divergence(MultivariateNormal(mm1, scale_tril=L1, validate_args=v),
                                   MultivariateNormal(mm2, scale_tril=L2, validate_args=v))),
        ]

    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results") / "core_cpu.md"))
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    rows = cases(args.n, g)
    lines = [
        f"# Probability core vs torch.distributions ({args.n:,} elements, float32)",
        "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
        f"median of {args.repeats} runs. Command: "
        f"`.venv/bin/python benchmarks/bench_core.py --n {args.n} --repeats {args.repeats}`",
        "",
        "| regime | computation | elbolab (ms) | torch.distributions (ms) | ratio (torch / ours) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    worst = float("inf")
    with torch.no_grad():
        for regime, validate in (("checked", True), ("unchecked", False)):
            for name, ours, theirs in rows(validate):
                t_ours, t_theirs = [], []
                for _ in range(args.repeats):  # interleave so drift hits both alike
                    t_ours += _time(ours, 1)
                    t_theirs += _time(theirs, 1)
                mo, mt = statistics.median(t_ours) * 1e3, statistics.median(t_theirs) * 1e3
                worst = min(worst, mt / mo)
                line = f"| {regime} | {name} | {mo:.1f} | {mt:.1f} | {mt / mo:.2f}x |"
                lines.append(line)
                print(line, flush=True)
    lines += ["", f"Smallest ratio: {worst:.2f}x (>= 1 means elbolab is never slower)."]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
