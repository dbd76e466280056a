"""Shared look of every figure: the matplotlib style, the palette, image grids, and the
atomic PNG writer."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ...io import atomic_path

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


def save_figure(fig: Figure, path: str | os.PathLike[str], *, close: bool = False) -> str:
    """Save ``fig`` as a PNG at ``path`` (temp file + rename); returns the path. ``close``:
    then release it from pyplot (commands that only write files; the notebook shows its
    figures after saving them)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    if close:
        plt.close(fig)
    return os.fspath(path)


def dim_colors(n: int) -> list:
    return [plt.get_cmap("viridis")(v) for v in np.linspace(0.05, 0.9, n)]


def beta_colors(n: int) -> list:
    cmap = plt.get_cmap("plasma")
    return [cmap(0.1 + 0.75 * i / max(n - 1, 1)) for i in range(n)]


def image_grid(images: np.ndarray, shape: tuple[int, int], ncol: int) -> np.ndarray:
    n = len(images)
    nrow = int(np.ceil(n / ncol))
    h, w = shape
    canvas = np.ones((nrow * (h + 1) + 1, ncol * (w + 1) + 1))
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = \
            img.reshape(h, w)
    return canvas


__all__ = ["COLORS", "STYLE", "beta_colors", "dim_colors", "image_grid", "save_figure"]
