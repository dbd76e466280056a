r"""The connections of the handout's last section, measured where a number can be had. So far:
GANs as implicit variational inference.

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
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..checks import check_count, check_float_tensor, check_number
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
                        steps: int = 500, lr: float = 0.1
                        ) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""A discriminator trained as a GAN's is: the logit :math:`\ell(x) = w^\top\phi(x)`
    maximizing :math:`\mathbb E_P[\log\sigma(\ell)] + \mathbb E_Q[\log(1-\sigma(\ell))]` over
    the samples ``x_p`` and ``x_q`` (by L-BFGS, ``steps`` iterations at most), with
    ``features(x)`` = φ(x) of shape (n, F). Returns the logit function x → ℓ(x), (n,). For
    1-D Gaussians φ(x) = (1, x, x²) contains the optimal logit log p/q, so the bound of
    :func:`js_lower_bound` can become tight."""
    check_float_tensor("x_p", x_p)
    check_float_tensor("x_q", x_q)
    check_count("steps", steps, maximum=100_000)
    check_number("lr", lr, minimum=0.0, exclusive=True)
    phi_p, phi_q = features(x_p).detach(), features(x_q).detach()
    w = torch.zeros(phi_p.shape[-1], dtype=phi_p.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=lr, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.softplus(-(phi_p @ w)).mean() + F.softplus(phi_q @ w).mean()
        loss.backward()
        return loss

    opt.step(closure)
    weights = w.detach()
    return lambda x: features(x) @ weights


__all__ = ["fit_logistic_critic", "gaussian_js", "js_lower_bound", "kl_lower_bound"]
