"""The numerical stability map (end of Part 4): the error of each formula against a 50-digit
reference across its sweep, elbolab beside the textbook version, in each precision.

Takes the points of :func:`elbolab.parts.stability.stability_map` (it computes nothing)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import COLORS, STYLE

# errors are drawn on a log axis between these; a non-finite answer is drawn at the top
FLOOR, CEILING = 1e-18, 1e2
_STYLE_OF = {"float64": "-", "float32": "--", "bfloat16": ":", "float16": "-."}
_COLOR_OF = {"elbolab": COLORS["mc"], "naive": COLORS["q"]}


def plot_stability_map(points: Sequence, *, dtypes: Sequence[str] = ("float64", "float32"),
                       ncols: int = 3) -> Figure:
    """One panel per sweep: error against the parameter (relative, or mixed for values that
    cross zero), elbolab (blue) and the textbook formula (red) in each of ``dtypes``
    (float64 solid, float32 dashed, bfloat16 dotted, float16 dash-dot). A non-finite answer
    where the truth is finite is a cross at the top; the grey band is the documented safe
    range's float32 tolerance."""
    sweeps: dict[tuple[str, str], list] = {}
    for p in points:
        if p.dtype in dtypes and p.representable:
            sweeps.setdefault((p.function, p.sweep), []).append(p)
    n = len(sweeps)
    nrows = math.ceil(n / ncols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.9 * nrows),
                                 layout="constrained", squeeze=False)
        for ax, ((function, sweep), pts) in zip(axes.flat, sweeps.items(), strict=False):
            params = [p.parameter for p in pts]
            symmetric = min(params) < 0 < max(params) and max(abs(v) for v in params) > 1e3
            for impl in ("elbolab", "naive"):
                for dtype in dtypes:
                    sel = sorted((p for p in pts if p.implementation == impl
                                  and p.dtype == dtype), key=lambda p: p.parameter)
                    if not sel:
                        continue
                    x = np.array([p.parameter for p in sel])
                    err = np.array([p.error if p.finite else np.nan for p in sel])
                    ax.plot(x, np.clip(err, FLOOR, CEILING), _STYLE_OF.get(dtype, "-"),
                            color=_COLOR_OF[impl], lw=1.3, label=f"{impl}, {dtype}")
                    bad = x[[not p.finite for p in sel]]
                    ax.plot(bad, np.full(len(bad), CEILING), "x", color=_COLOR_OF[impl], ms=5)
            ax.axhline(1e-5, color=COLORS["exact"], lw=0.6, ls=":")
            ax.axhline(1e-12, color=COLORS["exact"], lw=0.6, ls=":")
            ax.set_yscale("log")
            ax.set_ylim(FLOOR / 2, CEILING * 5)
            if symmetric:
                ax.set_xscale("symlog", linthresh=1.0)
                lim = max(abs(v) for v in params)
                ax.set_xticks([-lim, -1.0, 0.0, 1.0, lim],
                              [f"−{lim:.0e}", "−1", "0", "1", f"{lim:.0e}"])
            elif min(params) > 0 and max(params) / min(params) > 1e3:
                ax.set_xscale("log")
            ax.set_title(f"{function}\n{sweep}", fontsize=9)
            ax.set_ylabel("error")
        for ax in list(axes.flat)[n:]:
            ax.axis("off")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8)
        fig.suptitle("Error against a 50-digit reference (× at the top: NaN/inf where the "
                     "truth is finite; dotted: 1e-12 and 1e-5)", fontsize=11)
    return fig


__all__ = ["plot_stability_map"]
