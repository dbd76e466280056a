r"""The bridge to diffusion: a DDPM is a hierarchical VAE whose encoder is fixed.

- :mod:`~elbolab.diffusion.schedules` — ``NoiseSchedule``, linear and cosine schedules (float64)
- :mod:`~elbolab.diffusion.process` — q(x_t|x_0), the posterior q(x_{t−1}|x_t,x_0), the bound's
  terms L_T, L_{t−1}, L_0 (every KL is the core :func:`elbolab.kl.gaussian_kl`) and
  ``variational_bound``
- :mod:`~elbolab.diffusion.testbed` — ``GaussianTestBed``: exact log p_θ(x_0) and closed-form
  bound terms for Gaussian data
- :mod:`~elbolab.diffusion.ddpm` — a small ε-prediction DDPM, its training and sampling
- :mod:`~elbolab.diffusion.binary` — diffusion on binary data (two-category multinomial): every
  term a Bernoulli KL, the exact likelihood of a few bits by the reverse chain's matrices
"""

from .binary import BinaryDiffusion, exact_log_likelihood, train_binary_diffusion
from .ddpm import DDPM, DDPMResult, EpsilonMLP, ring_mixture, train_ddpm
from .process import (
    DECODERS,
    DiffusionBound,
    ReverseModel,
    decoder_nll,
    denoising_term,
    mean_from_eps,
    prior_term,
    q_marginal,
    q_posterior,
    q_sample,
    variational_bound,
    x0_from_eps,
)
from .schedules import COSINE_MAX_BETA, VARIANCES, NoiseSchedule, cosine_schedule, linear_schedule
from .testbed import TESTBED_VARIANCES, GaussianTestBed

__all__ = [
    "COSINE_MAX_BETA", "DDPM", "DECODERS", "TESTBED_VARIANCES", "VARIANCES", "BinaryDiffusion",
    "DDPMResult", "exact_log_likelihood", "train_binary_diffusion",
    "DiffusionBound", "EpsilonMLP", "GaussianTestBed", "NoiseSchedule", "ReverseModel",
    "cosine_schedule", "decoder_nll", "denoising_term", "linear_schedule", "mean_from_eps",
    "prior_term", "q_marginal", "q_posterior", "q_sample", "ring_mixture", "train_ddpm",
    "variational_bound", "x0_from_eps",
]
