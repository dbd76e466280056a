"""Part 5's figures: the rate–distortion study.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from ...vae.evaluation import ACTIVE_UNIT_THRESHOLD
from .style import COLORS, STYLE, beta_colors, image_grid


def plot_rate_distortion(rows: Sequence[dict]) -> Figure:
    """Each β's (rate, distortion) point on the RD plane with the line D + βR = const it
    minimizes (slope −β through the point), and the −ELBO = D + R of each point (right)."""
    rates = np.array([r["kl"] for r in rows])  # rate R = KL
    dists = -np.array([r["reconstruction"] for r in rows])  # distortion D = −E log p(x|z)
    colors = beta_colors(len(rows))
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.6, 1]})
        # the rates span decades (β = 10 leaves a nat or two, β = 0 over a hundred): a log
        # axis spreads the points; each β's line D + βR = const is then a curve
        lo, hi = max(rates.min() / 2, 1e-2), rates.max() * 1.6
        r_grid = np.geomspace(lo, hi, 300)
        for r, R, D, c in zip(rows, rates, dists, colors, strict=True):
            b = r["beta"]
            ax.plot(r_grid, D + b * (R - r_grid), color=c, lw=1, ls="--", alpha=0.7)
            ax.plot(R, D, "o", color=c, ms=8, label=f"β = {b:g}: R {R:.1f}, D {D:.1f}")
            ax.annotate(f"β = {b:g}", (R, D), xytext=(6, 6), textcoords="offset points",
                        fontsize=8, color=c)
        ax.plot(rates, dists, "-", color=COLORS["exact"], lw=0.8, alpha=0.5)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(dists.min() * 0.9, dists.max() * 1.12)
        ax.set_xlabel("rate R = E[KL(q(z|x) ‖ p(z))] (nats, log scale)")
        ax.set_ylabel("distortion D = −E[log p(x|z)] (nats)")
        ax.set_title("Rate–distortion: each β minimizes D + βR (dashed)")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
        x = np.arange(len(rows))
        ax2.bar(x, dists, color=COLORS["q"], label="distortion D")
        ax2.bar(x, rates, bottom=dists, color=COLORS["accent"], label="rate R")
        ax2.set_xticks(x, [f"{r['beta']:g}" for r in rows])
        ax2.set_xlabel("β")
        ax2.set_ylabel("−ELBO = D + R (nats)")
        ax2.set_title("The ELBO's two terms")
        ax2.legend()
    return fig


def plot_rate_distortion_grid(rows: Sequence[dict]) -> Figure:
    """The rate–distortion plane of a grid (rows of :func:`elbolab.parts.grid.aggregate`): one
    panel per dataset, one line per objective through its β points, each point the mean
    across seeds with ± 1.96 SE bars on both axes (no bar where one seed gives no SE)."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    objectives = list(dict.fromkeys(r["objective"] for r in rows))
    palette = [COLORS["mc"], COLORS["q"], COLORS["ok"], COLORS["accent"]]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.2),
                                 layout="constrained", squeeze=False)
        for ax, dataset in zip(axes[0], datasets, strict=True):
            for obj, color in zip(objectives, palette * len(objectives), strict=False):
                rr = sorted((r for r in rows if r["dataset"] == dataset
                             and r["objective"] == obj), key=lambda r: r["beta"])
                if not rr:
                    continue
                ax.errorbar([r["rate_mean"] for r in rr], [r["distortion_mean"] for r in rr],
                            xerr=_bars(rr, "rate_se"), yerr=_bars(rr, "distortion_se"),
                            fmt="o-", ms=4, color=color, capsize=2, lw=1.2,
                            label=f"{obj} ({max(r['n_seeds'] for r in rr)} seeds)")
                for r in rr:
                    ax.annotate(f"β={r['beta']:g}", (r["rate_mean"], r["distortion_mean"]),
                                textcoords="offset points", xytext=(4, 4), fontsize=7,
                                color=color)
            ax.set_xlabel("rate R = KL(q(z|x) ‖ p(z))  (nats)")
            ax.set_ylabel("distortion D = −E_q log p(x|z)  (nats)")
            ax.set_title(f"{dataset}: mean over seeds, ± 1.96 SE")
            ax.legend(fontsize=8)
    return fig


def _bars(rows: Sequence[dict], key: str) -> np.ndarray:
    """± 1.96 SE half-widths; 0 (no bar) where the SE is NaN (one seed)."""
    return np.nan_to_num([1.96 * r[key] for r in rows])


def plot_beta_images(originals: np.ndarray, recons: Sequence[np.ndarray],
                     samples: Sequence[np.ndarray], betas: Sequence[float],
                     shape: tuple[int, int]) -> Figure:
    """Per β (rows): reconstructions of the same test images (left, originals on top) and
    prior samples (right)."""
    n = len(betas)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(n + 1, 2, figsize=(11, 1.25 * (n + 1) + 0.4),
                                 layout="constrained")
        ncol = len(originals)
        axes[0, 0].imshow(image_grid(originals, shape, ncol), cmap="gray_r", vmin=0, vmax=1)
        axes[0, 0].set_title("test images, then their reconstructions")
        axes[0, 1].set_title("prior samples z ~ N(0, I)")
        axes[0, 1].axis("off")
        for i, b in enumerate(betas):
            axes[i + 1, 0].imshow(image_grid(recons[i], shape, ncol), cmap="gray_r", vmin=0, vmax=1)
            axes[i + 1, 1].imshow(image_grid(samples[i], shape, len(samples[i])), cmap="gray_r",
                                  vmin=0, vmax=1)
            axes[i + 1, 0].set_ylabel(f"β = {b:g}", rotation=0, ha="right", va="center")
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    return fig


def plot_latent_traversals(traversals: Sequence[np.ndarray], labels: Sequence[str],
                           values: Sequence[float], shape: tuple[int, int]) -> Figure:
    """One row per (β, latent dimension): the decoder mean as that dimension sweeps
    ``values`` with the others at a test image's posterior mean."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(traversals), 1, figsize=(0.75 * len(values) + 1.5,
                                                             0.85 * len(traversals) + 0.6),
                                 layout="constrained")
        axes = np.atleast_1d(axes)
        for ax, imgs, lab in zip(axes, traversals, labels, strict=True):
            ax.imshow(image_grid(imgs, shape, len(values)), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_ylabel(lab, rotation=0, ha="right", va="center", fontsize=8)
        axes[0].set_title("Latent traversals: z_j from " + f"{values[0]:g} to {values[-1]:g}")
    return fig


def plot_kl_per_dimension(rows: Sequence[dict], threshold: float = ACTIVE_UNIT_THRESHOLD,
                          informative: float = 0.1) -> Figure:
    """KL per latent unit (sorted, largest first) for each β, log scale, with the
    ``informative`` line (a unit carrying more than 0.1 nat) and, per β in the legend below
    the plot, both counts: the units above that line and the active units of Burda et al.
    (posterior mean varying with x: Cov_x(E[z_j|x]) > ``threshold``)."""
    colors = beta_colors(len(rows))
    L = len(rows[0]["kl_per_dim"])
    width = 0.8 / len(rows)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 4.4), layout="constrained")
        for i, (r, c) in enumerate(zip(rows, colors, strict=True)):
            kl = np.sort(np.asarray(r["kl_per_dim"]))[::-1]
            above = int((kl > informative).sum())
            ax.bar(np.arange(L) + (i - (len(rows) - 1) / 2) * width, np.maximum(kl, 1e-4),
                   width=width, color=c,
                   label=f"β = {r['beta']:g}: {above}/{L} above {informative:g} nat, "
                         f"{r['active_units']}/{L} active")
        ax.axhline(informative, color=COLORS["exact"], lw=1, ls=":")
        ax.annotate(f"{informative:g} nat", (L - 0.5, informative), xytext=(0, 3),
                    textcoords="offset points", ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(range(L), [str(j + 1) for j in range(L)])
        ax.set_xlabel("latent unit, sorted by its KL (largest first)")
        ax.set_ylabel("E[KL(q(z_j|x) ‖ N(0,1))] (nats)")
        ax.set_title("Where the rate goes: KL per latent unit")
        fig.legend(fontsize=8, ncols=2, loc="outside lower center")
    return fig


def plot_rd_learning_curves(labels: Sequence[str], history: Sequence[Sequence[dict]], *,
                            title: str = "", target: tuple[Sequence[float], Sequence[float],
                                                           str] | None = None) -> Figure:
    """Test rate (``test_kl``, left) and distortion (−``test_reconstruction``, right) per
    epoch for each run (one label each), integer epoch ticks, one legend below both panels.
    The rate axis is linear unless the rates span more than two decades (then symmetric-log,
    with every decade labelled). ``target``: (epochs, values, label) of a rate the training
    steers toward (the capacity C schedule), drawn dashed."""
    colors = beta_colors(len(labels))
    rates = [e["test_kl"] for h in history for e in h]
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
        for lab, h, c in zip(labels, history, colors, strict=True):
            ep = [e["epoch"] for e in h]
            ax.plot(ep, [e["test_kl"] for e in h], "o-", ms=3, color=c, label=lab)
            ax2.plot(ep, [-e["test_reconstruction"] for e in h], "o-", ms=3, color=c)
        if target is not None:
            ax.plot(target[0], target[1], "--", color=COLORS["exact"], lw=1.2, label=target[2])
        positive = [r for r in rates if r > 0]
        if positive and max(positive) / max(min(positive), 1e-3) > 100:
            ax.set_yscale("symlog", linthresh=1.0)
            ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.set_ylabel("test rate R = KL (nats)")
        ax.set_title(f"{title}Rate during training")
        ax2.set_ylabel("test distortion D (nats)")
        ax2.set_title("Distortion during training")
        for a in (ax, ax2):
            a.set_xlabel("epoch")
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
                   ncol=min(len(labels) + (target is not None), 5), fontsize=9)
    return fig


def plot_encoder_forces(forces: Sequence[dict]) -> Figure:
    """The two forces on the encoder per β (rows of
    :func:`~elbolab.parts.two_forces.encoder_forces`): left, the norms of the distortion
    gradient, the weighted rate gradient and their sum; right, the cosine of the angle between
    the two (−1: exactly opposed, the balance of a stationary point)."""
    rows = [f for f in forces if f["beta"] > 0]
    betas = [f["beta"] for f in rows]
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.6), layout="constrained")
        ax.plot(betas, [f["distortion_norm"] for f in rows], "o-", color=COLORS["exact"],
                label=r"distortion $\|\nabla_\phi D\|$")
        ax.plot(betas, [f["rate_norm"] for f in rows], "s-", color=COLORS["q"],
                label=r"rate $\|\beta\nabla_\phi R\|$")
        ax.plot(betas, [f["total_norm"] for f in rows], "^--", color="0.45",
                label=r"sum $\|\nabla_\phi (D + \beta R)\|$")
        ax.set_xscale("log")
        ax.set_xlabel("β")
        ax.set_ylabel("gradient norm on the encoder")
        ax.set_title("The two forces on the encoder")
        ax.legend(fontsize=8)
        ax2.plot(betas, [f["cosine"] for f in rows], "o-", color=COLORS["mc"])
        ax2.axhline(-1.0, color="0.6", lw=0.8, ls=":")
        ax2.axhline(0.0, color="0.6", lw=0.8)
        ax2.set_xscale("log")
        ax2.set_ylim(-1.05, 0.3)
        ax2.set_xlabel("β")
        ax2.set_ylabel("cos angle(∇D, β∇R)")
        ax2.set_title("They pull in opposite directions")
    return fig


__all__ = ["plot_rate_distortion", "plot_rate_distortion_grid", "plot_beta_images",
           "plot_latent_traversals", "plot_kl_per_dimension", "plot_rd_learning_curves",
           "plot_encoder_forces", "two_forces_figures"]


def two_forces_figures(result, pictures=None) -> dict[str, Figure]:
    """The Part 5 figures of a :class:`~elbolab.parts.two_forces.TwoForcesResult`, and of its
    :meth:`~elbolab.parts.two_forces.TwoForcesResult.pictures` when given:
    {name: Figure}. Draws only; the arrays were computed by the result."""
    run, rows = result.run, result.rows
    figs = {"two_forces_rate_distortion": plot_rate_distortion(rows),
            "two_forces_kl_per_dim": plot_kl_per_dimension(rows),
            "two_forces_learning_curves": plot_rd_learning_curves(
                [f"β = {b:g}" for b in run.betas], run.history)}
    if pictures is not None:
        figs["two_forces_images"] = plot_beta_images(
            pictures.originals, pictures.reconstructions, pictures.samples, run.betas,
            result.image_shape)
        figs["two_forces_traversals"] = plot_latent_traversals(
            pictures.traversals, pictures.traversal_labels, pictures.values, result.image_shape)
    return figs
