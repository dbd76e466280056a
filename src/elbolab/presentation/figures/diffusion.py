"""The bridge to diffusion's figures: schedules, the exact test bed, a trained DDPM.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE


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


__all__ = ["plot_noise_schedules", "plot_diffusion_testbed", "plot_ddpm_2d"]
