"""Figures: one function per figure. Each takes results (never recomputes them) and returns
a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PNG atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from .io import atomic_path

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.titleweight": "semibold",
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "font.size": 10,
}
COLORS = {"p": "#1f5fa8", "q": "#d1495b", "mc": "#1f5fa8", "exact": "#2a2a2a",
          "band": "#8fb3de", "accent": "#e09f3e", "ok": "#3c8d5a"}


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> str:
    """Save ``fig`` as a PNG at ``path`` (temp file + rename); returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return os.fspath(path)


def plot_kl_monte_carlo(
    ns: Sequence[int],
    estimates: Sequence[float],
    stderrs: Sequence[float],
    exact: float,
    *,
    title: str = "Monte Carlo KL converges to the closed form",
) -> Figure:
    """Left: MC estimate ± 1.96 standard errors vs sample count, the closed form as a line.
    Right: |error| and the standard error vs n on log–log axes with the n^(-1/2) slope."""
    ns, est, se = (np.asarray(a, dtype=float) for a in (ns, estimates, stderrs))
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        ax.fill_between(ns, est - 1.96 * se, est + 1.96 * se, color=COLORS["band"], alpha=0.5,
                        label="95% interval (±1.96 SE)")
        ax.plot(ns, est, "o-", color=COLORS["mc"], ms=4, label="Monte Carlo estimate")
        ax.axhline(exact, color=COLORS["exact"], ls="--", lw=1.2, label=f"closed form {exact:.4f}")
        ax.set_xscale("log")
        ax.set_xlabel("samples n")
        ax.set_ylabel("KL (nats)")
        ax.set_title(title)
        ax.legend(loc="best")
        err = np.abs(est - exact)
        ax2.loglog(ns, se, "s-", color=COLORS["band"], ms=4, label="standard error")
        ax2.loglog(ns, np.maximum(err, 1e-12), "o", color=COLORS["mc"], ms=4, label="|error|")
        ax2.loglog(ns, se[0] * np.sqrt(ns[0] / ns), ":", color=COLORS["exact"],
                   label=r"$\propto n^{-1/2}$")
        ax2.set_xlabel("samples n")
        ax2.set_ylabel("nats")
        ax2.set_title("Error shrinks like the standard error")
        ax2.legend(loc="best")
    return fig


def plot_kl_asymmetry_pair(
    grid: np.ndarray,
    p_density: np.ndarray,
    q_density: np.ndarray,
    kl_pq: float,
    kl_qp: float,
    *,
    labels: tuple[str, str] = ("p", "q"),
) -> Figure:
    """Two densities on a grid, annotated with KL(p‖q) and KL(q‖p)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
        ax.fill_between(grid, p_density, color=COLORS["p"], alpha=0.25)
        ax.plot(grid, p_density, color=COLORS["p"], lw=2, label=labels[0])
        ax.fill_between(grid, q_density, color=COLORS["q"], alpha=0.2)
        ax.plot(grid, q_density, color=COLORS["q"], lw=2, label=labels[1])
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.set_title("KL is not symmetric")
        ax.text(0.02, 0.95, f"KL(p‖q) = {kl_pq:.3f} nats\nKL(q‖p) = {kl_qp:.3f} nats",
                transform=ax.transAxes, va="top", fontsize=10,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.8"})
        ax.legend(loc="upper right")
    return fig


def plot_reparameterization(
    z: np.ndarray, mu: float, sigma: float, ks_statistic: float, ks_pvalue: float
) -> Figure:
    """Samples z = μ + σε against N(μ, σ²): histogram vs density, and ECDF vs CDF with the
    Kolmogorov–Smirnov statistic."""
    z = np.sort(np.asarray(z, dtype=float))
    grid = np.linspace(mu - 4.5 * sigma, mu + 4.5 * sigma, 400)
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        ax.hist(z, bins=60, density=True, color=COLORS["band"], alpha=0.8,
                label=f"z = μ + σ·ε  (n = {len(z):,})")
        ax.plot(grid, stats.norm.pdf(grid, mu, sigma), color=COLORS["exact"], lw=2,
                label=f"N({mu:g}, {sigma:g}²)")
        ax.set_xlabel("z")
        ax.set_ylabel("density")
        ax.set_title("Reparameterized samples have the right law")
        ax.legend(loc="upper left", fontsize=8)
        ecdf = np.arange(1, len(z) + 1) / len(z)
        ax2.plot(z, ecdf, color=COLORS["mc"], lw=1.5, label="empirical CDF")
        ax2.plot(grid, stats.norm.cdf(grid, mu, sigma), "--", color=COLORS["exact"],
                 label="N(μ, σ²) CDF")
        ax2.set_xlabel("z")
        ax2.set_ylabel("CDF")
        ax2.set_title(f"KS statistic {ks_statistic:.4f}, p = {ks_pvalue:.2f}")
        ax2.legend(loc="lower right")
    return fig


def plot_iwae_vs_k(
    ks: Sequence[int],
    bounds: Sequence[float],
    stderrs: Sequence[float],
    elbo: float,
    elbo_stderr: float,
    *,
    reference: float | None = None,
    reference_label: str = "log p(x)",
) -> Figure:
    """The IWAE-k bound (mean over data, ± 1.96 SE) rising with k above the ELBO."""
    ks, b, se = (np.asarray(a, dtype=float) for a in (ks, bounds, stderrs))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
        ax.axhspan(elbo - 1.96 * elbo_stderr, elbo + 1.96 * elbo_stderr, color=COLORS["q"],
                   alpha=0.15)
        ax.axhline(elbo, color=COLORS["q"], lw=1.5, label="ELBO (analytic KL)")
        ax.errorbar(ks, b, yerr=1.96 * se, fmt="o-", color=COLORS["mc"], capsize=3, ms=4,
                    label=r"IWAE-$k$ bound")
        if reference is not None:
            ax.axhline(reference, color=COLORS["exact"], ls="--", label=reference_label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("importance samples k")
        ax.set_ylabel("nats per example")
        ax.set_title("ELBO ≤ IWAE-k, rising with k")
        ax.legend(loc="lower right")
    return fig
