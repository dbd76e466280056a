r"""Part 5: the two forces — reconstruction (distortion) against regularization (rate).

The β-VAE objective (Higgins et al. 2017) per example, in nats,

.. math:: \mathcal L_\beta = \underbrace{-\mathbb E_{q(z|x)}\log p(x|z)}_{D\ \text{(distortion)}}
          + \beta\,\underbrace{\mathrm{KL}(q(z|x)\,\|\,p(z))}_{R\ \text{(rate)}}

is a point on the rate–distortion curve (Alemi et al. 2018, "Fixing a Broken ELBO"): for each
β the optimum minimizes D + βR, i.e. touches the curve where its slope is −β. β = 1 is the
ELBO; β = 0 an autoencoder with noise; large β collapses latent units to the prior. Sums run
over event and latent dimensions and means over the batch, so β is meaningful (the
reduction that makes β = 1 the ELBO).

All β values are trained **at once**: the K models' weights are stacked
(:class:`~elbolab.models.StackedMLPVAE`) and one batched product per layer
(:func:`~elbolab.backprop.elbo_gradients_per_dim`) trains them all; with one seed every model
sees the same minibatches and noise, exactly as K separate runs with that seed would.

Objectives beyond a fixed β (:class:`~elbolab.objectives.Objective`): KL warm-up, free bits
and capacity annealing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from .backprop import elbo_gradients_per_dim
from .checks import check_count, finite_range
from .data import load_dataset
from .device import resolve_device
from .elbo import ELBOFramework
from .estimators import monte_carlo_mean
from .evaluation import decoder_means, evaluate_elbo, iwae_per_example, reconstruct, sample_prior
from .kl import gaussian_kl
from .models import ModelSpec, StackedMLPVAE, build_model
from .objectives import Objective
from .training import TrainingDiverged, compute_dtype

# Burda et al. (2015), Sec. 5.2: a unit is active when Cov_x(E_q[z_u]) exceeds 0.01.
ACTIVE_UNIT_THRESHOLD = 0.01


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD):
    r"""Burda et al.'s activity statistic :math:`A_u = \mathrm{Cov}_x(\mathbb E_{q(z|x)}[z_u])`
    from posterior means ``mu`` (N, L) over a dataset: (number of units with A_u > threshold,
    A_u of every unit (L,))."""
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(f"mu must be (N >= 2, L), got {list(mu.shape)}")
    activity = mu.double().var(0)
    return int((activity > threshold).sum()), activity


@torch.no_grad()
def kl_per_dimension(model: ELBOFramework, x: torch.Tensor, batch_size: int = 1000):
    """Mean over ``x`` of KL(q(z_j|x) ‖ N(0, 1)) for each latent dimension j (L,), nats, and
    the posterior means (N, L)."""
    kls, mus = [], []
    for xb in x.split(batch_size):
        mu, logvar = model.encoder(xb)
        zero = torch.zeros((), dtype=mu.dtype, device=mu.device)
        kls.append(gaussian_kl(mu, logvar, zero, zero, validate=False).sum(0))
        mus.append(mu)
    return torch.stack(kls).sum(0).double() / len(x), torch.cat(mus)


@dataclass
class SweepRun:
    """Models trained together (one per β) and their per-epoch test rate/distortion."""

    betas: list[float]
    models: list[ELBOFramework]
    history: list[list[dict]]  # history[k] = per-epoch dicts for β_k
    seconds: float  # the whole run, per-epoch test evaluation included
    # epoch_seconds[e]: the optimization steps of epoch e, summed over the models' groups
    # (one group when all β train at once, one per β otherwise)
    epoch_seconds: list[float]

    @property
    def train_seconds(self) -> float:
        """The optimization steps alone, all epochs."""
        return sum(self.epoch_seconds)


def _check_images(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of images in [0, 1]")
    x = x.flatten(1) if x.dim() > 2 else x
    if x.dim() != 2 or len(x) < 2:
        raise ValueError(f"{name} must have shape (N, D) with N >= 2, got {list(x.shape)}")
    lo, hi = finite_range(name, x)
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return x


def _check_betas(betas: Sequence[float]) -> list[float]:
    betas = [float(b) for b in betas]
    if not betas or any(not (b >= 0 and math.isfinite(b)) for b in betas):
        raise ValueError(f"betas must be non-negative finite numbers, got {betas}")
    return betas


def train_sweep(train_x: torch.Tensor, test_x: torch.Tensor, betas: Sequence[float], *,
                spec: ModelSpec, epochs: int = 30, batch_size: int = 128, lr: float = 1e-3,
                seed: int = 0, objective: Objective | None = None, vectorized: bool = True,
                device: str = "auto", precision: str = "float32",
                progress: bool = False) -> SweepRun:
    """Train one model per β, all at once (``vectorized``) or one after another with the same
    seed (the reference the vectorized run must reproduce). Every model starts from the same
    initialization (``torch.manual_seed(seed)``) and sees the same minibatches and noise.
    ``precision="bfloat16"`` runs the matrix products in bfloat16 (mixed precision)."""
    from tqdm.auto import tqdm

    dtype = compute_dtype(precision)
    objective = objective or Objective()
    betas = _check_betas(betas)
    epochs, batch_size = check_count("epochs", epochs), check_count("batch_size", batch_size)
    dev = resolve_device(device)
    train_x, test_x = train_x.to(dev), test_x.to(dev)
    groups = [list(range(len(betas)))] if vectorized else [[k] for k in range(len(betas))]
    history: list[list[dict]] = [[] for _ in betas]
    models: list[ELBOFramework | None] = [None] * len(betas)
    start, epoch_seconds = time.perf_counter(), [0.0] * epochs
    total = epochs * len(groups)
    bar = tqdm(total=total, desc="β sweep", unit="epoch", disable=not progress)
    for group in groups:
        torch.manual_seed(seed)
        base = build_model(spec).to(dev)
        model = StackedMLPVAE(spec, [base] * len(group)).to(dev)
        group_betas = torch.tensor([betas[k] for k in group], device=dev)
        opt = torch.optim.Adam(model.parameters(), lr=lr, fused=dev.type in ("cpu", "cuda"))
        gen = torch.Generator(device=dev).manual_seed(seed)
        step = 0
        for e in range(epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(len(train_x), generator=gen, device=dev)
            for idx in perm.split(batch_size):
                step += 1

                def weights(kl_dims, _step=step, _betas=group_betas):
                    return objective.kl_weights(kl_dims, _betas, _step)[0]

                with torch.no_grad():  # the per-epoch test evaluation reports the values
                    elbo_gradients_per_dim(model, train_x[idx], weights, generator=gen,
                                           reconstruction=False, compute_dtype=dtype)
                opt.step()
            epoch_seconds[e] += time.perf_counter() - t0
            for j, k in enumerate(group):
                m = model.model(j)
                ev = evaluate_elbo(m, test_x, generator=torch.Generator(device=dev).manual_seed(1))
                if not math.isfinite(ev["elbo"]):
                    raise TrainingDiverged(
                        f"the model for β = {betas[k]:g} diverged in epoch {len(history[k]) + 1} "
                        f"(test ELBO {ev['elbo']}); try a smaller lr (now {lr:g})")
                history[k].append({"epoch": len(history[k]) + 1, "rate": ev["kl"],
                                   "distortion": -ev["reconstruction"], "elbo": ev["elbo"]})
            bar.update(1)
        for j, k in enumerate(group):
            models[k] = model.model(j)
    bar.close()
    return SweepRun(betas, models, history, time.perf_counter() - start, epoch_seconds)


@dataclass
class TwoForcesResult:
    """One row per β (``rows``), the trained models and learning curves, and the data."""

    rows: list[dict]
    run: SweepRun
    spec: ModelSpec
    test_x: torch.Tensor
    image_shape: tuple[int, int] | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "spec": self.spec.to_dict(), **self.meta,
                "history": {str(b): h for b, h in zip(self.run.betas, self.run.history,
                                                      strict=True)}}

    def to_markdown(self) -> str:
        head = ("| β | rate R (nats) | distortion D (nats) | −ELBO = D + R | log p(x) (IS) "
                "| active units | train s |")
        lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in self.rows:
            lines.append(f"| {r['beta']:g} | {r['rate']:.2f} | {r['distortion']:.2f} | "
                         f"{r['neg_elbo']:.2f} | {r['log_px']:.2f} ± {r['log_px_se']:.2f} | "
                         f"{r['active_units']}/{len(r['kl_per_dim'])} | "
                         f"{r['train_seconds']:.1f} |")
        return "\n".join(lines)


class TwoForcesAnalysis:
    """The β-VAE trade-off as a measured rate–distortion study.

    ``TwoForcesAnalysis()`` works with defaults: an MLP 784-256-10 (ReLU, Bernoulli), 30
    epochs, batch 128, Adam 1e-3, all β trained at once on the CPU or GPU, importance-sampled
    log p(x) with ``k_eval`` = 500. Call :meth:`analyze_beta_vae`.
    """

    def __init__(self, *, hidden: Sequence[int] = (256,), latent: int = 10,
                 activation: str = "relu", epochs: int = 30, batch_size: int = 128,
                 lr: float = 1e-3, device: str = "auto", seed: int = 0, k_eval: int = 500,
                 objective: Objective | None = None, vectorized: bool = True,
                 precision: str = "float32", progress: bool = False):
        self.hidden, self.latent, self.activation = tuple(hidden), latent, activation
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.device, self.seed, self.k_eval = device, seed, check_count("k_eval", k_eval)
        self.objective, self.vectorized, self.progress = objective, vectorized, progress
        self.precision = precision

    def analyze_beta_vae(self, data: torch.Tensor | str,
                         beta_values: Sequence[float] = (0.0, 0.1, 1.0, 5.0, 10.0), *,
                         test_data: torch.Tensor | None = None, n_train: int = 10_000,
                         n_test: int = 1_000, data_dir: str | None = None) -> TwoForcesResult:
        """Train one model per β on ``data`` (images (N, D) in [0, 1], or a dataset name such
        as ``"mnist"``: its first ``n_train`` training and ``n_test`` test images) and
        measure rate, distortion, −ELBO, importance-sampled log p(x), active units and KL per
        dimension on held-out data (``test_data``, else the last 10% of ``data``)."""
        shape = None
        _check_betas(beta_values)
        if isinstance(data, str):
            tr = load_dataset(data, "train", data_dir)
            te = load_dataset(data, "test", data_dir)
            train_x, test_x, shape = tr.images[:n_train], te.images[:n_test], tr.shape
        else:
            x = _check_images("data", data)
            if test_data is None:
                n_hold = max(1, len(x) // 10)
                train_x, test_x = x[:-n_hold], x[-n_hold:]
            else:
                train_x, test_x = x, _check_images("test_data", test_data)
            side = int(round(math.sqrt(x.shape[1])))
            shape = (side, side) if side * side == x.shape[1] else None
        spec = ModelSpec(train_x.shape[1], self.hidden, self.latent, self.activation,
                         "bernoulli")
        run = train_sweep(train_x, test_x, beta_values, spec=spec, epochs=self.epochs,
                          batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                          objective=self.objective, vectorized=self.vectorized,
                          precision=self.precision,
                          device=self.device, progress=self.progress)
        test_x = test_x.to(next(run.models[0].parameters()).device)
        rows = []
        for beta, model in zip(run.betas, run.models, strict=True):
            gen = torch.Generator(device=test_x.device).manual_seed(self.seed + 7)
            ev = evaluate_elbo(model, test_x, generator=gen)
            ll = monte_carlo_mean(iwae_per_example(model, test_x, self.k_eval,
                                                   generator=gen).double())
            kl_dims, mu = kl_per_dimension(model, test_x)
            n_active, activity = active_units(mu)
            rows.append({
                "beta": beta, "rate": ev["kl"], "distortion": -ev["reconstruction"],
                "neg_elbo": -ev["elbo"], "log_px": ll.estimate.item(),
                "log_px_se": ll.stderr.item(), "active_units": n_active,
                "activity": activity.tolist(), "kl_per_dim": kl_dims.tolist(),
                "train_seconds": run.seconds / len(run.betas),
            })
        meta = {"n_train": len(train_x), "n_test": len(test_x), "epochs": self.epochs,
                "k_eval": self.k_eval, "vectorized": self.vectorized,
                "sweep_seconds": run.seconds,
                "objective": asdict(self.objective or Objective())}
        return TwoForcesResult(rows, run, spec, test_x, shape, meta)


@torch.no_grad()
def latent_traversal(model: ELBOFramework, x_ref: torch.Tensor, dim: int,
                     values: Sequence[float]) -> torch.Tensor:
    """Decoder means as latent ``dim`` takes each of ``values``, the other dimensions held at
    the posterior mean of ``x_ref`` (D,). Shape (len(values), D)."""
    mu, _ = model.encoder(x_ref.reshape(1, -1))
    z = mu.repeat(len(values), 1)
    z[:, dim] = torch.as_tensor(list(values), dtype=z.dtype, device=z.device)
    return decoder_means(model, z)


def figures(result: TwoForcesResult, *, n_images: int = 8, seed: int = 0) -> dict:
    """The Part 5 figures for ``result``: {name: matplotlib Figure}."""
    from .plots import (
        plot_beta_images,
        plot_kl_per_dimension,
        plot_latent_traversals,
        plot_rate_distortion,
        plot_rd_learning_curves,
    )

    run, rows = result.run, result.rows
    figs = {"two_forces_rate_distortion": plot_rate_distortion(rows),
            "two_forces_kl_per_dim": plot_kl_per_dimension(rows),
            "two_forces_learning_curves": plot_rd_learning_curves(
                [f"β = {b:g}" for b in run.betas], run.history)}
    if result.image_shape is not None:
        x = result.test_x[:n_images]
        recons = [reconstruct(m, x).cpu().numpy() for m in run.models]
        samples = [sample_prior(m, n_images, result.spec.latent,
                                torch.Generator(device=x.device).manual_seed(seed)).cpu().numpy()
                   for m in run.models]
        figs["two_forces_images"] = plot_beta_images(x.cpu().numpy(), recons, samples,
                                                     run.betas, result.image_shape)
        values = [-2.5 + 5.0 * i / 8 for i in range(9)]
        travs, labels = [], []
        for r, m in zip(rows, run.models, strict=True):
            for d in sorted(range(len(r["kl_per_dim"])), key=lambda j: -r["kl_per_dim"][j])[:2]:
                travs.append(latent_traversal(m, result.test_x[0], d, values).cpu().numpy())
                labels.append(f"β={r['beta']:g}, z{d} ({r['kl_per_dim'][d]:.1f} nats)")
        figs["two_forces_traversals"] = plot_latent_traversals(travs, labels, values,
                                                               result.image_shape)
    return figs
