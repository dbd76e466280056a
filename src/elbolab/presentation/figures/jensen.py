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
    """For each X: the log curve, samples of (X, log X), the point (E[X], E[log X]) under the
    curve and the gap log E[X] − E[log X] shaded. Each panel dict holds ``name``, ``x``
    (samples), ``e_x``, ``e_log``, ``log_e``."""
    n = len(panels)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), layout="constrained")
        for ax, p in zip(np.atleast_1d(axes), panels, strict=True):
            x = np.asarray(p["x"])
            lo, hi = np.quantile(x, [0.002, 0.998])
            grid = np.linspace(max(lo * 0.8, 1e-3), hi * 1.1, 300)
            ax.plot(grid, np.log(grid), color=COLORS["exact"], lw=2, label="log x")
            xs = x[:: max(1, len(x) // 400)]
            ax.plot(xs, np.log(xs), "o", color=COLORS["band"], ms=3, alpha=0.5)
            if len(np.unique(x)) == 2:
                a, b = np.unique(x)
                ax.plot([a, b], [np.log(a), np.log(b)], "--", color=COLORS["mc"], label="chord")
            ax.fill_between([p["e_x"] - 0.02 * (hi - lo), p["e_x"] + 0.02 * (hi - lo)],
                            p["e_log"], p["log_e"], color=COLORS["q"], alpha=0.35,
                            label=f"gap {p['log_e'] - p['e_log']:.3f}")
            ax.plot([p["e_x"]], [p["log_e"]], "s", color=COLORS["exact"], ms=6,
                    label="log E[X]")
            ax.plot([p["e_x"]], [p["e_log"]], "o", color=COLORS["q"], ms=7, label="E[log X]")
            ax.set_title(p["name"], fontsize=10)
            ax.set_xlabel("x")
            ax.legend(fontsize=7, loc="lower right")
        np.atleast_1d(axes)[0].set_ylabel("log x")
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
