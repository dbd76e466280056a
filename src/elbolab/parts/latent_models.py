r"""Part 1's latent-variable models: :math:`z\sim\mathcal N(0, I_d)`,
:math:`x = f_\theta(z) + \sigma\varepsilon`, in float64 and in log space.

- :class:`LinearGaussianModel`: :math:`f(z) = Wz + b`. Then :math:`p(x) = \mathcal N(b,
  WW^\top+\sigma^2 I)` and :math:`p(z\mid x)` are exact, so every estimator of
  :mod:`elbolab.parts.intractable` can be held against the true answer.
- :class:`MLPDecoderModel`: a small tanh MLP :math:`f`; no closed form (the reference is a
  large importance-sampled run).
- :class:`GaussianProposal`: a full-covariance Gaussian per data point (an exact posterior, a
  mis-scaled one, a fitted one) to sample latents from.

Shapes: data ``x`` is (B, D); latent samples ``z`` are (S, L) (shared by every x) or
(S, B, L) (one set per x, e.g. drawn from a per-x proposal); log-likelihoods are (S, B).
Units: nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..checks import check_count, check_float_tensor
from ..densities import F64, LOG_2PI, mvn_log_prob
from ..kl import mvn_kl
from ..posterior import STANDARD_NORMAL, StandardNormal

# Working memory for one chunk of latent samples; n_samples beyond it are streamed.
CHUNK_BYTES = 128 * 2**20


@dataclass(frozen=True)
class GaussianProposal:
    """A full-covariance Gaussian per data point: ``mean`` (B, L), ``scale_tril`` (B, L, L)
    or (L, L). Used as the exact posterior, a mis-scaled proposal, or a fitted one."""

    mean: torch.Tensor
    scale_tril: torch.Tensor

    @property
    def latent(self) -> int:
        return self.mean.shape[-1]

    @property
    def dtype(self) -> torch.dtype:
        return self.mean.dtype

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw (n, B, L) samples by mean + L·ε."""
        return self.rsample_with_log_prob(n, generator)[0]

    def rsample_with_log_prob(
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


class LatentGaussianModel:
    r"""What Part 1's models share: the prior N(0, I), Gaussian observation noise σ, sampling,
    and :math:`\log p(x\mid z) = -\tfrac12\big(D\log 2\pi\sigma^2 + \lVert x - f(z)\rVert^2
    /\sigma^2\big)`. Subclasses give the decoder ``f`` and the squared distance."""

    kind = "abstract"

    def __init__(self, latent_dim: int, data_dim: int, noise_std: float) -> None:
        check_count("latent_dim", latent_dim)
        check_count("data_dim", data_dim)
        if not (isinstance(noise_std, int | float) and noise_std > 0 and math.isfinite(noise_std)):
            raise ValueError(f"noise_std must be a positive finite number, got {noise_std!r}")
        self.latent_dim, self.data_dim = latent_dim, data_dim
        self.noise_std = float(noise_std)
        self.noise_logvar = 2 * math.log(noise_std)

    # -- the generative model -------------------------------------------------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """f_θ(z): (…, L) → (…, D)."""
        raise NotImplementedError

    def sample_prior(
        self, n_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z ~ N(0, I), shape (n_samples, latent_dim), float64."""
        check_count("n_samples", n_samples)
        return self.prior.sample((n_samples,), self.latent_dim, generator=generator, dtype=F64)

    @property
    def prior(self) -> StandardNormal:
        """p(z) = N(0, I)."""
        return STANDARD_NORMAL

    def posterior(self, x: torch.Tensor) -> GaussianProposal:
        """q(z|x) of the latent-variable-model interface (:mod:`elbolab.posterior`): the exact
        posterior where the model has one (:class:`LinearGaussianModel`); a decoder without
        one (:class:`MLPDecoderModel`) raises ``NotImplementedError`` — pass a proposal to the
        estimators instead."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form posterior: give "
                                  "the estimators a proposal (e.g. fit_gaussian_proposal)")

    def sample_data(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x = f(z) + σε with z ~ p(z): shape (n, data_dim)."""
        z = self.sample_prior(n, generator)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=F64)
        return self.decode(z) + self.noise_std * noise

    def check_x(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as a float64 (B, D) batch; a clear error for anything else."""
        check_float_tensor("x", x)
        if x.dim() not in (1, 2) or x.shape[-1] != self.data_dim:
            raise ValueError(
                f"x must have shape (B, {self.data_dim}) or ({self.data_dim},), got {list(x.shape)}"
            )
        return x.to(F64).reshape(-1, self.data_dim)

    # -- log p(x|z) -----------------------------------------------------------------------------
    def squared_distance(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """‖x − f(z)‖² for x (B, D) and z (S, L) or (S, B, L) → (S, B)."""
        raise NotImplementedError

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for checked x (B, D) and z (S, L) or (S, B, L) → (S, B), float64,
        without argument checks (the estimators' inner loop)."""
        sq = self.squared_distance(x, z).clamp_min(0.0)  # rounding can push an exact 0 below it
        return -0.5 * (self.data_dim * (LOG_2PI + self.noise_logvar)
                       + sq * math.exp(-self.noise_logvar))

    def log_likelihood_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(x\mid z) = \log\mathcal N(x; f_\theta(z), \sigma^2 I)`, checked.

        ``x`` (B, D) or (D,); ``z`` (S, L), (L,) (every z paired with every x) or (S, B, L)
        (one set per x). Returns (S, B) with size-1 dimensions of 1-D inputs squeezed out.
        """
        squeeze_x = x.dim() == 1
        xb = self.check_x(x)
        check_float_tensor("z", z)
        if z.shape[-1] != self.latent_dim or z.dim() > 3:
            raise ValueError(f"z must have shape (S, {self.latent_dim}) or (S, B, "
                             f"{self.latent_dim}), got {list(z.shape)}")
        squeeze_z = z.dim() == 1
        zz = z.to(F64).reshape(1, -1) if squeeze_z else z.to(F64)
        if zz.dim() == 3 and zz.shape[1] != xb.shape[0]:
            raise ValueError(f"z of shape (S, B, L) needs B = {xb.shape[0]} to match x")
        out = self.log_likelihood(xb, zz)
        if squeeze_x:
            out = out[..., 0]
        return out[0] if squeeze_z else out

    # -- memory -------------------------------------------------------------------------------
    def chunk_width(self, n_x: int, paired: bool) -> int:
        """float64 numbers one latent sample costs in temporaries."""
        raise NotImplementedError

    def chunk_size_for(self, n_x: int, paired: bool) -> int:
        """Samples per chunk so that one chunk's float64 temporaries stay near
        :data:`CHUNK_BYTES` (per x when each x has its own samples: ``paired``)."""
        return max(256, CHUNK_BYTES // (8 * self.chunk_width(n_x, paired)))


class LinearGaussianModel(LatentGaussianModel):
    """x = Wz + b + σε with exact answers. ``seed`` draws the weights: W has entries
    N(0, 1/D)·``weight_scale`` so that WᵀW ≈ weight_scale²·I whatever D (each latent dimension
    carries a similar amount of information about x, and the posterior's KL from the prior
    grows linearly in d); b has entries N(0, 0.25). With ``orthogonal=True`` W's columns are
    orthogonal (the Q of W's QR factorization, column j scaled by ``weight_scale``·(1 + j/d)):
    WᵀW is diagonal, so is the exact posterior, and a diagonal Gaussian q can equal it (the
    setting where the "sticking the landing" gradient has zero variance)."""

    kind = "linear"

    def __init__(self, latent_dim: int = 2, data_dim: int = 10, noise_std: float = 1.0,
                 seed: int = 0, *, weight_scale: float = 1.0, orthogonal: bool = False) -> None:
        super().__init__(latent_dim, data_dim, noise_std)
        g = torch.Generator().manual_seed(seed)
        self.W = torch.randn(data_dim, latent_dim, generator=g, dtype=F64) * (
            weight_scale / math.sqrt(data_dim))
        if orthogonal:
            if latent_dim > data_dim:
                raise ValueError(f"orthogonal=True needs latent_dim <= data_dim, got "
                                 f"{latent_dim} > {data_dim}")
            q, _ = torch.linalg.qr(self.W)
            self.W = q * (weight_scale * (1 + torch.arange(latent_dim, dtype=F64) / latent_dim))
        self.b = torch.randn(data_dim, generator=g, dtype=F64) * 0.5
        self._gram = self.W.T @ self.W  # WᵀW (L, L)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W.T + self.b

    def squared_distance(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Without forming the (S, B, D) residuals: ‖x − Wz − b‖² = ‖r‖² − 2 (Wᵀr)ᵀz +
        zᵀWᵀWz with r = x − b."""
        r = x - self.b  # (B, D)
        rw = r @ self.W  # (B, L)
        zg = z @ self._gram  # z WᵀW
        quad_z = (zg * z).sum(-1)  # (S,) or (S, B)
        if z.dim() == 2:
            cross = z @ rw.T  # (S, B)
            quad_z = quad_z[:, None]
        else:
            cross = (z * rw).sum(-1)  # (S, B)
        return (r * r).sum(-1) - 2 * cross + quad_z

    def chunk_width(self, n_x: int, paired: bool) -> int:
        return self.latent_dim * (6 if paired else 4) * (n_x if paired else 1) + 4 * n_x

    # -- exact answers ----------------------------------------------------------------------
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
        xb = self.check_x(x)
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
        xb = self.check_x(x)
        la = self._posterior_precision_tril()
        rhs = ((xb - self.b) @ self.W).T * math.exp(-self.noise_logvar)  # (L, B)
        mean = torch.cholesky_solve(rhs, la).T
        cov = torch.cholesky_solve(torch.eye(self.latent_dim, dtype=F64), la)
        return GaussianProposal(mean, torch.linalg.cholesky(cov))

    posterior = exact_posterior

    def expected_log_likelihood(self, x: torch.Tensor, q: GaussianProposal) -> torch.Tensor:
        r""":math:`\mathbb E_{q}[\log p(x\mid z)]` in closed form:
        :math:`-\tfrac12\big[D\log 2\pi\sigma^2 + (\lVert x-Wm-b\rVert^2
        + \lVert WL_q\rVert_F^2)/\sigma^2\big]`. Shape (B,)."""
        xb = self.check_x(x)
        resid = xb - self.decode(q.mean)
        trace = (self.W @ q.scale_tril).pow(2).sum(dim=(-2, -1))
        return -0.5 * (self.data_dim * (LOG_2PI + self.noise_logvar)
                       + ((resid * resid).sum(-1) + trace) * math.exp(-self.noise_logvar))

    def exact_elbo(self, x: torch.Tensor, q: GaussianProposal) -> torch.Tensor:
        r"""ELBO(q) = E_q[log p(x|z)] − KL(q ‖ N(0, I)), both in closed form. Shape (B,)."""
        eye = torch.eye(self.latent_dim, dtype=F64)
        kl_prior = mvn_kl(q.mean, q.scale_tril, torch.zeros_like(q.mean), eye, validate=False)
        return self.expected_log_likelihood(x, q) - kl_prior

    def exact_elbo_gradient(self, x: torch.Tensor, mu: torch.Tensor,
                            logvar: torch.Tensor) -> tuple[torch.Tensor, ...]:
        r"""The exact gradient of ELBO(q) for q = N(mu, diag e^logvar) at one x (D,):
        (∂/∂mu, ∂/∂logvar, ∂/∂b), each float64. With :math:`G = W^\top W`, :math:`v =
        e^{\text{logvar}}`, :math:`r = x - W\mu - b`:

        .. math:: \partial_\mu = W^\top r/\sigma^2 - \mu,\quad
                  \partial_{\text{logvar}} = \tfrac12\big(1 - v\odot(1 +
                  \operatorname{diag}G/\sigma^2)\big),\quad \partial_b = r/\sigma^2

        (differentiate :meth:`exact_elbo`: the trace term ‖W diag(√v)‖²_F = Σ_j G_jj v_j and
        the KL ½Σ(μ² + v − 1 − logvar)). The reference of :mod:`elbolab.gradients`."""
        x, mu, logvar = (check_float_tensor(n, t).double() for n, t in
                         (("x", x), ("mu", mu), ("logvar", logvar)))
        if x.shape != (self.data_dim,) or mu.shape != (self.latent_dim,) or \
                logvar.shape != mu.shape:
            raise ValueError(f"x must be ({self.data_dim},) and mu, logvar ({self.latent_dim},); "
                             f"got {list(x.shape)}, {list(mu.shape)}, {list(logvar.shape)}")
        inv_s2 = math.exp(-self.noise_logvar)
        resid = x - self.W @ mu - self.b
        g_mu = self.W.T @ resid * inv_s2 - mu
        g_lv = 0.5 * (1 - torch.exp(logvar) * (1 + torch.diagonal(self._gram) * inv_s2))
        return g_mu, g_lv, resid * inv_s2

    def posterior_kl_from_prior(self, x: torch.Tensor) -> torch.Tensor:
        r"""KL(p(z|x) ‖ p(z)): by Chatterjee & Diaconis (2018), naive prior sampling needs
        about :math:`e^{\mathrm{KL}}` samples to be accurate. Shape (B,)."""
        post = self.exact_posterior(x)
        eye = torch.eye(self.latent_dim, dtype=F64)
        return mvn_kl(post.mean, post.scale_tril, torch.zeros_like(post.mean), eye,
                      validate=False)


class MLPDecoderModel(LatentGaussianModel):
    """x = W₂ tanh(W₁z + b₁) + b₂ + σε: no closed form. ``seed`` draws the weights (W₁ with
    entries N(0, 1.5²), W₂ scaled by 2·``weight_scale``/√hidden)."""

    kind = "mlp"

    def __init__(self, latent_dim: int = 2, data_dim: int = 10, noise_std: float = 1.0,
                 seed: int = 0, *, weight_scale: float = 1.0, hidden: int = 64) -> None:
        super().__init__(latent_dim, data_dim, noise_std)
        check_count("hidden", hidden)
        self.hidden = hidden
        g = torch.Generator().manual_seed(seed)
        self.W1 = torch.randn(hidden, latent_dim, generator=g, dtype=F64) * 1.5
        self.b1 = torch.randn(hidden, generator=g, dtype=F64) * 0.5
        self.W2 = torch.randn(data_dim, hidden, generator=g, dtype=F64) * (
            weight_scale * 2 / math.sqrt(hidden))
        self.b2 = torch.randn(data_dim, generator=g, dtype=F64) * 0.5

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.W1.T + self.b1) @ self.W2.T + self.b2

    def squared_distance(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        means = self.decode(z)  # (S, D) or (S, B, D)
        if z.dim() == 2:
            return (x * x).sum(-1) - 2 * means @ x.T + (means * means).sum(-1)[:, None]
        return ((x - means) ** 2).sum(-1)

    def chunk_width(self, n_x: int, paired: bool) -> int:
        return (self.latent_dim + 2 * (self.hidden + self.data_dim)) * (
            n_x if paired else 1) + 2 * n_x


MODELS = {"linear": LinearGaussianModel, "mlp": MLPDecoderModel}

__all__ = ["CHUNK_BYTES", "MODELS", "GaussianProposal", "LatentGaussianModel",
           "LinearGaussianModel", "MLPDecoderModel"]
