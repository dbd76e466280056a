r"""Gradient estimators for a diagonal Gaussian :math:`q_\phi(z) = \mathcal N(\mu,
\operatorname{diag} e^{\text{logvar}})`, returned per sample so that their mean, variance and
signal-to-noise ratio can be measured (Part 4: why the reparameterization trick).

Every estimator returns ``(g_mu, g_logvar)``, each ``(n, d)``: row i is one unbiased estimate
of the gradient with respect to ``mu`` and ``logvar``. Draws are :math:`z_i = \mu +
\sigma\odot\varepsilon_i`, :math:`\sigma = e^{\text{logvar}/2}`, :math:`\varepsilon_i\sim
\mathcal N(0, I)` from ``generator`` (or pass ``eps``, (n, d)).

For :math:`\nabla_\phi\,\mathbb E_q[f(z)]` (:func:`expectation_gradient_samples`):

* ``"score"`` (REINFORCE, Williams 1992): :math:`f(z)\,\nabla_\phi\log q(z)` with
  :math:`\nabla_\mu\log q = \varepsilon/\sigma`, :math:`\nabla_{\text{logvar}}\log q =
  (\varepsilon^2-1)/2`;
* ``"score_loo"``: the same with the leave-one-out baseline :math:`b_i = \frac1{n-1}\sum_{j\ne
  i} f(z_j)` (Kool, van Hoof & Welling 2019; Mnih & Rezende 2016): :math:`(f(z_i)-b_i)\nabla
  \log q(z_i)`, unbiased because :math:`b_i` does not depend on :math:`z_i`;
* ``"reparam"`` (pathwise; Kingma & Welling 2014, Rezende et al. 2014): :math:`\nabla_z f(z)
  \,\partial z/\partial\phi`, i.e. :math:`g_\mu = \nabla_z f`, :math:`g_{\text{logvar}} =
  \nabla_z f\odot\varepsilon\sigma/2`.

For the ELBO :math:`\mathbb E_q[\log p(x,z) - \log q(z)]` with prior :math:`\mathcal N(0, I)`
and a ``log_likelihood(z)`` = :math:`\log p(x\mid z)` (:func:`elbo_gradient_samples`):

* ``"score"``/``"score_loo"``: :math:`(\log p(x,z)-\log q(z))\nabla_\phi\log q(z)` (the
  expected score is zero, so the direct term drops out), without/with the baseline;
* ``"reparam"``: the total derivative of :math:`\log p(x,z(\phi)) - \log q(z(\phi);\phi)`:
  :math:`g_\mu = \nabla_z\log p(x,z)`, :math:`g_{\text{logvar}} = \tfrac12\varepsilon\sigma
  \odot\nabla_z\log p(x,z) + \tfrac12`;
* ``"stl"``: "sticking the landing" (Roeder, Wu & Duvenaud 2017): the path derivative only,
  :math:`\nabla_z[\log p(x,z)-\log q(z)]\,\partial z/\partial\phi` with q's parameters held
  fixed inside :math:`\log q`; it is exactly zero for every draw when q is the posterior;
* ``"analytic_kl"``: the reparameterized reconstruction term and the exact gradient of
  :math:`\mathrm{KL}(q\,\|\,\mathcal N(0,I)) = \tfrac12\sum(\mu^2 + \sigma^2 - 1 -
  \text{logvar})`.

For the IWAE bound :math:`\mathcal L_k = \mathbb E\log\frac1k\sum_j w_j` (Burda et al. 2015),
:math:`w_j = p(x,z_j)/q(z_j)`, with normalized weights :math:`\tilde w_j`
(:func:`iwae_gradient_samples`): ``"iwae"`` :math:`\sum_j\tilde w_j\nabla_\phi\log w_j` (the
total
derivative, as autograd computes it) and ``"dreg"``, the doubly reparameterized gradient
(Tucker, Lawson, Gu & Maddison 2019, ICLR, Eq. 5): :math:`\sum_j\tilde w_j^2\,\partial\log w_j/
\partial z_j\,\partial z_j/\partial\phi`. Both are unbiased for :math:`\nabla_\phi\mathcal
L_k`; the decoder's gradient :math:`\sum_j\tilde w_j\nabla_\theta\log p_\theta(x, z_j)` is
returned beside them when ``decoder_grad`` is given.

For *training* (a batch of examples, one optimizer step), :func:`surrogate_objective` returns a
per-example objective whose value is :math:`\mathcal L_k` and whose autograd gradient is one of
:data:`TRAINING_GRADIENTS` (``"reparam"``: the total derivative; ``"stl"``; ``"dreg"``).

The exact reference is the linear-Gaussian model of Part 1
(:meth:`~elbolab.parts.latent_models.LinearGaussianModel.exact_elbo_gradient`).

Units: gradients of nats. Shapes: ``mu``, ``logvar`` (d,); one data point at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from .checks import (
    MAX_DRAWS,
    check_callable,
    check_choice,
    check_count,
    check_float_tensor,
    check_generator,
    check_number,
    should_validate,
)
from .elbo import MAX_K
from .posterior import STANDARD_NORMAL, DiagonalGaussian

EXPECTATION_ESTIMATORS = ("score", "score_loo", "reparam")
ELBO_ESTIMATORS = ("score", "score_loo", "reparam", "stl", "analytic_kl")
IWAE_ESTIMATORS = ("iwae", "dreg")
TRAINING_GRADIENTS = ("reparam", "stl", "dreg")

Field = Callable[[torch.Tensor], torch.Tensor]  # (n, d) -> (n,)


def _draw(mu: torch.Tensor, logvar: torch.Tensor, n: int, generator, eps,
          validate: bool | None) -> tuple:
    if should_validate(validate):
        check_float_tensor("mu", mu)
        check_float_tensor("logvar", logvar)
        if mu.dim() != 1 or mu.shape != logvar.shape:
            raise ValueError(f"mu and logvar must both be (d,), got {list(mu.shape)} and "
                             f"{list(logvar.shape)}")
        check_count("n", n, maximum=MAX_DRAWS)
        check_generator("generator", generator)
        if eps is not None:
            check_float_tensor("eps", eps)
            if eps.shape != (n, len(mu)):
                raise ValueError(f"eps must be (n, d) = {[n, len(mu)]}, got "
                                 f"{list(eps.shape)}")
    if eps is None:
        eps = STANDARD_NORMAL.sample((n,), len(mu), generator=generator, dtype=mu.dtype,
                                     device=mu.device)
    q = DiagonalGaussian(mu.detach(), logvar.detach(), validate=False)
    return eps, q.std, q.rsample((n,), eps=eps), q


def _value_and_grad(f: Field, z: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """f(z) (n,) and ∇_z f(z) (n, d) for independent rows (one backward of the sum)."""
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        value = f(zz)
        if value.shape != z.shape[:1]:
            raise ValueError(f"{name}(z) must return one value per draw, shape [{len(z)}], got "
                             f"{list(value.shape)}")
        (grad,) = torch.autograd.grad(value.sum(), zz)
    return value.detach(), grad


def _score_weights(values: torch.Tensor, loo: bool) -> torch.Tensor:
    if not loo:
        return values
    n = len(values)
    if n < 2:
        raise ValueError("n must be >= 2 for a leave-one-out baseline")
    return values - (values.sum() - values) / (n - 1)


def expectation_gradient_samples(f: Field, mu: torch.Tensor, logvar: torch.Tensor, n: int, *,
                                 estimator: str, generator: torch.Generator | None = None,
                                 eps: torch.Tensor | None = None, validate: bool | None = None,
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample estimates (g_mu, g_logvar), each (n, d), of ∇ E_q[f(z)]; see the module."""
    if should_validate(validate):
        check_callable("f", f)
        check_choice("estimator", estimator, EXPECTATION_ESTIMATORS)
    eps, sigma, z, _ = _draw(mu, logvar, n, generator, eps, validate)
    if estimator == "reparam":
        _, grad = _value_and_grad(f, z, "f")
        return grad, grad * eps * sigma / 2
    with torch.no_grad():
        values = f(z)
    if values.shape != (n,):
        raise ValueError(f"f(z) must return one value per draw, shape [{n}], got "
                         f"{list(values.shape)}")
    c = _score_weights(values, estimator == "score_loo")[:, None]
    return c * eps / sigma, c * (eps * eps - 1) / 2


def elbo_gradient_samples(log_likelihood: Field, mu: torch.Tensor, logvar: torch.Tensor,
                          n: int, *, estimator: str, generator: torch.Generator | None = None,
                          eps: torch.Tensor | None = None, validate: bool | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample estimates (g_mu, g_logvar), each (n, d), of ∇ ELBO(mu, logvar) for the prior
    N(0, I) and ``log_likelihood(z)`` = log p(x|z) (n, d) → (n,); see the module."""
    if should_validate(validate):
        check_callable("log_likelihood", log_likelihood)
        check_choice("estimator", estimator, ELBO_ESTIMATORS)
    eps, sigma, z, q = _draw(mu, logvar, n, generator, eps, validate)
    lv = logvar.detach()
    if estimator in ("score", "score_loo"):
        with torch.no_grad():
            f = log_likelihood(z) + STANDARD_NORMAL.log_prob(z) - q.log_prob(z)
        c = _score_weights(f, estimator == "score_loo")[:, None]
        return c * eps / sigma, c * (eps * eps - 1) / 2
    if estimator == "analytic_kl":
        _, g = _value_and_grad(log_likelihood, z, "log_likelihood")
        return g - mu.detach(), 0.5 * eps * sigma * g - 0.5 * (torch.exp(lv) - 1)
    _, g = _value_and_grad(lambda t: log_likelihood(t) + STANDARD_NORMAL.log_prob(t), z,
                           "log_likelihood")
    if estimator == "reparam":
        return g, 0.5 * eps * sigma * g + 0.5
    path = g + eps / sigma  # ∇_z[log p(x,z) − log q(z)] with q's parameters held fixed
    return path, 0.5 * eps * sigma * path


def iwae_gradient_samples(log_likelihood: Field, mu: torch.Tensor, logvar: torch.Tensor,
                          k: int, n: int, *, estimator: str,
                          generator: torch.Generator | None = None,
                          decoder_grad: Field | None = None, validate: bool | None = None
                          ) -> tuple[torch.Tensor, ...]:
    """n independent estimates of ∇ L_k: (g_mu, g_logvar), each (n, d), and with
    ``decoder_grad(z)`` = ∇_θ log p_θ(x|z) (m, P) the decoder's (n, P) too; see the module."""
    if should_validate(validate):
        check_callable("log_likelihood", log_likelihood)
        check_choice("estimator", estimator, IWAE_ESTIMATORS)
        check_count("k", k, maximum=MAX_DRAWS)
        check_count("n", n, maximum=MAX_DRAWS // k)
        if decoder_grad is not None:
            check_callable("decoder_grad", decoder_grad)
    eps, sigma, z, q = _draw(mu, logvar, n * k, generator, None, validate)
    log_joint, g = _value_and_grad(lambda t: log_likelihood(t) + STANDARD_NORMAL.log_prob(t), z,
                                   "log_likelihood")
    w = torch.softmax((log_joint - q.log_prob(z)).view(n, k), dim=1).view(n * k, 1)  # w̃_j
    if estimator == "iwae":
        per_mu, per_lv, weight = g, 0.5 * eps * sigma * g + 0.5, w
    else:
        path = g + eps / sigma
        per_mu, per_lv, weight = path, 0.5 * eps * sigma * path, w * w
    out = [(weight * per_mu).view(n, k, -1).sum(1), (weight * per_lv).view(n, k, -1).sum(1)]
    if decoder_grad is not None:
        out.append((w * decoder_grad(z)).view(n, k, -1).sum(1))
    return tuple(out)


class Surrogate(NamedTuple):
    """:func:`surrogate_objective`'s result, each (B,) in nats: the objective (differentiate
    it), and the k-sample means of log p(x|z_j) and of log q(z_j|x) − log p(z_j), the Monte
    Carlo reconstruction and KL (their difference is the mean one-sample ELBO)."""

    objective: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def surrogate_objective(log_likelihood: Callable[[torch.Tensor], torch.Tensor],
                        mu: torch.Tensor, logvar: torch.Tensor, k: int = 1, *,
                        gradient: str = "reparam", beta: float = 1.0,
                        generator: torch.Generator | None = None,
                        eps: torch.Tensor | None = None,
                        validate: bool | None = None) -> Surrogate:
    r"""The k-sample importance-weighted bound of a batch, as a differentiable objective whose
    autograd gradient is the estimator ``gradient``:

    .. math:: \mathcal L_k = \log\frac1k\sum_{j=1}^k w_j,\quad
              \log w_j = \log p(x\mid z_j) + \beta\,[\log p(z_j) - \log q(z_j\mid x)],
              \quad z_j = \mu + \sigma\odot\varepsilon_j

    (Burda et al. 2015, Eq. 8; k = 1 is the one-sample ELBO with a Monte Carlo KL, and β ≠ 1
    its β-weighted form, allowed only for k = 1). ``gradient``:

    * ``"reparam"``: the total derivative (Burda et al.'s IWAE gradient; for k = 1 the
      reparameterization gradient with a sampled KL);
    * ``"stl"`` (k = 1 only): q's parameters held fixed inside log q, the path derivative of
      Roeder, Wu & Duvenaud (2017, Eq. 8); for k > 1 that estimator is biased (Tucker et al.
      2018, Sec. 3), hence refused;
    * ``"dreg"``: the doubly reparameterized gradient (Tucker, Lawson, Gu & Maddison 2019, ICLR,
      Eq. 5): the encoder's gradient :math:`\sum_j\tilde w_j^2\,\partial\log w_j/\partial
      z_j\;\partial z_j/\partial\phi` (q fixed inside log q), the decoder's unchanged
      (:math:`\sum_j\tilde w_j\nabla_\theta\log p_\theta(x,z_j)`): one backward pass, the
      z-gradient of row j scaled by :math:`\tilde w_j` (a hook on z).

    ``log_likelihood(z)``: z (k, B, L) → log p(x|z) (k, B). ``mu``, ``logvar``: (B, L). Noise
    from ``generator``, or ``eps`` (k, B, L). ``validate=False`` skips the argument checks
    (the trainer's hot loop). Returns a :class:`Surrogate`; everything in nats."""
    if should_validate(validate):
        check_callable("log_likelihood", log_likelihood)
        check_choice("gradient", gradient, TRAINING_GRADIENTS)
        check_count("k", k, maximum=MAX_K)
        check_number("beta", beta, minimum=0.0)
        check_float_tensor("mu", mu)
        check_float_tensor("logvar", logvar)
        if mu.dim() != 2 or mu.shape != logvar.shape:
            raise ValueError(f"mu and logvar must both be (B, L), got {list(mu.shape)} and "
                             f"{list(logvar.shape)}")
        check_generator("generator", generator)
        if gradient == "stl" and k != 1:
            raise ValueError("gradient='stl' is unbiased only for k = 1 (the ELBO): for the "
                             "importance-weighted bound it is biased (Tucker et al. 2019); "
                             "use gradient='dreg'")
        if beta != 1.0 and k != 1:
            raise ValueError(f"beta must be 1 for the importance-weighted bound (k = {k}), "
                             f"got {beta}: weighting its KL has no meaning")
        if eps is not None:
            check_float_tensor("eps", eps)
            if eps.shape != (k, *mu.shape):
                raise ValueError(f"eps must be (k, B, L) = {[k, *mu.shape]}, got "
                                 f"{list(eps.shape)}")
    q = DiagonalGaussian(mu, logvar, validate=False)
    # log q(z|x) − log p(z), summed over latents: with q's parameters live (the total
    # derivative: log q read off the noise) or held fixed (the path derivative: STL, DReG)
    z, noise = q.rsample_with_noise(k, generator, eps=eps)
    if gradient == "reparam":
        # log q − log p of the draw, read off its noise, log 2π cancelling: the same value as
        # q.rsample_with_log_prob's log q minus STANDARD_NORMAL.log_prob, in three operations
        # (the trainer's hot loop; tests/core/test_posterior.py holds the two equal)
        kl = 0.5 * (z.square() - noise.square() - logvar).sum(-1)
    else:
        kl = q.log_prob(z, stop_gradient=True) - STANDARD_NORMAL.log_prob(z)
    rec = log_likelihood(z)
    log_w = rec - beta * kl
    if gradient == "dreg" and z.requires_grad:
        w = torch.softmax(log_w.detach(), dim=0).unsqueeze(-1)  # w̃_j, (k, B, 1)
        z.register_hook(lambda g: g * w)
    objective = torch.logsumexp(log_w, dim=0) - math.log(k)
    return Surrogate(objective, rec.mean(0), kl.mean(0))


def signal_to_noise(samples: torch.Tensor) -> torch.Tensor:
    """|mean| / std of per-sample gradient estimates (n, P) → (P,): Rainforth et al. (2018)'s
    SNR of one estimate."""
    check_float_tensor("samples", samples)
    if samples.dim() != 2 or len(samples) < 2:
        raise ValueError(f"samples must be (n >= 2, P), got {list(samples.shape)}")
    return samples.mean(0).abs() / samples.std(0, correction=1)


__all__ = ["ELBO_ESTIMATORS", "EXPECTATION_ESTIMATORS", "IWAE_ESTIMATORS",
           "TRAINING_GRADIENTS", "Surrogate", "elbo_gradient_samples",
           "expectation_gradient_samples", "iwae_gradient_samples", "signal_to_noise",
           "surrogate_objective"]
