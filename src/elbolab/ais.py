r"""Annealed importance sampling (AIS) for :math:`\log p(x)` of a latent-variable model with
prior :math:`\mathcal N(0, I)`, with Hamiltonian Monte Carlo transitions, and its reverse chain
for a stochastic upper bound (bidirectional Monte Carlo, BDMC).

The geometric path between the prior and the unnormalized posterior (Neal 2001, Eq. 3):

.. math:: f_\beta(z) = p(z)\,p(x\mid z)^{\beta},\qquad 0 = \beta_0 < \beta_1 < \dots <
          \beta_T = 1

Forward AIS starts from :math:`z_0\sim p(z)` and, for t = 1…T, adds
:math:`(\beta_t-\beta_{t-1})\log p(x\mid z_{t-1})` to the log-weight, then moves z by an HMC
transition that leaves :math:`f_{\beta_t}` invariant. :math:`\mathbb E[w] = p(x)` (Neal 2001,
Sec. 2), so the log of the mean of the chains' weights is a stochastic *lower* bound on
:math:`\log p(x)` (Jensen). Run along the reversed schedule from an exact posterior sample —
available for data simulated from the model, where (x, z) is a joint draw — the same
recursion estimates :math:`1/p(x)` without bias, so minus the log of its mean is a stochastic
*upper* bound (Grosse, Ghahramani & Adams 2015; Wu, Burda, Salakhutdinov & Grosse 2017,
Sec. 4): the true value is sandwiched, and the bracket narrows as T grows.

HMC (Neal 2011): potential :math:`U_\beta(z) = \tfrac12\lVert z\rVert^2 - \beta\log p(x\mid z)`,
``leapfrog`` steps of size ε per transition (``leapfrog`` log-likelihood gradients: the
state's own is carried over), Metropolis accept/reject per chain. ε is one value
per data point, adapted after every transition towards an acceptance rate of
``target_accept`` (×1.02 above, ×0.98 below, as Wu et al. 2017 do); the adaptation looks only
at past transitions.

Shapes: ``z0`` (chains, *batch, L); ``log_likelihood(z)`` → (chains, *batch). Units: nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .checks import (
    check_callable,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
    should_validate,
)
from .estimators import LogMeanExpAccumulator, MonteCarloEstimate
from .posterior import LatentVariableModel

#: the longest schedule accepted: 10⁵ transitions of ``leapfrog`` gradient steps each
MAX_AIS_STEPS = 100_000
#: a sigmoid schedule's steepness (Grosse et al. 2015 use δ = 4)
SIGMOID_DELTA = 4.0


def sigmoid_schedule(steps: int, delta: float = SIGMOID_DELTA) -> torch.Tensor:
    r""":math:`\beta_t`, t = 0…steps, float64: the sigmoidal schedule of Grosse, Ghahramani &
    Adams (2015, Sec. 6), :math:`\tilde\beta_t = \sigma(\delta(2t/T - 1))` rescaled to run
    exactly from 0 to 1; it spends more steps near both ends, where the path bends most."""
    check_count("steps", steps, maximum=MAX_AIS_STEPS)
    check_number("delta", delta, minimum=0.0, exclusive=True)
    s = torch.sigmoid(delta * (2 * torch.arange(steps + 1, dtype=torch.float64) / steps - 1))
    return (s - s[0]) / (s[-1] - s[0])


@dataclass
class AISResult:
    """One AIS (or reverse-AIS) run: ``log_weights`` (chains, *batch) float64; ``estimate``
    the log of the chains' mean weight per data point with its delta-method standard error
    (for a reverse run, minus that: the upper bound); ``acceptance`` the mean HMC acceptance
    rate; ``z`` the chains' final states."""

    log_weights: torch.Tensor
    estimate: MonteCarloEstimate
    acceptance: float
    z: torch.Tensor


class HMCState(NamedTuple):
    """Where every chain is: its ``position`` z (chains, *batch, L), the
    ``log_likelihood`` log p(x|z) there (chains, *batch) and its ``gradient`` in z."""

    position: torch.Tensor
    log_likelihood: torch.Tensor
    gradient: torch.Tensor


def _state_at(log_likelihood, z) -> HMCState:
    """The chains at z: log p(x|z) and its gradient, from one forward and backward pass."""
    with torch.enable_grad():
        q = z.detach().requires_grad_(True)
        ll = log_likelihood(q)
        (g,) = torch.autograd.grad(ll.sum(), q)
    return HMCState(q.detach(), ll.detach(), g)


def _hmc(state: HMCState, beta, log_likelihood, step, leapfrog, generator
         ) -> tuple[HMCState, torch.Tensor]:
    """One HMC transition for every chain, leaving f_β invariant, from ``state`` (whose
    log-likelihood and gradient are carried over from the previous transition, so a
    transition costs ``leapfrog`` passes); returns the new state and which chains accepted."""
    z, ll, g = state
    momentum = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    # U = ½‖z‖² − β log p(x|z); ∇U = z − β ∇ log p(x|z)
    energy = 0.5 * (z ** 2).sum(-1) - beta * ll
    proposal, p = state, momentum - 0.5 * step * (z - beta * g)
    for i in range(leapfrog):
        proposal = _state_at(log_likelihood, proposal.position + step * p)
        if i < leapfrog - 1:
            p = p - step * (proposal.position - beta * proposal.gradient)
    p = p - 0.5 * step * (proposal.position - beta * proposal.gradient)
    new_energy = 0.5 * (proposal.position ** 2).sum(-1) - beta * proposal.log_likelihood
    log_accept = ((energy + 0.5 * (momentum ** 2).sum(-1))
                  - (new_energy + 0.5 * (p ** 2).sum(-1)))
    uniform = torch.rand(log_accept.shape, generator=generator, dtype=z.dtype, device=z.device)
    accept = torch.log(uniform) < torch.nan_to_num(log_accept, nan=-math.inf)
    keep = accept.unsqueeze(-1)
    return HMCState(torch.where(keep, proposal.position, z),
                    torch.where(accept, proposal.log_likelihood, ll),
                    torch.where(keep, proposal.gradient, g)), accept


def annealed_importance_sampling(
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    betas: torch.Tensor,
    *,
    step_size: float = 0.1,
    leapfrog: int = 10,
    target_accept: float = 0.65,
    generator: torch.Generator | None = None,
    progress: bool = False,
    validate: bool | None = None,
) -> AISResult:
    r"""AIS along ``betas`` (float64, from 0 to 1 for a forward run, from 1 to 0 for a reverse
    one; :func:`sigmoid_schedule`) from the chains ``z0`` (chains, *batch, L): prior draws for
    a forward run, exact posterior draws for a reverse one. Returns an :class:`AISResult`:
    forward, a stochastic lower bound on log p(x); reverse, a stochastic upper bound. See the
    module for the recursion, the HMC transitions and the step-size adaptation."""
    if should_validate(validate):
        check_callable("log_likelihood", log_likelihood)
        check_float_tensor("z0", z0)
        if z0.dim() < 2 or z0.numel() == 0:
            raise ValueError(f"z0 must be (chains, *batch, L) with at least one chain, data "
                             f"point and latent, got shape {list(z0.shape)}")
        check_float_tensor("betas", betas)
        if betas.dim() != 1 or len(betas) < 2 or len(betas) > MAX_AIS_STEPS + 1:
            raise ValueError(f"betas must be a schedule of 2 to {MAX_AIS_STEPS + 1} values, "
                             f"got shape {list(betas.shape)}")
        b = betas.to(torch.float64)
        ends = {round(b[0].item(), 12), round(b[-1].item(), 12)}
        if ends != {0.0, 1.0} or not (bool((b.diff() >= 0).all())
                                      or bool((b.diff() <= 0).all())):
            raise ValueError("betas must run monotonically from 0 to 1 (forward AIS) or from 1 "
                             f"to 0 (reverse), got {b[0].item():g} ... {b[-1].item():g}")
        check_number("step_size", step_size, minimum=0.0, exclusive=True)
        check_count("leapfrog", leapfrog, maximum=1000)
        check_number("target_accept", target_accept, minimum=0.0, exclusive=True, maximum=1.0)
        check_generator("generator", generator)
    from tqdm import tqdm

    b = betas.to(torch.float64)
    z = z0.detach()
    log_w = torch.zeros(z.shape[:-1], dtype=torch.float64, device=z.device)
    step = torch.full(z.shape[1:-1] + (1,), step_size, dtype=z.dtype, device=z.device)
    accepted = 0.0
    with torch.no_grad():
        ll = log_likelihood(z)
        if not isinstance(ll, torch.Tensor) or ll.shape != z.shape[:-1]:
            raise ValueError(f"log_likelihood(z) must return one value per chain and data "
                             f"point, shape {list(z.shape[:-1])}, got "
                             f"{list(getattr(ll, 'shape', [type(ll).__name__]))}")
        state = _state_at(log_likelihood, z)
        for t in tqdm(range(1, len(b)), desc="AIS", unit="step", disable=not progress):
            log_w += (b[t] - b[t - 1]).item() * state.log_likelihood.double()
            state, acc = _hmc(state, b[t].item(), log_likelihood, step, leapfrog, generator)
            rate = acc.to(z.dtype).mean(0).unsqueeze(-1)  # per data point, over chains
            step = torch.where(rate > target_accept, step * 1.02, step * 0.98)
            accepted += rate.mean().item()
        z = state.position
    acc_ = LogMeanExpAccumulator()
    acc_.update(log_w)
    est = acc_.result()
    if b[0] > b[-1]:  # reverse: log_w estimates log(1/p(x)); minus it is the upper bound
        est = MonteCarloEstimate(-est.estimate, est.stderr, est.n, est.ess)
    return AISResult(log_w, est, accepted / (len(b) - 1), z)


@dataclass
class AISBounds:
    """Forward AIS (a stochastic lower bound on log p(x)) and, where exact posterior draws were
    given, reverse AIS (an upper bound), per example."""

    lower: AISResult
    upper: AISResult | None


def ais_bounds(model: LatentVariableModel, x: torch.Tensor, *, steps: int = 1000,
               chains: int = 16, leapfrog: int = 10, step_size: float = 0.05,
               z_posterior: torch.Tensor | None = None, latent: int | None = None,
               dtype: torch.dtype | None = None, generator: torch.Generator | None = None,
               progress: bool = False, validate: bool | None = None) -> AISBounds:
    """AIS from the prior to the posterior of each x (B, D) along a sigmoid schedule of
    ``steps``, ``chains`` chains each, for any latent-variable model (its ``prior`` and
    ``log_likelihood``: :mod:`elbolab.posterior`); with ``z_posterior`` (B, L) — exact posterior
    draws, as :func:`elbolab.parts.inference_gaps.simulate` returns — also the reverse chain
    from them (one per example, the BDMC upper bound). The model's parameters are held fixed.
    ``latent`` and ``dtype``: the latent units and the chains' dtype (by default, those of the
    model's posterior of one example)."""
    if should_validate(validate):
        check_count("chains", chains)
    schedule = sigmoid_schedule(steps)  # checks steps
    if latent is None or dtype is None:
        with torch.no_grad():
            q = model.posterior(x[:1])
        latent, dtype = latent or q.latent, dtype or q.dtype
    ll = lambda z: model.log_likelihood(x, z)  # noqa: E731
    z0 = model.prior.sample((chains, len(x)), latent, generator=generator, dtype=dtype,
                            device=x.device)
    lower = annealed_importance_sampling(ll, z0, schedule, step_size=step_size,
                                         leapfrog=leapfrog, generator=generator,
                                         progress=progress, validate=validate)
    upper = None
    if z_posterior is not None:
        upper = annealed_importance_sampling(ll, z_posterior[None].to(dtype),
                                             schedule.flip(0),
                                             step_size=step_size, leapfrog=leapfrog,
                                             generator=generator, progress=progress,
                                             validate=validate)
    return AISBounds(lower, upper)


__all__ = ["MAX_AIS_STEPS", "SIGMOID_DELTA", "AISBounds", "AISResult", "ais_bounds",
           "annealed_importance_sampling", "sigmoid_schedule"]
