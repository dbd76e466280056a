r"""A small denoising diffusion model (Ho, Jain & Abbeel 2020) on low-dimensional data.

The network predicts the noise, :math:`\hat\varepsilon_\theta(x_t, t)`, trained on Ho et al.'s
simplified objective :math:`L_\text{simple} = \mathbb E_{t,x_0,\varepsilon}\lVert\varepsilon -
\hat\varepsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\varepsilon, t)\rVert^2`
(their Eq. 14, a reweighted ELBO); the reverse mean follows from the prediction
(:func:`elbolab.diffusion.mean_from_eps`) and the full bound is evaluated with
:func:`elbolab.diffusion.variational_bound`. Data: a ring of Gaussians, whose exact density
(:class:`elbolab.mixture.GaussianMixture`) gives the entropy the bound is held against.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..checks import (
    MAX_DRAWS,
    MAX_LOOP,
    MAX_WIDTH,
    check_choice,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
)
from ..mixture import GaussianMixture
from .process import DiffusionBound, mean_from_eps, variational_bound
from .schedules import MAX_T, VARIANCES, NoiseSchedule, linear_schedule

# An MLP this deep does not train without normalization layers: a deeper one is a typo.
MAX_DEPTH = 1_000


def ring_mixture(k: int = 8, radius: float = 1.0, std: float = 0.08) -> GaussianMixture:
    """k equal-weight isotropic Gaussians evenly spaced on a circle (float64)."""
    k = check_count("k", k, maximum=MAX_DRAWS)
    radius = check_number("radius", radius)
    std = check_number("std", std, minimum=0.0, exclusive=True)
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    means = radius * torch.stack([angles.cos(), angles.sin()], -1)
    return GaussianMixture(torch.full((k,), 1.0 / k, dtype=torch.float64), means,
                           torch.full_like(means, std))


class EpsilonMLP(nn.Module):
    """ε̂(x_t, t): an MLP on [x_t, sinusoidal embedding of t] (Vaswani et al. 2017 features,
    as in Ho et al.'s U-Net), SiLU activations. x_t (B, d), t an int → (B, d)."""

    def __init__(self, dim: int = 2, hidden: int = 128, depth: int = 3, freqs: int = 16,
                 T: int = 1000):
        super().__init__()
        check_count("dim", dim, maximum=MAX_WIDTH)
        check_count("hidden", hidden, maximum=MAX_WIDTH)
        check_count("depth", depth, maximum=MAX_DEPTH)
        check_count("freqs", freqs, maximum=MAX_WIDTH)
        check_count("T", T, maximum=MAX_T)
        self.dim, self.T = dim, T
        self.register_buffer("freqs", torch.exp(-math.log(1000.0) * torch.arange(freqs) / freqs),
                             persistent=False)
        layers: list[nn.Module] = []
        width = dim + 2 * freqs
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        angle = (t.to(self.freqs.dtype) * (1000.0 / self.T)).unsqueeze(-1) * self.freqs
        return torch.cat([angle.sin(), angle.cos()], -1)

    def forward(self, xt: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        t = torch.as_tensor(t, device=xt.device).expand(xt.shape[0])
        return self.net(torch.cat([xt, self.embed(t).to(xt.dtype)], -1))


@dataclass
class DDPMResult:
    """A trained model, its per-step losses and its training time."""

    model: DDPM
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


class DDPM(nn.Module):
    """ε-prediction network + schedule + fixed reverse variance (``"beta"`` or
    ``"posterior"``, :meth:`NoiseSchedule.reverse_logvar`)."""

    def __init__(self, net: nn.Module, schedule: NoiseSchedule, variance: str = "beta"):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be an nn.Module, got {type(net).__name__}")
        check_choice("variance", variance, VARIANCES)
        self.net, self.schedule = net, schedule
        self.register_buffer("logvar", schedule.reverse_logvar(variance).float(),
                             persistent=False)
        self.variance = variance

    def _dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def _check_points(self, name: str, x: torch.Tensor, allow_empty: bool = False) -> None:
        """Points (batch, d): finite, of the network's dtype, at least one unless allowed."""
        check_float_tensor(name, x)
        if x.dtype != self._dtype():
            raise TypeError(f"{name} must have the network's dtype {self._dtype()}, got {x.dtype}")
        d = getattr(self.net, "dim", x.shape[-1] if x.dim() else 0)
        if x.dim() != 2 or x.shape[1] != d or (len(x) == 0 and not allow_empty):
            raise ValueError(f"{name} must be (batch >= 1, {d}), got {list(x.shape)}")

    def loss(self, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """L_simple on a batch: t uniform in 1…T, one ε per example; mean over the batch of the
        summed squared error (per-example sums, as the ELBO's terms are)."""
        self._check_points("x0", x0)
        check_generator("generator", generator)
        sch = self.schedule
        t = torch.randint(1, sch.T + 1, (x0.shape[0],), generator=generator, device=x0.device)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        ab = sch.alpha_bar.to(x0.dtype).to(x0.device)[t].unsqueeze(-1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        return (self.net(xt, t) - eps).square().sum(-1).mean()

    def reverse(self, xt: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of p_θ(x_{t−1}|x_t): a :data:`~elbolab.diffusion.ReverseModel`."""
        t = self.schedule.check_t(t)
        self._check_points("xt", xt, allow_empty=True)
        return self._reverse(xt, t)

    def _reverse(self, xt: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`reverse` without the checks, for the loops that made ``xt`` themselves."""
        eps = self.net(xt, t)
        return mean_from_eps(xt, t, eps, self.schedule), self.logvar[t].to(xt.dtype)

    @torch.no_grad()
    def sample(self, n: int, dim: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Ancestral sampling: x_T ~ N(0, I), then x_{t−1} ~ p_θ(x_{t−1}|x_t); the last step
        returns the mean (no noise), as Ho et al. do."""
        check_count("n", n, maximum=MAX_DRAWS)
        check_count("dim", dim, maximum=MAX_WIDTH)
        if getattr(self.net, "dim", dim) != dim:
            raise ValueError(f"dim must be the network's data dimension {self.net.dim}, got {dim}")
        check_generator("generator", generator)
        if dtype != self._dtype():
            raise TypeError(f"dtype must be the network's {self._dtype()}, got {dtype}")
        x = torch.randn(n, dim, generator=generator, dtype=dtype)
        for t in range(self.schedule.T, 0, -1):
            mean, logvar = self._reverse(x, t)
            if t > 1:
                noise = torch.randn(x.shape, generator=generator, dtype=dtype)
                x = mean + torch.exp(0.5 * logvar) * noise
            else:
                x = mean
        return x

    def bound(self, x0: torch.Tensor, generator: torch.Generator | None = None,
              decoder: str = "continuous", bins: int = 256) -> DiffusionBound:
        """Every term of the variational bound (:func:`~elbolab.diffusion.variational_bound`);
        ``bins`` the discretized decoder's levels (2 for binary data at ±1)."""
        self._check_points("x0", x0)
        return variational_bound(x0, self._reverse, self.schedule, decoder=decoder, bins=bins,
                                 generator=generator)


def check_training(data: torch.Tensor, steps: int, batch_size: int, lr: float, hidden: int
                   ) -> tuple[torch.Tensor, int, int]:
    """The checks every diffusion trainer makes: data (N >= 1, d) as float32, the counts, a
    positive learning rate, the width. Returns (data, steps, batch_size)."""
    data = check_float_tensor("data", data).float()
    if data.dim() != 2 or len(data) == 0:
        raise ValueError(f"data must be (N >= 1, d), got {list(data.shape)}")
    steps = check_count("steps", steps, maximum=MAX_LOOP)
    batch_size = check_count("batch_size", batch_size, maximum=MAX_DRAWS)
    check_number("lr", lr, minimum=0.0, exclusive=True)
    check_count("hidden", hidden, maximum=MAX_WIDTH)
    return data, steps, batch_size


def train_steps(model: nn.Module, loss: Callable[[torch.Tensor], torch.Tensor],
                data: torch.Tensor, *, steps: int, batch_size: int, lr: float,
                generator: torch.Generator, desc: str, progress: bool = False,
                transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
                ) -> tuple[list[float], float]:
    """The diffusion trainers' loop: Adam with a cosine-decayed learning rate on ``loss`` of
    minibatches drawn with replacement from ``data`` (each passed through ``transform(x,
    generator)`` first, when given). Returns (the loss of every step, seconds)."""
    from tqdm import tqdm  # text bars everywhere (no Jupyter widget, no ipywidgets warning)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses: list[float] = []
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc=desc, disable=not progress, mininterval=1.0):
        xb = data[torch.randint(0, len(data), (batch_size,), generator=generator,
                                device=data.device)]
        if transform is not None:
            xb = transform(xb, generator)
        value = loss(xb)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        sched.step()
        losses.append(value.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the {desc} loss became {losses[-1]} at step "
                                     f"{len(losses)}; try a smaller lr (now {lr:g})")
    return losses, time.perf_counter() - start


def train_ddpm(data: torch.Tensor, *, schedule: NoiseSchedule | None = None, steps: int = 10_000,
               batch_size: int = 512, lr: float = 2e-3, hidden: int = 128, seed: int = 0,
               variance: str = "beta", progress: bool = False) -> DDPMResult:
    """Train a :class:`DDPM` with an :class:`EpsilonMLP` on ``data`` (N, d) with Adam and a
    cosine-decayed learning rate; minibatches are drawn with replacement from ``data``."""
    data, steps, batch_size = check_training(data, steps, batch_size, lr, hidden)
    check_choice("variance", variance, VARIANCES)
    schedule = schedule or linear_schedule(1000)
    torch.manual_seed(seed)
    model = DDPM(EpsilonMLP(data.shape[1], hidden, T=schedule.T), schedule, variance)
    gen = torch.Generator().manual_seed(seed)
    losses, seconds = train_steps(model, lambda xb: model.loss(xb, gen), data, steps=steps,
                                  batch_size=batch_size, lr=lr, generator=gen, desc="ddpm",
                                  progress=progress)
    model.eval()
    return DDPMResult(model, losses, seconds)


__all__ = ["MAX_DEPTH", "DDPM", "DDPMResult", "EpsilonMLP", "check_training", "ring_mixture",
           "train_ddpm", "train_steps"]
