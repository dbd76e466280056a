"""Figures of "How tight is the bound on real data?": the ladder of bounds of a trained VAE
(paired per image, its steps the amortization and approximation gaps, and the total), and the
BDMC bracket against the AIS schedule."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE


def plot_bound_ladder(rungs: dict[str, np.ndarray], title: str) -> Figure:
    """A ladder of bounds on the same images, loosest first and the tightest (the reference)
    last: ``rungs[name]`` holds one value per image (nats). Each rung is drawn at its mean
    paired difference from the reference, ± 2 standard errors of that paired difference
    (the images' own spread cancels); each step between neighbouring rungs is labelled with
    its paired mean ± SE, and the whole distance from the first rung to the reference — the
    total gap — is drawn as a bracket."""
    names = list(rungs)
    values = [np.asarray(rungs[n], dtype=float) for n in names]
    top = values[-1]
    n = len(top)

    def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        d = a - b
        return float(d.mean()), float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0

    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 0.62 * len(names) + 1.3), layout="constrained")
        colors = [COLORS["q"], COLORS["accent"], COLORS["ok"], COLORS["mc"], COLORS["exact"]]
        xs = []
        for i, v in enumerate(values):
            m, se = paired(v, top)
            xs.append(m)
            ax.errorbar(m, i, xerr=2 * se, fmt="o", color=colors[i % len(colors)], capsize=3,
                        ms=7)
        for i in range(len(names) - 1):
            m, se = paired(values[i + 1], values[i])
            ax.annotate("", (xs[i + 1], i + 1), (xs[i], i),
                        arrowprops={"arrowstyle": "->", "color": "#888", "lw": 0.9})
            ax.annotate(f"+{m:.2f} ± {se:.2f}" if m >= 0 else f"{m:.2f} ± {se:.2f}",
                        ((xs[i] + xs[i + 1]) / 2, i + 0.5), xytext=(6, 0),
                        textcoords="offset points", va="center", fontsize=8, color="#444")
        total, total_se = paired(top, values[0])
        x_br = min(xs) - 0.12 * max(abs(min(xs)), 1e-9)
        ax.plot([x_br, x_br], [0, len(names) - 1], color=COLORS["exact"], lw=1.2)
        ax.annotate(f"total gap\n{total:.2f} ± {total_se:.2f}", (x_br, (len(names) - 1) / 2),
                    xytext=(-6, 0), textcoords="offset points", ha="right", va="center",
                    fontsize=8.5, fontweight="bold")
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlim(x_br - 0.45 * max(abs(min(xs)), 1e-9), 0.08 * max(abs(min(xs)), 1e-9))
        ax.set_xlabel(f"nats per image relative to {names[-1]} (paired, ± 2 SE; {n} images)")
        ax.set_title(title)
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
