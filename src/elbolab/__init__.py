"""elbolab: the mathematics of generative models, executable.

The package reads like the lab's table of contents, in four kinds of code
(``docs/architecture.md`` draws the layers):

The probability core, one module per mathematical object:

- :mod:`elbolab.checks` — argument validation and the global ``validate`` switch
- :mod:`elbolab.settings` — ``ConfigError`` and the settings' fields and checks
- :mod:`elbolab.densities` — Gaussian / Bernoulli / discretized-Gaussian log-densities,
  ``log_mean_exp``, ``sum_event``
- :mod:`elbolab.estimators` — ``MonteCarloEstimate`` (estimate, stderr, n, ess): every Monte
  Carlo answer; sample means, the IWAE-k bound, ESS, streaming log-mean-exp
- :mod:`elbolab.kl` — closed-form and Monte Carlo KL divergences, ``KLDivergenceBuilder``
- :mod:`elbolab.posterior` — the latent-variable-model interface (``posterior(x)``,
  ``log_likelihood(x, z)``, ``prior``), ``DiagonalGaussian``, reparameterization, IWAE weights
- :mod:`elbolab.elbo` — reconstruction log-likelihoods, the bounds of any model,
  ``ELBOFramework``
- :mod:`elbolab.mixture` — ``GaussianMixture`` (Part 2's target, the DDPM's data)
- :mod:`elbolab.variational` — fitting a diagonal Gaussian by a forward or reverse KL
- :mod:`elbolab.flows` — planar flows and ``PlanarFlowPosterior``
- :mod:`elbolab.gradients` — gradient estimators (score function, reparameterization, STL,
  DReG) and the trainer's surrogate objective
- :mod:`elbolab.ais` — annealed importance sampling and its reverse (BDMC)
- :mod:`elbolab.io` — atomic file output

Three wings standing on the core:

- :mod:`elbolab.parts` — the lab's parts 1, 2, 3 and 5: ``IntractableLikelihoodDemo``,
  the KL asymmetry fits, ``JensenInequalityDemo``, ``TwoForcesAnalysis``
- :mod:`elbolab.vae` — data, models, the written-out backward pass, objectives, configs,
  ``Trainer``, checkpoints, the all-β sweep, evaluation
- :mod:`elbolab.diffusion` — schedules, the forward process and its bound, the exact
  ``GaussianTestBed``, a small DDPM

and the presentation on top of all of them, never imported here (no matplotlib, no Jupyter):
:mod:`elbolab.presentation` — figures by part, the validation log, the notebook runner, the
command line, the notebook.

Everything is in nats, sums over event dimensions and keeps the batch unless its name says
otherwise.
"""

__version__ = "0.3.0"  # the one version number: pyproject.toml reads it

from .checks import default_validate, set_default_validate, validation
from .densities import (
    bernoulli_log_prob,
    discretized_gaussian_log_prob,
    gaussian_log_prob,
    log_mean_exp,
    mvn_log_prob,
)
from .diffusion import (
    DDPM,
    GaussianTestBed,
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
    train_ddpm,
    variational_bound,
)
from .elbo import (
    ELBOFramework,
    ELBOResult,
    bernoulli_log_likelihood,
    compute_elbo,
    gaussian_log_likelihood,
    importance_weighted_bound,
)
from .estimators import (
    MonteCarloEstimate,
    effective_sample_size,
    iwae_bound,
    monte_carlo_mean,
    streaming_log_mean_exp,
)
from .kl import (
    KLDivergenceBuilder,
    gaussian_kl,
    monte_carlo_kl,
    mvn_kl,
    standard_normal_kl,
    standard_normal_kl_per_dim,
)
from .mixture import GaussianMixture
from .parts import (
    IntractableLikelihoodDemo,
    JensenInequalityDemo,
    LinearGaussianModel,
    MLPDecoderModel,
    TwoForcesAnalysis,
    TwoForcesResult,
)
from .posterior import (
    DiagonalGaussian,
    LatentVariableModel,
    log_importance_weights,
    reparameterize,
)
from .vae import (
    Objective,
    SweepConfig,
    TrainConfig,
    Trainer,
    evaluate_elbo,
    evaluate_log_likelihood,
    load_dataset,
    load_run,
    train_sweep,
)
from .variational import fit_diagonal_gaussian

__all__ = [
    "__version__",
    # the lab's classes
    "ELBOFramework",
    "GaussianTestBed",
    "IntractableLikelihoodDemo",
    "JensenInequalityDemo",
    "KLDivergenceBuilder",
    "TwoForcesAnalysis",
    # results
    "ELBOResult",
    "MonteCarloEstimate",
    "TwoForcesResult",
    # the probability core
    "bernoulli_log_likelihood",
    "bernoulli_log_prob",
    "discretized_gaussian_log_prob",
    "effective_sample_size",
    "fit_diagonal_gaussian",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "gaussian_log_prob",
    "iwae_bound",
    "log_mean_exp",
    "monte_carlo_kl",
    "monte_carlo_mean",
    "mvn_kl",
    "mvn_log_prob",
    "reparameterize",
    "DiagonalGaussian",
    "LatentVariableModel",
    "compute_elbo",
    "importance_weighted_bound",
    "log_importance_weights",
    "standard_normal_kl",
    "standard_normal_kl_per_dim",
    "streaming_log_mean_exp",
    "GaussianMixture",
    # models and training
    "LinearGaussianModel",
    "MLPDecoderModel",
    "Objective",
    "SweepConfig",
    "TrainConfig",
    "Trainer",
    "evaluate_elbo",
    "evaluate_log_likelihood",
    "load_dataset",
    "load_run",
    "train_sweep",
    # diffusion
    "DDPM",
    "NoiseSchedule",
    "cosine_schedule",
    "linear_schedule",
    "train_ddpm",
    "variational_bound",
    # validation switch
    "default_validate",
    "set_default_validate",
    "validation",
]
