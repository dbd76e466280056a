"""Five families on one binarized MNIST, trained longer than the book's appendix A4 can afford.

The same models and measurements as appendix A4 (a VAE, a MADE, a dequantized coupling flow, a
Bernoulli diffusion, each model's samples against the data by a held-out discriminator), on
the full training set for more epochs, scored on the first ``--n-test`` test images binarized
once (``binarize_test_set``, seed 0). Each number is labelled exact or upper bound; published
figures are quoted with their sources. Writes ``results/connections_{cpu|cuda}.md``.

Reproduce (CPU, about 25 minutes on 2 cores with the defaults):
    ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/bench_connections.py
On a GPU:
    ELBOLAB_DATA_DIR=../shared/data python benchmarks/bench_connections.py --device cuda \\
        --epochs-scale 4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _report import device_label, write_report  # noqa: E402

from elbolab.densities import LN2  # noqa: E402
from elbolab.diffusion import cosine_schedule, train_binary_diffusion  # noqa: E402
from elbolab.estimators import monte_carlo_mean  # noqa: E402
from elbolab.parts.autoregressive import MADE  # noqa: E402
from elbolab.parts.connections import (  # noqa: E402
    fit_density,
    held_out_js_bound,
    random_relu_features,
    samples_per_second,
)
from elbolab.parts.coupling_flow import (  # noqa: E402
    CouplingFlow,
    LogitTransform,
    dequantized_log_likelihood,
)
from elbolab.vae.config import TrainConfig  # noqa: E402
from elbolab.vae.data import (  # noqa: E402
    binarize,
    binarize_test_set,
    load_dataset,
    static_binarization,
)
from elbolab.vae.evaluation import iwae_per_example, per_example_elbo, sample_prior  # noqa: E402
from elbolab.vae.training import Trainer  # noqa: E402

PUBLISHED = {
    "VAE, IWAE-k": (86.76, "Burda et al. 2016, Table 1: VAE, 1 stochastic layer, k = 1"),
    "MADE": (86.64, "Germain et al. 2015, binarized MNIST: 2 hidden layers of 8,000, 32 masks"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs-scale", type=float, default=1.0,
                    help="multiply every model's training length")
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--k-iwae", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    train = load_dataset("mnist", "train")
    test = load_dataset("mnist", "test")
    train_x = train.images.float().to(dev)
    x_test = binarize_test_set(test.images[:args.n_test].float(), args.seed).to(dev)
    D = x_test.shape[1]
    scale = args.epochs_scale
    rows, samples, timings = [], {}, {}

    def dyn(x):
        return binarize(x, gen)

    # VAE: chapter 4's preset, trained with the ELBO on dynamically binarized images
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(preset="example", epochs=max(1, round(30 * scale)), seed=args.seed,
                          device=args.device, binarize="dynamic")
        run = Trainer.from_config(cfg, Path(tmp) / "vae", train=train, test=test,
                                  progress=True).fit(overwrite=True)
    timings["VAE"] = time.perf_counter() - start
    model = run.model.eval()
    elbo = per_example_elbo(model, x_test, draws=10, generator=gen)["elbo"]
    ll = iwae_per_example(model, x_test, args.k_iwae, generator=gen)
    rows.append(("VAE (−ELBO)", "upper bound", -elbo))
    rows.append((f"VAE, IWAE-{args.k_iwae}", "upper bound", -ll))
    with torch.no_grad():
        latent = model.encoder(x_test[:1])[0].shape[-1]
    samples["VAE"] = lambda n: torch.bernoulli(sample_prior(model, n, latent, gen),
                                               generator=gen)

    # MADE: one hidden layer of 500, natural order
    made = MADE(D, (500,)).to(dev)
    fit = fit_density(lambda x: -made.log_prob(x), made.parameters(), train_x,
                      epochs=max(1, round(30 * scale)), lr=3e-3, transform=dyn, generator=gen,
                      progress=True, desc="MADE")
    timings["MADE"] = fit.seconds
    made.eval()
    with torch.no_grad():
        rows.append(("MADE", "exact", -made.log_prob(x_test)))
    samples["MADE"] = lambda n: made.sample(n, gen)

    # flow: 8 affine couplings on dequantized images
    flow = CouplingFlow(D, layers=8, hidden=512, preprocess=LogitTransform(2.0)).to(dev)
    fit = fit_density(lambda x: -dequantized_log_likelihood(flow.log_prob, x, 1, gen),
                      flow.parameters(), train_x, epochs=max(1, round(10 * scale)), lr=1e-3,
                      transform=dyn, generator=gen, progress=True, desc="flow")
    timings["flow"] = fit.seconds
    flow.eval()
    with torch.no_grad():
        deq = torch.cat([dequantized_log_likelihood(flow.log_prob, x, 256, gen)
                         for x in x_test.split(100)])
    rows.append(("flow (dequantized, 256-sample)", "upper bound", -deq))
    samples["flow"] = lambda n: flow.sample(n, gen).floor().clamp(0, 1)

    # Bernoulli diffusion
    res = train_binary_diffusion(train.images.float(), schedule=cosine_schedule(100),
                                 steps=max(1, round(20_000 * scale)), hidden=1024,
                                 transform=binarize, device=dev, seed=args.seed, progress=True)
    timings["diffusion"] = res.seconds
    diff = res.model.eval()
    bound = torch.cat([diff.bound(x, gen).total for x in x_test.split(500)])
    rows.append(("diffusion (Bernoulli, T = 100)", "upper bound", bound))
    samples["diffusion"] = lambda n: diff.sample(n, gen)

    # the samples against held-out data
    pool = test.images.float()
    ref = static_binarization(pool[-2000:], args.seed + 11)
    features = random_relu_features(D, 512, torch.Generator().manual_seed(args.seed + 3))
    js, speed = {}, {}
    for name, draw in samples.items():
        with torch.no_grad():
            js[name] = held_out_js_bound(ref, draw(2000).cpu().float(), features)
            speed[name] = samples_per_second(draw, 256)

    lines = [f"# Five families on binarized MNIST ({args.device})", "",
             f"`python benchmarks/bench_connections.py --device {args.device} --epochs-scale "
             f"{scale:g}` — {device_label(args.device)}, torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d')}.", "",
             f"{len(train_x):,} training images (dynamically binarized), the first "
             f"{len(x_test):,} test images binarized once (seed {args.seed}).", "",
             "| model | kind | test −log p(x), nats | bits/dim | JS(data, samples) ≥ "
             "| samples/s | train s | published (nats) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, kind, nll in rows:
        est = monte_carlo_mean(nll.double().cpu())
        m, se = est.estimate.item(), est.stderr.item()
        fam = name.split(" ")[0].rstrip(",")
        key = "VAE, IWAE-k" if name.startswith("VAE, IWAE") else fam
        pub = PUBLISHED.get(key)
        b = js.get(fam)
        lines.append(f"| {name} | {kind} | {m:.2f} ± {se:.2f} | {m / (D * LN2):.4f} | "
                     + (f"{b.estimate.item():.3f} ± {b.stderr.item():.3f}" if b else "—")
                     + f" | {speed[fam]:,.0f} | {timings[fam]:.0f} | "
                     + (f"{pub[0]:.2f} ({pub[1]})" if pub else "—") + " |")
    null = held_out_js_bound(ref[:1000], static_binarization(pool[-3000:-2000], 12), features)
    lines += ["", f"Discriminator on data against data (the null): {null.estimate.item():.3f} ± "
              f"{null.stderr.item():.3f} nats."]
    path = write_report("connections", args.device, lines, args.out)
    print("\n".join(lines))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
