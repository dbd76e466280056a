"""Part 3's figures: Jensen's inequality and the ELBO gap.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE


def plot_jensen_chords(panels: Sequence[dict]) -> Figure:
    """For each law of X, one panel of a 2-column grid: the log curve, samples of (X, log X),
    a chord between two values of X (the 10th and 90th percentiles; the two values of a
    two-point law) lying under the curve, the point (E[X], E[log X]) below log E[X], and the
    gap between them shaded and labelled in nats. One legend for the figure. Each panel dict
    holds ``name``, ``x`` (samples), ``e_x``, ``e_log``, ``log_e``."""
    n = len(panels)
    ncol = min(n, 2)
    nrow = -(-n // ncol)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.9 * nrow + 0.5),
                                 layout="constrained", squeeze=False)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        for ax, p in zip(axes.ravel(), panels, strict=False):
            x = np.asarray(p["x"])
            lo, hi = np.quantile(x, [0.002, 0.998])
            grid = np.linspace(max(lo * 0.8, 1e-3), hi * 1.1, 300)
            ax.plot(grid, np.log(grid), color=COLORS["exact"], lw=2, label="log x")
            xs = x[:: max(1, len(x) // 400)]
            ax.plot(xs, np.log(xs), "o", color=COLORS["band"], ms=3, alpha=0.5,
                    label="samples (X, log X)")
            values = np.unique(x)
            a, b = values if len(values) == 2 else np.quantile(x, [0.1, 0.9])
            ax.plot([a, b], [np.log(a), np.log(b)], "--", color=COLORS["mc"], lw=1.5,
                    label="a chord: below the curve")
            gap = p["log_e"] - p["e_log"]
            half = 0.025 * (hi - lo)
            ax.fill_between([p["e_x"] - half, p["e_x"] + half], p["e_log"], p["log_e"],
                            color=COLORS["q"], alpha=0.35, label="gap log E[X] − E[log X]")
            ax.plot([p["e_x"]], [p["log_e"]], "s", color=COLORS["exact"], ms=7,
                    label="log E[X]")
            ax.plot([p["e_x"]], [p["e_log"]], "o", color=COLORS["q"], ms=8, label="E[log X]")
            ax.annotate(f"gap {gap:.3f} nats", xy=(p["e_x"] + half, (p["e_log"] + p["log_e"]) / 2),
                        xytext=(12, -18), textcoords="offset points", fontsize=10,
                        color=COLORS["q"], arrowprops={"arrowstyle": "-", "color": COLORS["q"]})
            ax.set_title(f"X ~ {p['name']}", fontsize=11)
            ax.set_xlabel("x")
            ax.set_ylabel("log x")
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9)
        fig.suptitle("Jensen: E[log X] lies below log E[X] for every law of X", fontweight="bold")
    return fig


def plot_jensen_gap_vs_spread(sigmas: Sequence[float], measured: Sequence[float],
                              exact: Sequence[float]) -> Figure:
    """The Jensen gap of LogNormal(0, σ): measured vs σ²/2."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.8, 3.8), layout="constrained")
        s = np.linspace(0, max(sigmas) * 1.05, 200)
        ax.plot(s, s**2 / 2, color=COLORS["exact"], lw=1.5, label="σ²/2 (exact)")
        ax.plot(sigmas, measured, "o", color=COLORS["q"], ms=7, label="Monte Carlo")
        ax.set_xlabel("spread σ of log X")
        ax.set_ylabel("log E[X] − E[log X]  (nats)")
        ax.set_title("The Jensen gap grows with the spread of X")
        ax.legend()
    return fig


def plot_elbo_gap_identity(kl_post: np.ndarray, gaps: np.ndarray, factors: Sequence[float],
                           gap_by_factor: np.ndarray) -> Figure:
    """Left: log p(x) − ELBO(q) against KL(q ‖ p(z|x)) for many q: the identity line.
    Right: the gap for q = posterior with scale × c, zero only at c = 1."""
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4), layout="constrained")
        k, g = np.ravel(kl_post), np.ravel(gaps)
        top = max(k.max(), g.max()) * 1.05
        ax.plot([0, top], [0, top], color=COLORS["exact"], lw=1, label="y = x")
        ax.plot(k, g, "o", color=COLORS["mc"], ms=4, alpha=0.7, label="random q")
        ax.set_xlabel("KL(q ‖ p(z|x))  (nats)")
        ax.set_ylabel("log p(x) − ELBO(q)  (nats)")
        ax.set_title("The ELBO gap is the KL to the posterior")
        ax.legend()
        ax2.plot(factors, gap_by_factor, "o-", color=COLORS["q"])
        ax2.axvline(1.0, color=COLORS["exact"], ls="--", lw=1)
        ax2.set_xscale("log", base=2)
        ax2.set_xlabel("q's scale / posterior scale")
        ax2.set_ylabel("log p(x) − ELBO  (nats)")
        ax2.set_title("Zero gap exactly at the true posterior")
    return fig


__all__ = ["plot_jensen_chords", "plot_jensen_gap_vs_spread", "plot_elbo_gap_identity"]
