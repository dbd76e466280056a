"""Part 4's figures on gradient estimators: variance against d and σ, sticking the landing,
and the signal-to-noise ratio of IWAE-k gradients against k.

Each function takes results as arrays or plain values (it never runs a model) and returns a
:class:`matplotlib.figure.Figure`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import STYLE

_EST = {"score": ("score function", "#d1495b", "o"),
        "score_loo": ("score function + leave-one-out baseline", "#e8a33d", "s"),
        "reparam": ("reparameterization", "#1f5fa8", "^")}
# a variance that is exactly zero is drawn at this floor on a log axis (and labelled so)
LOG_FLOOR = 1e-32


def plot_gradient_variance(dims: np.ndarray, by_dim: dict[str, np.ndarray],
                           sigmas: np.ndarray, by_sigma: dict[str, np.ndarray],
                           fixed_d: int) -> Figure:
    """Per-parameter variance of one-sample estimates of ∂/∂μ E[Σz²] against the latent
    dimension d (σ = 1) and against σ (d fixed): score function, with a baseline, and
    reparameterization, on log axes."""
    with plt.rc_context(STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.5, 3.9), layout="constrained")
        for est, (label, color, marker) in _EST.items():
            a1.plot(dims, by_dim[est], marker=marker, color=color, label=label)
            a2.plot(sigmas, by_sigma[est], marker=marker, color=color, label=label)
        a1.set_xscale("log")
        a1.set_yscale("log")
        a1.set_xlabel("latent dimension d")
        a1.set_ylabel("variance of one estimate of ∂/∂μⱼ")
        a1.set_title("The score function's variance grows with d")
        a1.legend(fontsize=8, loc="upper left")
        a2.set_xscale("log")
        a2.set_yscale("log")
        a2.set_xlabel("σ of q")
        a2.set_title(f"… and is large at every σ (d = {fixed_d})")
    return fig


def plot_sticking_the_landing(distance: np.ndarray, stl: np.ndarray,
                              reparam: np.ndarray) -> Figure:
    """Largest per-parameter gradient variance of the STL and the standard reparameterized
    ELBO gradient as q moves onto the exact posterior (distance 0 drawn at the left edge)."""
    x = np.where(distance > 0, distance, distance[distance > 0].min() / 10)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 3.9), layout="constrained")
        ax.plot(x, np.maximum(reparam, LOG_FLOOR), "^-", color="#1f5fa8",
                label="reparameterization (total derivative)")
        ax.plot(x, np.maximum(stl, LOG_FLOOR), "o-", color="#2a9d8f",
                label="sticking the landing (path derivative)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = list(x)
        ax.set_xticks(ticks, [f"{d:g}" if d > 0 else "0\n(posterior)" for d in distance])
        ax.set_xlabel("distance of q from the exact posterior (shift of mean and logvar)")
        ax.set_ylabel("largest gradient variance")
        ax.set_title("At the posterior, STL's variance is zero; the standard one's is not")
        ax.legend(fontsize=8)
    return fig


def plot_snr_vs_k(ks: np.ndarray, snr: dict[str, np.ndarray], slope: dict[str, float],
                  slope_se: dict[str, float]) -> Figure:
    """SNR of IWAE-k gradients against k (log-log) with fitted slopes and the theory's
    k^(±1/2) (Rainforth et al. 2018) drawn through the first point."""
    series = {"decoder": ("decoder (b), standard", "#2a2a2a", "s", 0.5),
              "encoder": ("encoder (μ, logvar), standard", "#d1495b", "o", -0.5),
              "encoder_dreg": ("encoder (μ, logvar), DReG", "#2a9d8f", "^", 0.5)}
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.8, 4.2), layout="constrained")
        for name, (label, color, marker, theory) in series.items():
            ax.plot(ks, snr[name], marker=marker, color=color,
                    label=f"{label}: slope {slope[name]:+.2f} ± {slope_se[name]:.2f}")
            ax.plot(ks, snr[name][0] * (ks / ks[0]) ** theory, ":", color=color, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("k (importance samples)")
        ax.set_ylabel("signal-to-noise ratio |E g| / sd g")
        ax.set_title("IWAE-k: encoder SNR falls like k^(-1/2); DReG restores it\n"
                     "(dotted: the theory's k^(±1/2))")
        fig.legend(fontsize=8, loc="outside lower center", ncols=1)
    return fig


_ALL_EST = {**_EST, "stl": ("sticking the landing", "#2a9d8f", "D"),
            "analytic_kl": ("reparameterization, analytic KL", "#5b3f8c", "v")}


def plot_vae_gradient_variance(variance: dict[str, np.ndarray],
                               variance_se: dict[str, np.ndarray], dataset: str) -> Figure:
    """Total variance (trace of the covariance over q's 2L parameters) of one ELBO-gradient
    estimate per test image of a trained VAE, one column per estimator: each image a dot with
    its standard error, the bar their geometric mean; log scale."""
    names = list(variance)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 4.0), layout="constrained")
        for i, est in enumerate(names):
            label, color, marker = _ALL_EST[est]
            v, se = variance[est], variance_se[est]
            ax.bar(i, float(np.exp(np.log(v).mean())), color=color, alpha=0.35, width=0.7)
            jitter = np.linspace(-0.2, 0.2, len(v)) if len(v) > 1 else np.zeros(1)
            ax.errorbar(i + jitter, v, yerr=se, fmt=marker, color=color, ms=4, lw=1)
        ax.set_xticks(range(len(names)), [_ALL_EST[e][0].replace(", ", ",\n").replace(
            " + ", "\n+ ") for e in names], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("variance of one estimate\n(trace over μ, logvar)")
        ax.set_title(f"The ELBO gradient of a trained VAE on {dataset}, per test image")
    return fig


__all__ = ["LOG_FLOOR", "plot_gradient_variance", "plot_snr_vs_k", "plot_sticking_the_landing",
           "plot_vae_gradient_variance"]
