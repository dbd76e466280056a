r"""Part 1: why :math:`p(x)=\int p(x\mid z)\,p(z)\,dz` is intractable, measured against the truth.

:class:`IntractableLikelihoodDemo` is a latent-variable model
:math:`z\sim\mathcal N(0, I_d)`, :math:`x = f_\theta(z) + \sigma\varepsilon` with either a
linear decoder :math:`f(z) = Wz + b` (then :math:`p(x) = \mathcal N(b, WW^\top+\sigma^2 I)` and
:math:`p(z\mid x)` are exact, so every estimator can be held against the true answer) or a
small tanh MLP (then the reference is a very large importance-sampled run with its standard
error). All computations are in float64 and in log space.

Shapes: data ``x`` is (B, D); latent samples ``z`` are (S, L) (shared by every x) or
(S, B, L) (one set per x, e.g. drawn from a per-x proposal); log-likelihoods and log-weights
are (S, B). Units: nats.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .checks import check_count, check_float_tensor
from .densities import LOG_2PI, mvn_log_prob
from .estimators import (
    LogMeanExpEstimate,
    iwae_bound,
    monte_carlo_mean,
    streaming_log_mean_exp,
)
from .kl import mvn_kl

DECODERS = ("linear", "mlp")
F64 = torch.float64
# Working memory for one chunk of latent samples; n_samples beyond it are streamed.
CHUNK_BYTES = 128 * 2**20


@dataclass(frozen=True)
class GaussianProposal:
    """A full-covariance Gaussian per data point: ``mean`` (B, L), ``scale_tril`` (B, L, L)
    or (L, L). Used as the exact posterior, a mis-scaled proposal, or a fitted one."""

    mean: torch.Tensor
    scale_tril: torch.Tensor

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw (n, B, L) samples by mean + L·ε."""
        return self.sample_with_log_prob(n, generator)[0]

    def sample_with_log_prob(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw z = mean + L·ε, (n, B, L), with log q(z), (n, B), read off ε (no solve):
        log q = −½(L log 2π + ‖ε‖²) − Σ log diag L."""
        eps = torch.randn((n, *self.mean.shape), generator=generator, dtype=self.mean.dtype)
        if self.scale_tril.dim() == 2:  # shared factor: one matmul
            z = self.mean + eps @ self.scale_tril.T
        else:
            z = self.mean + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        half_logdet = torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)
        return z, -0.5 * (self.mean.shape[-1] * LOG_2PI + (eps * eps).sum(-1)) - half_logdet

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) for z (S, B, L) → (S, B)."""
        return mvn_log_prob(z, self.mean, self.scale_tril, validate=False)

    def scaled(self, factor: float) -> GaussianProposal:
        """The same Gaussian with every standard deviation multiplied by ``factor``."""
        return GaussianProposal(self.mean, self.scale_tril * factor)


@dataclass(frozen=True)
class EstimatorResult:
    """One estimator's answer for a batch of x: ``estimate`` and ``stderr`` (B,), effective
    sample size (B,) where meaningful, samples used and wall time."""

    name: str
    estimate: torch.Tensor
    stderr: torch.Tensor
    ess: torch.Tensor | None
    n_samples: int
    seconds: float


class IntractableLikelihoodDemo:
    """The lab's latent-variable model with an exact answer (linear) or a reference (MLP).

    ``latent_dim`` d, ``data_dim`` D, ``noise_std`` σ of the Gaussian observation noise,
    ``seed`` for the decoder's weights. Linear weights have entries N(0, 1/D)·``weight_scale``
    so that WᵀW ≈ weight_scale²·I whatever D: each latent dimension then carries a similar
    amount of information about x, and the posterior's KL from the prior grows linearly in d.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        data_dim: int = 10,
        decoder: str = "linear",
        noise_std: float = 1.0,
        seed: int = 0,
        *,
        weight_scale: float = 1.0,
        hidden: int = 64,
    ) -> None:
        check_count("latent_dim", latent_dim)
        check_count("data_dim", data_dim)
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        if not (isinstance(noise_std, int | float) and noise_std > 0 and math.isfinite(noise_std)):
            raise ValueError(f"noise_std must be a positive finite number, got {noise_std!r}")
        self.latent_dim, self.data_dim, self.decoder = latent_dim, data_dim, decoder
        self.hidden = hidden
        self.noise_std = float(noise_std)
        self.noise_logvar = 2 * math.log(noise_std)
        g = torch.Generator().manual_seed(seed)
        if decoder == "linear":
            self.W = torch.randn(data_dim, latent_dim, generator=g, dtype=F64) * (
                weight_scale / math.sqrt(data_dim))
            self.b = torch.randn(data_dim, generator=g, dtype=F64) * 0.5
            self._gram = self.W.T @ self.W  # WᵀW (L, L)
        else:
            self.W1 = torch.randn(hidden, latent_dim, generator=g, dtype=F64) * 1.5
            self.b1 = torch.randn(hidden, generator=g, dtype=F64) * 0.5
            self.W2 = torch.randn(data_dim, hidden, generator=g, dtype=F64) * (
                weight_scale * 2 / math.sqrt(hidden))
            self.b2 = torch.randn(data_dim, generator=g, dtype=F64) * 0.5

    def chunk_size_for(self, n_x: int, paired: bool) -> int:
        """Samples per chunk so that one chunk's float64 temporaries stay near
        :data:`CHUNK_BYTES`: z and its products for the linear decoder, hidden units and
        decoded means for the MLP (per x when each x has its own samples)."""
        if self.decoder == "linear":
            width = self.latent_dim * (6 if paired else 4) * (n_x if paired else 1) + 4 * n_x
        else:
            width = (self.latent_dim + 2 * (self.hidden + self.data_dim)) * (
                n_x if paired else 1) + 2 * n_x
        return max(256, CHUNK_BYTES // (8 * width))

    # -- the generative model -------------------------------------------------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """f_θ(z): (…, L) → (…, D)."""
        if self.decoder == "linear":
            return z @ self.W.T + self.b
        return torch.tanh(z @ self.W1.T + self.b1) @ self.W2.T + self.b2

    def sample_prior(
        self, n_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z ~ N(0, I), shape (n_samples, latent_dim), float64."""
        check_count("n_samples", n_samples)
        return torch.randn(n_samples, self.latent_dim, generator=generator, dtype=F64)

    def sample_data(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = f(z) + σε with z ~ p(z): shape (n, data_dim)."""
        z = self.sample_prior(n, generator)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=F64)
        return self.decode(z) + self.noise_std * noise

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        check_float_tensor("x", x)
        if x.dim() not in (1, 2) or x.shape[-1] != self.data_dim:
            raise ValueError(
                f"x must have shape (B, {self.data_dim}) or ({self.data_dim},), got {list(x.shape)}"
            )
        return x.to(F64).reshape(-1, self.data_dim)

    def _log_lik(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (B, D) and z (S, L) or (S, B, L) → (S, B), without forming the
        (S, B, D) residuals: ‖x − f(z)‖² = ‖x‖² − 2 xᵀf(z) + ‖f(z)‖², in float64."""
        if self.decoder == "linear":
            r = x - self.b  # (B, D)
            rw = r @ self.W  # (B, L)
            zg = z @ self._gram  # z WᵀW
            quad_z = (zg * z).sum(-1)  # (S,) or (S, B)
            if z.dim() == 2:
                cross = z @ rw.T  # (S, B)
                quad_z = quad_z[:, None]
            else:
                cross = (z * rw).sum(-1)  # (S, B)
            sq = (r * r).sum(-1) - 2 * cross + quad_z
        else:
            means = self.decode(z)  # (S, D) or (S, B, D)
            if z.dim() == 2:
                sq = (x * x).sum(-1) - 2 * means @ x.T + (means * means).sum(-1)[:, None]
            else:
                sq = ((x - means) ** 2).sum(-1)
        sq = sq.clamp_min(0.0)  # rounding can push an exact 0 below it
        return -0.5 * (self.data_dim * (LOG_2PI + self.noise_logvar)
                       + sq * math.exp(-self.noise_logvar))

    def likelihood_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r"""**Log**-likelihood :math:`\log p(x\mid z) = \log\mathcal N(x; f_\theta(z), \sigma^2 I)`.

        ``x`` (B, D) or (D,); ``z`` (S, L), (L,) (every z paired with every x) or (S, B, L)
        (one set per x). Returns (S, B) with size-1 dimensions of 1-D inputs squeezed out.
        """
        squeeze_x = x.dim() == 1
        xb = self._check_x(x)
        check_float_tensor("z", z)
        if z.shape[-1] != self.latent_dim or z.dim() > 3:
            raise ValueError(f"z must have shape (S, {self.latent_dim}) or (S, B, "
                             f"{self.latent_dim}), got {list(z.shape)}")
        squeeze_z = z.dim() == 1
        zz = z.to(F64).reshape(1, -1) if squeeze_z else z.to(F64)
        if zz.dim() == 3 and zz.shape[1] != xb.shape[0]:
            raise ValueError(f"z of shape (S, B, L) needs B = {xb.shape[0]} to match x")
        out = self._log_lik(xb, zz)
        if squeeze_x:
            out = out[..., 0]
        return out[0] if squeeze_z else out

    # -- estimators of log p(x) ---------------------------------------------------------------
    def approximate_marginal_likelihood(
        self,
        x: torch.Tensor,
        n_samples: int = 1000,
        *,
        generator: torch.Generator | None = None,
        chunk_size: int | None = None,
    ) -> LogMeanExpEstimate:
        r"""Naive Monte Carlo: :math:`\log p(x) \approx \log\frac1n\sum_i p(x\mid z_i)`,
        :math:`z_i\sim p(z)`, computed in log space (streaming logsumexp), with the
        delta-method standard error and the effective sample size. Shapes (B,). Memory is
        one chunk of samples (``chunk_size``, by default :meth:`chunk_size_for`)."""
        xb = self._check_x(x)
        return streaming_log_mean_exp(
            lambda m: self._log_lik(xb, self.sample_prior(m, generator)), n_samples,
            chunk_size or self.chunk_size_for(len(xb), paired=False))

    def naive_probability_space(
        self,
        x: torch.Tensor,
        n_samples: int = 1000,
        *,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        r"""The textbook formula taken literally: :math:`\log\big(\frac1n\sum_i p(x\mid z_i)\big)`
        with the likelihoods exponentiated in ``dtype``. Once log p(x|z) falls below about
        −104 (float32) or −745 (float64) every term underflows to 0 and the answer is −inf.
        Shape (B,)."""
        xb = self._check_x(x)
        lik = torch.exp(self._log_lik(xb, self.sample_prior(n_samples, generator)).to(dtype))
        return torch.log(lik.mean(0))

    def importance_sampling(
        self,
        x: torch.Tensor,
        proposal: GaussianProposal,
        n_samples: int = 1000,
        *,
        generator: torch.Generator | None = None,
        chunk_size: int | None = None,
    ) -> LogMeanExpEstimate:
        r"""Importance sampling: :math:`\log p(x) \approx \log\frac1n\sum_i
        \frac{p(x\mid z_i)p(z_i)}{q(z_i)}`, :math:`z_i\sim q`. With q the exact posterior
        every weight equals p(x): zero variance. Shapes (B,)."""
        xb = self._check_x(x)
        return streaming_log_mean_exp(
            lambda m: self.log_weights(xb, proposal, m, generator=generator), n_samples,
            chunk_size or self.chunk_size_for(len(xb), paired=True))

    def log_weights(
        self,
        x: torch.Tensor,
        proposal: GaussianProposal,
        n: int,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """log p(x|z) + log p(z) − log q(z) for n draws z ~ q: shape (n, B)."""
        xb = self._check_x(x)
        z, log_q = proposal.sample_with_log_prob(n, generator)
        log_prior = -0.5 * (self.latent_dim * LOG_2PI + (z * z).sum(-1))
        return self._log_lik(xb, z) + log_prior - log_q

    def iwae(
        self,
        x: torch.Tensor,
        proposal: GaussianProposal,
        k: int,
        n_bounds: int = 100,
        *,
        generator: torch.Generator | None = None,
        chunk_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E[IWAE-k] estimated from ``n_bounds`` independent k-sample bounds: (mean, stderr),
        each (B,). k = 1 is the ELBO with a sampled KL."""
        check_count("k", k)
        check_count("n_bounds", n_bounds)
        xb = self._check_x(x)
        chunk_size = chunk_size or self.chunk_size_for(len(xb), paired=True)
        per_chunk = max(1, chunk_size // k)  # bounds per chunk: ~chunk_size weights at a time
        bounds = []
        for start in range(0, n_bounds, per_chunk):
            m = min(per_chunk, n_bounds - start)
            log_w = self.log_weights(xb, proposal, m * k, generator=generator)
            bounds.append(iwae_bound(log_w.reshape(m, k, -1), dim=1, validate=False))
        r = monte_carlo_mean(torch.cat(bounds), validate=False)
        return r.estimate, r.stderr

    def compare_estimators(
        self,
        x: torch.Tensor,
        n_samples: int,
        *,
        proposals: dict[str, GaussianProposal] | None = None,
        iwae_proposal: GaussianProposal | None = None,
        iwae_k: tuple[int, ...] = (1, 10, 100),
        generator: torch.Generator | None = None,
    ) -> list[EstimatorResult]:
        """Naive prior MC, importance sampling with each proposal, and IWAE-k with
        ``iwae_proposal`` playing the encoder, each given ``n_samples`` likelihood evaluations
        and timed. Defaults (linear decoder): the exact posterior, and the posterior with its
        standard deviations doubled and halved; the halved one plays the encoder (a typical
        VAE encoder is over-confident)."""
        xb = self._check_x(x)
        if proposals is None:
            if self.decoder != "linear":
                raise ValueError("pass proposals= for the MLP decoder (no exact posterior)")
            post = self.exact_posterior(xb)
            proposals = {"IS, exact posterior": post, "IS, posterior x2 wide": post.scaled(2.0),
                         "IS, posterior x0.5 narrow": post.scaled(0.5)}
            iwae_proposal = iwae_proposal or post.scaled(0.5)
        if iwae_proposal is None:
            raise ValueError("pass iwae_proposal= together with proposals=")
        out = []
        t0 = time.perf_counter()
        r = self.approximate_marginal_likelihood(xb, n_samples, generator=generator)
        out.append(EstimatorResult("naive prior MC", r.log_mean, r.stderr, r.ess, n_samples,
                                   time.perf_counter() - t0))
        for name, q in proposals.items():
            t0 = time.perf_counter()
            r = self.importance_sampling(xb, q, n_samples, generator=generator)
            out.append(EstimatorResult(name, r.log_mean, r.stderr, r.ess, n_samples,
                                       time.perf_counter() - t0))
        for k in iwae_k:
            t0 = time.perf_counter()
            est, se = self.iwae(xb, iwae_proposal, k, max(n_samples // k, 2), generator=generator)
            name = "ELBO (IWAE-1)" if k == 1 else f"IWAE-{k}"
            out.append(EstimatorResult(name, est, se, None, max(n_samples // k, 2) * k,
                                       time.perf_counter() - t0))
        return out

    # -- exact answers (linear decoder) -------------------------------------------------------
    def _require_linear(self, what: str) -> None:
        if self.decoder != "linear":
            raise ValueError(f"{what} is exact only for the linear decoder; use "
                             "reference_log_marginal for the MLP")

    def _posterior_precision_tril(self) -> torch.Tensor:
        """Cholesky factor of the posterior precision A = I + WᵀW/σ²."""
        eye = torch.eye(self.latent_dim, dtype=F64)
        return torch.linalg.cholesky(eye + self._gram * math.exp(-self.noise_logvar))

    def exact_log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        r"""Exact :math:`\log p(x) = \log\mathcal N(x; b, WW^\top + \sigma^2 I)`, shape (B,).

        Computed in the d-dimensional latent space (matrix determinant lemma and Woodbury,
        with a Cholesky factor and triangular solves, no inverse):
        :math:`\log\det C = D\log\sigma^2 + 2\sum\log\operatorname{diag}L_A` and
        :math:`r^\top C^{-1} r = (\lVert r\rVert^2
        - \lVert L_A^{-1}W^\top r\rVert^2/\sigma^2)/\sigma^2`
        with :math:`A = I + W^\top W/\sigma^2 = L_AL_A^\top`, :math:`r = x - b`.
        """
        self._require_linear("exact_log_marginal")
        xb = self._check_x(x)
        la = self._posterior_precision_tril()
        r = xb - self.b
        inv_s2 = math.exp(-self.noise_logvar)
        y = torch.linalg.solve_triangular(la, (r @ self.W).T, upper=False)  # (L, B)
        quad = ((r * r).sum(-1) - inv_s2 * (y * y).sum(0)) * inv_s2
        logdet = self.data_dim * self.noise_logvar + 2 * torch.diagonal(la).log().sum()
        out = -0.5 * (self.data_dim * LOG_2PI + logdet + quad)
        return out[0] if x.dim() == 1 else out

    def exact_posterior(self, x: torch.Tensor) -> GaussianProposal:
        r"""Exact :math:`p(z\mid x) = \mathcal N(A^{-1}W^\top(x-b)/\sigma^2,\ A^{-1})`,
        :math:`A = I + W^\top W/\sigma^2`: mean (B, L) by two triangular solves, covariance's
        Cholesky factor (L, L) from a Cholesky solve."""
        self._require_linear("exact_posterior")
        xb = self._check_x(x)
        la = self._posterior_precision_tril()
        rhs = ((xb - self.b) @ self.W).T * math.exp(-self.noise_logvar)  # (L, B)
        mean = torch.cholesky_solve(rhs, la).T
        cov = torch.cholesky_solve(torch.eye(self.latent_dim, dtype=F64), la)
        return GaussianProposal(mean, torch.linalg.cholesky(cov))

    def expected_log_likelihood(self, x: torch.Tensor, q: GaussianProposal) -> torch.Tensor:
        r""":math:`\mathbb E_{q}[\log p(x\mid z)]` in closed form for the linear decoder:
        :math:`-\tfrac12\big[D\log 2\pi\sigma^2 + (\lVert x-Wm-b\rVert^2
        + \lVert WL_q\rVert_F^2)/\sigma^2\big]`. Shape (B,)."""
        self._require_linear("expected_log_likelihood")
        xb = self._check_x(x)
        resid = xb - self.decode(q.mean)
        trace = (self.W @ q.scale_tril).pow(2).sum(dim=(-2, -1))
        return -0.5 * (self.data_dim * (LOG_2PI + self.noise_logvar)
                       + ((resid * resid).sum(-1) + trace) * math.exp(-self.noise_logvar))

    def exact_elbo(self, x: torch.Tensor, q: GaussianProposal) -> torch.Tensor:
        r"""ELBO(q) = E_q[log p(x|z)] − KL(q ‖ N(0, I)), both in closed form. Shape (B,)."""
        eye = torch.eye(self.latent_dim, dtype=F64)
        kl_prior = mvn_kl(q.mean, q.scale_tril, torch.zeros_like(q.mean), eye, validate=False)
        return self.expected_log_likelihood(x, q) - kl_prior

    def posterior_kl_from_prior(self, x: torch.Tensor) -> torch.Tensor:
        r"""KL(p(z|x) ‖ p(z)): by Chatterjee & Diaconis (2018), naive prior sampling needs
        about :math:`e^{\mathrm{KL}}` samples to be accurate. Shape (B,)."""
        post = self.exact_posterior(x)
        eye = torch.eye(self.latent_dim, dtype=F64)
        return mvn_kl(post.mean, post.scale_tril, torch.zeros_like(post.mean), eye,
                      validate=False)

    # -- reference answers (any decoder) ------------------------------------------------------
    def fit_gaussian_proposal(
        self,
        x: torch.Tensor,
        *,
        steps: int = 400,
        n_mc: int = 64,
        lr: float = 0.05,
        generator: torch.Generator | None = None,
    ) -> GaussianProposal:
        """A diagonal Gaussian q(z|x) per x fit by maximizing a reparameterized ELBO with Adam
        (vectorized over the batch). The starting point for a reference IS run."""
        xb = self._check_x(x)
        mean = torch.zeros(xb.shape[0], self.latent_dim, dtype=F64, requires_grad=True)
        log_std = torch.full_like(mean, -1.0).requires_grad_()
        opt = torch.optim.Adam([mean, log_std], lr=lr)
        for _ in range(steps):
            eps = torch.randn(n_mc, *mean.shape, generator=generator, dtype=F64)
            z = mean + log_std.exp() * eps
            log_joint = self._log_lik(xb, z) - 0.5 * (z * z).sum(-1)
            loss = -(log_joint.mean(0) + log_std.sum(-1)).sum()  # entropy up to a constant
            opt.zero_grad()
            loss.backward()
            opt.step()
        return GaussianProposal(mean.detach(), torch.diag_embed(log_std.detach().exp()))

    def reference_log_marginal(
        self,
        x: torch.Tensor,
        n_samples: int = 1_000_000,
        *,
        inflate: float = 3.0,
        generator: torch.Generator | None = None,
    ) -> LogMeanExpEstimate:
        """Reference log p(x): importance sampling with a fitted Gaussian proposal whose scale
        is inflated ×``inflate``, over ``n_samples`` draws; report its standard error and ESS
        alongside. A tanh decoder's posterior can be multimodal and the fitted Gaussian sits
        on one mode; widening it threefold keeps every mode covered (measured on the lab's
        model: ESS ≈ 25% of the draws for every x, against 1–70% at ×1.5). For the linear
        decoder use the exact :meth:`exact_log_marginal` instead."""
        q = self.fit_gaussian_proposal(x, generator=generator).scaled(inflate)
        return self.importance_sampling(x, q, n_samples, generator=generator)


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
    the mean reported standard error, mean ESS, KL(posterior ‖ prior), wall time."""
    rows = []
    for d in latent_dims:
        demo = IntractableLikelihoodDemo(d, data_dim, "linear", noise_std, seed + d)
        x = demo.sample_data(n_data, generator)
        exact = demo.exact_log_marginal(x)
        kl_post = demo.posterior_kl_from_prior(x).mean().item()
        for n in sample_counts:
            t0 = time.perf_counter()
            r = demo.approximate_marginal_likelihood(x, n, generator=generator)
            seconds = time.perf_counter() - t0
            err = r.log_mean - exact
            rows.append({
                "latent_dim": d, "n_samples": n, "mean_abs_error": err.abs().mean().item(),
                "rmse": err.pow(2).mean().sqrt().item(), "mean_error": err.mean().item(),
                "reported_stderr": r.stderr.mean().item(), "ess": r.ess.mean().item(),
                "kl_posterior_prior": kl_post, "seconds": seconds,
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
    dimension grows (latent d = 2): where the naive formula returns −inf."""
    rows = []
    for dim in data_dims:
        demo = IntractableLikelihoodDemo(2, dim, "linear", 1.0, seed)
        x = demo.sample_data(1, generator)
        rows.append({
            "data_dim": dim,
            "exact": demo.exact_log_marginal(x).item(),
            "log_space": demo.approximate_marginal_likelihood(x, n_samples,
                                                              generator=generator).log_mean.item(),
            "prob_space_float32": demo.naive_probability_space(
                x, n_samples, dtype=torch.float32, generator=generator).item(),
            "prob_space_float64": demo.naive_probability_space(
                x, n_samples, dtype=torch.float64, generator=generator).item(),
        })
    return rows


__all__ = [
    "EstimatorResult",
    "GaussianProposal",
    "IntractableLikelihoodDemo",
    "naive_mc_sweep",
    "samples_for_accuracy",
    "underflow_table",
]
