"""Figures of "How tight is the bound on real data?": the ladder of bounds of a trained VAE
with its approximation and amortization gaps, and the BDMC bracket against the AIS schedule."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE


def plot_bound_ladder(bounds: dict[str, tuple[float, float]],
                      gaps: dict[str, tuple[float, float]], title: str) -> Figure:
    """Each bound's mean ± standard error over the images (nats per image), bottom (loosest)
    to top; beside it ``gaps`` (name → (nats, standard error of the paired difference)): the
    images' spread cancels in a gap, so its error bar is the one to read."""
    names = sorted(bounds, key=lambda n: bounds[n][0])
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.0), layout="constrained",
                                      gridspec_kw={"width_ratios": [2.2, 1]})
        colors = [COLORS["q"], COLORS["accent"], COLORS["ok"], COLORS["mc"], COLORS["exact"]]
        for i, (name, c) in enumerate(zip(names, colors, strict=False)):
            m, se = bounds[name]
            ax.errorbar(m, i, xerr=se, fmt="o", color=c, capsize=3, ms=7, lw=0.8, alpha=0.8)
            ax.annotate(f"{m:.2f}", (m, i), xytext=(0, 8), textcoords="offset points",
                        ha="center", fontsize=8)
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlabel("nats per test image (higher is tighter; ± over the images)")
        ax.set_title(title)
        values = [v for v, _ in gaps.values()]
        ax2.barh(range(len(gaps)), values, xerr=[se for _, se in gaps.values()], capsize=3,
                 color=COLORS["band"])
        for i, (v, se) in enumerate(gaps.values()):
            ax2.annotate(f"{v:.2f} ± {se:.2f}", (max(v, 0) + se, i), xytext=(4, 0),
                         textcoords="offset points", va="center", fontsize=8)
        ax2.set_yticks(range(len(gaps)), list(gaps), fontsize=8)
        ax2.set_xlabel("nats per image")
        ax2.set_title("the gaps (paired per image)")
        ax2.set_xlim(min(0.0, min(values)), max(max(v + se for v, se in gaps.values()),
                                                1e-9) * 1.5)
    return fig


def plot_bdmc_bracket(steps: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                      exact: float | None, title: str) -> Figure:
    """Forward-AIS lower and reverse-AIS upper bounds (means over the data points) against the
    number of AIS steps, log x axis, with the exact value where it is known."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 3.9), layout="constrained")
        ax.fill_between(steps, lower, upper, color=COLORS["band"], alpha=0.4,
                        label="the BDMC bracket")
        ax.plot(steps, upper, "v-", color=COLORS["q"], label="reverse AIS (upper bound)")
        ax.plot(steps, lower, "^-", color=COLORS["mc"], label="forward AIS (lower bound)")
        if exact is not None:
            ax.axhline(exact, color=COLORS["exact"], ls="--", lw=1, label="exact log p(x)")
        ax.set_xscale("log")
        ax.set_xlabel("AIS steps (intermediate distributions)")
        ax.set_ylabel("mean log p(x), nats")
        ax.set_title(title)
        ax.legend(fontsize=8)
    return fig


__all__ = ["plot_bdmc_bracket", "plot_bound_ladder"]
