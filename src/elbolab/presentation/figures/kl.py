"""Part 2's figures: the KL divergence — Monte Carlo convergence, asymmetry, mode fits.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE


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


def plot_mode_fits_1d(grid: np.ndarray, p_density: np.ndarray,
                      fits: Sequence[tuple[str, np.ndarray]]) -> Figure:
    """A bimodal target and Gaussian fits (forward: covers both modes; reverse: one mode)."""
    palette = [COLORS["mc"], COLORS["q"], COLORS["accent"]]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
        ax.fill_between(grid, p_density, color="0.8", label="target p (mixture)")
        for (label, dens), c in zip(fits, palette, strict=False):
            ax.plot(grid, dens, lw=2.2, color=c, label=label)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.set_title("Forward KL covers the modes; reverse KL seeks one")
        ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_mode_fits_2d(xx: np.ndarray, yy: np.ndarray, p_density: np.ndarray,
                      fits: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    """Contours of a 2-D mixture with 1- and 2-σ ellipses of each fitted diagonal Gaussian."""
    from matplotlib.patches import Ellipse

    palette = [COLORS["mc"], COLORS["q"], COLORS["accent"]]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.2, 4.8), layout="constrained")
        ax.contourf(xx, yy, p_density, levels=14, cmap="Greys")
        for (label, mean, std), c in zip(fits, palette, strict=False):
            for k, ls in ((1, "-"), (2, "--")):
                ax.add_patch(Ellipse(mean, 2 * k * std[0], 2 * k * std[1], fill=False,
                                     ec=c, lw=2, ls=ls, label=label if k == 1 else None))
            ax.plot(*mean, "o", color=c)
        ax.set_aspect("equal")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_title("2-D: forward KL (moment matching) vs reverse KL")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(False)
    return fig


def plot_kl_asymmetry_heatmap(delta_mu: np.ndarray, sigma_ratio: np.ndarray,
                              forward: np.ndarray, reverse: np.ndarray) -> Figure:
    """KL(p‖q), KL(q‖p) and their log-ratio for p = N(0,1), q = N(Δμ, r²) over a grid of
    (Δμ, r). The first two panels share one colour scale (its bar spans both, below them) and
    carry labelled contours at 0.1, 1 and 10 nats; the third has its own labelled bar, and the
    black contour where the two directions are equal."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), layout="constrained")
        vmax = np.log10(max(forward.max(), reverse.max()))
        for ax, data, title in ((axes[0], forward, r"forward $\mathrm{KL}(p\,\|\,q)$"),
                                (axes[1], reverse, r"reverse $\mathrm{KL}(q\,\|\,p)$")):
            im = ax.pcolormesh(delta_mu, sigma_ratio, np.log10(np.maximum(data, 1e-3)),
                               cmap="magma", vmin=-3, vmax=vmax, shading="auto")
            cs = ax.contour(delta_mu, sigma_ratio, data, levels=[0.1, 1.0, 10.0],
                            colors="white", linewidths=0.8)
            ax.clabel(cs, fmt=lambda v: f"{v:g} nat" + ("" if v == 1 else "s"), fontsize=8)
            ax.set_title(title)
        fig.colorbar(im, ax=axes[:2], location="bottom", shrink=0.6, aspect=40,
                     label=r"both panels: $\log_{10}$ KL  (KL in nats)")
        ratio = np.log10(np.maximum(forward, 1e-12) / np.maximum(reverse, 1e-12))
        lim = np.abs(ratio).max()
        im2 = axes[2].pcolormesh(delta_mu, sigma_ratio, ratio, cmap="RdBu_r", vmin=-lim,
                                 vmax=lim, shading="auto")
        cs = axes[2].contour(delta_mu, sigma_ratio, ratio, levels=[0], colors="k",
                             linewidths=1)
        axes[2].clabel(cs, fmt=lambda v: "equal", fontsize=8)
        axes[2].set_title(r"$\log_{10}\,\mathrm{KL}(p\|q)\,/\,\mathrm{KL}(q\|p)$")
        fig.colorbar(im2, ax=axes[2], location="bottom", shrink=0.9, aspect=20,
                     label="red: forward larger; blue: reverse larger")
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8)
                 if sigma_ratio.min() <= t <= sigma_ratio.max()]
        for ax in axes:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(FixedLocator(ticks))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.set_xlabel(r"$\Delta\mu = \mu_q - \mu_p$")
            ax.grid(False)
        axes[0].set_ylabel(r"$\sigma_q / \sigma_p$")
    return fig


__all__ = ["plot_kl_monte_carlo", "plot_kl_asymmetry_pair", "plot_mode_fits_1d",
           "plot_mode_fits_2d", "plot_kl_asymmetry_heatmap"]
