"""Shared look of every figure: the matplotlib style, the palette, image grids, and the
atomic PNG writer (twice the display resolution, palette-compressed)."""

from __future__ import annotations

import io
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ...io import atomic_path

#: A figure's display size is its size in inches × DISPLAY_DPI pixels; its PNG holds
#: PIXEL_DENSITY times as many pixels a side, sharp on HiDPI screens
DISPLAY_DPI = 100
PIXEL_DENSITY = 2
STYLE = {
    "figure.dpi": DISPLAY_DPI,
    "savefig.dpi": DISPLAY_DPI * PIXEL_DENSITY,
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


def figure_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes at :data:`PIXEL_DENSITY` × its display resolution, reduced to a
    256-colour palette (a plot has few colours: the file shrinks about threefold and looks
    the same; a full-colour PNG is kept where the palette would not be smaller)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DISPLAY_DPI * PIXEL_DENSITY, bbox_inches="tight")
    raw = buf.getvalue()
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    small = io.BytesIO()
    image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        small, format="png", optimize=True)
    return small.getvalue() if small.tell() < len(raw) else raw


def png_display_size(png: bytes) -> tuple[int, int]:
    """The display size (CSS pixels) of a PNG written by :func:`figure_png`."""
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return round(width / PIXEL_DENSITY), round(height / PIXEL_DENSITY)


def save_figure(fig: Figure, path: str | os.PathLike[str], *, close: bool = False) -> bytes:
    """Save ``fig`` as a PNG at ``path`` (:func:`figure_png`; temp file + rename); returns
    the PNG's bytes. ``close``: then release it from pyplot (the notebook's ``show`` and the
    commands that only write files)."""
    png = figure_png(fig)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(png)
    if close:
        plt.close(fig)
    return png


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


__all__ = ["COLORS", "DISPLAY_DPI", "PIXEL_DENSITY", "STYLE", "beta_colors", "dim_colors",
           "figure_png", "image_grid", "png_display_size", "save_figure"]
