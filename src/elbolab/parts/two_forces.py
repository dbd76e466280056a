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
    evaluate_elbo,
    iwae_per_example,
    kl_per_dimension,
    latent_traversal,
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
    latent ``traversals`` (len(values), D) of each β's two busiest units with their labels."""

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

    def to_dict(self) -> dict:
        return {"rows": self.rows, "spec": self.spec.to_dict(), **self.meta,
                "history": {str(b): h for b, h in zip(self.run.betas, self.run.history,
                                                      strict=True)}}

    def to_markdown(self) -> str:
        head = ("| β | rate R = KL (nats) | distortion D = −rec. (nats) | −ELBO = D + R "
                "| log p(x) (IS) | active units | train s |")
        lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in self.rows:
            lines.append(f"| {r['beta']:g} | {r['kl']:.2f} | {-r['reconstruction']:.2f} | "
                         f"{-r['elbo']:.2f} | {r['log_px']:.2f} ± {r['log_px_stderr']:.2f} | "
                         f"{r['active_units']}/{len(r['kl_per_dim'])} | "
                         f"{r['train_seconds']:.1f} |")
        return "\n".join(lines)

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
            for d in sorted(range(len(kl)), key=lambda j: -kl[j])[:2]:
                travs.append(latent_traversal(m, self.test_x[0], d, TRAVERSAL_VALUES)
                             .cpu().numpy())
                labels.append(f"β={r['beta']:g}, z{d} ({kl[d]:.1f} nats)")
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
            te = load_dataset(data, "test", cfg.data_dir)
            train_x, test_x, shape = tr.images[:cfg.n_train], te.images[:cfg.n_test], tr.shape
        else:
            x = _check_images("data", data)
            if test_data is None:
                n_hold = max(1, len(x) // 10)
                train_x, test_x = x[:-n_hold], x[-n_hold:]
            else:
                train_x, test_x = x, _check_images("test_data", test_data)
            side = int(round(math.sqrt(x.shape[1])))
            shape = (side, side) if side * side == x.shape[1] else None
        run = train_sweep(train_x, test_x, cfg, progress=self.progress)
        test_x = test_x.to(next(run.models[0].parameters()).device)
        rows = [self._measure(beta, model, test_x, run) for beta, model in
                zip(run.betas, run.models, strict=True)]
        meta = {"n_train": len(train_x), "n_test": len(test_x), "epochs": cfg.epochs,
                "k_eval": cfg.k_eval, "vectorized": cfg.vectorized,
                "seconds": run.seconds, "train_seconds": run.train_seconds,
                "objective": dataclasses.asdict(cfg.objective)}
        return TwoForcesResult(rows, run, sweep_spec(cfg, train_x.shape[1]), test_x, shape, meta)

    def _measure(self, beta: float, model, test_x: torch.Tensor, run: SweepRun) -> dict:
        """One row: the test ELBO's two terms, IWAE-k log p(x), activity and KL per unit."""
        gen = torch.Generator(device=test_x.device).manual_seed(self.config.seed + 7)
        ev = evaluate_elbo(model, test_x, generator=gen)
        ll = monte_carlo_mean(iwae_per_example(model, test_x, self.config.k_eval,
                                               generator=gen).double())
        kl_dims, mu = kl_per_dimension(model, test_x)
        n_active, activity = active_units(mu)
        return {"beta": beta, "elbo": ev["elbo"], "reconstruction": ev["reconstruction"],
                "kl": ev["kl"], "log_px": ll.estimate.item(), "log_px_stderr": ll.stderr.item(),
                "active_units": n_active, "activity": activity.tolist(),
                "kl_per_dim": kl_dims.tolist(),
                # this model's share of the training steps' seconds (no evaluation)
                "train_seconds": run.train_seconds / len(run.betas)}


__all__ = ["TRAVERSAL_VALUES", "TwoForcesAnalysis", "TwoForcesPictures", "TwoForcesResult"]
