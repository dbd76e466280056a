r"""The connections of the handout's last section, measured: GANs as implicit variational
inference, and the tools that put five families of generative models on one binarized MNIST
(a training loop for exact or bounded likelihoods, sampling speed, a held-out discriminator
between a model's samples and the data, a Gaussian diffusion with a two-bin decoder).

A discriminator's logit estimates a density ratio, and the f-GAN objectives (Nowozin, Cseke &
Tomioka 2016, Eq. 4; Nguyen, Wainwright & Jordan 2010) are variational *lower* bounds on
f-divergences, tight exactly when the critic is the true log ratio:

.. math:: \mathrm{KL}(P\,\|\,Q) \ge \mathbb E_P[T(x)] - \mathbb E_Q\big[e^{T(x)-1}\big],
          \qquad T^* = 1 + \log\frac{p}{q}

.. math:: \mathrm{JS}(P, Q) \ge \log 2 + \tfrac12\,\mathbb E_P[\log\sigma(\ell(x))]
          + \tfrac12\,\mathbb E_Q[\log(1 - \sigma(\ell(x)))],\qquad \ell^* = \log\frac{p}{q}

(the second is the original GAN's discriminator objective, Goodfellow et al. 2014, Eq. 1,
halved and shifted by log 2). Each bound here is a
:class:`~elbolab.estimators.MonteCarloEstimate` over samples of P and Q, with the standard
error of a difference of two independent sample means. :func:`gaussian_js` is the exact
Jensen–Shannon divergence of two 1-D Gaussians by quadrature (the KL has a closed form:
:func:`elbolab.kl.gaussian_kl`), the oracle the bounds are held against;
:func:`fit_logistic_critic` trains the discriminator (a logistic regression on given
features) with the GAN loss. Units: nats.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..checks import (
    MAX_DRAWS,
    MAX_LOOP,
    MAX_WIDTH,
    check_callable,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
)
from ..densities import F64, gaussian_log_prob
from ..estimators import MonteCarloEstimate


def _difference(a: torch.Tensor, b: torch.Tensor) -> MonteCarloEstimate:
    """mean(a) − mean(b) of two independent samples, with its standard error."""
    se = torch.sqrt(a.var(correction=1) / len(a) + b.var(correction=1) / len(b))
    return MonteCarloEstimate(a.mean() - b.mean(), se, len(a) + len(b))


def _check_scores(**scores: torch.Tensor) -> None:
    for name, value in scores.items():
        check_float_tensor(name, value)
        if value.dim() != 1 or len(value) < 2:
            raise ValueError(f"{name} must be a 1-D tensor of at least 2 scores, one per "
                             f"sample, got shape {list(value.shape)}")


def kl_lower_bound(t_p: torch.Tensor, t_q: torch.Tensor) -> MonteCarloEstimate:
    r""":math:`\mathbb E_P[T] - \mathbb E_Q[e^{T-1}] \le \mathrm{KL}(P\|Q)` for any critic T,
    from its values on samples of P (``t_p``) and of Q (``t_q``), each (n,); nats, with the
    standard error of the difference (the samples independent)."""
    _check_scores(t_p=t_p, t_q=t_q)
    return _difference(t_p, torch.exp(t_q - 1))


def js_lower_bound(logit_p: torch.Tensor, logit_q: torch.Tensor) -> MonteCarloEstimate:
    r""":math:`\log 2 + \frac12\mathbb E_P[\log\sigma(\ell)] + \frac12\mathbb E_Q[\log(1-
    \sigma(\ell))] \le \mathrm{JS}(P, Q)` for any discriminator logit ℓ, from its values on
    samples of P and of Q, each (n,); nats. ``log σ(ℓ) = −softplus(−ℓ)`` and ``log(1 − σ(ℓ))
    = −softplus(ℓ)``: no log of 0 for any finite logit."""
    _check_scores(logit_p=logit_p, logit_q=logit_q)
    est = _difference(-0.5 * F.softplus(-logit_p), 0.5 * F.softplus(logit_q))
    return MonteCarloEstimate(est.estimate + math.log(2), est.stderr, est.n)


def gaussian_js(mu1: float, sigma1: float, mu2: float, sigma2: float, *,
                points: int = 200_001, width: float = 12.0) -> float:
    r"""The exact :math:`\mathrm{JS}(\mathcal N(\mu_1,\sigma_1^2), \mathcal N(\mu_2,\sigma_2^2))
    = \frac12\mathrm{KL}(p\|m) + \frac12\mathrm{KL}(q\|m)`, m = (p + q)/2, in nats, by the
    trapezoid rule in float64 over ``points`` nodes spanning ``width`` standard deviations
    beyond both means (the mass outside is below 1e-30; the rule's error is far below 1e-10
    at the default grid)."""
    check_number("sigma1", sigma1, minimum=0.0, exclusive=True)
    check_number("sigma2", sigma2, minimum=0.0, exclusive=True)
    check_number("mu1", mu1)
    check_number("mu2", mu2)
    check_count("points", points, minimum=3, maximum=10**8)
    lo = min(mu1 - width * sigma1, mu2 - width * sigma2)
    hi = max(mu1 + width * sigma1, mu2 + width * sigma2)
    x = torch.linspace(lo, hi, points, dtype=F64)
    log_p = gaussian_log_prob(x, torch.tensor(mu1, dtype=F64),
                              torch.tensor(2 * math.log(sigma1), dtype=F64))
    log_q = gaussian_log_prob(x, torch.tensor(mu2, dtype=F64),
                              torch.tensor(2 * math.log(sigma2), dtype=F64))
    log_m = torch.logaddexp(log_p, log_q) - math.log(2)
    integrand = 0.5 * (log_p.exp() * (log_p - log_m) + log_q.exp() * (log_q - log_m))
    return torch.trapezoid(integrand, x).item()


def fit_logistic_critic(x_p: torch.Tensor, x_q: torch.Tensor,
                        features: Callable[[torch.Tensor], torch.Tensor], *,
                        steps: int = 500, lr: float = 0.1, l2: float = 0.0
                        ) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""A discriminator trained as a GAN's is: the logit :math:`\ell(x) = w^\top\phi(x)`
    maximizing :math:`\mathbb E_P[\log\sigma(\ell)] + \mathbb E_Q[\log(1-\sigma(\ell))]` over
    the samples ``x_p`` and ``x_q`` (by L-BFGS, ``steps`` iterations at most), with
    ``features(x)`` = φ(x) of shape (n, F). Returns the logit function x → ℓ(x), (n,). For
    1-D Gaussians φ(x) = (1, x, x²) contains the optimal logit log p/q, so the bound of
    :func:`js_lower_bound` can become tight. ``l2`` adds l2·‖w‖² to the loss (a discriminator
    with more features than samples separates them perfectly, and its weights grow without
    it)."""
    check_float_tensor("x_p", x_p)
    check_float_tensor("x_q", x_q)
    check_count("steps", steps, maximum=100_000)
    check_number("lr", lr, minimum=0.0, exclusive=True)
    check_number("l2", l2, minimum=0.0)
    phi_p, phi_q = features(x_p).detach(), features(x_q).detach()
    w = torch.zeros(phi_p.shape[-1], dtype=phi_p.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=lr, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (F.softplus(-(phi_p @ w)).mean() + F.softplus(phi_q @ w).mean()
                + l2 * w.square().sum())
        loss.backward()
        return loss

    opt.step(closure)
    weights = w.detach()
    return lambda x: features(x) @ weights


def random_relu_features(dim: int, width: int = 512, generator: torch.Generator | None = None
                         ) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""φ(x) = (1, x, ReLU(Wx + b)) with W ~ N(0, 1/dim) and b ~ N(0, 1) fixed at random: a
    discriminator :func:`fit_logistic_critic` trains on these is a one-hidden-layer network
    whose last layer alone is learned (a random-features GAN discriminator). (n, dim) →
    (n, 1 + dim + width), float64."""
    check_count("dim", dim, maximum=MAX_WIDTH)
    check_count("width", width, maximum=MAX_WIDTH)
    check_generator("generator", generator)
    w = torch.randn(dim, width, generator=generator, dtype=F64) / math.sqrt(dim)
    b = torch.randn(width, generator=generator, dtype=F64)

    def features(x: torch.Tensor) -> torch.Tensor:
        x = x.to(F64).reshape(len(x), -1)
        return torch.cat([torch.ones(len(x), 1, dtype=F64), x, F.relu(x @ w + b)], -1)

    return features


def held_out_js_bound(x_p: torch.Tensor, x_q: torch.Tensor,
                      features: Callable[[torch.Tensor], torch.Tensor], *,
                      l2: float = 0.1, steps: int = 500) -> MonteCarloEstimate:
    r"""The JS lower bound of a discriminator trained on the first half of each sample and
    scored on the second: a bound on JS(P, Q) for *that* critic, honest because the scored
    samples are independent of it (scored on its own training samples it would overstate the
    divergence). ``x_p``, ``x_q`` (n, …) with n ≥ 4; nats, with the standard error of
    :func:`js_lower_bound`. ``l2``: the weight penalty of :func:`fit_logistic_critic` (the
    default keeps a 512-feature critic on binarized MNIST from fitting noise: data against
    data, 2,000 images, −0.05 ± 0.005 nats, against −0.12 ± 0.01 at 0.01)."""
    check_float_tensor("x_p", x_p)
    check_float_tensor("x_q", x_q)
    if len(x_p) < 4 or len(x_q) < 4:
        raise ValueError(f"x_p and x_q need at least 4 samples each (half to train the "
                         f"critic, half to score it), got {len(x_p)} and {len(x_q)}")
    hp, hq = len(x_p) // 2, len(x_q) // 2
    critic = fit_logistic_critic(x_p[:hp], x_q[:hq], features, steps=steps, l2=l2)
    return js_lower_bound(critic(x_p[hp:]), critic(x_q[hq:]))


@dataclass
class DensityFit:
    """What :func:`fit_density` returns: the mean training loss (per-example NLL or bound,
    nats) of every epoch, and the seconds of training steps."""

    losses: list[float]
    seconds: float


def fit_density(loss: Callable[[torch.Tensor], torch.Tensor],
                parameters: Iterable[torch.nn.Parameter], data: torch.Tensor, *,
                epochs: int = 1, batch_size: int = 128, lr: float = 1e-3,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                generator: torch.Generator | None = None, progress: bool = False,
                desc: str = "fit") -> DensityFit:
    """Adam on ``loss(x_batch)`` (per-example values (batch,), e.g. −log p(x); their mean is
    minimized) over shuffled minibatches of ``data`` (N, D), for ``epochs`` passes, with a
    cosine-decayed learning rate. ``transform`` maps each batch first: e.g.
    ``lambda x: binarize(x, generator)`` draws a fresh binarization of the grey levels every
    batch (dynamic binarization, as chapter 4 trains the VAE)."""
    from tqdm import tqdm

    check_callable("loss", loss)
    if transform is not None:
        check_callable("transform", transform)
    check_float_tensor("data", data)
    if data.dim() != 2 or len(data) < 1:
        raise ValueError(f"data must be (N >= 1, D), got {list(data.shape)}")
    epochs = check_count("epochs", epochs, maximum=MAX_LOOP)
    batch_size = check_count("batch_size", batch_size, maximum=MAX_DRAWS)
    check_number("lr", lr, minimum=0.0, exclusive=True)
    check_generator("generator", generator)
    params = list(parameters)
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * math.ceil(len(data) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses: list[float] = []
    seconds = 0.0
    bar = tqdm(total=steps, desc=desc, disable=not progress, mininterval=1.0)
    for _ in range(epochs):
        # drawn where the generator lives (a CUDA generator for data on the GPU)
        order = torch.randperm(len(data), generator=generator,
                               device=generator.device if generator is not None else "cpu"
                               ).to(data.device)
        total = 0.0
        start = time.perf_counter()
        for i in range(0, len(data), batch_size):
            xb = data[order[i:i + batch_size]]
            if transform is not None:
                xb = transform(xb)
            value = loss(xb).mean()
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            total += value.item() * len(xb)
            bar.update(1)
        seconds += time.perf_counter() - start
        losses.append(total / len(data))
    bar.close()
    return DensityFit(losses, seconds)


def samples_per_second(sample: Callable[[int], torch.Tensor], n: int = 256,
                       repeats: int = 3) -> float:
    """The median over ``repeats`` timings of ``sample(n)`` (after one warm-up call), as
    samples per second on the current device."""
    check_callable("sample", sample)
    n = check_count("n", n, maximum=MAX_DRAWS)
    repeats = check_count("repeats", repeats, maximum=1_000)
    sample(min(n, 8))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sample(n)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def binary_ddpm_samples(ddpm, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Binary images from a DDPM trained on data at ±1 with the two-bin decoder: ancestral
    sampling to x_1's mean, then the decoder's own draw, :math:`x_0 = \mathbb 1[\mu + \sigma_1
    \varepsilon > 0]` (its bin for +1 is [0, ∞)); (n, D) in {0, 1}."""
    check_count("n", n, maximum=MAX_DRAWS)
    dim = ddpm.net.dim
    dtype = next(ddpm.net.parameters()).dtype
    mean = ddpm.sample(n, dim, generator=generator, dtype=dtype)
    noise = torch.randn(mean.shape, generator=generator, dtype=dtype)
    return (mean + torch.exp(0.5 * ddpm.logvar[1]).to(dtype) * noise > 0).to(dtype)


__all__ = ["DensityFit", "binary_ddpm_samples", "fit_density", "fit_logistic_critic",
           "gaussian_js", "held_out_js_bound", "js_lower_bound", "kl_lower_bound",
           "random_relu_features", "samples_per_second"]
