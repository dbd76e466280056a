r"""Many β-VAEs trained at once: the K models' weights are stacked
(:class:`~elbolab.vae.models.StackedMLPVAE`) and one batched product per layer
(:func:`~elbolab.vae.backprop.elbo_gradients_per_dim`) trains them all; with one seed every
model sees the same minibatches and noise, exactly as K separate runs with that seed would.
The engine of Part 5 (:class:`~elbolab.parts.two_forces.TwoForcesAnalysis`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..elbo import ELBOFramework
from .backprop import elbo_gradients_per_dim
from .config import SweepConfig, compute_dtype
from .data import binarize, binarize_split
from .device import resolve_device
from .evaluation import evaluate_elbo
from .models import ModelSpec, StackedMLPVAE, build_model
from .training import TrainingDiverged


@dataclass
class SweepRun:
    """Models trained together (one per β) and their per-epoch test ELBO, reconstruction and
    KL (``history[k]``: one dict per epoch for β_k, keys ``epoch``, ``test_elbo``,
    ``test_reconstruction``, ``test_kl``), and the test images they were evaluated on
    (binarized once when the config binarizes)."""

    betas: list[float]
    models: list[ELBOFramework]
    history: list[list[dict]]
    seconds: float  # the whole run, per-epoch test evaluation included
    # epoch_seconds[e]: the optimization steps of epoch e, summed over the models' groups
    # (one group when all β train at once, one per β otherwise)
    epoch_seconds: list[float]
    test_x: torch.Tensor | None = None

    @property
    def train_seconds(self) -> float:
        """The optimization steps alone, all epochs."""
        return sum(self.epoch_seconds)


def sweep_spec(config: SweepConfig, data_dim: int) -> ModelSpec:
    """The MLP (Bernoulli decoder) of every model of a sweep."""
    return ModelSpec(data_dim, config.hidden, config.latent, config.activation, "bernoulli")


def train_sweep(train_x: torch.Tensor, test_x: torch.Tensor,
                config: SweepConfig | None = None, *, progress: bool = False) -> SweepRun:
    """Train one model per ``config.betas``, all at once (``config.vectorized``) or one after
    another with the same seed (the reference the vectorized run must reproduce). Every model
    starts from the same initialization (``torch.manual_seed(seed)``) and sees the same
    minibatches and noise. ``precision="bfloat16"`` runs the matrix products in bfloat16.
    ``train_x`` and ``test_x`` are (N, D) images in [0, 1], binarized as ``config.binarize``
    says (dynamic: each minibatch drawn afresh from the run's generator)."""
    from tqdm import tqdm  # text bars everywhere (no Jupyter widget, no ipywidgets warning)

    cfg = config or SweepConfig()
    dtype = compute_dtype(cfg.precision)
    betas, objective, spec = list(cfg.betas), cfg.objective, sweep_spec(cfg, train_x.shape[1])
    dev = resolve_device(cfg.device)
    train_x, test_x = binarize_split(train_x.to(dev), test_x.to(dev), cfg.binarize, cfg.seed)
    groups = [list(range(len(betas)))] if cfg.vectorized else [[k] for k in range(len(betas))]
    history: list[list[dict]] = [[] for _ in betas]
    models: list[ELBOFramework | None] = [None] * len(betas)
    start, epoch_seconds = time.perf_counter(), [0.0] * cfg.epochs
    bar = tqdm(total=cfg.epochs * len(groups), desc="β sweep", unit="epoch",
               disable=not progress)
    for group in groups:
        torch.manual_seed(cfg.seed)
        base = build_model(spec).to(dev)
        model = StackedMLPVAE(spec, [base] * len(group)).to(dev)
        group_betas = torch.tensor([betas[k] for k in group], device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=dev.type in ("cpu", "cuda"))
        gen = torch.Generator(device=dev).manual_seed(cfg.seed)
        step = 0
        for e in range(cfg.epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(len(train_x), generator=gen, device=dev)
            for idx in perm.split(cfg.batch_size):
                step += 1

                def weights(kl_dims, _step=step, _betas=group_betas):
                    return objective.kl_weights(kl_dims, _betas, _step)[0]

                xb = (binarize(train_x[idx], gen, validate=False) if cfg.binarize == "dynamic"
                      else train_x[idx])
                with torch.no_grad():  # the per-epoch test evaluation reports the values
                    elbo_gradients_per_dim(model, xb, weights, generator=gen,
                                           reconstruction=False, compute_dtype=dtype)
                opt.step()
            epoch_seconds[e] += time.perf_counter() - t0
            for j, k in enumerate(group):
                ev = evaluate_elbo(model.model(j), test_x,
                                   generator=torch.Generator(device=dev).manual_seed(1))
                if not math.isfinite(ev["elbo"]):
                    raise TrainingDiverged(
                        f"the model for β = {betas[k]:g} diverged in epoch {len(history[k]) + 1} "
                        f"(test ELBO {ev['elbo']}); try a smaller lr (now {cfg.lr:g})")
                history[k].append({"epoch": len(history[k]) + 1, "test_elbo": ev["elbo"],
                                   "test_reconstruction": ev["reconstruction"],
                                   "test_kl": ev["kl"]})
            bar.update(1)
        for j, k in enumerate(group):
            models[k] = model.model(j)
    bar.close()
    return SweepRun(betas, models, history, time.perf_counter() - start, epoch_seconds, test_x)


__all__ = ["SweepRun", "sweep_spec", "train_sweep"]
