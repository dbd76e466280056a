"""The settings of the VAE commands, written once: each is a dataclass whose fields carry their
default, their choices and a one-line help, from which :mod:`elbolab.presentation.cli` builds
the command line's options (``--batch-size`` from ``batch_size``; a ``True`` boolean becomes
``--no-…``). Choice lists are the constants of the modules that define the choices.

- :class:`TrainConfig` — ``elbolab train`` and :class:`~elbolab.vae.training.Trainer`
- :class:`SweepConfig` — ``elbolab sweep``, :func:`~elbolab.vae.sweep.train_sweep` and
  :class:`~elbolab.parts.two_forces.TwoForcesAnalysis`
- :class:`EvaluateConfig` — ``elbolab evaluate``

The KL weighting (:class:`~elbolab.vae.objectives.Objective`) is one field of the train and
sweep configs; its own fields become options too (``--objective``, ``--free-bits``, …).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ..ais import MAX_AIS_STEPS
from ..elbo import MAX_K
from ..gradients import TRAINING_GRADIENTS
from ..settings import (
    ConfigError,
    check_setting_choice,
    check_setting_count,
    check_setting_folder,
    check_setting_number,
    option,
)
from .data import BINARIZE, DATASETS
from .device import DEVICE_CHOICES, check_device_setting
from .models import ACTIVATIONS, LIKELIHOODS, PRESETS
from .objectives import Objective

LR_SCHEDULES = ("constant", "exponential", "iwae")
BACKWARDS = ("auto", "autograd", "explicit")
PRECISIONS = ("float32", "bfloat16")
EVALUATE_METHODS = ("is", "ais")
POSTERIORS = ("gaussian", "flow")


def compute_dtype(precision: str) -> torch.dtype | None:
    """The dtype of the matrix products for a ``precision`` (None: float32 throughout)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return torch.bfloat16 if precision == "bfloat16" else None


def _as_objective(value: Objective | str | dict) -> Objective:
    """An :class:`Objective` from itself, a kind name or a saved dict."""
    if isinstance(value, str):
        return Objective(value)
    if isinstance(value, dict):
        return Objective(**value)
    return value




@dataclass
class TrainConfig:
    """Everything that defines a training run (saved as ``config.json`` and in checkpoints)."""

    dataset: str = option("mnist", "dataset to train on", choices=DATASETS)
    preset: str = option("example", "model preset", choices=tuple(PRESETS))
    likelihood: str = option("bernoulli", "decoder likelihood", choices=LIKELIHOODS)
    latent: int | None = option(None, "latent size (default: the preset's)", type=int)
    epochs: int = option(10, "epochs to train (in all, when resuming)")
    # summed epoch "train_seconds" (training steps only): stop before `epochs` when one more epoch,
    # as long as the longest so far, would exceed it
    max_minutes: float | None = option(
        None, "stop earlier when this many minutes of training would be exceeded (default: no "
        "limit)", type=float)
    batch_size: int = option(128, "minibatch size")
    lr: float = option(1e-3, "Adam learning rate")
    lr_schedule: str = option("constant", "learning-rate schedule", choices=LR_SCHEDULES)
    lr_decay: float = option(0.95, "per-epoch factor of the exponential schedule")
    adam_eps: float = option(1e-8, "Adam's epsilon")
    beta: float = option(1.0, "weight of the KL term")
    binarize: str = option(
        "auto", "binarize the pixels (static: once; dynamic: every epoch; auto: dynamic for the "
        "Bernoulli likelihood, which is normalized only for binary images)",
        choices=("auto", *BINARIZE))
    device: str = option("auto", f"torch device: one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    seed: int = option(0, "random seed")
    data_dir: str | None = option(None, "data folder (default: $ELBOLAB_DATA_DIR or the user "
                                        "cache)", type=str)
    train_subset: int | None = option(None, "first N training images (default: all)", type=int)
    test_subset: int | None = option(None, "first N test images (default: all)", type=int)
    cuda_graph: bool = option(True, "capture the training step as a CUDA graph (CUDA only)")
    backward: str = option("auto", "gradients: the written-out backward pass (explicit; auto = "
                                   "on the CPU for ReLU/tanh MLPs) or autograd",
                           choices=BACKWARDS)
    precision: str = option("float32", "bfloat16: matrix products in bfloat16, everything else "
                                       "float32", choices=PRECISIONS)
    objective: Objective | str | dict = option(help="how the KL term is weighted",
                                               factory=Objective)
    k: int = option(1, "importance samples per example in the training objective (--objective "
                       "iwae; 1 otherwise)")
    gradient: str = option(
        "reparam", "gradient estimator: reparam (pathwise, analytic KL for the ELBO), stl "
        "(sticking the landing, --objective beta) or dreg (doubly reparameterized, --objective "
        "iwae)", choices=TRAINING_GRADIENTS)
    posterior: str = option("gaussian", "q(z|x): a diagonal Gaussian, or that Gaussian pushed "
                                        "through --flow-layers amortized planar layers (MLP "
                                        "presets)", choices=POSTERIORS)
    flow_layers: int = option(4, "planar layers of --posterior flow")

    def __post_init__(self) -> None:
        self.objective = _as_objective(self.objective)
        check_setting_choice("dataset", self.dataset, DATASETS)
        check_setting_choice("preset", self.preset, tuple(PRESETS))
        check_setting_choice("gradient", self.gradient, TRAINING_GRADIENTS)
        check_setting_count("k", self.k, maximum=MAX_K)
        check_estimator_setting(self.objective.kind, self.k, self.gradient, self.beta)
        check_setting_choice("posterior", self.posterior, POSTERIORS)
        check_setting_count("flow_layers", self.flow_layers, maximum=1000)
        if self.posterior == "flow" and (self.objective.kind != "beta"
                                         or self.gradient != "reparam"):
            raise ConfigError("posterior", "flow trains the (β-)ELBO with its sampled KL: use "
                                           "--objective beta and --gradient reparam")
        if self.posterior == "flow" and PRESETS[self.preset].arch != "mlp":
            raise ConfigError("posterior", f"flow needs an MLP encoder; --preset {self.preset} "
                                           "is convolutional")
        if self.backward == "explicit" and uses_surrogate(self.objective.kind, self.gradient):
            raise ConfigError("backward", f"explicit writes out the analytic-KL ELBO's gradient; "
                                          f"--objective {self.objective.kind} with --gradient "
                                          f"{self.gradient} trains through autograd (use auto)")
        check_setting_choice("likelihood", self.likelihood, LIKELIHOODS)
        check_setting_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_setting_choice("backward", self.backward, BACKWARDS)
        check_setting_choice("precision", self.precision, PRECISIONS)
        self.binarize = resolve_binarize(self.binarize, self.likelihood)
        for name in ("epochs", "batch_size"):
            check_setting_count(name, getattr(self, name))
        for name in ("latent", "train_subset", "test_subset"):
            check_setting_count(name, getattr(self, name), optional=True)
        check_setting_count("seed", self.seed, minimum=0)
        check_setting_number("max_minutes", self.max_minutes, minimum=0.0, exclusive=True,
                             optional=True)
        check_setting_number("lr", self.lr, minimum=0.0, exclusive=True)
        # a factor per epoch: above 1 the rate grows without bound, at 0 it vanishes
        check_setting_number("lr_decay", self.lr_decay, minimum=0.0, exclusive=True,
                             maximum=1.0)
        check_setting_number("adam_eps", self.adam_eps, minimum=0.0, exclusive=True)
        check_setting_number("beta", self.beta, minimum=0.0)
        check_setting_folder("data_dir", self.data_dir)
        check_device_setting("device", self.device)

    def to_dict(self) -> dict:
        return asdict(self)


def check_estimator_setting(objective: str, k: int, gradient: str, beta: float) -> None:
    """Refuse the combinations of objective, k and gradient estimator that do not apply, with a
    :class:`ConfigError` naming the option: k > 1 without the iwae objective; ``stl`` with
    anything but the plain β-ELBO (with k > 1 it is biased, Tucker et al. 2019; the other KL
    weightings need the analytic KL per latent unit); ``dreg`` without the iwae objective (for
    k = 1 it is ``stl``); β ≠ 1 with the iwae objective."""
    if k != 1 and objective != "iwae":
        raise ConfigError("k", f"is the iwae objective's sample count: with --objective "
                               f"{objective} it must be 1, got {k}")
    if gradient == "stl" and objective != "beta":
        why = ("for the importance-weighted bound it is biased (Tucker et al. 2019): use dreg"
               if objective == "iwae" else
               f"--objective {objective} weights the analytic KL, which stl replaces by a "
               f"sampled one")
        raise ConfigError("gradient", f"stl (sticking the landing) applies to --objective beta "
                                      f"only: {why}")
    if gradient == "dreg" and objective != "iwae":
        raise ConfigError("gradient", "dreg applies to --objective iwae only (for the ELBO, "
                                      "k = 1, it is stl)")
    if objective == "iwae" and beta != 1.0:
        raise ConfigError("beta", f"must be 1 with --objective iwae (the bound has no KL "
                                  f"weight), got {beta:g}")


def uses_surrogate(objective: str, gradient: str) -> bool:
    """Whether a run trains through :func:`~elbolab.gradients.surrogate_objective` (the iwae
    objective or a path-derivative estimator) instead of the analytic-KL ELBO."""
    return objective == "iwae" or gradient != "reparam"


def resolve_binarize(binarize: str, likelihood: str) -> str:
    """``"auto"`` → ``"dynamic"`` for a Bernoulli decoder (Burda et al.'s protocol: then −ELBO
    and log p(x) are likelihoods of binary images), ``"none"`` for a Gaussian one."""
    check_setting_choice("binarize", binarize, ("auto", *BINARIZE))
    if binarize == "auto":
        return "dynamic" if likelihood == "bernoulli" else "none"
    return binarize


def is_normalized_likelihood(likelihood: str, binarize: str) -> bool:
    """Whether a run's −ELBO and log p(x) are normalized likelihoods of its data: a Bernoulli
    decoder on grey-level pixels (``binarize="none"``) is not (its "log p(x)" is a
    cross-entropy, not comparable to binarized-MNIST results)."""
    return likelihood != "bernoulli" or binarize != "none"


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """Learning rate for 0-based ``epoch``.

    ``exponential``: lr·decay^epoch. ``iwae``: Burda et al. (2015), Sec. 5 — stage i lasts 3^i
    epochs with lr·10^(−i/7), i = 0…7 (3,280 epochs in all), the last rate held after.
    """
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "exponential":
        return config.lr * config.lr_decay**epoch
    stage, end = 0, 1
    while epoch >= end and stage < 7:
        stage += 1
        end += 3**stage
    return config.lr * 10 ** (-stage / 7)


@dataclass
class SweepConfig:
    """One model per β, trained together: the model, the optimizer, the data and the
    evaluation of the Part 5 rate–distortion study. Defaults: an MLP 784-256-10 (ReLU,
    Bernoulli), 30 epochs, batch 128, Adam 1e-3, importance-sampled log p(x) with k = 500."""

    betas: tuple[float, ...] = option((0.0, 0.1, 1.0, 5.0, 10.0), "β values, comma-separated",
                                      type=float)
    dataset: str = option("mnist", "dataset (for `elbolab sweep`)", choices=DATASETS)
    n_train: int = option(10_000, "first N training images")
    n_test: int = option(1_000, "first N test images")
    epochs: int = option(30, "epochs")
    hidden: tuple[int, ...] = option((256,), "hidden widths, comma-separated", type=int)
    latent: int = option(10, "latent size")
    activation: str = option("relu", "hidden activation", choices=tuple(ACTIVATIONS))
    batch_size: int = option(128, "minibatch size")
    lr: float = option(1e-3, "Adam learning rate")
    objective: Objective | str | dict = option(help="how the KL term is weighted",
                                               factory=Objective)
    precision: str = option("float32", "bfloat16: matrix products in bfloat16",
                            choices=PRECISIONS)
    vectorized: bool = option(True, "train the β one after another (same seed) instead of all "
                                    "at once", flag="sequential")
    binarize: str = option(
        "auto", "binarize the pixels (auto = dynamic: every minibatch drawn afresh; the test set "
        "once)", choices=("auto", *BINARIZE))
    k_eval: int = option(500, "importance samples for log p(x)", flag="k")
    device: str = option("auto", f"torch device: one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    seed: int = option(0, "random seed")
    data_dir: str | None = option(None, "data folder (default: $ELBOLAB_DATA_DIR or the user "
                                        "cache)", type=str)

    def __post_init__(self) -> None:
        self.objective = _as_objective(self.objective)
        if self.objective.kind == "iwae":
            raise ConfigError("objective", "iwae trains one model on the importance-weighted "
                                           "bound (elbolab train); a sweep weights the KL of "
                                           "the ELBO by β")
        self.betas, self.hidden = tuple(self.betas), tuple(self.hidden)
        if not self.betas:
            raise ConfigError("betas", "must name at least one β value")
        for b in self.betas:
            check_setting_number("betas", b, minimum=0.0)
        self.betas = tuple(float(b) for b in self.betas)
        if not self.hidden:
            raise ConfigError("hidden", "must name at least one hidden width")
        for h in self.hidden:
            check_setting_count("hidden", h)
        check_setting_choice("dataset", self.dataset, DATASETS)
        check_setting_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_setting_choice("precision", self.precision, PRECISIONS)
        for name in ("n_train", "epochs", "latent", "batch_size"):
            check_setting_count(name, getattr(self, name))
        # the active-unit statistic is a variance over the test images: it needs two
        check_setting_count("n_test", self.n_test, minimum=2)
        check_setting_count("k_eval", self.k_eval, maximum=MAX_K)
        check_setting_count("seed", self.seed, minimum=0)
        check_setting_number("lr", self.lr, minimum=0.0, exclusive=True)
        check_setting_folder("data_dir", self.data_dir)
        check_device_setting("device", self.device)
        self.binarize = resolve_binarize(self.binarize, "bernoulli")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvaluateConfig:
    """Evaluating a trained run: the test ELBO and the importance-sampled log-likelihood."""

    method: str = option("is", "is: importance sampling with the encoder as proposal (IWAE-k); "
                               "ais: annealed importance sampling from the prior with HMC",
                         choices=EVALUATE_METHODS)
    k: int = option(5000, "importance samples per image (--method is)")
    ais_steps: int = option(1000, "intermediate distributions of the AIS schedule (--method ais)")
    chains: int = option(16, "AIS chains per image (--method ais)")
    leapfrog: int = option(10, "leapfrog steps per HMC transition (--method ais)")
    n_test: int | None = option(None, "first N test images (default: the run's)", type=int)
    batch_size: int = option(50, "images per batch")
    chunk_size: int = option(500, "importance samples per chunk")
    device: str = option("auto", f"torch device: one of {', '.join(DEVICE_CHOICES)} or cuda:N")
    data_dir: str | None = option(None, "data folder (default: the run's)", type=str)
    seed: int = option(0, "random seed")

    def __post_init__(self) -> None:
        check_setting_choice("method", self.method, EVALUATE_METHODS)
        check_setting_count("k", self.k, maximum=MAX_K)
        check_setting_count("ais_steps", self.ais_steps, maximum=MAX_AIS_STEPS)
        check_setting_count("chains", self.chains, maximum=MAX_K)
        check_setting_count("leapfrog", self.leapfrog, maximum=1000)
        check_setting_count("n_test", self.n_test, optional=True)
        check_setting_count("batch_size", self.batch_size)
        check_setting_count("chunk_size", self.chunk_size)
        check_setting_count("seed", self.seed, minimum=0)
        check_setting_folder("data_dir", self.data_dir)
        check_device_setting("device", self.device)


__all__ = ["BACKWARDS", "EVALUATE_METHODS", "LR_SCHEDULES", "MAX_K", "POSTERIORS",
           "PRECISIONS", "EvaluateConfig", "SweepConfig", "TrainConfig",
           "check_estimator_setting", "compute_dtype", "is_normalized_likelihood",
           "learning_rate", "option", "resolve_binarize", "uses_surrogate"]
