"""Figures, one module per part of the lab, in its order; every function takes results as
arrays (it never runs a model) and returns a matplotlib ``Figure``; ``style.save_figure``
writes it as PNG atomically."""

from .connections import plot_gan_bounds
from .diffusion import plot_ddpm_2d, plot_diffusion_testbed, plot_noise_schedules
from .elbo import plot_iwae_vs_k, plot_reparameterization
from .gaps import plot_bdmc_bracket, plot_bound_ladder
from .gradients import (
    plot_gradient_variance,
    plot_snr_vs_k,
    plot_sticking_the_landing,
    plot_vae_gradient_variance,
)
from .intractable import (
    plot_ess_collapse,
    plot_estimator_comparison,
    plot_naive_mc_error,
    plot_samples_for_accuracy,
    plot_underflow,
)
from .jensen import plot_elbo_gap_identity, plot_jensen_chords, plot_jensen_gap_vs_spread
from .kl import (
    plot_kl_asymmetry_heatmap,
    plot_kl_asymmetry_pair,
    plot_kl_monte_carlo,
    plot_mode_fits_1d,
    plot_mode_fits_2d,
)
from .stability import plot_stability_summary, plot_textbook_failures
from .style import save_figure
from .training import (
    plot_latent_scatter,
    plot_learning_curves,
    plot_paired_differences,
    plot_reconstructions,
    plot_runs_compared,
    plot_samples,
)
from .two_forces import (
    plot_beta_images,
    plot_kl_per_dimension,
    plot_latent_traversals,
    plot_rate_distortion,
    plot_rd_learning_curves,
    two_forces_figures,
)

__all__ = [
    "plot_bdmc_bracket", "plot_beta_images", "plot_bound_ladder",
    "plot_ddpm_2d", "plot_diffusion_testbed", "plot_elbo_gap_identity",
    "plot_ess_collapse", "plot_gan_bounds", "plot_estimator_comparison", "plot_gradient_variance",
    "plot_iwae_vs_k", "plot_jensen_chords",
    "plot_jensen_gap_vs_spread", "plot_kl_asymmetry_heatmap", "plot_kl_asymmetry_pair",
    "plot_kl_monte_carlo", "plot_kl_per_dimension", "plot_latent_scatter",
    "plot_latent_traversals", "plot_learning_curves", "plot_mode_fits_1d", "plot_mode_fits_2d",
    "plot_naive_mc_error", "plot_noise_schedules", "plot_paired_differences",
    "plot_rate_distortion",
    "plot_rd_learning_curves", "plot_reconstructions", "plot_reparameterization",
    "plot_runs_compared", "plot_samples", "plot_samples_for_accuracy", "plot_snr_vs_k",
    "plot_stability_summary", "plot_sticking_the_landing", "plot_textbook_failures",
    "plot_underflow",
    "plot_vae_gradient_variance", "save_figure", "two_forces_figures",
]
