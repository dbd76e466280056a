r"""How tight is the bound on real data? The ELBO gap of a trained VAE split into its parts
(Cremer, Li & Duvenaud 2018, "Inference Suboptimality in Variational Autoencoders").

.. math:: \log p(x) - \mathcal L[q_{\text{enc}}] =
          \underbrace{\log p(x) - \mathcal L[q^*]}_{\text{approximation gap}} +
          \underbrace{\mathcal L[q^*] - \mathcal L[q_{\text{enc}}]}_{\text{amortization gap}}

:math:`q^*` is the best diagonal Gaussian for each x alone, found here by optimizing its mean
and log-variance from the encoder's output (:func:`local_gaussian_posteriors`, all examples at
once); :math:`\log p(x)` comes from annealed importance sampling (:mod:`elbolab.ais`), and on
data simulated from the model its reverse chain gives an upper bound (:func:`simulate`,
:func:`elbolab.ais.ais_bounds`). Everything per example, in nats, so comparisons are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..checks import check_count, check_generator, check_number
from ..elbo import ELBOFramework
from ..flows import flow_elbo, identity_planar_parameters
from ..posterior import DiagonalGaussian


def _log_lik(model: ELBOFramework, x: torch.Tensor):
    """z (S, B, L) → log p(x|z) (S, B) for the batch x (B, D)."""
    return lambda z: model.log_likelihood(x, z)


def gaussian_elbo(model: ELBOFramework, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  *, samples: int = 100, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    r"""Per-example ELBO of the diagonal Gaussian q = N(mu, diag e^logvar) for each x (B, D):
    :math:`\frac1S\sum_s\log p(x\mid z_s) - \mathrm{KL}(q\,\|\,\mathcal N(0, I))`, analytic KL,
    ``samples`` draws. Shape (B,), nats, float64."""
    check_count("samples", samples)
    with torch.no_grad():
        rec, kl = _gaussian_terms(model, x, mu, logvar, samples, generator)
        return rec.double().mean(0) - kl.double()


def _gaussian_terms(model, x, mu, logvar, samples, generator):
    """log p(x|z_s) for ``samples`` reparameterized draws (S, B), and the analytic KL (B,)."""
    q = DiagonalGaussian(mu, logvar, validate=False)
    return (model.log_likelihood(x, q.rsample((samples,), generator=generator)),
            q.kl_to_standard_normal())


@dataclass
class LocalPosteriors:
    """Per-example optimized posteriors: the Gaussian ``mu``, ``logvar`` (B, L) and, for a
    flow posterior, its planar layers ``flow`` = (u, w, b) (:mod:`elbolab.flows`; None for a
    Gaussian); ``history`` the batch-mean training ELBO (nats) every ``check_every`` steps;
    ``steps`` taken."""

    mu: torch.Tensor
    logvar: torch.Tensor
    history: list[float]
    steps: int
    flow: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def elbo(self, model: ELBOFramework, x: torch.Tensor, *, samples: int = 100,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-example ELBO of these posteriors (B,), float64, ``samples`` draws."""
        if self.flow is None:
            return gaussian_elbo(model, x, self.mu, self.logvar, samples=samples,
                                 generator=generator)
        with torch.no_grad():
            return flow_elbo(_log_lik(model, x), self.mu, self.logvar, *self.flow,
                             samples=samples, generator=generator).double()


def local_gaussian_posteriors(model: ELBOFramework, x: torch.Tensor, *, max_steps: int = 2000,
                              lr: float = 1e-2, samples: int = 16, check_every: int = 100,
                              tol: float | None = 0.01, flow_layers: int = 0,
                              start: LocalPosteriors | None = None,
                              generator: torch.Generator | None = None) -> LocalPosteriors:
    """q*(z) for each x separately: Adam on every example's posterior parameters at once,
    maximizing the ``samples``-draw reparameterized ELBO (analytic KL for a Gaussian; for a
    flow, :func:`elbolab.flows.flow_elbo`); the decoder is fixed. Starts from ``start``'s
    Gaussian (default: the encoder's output) and, with ``flow_layers`` > 0, planar layers at
    the identity (so the flow starts at that Gaussian's ELBO). Stops after ``max_steps``, or
    when the batch-mean ELBO over the last ``check_every`` steps improved on the previous
    window's by less than ``tol`` nats (``tol=None``: always ``max_steps``)."""
    check_count("max_steps", max_steps)
    check_number("lr", lr, minimum=0.0, exclusive=True)
    check_count("samples", samples)
    check_count("check_every", check_every)
    if tol is not None:
        check_number("tol", tol, minimum=0.0)
    check_count("flow_layers", flow_layers, minimum=0, maximum=1000)
    check_generator("generator", generator)
    if start is None:
        with torch.no_grad():
            q0 = model.posterior(x)
            mu0, logvar0 = q0.mu, q0.logvar
    else:
        mu0, logvar0 = start.mu, start.logvar
    mu = mu0.detach().clone().requires_grad_(True)
    logvar = logvar0.detach().clone().requires_grad_(True)
    flow = None
    if flow_layers:
        flow = tuple(t.requires_grad_(True) for t in identity_planar_parameters(
            len(x), mu.shape[-1], flow_layers, dtype=mu.dtype, device=mu.device,
            generator=generator))
    opt = torch.optim.Adam([mu, logvar, *(flow or ())], lr=lr)
    params = list(model.parameters())
    needs = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    history, window, step = [], [], 0
    try:
        for step in range(1, max_steps + 1):
            if flow is None:
                rec, kl = _gaussian_terms(model, x, mu, logvar, samples, generator)
                elbo = rec.mean(0) - kl
            else:
                elbo = flow_elbo(_log_lik(model, x), mu, logvar, *flow, samples=samples,
                                 generator=generator)
            opt.zero_grad()
            (-elbo.sum()).backward()
            opt.step()
            window.append(elbo.detach().mean().item())
            if step % check_every == 0:
                history.append(sum(window) / len(window))
                window = []
                if tol is not None and len(history) >= 2 and history[-1] - history[-2] < tol:
                    break
    finally:
        for p, n in zip(params, needs, strict=True):
            p.requires_grad_(n)
    return LocalPosteriors(mu.detach(), logvar.detach(), history, step,
                           None if flow is None else tuple(t.detach() for t in flow))


def simulate(model: ELBOFramework, n: int, latent: int, *,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, z): n joint draws z ~ N(0, I), x ~ p(x|z) from a Bernoulli decoder. Each z is an
    exact draw from the posterior p(z|x) of its x: the reverse AIS chain starts there."""
    check_count("n", n)
    if model.likelihood != "bernoulli":
        raise ValueError("simulate draws binary images: it needs a Bernoulli decoder, got "
                         f"{model.likelihood!r}")
    device = next(model.parameters()).device
    with torch.no_grad():
        z = model.prior.sample((n,), latent, generator=generator, device=device)
        probs = torch.sigmoid(model.decoder(z))
        x = (torch.rand(probs.shape, generator=generator, device=device) < probs).float()
    return x, z


__all__ = ["LocalPosteriors", "gaussian_elbo", "local_gaussian_posteriors", "simulate"]
