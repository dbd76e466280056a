r"""An autoregressive model of binary vectors: MADE (Germain, Gregor, Murray & Larochelle 2015).

The product rule writes any distribution as a chain of conditionals,

.. math:: \log p(x) = \sum_{d=1}^{D} \log p\big(x_{o_d}\mid x_{o_1},\dots,x_{o_{d-1}}\big),

for an ordering o of the D dimensions. MADE computes all D Bernoulli logits in one pass of an
MLP whose weights are masked so that output :math:`o_d` depends only on inputs
:math:`o_{<d}` (Germain et al. 2015, Eqs. 12–13: every unit k of a hidden layer gets a degree
m(k) ∈ {1, …, D − 1}; a weight from unit j to hidden unit k is kept iff m(k) ≥ m(j), to output
d iff m⁰(d) > m(k), m⁰ the ordering's ranks). The likelihood is then **exact** — no latent,
no bound — and costs one pass; sampling costs D passes, one dimension at a time.

Shapes: x (batch, D) of 0/1 values in a float dtype; log-probabilities (batch,), nats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import MAX_DRAWS, MAX_WIDTH, check_count, check_float_tensor, check_generator
from ..densities import all_binary_vectors, bernoulli_log_prob


def made_degrees(dim: int, hidden: tuple[int, ...], order: torch.Tensor | None = None
                 ) -> list[torch.Tensor]:
    """The degrees of every layer: the inputs' are the ranks 1…D of ``order`` (default the
    natural order), each hidden layer's cycle through 1…D − 1 (every degree used, as evenly as
    the width allows; Germain et al. draw them at random, which changes nothing here)."""
    check_count("dim", dim, minimum=2, maximum=MAX_WIDTH)
    if order is None:
        order = torch.arange(dim)
    if (not isinstance(order, torch.Tensor) or order.shape != (dim,)
            or not torch.equal(torch.sort(order).values, torch.arange(dim))):
        raise ValueError(f"order must be a permutation of 0…{dim - 1} (a tensor of shape "
                         f"({dim},)), got {order!r}")
    degrees = [torch.empty(dim, dtype=torch.long)]
    degrees[0][order] = torch.arange(1, dim + 1)
    for width in hidden:
        check_count("hidden width", width, maximum=MAX_WIDTH)
        degrees.append(1 + torch.arange(width) % (dim - 1))
    return degrees


def made_masks(degrees: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(hidden masks, output mask) for the degrees of :func:`made_degrees`, each (out, in) as
    ``nn.Linear`` stores its weight: hidden k ← j iff m(k) ≥ m(j); output d ← k iff
    m⁰(d) > m(k)."""
    hidden = [(degrees[i + 1][:, None] >= degrees[i][None, :]).float()
              for i in range(len(degrees) - 1)]
    output = (degrees[0][:, None] > degrees[-1][None, :]).float()
    return hidden, output


class MADE(nn.Module):
    r"""A Bernoulli MADE: ``hidden`` ReLU layers, masked, and a direct masked input→output
    connection (Germain et al. 2015, §4.2's "direct connection"), so that even a narrow network
    can express the first-order dependencies. ``logits(x)`` gives all D conditionals' logits
    in one pass; ``log_prob(x)`` the exact :math:`\log p(x)`; ``sample`` draws D passes."""

    def __init__(self, dim: int, hidden: tuple[int, ...] = (500,),
                 order: torch.Tensor | None = None, direct: bool = True):
        super().__init__()
        hidden = tuple(hidden)
        degrees = made_degrees(dim, hidden, order)
        hidden_masks, output_mask = made_masks(degrees)
        self.dim, self.hidden = dim, hidden
        widths = (dim, *hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b)
                                    for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.output = nn.Linear(widths[-1], dim)
        self.direct = nn.Linear(dim, dim, bias=False) if direct else None
        for i, mask in enumerate(hidden_masks):
            self.register_buffer(f"mask{i}", mask)
        self.register_buffer("output_mask", output_mask)
        self.register_buffer("direct_mask", (degrees[0][:, None] > degrees[0][None, :]).float())
        self.register_buffer("order", torch.argsort(degrees[0]))

    def _check_x(self, x: torch.Tensor) -> None:
        check_float_tensor("x", x)
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must be (batch, {self.dim}), got {list(x.shape)}")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The D conditionals' Bernoulli logits, (batch, D): logit d is a function of the
        inputs before d in the ordering only."""
        self._check_x(x)
        return self._logits(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`logits` without the checks, for callers that checked ``x`` or made it."""
        h = x
        for i, layer in enumerate(self.layers):
            h = F.relu(F.linear(h, layer.weight * getattr(self, f"mask{i}"), layer.bias))
        out = F.linear(h, self.output.weight * self.output_mask, self.output.bias)
        if self.direct is not None:
            out = out + F.linear(x, self.direct.weight * self.direct_mask)
        return out

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""Exact :math:`\log p(x)=\sum_d \log\mathrm{Bernoulli}(x_d;\sigma(\ell_d(x_{<d})))`,
        (batch,), nats. ``x`` must be binary (a Bernoulli of a grey level is not normalized)."""
        self._check_x(x)
        if ((x != 0) & (x != 1)).any():
            raise ValueError("x must be binary (0 or 1): MADE's Bernoulli likelihood is a "
                             "probability only for binary vectors")
        return bernoulli_log_prob(x, self._logits(x), validate=False).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws, (n, D), one dimension at a time in the model's order (D passes)."""
        check_count("n", n, maximum=MAX_DRAWS)
        check_generator("generator", generator)
        p = next(self.parameters())
        x = torch.zeros(n, self.dim, dtype=p.dtype, device=p.device)
        for d in self.order.tolist():
            u = torch.rand(n, generator=generator, dtype=p.dtype, device=p.device)
            x[:, d] = (u < torch.sigmoid(self._logits(x)[:, d])).to(p.dtype)
        return x


def total_log_probability(model: MADE) -> float:
    r""":math:`\log\sum_{x\in\{0,1\}^D} p(x)` by enumerating all 2^D vectors (D ≤
    :data:`~elbolab.densities.MAX_ENUMERATE_DIM`): 0 for a normalized model, up to float
    rounding (log-sum-exp of 2^D terms: about 2^D·ε relative at worst, far less in
    practice)."""
    if not isinstance(model, MADE):
        raise TypeError(f"model must be a MADE, got {type(model).__name__}")
    p = next(model.parameters())
    with torch.no_grad():
        lp = model.log_prob(all_binary_vectors(model.dim, p.dtype).to(p.device))
    return torch.logsumexp(lp, 0).item()


def logit_jacobian(model: MADE, x: torch.Tensor) -> torch.Tensor:
    """∂ℓ_i/∂x_j at one point x (D,) by autograd, (D, D), rows and columns in the data's
    index (not the ordering's). The autoregressive property is that entry (i, j) is exactly 0
    whenever j does not come before i in the ordering."""
    if not isinstance(model, MADE):
        raise TypeError(f"model must be a MADE, got {type(model).__name__}")
    check_float_tensor("x", x)
    if x.shape != (model.dim,):
        raise ValueError(f"x must be one point of shape ({model.dim},), got {list(x.shape)}")
    return torch.autograd.functional.jacobian(lambda v: model.logits(v[None])[0], x)


def forbidden_dependencies(model: MADE) -> torch.Tensor:
    """The (D, D) boolean mask of entries (i, j) of :func:`logit_jacobian` that the ordering
    forbids: j at or after i."""
    rank = torch.empty(model.dim, dtype=torch.long)
    rank[model.order.cpu()] = torch.arange(model.dim)
    return rank[None, :] >= rank[:, None]


__all__ = ["MADE", "forbidden_dependencies", "logit_jacobian", "made_degrees", "made_masks",
           "total_log_probability"]
