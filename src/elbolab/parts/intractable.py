r"""Part 1: why :math:`p(x)=\int p(x\mid z)\,p(z)\,dz` is intractable, measured against the truth.

The estimators of :math:`\log p(x)` take a model of :mod:`elbolab.parts.latent_models` as an
argument (a latent-variable model of :mod:`elbolab.posterior`: ``log_likelihood(x, z)``,
``prior``, and ``sample_prior`` and ``latent_dim``): naive prior Monte Carlo, the
probability-space average taken literally, importance sampling with a proposal, the IWAE-k
bound, and a reference run with a fitted proposal. Each returns a
:class:`~elbolab.estimators.MonteCarloEstimate` (estimate, stderr, n, and ess for importance
sampling). With a :class:`~elbolab.parts.latent_models.
LinearGaussianModel` every answer can be held against the exact one.

:class:`IntractableLikelihoodDemo` is the lab's class: a model and these estimators under the
handout's names. All computations are in float64 and in log space. Shapes: data ``x`` is
(B, D); results are (B,). Units: nats.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from ..checks import check_count
from ..densities import F64
from ..estimators import (
    LogMeanExpAccumulator,
    MonteCarloEstimate,
    iwae_bound,
    monte_carlo_mean,
    streaming_log_mean_exp,
)
from ..posterior import log_importance_weights as posterior_log_importance_weights
from ..variational import fit_diagonal_gaussian, reverse_kl_loss
from .latent_models import (
    MODELS,
    GaussianProposal,
    LatentGaussianModel,
    LinearGaussianModel,
    MLPDecoderModel,
)


# -- estimators of log p(x), for any model ---------------------------------------------------
def naive_monte_carlo(
    model: LatentGaussianModel, x: torch.Tensor, n_samples: int = 1000, *,
    generator: torch.Generator | None = None, chunk_size: int | None = None,
) -> MonteCarloEstimate:
    r"""Naive Monte Carlo: :math:`\log p(x) \approx \log\frac1n\sum_i p(x\mid z_i)`,
    :math:`z_i\sim p(z)`, computed in log space (streaming logsumexp), with the delta-method
    standard error and the effective sample size. Shapes (B,). Memory is one chunk of samples
    (``chunk_size``, by default the model's ``chunk_size_for``)."""
    xb = model.check_x(x)
    return streaming_log_mean_exp(
        lambda m: model.log_likelihood(xb, model.sample_prior(m, generator)), n_samples,
        chunk_size or model.chunk_size_for(len(xb), paired=False))


def naive_probability_space(
    model: LatentGaussianModel, x: torch.Tensor, n_samples: int = 1000, *,
    dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The textbook formula taken literally: :math:`\log\big(\frac1n\sum_i p(x\mid z_i)\big)`
    with the likelihoods exponentiated in ``dtype``. Once log p(x|z) falls below about
    −104 (float32) or −745 (float64) every term underflows to 0 and the answer is −inf.
    Shape (B,)."""
    xb = model.check_x(x)
    lik = torch.exp(model.log_likelihood(xb, model.sample_prior(n_samples, generator)).to(dtype))
    return torch.log(lik.mean(0))


def log_importance_weights(
    model: LatentGaussianModel, x: torch.Tensor, proposal: GaussianProposal, n: int, *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) − log q(z) for n draws z ~ q: shape (n, B)."""
    return posterior_log_importance_weights(model, model.check_x(x), n, posterior=proposal,
                                            generator=generator)


def importance_sampling(
    model: LatentGaussianModel, x: torch.Tensor, proposal: GaussianProposal,
    n_samples: int = 1000, *, generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> MonteCarloEstimate:
    r"""Importance sampling: :math:`\log p(x) \approx \log\frac1n\sum_i
    \frac{p(x\mid z_i)p(z_i)}{q(z_i)}`, :math:`z_i\sim q`. With q the exact posterior every
    weight equals p(x): zero variance. Shapes (B,)."""
    xb = model.check_x(x)
    return streaming_log_mean_exp(
        lambda m: log_importance_weights(model, xb, proposal, m, generator=generator),
        n_samples, chunk_size or model.chunk_size_for(len(xb), paired=True))


def iwae(
    model: LatentGaussianModel, x: torch.Tensor, proposal: GaussianProposal, k: int,
    n_bounds: int = 100, *, generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> MonteCarloEstimate:
    r"""E[IWAE-k] (Burda et al. 2015, Eq. 8) estimated from ``n_bounds`` independent k-sample
    bounds :math:`\log\frac1k\sum_{i\le k} w_i`: their mean and its standard error, (B,),
    with ``n = n_bounds``. k = 1 is the ELBO with a sampled KL."""
    check_count("k", k)
    check_count("n_bounds", n_bounds)
    xb = model.check_x(x)
    chunk_size = chunk_size or model.chunk_size_for(len(xb), paired=True)
    per_chunk = max(1, chunk_size // k)  # bounds per chunk: ~chunk_size weights at a time
    bounds = []
    for start in range(0, n_bounds, per_chunk):
        m = min(per_chunk, n_bounds - start)
        log_w = log_importance_weights(model, xb, proposal, m * k, generator=generator)
        bounds.append(iwae_bound(log_w.reshape(m, k, -1), dim=1, validate=False))
    return monte_carlo_mean(torch.cat(bounds), validate=False)


@dataclass(frozen=True)
class EstimatorRun:
    """One estimator's answer for a batch of x (``result``: estimate, stderr, n, and ess
    where meaningful), its name, the likelihood evaluations it used and its wall time."""

    name: str
    result: MonteCarloEstimate
    evaluations: int
    seconds: float


def compare_estimators(
    model: LatentGaussianModel, x: torch.Tensor, n_samples: int, *,
    proposals: dict[str, GaussianProposal] | None = None,
    iwae_proposal: GaussianProposal | None = None, iwae_k: tuple[int, ...] = (1, 10, 100),
    generator: torch.Generator | None = None,
) -> list[EstimatorRun]:
    """Naive prior MC, importance sampling with each proposal, and IWAE-k with
    ``iwae_proposal`` playing the encoder, each given ``n_samples`` likelihood evaluations and
    timed. Defaults (linear model): the exact posterior, and the posterior with its standard
    deviations doubled and halved; the halved one plays the encoder (a typical VAE encoder is
    over-confident)."""
    xb = model.check_x(x)
    if proposals is None:
        if not isinstance(model, LinearGaussianModel):
            raise ValueError("pass proposals= for the MLP decoder (no exact posterior)")
        post = model.exact_posterior(xb)
        proposals = {"IS, exact posterior": post, "IS, posterior x2 wide": post.scaled(2.0),
                     "IS, posterior x0.5 narrow": post.scaled(0.5)}
        iwae_proposal = iwae_proposal or post.scaled(0.5)
    if iwae_proposal is None:
        raise ValueError("pass iwae_proposal= together with proposals=")

    def timed(name: str, evaluations: int, run) -> EstimatorRun:
        t0 = time.perf_counter()
        result = run()
        return EstimatorRun(name, result, evaluations, time.perf_counter() - t0)

    out = [timed("naive prior MC", n_samples,
                 lambda: naive_monte_carlo(model, xb, n_samples, generator=generator))]
    for name, q in proposals.items():
        out.append(timed(name, n_samples, lambda q=q: importance_sampling(
            model, xb, q, n_samples, generator=generator)))
    for k in iwae_k:
        n_bounds = max(n_samples // k, 2)
        out.append(timed("ELBO (IWAE-1)" if k == 1 else f"IWAE-{k}", n_bounds * k,
                         lambda k=k, n_bounds=n_bounds: iwae(
                             model, xb, iwae_proposal, k, n_bounds, generator=generator)))
    return out


def fit_gaussian_proposal(
    model: LatentGaussianModel, x: torch.Tensor, *, steps: int = 400, n_mc: int = 64,
    lr: float = 0.05, generator: torch.Generator | None = None,
) -> GaussianProposal:
    """A diagonal Gaussian q(z|x) per x fitted by maximizing a reparameterized ELBO with Adam
    (vectorized over the batch; :func:`elbolab.variational.fit_diagonal_gaussian`), started
    at N(0, e^{-2} I). The starting point for a reference importance-sampling run."""
    xb = model.check_x(x)
    mean = torch.zeros(xb.shape[0], model.latent_dim, dtype=F64)

    def log_joint(z: torch.Tensor) -> torch.Tensor:  # log p(x, z) up to a constant
        return model.log_likelihood(xb, z) - 0.5 * (z * z).sum(-1)

    fit = fit_diagonal_gaussian(reverse_kl_loss(log_joint, n_mc, generator=generator), mean,
                                torch.full_like(mean, -1.0), steps=steps, lr=lr)
    return GaussianProposal(fit.mean, torch.diag_embed(fit.std))


def reference_log_marginal(
    model: LatentGaussianModel, x: torch.Tensor, n_samples: int = 1_000_000, *,
    inflate: float = 3.0, generator: torch.Generator | None = None,
) -> MonteCarloEstimate:
    """Reference log p(x): importance sampling with a fitted Gaussian proposal whose scale is
    inflated ×``inflate``, over ``n_samples`` draws, with its standard error and ESS. A tanh
    decoder's posterior can be multimodal and the fitted Gaussian sits on one mode; widening
    it threefold keeps every mode covered (measured on the lab's model: ESS ≈ 25% of the draws
    for every x, against 1–70% at ×1.5). For the linear model use the exact
    ``exact_log_marginal`` instead."""
    q = fit_gaussian_proposal(model, x, generator=generator).scaled(inflate)
    return importance_sampling(model, x, q, n_samples, generator=generator)


def quadrature_log_marginal(
    model: LatentGaussianModel, x: torch.Tensor, *, half_width: float = 8.0,
    points: int = 1201,
) -> torch.Tensor:
    r"""log p(x) by deterministic quadrature over a 1- or 2-D latent space: the midpoint rule
    on ``points`` nodes per axis over [−``half_width``, ``half_width``],
    :math:`\log p(x) \approx \operatorname{logsumexp}_j\,[\log p(x\mid z_j) + \log p(z_j)]
    + \log \Delta^d`. No sampling, no proposal: an oracle independent of every Monte Carlo
    estimator, for the lab's MLP decoder whose p(x) has no closed form. Its error is the
    prior mass beyond the box (below 1e-14 at 8σ) plus the rule's discretization error
    (O(Δ²) relative for a posterior whose scale is much larger than Δ; check it by halving Δ).
    Shapes: x (B, D) → (B,), float64, nats."""
    xb = model.check_x(x)
    d = model.latent_dim
    if d not in (1, 2):
        raise ValueError(f"quadrature needs a latent dimension of 1 or 2, got {d}")
    check_count("points", points)
    step = 2 * half_width / points
    axis = -half_width + step * (torch.arange(points, dtype=F64) + 0.5)
    grid = (torch.cartesian_prod(axis, axis) if d == 2 else axis[:, None]).reshape(-1, d)
    acc = LogMeanExpAccumulator()
    for zc in grid.split(max(1, 2**22 // (len(xb) * model.data_dim))):
        acc.update(model.log_likelihood(xb, zc) + model.prior.log_prob(zc)[:, None])
    log_sum = acc.result().estimate + math.log(len(grid))  # log of the sum over all nodes
    return log_sum + d * math.log(step)


# -- the lab's class --------------------------------------------------------------------------
class IntractableLikelihoodDemo:
    """The lab's latent-variable model with an exact answer (``decoder="linear"``) or a
    reference (``"mlp"``), and the estimators of log p(x) under the handout's names.

    ``latent_dim`` d, ``data_dim`` D, ``noise_std`` σ of the Gaussian observation noise,
    ``seed`` for the decoder's weights; ``model`` is the
    :class:`~elbolab.parts.latent_models.LinearGaussianModel` or
    :class:`~elbolab.parts.latent_models.MLPDecoderModel` it wraps.
    """

    def __init__(self, latent_dim: int = 2, data_dim: int = 10, decoder: str = "linear",
                 noise_std: float = 1.0, seed: int = 0, *, weight_scale: float = 1.0,
                 hidden: int = 64) -> None:
        if decoder not in MODELS:
            raise ValueError(f"decoder must be one of {tuple(MODELS)}, got {decoder!r}")
        self.decoder = decoder
        self.model: LinearGaussianModel | MLPDecoderModel = (
            LinearGaussianModel(latent_dim, data_dim, noise_std, seed, weight_scale=weight_scale)
            if decoder == "linear" else
            MLPDecoderModel(latent_dim, data_dim, noise_std, seed, weight_scale=weight_scale,
                            hidden=hidden))

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def data_dim(self) -> int:
        return self.model.data_dim

    @property
    def noise_std(self) -> float:
        return self.model.noise_std

    # -- the model ----------------------------------------------------------------------------
    def sample_prior(self, n_samples: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n_samples, latent_dim)."""
        return self.model.sample_prior(n_samples, generator)

    def sample_data(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = f(z) + σε, (n, data_dim)."""
        return self.model.sample_data(n, generator)

    def log_likelihood_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z); see :meth:`LatentGaussianModel.log_likelihood_given_z`."""
        return self.model.log_likelihood_given_z(x, z)

    #: The handout's name for :meth:`log_likelihood_given_z` (it returns a **log**-likelihood).
    likelihood_given_z = log_likelihood_given_z

    # -- estimators -------------------------------------------------------------------------
    def approximate_marginal_likelihood(self, x: torch.Tensor, n_samples: int = 1000, *,
                                        generator: torch.Generator | None = None,
                                        chunk_size: int | None = None) -> MonteCarloEstimate:
        """The handout's name for :func:`naive_monte_carlo`: log p(x) by prior sampling."""
        return naive_monte_carlo(self.model, x, n_samples, generator=generator,
                                 chunk_size=chunk_size)

    def naive_probability_space(self, x: torch.Tensor, n_samples: int = 1000, *,
                                dtype: torch.dtype = torch.float32,
                                generator: torch.Generator | None = None) -> torch.Tensor:
        """See :func:`naive_probability_space`."""
        return naive_probability_space(self.model, x, n_samples, dtype=dtype,
                                       generator=generator)

    def importance_sampling(self, x: torch.Tensor, proposal: GaussianProposal,
                            n_samples: int = 1000, *, generator: torch.Generator | None = None,
                            chunk_size: int | None = None) -> MonteCarloEstimate:
        """See :func:`importance_sampling`."""
        return importance_sampling(self.model, x, proposal, n_samples, generator=generator,
                                   chunk_size=chunk_size)

    def iwae(self, x: torch.Tensor, proposal: GaussianProposal, k: int, n_bounds: int = 100, *,
             generator: torch.Generator | None = None,
             chunk_size: int | None = None) -> MonteCarloEstimate:
        """See :func:`iwae`."""
        return iwae(self.model, x, proposal, k, n_bounds, generator=generator,
                    chunk_size=chunk_size)

    def compare_estimators(self, x: torch.Tensor, n_samples: int, **kwargs) -> list[EstimatorRun]:
        """See :func:`compare_estimators`."""
        return compare_estimators(self.model, x, n_samples, **kwargs)

    def reference_log_marginal(self, x: torch.Tensor, n_samples: int = 1_000_000, *,
                               inflate: float = 3.0,
                               generator: torch.Generator | None = None) -> MonteCarloEstimate:
        """See :func:`reference_log_marginal`."""
        return reference_log_marginal(self.model, x, n_samples, inflate=inflate,
                                      generator=generator)

    # -- exact answers (linear decoder) -------------------------------------------------------
    def _linear(self, what: str) -> LinearGaussianModel:
        if not isinstance(self.model, LinearGaussianModel):
            raise ValueError(f"{what} is exact only for the linear decoder; use "
                             "reference_log_marginal for the MLP")
        return self.model

    def exact_log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x), (B,); see :meth:`LinearGaussianModel.exact_log_marginal`."""
        return self._linear("exact_log_marginal").exact_log_marginal(x)

    def exact_posterior(self, x: torch.Tensor) -> GaussianProposal:
        """Exact p(z|x); see :meth:`LinearGaussianModel.exact_posterior`."""
        return self._linear("exact_posterior").exact_posterior(x)

    def exact_elbo(self, x: torch.Tensor, q: GaussianProposal) -> torch.Tensor:
        """ELBO(q) in closed form; see :meth:`LinearGaussianModel.exact_elbo`."""
        return self._linear("exact_elbo").exact_elbo(x, q)

    def posterior_kl_from_prior(self, x: torch.Tensor) -> torch.Tensor:
        """KL(p(z|x) ‖ p(z)); see :meth:`LinearGaussianModel.posterior_kl_from_prior`."""
        return self._linear("posterior_kl_from_prior").posterior_kl_from_prior(x)


# -- the lab's sweeps ---------------------------------------------------------------------------
def naive_mc_sweep(
    latent_dims: tuple[int, ...],
    sample_counts: tuple[int, ...],
    *,
    data_dim: int = 64,
    n_data: int = 16,
    noise_std: float = 1.0,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> list[dict]:
    """Naive prior Monte Carlo against the exact log p(x) for each latent dimension and
    sample count. One record per (d, n): mean |error| and RMSE over ``n_data`` data points,
    the mean reported standard error, mean ESS, KL(posterior ‖ prior), wall time, and the
    largest and median |error| / reported SE (``max_abs_z``, ``median_abs_z``)."""
    rows = []
    for d in latent_dims:
        model = LinearGaussianModel(d, data_dim, noise_std, seed + d)
        x = model.sample_data(n_data, generator)
        exact = model.exact_log_marginal(x)
        kl_post = model.posterior_kl_from_prior(x).mean().item()
        for n in sample_counts:
            t0 = time.perf_counter()
            r = naive_monte_carlo(model, x, n, generator=generator)
            seconds = time.perf_counter() - t0
            err = r.estimate - exact
            z = (err / r.stderr).abs()
            rows.append({
                "latent_dim": d, "n_samples": n, "mean_abs_error": err.abs().mean().item(),
                "rmse": err.pow(2).mean().sqrt().item(), "mean_error": err.mean().item(),
                "reported_stderr": r.stderr.mean().item(), "ess": r.ess.mean().item(),
                "kl_posterior_prior": kl_post, "seconds": seconds,
                # |error| / reported SE: ~N(0,1) when the delta-method error bar is honest
                "max_abs_z": z.max().item(), "median_abs_z": z.median().item(),
            })
    return rows


def samples_for_accuracy(rows: list[dict], tolerance: float = 1.0) -> dict[int, int | None]:
    """For each latent dimension, the smallest sample count in the sweep whose mean |error|
    is at most ``tolerance`` nats (``None`` if none reached it)."""
    out: dict[int, int | None] = {}
    for d in sorted({r["latent_dim"] for r in rows}):
        ok = [r["n_samples"] for r in rows if r["latent_dim"] == d
              and r["mean_abs_error"] <= tolerance]
        out[d] = min(ok) if ok else None
    return out


def underflow_table(
    data_dims: tuple[int, ...], n_samples: int = 1000, *, seed: int = 0,
    generator: torch.Generator | None = None,
) -> list[dict]:
    """The probability-space average in float32 and float64 vs the log-space one as the data
    dimension grows (latent d = 2): where the naive formula returns −inf. The three columns
    of a row average the same prior draws (the generator is rewound between them), so they
    differ only by how they average."""
    generator = generator or torch.Generator().manual_seed(seed)
    rows = []
    for dim in data_dims:
        model = LinearGaussianModel(2, dim, 1.0, seed)
        x = model.sample_data(1, generator)
        state = generator.get_state()

        def rewound(g: torch.Generator = generator, s: torch.Tensor = state) -> torch.Generator:
            g.set_state(s)
            return g

        rows.append({
            "data_dim": dim,
            "exact": model.exact_log_marginal(x).item(),
            "log_space": naive_monte_carlo(model, x, n_samples, generator=rewound(),
                                           chunk_size=n_samples).estimate.item(),
            "prob_space_float32": naive_probability_space(
                model, x, n_samples, dtype=torch.float32, generator=rewound()).item(),
            "prob_space_float64": naive_probability_space(
                model, x, n_samples, dtype=torch.float64, generator=rewound()).item(),
        })
    return rows


__all__ = ["EstimatorRun", "IntractableLikelihoodDemo", "compare_estimators",
           "fit_gaussian_proposal", "importance_sampling", "iwae", "log_importance_weights",
           "naive_mc_sweep", "naive_monte_carlo", "naive_probability_space",
           "quadrature_log_marginal",
           "reference_log_marginal", "samples_for_accuracy", "underflow_table"]
