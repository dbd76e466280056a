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


def plot_reconstructions(originals: np.ndarray,
                         reconstructions: np.ndarray | dict[str, np.ndarray],
                         shape: tuple[int, int]) -> Figure:
    """Test images (top row) and their reconstructions (decoder means) below them: one row,
    or one row per model when ``reconstructions`` maps a label to each model's, so that
    models are compared on the same images."""
    rows = (reconstructions if isinstance(reconstructions, dict)
            else {"reconstruction": reconstructions})
    n = len(originals)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1 + len(rows), 1, figsize=(min(1.0 * n, 14),
                                                            1.3 * (1 + len(rows))),
                                 layout="constrained")
        for ax, (label, imgs) in zip(axes, [("data", originals), *rows.items()], strict=True):
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


def plot_paired_differences(rows: Sequence[tuple[str, float, float]], *, title: str,
                            xlabel: str = "nats per test image, paired (± 2 SE)") -> Figure:
    """Paired differences, each (label, mean, standard error of the paired difference): a
    point with a ± 2 SE bar per row, the zero line, the value written beside it. The images'
    own spread cancels in a paired difference, so these bars (not the spread of either
    model's bound) say whether a difference is real."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.2), layout="constrained")
        y = np.arange(len(rows))[::-1]
        for yi, (_, m, se) in zip(y, rows, strict=True):
            color = COLORS["mc"] if m - 2 * se > 0 else (
                COLORS["q"] if m + 2 * se < 0 else COLORS["exact"])
            ax.errorbar(m, yi, xerr=2 * se, fmt="o", color=color, capsize=4, ms=7)
            ax.annotate(f"{m:+.2f} ± {se:.2f}", (m, yi), xytext=(0, 9),
                        textcoords="offset points", ha="center", fontsize=8)
        ax.axvline(0, color=COLORS["exact"], lw=1)
        ax.set_yticks(y, [r[0] for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.2)
        lo = min(m - 2 * se for _, m, se in rows)
        hi = max(m + 2 * se for _, m, se in rows)
        pad = 0.12 * (max(hi, 0) - min(lo, 0))
        ax.set_xlim(min(lo, 0) - pad, max(hi, 0) + pad)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
    return fig


__all__ = ["plot_paired_differences", "plot_latent_scatter", "plot_learning_curves",
           "plot_reconstructions", "plot_runs_compared", "plot_samples"]
