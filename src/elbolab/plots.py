"""Figures: one function per figure. Each takes results (never recomputes them) and returns
a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PNG atomically."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from scipy import stats

from .io import atomic_path

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.titleweight": "bold",
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


def _dim_colors(n: int) -> list:
    return [plt.get_cmap("viridis")(v) for v in np.linspace(0.05, 0.9, n)]


def plot_naive_mc_error(rows: list[dict]) -> Figure:
    """Naive prior Monte Carlo: mean |error| against the exact log p(x) vs sample count, one
    line per latent dimension, with the estimator's own reported standard error dashed."""
    dims = sorted({r["latent_dim"] for r in rows})
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained",
                                      width_ratios=[2.2, 1])
        for d, c in zip(dims, _dim_colors(len(dims)), strict=True):
            rr = [r for r in rows if r["latent_dim"] == d]
            n = [r["n_samples"] for r in rr]
            ax.loglog(n, [r["mean_abs_error"] for r in rr], "o-", color=c, ms=4, label=f"d = {d}")
            ax.loglog(n, [r["reported_stderr"] for r in rr], ":", color=c, lw=1.2)
            ax2.loglog(n, [max(r["seconds"], 1e-5) for r in rr], "o-", color=c, ms=3)
        ax.axhline(1.0, color=COLORS["q"], lw=1, ls="--")
        ax.text(ax.get_xlim()[0] * 1.3, 1.08, "1 nat", color=COLORS["q"], fontsize=9)
        ax.set_xlabel("prior samples n")
        ax.set_ylabel("|estimate − exact log p(x)|  (nats)")
        ax.set_title("Naive Monte Carlo fails as the latent dimension grows\n"
                     "(solid: measured error; dotted: the error it reports)")
        ax.legend(ncol=2, fontsize=8, loc="lower left")
        ax2.set_xlabel("prior samples n")
        ax2.set_ylabel("seconds (all data points)")
        ax2.set_title("Wall time (linear in n past the overhead)")
    return fig


def plot_samples_for_accuracy(
    dims: Sequence[int], needed: Sequence[int | None], kl_post: Sequence[float],
    max_samples: int, tolerance: float = 1.0,
) -> Figure:
    """Samples naive MC needs for ``tolerance``-nat accuracy vs latent dimension (log axis),
    against the Chatterjee–Diaconis scale exp(KL(p(z|x) ‖ p(z)))."""
    dims = np.asarray(dims)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
        reached = [(d, n) for d, n in zip(dims, needed, strict=True) if n is not None]
        missed = [d for d, n in zip(dims, needed, strict=True) if n is None]
        if reached:
            ax.semilogy(*zip(*reached, strict=True), "o-", color=COLORS["mc"], ms=6,
                        label=f"measured: smallest n with mean |error| ≤ {tolerance:g} nat")
        if missed:
            ax.semilogy(missed, [max_samples * 3] * len(missed), "^", color=COLORS["q"], ms=9,
                        label=f"not reached with {max_samples:.0e} samples")
        ax.semilogy(dims, np.exp(kl_post), "--", color=COLORS["exact"],
                    label=r"$e^{\mathrm{KL}(p(z|x)\,\|\,p(z))}$ (Chatterjee & Diaconis)")
        ax.set_xlabel("latent dimension d")
        ax.set_ylabel("prior samples needed")
        ax.text(0.99, 0.02, "(smallest n tried: 10)", transform=ax.transAxes, ha="right",
                fontsize=8, color="0.4")
        ax.set_title("The cost of naive Monte Carlo grows exponentially")
        ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_ess_collapse(rows: list[dict], n_samples: int) -> Figure:
    """Effective sample size per sample of the naive estimator vs latent dimension."""
    rr = sorted((r for r in rows if r["n_samples"] == n_samples), key=lambda r: r["latent_dim"])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
        ax.semilogy([r["latent_dim"] for r in rr], [r["ess"] / n_samples for r in rr], "o-",
                    color=COLORS["q"])
        ax.set_xlabel("latent dimension d")
        ax.set_ylabel("ESS / n")
        ax.set_title(f"Effective sample size collapses (n = {n_samples:,} prior samples)")
    return fig


def plot_estimator_comparison(names: Sequence[str], errors: Sequence[float],
                              stderrs: Sequence[float], seconds: Sequence[float]) -> Figure:
    """Each estimator's mean error against the exact log p(x) (± 1.96 SE) and wall time."""
    y = np.arange(len(names))[::-1]
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.8),
                                      layout="constrained", width_ratios=[3, 1], sharey=True)
        ax.errorbar(errors, y, xerr=1.96 * np.asarray(stderrs), fmt="o", color=COLORS["mc"],
                    capsize=3)
        ax.axvline(0, color=COLORS["exact"], lw=1)
        ax.set_yticks(y, names)
        ax.set_xlabel("estimate − exact log p(x)  (nats, mean over data)")
        ax.set_title("Estimators of log p(x) against the truth")
        ax2.barh(y, seconds, color=COLORS["band"])
        ax2.set_xlabel("seconds")
        ax2.set_title("wall time")
    return fig


def plot_underflow(rows: list[dict]) -> Figure:
    """log p(x) by the probability-space average (float32, float64) and in log space, vs
    data dimension; −inf results are marked at the bottom."""
    dims = np.array([r["data_dim"] for r in rows])
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.8, 4.0), layout="constrained")
        exact = np.array([r["exact"] for r in rows])
        ax.plot(dims, exact, "-", color=COLORS["exact"], lw=2, label="exact")
        ax.plot(dims, [r["log_space"] for r in rows], "o", color=COLORS["mc"], ms=6,
                label="log space (logsumexp)")
        floor = exact.min() * 1.15
        for key, marker, color in (("prob_space_float64", "s", COLORS["accent"]),
                                   ("prob_space_float32", "x", COLORS["q"])):
            v = np.array([r[key] for r in rows])
            fin = np.isfinite(v)
            ax.plot(dims[fin], v[fin], marker, color=color, ms=7, mfc="none",
                    label=f"probability space, {key[-7:]}")
            ax.plot(dims[~fin], np.full((~fin).sum(), floor), marker, color=color, ms=9)
        ax.axhline(floor, color="0.6", lw=0.8, ls=":")
        ax.text(dims[-1], floor * 0.985, "−∞ (underflow)  ", fontsize=8, color="0.4",
                ha="right", va="bottom")
        ax.set_xscale("log")
        ax.set_xlabel("data dimension D")
        ax.set_ylabel("log p(x)  (nats)")
        ax.set_title("Averaging probabilities underflows; averaging in log space does not")
        ax.legend(fontsize=8, loc="upper right")
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
    """KL(p‖q), KL(q‖p) and their log-ratio for p = N(0,1), q = N(Δμ, r²)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), layout="constrained")
        vmax = np.log10(max(forward.max(), reverse.max()))
        for ax, data, title in ((axes[0], forward, "KL(p‖q)"), (axes[1], reverse, "KL(q‖p)")):
            im = ax.pcolormesh(delta_mu, sigma_ratio, np.log10(np.maximum(data, 1e-3)),
                               cmap="magma", vmin=-3, vmax=vmax, shading="auto")
            ax.set_title(f"log₁₀ {title}")
        fig.colorbar(im, ax=axes[:2], shrink=0.9, label="log₁₀ nats")
        ratio = np.log10(np.maximum(forward, 1e-12) / np.maximum(reverse, 1e-12))
        lim = np.abs(ratio).max()
        im2 = axes[2].pcolormesh(delta_mu, sigma_ratio, ratio, cmap="RdBu_r", vmin=-lim,
                                 vmax=lim, shading="auto")
        axes[2].contour(delta_mu, sigma_ratio, ratio, levels=[0], colors="k", linewidths=1)
        axes[2].set_title("log₁₀ KL(p‖q) / KL(q‖p)")
        fig.colorbar(im2, ax=axes[2], shrink=0.9)
        for ax in axes:
            ax.set_yscale("log")
            ax.set_xlabel("Δμ = μ_q − μ_p")
            ax.grid(False)
        axes[0].set_ylabel("σ_q / σ_p")
    return fig


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


def plot_learning_curves(history: Sequence[dict], *, title: str = "ELBO training") -> Figure:
    """Train and test −ELBO per epoch (left) and the test reconstruction and KL terms
    (right), from a trainer's history."""
    ep = [h["epoch"] for h in history]
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
        ax.plot(ep, [h["train_loss"] for h in history], "o-", color=COLORS["band"], ms=3,
                label="train −ELBO")
        ax.plot(ep, [h["test_loss"] for h in history], "o-", color=COLORS["mc"], ms=3,
                label="test −ELBO")
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.set_title(title)
        ax.legend()
        ax2.plot(ep, [-h["test_reconstruction"] for h in history], "o-", color=COLORS["q"],
                 ms=3, label="distortion −E[log p(x|z)]")
        ax2b = ax2.twinx()
        ax2b.plot(ep, [h["test_kl"] for h in history], "s-", color=COLORS["accent"], ms=3,
                  label="rate KL(q‖p)")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("distortion (nats)", color=COLORS["q"])
        ax2b.set_ylabel("KL (nats)", color=COLORS["accent"])
        ax2b.spines["right"].set_visible(True)
        ax2.set_title("The two terms on the test set")
    return fig


def plot_runs_compared(histories: dict[str, Sequence[dict]], *,
                       title: str = "Test −ELBO") -> Figure:
    """Test −ELBO of several training runs (name → trainer history) per epoch (left) and
    against cumulative training seconds (right): data efficiency and compute efficiency."""
    colors = [COLORS["mc"], COLORS["q"], COLORS["accent"], COLORS["ok"]]
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
        for (name, h), c in zip(histories.items(), colors, strict=False):
            loss = [e["test_loss"] for e in h]
            per_epoch = float(np.median([e["seconds"] for e in h]))
            ax.plot([e["epoch"] for e in h], loss, "o-", ms=3, color=c, label=name)
            ax2.plot(np.cumsum([e["seconds"] for e in h]), loss, "o-", ms=3, color=c,
                     label=f"{name}: {per_epoch:.1f} s/epoch")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("test −ELBO (nats per image)")
        ax.set_title(f"{title} per epoch")
        ax.legend()
        ax2.set_xscale("log")
        ax2.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax2.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax2.xaxis.set_minor_formatter(NullFormatter())
        ax2.set_xlabel("training time (s, cumulative)")
        ax2.set_title(f"{title} per second of training")
        ax2.legend(fontsize=8)
    return fig


def _grid(images: np.ndarray, shape: tuple[int, int], ncol: int) -> np.ndarray:
    n = len(images)
    nrow = int(np.ceil(n / ncol))
    h, w = shape
    canvas = np.ones((nrow * (h + 1) + 1, ncol * (w + 1) + 1))
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = \
            img.reshape(h, w)
    return canvas


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray,
                         shape: tuple[int, int]) -> Figure:
    """Test images (top row of each pair) and their reconstructions (decoder means)."""
    n = len(originals)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, 1, figsize=(min(1.0 * n, 14), 2.6), layout="constrained")
        for ax, imgs, label in ((axes[0], originals, "data"),
                                (axes[1], reconstructions, "reconstruction")):
            ax.imshow(_grid(imgs, shape, n), cmap="gray_r", vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(label, fontsize=9, loc="left")
    return fig


def plot_samples(samples: np.ndarray, shape: tuple[int, int], *, ncol: int = 10,
                 title: str = "Samples from the prior (decoder means)") -> Figure:
    """A grid of decoded prior samples."""
    with plt.rc_context(STYLE):
        nrow = int(np.ceil(len(samples) / ncol))
        fig, ax = plt.subplots(figsize=(ncol * 0.75, nrow * 0.75 + 0.4), layout="constrained")
        ax.imshow(_grid(samples, shape, ncol), cmap="gray_r", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(title, fontsize=10)
    return fig


def plot_latent_scatter(z: np.ndarray, labels: np.ndarray) -> Figure:
    """Posterior means of a 2-D latent space coloured by class."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
        sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
        fig.colorbar(sc, ax=ax, ticks=range(10), label="label")
        ax.set_xlabel("$z_1$")
        ax.set_ylabel("$z_2$")
        ax.set_title("Posterior means, 2-D latent space")
    return fig


# -- the bridge to diffusion ------------------------------------------------------------------
def plot_noise_schedules(schedules: Sequence) -> Figure:
    """ᾱ_t (left) and log SNR_t (right) against t/T for each :class:`NoiseSchedule`."""
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        for s, color in zip(schedules, (COLORS["mc"], COLORS["q"], COLORS["accent"]),
                            strict=False):
            frac = np.arange(1, s.T + 1) / s.T
            label = f"{s.name} (T = {s.T})"
            ax.plot(frac, s.alpha_bar[1:].numpy(), color=color, label=label)
            ax2.plot(frac, s.log_snr[1:].numpy(), color=color, label=label)
        ax.set_xlabel("t / T")
        ax.set_ylabel(r"$\bar\alpha_t$ (signal kept)")
        ax.set_title("How much of x₀ survives to step t")
        ax.legend()
        ax2.set_xlabel("t / T")
        ax2.set_ylabel(r"log SNR = log $\bar\alpha_t/(1-\bar\alpha_t)$")
        ax2.set_title("Signal-to-noise ratio")
    return fig


def plot_diffusion_testbed(profiles: dict, gaps: dict) -> Figure:
    """Left: the per-step terms L_{t−1} against t/T for several T (one variance choice).
    Right: the gap log p_θ(x₀) − bound against T for each reverse variance, log–log, with a
    1/T reference slope. ``profiles``: {T: array of L_0..L_T}; ``gaps``: {variance: (Ts,
    gaps)}."""
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
        cmap = plt.get_cmap("viridis")
        for i, (T, terms) in enumerate(sorted(profiles.items())):
            terms = np.asarray(terms)
            t = np.arange(2, T + 1)
            ax.plot(t / T, np.maximum(terms[1:T], 1e-12), color=cmap(i / max(len(profiles), 2)),
                    label=f"T = {T}")
        ax.set_yscale("log")
        ax.set_xlabel("t / T")
        ax.set_ylabel(r"$L_{t-1}$ (nats)")
        ax.set_title("Per-step KL terms: more steps, each smaller")
        ax.legend(ncol=2)
        styles = {"optimal": COLORS["ok"], "beta": COLORS["mc"], "posterior": COLORS["q"]}
        for var, (Ts, g) in gaps.items():
            ax2.loglog(Ts, g, "o-", color=styles.get(var, COLORS["exact"]), ms=4,
                       label={"optimal": "σ² optimal (Analytic-DPM)", "beta": "σ² = β_t",
                              "posterior": "σ² = β̃_t"}.get(var, var))
        Ts = np.asarray(next(iter(gaps.values()))[0], dtype=float)
        ref = next(iter(gaps.values()))[1][0] * Ts[0] / Ts
        ax2.loglog(Ts, ref, ":", color=COLORS["exact"], label="∝ 1/T")
        ax2.set_xticks(Ts, [f"{t:g}" for t in Ts])
        ax2.xaxis.set_minor_formatter(plt.NullFormatter())
        ax2.set_xlabel("diffusion steps T")
        ax2.set_ylabel(r"log $p_\theta(x_0)$ − bound (nats)")
        ax2.set_title("The bound tightens as T grows")
        ax2.legend()
    return fig


def plot_ddpm_2d(data: np.ndarray, samples: np.ndarray, terms: np.ndarray,
                 losses: Sequence[float]) -> Figure:
    """Data vs model samples (left), the bound's mean terms L_k against k (middle, log scale,
    with the decoder term L_0 annotated), and the training loss (right)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.0), layout="constrained")
        ax = axes[0]
        ax.scatter(data[:, 0], data[:, 1], s=3, alpha=0.35, color=COLORS["band"], label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.6, color=COLORS["q"],
                   label="DDPM samples")
        ax.set_aspect("equal")
        ax.set_title("Data and samples")
        ax.legend(markerscale=4)
        ax = axes[1]
        T = terms.shape[0] - 1
        ax.semilogy(np.arange(1, T), np.maximum(terms[1:T], 1e-12), color=COLORS["mc"],
                    label=r"$L_{t-1}$, t = 2…T")
        ax.semilogy([T], [max(terms[T], 1e-12)], "s", color=COLORS["accent"],
                    label=f"$L_T$ = {terms[T]:.1e}")
        ax.set_xlabel("k (term L_k)")
        ax.set_ylabel("mean over test points (nats)")
        ax.set_title(f"Bound terms; decoder $L_0$ = {terms[0]:.2f} nats")
        ax.legend()
        ax = axes[2]
        losses = np.asarray(losses)
        w = max(1, len(losses) // 100)
        smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
        ax.plot(losses, color=COLORS["band"], lw=0.5, alpha=0.6)
        ax.plot(np.arange(w - 1, len(losses)), smooth, color=COLORS["mc"])
        ax.set_xlabel("step")
        ax.set_ylabel(r"$L_\mathrm{simple}$")
        ax.set_title("Training loss")
    return fig


# -- Part 5: the two forces ---------------------------------------------------------------------
def _beta_colors(n: int) -> list:
    cmap = plt.get_cmap("plasma")
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def plot_rate_distortion(rows: Sequence[dict]) -> Figure:
    """Each β's (rate, distortion) point on the RD plane with the line D + βR = const it
    minimizes (slope −β through the point), and the −ELBO = D + R of each point (right)."""
    rates = np.array([r["rate"] for r in rows])
    dists = np.array([r["distortion"] for r in rows])
    colors = _beta_colors(len(rows))
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.6, 1]})
        r_grid = np.linspace(0, rates.max() * 1.08, 200)
        for r, R, D, c in zip(rows, rates, dists, colors, strict=True):
            b = r["beta"]
            ax.plot(r_grid, D + b * (R - r_grid), color=c, lw=1, ls="--", alpha=0.7)
            ax.plot(R, D, "o", color=c, ms=8, label=f"β = {b:g}: R {R:.1f}, D {D:.1f}")
        ax.plot(rates, dists, "-", color=COLORS["exact"], lw=0.8, alpha=0.5)
        ax.set_xlim(0, rates.max() * 1.08)
        ax.set_ylim(dists.min() * 0.9, dists.max() * 1.12)
        ax.set_xlabel("rate R = E[KL(q(z|x) ‖ p(z))] (nats)")
        ax.set_ylabel("distortion D = −E[log p(x|z)] (nats)")
        ax.set_title("Rate–distortion: each β minimizes D + βR (dashed)")
        ax.legend(fontsize=8)
        x = np.arange(len(rows))
        ax2.bar(x, dists, color=COLORS["q"], label="distortion D")
        ax2.bar(x, rates, bottom=dists, color=COLORS["accent"], label="rate R")
        ax2.set_xticks(x, [f"{r['beta']:g}" for r in rows])
        ax2.set_xlabel("β")
        ax2.set_ylabel("−ELBO = D + R (nats)")
        ax2.set_title("The ELBO's two terms")
        ax2.legend()
    return fig


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
        axes[0, 0].imshow(_grid(originals, shape, ncol), cmap="gray_r", vmin=0, vmax=1)
        axes[0, 0].set_title("test images, then their reconstructions")
        axes[0, 1].set_title("prior samples z ~ N(0, I)")
        axes[0, 1].axis("off")
        for i, b in enumerate(betas):
            axes[i + 1, 0].imshow(_grid(recons[i], shape, ncol), cmap="gray_r", vmin=0, vmax=1)
            axes[i + 1, 1].imshow(_grid(samples[i], shape, len(samples[i])), cmap="gray_r",
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
            ax.imshow(_grid(imgs, shape, len(values)), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_ylabel(lab, rotation=0, ha="right", va="center", fontsize=8)
        axes[0].set_title("Latent traversals: z_j from " + f"{values[0]:g} to {values[-1]:g}")
    return fig


def plot_kl_per_dimension(rows: Sequence[dict], threshold: float = 0.01) -> Figure:
    """KL per latent dimension (sorted, largest first) for each β, log scale; the number of
    active units (Burda et al.'s criterion) in the legend."""
    colors = _beta_colors(len(rows))
    L = len(rows[0]["kl_per_dim"])
    width = 0.8 / len(rows)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 3.8), layout="constrained")
        for i, (r, c) in enumerate(zip(rows, colors, strict=True)):
            kl = np.sort(np.asarray(r["kl_per_dim"]))[::-1]
            ax.bar(np.arange(L) + (i - (len(rows) - 1) / 2) * width, np.maximum(kl, 1e-4),
                   width=width, color=c,
                   label=f"β = {r['beta']:g} ({r['active_units']}/{L} active)")
        ax.set_yscale("log")
        ax.set_xlabel("latent dimension (sorted by KL)")
        ax.set_ylabel("E[KL(q(z_j|x) ‖ N(0,1))] (nats)")
        ax.set_title(f"Where the rate goes; active: Cov_x(E[z_j|x]) > {threshold:g}")
        ax.legend(fontsize=8, ncol=2)
    return fig


def plot_rd_learning_curves(labels: Sequence[str], history: Sequence[Sequence[dict]], *,
                            title: str = "") -> Figure:
    """Test rate (left) and distortion (right) per epoch for each run (one label each)."""
    colors = _beta_colors(len(labels))
    with plt.rc_context(STYLE):
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.6), layout="constrained")
        for lab, h, c in zip(labels, history, colors, strict=True):
            ep = [e["epoch"] for e in h]
            ax.plot(ep, [e["rate"] for e in h], "o-", ms=2.5, color=c, label=lab)
            ax2.plot(ep, [e["distortion"] for e in h], "o-", ms=2.5, color=c)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("rate R (nats)")
        ax.set_title(f"{title}Rate during training")
        ax.legend(fontsize=8)
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("distortion D (nats)")
        ax2.set_title("Distortion during training")
    return fig
