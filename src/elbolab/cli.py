"""The ``elbolab`` command line: ``elbolab lab | train | evaluate``."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .device import DEVICE_CHOICES
from .models import PRESETS


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="elbolab", description="The ELBO from first principles, executable."
    )
    parser.add_argument("--version", action="version", version=f"elbolab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser(
        "lab",
        help="execute the lab notebook; write the .ipynb, report.html, figures/, metrics.json",
    )
    lab.add_argument("--quick", action="store_true",
                     help="small sample sizes and short runs (CI); full mode otherwise")
    lab.add_argument("--out", default="lab-output", help="output folder (default: lab-output)")
    lab.add_argument("--device", default="auto",
                     help=f"torch device: one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    lab.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    lab.add_argument("--data-dir", default=None,
                     help="data folder (default: $ELBOLAB_DATA_DIR or the user cache)")
    lab.add_argument("--cell-timeout", type=int, default=1800,
                     help="seconds one notebook cell may run (default: 1800)")
    lab.add_argument("--no-progress", action="store_true", help="no progress bar")

    tr = sub.add_parser("train", help="train a VAE on MNIST-like data; checkpoints, metrics, "
                                      "figures and a summary table in --out")
    tr.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "digits"))
    tr.add_argument("--preset", default="example", choices=tuple(PRESETS))
    tr.add_argument("--likelihood", default="bernoulli", choices=("bernoulli", "gaussian"))
    tr.add_argument("--latent", type=int, default=None, help="latent size (default: preset's)")
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--max-minutes", type=float, default=None,
                    help="stop earlier when this much training time would be exceeded")
    tr.add_argument("--batch-size", type=int, default=128)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--lr-schedule", default="constant",
                    choices=("constant", "exponential", "iwae"))
    tr.add_argument("--lr-decay", type=float, default=0.95,
                    help="per-epoch factor of the exponential schedule")
    tr.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
    tr.add_argument("--binarize", default="none", choices=("none", "static", "dynamic"))
    tr.add_argument("--device", default="auto")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--data-dir", default=None)
    tr.add_argument("--train-subset", type=int, default=None, help="first N training images")
    tr.add_argument("--test-subset", type=int, default=None, help="first N test images")
    tr.add_argument("--no-cuda-graph", action="store_true", help="eager steps on CUDA")
    tr.add_argument("--backward", default="auto", choices=("auto", "autograd", "explicit"),
                    help="gradients: the written-out backward pass (explicit; auto = on the "
                         "CPU for ReLU/tanh MLPs) or autograd")
    _add_precision_arg(tr)
    _add_objective_args(tr)
    tr.add_argument("--out", default="runs/vae", help="run folder (default: runs/vae)")
    tr.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    tr.add_argument("--no-progress", action="store_true")

    sw = sub.add_parser("sweep", help="β-VAE rate–distortion sweep, all β trained at once")
    sw.add_argument("--betas", default="0,0.1,1,5,10", help="comma-separated β values")
    sw.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist", "digits"))
    sw.add_argument("--n-train", type=int, default=10_000, help="first N training images")
    sw.add_argument("--n-test", type=int, default=1_000, help="first N test images")
    sw.add_argument("--epochs", type=int, default=30)
    sw.add_argument("--hidden", default="256", help="hidden widths, comma-separated")
    sw.add_argument("--latent", type=int, default=10)
    sw.add_argument("--lr", type=float, default=1e-3)
    sw.add_argument("--batch-size", type=int, default=128)
    _add_objective_args(sw)
    _add_precision_arg(sw)
    sw.add_argument("--sequential", action="store_true",
                    help="train the β one after another instead of all at once")
    sw.add_argument("--k", type=int, default=500, help="importance samples for log p(x)")
    sw.add_argument("--device", default="auto")
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--data-dir", default=None)
    sw.add_argument("--out", default="runs/sweep", help="output folder (default: runs/sweep)")
    sw.add_argument("--no-progress", action="store_true")

    ev = sub.add_parser("evaluate", help="test ELBO and importance-sampled log-likelihood of a "
                                         "trained run")
    ev.add_argument("run_dir")
    ev.add_argument("--k", type=int, default=5000, help="importance samples per image")
    ev.add_argument("--n-test", type=int, default=None, help="first N test images (all)")
    ev.add_argument("--batch-size", type=int, default=50)
    ev.add_argument("--chunk-size", type=int, default=500)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--data-dir", default=None)
    ev.add_argument("--seed", type=int, default=0)
    return parser


def _add_precision_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                   help="bfloat16: matrix products in bfloat16, everything else float32")


def _add_objective_args(p: argparse.ArgumentParser) -> None:
    """How the KL term is weighted (elbolab.objectives), for `train` and `sweep`."""
    p.add_argument("--objective", default="beta",
                   choices=("beta", "warmup", "free_bits", "capacity"))
    p.add_argument("--warmup-steps", type=int, default=2000, help="steps of the β ramp")
    p.add_argument("--free-bits", type=float, default=0.5, help="λ, nats per latent unit")
    p.add_argument("--capacity", type=float, default=25.0, help="final C, nats")
    p.add_argument("--capacity-steps", type=int, default=5000, help="steps until C is reached")
    p.add_argument("--gamma", type=float, default=100.0, help="weight of |KL − C|")


def _objective_kwargs(args: argparse.Namespace) -> dict:
    return {"warmup_steps": args.warmup_steps, "free_bits": args.free_bits,
            "capacity": args.capacity, "capacity_steps": args.capacity_steps,
            "gamma": args.gamma}


def _table(rows: list[tuple[str, str]]) -> str:
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from .data import DataError
    from .evaluation import reconstruct, sample_prior
    from .objectives import Objective
    from .plots import (
        plot_latent_scatter,
        plot_learning_curves,
        plot_reconstructions,
        plot_samples,
        save_figure,
    )
    from .training import TrainConfig, Trainer, TrainingDiverged

    try:
        cfg = TrainConfig(
            dataset=args.dataset, preset=args.preset, likelihood=args.likelihood,
            latent=args.latent, epochs=args.epochs, max_minutes=args.max_minutes,
            batch_size=args.batch_size, lr=args.lr,
            lr_schedule=args.lr_schedule, lr_decay=args.lr_decay, beta=args.beta,
            binarize=args.binarize, device=args.device, seed=args.seed, data_dir=args.data_dir,
            train_subset=args.train_subset, test_subset=args.test_subset,
            cuda_graph=not args.no_cuda_graph, backward=args.backward,
            precision=args.precision,
            objective=Objective(args.objective, **_objective_kwargs(args)))
        trainer = Trainer(cfg, args.out, progress=not args.no_progress,
                          log=lambda m: print(m, file=sys.stderr))
        result = trainer.fit(resume=args.resume)
    except (ValueError, FileNotFoundError, DataError, TrainingDiverged) as exc:
        print(f"elbolab train: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    model, hist = result.model, result.history
    figs = trainer.out_dir / "figures"
    save_figure(plot_learning_curves(hist, title=f"{cfg.preset} on {trainer.data_name}"),
                figs / "learning_curves.png")
    x = trainer.test_x[:16]
    save_figure(plot_reconstructions(x.cpu().numpy(), reconstruct(model, x).cpu().numpy(),
                                     trainer.image_shape), figs / "reconstructions.png")
    gen = torch.Generator(device=trainer.device).manual_seed(cfg.seed)
    save_figure(plot_samples(sample_prior(model, 50, trainer.spec.latent, gen).cpu().numpy(),
                             trainer.image_shape), figs / "samples.png")
    if trainer.spec.latent == 2:
        with torch.no_grad():
            mu = torch.cat([model.encoder(b)[0] for b in trainer.test_x.split(1000)])
        save_figure(plot_latent_scatter(mu.cpu().numpy(), trainer.test_labels.numpy()),
                    figs / "latent.png")
    last = hist[-1]
    secs = [h["seconds"] for h in hist]
    print(f"\ntrained {cfg.preset} on {trainer.data_name} ({len(trainer.train_x):,} images, "
          f"{trainer.device})")
    print(_table([
        ("epochs", f"{last['epoch']}" + (f" (resumed at {result.resumed_from})"
                                         if result.resumed_from else "")),
        ("test loss (−ELBO)", f"{last['test_loss']:.2f} nats"),
        ("test E[log p(x|z)]", f"{last['test_reconstruction']:.2f} nats"),
        ("test KL", f"{last['test_kl']:.2f} nats"),
        ("train loss", f"{last['train_loss']:.2f} nats"),
        ("epoch time (median)", f"{sorted(secs)[len(secs) // 2]:.2f} s"),
        ("training time", f"{sum(secs):.1f} s"),
        ("run folder", str(trainer.out_dir)),
    ]))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .data import DataError, load_dataset, static_binarization
    from .evaluation import bits_per_dim, evaluate_elbo, evaluate_log_likelihood
    from .io import atomic_write_json
    from .training import load_run

    try:
        model, state = load_run(args.run_dir, args.device)
        cfg = state["config"]
        test = load_dataset(cfg["dataset"], "test", args.data_dir or cfg.get("data_dir"))
    except (ValueError, FileNotFoundError, DataError) as exc:
        print(f"elbolab evaluate: {exc}", file=sys.stderr)
        return 1
    dev = next(model.parameters()).device
    x = test.images[: args.n_test or cfg.get("test_subset")].to(dev)
    if cfg["binarize"] != "none":
        x = static_binarization(x, seed=cfg["seed"] + 10_007)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    elbo = evaluate_elbo(model, x, generator=gen)
    ll = evaluate_log_likelihood(model, x, args.k, batch_size=args.batch_size,
                                 chunk_size=args.chunk_size, generator=gen)
    d = x.shape[1]
    result = {"run": str(args.run_dir), "n_test": len(x), "epochs": state["epoch"],
              "test_elbo": elbo["elbo"], "test_reconstruction": elbo["reconstruction"],
              "test_kl": elbo["kl"], "elbo_bits_per_dim": bits_per_dim(-elbo["elbo"], d), **ll}
    atomic_write_json(f"{args.run_dir}/evaluation_k{args.k}.json", result)
    print(_table([
        ("test images", f"{len(x):,}"),
        ("test ELBO", f"{elbo['elbo']:.2f} nats ({bits_per_dim(-elbo['elbo'], d):.4f} bits/dim)"),
        (f"log p(x), IWAE k={args.k}", f"{ll['log_likelihood']:.2f} ± {ll['stderr']:.2f} nats"),
        ("test NLL", f"{ll['nll']:.2f} nats ({ll['nll_bits_per_dim']:.4f} bits/dim)"),
        ("written", f"{args.run_dir}/evaluation_k{args.k}.json"),
    ]))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data import DataError
    from .io import atomic_write_json, atomic_write_text
    from .objectives import Objective
    from .plots import save_figure
    from .two_forces import TwoForcesAnalysis, figures

    try:
        betas = [float(b) for b in args.betas.split(",") if b.strip()]
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
        objective = Objective(args.objective, **_objective_kwargs(args))
        analysis = TwoForcesAnalysis(hidden=hidden, latent=args.latent, epochs=args.epochs,
                                     batch_size=args.batch_size, lr=args.lr,
                                     device=args.device, seed=args.seed, k_eval=args.k,
                                     objective=objective, vectorized=not args.sequential,
                                     precision=args.precision,
                                     progress=not args.no_progress)
        result = analysis.analyze_beta_vae(args.dataset, betas, n_train=args.n_train,
                                           n_test=args.n_test, data_dir=args.data_dir)
    except (ValueError, TypeError, DataError) as exc:
        print(f"elbolab sweep: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    out = Path(args.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "sweep.json", result.to_dict())
    atomic_write_text(out / "sweep.md", result.to_markdown() + "\n")
    for name, fig in figures(result, seed=args.seed).items():
        save_figure(fig, out / "figures" / f"{name}.png")
    print(result.to_markdown())
    print()
    print(_table([
        ("models", f"{len(betas)} ({'sequential' if args.sequential else 'all at once'}), "
                   f"{result.meta['n_train']} training images, {args.epochs} epochs"),
        ("sweep time", f"{result.meta['sweep_seconds']:.1f} s"),
        ("written", f"{out}/sweep.json, sweep.md, figures/"),
    ]))
    return 0


def _cmd_lab(args: argparse.Namespace) -> int:
    from .device import resolve_device
    from .lab import run_lab
    from .validation import format_table

    try:
        resolve_device(args.device)
    except ValueError as exc:
        print(f"elbolab lab: {exc}", file=sys.stderr)
        return 2
    result = run_lab(args.out, quick=args.quick, device=args.device, seed=args.seed,
                     data_dir=args.data_dir, cell_timeout=args.cell_timeout,
                     progress=not args.no_progress)
    print()
    if result.validations:
        print(format_table(result.validations))
    mode = "quick" if args.quick else "full"
    print(f"\nlab ({mode}) finished in {result.seconds:.1f} s")
    for label, path in (("notebook", result.notebook), ("report", result.report),
                        ("metrics", result.metrics), ("figures", result.out_dir / "figures")):
        print(f"  {label:<9}{path}")
    if result.error:
        print(f"\nelbolab lab: a notebook cell failed:\n{result.error}", file=sys.stderr)
        return 1
    if not result.ok:
        n_fail = sum(not v["passed"] for v in result.validations)
        print(f"\nelbolab lab: {n_fail} validation(s) failed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "lab":
        return _cmd_lab(args)
    if args.command == "train":
        return _cmd_train(args)
    if args.command == "evaluate":
        return _cmd_evaluate(args)
    if args.command == "sweep":
        return _cmd_sweep(args)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
