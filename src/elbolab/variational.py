r"""Fitting a diagonal Gaussian :math:`q = \mathcal N(m, \operatorname{diag} s^2)` by stochastic
optimization of a KL divergence: the one fitting loop of the library (Part 1's importance
proposals, Part 2's forward and reverse fits).

- :func:`reverse_kl_loss`: :math:`\mathrm{KL}(q\,\|\,p) = -\big(\mathbb E_q[\log \tilde p(z)]
  + H(q)\big) + \log Z` for an unnormalized :math:`\tilde p`, estimated with reparameterized
  draws :math:`z = m + s\odot\varepsilon` (Kingma & Welling 2014, Sec. 2.4); the entropy
  :math:`H(q) = \sum\log s + \text{const}` is exact. Minimizing it maximizes the ELBO.
- :func:`forward_kl_loss`: :math:`\mathrm{KL}(p\,\|\,q) = -\mathbb E_p[\log q(x)] - H(p)`
  from fresh draws of p; its optimum is moment matching.

Shapes: ``mean`` and ``log_std`` are (*batch, d); the loss sums over the batch (each fit is
independent) and averages over the ``n_samples`` draws. Nats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .checks import (
    MAX_DRAWS,
    MAX_LOOP,
    check_callable,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
    should_validate,
)
from .posterior import DiagonalGaussian

# (mean, log_std) -> scalar loss to minimize
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class DiagonalGaussianFit:
    """The fitted ``mean`` and ``std`` (*batch, d), and the loss at every step."""

    mean: torch.Tensor
    std: torch.Tensor
    losses: list[float] = field(default_factory=list)


def reverse_kl_loss(log_target: Callable[[torch.Tensor], torch.Tensor], n_samples: int, *,
                    generator: torch.Generator | None = None,
                    validate: bool | None = None) -> Loss:
    r"""The negative ELBO :math:`-\big(\frac1n\sum_i\log\tilde p(m + s\odot\varepsilon_i)
    + \sum_j\log s_j\big)`, summed over the batch, with fresh ε each call.
    ``log_target(z)`` maps draws (n, *batch, d) to (n, *batch)."""
    if should_validate(validate):
        check_callable("log_target", log_target)
        check_count("n_samples", n_samples, maximum=MAX_DRAWS)
        check_generator("generator", generator)

    def loss(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        q = DiagonalGaussian(mean, 2 * log_std, validate=False)
        z = q.rsample((n_samples,), generator=generator)
        return -(log_target(z).mean(0) + log_std.sum(-1)).sum()

    return loss


def forward_kl_loss(sample_target: Callable[[int], torch.Tensor], n_samples: int, *,
                    validate: bool | None = None) -> Loss:
    r""":math:`-\frac1n\sum_i\log q(x_i)`, :math:`x_i\sim p` drawn by ``sample_target(n)``
    (n, d): KL(p‖q) up to the entropy of p."""
    if should_validate(validate):
        check_callable("sample_target", sample_target)
        check_count("n_samples", n_samples, maximum=MAX_DRAWS)

    def loss(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
        x = sample_target(n_samples)
        return -DiagonalGaussian(mean, 2 * log_std, validate=False).log_prob(x).mean()

    return loss


def fit_diagonal_gaussian(loss: Loss, mean: torch.Tensor, log_std: torch.Tensor, *,
                          steps: int, lr: float = 0.05,
                          final_lr: float | None = None,
                          validate: bool | None = None) -> DiagonalGaussianFit:
    """Minimize ``loss(mean, log_std)`` with Adam from the given starting point (copied),
    for ``steps`` steps; with ``final_lr`` the rate decays from ``lr`` to it on a cosine."""
    if should_validate(validate):
        check_callable("loss", loss)
        check_float_tensor("mean", mean)
        check_float_tensor("log_std", log_std)
        if mean.shape != log_std.shape:
            raise ValueError(f"mean and log_std must have one shape, got {list(mean.shape)} and "
                             f"{list(log_std.shape)}")
        check_count("steps", steps, maximum=MAX_LOOP)
        check_number("lr", lr, minimum=0.0, exclusive=True)
        if final_lr is not None:
            check_number("final_lr", final_lr, minimum=0.0)
    mean = mean.detach().clone().requires_grad_()
    log_std = log_std.detach().clone().requires_grad_()
    opt = torch.optim.Adam([mean, log_std], lr=lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=final_lr)
             if final_lr is not None else None)
    losses = []
    for _ in range(steps):
        value = loss(mean, log_std)
        opt.zero_grad()
        value.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(value.item())
    return DiagonalGaussianFit(mean.detach(), log_std.detach().exp(), losses)


__all__ = ["DiagonalGaussianFit", "fit_diagonal_gaussian", "forward_kl_loss", "reverse_kl_loss"]
