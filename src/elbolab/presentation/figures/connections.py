"""Figures of the connections appendix: a GAN's discriminator as a density-ratio estimate, the
f-GAN bounds against the exact divergences, a flow's dequantization gap, and five families of
generative models on one binarized MNIST. Takes arrays (it computes nothing)."""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from .style import COLORS, STYLE, image_grid


def plot_gan_bounds(grid: np.ndarray, log_ratio: np.ndarray, logit: np.ndarray,
                    density_p: np.ndarray, density_q: np.ndarray, scales: np.ndarray,
                    kl_bounds: np.ndarray, js_bounds: np.ndarray, exact_kl: float,
                    exact_js: float) -> Figure:
    """Left: the true log p/q, the trained discriminator's logit, and the two densities.
    Right: the KL and JS lower bounds of the critics α·log p/q against α (± 2 SE bands), each
    below its exact divergence (dashed) and touching it at α = 1."""
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        ax.plot(grid, log_ratio, color=COLORS["exact"], lw=2, label="log p/q (exact)")
        ax.plot(grid, logit, "--", color=COLORS["q"], lw=2, label="trained discriminator's logit")
        ax.set_ylabel("log-ratio (nats)")
        ax.set_xlabel("x")
        twin = ax.twinx()
        twin.fill_between(grid, density_p, color=COLORS["mc"], alpha=0.15, label="p (data)")
        twin.fill_between(grid, density_q, color=COLORS["accent"], alpha=0.15, label="q (model)")
        twin.set_yticks([])
        twin.grid(False)
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="lower left")
        ax.set_title("The discriminator estimates log p/q")
        for values, exact, color, name in ((kl_bounds, exact_kl, COLORS["mc"], "KL"),
                                           (js_bounds, exact_js, COLORS["q"], "JS")):
            est, se = values[:, 0], values[:, 1]
            ax2.plot(scales, est, "o-", color=color, ms=3, label=f"{name} lower bound")
            ax2.fill_between(scales, est - 2 * se, est + 2 * se, color=color, alpha=0.2)
            ax2.axhline(exact, color=color, ls="--", lw=1, label=f"{name} exact {exact:.3f}")
        ax2.axvline(1.0, color="0.5", lw=0.8, ls=":")
        ax2.set_xlabel("critic α · log p/q, α")
        ax2.set_ylabel("nats")
        ax2.set_title("f-GAN bounds: below the divergence, tight at α = 1")
        ax2.legend(fontsize=8, loc="lower center")
    return fig


def plot_dequantization(grid: np.ndarray, density: np.ndarray, lattice: np.ndarray,
                        gap: np.ndarray, counts: np.ndarray) -> Figure:
    """Left: a 2-D flow's density (log scale) with the lattice points of the discrete data.
    Right: each data point's dequantization gap log P(x) − E_u log p(x + u) (exact, by
    quadrature), against how often the point occurs."""
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        mesh = ax.pcolormesh(grid, grid, np.log10(np.maximum(density, 1e-8)).T, cmap="Blues",
                             vmin=-5, shading="auto")
        fig.colorbar(mesh, ax=ax, label="log₁₀ p(y)")
        ax.scatter(lattice[:, 0] + 0.5, lattice[:, 1] + 0.5, s=6, color=COLORS["accent"],
                   label="cells of the data (centres)")
        ax.set_xlabel("y₁")
        ax.set_ylabel("y₂")
        ax.set_aspect("equal")
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title("A flow's density on the dequantized lattice")
        ax2.scatter(counts, gap, s=10, color=COLORS["mc"])
        ax2.set_xscale("log")
        ax2.axhline(0, color="0.5", lw=0.8)
        ax2.set_xlabel("occurrences of x in the data")
        ax2.set_ylabel("log P(x) − E_u log p(x + u)  (nats)")
        ax2.set_title("The dequantization gap: ≥ 0 for every x (Jensen)")
    return fig


def plot_families(names: list[str], nll: np.ndarray, stderr: np.ndarray, kinds: list[str],
                  published: list[float | None], samples: dict[str, np.ndarray],
                  shape: tuple[int, int]) -> Figure:
    """Left: each family's test negative log-likelihood (nats, log axis, ± 2 SE), marked as
    exact or as an upper bound, with the published figure beside it where there is one.
    Right: eight samples from each model, one row per family."""
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 0.8 + 0.75 * len(names)),
                                      layout="constrained", gridspec_kw={"width_ratios": [1.3, 1]})
        y = np.arange(len(names))[::-1]
        for yi, v, se, kind in zip(y, nll, stderr, kinds, strict=True):
            exact = kind.startswith("exact")
            ax.barh(yi, v, color=COLORS["mc"] if exact else COLORS["q"], alpha=0.8,
                    height=0.6)
            ax.errorbar(v, yi, xerr=2 * se, color="0.2", capsize=3, lw=1)
            ax.text(v * 1.06 + 2 * se, yi, f"{v:.1f}: {kind}", va="center", fontsize=8)
        pub = [(yi, p) for yi, p in zip(y, published, strict=True) if p is not None]
        if pub:
            ax.scatter([p for _, p in pub], [yi for yi, _ in pub], marker="|", s=300,
                       color="0.1", zorder=3, label="published (same family, full training)")
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        ax.set_yticks(y, names)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # 2×10¹, 3×10¹, … overlap
        ax.set_xlim(min(60.0, float(np.min(nll)) * 0.8), float(np.max(nll)) * 3)
        ax.set_xlabel("test −log p(x), nats per image (log axis)")
        ax.set_title("Exact (blue) or upper bound (red) on the same test images")
        rows = [image_grid(s[:8], shape, 8) for s in samples.values()]
        gap = np.zeros((2, rows[0].shape[1]))
        stacked = np.concatenate([np.concatenate([r, gap]) for r in rows])
        ax2.imshow(stacked, cmap="gray_r", vmin=0, vmax=1, aspect="equal")
        ax2.set_xticks([])
        step = rows[0].shape[0] + 2
        ax2.set_yticks(np.arange(len(rows)) * step + rows[0].shape[0] / 2, list(samples))
        ax2.grid(False)
        ax2.set_title("Samples from each model")
    return fig


__all__ = ["plot_dequantization", "plot_families", "plot_gan_bounds"]
