"""Figures of the connections appendix: a GAN's discriminator as a density-ratio estimate, and
the f-GAN bounds against the exact divergences. Takes arrays (it computes nothing)."""

from __future__ import annotations

import numpy as np
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from .style import COLORS, STYLE


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


__all__ = ["plot_gan_bounds"]
