"""Part 4's figures on the bound itself: reparameterized samples, IWAE-k against k.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE


def plot_reparameterization(
    z: np.ndarray, mu: float, sigma: float, ks_statistic: float, ks_pvalue: float
) -> Figure:
    """Samples z = μ + σε against N(μ, σ²): histogram vs density, and ECDF vs CDF with the
    Kolmogorov–Smirnov statistic."""
    from scipy import stats  # here, not at import: `elbolab train`'s figures need no scipy

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
    """The IWAE-k bound (mean over data, ± 1.96 SE) rising with k above the ELBO (with a
    ± 1.96 SE band when ``elbo_stderr`` > 0; 0 for an ELBO computed exactly)."""
    ks, b, se = (np.asarray(a, dtype=float) for a in (ks, bounds, stderrs))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
        if elbo_stderr > 0:  # a band only where there is one to draw
            ax.axhspan(elbo - 1.96 * elbo_stderr, elbo + 1.96 * elbo_stderr,
                       color=COLORS["q"], alpha=0.15)
        ax.axhline(elbo, color=COLORS["q"], lw=1.5, label="ELBO (analytic KL)" + (
            ", band ± 1.96 SE" if elbo_stderr > 0 else ", exact"))
        ax.errorbar(ks, b, yerr=1.96 * se, fmt="o-", color=COLORS["mc"], capsize=3, ms=4,
                    label=r"IWAE-$k$ bound, bars ± 1.96 SE")
        if reference is not None:
            ax.axhline(reference, color=COLORS["exact"], ls="--", label=reference_label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("importance samples k")
        ax.set_ylabel("nats per example")
        ax.set_title("ELBO ≤ IWAE-k, rising with k")
        ax.legend(loc="lower right")
    return fig


__all__ = ["plot_reparameterization", "plot_iwae_vs_k"]
