r"""Diffusion on binary data: every term of the bound a KL between Bernoullis.

The forward process keeps each bit with probability :math:`1-\beta_t` and otherwise redraws it
uniformly (multinomial diffusion with two categories, Hoogeboom et al. 2021, Eqs. 10–13; the
binomial diffusion of Sohl-Dickstein et al. 2015 in the same spirit):

.. math:: q(x_t=1\mid x_{t-1}) = \alpha_t x_{t-1} + \tfrac{1-\alpha_t}2,\qquad
          q(x_t=1\mid x_0) = \bar\alpha_t x_0 + \tfrac{1-\bar\alpha_t}2,

with the :class:`~elbolab.diffusion.NoiseSchedule`'s :math:`\alpha_t = 1-\beta_t` and
:math:`\bar\alpha_t`, so :math:`x_T` is nearly a fair coin. The posterior is Bayes' rule on
two categories, :math:`q(x_{t-1}=c\mid x_t,x_0)\propto q(x_t\mid x_{t-1}=c)\,q(x_{t-1}=c\mid
x_0)`, and the reverse model puts the network's prediction :math:`\hat x_0 = \sigma(f_\theta
(x_t, t))` (a probability) in place of :math:`x_0` (their Eq. 13). The bound is chapter 7's
with Bernoulli KLs in place of Gaussian ones:

.. math:: -\log p_\theta(x_0) \le
          \underbrace{\mathrm{KL}(q(x_T\mid x_0)\,\|\,\mathrm{B}(\tfrac12))}_{L_T}
          + \sum_{t=2}^T \mathbb E_q\,\underbrace{\mathrm{KL}\big(q(x_{t-1}\mid x_t,x_0)\,\|\,
          p_\theta(x_{t-1}\mid x_t)\big)}_{L_{t-1}}
          \underbrace{- \mathbb E_q\log p_\theta(x_0\mid x_1)}_{L_0},

every term exact given its :math:`x_t`, each summed over the D bits; nats. For a few bits the
model's own :math:`\log p_\theta(x_0)` is exact too: the reverse chain is a product of
:math:`2^D\times2^D` transition matrices (:func:`exact_log_likelihood`).

Shapes: x (batch, D) of 0/1 values; probabilities in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..checks import (
    MAX_DRAWS,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
)
from ..densities import F64, LN2, all_binary_vectors, bernoulli_log_prob
from .ddpm import DDPMResult, EpsilonMLP, check_training, train_steps
from .process import DiffusionBound
from .schedules import NoiseSchedule, cosine_schedule

# enumerating 2^D states with 2^D × 2^D transition matrices: D = 12 is 16M entries per step
MAX_EXACT_DIM = 12
# the exact chain takes logs of probabilities: a saturated float64 sigmoid can return 0 or 1
# exactly, and log(0) would poison a whole row of the matrix product; e^-690 is far below any
# probability a path can carry and changes no sum
PROB_FLOOR = 1e-300


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathrm B(p)\,\|\,\mathrm B(q)) = p\log\frac pq
    + (1-p)\log\frac{1-p}{1-q}`, elementwise, nats; 0·log 0 = 0 (``xlogy``), so p may be 0 or
    1 exactly; q must lie strictly inside (0, 1) where p does not vanish."""
    return (torch.xlogy(p, p) - torch.xlogy(p, q) + torch.xlogy(1 - p, 1 - p)
            - torch.xlogy(1 - p, 1 - q))


def q_bit_prob(x0: torch.Tensor, t: int, schedule: NoiseSchedule) -> torch.Tensor:
    r""":math:`q(x_t=1\mid x_0) = \bar\alpha_t x_0 + (1-\bar\alpha_t)/2` (float64); ``x0`` may
    be a probability (the expectation over a Bernoulli x_0)."""
    ab = schedule.alpha_bar[t]  # ᾱ_0 = 1: q(x_0 = 1 | x_0) = x_0
    return ab * x0.to(F64) + (1 - ab) / 2


def posterior_bit_prob(x0: torch.Tensor, xt: torch.Tensor, t: int,
                       schedule: NoiseSchedule) -> torch.Tensor:
    r""":math:`q(x_{t-1}=1\mid x_t, x_0)` for t ≥ 2 by Bayes' rule on the two categories
    (Hoogeboom et al. 2021, Eq. 13); ``x0`` a bit or a predicted probability (then this is
    :math:`p_\theta(x_{t-1}=1\mid x_t)`). Float64."""
    if not 2 <= t <= schedule.T:
        raise ValueError(f"t must be in 2…{schedule.T} (L_0 has its own term), got {t}")
    a = 1 - schedule.betas[t]
    xt = xt.to(F64)
    like1 = a * xt + (1 - a) / 2            # q(x_t | x_{t−1} = 1)
    like0 = a * (1 - xt) + (1 - a) / 2      # q(x_t | x_{t−1} = 0)
    prior1 = q_bit_prob(x0, t - 1, schedule)  # q(x_{t−1} = 1 | x_0)
    theta1, theta0 = like1 * prior1, like0 * (1 - prior1)
    return theta1 / (theta1 + theta0)


class BinaryDiffusion(nn.Module):
    r"""The reverse model: a network (an :class:`~elbolab.diffusion.EpsilonMLP`, its output
    read as the logits of :math:`\hat x_0`) fed :math:`2x_t-1` and t; ``bound`` every term of
    the bound per example, ``loss`` its unbiased one-step estimate, ``sample`` ancestral
    draws."""

    def __init__(self, net: nn.Module, schedule: NoiseSchedule):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be an nn.Module, got {type(net).__name__}")
        self.net, self.schedule = net, schedule
        self.dim = net.dim

    def _check_bits(self, name: str, x: torch.Tensor) -> None:
        check_float_tensor(name, x)
        if x.dim() != 2 or x.shape[1] != self.dim or len(x) == 0:
            raise ValueError(f"{name} must be (batch >= 1, {self.dim}), got {list(x.shape)}")
        if ((x != 0) & (x != 1)).any():
            raise ValueError(f"{name} must be binary (0 or 1)")

    def x0_logits(self, xt: torch.Tensor, t: int) -> torch.Tensor:
        r"""The logits of :math:`\hat x_0`, (batch, D), float64: the evidence of each bit of
        x_t alone, :math:`(2x_t-1)\log\frac{1+\bar\alpha_t}{1-\bar\alpha_t}` (the exact
        logit of x_0 under a fair-coin prior), plus the network's :math:`f_\theta(x_t, t)`,
        which so learns only what the other bits add. Without the first term a network
        narrower than D cannot even copy x_1 to x_0, and L_0 stays tens of nats."""
        dtype = next(self.net.parameters()).dtype
        sign = 2 * xt - 1
        log_ab = self.schedule.log_alpha_bar[t]
        evidence = torch.log1p(torch.exp(log_ab)) - torch.log(-torch.expm1(log_ab))
        return self.net(sign.to(dtype), t).to(F64) + evidence * sign.to(F64)

    def x0_prob(self, xt: torch.Tensor, t: int) -> torch.Tensor:
        r""":math:`\hat x_0 = \sigma(f_\theta(x_t, t))`, (batch, D), float64."""
        return torch.sigmoid(self.x0_logits(xt, t))

    def reverse_bit_prob(self, xt: torch.Tensor, t: int) -> torch.Tensor:
        r""":math:`p_\theta(x_{t-1}=1\mid x_t)` for t ≥ 2; for t = 1, :math:`\hat x_0`."""
        pi = self.x0_prob(xt, t)
        return pi if t == 1 else posterior_bit_prob(pi, xt, t, self.schedule)

    def _q_sample(self, x0: torch.Tensor, t: int, generator) -> torch.Tensor:
        p = q_bit_prob(x0, t, self.schedule)
        u = torch.rand(p.shape, generator=generator, dtype=F64, device=p.device)
        return (u < p).to(x0.dtype)

    def _term(self, x0: torch.Tensor, t: int, generator, return_xt: bool = False):
        """L_{t−1} for one draw x_t ~ q(x_t | x_0) per example (t = 1: L_0), (batch,)."""
        xt = self._q_sample(x0, t, generator)
        if t == 1:
            term = -bernoulli_log_prob(x0.to(F64), self.x0_logits(xt, 1),
                                       validate=False).sum(-1)
        else:
            post = posterior_bit_prob(x0, xt, t, self.schedule)
            term = bernoulli_kl(post, self.reverse_bit_prob(xt, t)).sum(-1)
        return (term, xt) if return_xt else term

    def prior_term(self, x0: torch.Tensor) -> torch.Tensor:
        """L_T = KL(q(x_T | x_0) ‖ B(½)) summed over bits, (batch,)."""
        p = q_bit_prob(x0, self.schedule.T, self.schedule)
        return bernoulli_kl(p, torch.full_like(p, 0.5)).sum(-1)

    def loss(self, x0: torch.Tensor, generator: torch.Generator | None = None, *,
             aux_weight: float = 0.0) -> torch.Tensor:
        """T · L_{t−1} with t uniform in 1…T, one draw per example: an unbiased estimate of
        Σ_t L_{t−1} (the part of the bound the network can lower), plus ``aux_weight`` ×
        −log p̂(x_0 | x_t) at the same x_t; (batch,)."""
        self._check_bits("x0", x0)
        check_generator("generator", generator)
        t = int(torch.randint(1, self.schedule.T + 1, (), generator=generator))
        term, xt = self._term(x0, t, generator, return_xt=True)
        if aux_weight == 0:
            return self.schedule.T * term
        ce = -bernoulli_log_prob(x0.to(F64), self.x0_logits(xt, t), validate=False).sum(-1)
        return self.schedule.T * term + aux_weight * ce

    def bound(self, x0: torch.Tensor, generator: torch.Generator | None = None
              ) -> DiffusionBound:
        """Every term of the bound, one draw of x_t per example and t: T network passes."""
        self._check_bits("x0", x0)
        check_generator("generator", generator)
        with torch.no_grad():
            cols = [self._term(x0, t, generator) for t in range(1, self.schedule.T + 1)]
            cols.append(self.prior_term(x0))
        return DiffusionBound(torch.stack(cols, -1), self.dim)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral draws: x_T ~ B(½)^D, x_{t−1} ~ p_θ(x_{t−1}|x_t), x_0 ~ B(x̂_0(x_1));
        (n, D) of 0/1 in the network's dtype."""
        check_count("n", n, maximum=MAX_DRAWS)
        check_generator("generator", generator)
        param = next(self.net.parameters())
        dtype, device = param.dtype, param.device
        x = (torch.rand(n, self.dim, generator=generator, device=device) < 0.5).to(dtype)
        for t in range(self.schedule.T, 0, -1):
            p = self.reverse_bit_prob(x, t)
            x = (torch.rand(p.shape, generator=generator, dtype=F64, device=device) < p).to(dtype)
        return x


@torch.no_grad()
def exact_log_likelihood(model: BinaryDiffusion) -> torch.Tensor:
    r"""The model's exact :math:`\log p_\theta(x_0)` for every x_0 ∈ {0,1}^D (D ≤
    :data:`MAX_EXACT_DIM`), (2^D,) indexed like :func:`~elbolab.densities.all_binary_vectors`:
    the reverse chain :math:`p(x_T)\prod_{t\ge2}p_\theta(x_{t-1}\mid x_t)\,p_\theta(x_0\mid
    x_1)` summed over every path by :math:`2^D\times2^D` matrix products, in log space
    (float64)."""
    if not isinstance(model, BinaryDiffusion):
        raise TypeError(f"model must be a BinaryDiffusion, got {type(model).__name__}")
    check_count("model.dim", model.dim, maximum=MAX_EXACT_DIM)
    states = all_binary_vectors(model.dim)
    log_v = torch.full((len(states),), -model.dim * LN2, dtype=F64)  # p(x_T): fair coins

    def log_transition(p1: torch.Tensor) -> torch.Tensor:
        # [s, s'] = log p(next = s' | current = s), p1 (2^D, D) the bits' probabilities
        return (torch.log(p1) @ states.T + torch.log1p(-p1) @ (1 - states).T)

    for t in range(model.schedule.T, 0, -1):
        log_m = log_transition(model.reverse_bit_prob(states, t)
                               .clamp(PROB_FLOOR, 1 - torch.finfo(F64).eps))
        log_v = torch.logsumexp(log_v[:, None] + log_m, 0)
    return log_v


def train_binary_diffusion(data: torch.Tensor, *, schedule: NoiseSchedule | None = None,
                           steps: int = 5_000, batch_size: int = 128, lr: float = 1e-3,
                           hidden: int = 512, depth: int = 3, seed: int = 0,
                           aux_weight: float = 1.0,
                           transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
                           | None = None, device: str | torch.device = "cpu",
                           progress: bool = False) -> DDPMResult:
    r"""Train a :class:`BinaryDiffusion` on ``data`` (N, D) with Adam on
    :meth:`BinaryDiffusion.loss` plus ``aux_weight`` times the cross-entropy of
    :math:`\hat x_0` at the same x_t (the hybrid loss of Austin et al. 2021, §3: it teaches the
    network to read x_0 off x_t at every t, where the bound's own terms give the small-t steps
    a signal only 1/T of the time); cosine-decayed learning rate; minibatches drawn with
    replacement and passed through ``transform(x, generator)`` (e.g. a fresh binarization of
    grey levels), else ``data`` must be binary. Default schedule: cosine, T = 100. Trains on
    ``device`` (the data moved there, the generator made there)."""
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable, got {type(transform).__name__}")
    check_number("aux_weight", aux_weight, minimum=0.0)
    data, steps, batch_size = check_training(data, steps, batch_size, lr, hidden)
    schedule = schedule or cosine_schedule(100)
    torch.manual_seed(seed)
    model = BinaryDiffusion(EpsilonMLP(data.shape[1], hidden, depth, T=schedule.T),
                            schedule).to(device)
    data = data.to(device)
    gen = torch.Generator(device=data.device).manual_seed(seed)
    losses, seconds = train_steps(model, lambda xb: model.loss(xb, gen,
                                                               aux_weight=aux_weight).mean(),
                                  data, steps=steps, batch_size=batch_size, lr=lr,
                                  generator=gen, desc="binary diffusion", progress=progress,
                                  transform=transform)
    model.eval()
    return DDPMResult(model, losses, seconds)


__all__ = ["MAX_EXACT_DIM", "PROB_FLOOR", "BinaryDiffusion", "bernoulli_kl",
           "exact_log_likelihood", "posterior_bit_prob", "q_bit_prob", "train_binary_diffusion"]

