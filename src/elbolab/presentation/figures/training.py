"""Part 4's figures on a trained VAE: learning curves, reconstructions, samples, the latent space.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from .style import COLORS, STYLE, image_grid


def plot_learning_curves(history: Sequence[dict], *, title: str = "ELBO training") -> Figure:
    """Three panels per epoch (integer ticks), each on its own axis: the train objective and
    the test −ELBO; the test distortion −E[log p(x|z)]; the test rate KL(q(z|x) ‖ p(z)). The
    two test terms sum to the test −ELBO. From a trainer's history."""
    ep = [h["epoch"] for h in history]
    with plt.rc_context(STYLE):
        fig, (ax, ax2, ax3) = plt.subplots(1, 3, figsize=(12.5, 3.6), layout="constrained")
        ax.plot(ep, [h["train_loss"] for h in history], "o-", color=COLORS["band"], ms=3,
                label="train objective (minibatch mean)")
        ax.plot(ep, [h["test_loss"] for h in history], "o-", color=COLORS["mc"], ms=3,
                label="test −ELBO")
        ax.set_ylabel("nats per image")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax2.plot(ep, [-h["test_reconstruction"] for h in history], "o-", color=COLORS["q"],
                 ms=3)
        ax2.set_ylabel("nats per image")
        ax2.set_title("test distortion −E[log p(x|z)]")
        ax3.plot(ep, [h["test_kl"] for h in history], "s-", color=COLORS["accent"], ms=3)
        ax3.set_ylabel("nats per image")
        ax3.set_title("test rate KL(q(z|x) ‖ p(z))")
        for a in (ax, ax2, ax3):
            a.set_xlabel("epoch")
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def plot_runs_compared(histories: dict[str, Sequence[dict]], *,
                       title: str = "Test −ELBO") -> Figure:
    """Test −ELBO of several training runs (name → trainer history) per epoch (left) and
    against cumulative training seconds (right): data efficiency and compute efficiency."""
    colors = [COLORS["mc"], COLORS["q"], COLORS["accent"], COLORS["ok"]]
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
        for (name, h), c in zip(histories.items(), colors, strict=False):
            loss = [e["test_loss"] for e in h]
            per_epoch = float(np.median([e["train_seconds"] for e in h]))
            ax.plot([e["epoch"] for e in h], loss, "o-", ms=3, color=c, label=name)
            ax2.plot(np.cumsum([e["train_seconds"] for e in h]), loss, "o-", ms=3, color=c,
                     label=f"{name}: {per_epoch:.1f} s/epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("test −ELBO (nats per image)")
        ax.set_title(f"{title} per epoch")
        ax.legend()
        ax2.set_xscale("log")
        ax2.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax2.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax2.xaxis.set_minor_formatter(NullFormatter())
        ax2.set_xlabel("training time (s, cumulative)")
        ax2.set_title(f"{title} per second of training")
        ax2.legend(fontsize=8)
    return fig


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray,
                         shape: tuple[int, int]) -> Figure:
    """Test images (top row of each pair) and their reconstructions (decoder means)."""
    n = len(originals)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 1, figsize=(min(1.0 * n, 14), 2.6), layout="constrained")
        for ax, imgs, label in ((axes[0], originals, "data"),
                                (axes[1], reconstructions, "reconstruction")):
            ax.imshow(image_grid(imgs, shape, n), cmap="gray_r", vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(label, fontsize=9, loc="left")
    return fig


def plot_samples(samples: np.ndarray, shape: tuple[int, int], *, ncol: int = 10,
                 title: str = "Samples from the prior (decoder means)") -> Figure:
    """A grid of decoded prior samples."""
    with plt.rc_context(STYLE):
        nrow = int(np.ceil(len(samples) / ncol))
        fig, ax = plt.subplots(figsize=(ncol * 0.75, nrow * 0.75 + 0.4), layout="constrained")
        ax.imshow(image_grid(samples, shape, ncol), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(title, fontsize=10)
    return fig


def plot_latent_scatter(z: np.ndarray, labels: np.ndarray) -> Figure:
    """Posterior means of a 2-D latent space coloured by class."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
        sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
        fig.colorbar(sc, ax=ax, ticks=range(10), label="label")
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        ax.set_title("Posterior means, 2-D latent space")
    return fig


def plot_bounds_by_objective(bounds: dict[str, dict[str, tuple[float, float]]]) -> Figure:
    """Test bounds of models trained with different objectives: ``bounds[model][bound] =
    (mean, standard error)`` in nats per image (e.g. ELBO, L_5, IWAE-k log p(x)); one group of
    bars per model, the same bounds in the same colours."""
    models = list(bounds)
    names = list(bounds[models[0]])
    colors = [COLORS["q"], COLORS["accent"], COLORS["mc"], COLORS["ok"]]
    width = 0.8 / len(names)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 3.9), layout="constrained")
        lo = min(m - 3 * se for b in bounds.values() for m, se in b.values())
        hi = max(m + 3 * se for b in bounds.values() for m, se in b.values())
        for j, (name, c) in enumerate(zip(names, colors, strict=False)):
            xs = np.arange(len(models)) + (j - (len(names) - 1) / 2) * width
            means = [bounds[m][name][0] for m in models]
            ax.bar(xs, [v - lo + 0.1 * (hi - lo) for v in means], width * 0.9,
                   bottom=lo - 0.1 * (hi - lo), color=c, label=name,
                   yerr=[bounds[m][name][1] for m in models], capsize=3)
            for x, v in zip(xs, means, strict=True):
                ax.annotate(f"{v:.1f}", (x, v), xytext=(0, 3), textcoords="offset points",
                            ha="center", fontsize=7)
        ax.set_xticks(range(len(models)), models)
        ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.15 * (hi - lo))
        ax.set_ylabel("nats per test image (higher is better)")
        ax.set_title("Each model's test bounds: trained on the ELBO or on the IWAE bound")
        fig.legend(fontsize=8, loc="outside lower center", ncols=len(names))
    return fig


__all__ = ["plot_bounds_by_objective", "plot_latent_scatter", "plot_learning_curves",
           "plot_reconstructions", "plot_runs_compared", "plot_samples"]
