"""Part 1's figures: naive Monte Carlo against the exact log p(x).

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE, dim_colors

#: The median of |error| / SE when the error bar is honest: a half-normal's median
HALF_NORMAL_MEDIAN = 0.6744897501960817


def plot_naive_mc_error(rows: list[dict]) -> Figure:
    """Naive prior Monte Carlo against the exact log p(x), one small panel per latent dimension
    d on shared log axes: the measured mean |error| (solid) beside the standard error the
    estimator reports for itself (dotted), and the 1-nat line; a last panel has, for every d,
    how many times too small the reported error bar is (median |error| / SE over its honest
    value 0.674; 1 is honest). Where the dotted line falls below the solid one, the estimator
    is overconfident."""
    dims = sorted({r["latent_dim"] for r in rows})
    ncol = 4
    nrow = -(-(len(dims) + 1) // ncol)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrow, ncol, figsize=(12.5, 3.0 * nrow + 0.6),
                                 layout="constrained", squeeze=False)
        flat = axes.ravel()
        err_axes = flat[:len(dims)]
        for ax in err_axes[1:]:
            ax.sharex(err_axes[0])
            ax.sharey(err_axes[0])
        for ax, d in zip(err_axes, dims, strict=True):
            rr = [r for r in rows if r["latent_dim"] == d]
            n = [r["n_samples"] for r in rr]
            ax.loglog(n, [r["mean_abs_error"] for r in rr], "o-", color=COLORS["mc"], ms=4,
                      label="measured mean |error|")
            ax.loglog(n, [r["reported_stderr"] for r in rr], ":", color=COLORS["q"], lw=1.8,
                      label="standard error it reports")
            ax.axhline(1.0, color="0.5", lw=1, ls="--", label="1 nat")
            ax.set_title(f"d = {d}")
            ax.set_xlabel("prior samples n")
        for ax in axes[:, 0]:
            if ax in err_axes:
                ax.set_ylabel("nats")
        # how far the reported error bar understates the error: median |error| / SE over its
        # honest value (|error| / SE is half-normal for an honest bar: median 0.674)
        tax = flat[len(dims)]
        for d, c in zip(dims, dim_colors(len(dims)), strict=True):
            rr = [r for r in rows if r["latent_dim"] == d]
            tax.loglog([r["n_samples"] for r in rr],
                       [max(r["median_abs_z"] / HALF_NORMAL_MEDIAN, 1e-2) for r in rr],
                       "o-", color=c, ms=3, label=f"d = {d}")
        tax.axhline(1.0, color="0.5", lw=1, ls="--")
        worst = max(dims)
        at = next((r for r in rows if r["latent_dim"] == worst and r["n_samples"] == 1000), None)
        if at is not None:
            ratio = at["median_abs_z"] / HALF_NORMAL_MEDIAN
            tax.annotate(f"{ratio:.1f}× at d = {worst}, n = 10³", (1000, ratio),
                         xytext=(14, 22), textcoords="offset points", fontsize=8,
                         arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.7})
        tax.set_yticks([0.25, 0.5, 1, 2, 4, 8], ["¼", "½", "1", "2", "4", "8"])
        tax.minorticks_off()
        tax.set_ylim(0.2, 12)
        tax.set_xlabel("prior samples n")
        tax.set_ylabel("error / reported SE\n(1 = an honest error bar)")
        tax.set_title("how far the error bar understates")
        tax.legend(fontsize=7, ncol=3, loc="lower left")
        for ax in flat[len(dims) + 1:]:
            ax.set_visible(False)
        fig.legend(*err_axes[0].get_legend_handles_labels(), loc="outside lower center",
                   ncol=3, fontsize=9)
        fig.suptitle("Naive Monte Carlo of log p(x): its error grows with d, and at large d it "
                     "reports far less error than it makes", fontweight="bold")
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
        ax.set_title("Estimators of log p(x) against the truth (bars: ± 1.96 SE)")
        ax2.barh(y, seconds, color=COLORS["band"])
        ax2.set_xlabel("seconds")
        ax2.set_title("wall time")
    return fig


def plot_per_point_errors(series: dict[str, tuple[Sequence[float], Sequence[float]]],
                          title: str) -> Figure:
    """For each estimator (``name -> (errors, stderrs)``, one value per data point), the error
    against the exact log p(x) with its own reported ± 1.96 SE bar, data point by data point:
    an honest estimator's bars cross zero about 95% of the time."""
    palette = [COLORS["q"], COLORS["mc"], COLORS["ok"], COLORS["accent"]]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
        width = 0.6 / max(len(series), 1)
        for i, ((name, (err, se)), c) in enumerate(zip(series.items(), palette, strict=False)):
            xs = np.arange(len(err)) + (i - (len(series) - 1) / 2) * width
            ax.errorbar(xs, err, yerr=1.96 * np.asarray(se), fmt="o", ms=4, color=c, capsize=2,
                        label=f"{name} (bars: ± 1.96 reported SE)")
        ax.axhline(0, color=COLORS["exact"], lw=1)
        ax.set_xlabel("data point")
        ax.set_ylabel("estimate − exact log p(x)  (nats)")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower left")
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
        ax.legend(fontsize=8, loc="lower left")  # the curve never enters that corner
    return fig


__all__ = ["plot_naive_mc_error", "plot_samples_for_accuracy", "plot_ess_collapse",
           "plot_estimator_comparison", "plot_per_point_errors", "plot_underflow"]
