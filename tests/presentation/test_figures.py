"""Figures that show their captions' claims: the numbers written on them are the numbers the
text states, their legends promise only what they draw, and the files are sharp and small."""

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from elbolab.presentation.figures import elbo, gaps, intractable, training, two_forces  # noqa: E402
from elbolab.presentation.figures.style import (  # noqa: E402
    PIXEL_DENSITY,
    figure_png,
    png_display_size,
)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [
        t.get_text() for t in fig.texts]


def _legend(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def test_the_bound_ladder_writes_each_paired_step_and_the_total():
    rng = np.random.default_rng(0)
    base = rng.normal(-140, 15, 50)  # the images' own spread, shared by every bound
    rungs = {"ELBO": base - 9 + rng.normal(0, .3, 50), "ELBO q*": base - 3 + rng.normal(0, .3, 50),
             "AIS": base}
    fig = gaps.plot_bound_ladder(rungs, "t")
    texts = "\n".join(_texts(fig))
    total = (rungs["AIS"] - rungs["ELBO"]).mean()
    step = (rungs["ELBO q*"] - rungs["ELBO"]).mean()
    assert f"total gap\n{total:.2f} ±" in texts and f"+{step:.2f} ±" in texts
    # paired: the error bars are the SE of the differences (≈ 0.04), not of the bounds (≈ 2)
    se = (rungs["AIS"] - rungs["ELBO"]).std(ddof=1) / np.sqrt(50)
    assert f"{total:.2f} ± {se:.2f}" in texts and se < 0.1


def test_paired_differences_are_drawn_around_zero_with_their_values():
    fig = training.plot_paired_differences([("a − b", 4.5, 0.3), ("c − d", -0.2, 0.4)],
                                           title="t")
    assert "+4.50 ± 0.30" in _texts(fig) and "-0.20 ± 0.40" in _texts(fig)
    lo, hi = fig.axes[0].get_xlim()
    assert lo < 0 < hi  # the zero line is on the plot


def test_kl_per_unit_names_both_counts_and_draws_the_informative_line():
    rows = [{"beta": 10.0, "kl_per_dim": [2.0, 0.5, 0.05, 0.01], "active_units": 4}]
    fig = two_forces.plot_kl_per_dimension(rows)
    assert _legend(fig) == ["β = 10: 2/4 above 0.1 nat, 4/4 active"]
    assert any(abs(line.get_ydata()[0] - 0.1) < 1e-12 for line in fig.axes[0].lines)


def test_the_iwae_legend_promises_a_band_only_when_one_is_drawn():
    exact = elbo.plot_iwae_vs_k([1, 4], [-10, -9], [0.1, 0.1], -10.0, 0.0, reference=-8)
    assert "ELBO (analytic KL), exact" in _legend(exact)
    band = elbo.plot_iwae_vs_k([1, 4], [-10, -9], [0.1, 0.1], -10.0, 0.2)
    assert "ELBO (analytic KL), band ± 1.96 SE" in _legend(band)


def test_the_naive_mc_figure_states_how_far_its_error_bar_understates():
    rows = [{"latent_dim": d, "n_samples": n, "mean_abs_error": 0.1 * d / n ** .5,
             "reported_stderr": 0.1 / n ** .5, "median_abs_z": 0.6745 * (1 + d / 8),
             "seconds": 1e-3} for d in (1, 32) for n in (10, 1000)]
    fig = intractable.plot_naive_mc_error(rows)
    assert "5.0× at d = 32, n = 10³" in _texts(fig)


def test_reconstructions_of_several_models_share_the_originals():
    x = np.random.default_rng(0).random((4, 64))
    fig = training.plot_reconstructions(x, {"MLP": x, "conv": x}, (8, 8))
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["data", "MLP", "conv"]


def test_figures_are_saved_at_twice_their_display_size_and_compressed():
    import matplotlib.pyplot as plt

    shape = (4, 3)
    fig, ax = plt.subplots(figsize=shape, dpi=100)
    ax.plot(np.sin(np.linspace(0, 10, 200)))
    png = figure_png(fig)
    image = Image.open(io.BytesIO(png))
    width, height = png_display_size(png)
    # twice the display size, to the pixel that rounding the half may lose
    assert abs(image.width - PIXEL_DENSITY * width) <= 1
    assert abs(image.height - PIXEL_DENSITY * height) <= 1
    assert abs(width - 100 * shape[0]) < 60  # bbox_inches="tight" trims the margins only
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=100 * PIXEL_DENSITY, bbox_inches="tight")
    assert len(png) < len(raw.getvalue())  # the palette makes it smaller
    plt.close(fig)
