"""Evaluating a trained VAE: test ELBO, the IWAE-k bound and the importance-sampled
log-likelihood, in nats and bits per dimension. Chunked so memory stays bounded."""

from __future__ import annotations

import math

import torch

from .elbo import ELBOFramework
from .estimators import LogMeanExpAccumulator, monte_carlo_mean


def bits_per_dim(nats: float, dim: int) -> float:
    """Convert a per-example quantity in nats to bits per dimension: nats / (D · ln 2)."""
    return nats / (dim * math.log(2))


@torch.no_grad()
def evaluate_elbo(model: ELBOFramework, x: torch.Tensor, *, batch_size: int = 1000,
                  generator: torch.Generator | None = None) -> dict:
    """Mean test ELBO, reconstruction and analytic KL over ``x`` (one z sample per example),
    in nats per example."""
    sums = torch.zeros(3, dtype=torch.float64, device=x.device)
    for xb in x.split(batch_size):
        r = model.compute_elbo(xb, generator=generator)
        sums += torch.stack([r.elbo.sum(), r.reconstruction.sum(), r.kl.sum()]).double()
    elbo, rec, kl = (sums / len(x)).tolist()
    return {"elbo": elbo, "reconstruction": rec, "kl": kl}


@torch.no_grad()
def iwae_per_example(model: ELBOFramework, x: torch.Tensor, k: int, *, batch_size: int = 50,
                     chunk_size: int = 500,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Per-example :math:`\mathcal L_k = \log\frac1k\sum_i p(x,z_i)/q(z_i|x)` (Burda et al.
    2015, Eq. 8): a lower bound on log p(x) that is also its importance-sampled estimate.
    Streams the k samples ``chunk_size`` at a time for ``batch_size`` examples, so memory is
    about batch_size·chunk_size·D floats whatever k. Shape (N,), nats."""
    out = []
    for xb in x.split(batch_size):
        acc = LogMeanExpAccumulator()
        done = 0
        while done < k:
            m = min(chunk_size, k - done)
            acc.update(model.log_importance_weights(xb, m, generator=generator))
            done += m
        out.append(acc.result().log_mean)
    return torch.cat(out)


def evaluate_log_likelihood(model: ELBOFramework, x: torch.Tensor, k: int = 5000,
                            **kwargs) -> dict:
    """Importance-sampled test log-likelihood with k samples: mean ± standard error over the
    examples, in nats and bits/dim."""
    ll = iwae_per_example(model, x, k, **kwargs)
    r = monte_carlo_mean(ll.double())
    d = x[0].numel()
    return {"k": k, "n": len(x), "log_likelihood": r.estimate.item(),
            "stderr": r.stderr.item(), "nll": -r.estimate.item(),
            "nll_bits_per_dim": bits_per_dim(-r.estimate.item(), d)}


@torch.no_grad()
def decoder_means(model: ELBOFramework, z: torch.Tensor) -> torch.Tensor:
    """Mean of p(x|z): sigmoid of the logits (Bernoulli) or the Gaussian mean."""
    out = model.decoder(z)
    return torch.sigmoid(out) if model.likelihood == "bernoulli" else out[0]


@torch.no_grad()
def reconstruct(model: ELBOFramework, x: torch.Tensor) -> torch.Tensor:
    """Decoder mean at the posterior mean: the deterministic reconstruction of ``x``."""
    mu, _ = model.encoder(x)
    return decoder_means(model, mu)


@torch.no_grad()
def sample_prior(model: ELBOFramework, n: int, latent: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Decoder means of n draws z ~ N(0, I)."""
    dev = next(model.parameters()).device
    return decoder_means(model, torch.randn(n, latent, generator=generator, device=dev))
