"""The VAE machinery: data, networks, training, evaluation, and many models at once.

- :mod:`~elbolab.vae.data` — IDX reader, verified downloads, the data folder, binarization,
  the offline digits fallback
- :mod:`~elbolab.vae.models` — MLP and convolutional encoders/decoders, presets, stacked MLPs
- :mod:`~elbolab.vae.backprop` — the MLP VAE's backward pass written out (the CPU trainer)
- :mod:`~elbolab.vae.objectives` — how the KL term is weighted (β, warm-up, free bits, capacity)
- :mod:`~elbolab.vae.config` — ``TrainConfig``, ``SweepConfig``, ``EvaluateConfig``: settings
  and choice lists written once (they generate the command line's options)
- :mod:`~elbolab.vae.training` — ``Trainer``: device-resident data, CUDA graphs, resume
- :mod:`~elbolab.vae.checkpoint` — the run folder: atomic checkpoints, metrics, ``load_run``
- :mod:`~elbolab.vae.sweep` — ``train_sweep``: one model per β, trained at once
- :mod:`~elbolab.vae.evaluation` — test ELBO, IWAE-k log-likelihood, bits/dim, active units
- :mod:`~elbolab.vae.device` — choosing a torch device
"""

from .checkpoint import load_run
from .config import EvaluateConfig, SweepConfig, TrainConfig
from .data import ImageData, load_dataset
from .device import resolve_device
from .evaluation import evaluate_elbo, evaluate_log_likelihood, iwae_per_example
from .models import ModelSpec, build_model, preset_spec
from .objectives import Objective
from .sweep import SweepRun, train_sweep
from .training import Trainer, TrainingDiverged, TrainResult

__all__ = [
    "EvaluateConfig", "ImageData", "ModelSpec", "Objective", "SweepConfig", "SweepRun",
    "TrainConfig", "TrainResult", "Trainer", "TrainingDiverged", "build_model",
    "evaluate_elbo", "evaluate_log_likelihood", "iwae_per_example", "load_dataset", "load_run",
    "preset_spec", "resolve_device", "train_sweep",
]
