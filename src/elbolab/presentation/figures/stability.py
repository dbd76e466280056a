"""The numerical stability map (appendix A2), in two figures: each core formula's worst error
inside its documented safe range (one row per sweep, float64 and float32 against their
limits), and the textbook formulas against the library's across the sweeps where the
textbook version breaks.

Takes the points and the table of :mod:`elbolab.parts.stability` (it computes nothing)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE

# errors are drawn on a log axis between these; a non-finite answer is drawn at the top
FLOOR, CEILING = 1e-18, 1e2
#: The documented limits inside a safe range (docs/architecture.md): float64 and float32
LIMITS = {"float64": 1e-12, "float32": 1e-5}
_STYLE_OF = {"float64": "-", "float32": "--"}
_COLOR_OF = {"elbolab": COLORS["mc"], "naive": COLORS["q"]}


def plot_stability_summary(table: Sequence[dict]) -> Figure:
    """One row per sweep of :func:`~elbolab.parts.stability.safe_range_table`: elbolab's
    worst error (value or gradient) inside the documented safe range, float64 (●) and float32
    (▲), on a log axis with each precision's limit as a line of its colour. An error of
    exactly 0 is drawn at the axis' floor."""
    rows = list(table)[::-1]  # the first sweep at the top
    labels = [f"{r['function']} · {r['sweep']}" for r in rows]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.2, 0.26 * len(rows) + 1.3), layout="constrained")
        y = np.arange(len(rows))
        for dtype, marker, color in (("float64", "o", COLORS["mc"]),
                                     ("float32", "^", COLORS["accent"])):
            worst = [max(r[f"error_{dtype}"], r[f"gradient_error_{dtype}"] or 0.0)
                     for r in rows]
            ax.plot(np.clip(worst, FLOOR, None), y, marker, color=color, ms=6, ls="none",
                    label=f"{dtype} (limit {LIMITS[dtype]:.0e})")
            ax.axvline(LIMITS[dtype], color=color, lw=1, ls=":")
        ax.set_xscale("log")
        ax.set_xlim(FLOOR / 3, 1e-2)
        ax.set_yticks(y, labels, fontsize=7.5)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel("worst error inside the safe range against a 50-digit reference "
                      "(relative, or mixed)")
        ax.set_title("Every formula inside its safe range: float64 and float32 within limits")
        fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    return fig


def plot_textbook_failures(points: Sequence, *, ncols: int = 3) -> Figure:
    """The sweeps where a textbook formula fails (non-finite where the truth is finite, or an
    error above 1e-3, in float64 or float32): error against the swept parameter, elbolab
    (blue) and the textbook version (red), float64 solid and float32 dashed; a textbook
    answer that is NaN/inf is a red cross at the top."""
    sweeps: dict[tuple[str, str], list] = {}
    for p in points:
        if p.dtype in _STYLE_OF and p.representable:
            sweeps.setdefault((p.function, p.sweep), []).append(p)
    failing = {k: pts for k, pts in sweeps.items()
               if any(p.implementation == "naive" and (not p.finite or p.error > 1e-3)
                      for p in pts)}
    n = max(len(failing), 1)
    nrows = math.ceil(n / ncols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.5 * nrows + 0.5),
                                 layout="constrained", squeeze=False)
        for ax, ((function, sweep), pts) in zip(axes.flat, failing.items(), strict=False):
            params = [p.parameter for p in pts]
            for impl in ("elbolab", "naive"):
                for dtype, ls in _STYLE_OF.items():
                    sel = sorted((p for p in pts if p.implementation == impl
                                  and p.dtype == dtype), key=lambda p: p.parameter)
                    if not sel:
                        continue
                    x = np.array([p.parameter for p in sel])
                    err = np.array([p.error if p.finite else np.nan for p in sel])
                    ax.plot(x, np.clip(err, FLOOR, CEILING), ls, color=_COLOR_OF[impl],
                            lw=1.3, label=f"{'textbook' if impl == 'naive' else impl}, {dtype}")
                    bad = x[[not p.finite for p in sel]]
                    if impl == "naive" and len(bad):
                        ax.plot(bad, np.full(len(bad), CEILING), "x", color=_COLOR_OF[impl],
                                ms=5, label="textbook: NaN/inf" if dtype == "float64" else None)
            ax.set_yscale("log")
            ax.set_ylim(FLOOR / 2, CEILING * 5)
            ax.set_yticks([1e-15, 1e-10, 1e-5, 1e0])
            if min(params) < 0 < max(params) and max(abs(v) for v in params) > 1e3:
                ax.set_xscale("symlog", linthresh=1.0)
                lim = max(abs(v) for v in params)
                ax.set_xticks([-lim, 0.0, lim], [f"−{lim:.0e}", "0", f"{lim:.0e}"])
            elif min(params) > 0 and max(params) / min(params) > 1e3:
                ax.set_xscale("log")
            ax.set_title(f"{function}\n{sweep}", fontsize=8)
            ax.set_ylabel("error", fontsize=8)
        for ax in list(axes.flat)[len(failing):]:
            ax.axis("off")
        handles: dict = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncols=5, fontsize=8)
        fig.suptitle("Where the textbook formula breaks, and the library's does not "
                     "(error against a 50-digit reference)", fontsize=10)
    return fig


__all__ = ["FLOOR", "LIMITS", "plot_stability_summary", "plot_textbook_failures"]
