"""Evaluating a trained VAE: test ELBO, the IWAE-k bound and the importance-sampled
log-likelihood, in nats and bits per dimension. Chunked so memory stays bounded."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..elbo import ELBOFramework
from ..estimators import monte_carlo_mean, streaming_log_mean_exp
from ..kl import standard_normal_kl_per_dim


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
def per_example_elbo(model: ELBOFramework, x: torch.Tensor, *, draws: int = 1,
                     batch_size: int = 1000,
                     generator: torch.Generator | None = None) -> dict:
    """Per-example ELBO, reconstruction E_q log p(x|z) (each the mean of ``draws`` samples of
    z) and analytic KL, as float64 CPU tensors of shape (N,), in nats: the values behind
    :func:`evaluate_elbo`'s means, for comparisons paired per example."""
    parts = {"elbo": [], "reconstruction": [], "kl": []}
    for xb in x.split(batch_size):
        rs = [model.compute_elbo(xb, generator=generator) for _ in range(draws)]
        for key in parts:
            parts[key].append(torch.stack([getattr(r, key) for r in rs]).double().mean(0).cpu())
    return {key: torch.cat(v) for key, v in parts.items()}


@torch.no_grad()
def iwae_per_example(model: ELBOFramework, x: torch.Tensor, k: int, *, batch_size: int = 50,
                     chunk_size: int = 500, generator: torch.Generator | None = None,
                     progress: bool = False) -> torch.Tensor:
    r"""Per-example :math:`\mathcal L_k = \log\frac1k\sum_i p(x,z_i)/q(z_i|x)` (Burda et al.
    2015, Eq. 8): a lower bound on log p(x) that is also its importance-sampled estimate.
    Streams the k samples ``chunk_size`` at a time for ``batch_size`` examples, so memory is
    about batch_size·chunk_size·D floats whatever k. Shape (N,), nats. ``progress``: a bar
    over the images with its ETA (every batch costs the same, so the ETA is honest)."""
    from tqdm import tqdm

    out = []
    bar = tqdm(total=len(x), desc=f"IWAE-{k}", unit="image", disable=not progress)
    for xb in x.split(batch_size):
        def draw(m: int, xb: torch.Tensor = xb) -> torch.Tensor:
            return model.log_importance_weights(xb, m, generator=generator)

        out.append(streaming_log_mean_exp(draw, k, chunk_size).estimate)
        bar.update(len(xb))
    bar.close()
    return torch.cat(out)


def evaluate_log_likelihood(model: ELBOFramework, x: torch.Tensor, k: int = 5000,
                            **kwargs) -> dict:
    """Importance-sampled test log-likelihood with k samples: mean ± standard error over the
    examples, in nats and bits/dim."""
    ll = iwae_per_example(model, x, k, **kwargs)
    r = monte_carlo_mean(ll.double())
    d = x[0].numel()
    return {"k": k, "n": len(x), "log_px": r.estimate.item(),
            "log_px_stderr": r.stderr.item(), "nll": -r.estimate.item(),
            "nll_bits_per_dim": bits_per_dim(-r.estimate.item(), d)}


def evaluate_log_likelihood_ais(model: ELBOFramework, x: torch.Tensor, *, steps: int = 1000,
                                chains: int = 16, leapfrog: int = 10, batch_size: int = 50,
                                generator: torch.Generator | None = None,
                                progress: bool = False) -> dict:
    """The test log-likelihood by annealed importance sampling (:func:`elbolab.ais.ais_bounds`,
    a stochastic lower bound): mean ± standard error over the examples, in nats and bits/dim,
    with the mean Monte Carlo standard error of one example's estimate and the HMC acceptance
    rate; ``batch_size`` examples' chains at a time."""
    from tqdm import tqdm

    from ..ais import ais_bounds

    per, mc_se, acc = [], [], []
    bar = tqdm(total=len(x), desc=f"AIS-{steps}", unit="image", disable=not progress)
    for xb in x.split(batch_size):
        res = ais_bounds(model, xb, steps=steps, chains=chains, leapfrog=leapfrog,
                         generator=generator).lower
        per.append(res.estimate.estimate)
        mc_se.append(res.estimate.stderr)
        acc.append(res.acceptance * len(xb))
        bar.update(len(xb))
    bar.close()
    ll = torch.cat(per).double().cpu()
    r = monte_carlo_mean(ll)
    d = x[0].numel()
    return {"method": "ais", "steps": steps, "chains": chains, "leapfrog": leapfrog,
            "n": len(x), "log_px": r.estimate.item(), "log_px_stderr": r.stderr.item(),
            "mc_stderr": torch.cat(mc_se).double().mean().item(),
            "acceptance": sum(acc) / len(x), "nll": -r.estimate.item(),
            "nll_bits_per_dim": bits_per_dim(-r.estimate.item(), d)}


@torch.no_grad()
def decoder_means(model: ELBOFramework, z: torch.Tensor) -> torch.Tensor:
    """Mean of p(x|z): the Bernoulli probabilities (the sigmoid of logits, or the decoder's
    own output with ``decoder_output="probs"``) or the Gaussian mean."""
    out = model.decoder(z)
    if model.likelihood != "bernoulli":
        return out[0]
    return out if getattr(model, "decoder_output", "logits") == "probs" else torch.sigmoid(out)


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


# Burda et al. (2015), Sec. 5.2: a unit is active when Cov_x(E_q[z_u]) exceeds 0.01.
ACTIVE_UNIT_THRESHOLD = 0.01


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD):
    r"""Burda et al.'s activity statistic :math:`A_u = \mathrm{Cov}_x(\mathbb E_{q(z|x)}[z_u])`
    from posterior means ``mu`` (N, L) over a dataset: (number of units with A_u > threshold,
    A_u of every unit (L,))."""
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(f"mu must be (N >= 2, L), got {list(mu.shape)}")
    activity = mu.double().var(0)
    return int((activity > threshold).sum()), activity


@torch.no_grad()
def kl_per_dimension(model: ELBOFramework, x: torch.Tensor, batch_size: int = 1000):
    """Mean over ``x`` of KL(q(z_j|x) ‖ N(0, 1)) for each latent dimension j (L,), nats, and
    the posterior means (N, L)."""
    kls, mus = [], []
    for xb in x.split(batch_size):
        mu, logvar = model.encoder(xb)
        kls.append(standard_normal_kl_per_dim(mu, logvar, validate=False).sum(0))
        mus.append(mu)
    return torch.stack(kls).sum(0).double() / len(x), torch.cat(mus)


@torch.no_grad()
def latent_traversal(model: ELBOFramework, x_ref: torch.Tensor, dim: int,
                     values: Sequence[float]) -> torch.Tensor:
    """Decoder means as latent ``dim`` takes each of ``values``, the other dimensions held at
    the posterior mean of ``x_ref`` (D,). Shape (len(values), D)."""
    mu, _ = model.encoder(x_ref.reshape(1, -1))
    z = mu.repeat(len(values), 1)
    z[:, dim] = torch.as_tensor(list(values), dtype=z.dtype, device=z.device)
    return decoder_means(model, z)


__all__ = ["ACTIVE_UNIT_THRESHOLD", "active_units", "bits_per_dim", "decoder_means",
           "evaluate_elbo", "evaluate_log_likelihood", "iwae_per_example", "kl_per_dimension",
           "latent_traversal", "per_example_elbo", "reconstruct", "sample_prior"]
