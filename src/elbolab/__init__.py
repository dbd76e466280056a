"""elbolab: the mathematics of generative models, executable.

The package reads like the lab's table of contents:

- :mod:`elbolab.densities` — Gaussian / Bernoulli log-densities, ``log_mean_exp``
- :mod:`elbolab.kl` — closed-form and Monte Carlo KL divergences, ``KLDivergenceBuilder``
- :mod:`elbolab.estimators` — Monte Carlo means with standard errors, IWAE-k, ESS
- :mod:`elbolab.elbo` — reparameterization, reconstruction terms, ``ELBOFramework``
- :mod:`elbolab.validation`, :mod:`elbolab.plots`, :mod:`elbolab.lab` — the executed lab

Everything is in nats, sums over event dimensions and keeps the batch unless its name says
otherwise.
"""

__version__ = "0.1.0"

from .checks import default_validate, set_default_validate, validation
from .densities import bernoulli_log_prob, gaussian_log_prob, log_mean_exp
from .elbo import (
    ELBOFramework,
    ELBOResult,
    bernoulli_reconstruction,
    gaussian_reconstruction,
    reparameterize,
)
from .estimators import MonteCarloEstimate, effective_sample_size, iwae_bound, monte_carlo_mean
from .kl import KLDivergenceBuilder, gaussian_kl, monte_carlo_kl, mvn_kl, standard_normal_kl

__all__ = [
    "__version__",
    "ELBOFramework",
    "ELBOResult",
    "KLDivergenceBuilder",
    "MonteCarloEstimate",
    "bernoulli_log_prob",
    "bernoulli_reconstruction",
    "default_validate",
    "effective_sample_size",
    "gaussian_kl",
    "gaussian_log_prob",
    "gaussian_reconstruction",
    "iwae_bound",
    "log_mean_exp",
    "monte_carlo_kl",
    "monte_carlo_mean",
    "mvn_kl",
    "reparameterize",
    "set_default_validate",
    "standard_normal_kl",
    "validation",
]
