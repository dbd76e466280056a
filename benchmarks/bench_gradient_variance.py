"""The variance of gradient estimators, estimator × latent dimension, and on a trained VAE.

1. For :math:`\\nabla_\\mu\\,\\mathbb E_{\\mathcal N(\\mu 1, I)}[\\sum_j z_j^2]` (exact gradient
   2μ, μ = 0.5): the per-parameter variance of one estimate — score function, score function
   with a leave-one-out baseline, reparameterization — for each d, with the largest |z| of each
   estimator's mean against the exact gradient. Theory: the reparameterized variance is
   4σ² = 4 at every d; the score function's grows with d.
2. The ELBO estimators on the linear-Gaussian model of Part 1 (exact gradient in closed form).
3. The ELBO estimators on the `example` VAE trained on MNIST for ``--epochs`` epochs
   (``elbolab.parts.gradient_variance.vae_gradient_variance``: per test image, against a
   large-sample analytic-KL reference).

Reproduce:  ELBOLAB_DATA_DIR=../shared/data .venv/bin/python \\
                benchmarks/bench_gradient_variance.py [--n 20000] [--epochs 10] [--images 16]
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _report import device_label, write_report  # noqa: E402

import elbolab  # noqa: E402
from elbolab.parts import gradient_variance as gv  # noqa: E402
from elbolab.vae.config import TrainConfig  # noqa: E402
from elbolab.vae.training import Trainer  # noqa: E402

NAMES = {"score": "score function", "score_loo": "score + leave-one-out baseline",
         "reparam": "reparameterization", "stl": "sticking the landing",
         "analytic_kl": "reparameterization, analytic KL"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="estimates per setting")
    ap.add_argument("--dims", default="1,2,5,10,20,50,100")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of the MNIST VAE")
    ap.add_argument("--images", type=int, default=16, help="test images for the VAE table")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dims = tuple(int(d) for d in args.dims.split(","))
    t0 = time.perf_counter()
    by_d = gv.variance_vs_dimension(dims=dims, n=args.n)
    unb = gv.elbo_unbiasedness(d=3, n=args.n)
    t_linear = time.perf_counter() - t0

    cfg = TrainConfig(preset="example", epochs=args.epochs, device="cpu", seed=0)
    trainer = Trainer.from_config(cfg, tempfile.mkdtemp(), progress=False)
    run = trainer.fit()
    t1 = time.perf_counter()
    vae = gv.vae_gradient_variance(copy.deepcopy(run.model).double(),
                                   trainer.test_x[:args.images].double(), n=4_000,
                                   n_ref=40_000)
    t_vae = time.perf_counter() - t1

    from scipy.stats import norm

    # the 4-SE level (two-sided) shared among the 3 estimators x 2d parameters of every d
    z_bound = gv.bonferroni_z(3 * 2 * sum(dims), alpha=2 * norm.sf(4.0))
    lines = [
        f"# Gradient-estimator variance ({device_label('cpu')})", "",
        f"elbolab {elbolab.__version__}, torch {torch.__version__}. Command: "
        f"`ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_gradient_variance.py "
        f"--n {args.n} --dims {args.dims} --epochs {args.epochs} --images {args.images}`.", "",
        f"## 1. ∂/∂μ E[Σ z²] under N(0.5·1, I): variance of one estimate per parameter "
        f"(n = {args.n:,} estimates per cell)", "",
        "| d | score | score + baseline | reparam | score / reparam | "
        "score + baseline / reparam |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {d} | {by_d.variance['score'][i]:.4g} | {by_d.variance['score_loo'][i]:.4g} | "
          f"{by_d.variance['reparam'][i]:.4g} | "
          f"{by_d.variance['score'][i] / by_d.variance['reparam'][i]:.1f}x | "
          f"{by_d.variance['score_loo'][i] / by_d.variance['reparam'][i]:.1f}x |"
          for i, d in enumerate(dims)],
        "",
        f"Largest |z| of any estimator's mean against the exact gradient (2μ, σ²), over every "
        f"cell: {by_d.max_abs_z:.2f} (the 4-SE level shared by the {3 * 2 * sum(dims)} z-scores, "
        f"Bonferroni: {z_bound:.2f}). Theory: reparam = 4σ² = 4 at every d "
        f"(relative SE of a variance from n draws ≈ √(2/n) = {math.sqrt(2 / args.n):.1%}).",
        "",
        f"## 2. ELBO gradient on the linear-Gaussian model (d = 3, D = 8; exact gradient in "
        f"closed form; n = {unb.n:,})", "",
        "| estimator | max \\|z\\| vs exact (6 parameters) | variance of one estimate |",
        "| --- | ---: | ---: |",
        *[f"| {NAMES[e]} | {unb.max_abs_z[e]:.2f} | {unb.variance[e]:.4g} |"
          for e in unb.max_abs_z],
        "",
        f"Sections 1–2: {t_linear:.1f} s.",
        "",
        f"## 3. ELBO gradient on the `example` VAE trained on {trainer.data.name} for "
        f"{len(run.history)} epochs (test −ELBO {run.history[-1]['test_loss']:.2f} nats), "
        f"w.r.t. q(z|x)'s μ and logvar ({vae.params} parameters per image)", "",
        f"{args.images} test images; n = {vae.n:,} estimates per image and estimator; "
        f"reference: the mean of {vae.n_ref:,} analytic-KL estimates. Total variance = trace of "
        f"the covariance, summed over the images (± its standard error).", "",
        "| estimator | total variance | / reparameterization | max \\|z\\| vs reference |",
        "| --- | ---: | ---: | ---: |",
    ]
    tot = {e: v.sum() for e, v in vae.variance.items()}
    se = {e: math.sqrt((v ** 2).sum()) for e, v in vae.variance_se.items()}
    lines += [f"| {NAMES[e]} | {tot[e]:.4g} ± {se[e]:.2g} | {tot[e] / tot['reparam']:.3g}x | "
              f"{vae.max_abs_z[e]:.2f} |" for e in vae.estimators]
    lines += ["", f"Bonferroni bound for the {args.images * vae.params * len(vae.estimators)} "
                  f"z-scores (family-wise 1e-3): {vae.z_threshold:.2f}. Section 3: "
                  f"{t_vae:.1f} s (after {sum(h['train_seconds'] for h in run.history):.0f} s "
                  "of training)."]
    out = write_report("gradient_variance", "cpu", lines, args.out)
    print("\n".join(lines), f"\nwritten to {out}")


if __name__ == "__main__":
    main()
