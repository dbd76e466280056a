"""The lab's parts: the handout's classes, thin over the probability core.

- :mod:`~elbolab.parts.latent_models` — Part 1's models: ``LinearGaussianModel`` (exact
  log p(x) and posterior), ``MLPDecoderModel``, ``GaussianProposal``
- :mod:`~elbolab.parts.intractable` — Part 1: estimators of log p(x) that take a model
  (naive MC, importance sampling, IWAE-k, a reference run), ``IntractableLikelihoodDemo``
- :mod:`~elbolab.parts.asymmetry` — Part 2: forward vs reverse KL fits to a mixture
- :mod:`~elbolab.parts.jensen` — Part 3: ``JensenInequalityDemo``, the ELBO gap identity
- :mod:`~elbolab.parts.gradient_variance` — Part 4: gradient estimators against exact
  gradients (variance, sticking the landing, IWAE-k signal-to-noise)
- :mod:`~elbolab.parts.stability` — end of Part 4: the numerical stability map
- :mod:`~elbolab.parts.two_forces` — Part 5: ``TwoForcesAnalysis``, the β-VAE trade-off
"""

from .asymmetry import (
    GaussianFit,
    asymmetry_grid,
    bimodal_1d,
    bimodal_2d,
    fit_gaussian,
    kl_both_ways,
)
from .intractable import (
    EstimatorRun,
    IntractableLikelihoodDemo,
    compare_estimators,
    importance_sampling,
    iwae,
    naive_mc_sweep,
    naive_monte_carlo,
    reference_log_marginal,
    samples_for_accuracy,
    underflow_table,
)
from .jensen import JensenInequalityDemo
from .latent_models import GaussianProposal, LinearGaussianModel, MLPDecoderModel
from .two_forces import TwoForcesAnalysis, TwoForcesResult

__all__ = [
    "EstimatorRun", "GaussianFit", "GaussianProposal", "IntractableLikelihoodDemo",
    "JensenInequalityDemo", "LinearGaussianModel", "MLPDecoderModel", "TwoForcesAnalysis",
    "TwoForcesResult", "asymmetry_grid", "bimodal_1d", "bimodal_2d", "compare_estimators",
    "fit_gaussian", "importance_sampling", "iwae", "kl_both_ways", "naive_mc_sweep",
    "naive_monte_carlo", "reference_log_marginal", "samples_for_accuracy", "underflow_table",
]
