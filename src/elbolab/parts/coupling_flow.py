r"""A normalizing flow for densities: affine coupling layers (Dinh, Sohl-Dickstein & Bengio
2017, "Real NVP"), and uniform dequantization of discrete data.

Change of variables: for an invertible, differentiable :math:`z = f(x)` and a base density
:math:`p_Z = \mathcal N(0, I)`,

.. math:: \log p_X(x) = \log p_Z(f(x)) + \log\left|\det \frac{\partial f}{\partial x}\right|,

**exact**: no latent to integrate, no bound. A coupling layer (Dinh et al. 2017, Eqs. 4–6)
keeps the masked coordinates and moves the others by an affine map whose scale and shift
depend on the kept ones only, :math:`y = x \odot e^{s(x_A)} + t(x_A)` off the mask, so its
Jacobian is triangular and :math:`\log|\det| = \sum s`. :class:`LogitTransform` maps data in a
box to the real line first (their §4.1), with its own log-determinant.

**Dequantization** (Theis, van den Oord & Bethge 2016; Ho et al. 2019): a density on
:math:`\mathbb R^D` gives discrete data x ∈ ℤ^D the probability
:math:`P(x) = \int_{[0,1)^D} p(x + u)\,du`, and Jensen's inequality makes
:math:`\mathbb E_{u\sim U[0,1)^D}[\log p(x+u)] \le \log P(x)` — the ELBO of chapter 3 with
the uniform distribution as q(u | x). With k draws,
:math:`\log\frac1k\sum_j p(x + u_j)` is the IWAE bound of the same pair (Burda et al. 2016,
Thm. 1): it rises with k towards log P(x) (:func:`dequantized_log_likelihood`). In two
dimensions both sides are integrals over a unit cell (:func:`cell_log_probability`), so the
gap is measured exactly.

Shapes: x (batch, D); log-densities (batch,), nats.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..checks import (
    MAX_DRAWS,
    MAX_WIDTH,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
)
from ..densities import LOG_2PI, log_mean_exp

# The coupling's log-scale is bounded, s = S·tanh(raw/S): an unbounded exp(s) can overflow in
# the first steps of training, and e^±3 per layer is ample for images.
MAX_LOG_SCALE = 3.0
# Gauss–Legendre nodes per axis times the cell dimension: 1e6 density evaluations at most.
MAX_CELL_EVALUATIONS = 10**6


class AffineCoupling(nn.Module):
    r"""y = x on the mask; :math:`y = x\odot e^{s(x_A)} + t(x_A)` off it, with (s, t) from an
    MLP of the masked input x_A = x ⊙ mask. Starts at the identity (last layer zero)."""

    def __init__(self, mask: torch.Tensor, hidden: int = 256):
        super().__init__()
        check_count("hidden", hidden, maximum=MAX_WIDTH)
        mask = torch.as_tensor(mask, dtype=torch.float32)
        dim = mask.numel()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.net(kept).chunk(2, -1)
        free = 1 - self.mask
        return MAX_LOG_SCALE * torch.tanh(raw_s / MAX_LOG_SCALE) * free, t * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._scale_shift(x * self.mask)
        return x * torch.exp(s) + t, s.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._scale_shift(y * self.mask)
        return (y - t) * torch.exp(-s)


class LogitTransform(nn.Module):
    r"""Data in the box (0, width)^D to ℝ^D: :math:`v = \alpha + (1-2\alpha)\,y/w`,
    :math:`z = \log v - \log(1-v)`; :math:`\log|\det| = \sum_d \log\frac{1-2\alpha}{w}
    - \log v_d - \log(1 - v_d)` (Dinh et al. 2017, §4.1, α keeping v off 0 and 1)."""

    def __init__(self, width: float = 1.0, alpha: float = 0.05):
        super().__init__()
        check_number("width", width, minimum=0.0, exclusive=True)
        check_number("alpha", alpha, minimum=0.0, maximum=0.5, exclusive=True)
        self.width, self.alpha = float(width), float(alpha)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.alpha + (1 - 2 * self.alpha) * y / self.width
        log_v, log_1mv = torch.log(v), torch.log1p(-v)
        logdet = (math.log((1 - 2 * self.alpha) / self.width) - log_v - log_1mv).sum(-1)
        return log_v - log_1mv, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(z) - self.alpha) / (1 - 2 * self.alpha) * self.width


def coupling_masks(dim: int, layers: int) -> list[torch.Tensor]:
    """Alternating masks: even/odd coordinates, then first/second half, each followed by its
    complement, so that every coordinate is moved by every other within four layers."""
    index = torch.arange(dim)
    patterns = [(index % 2 == 0), (index < dim // 2)]
    masks = []
    for k in range(layers):
        m = patterns[(k // 2) % 2]
        masks.append((m if k % 2 == 0 else ~m).float())
    return masks


class CouplingFlow(nn.Module):
    r"""z = f(x): an optional :class:`LogitTransform`, then ``layers`` affine couplings;
    :meth:`log_prob` is the exact change of variables against :math:`\mathcal N(0, I)`."""

    def __init__(self, dim: int, layers: int = 8, hidden: int = 256,
                 preprocess: LogitTransform | None = None):
        super().__init__()
        check_count("dim", dim, minimum=2, maximum=MAX_WIDTH)
        check_count("layers", layers, maximum=1_000)
        self.dim = dim
        self.preprocess = preprocess
        self.couplings = nn.ModuleList(AffineCoupling(m, hidden)
                                       for m in coupling_masks(dim, layers))

    def _check_x(self, name: str, x: torch.Tensor) -> None:
        check_float_tensor(name, x)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{name} must be (batch, {self.dim}), got {list(x.shape)}")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, log|det ∂z/∂x|), shapes (batch, D) and (batch,)."""
        self._check_x("x", x)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` without the checks, for :meth:`log_prob`, which made its own."""
        logdet = x.new_zeros(x.shape[0])
        if self.preprocess is not None:
            x, ld = self.preprocess(x)
            logdet = logdet + ld
        for layer in self.couplings:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        self._check_x("z", z)
        for layer in reversed(self.couplings):
            z = layer.inverse(z)
        return self.preprocess.inverse(z) if self.preprocess is not None else z

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log\mathcal N(f(x); 0, I) + \log|\det\partial f/\partial x|`, (batch,),
        nats; −inf outside the preprocessing box (a density that is zero there)."""
        self._check_x("x", x)
        if self.preprocess is not None:
            inside = ((x > 0) & (x < self.preprocess.width)).all(-1)
            x = torch.where(inside[:, None], x, torch.full_like(x, self.preprocess.width / 2))
        z, logdet = self._forward(x)
        lp = -0.5 * (z.square().sum(-1) + self.dim * LOG_2PI) + logdet
        return lp if self.preprocess is None else lp.masked_fill(~inside, -math.inf)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws x = f⁻¹(z), z ~ N(0, I): one inverse pass."""
        check_count("n", n, maximum=MAX_DRAWS)
        check_generator("generator", generator)
        p = next(self.parameters())
        z = torch.randn(n, self.dim, generator=generator, dtype=p.dtype, device=p.device)
        return self.inverse(z)


def flow_jacobian(flow: CouplingFlow, x: torch.Tensor) -> torch.Tensor:
    """∂f/∂x at one point x (D,) by autograd, (D, D): the independent answer the flow's own
    log|det| is held against (``torch.linalg.slogdet`` of it)."""
    if not isinstance(flow, CouplingFlow):
        raise TypeError(f"flow must be a CouplingFlow, got {type(flow).__name__}")
    check_float_tensor("x", x)
    if x.shape != (flow.dim,):
        raise ValueError(f"x must be one point of shape ({flow.dim},), got {list(x.shape)}")
    return torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x)


def dequantized_log_likelihood(log_prob: Callable[[torch.Tensor], torch.Tensor],
                               x: torch.Tensor, k: int = 1,
                               generator: torch.Generator | None = None) -> torch.Tensor:
    r""":math:`\log\frac1k\sum_{j=1}^k p(x + u_j)`, :math:`u_j\sim U[0,1)^D`, per example
    (batch,), nats: a stochastic lower bound on the discrete :math:`\log P(x)`; k = 1 is the
    Jensen bound :math:`\mathbb E_u\log p(x+u)`, and its expectation rises with k."""
    check_float_tensor("x", x)
    check_count("k", k, maximum=MAX_WIDTH)
    check_generator("generator", generator)
    if x.dim() != 2:
        raise ValueError(f"x must be (batch, D), got {list(x.shape)}")
    u = torch.rand((k, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    lp = log_prob((x[None] + u).reshape(-1, x.shape[1])).reshape(k, x.shape[0])
    return log_mean_exp(lp, 0, validate=False)


def cell_log_probability(log_prob: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         nodes: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    r"""(log P(x), E_u log p(x + u)) for each point x (batch, D) of a lattice, both integrals
    over the unit cell :math:`[0,1)^D` by a tensor-product Gauss–Legendre rule of ``nodes``
    per axis (float64 weights; exact for polynomials of degree 2·nodes − 1 per axis, so the
    error is far below the Monte Carlo noise of any sampled bound for a smooth density). The
    dequantization gap is their difference, :math:`\mathrm{KL}(U\,\|\,p(u\mid x)) \ge 0`."""
    check_float_tensor("x", x)
    if x.dim() != 2:
        raise ValueError(f"x must be (batch, D), got {list(x.shape)}")
    check_count("nodes", nodes, maximum=1_000)
    dim = x.shape[1]
    if nodes ** dim > MAX_CELL_EVALUATIONS:
        raise ValueError(f"{nodes}^{dim} nodes per cell is too many to integrate (at most "
                         f"{MAX_CELL_EVALUATIONS:,}): use fewer nodes or a lower dimension")
    t, w = np.polynomial.legendre.leggauss(nodes)
    t = torch.as_tensor((t + 1) / 2, dtype=x.dtype, device=x.device)
    w = torch.as_tensor(w / 2, dtype=torch.float64, device=x.device)
    grid = torch.stack(torch.meshgrid(*[t] * dim, indexing="ij"), -1).reshape(-1, dim)
    weight = torch.ones((), dtype=torch.float64, device=x.device)
    for _ in range(dim):
        weight = (weight[..., None] * w).reshape(-1)
    lp = log_prob((x[:, None, :] + grid[None]).reshape(-1, dim)).reshape(len(x), -1).double()
    log_cell = torch.logsumexp(lp + weight.log(), -1)
    expected = (lp * weight).sum(-1)
    return log_cell, expected


__all__ = ["AffineCoupling", "CouplingFlow", "LogitTransform", "MAX_LOG_SCALE",
           "cell_log_probability", "coupling_masks", "dequantized_log_likelihood",
           "flow_jacobian"]
