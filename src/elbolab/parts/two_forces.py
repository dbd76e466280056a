r"""Part 5: the two forces — reconstruction (distortion) against regularization (rate).

The β-VAE objective (Higgins et al. 2017) per example, in nats,

.. math:: \mathcal L_\beta = \underbrace{-\mathbb E_{q(z|x)}\log p(x|z)}_{D\ \text{(distortion)}}
          + \beta\,\underbrace{\mathrm{KL}(q(z|x)\,\|\,p(z))}_{R\ \text{(rate)}}

is a point on the rate–distortion curve (Alemi et al. 2018, "Fixing a Broken ELBO"): for each
β the optimum minimizes D + βR, i.e. touches the curve where its slope is −β. β = 1 is the
ELBO; β = 0 an autoencoder with noise; large β collapses latent units to the prior. Sums run
over event and latent dimensions and means over the batch, so β is meaningful (the
reduction that makes β = 1 the ELBO).

In the library's one vocabulary the rate is ``kl`` and the distortion is ``−reconstruction``
(``reconstruction`` = E_q log p(x|z)); rows and learning curves use those keys.

:class:`TwoForcesAnalysis` is a thin wrapper: the settings are a
:class:`~elbolab.vae.config.SweepConfig`, the training is :func:`~elbolab.vae.sweep.train_sweep`
(all β at once), the measurements are :mod:`elbolab.vae.evaluation`'s.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..checks import finite_range
from ..estimators import monte_carlo_mean
from ..vae.config import SweepConfig
from ..vae.data import load_dataset
from ..vae.evaluation import (
    active_units,
    iwae_per_example,
    kl_per_dimension,
    latent_traversal,
    per_example_elbo,
    reconstruct,
    sample_prior,
)
from ..vae.models import ModelSpec
from ..vae.sweep import SweepRun, sweep_spec, train_sweep

TRAVERSAL_VALUES = tuple(-2.5 + 5.0 * i / 8 for i in range(9))


@dataclass
class TwoForcesPictures:
    """What the Part 5 image figures show, as arrays (computed once from the trained models):
    test ``originals`` (n, D), each β's ``reconstructions`` and prior ``samples`` (n, D), and
    latent ``traversals`` (len(values), D) of each β's busiest and quietest unit (the most and
    the least KL) with their labels."""

    originals: object
    reconstructions: list
    samples: list
    traversals: list
    traversal_labels: list[str]
    values: tuple[float, ...] = TRAVERSAL_VALUES


@dataclass
class TwoForcesResult:
    """One row per β (``rows``), the trained models and learning curves, and the data."""

    rows: list[dict]
    run: SweepRun
    spec: ModelSpec
    test_x: torch.Tensor
    image_shape: tuple[int, int] | None = None
    meta: dict = field(default_factory=dict)
    # per_example[k]: β_k's per-test-image ``elbo``, ``reconstruction``, ``kl`` and ``log_px``
    # (float64, CPU), for comparisons paired per image
    per_example: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "spec": self.spec.to_dict(), **self.meta,
                "history": {str(b): h for b, h in zip(self.run.betas, self.run.history,
                                                      strict=True)}}

    @torch.no_grad()
    def pictures(self, n_images: int = 8, seed: int = 0) -> TwoForcesPictures | None:
        """The arrays of the image figures (``None`` when the data are not square images)."""
        if self.image_shape is None:
            return None
        x = self.test_x[:n_images]
        models = self.run.models
        recons = [reconstruct(m, x).cpu().numpy() for m in models]
        samples = [sample_prior(m, n_images, self.spec.latent,
                                torch.Generator(device=x.device).manual_seed(seed)).cpu().numpy()
                   for m in models]
        travs, labels = [], []
        for r, m in zip(self.rows, models, strict=True):
            kl = r["kl_per_dim"]
            order = sorted(range(len(kl)), key=lambda j: -kl[j])
            # the unit carrying the most information and the one carrying the least: one
            # moves the image, the other (near the prior) barely does
            for which, d in (("busiest", order[0]), ("quietest", order[-1])):
                travs.append(latent_traversal(m, self.test_x[0], d, TRAVERSAL_VALUES)
                             .cpu().numpy())
                labels.append(f"β={r['beta']:g}, {which} z{d} ({kl[d]:.2g} nats)")
        return TwoForcesPictures(x.cpu().numpy(), recons, samples, travs, labels)


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


class TwoForcesAnalysis:
    """The β-VAE trade-off as a measured rate–distortion study.

    ``TwoForcesAnalysis()`` works with the defaults of :class:`~elbolab.vae.config.SweepConfig`
    (an MLP 784-256-10, 30 epochs, all β trained at once, importance-sampled log p(x) with
    ``k_eval`` = 500); pass a config, or any of its fields as keywords
    (``TwoForcesAnalysis(epochs=10, seed=1)``). Call :meth:`analyze_beta_vae`.
    """

    def __init__(self, config: SweepConfig | None = None, *, progress: bool = False,
                 **settings) -> None:
        self.config = dataclasses.replace(config or SweepConfig(), **settings)
        self.progress = progress

    def analyze_beta_vae(self, data: torch.Tensor | str,
                         beta_values: Sequence[float] | None = None, *,
                         test_data: torch.Tensor | None = None) -> TwoForcesResult:
        """Train one model per β (``beta_values``, else the config's) on ``data`` (images
        (N, D) in [0, 1], or a dataset name such as ``"mnist"``: its first ``n_train`` training
        and ``n_test`` test images) and measure the ELBO's two terms, importance-sampled
        log p(x), active units and KL per dimension on held-out data (``test_data``, else the
        last 10% of ``data``)."""
        cfg = self.config
        if beta_values is not None:
            cfg = dataclasses.replace(cfg, betas=tuple(beta_values))
        if isinstance(data, str):
            tr = load_dataset(data, "train", cfg.data_dir)
            te = load_dataset(tr.name, "test", cfg.data_dir)  # the same set as tr
            train_x, test_x, shape = tr.images[:cfg.n_train], te.images[:cfg.n_test], tr.shape
            dataset = tr.name  # the data set actually used (the digits when MNIST fell back)
        else:
            dataset = "array"
            x = _check_images("data", data)
            if test_data is None:
                n_hold = max(1, len(x) // 10)
                train_x, test_x = x[:-n_hold], x[-n_hold:]
            else:
                train_x, test_x = x, _check_images("test_data", test_data)
            side = int(round(math.sqrt(x.shape[1])))
            shape = (side, side) if side * side == x.shape[1] else None
        run = train_sweep(train_x, test_x, cfg, progress=self.progress)
        test_x = run.test_x  # on the models' device, binarized as the config says
        measured = [self._measure(beta, model, test_x, run) for beta, model in
                    zip(run.betas, run.models, strict=True)]
        rows = [row for row, _ in measured]
        meta = {"dataset": dataset, "n_train": len(train_x), "n_test": len(test_x),
                "epochs": cfg.epochs,
                "k_eval": cfg.k_eval, "vectorized": cfg.vectorized,
                "seconds": run.seconds, "train_seconds": run.train_seconds,
                "objective": dataclasses.asdict(cfg.objective), "binarize": cfg.binarize}
        return TwoForcesResult(rows, run, sweep_spec(cfg, train_x.shape[1]), test_x, shape, meta,
                               [per for _, per in measured])

    def _measure(self, beta: float, model, test_x: torch.Tensor,
                 run: SweepRun) -> tuple[dict, dict]:
        """One row (the test ELBO's two terms, IWAE-k log p(x), activity and KL per unit) and
        the per-image values behind it."""
        gen = torch.Generator(device=test_x.device).manual_seed(self.config.seed + 7)
        per = per_example_elbo(model, test_x, draws=ELBO_DRAWS, generator=gen)
        per["log_px"] = iwae_per_example(model, test_x, self.config.k_eval,
                                         generator=gen).double().cpu()
        ll = monte_carlo_mean(per["log_px"])
        kl_dims, mu = kl_per_dimension(model, test_x)
        n_active, activity = active_units(mu)
        row = {"beta": beta, **{k: per[k].mean().item() for k in ("elbo", "reconstruction", "kl")},
               "log_px": ll.estimate.item(), "log_px_stderr": ll.stderr.item(),
               "active_units": n_active, "activity": activity.tolist(),
               "informative_units": int((kl_dims > INFORMATIVE_UNIT_NATS).sum()),
               "kl_per_dim": kl_dims.tolist(),
               # this model's share of the training steps' seconds (no evaluation)
               "train_seconds": run.train_seconds / len(run.betas)}
        return row, per


# draws of z per test image behind the per-image ELBO (the reconstruction term's noise)
ELBO_DRAWS = 8
# a unit "carries information" when its KL(q(z_j|x) ‖ p(z_j)), averaged over the data, exceeds
# this many nats; a second, finer view than Burda's activity Var_x E_q[z_j] > 0.01, which counts
# a unit whose posterior mean moves at all (see ACTIVE_UNIT_THRESHOLD)
INFORMATIVE_UNIT_NATS = 0.1


def encoder_forces(model, x: torch.Tensor, beta: float, *,
                   generator: torch.Generator | None = None) -> dict:
    r"""The two forces on the encoder, measured: the gradients, with respect to the encoder's
    parameters φ, of the batch-mean distortion :math:`g_D = \nabla_\phi D` and of the weighted
    rate :math:`g_R = \beta\nabla_\phi R` (one reparameterized sample per image, noise from
    ``generator``). Returns their norms, the norm of their sum and the cosine of the angle
    between them. At a stationary point of :math:`D + \beta R` the encoder's gradient
    vanishes, so :math:`g_D = -g_R`: equal norms, cosine −1 (force balance). ``x`` (N, D)
    images; norms in nats per unit of parameter."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    res = model.compute_elbo(x, generator=generator)
    g_d = torch.autograd.grad(-res.reconstruction.mean(), params, retain_graph=True)
    g_r = torch.autograd.grad(beta * res.kl.mean(), params)
    g_d = torch.cat([g.flatten() for g in g_d]).double()
    g_r = torch.cat([g.flatten() for g in g_r]).double()
    n_d, n_r = g_d.norm().item(), g_r.norm().item()
    cosine = (g_d @ g_r).item() / (n_d * n_r) if n_d > 0 and n_r > 0 else math.nan
    return {"beta": beta, "distortion_norm": n_d, "rate_norm": n_r, "cosine": cosine,
            "total_norm": (g_d + g_r).norm().item()}


__all__ = ["ELBO_DRAWS", "INFORMATIVE_UNIT_NATS", "TRAVERSAL_VALUES", "TwoForcesAnalysis",
           "TwoForcesPictures", "TwoForcesResult", "encoder_forces"]
