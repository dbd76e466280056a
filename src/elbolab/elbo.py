"""The evidence lower bound: reconstruction terms, the bounds of any latent-variable model
(:func:`compute_elbo`, :func:`importance_weighted_bound`) and the ``ELBOFramework`` that makes an
encoder/decoder pair such a model (:mod:`elbolab.posterior`: ``posterior(x)``,
``log_likelihood(x, z)``, ``prior``).

Sign convention: every function here returns a quantity to **maximize** (a log-likelihood,
an ELBO, a bound). A loss is its negative and is called ``loss`` or ``neg_elbo``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions.utils import probs_to_logits

from .checks import (
    check_float_tensor,
    check_floats,
    check_number,
    finite_range,
    should_validate,
)
from .densities import bernoulli_log_prob, gaussian_log_prob, sum_event
from .estimators import iwae_bound
from .kl import standard_normal_kl
from .posterior import (
    MAX_K,
    STANDARD_NORMAL,
    DiagonalGaussian,
    LatentVariableModel,
    Posterior,
    StandardNormal,
    log_importance_weights,
    reparameterize,
)

LIKELIHOODS = ("gaussian", "bernoulli")

#: What a Bernoulli decoder returns: logits (the library's convention) or probabilities
DECODER_OUTPUTS = ("logits", "probs")


def gaussian_log_likelihood(
    x: torch.Tensor,
    x_mean: torch.Tensor,
    x_logvar: torch.Tensor | float = 0.0,
    *,
    event_dims: int = 1,
    validate: bool | None = None,
) -> torch.Tensor:
    r"""Gaussian log-likelihood of a reconstruction :math:`\log p(x\mid z)=\sum_j\log\mathcal N
    (x_j;\hat\mu_j,\sigma_j^2)`, summed over the last ``event_dims`` dimensions.

    ``x_logvar`` may be a learned scalar, a per-pixel tensor or a full per-example tensor; it
    broadcasts against ``x_mean``. Returns the log-likelihood (higher is better), shape
    ``x.shape[:-event_dims]``, in nats.
    """
    if isinstance(x_logvar, torch.Tensor):
        check_floats(validate, x=x, x_mean=x_mean, x_logvar=x_logvar)
    else:
        check_number("x_logvar", x_logvar)
        check_floats(validate, x=x, x_mean=x_mean)
        x_logvar = torch.as_tensor(x_logvar, dtype=x_mean.dtype, device=x_mean.device)
    return sum_event(gaussian_log_prob(x, x_mean, x_logvar, validate=False), event_dims)


def bernoulli_log_likelihood(
    x: torch.Tensor, logits: torch.Tensor, *, event_dims: int = 1, validate: bool | None = None
) -> torch.Tensor:
    r"""Bernoulli log-likelihood of a reconstruction, from decoder logits,
    :math:`\sum_j x_j\ell_j - \operatorname{softplus}(\ell_j)`, summed over the last
    ``event_dims`` dimensions. Returns the log-likelihood (= −BCE), in nats."""
    return sum_event(bernoulli_log_prob(x, logits, validate=validate), event_dims)


def compute_elbo(model: LatentVariableModel, x: torch.Tensor,
                 generator: torch.Generator | None = None) -> ELBOResult:
    r"""One-sample ELBO per example of any :class:`~elbolab.posterior.LatentVariableModel`:

    .. math:: \mathcal L(x) = \log p(x\mid z) - \mathrm{KL}(q(z\mid x)\,\|\,p(z)),
              \quad z\sim q(z\mid x)

    with the KL in closed form for a :class:`~elbolab.posterior.DiagonalGaussian` posterior
    and sampled, :math:`\log q(z) - \log p(z)` at the same z, for any other family (a
    flow). ``mu``/``logvar`` of the result are the Gaussian's (a flow's base Gaussian's).
    Shapes (B,), nats."""
    q = model.posterior(x)
    if isinstance(q, DiagonalGaussian):
        z = q.rsample(generator=generator)
        kl, base = q.kl_to_standard_normal(), q
    else:
        draws, log_q = q.rsample_with_log_prob(1, generator)
        z = draws[0]
        kl, base = log_q[0] - model.prior.log_prob(z), q.base
    rec = model.log_likelihood(x, z)
    return ELBOResult(rec - kl, rec, kl, base.mu, base.logvar, z)


def importance_weighted_bound(model: LatentVariableModel, x: torch.Tensor, k: int, *,
                              chunk_size: int | None = None,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Per-example k-sample importance-weighted bound :math:`\mathcal L_k = \log\frac1k
    \sum_i w_i` (Burda et al. 2016, Eq. 8) of any latent-variable model; k = 1 is a one-sample
    ELBO with the KL sampled. Shape (B,), nats; k ≤ :data:`MAX_K`."""
    log_w = log_importance_weights(model, x, k, chunk_size=chunk_size, generator=generator,
                                   maximum=MAX_K)
    return iwae_bound(log_w, dim=0, validate=False)


@dataclass
class ELBOResult:
    """Per-example pieces of the ELBO; all tensors of shape (batch,), in nats.

    ``elbo = reconstruction − kl``. ``loss`` is the batch mean of −ELBO, ready for
    ``.backward()``. ``mu``, ``logvar`` and ``z`` are the encoder's outputs and the sample.
    """

    elbo: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor

    @property
    def loss(self) -> torch.Tensor:
        """Mean over the batch of −ELBO (the quantity an optimizer minimizes)."""
        return -self.elbo.mean()


class ELBOFramework(nn.Module):
    """The lab's ELBO, assembled for any encoder/decoder ``nn.Module`` pair.

    ``encoder(x) -> (mu, logvar)`` with latents of shape (batch, latent_dim); for
    ``likelihood="gaussian"`` ``decoder(z) -> (x_mean, x_logvar)`` and for ``"bernoulli"``
    ``decoder(z) ->`` logits, or probabilities with ``decoder_output="probs"`` (as
    ``torch.distributions.Bernoulli`` takes either; probabilities are clamped to
    [eps, 1 − eps] of their dtype, as ``torch.distributions`` does). A logits decoder whose
    outputs all lie in [0, 1] is warned about once: it is most likely returning probabilities.
    Data ``x`` has shape (batch, *event), e.g. (N, 1, 28, 28); all event dimensions are
    summed, and a decoder output with the same number of values per example, e.g. (N, 784), is
    read in ``x``'s shape. Works on any device the modules live on and keeps gradients through
    sampling.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: str = "gaussian",
        *,
        decoder_output: str = "logits",
        validate: bool | None = None,
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if decoder_output not in DECODER_OUTPUTS:
            raise ValueError(f"decoder_output must be one of {DECODER_OUTPUTS}, got "
                             f"{decoder_output!r}")
        if decoder_output == "probs" and likelihood != "bernoulli":
            raise ValueError("decoder_output='probs' applies to the Bernoulli likelihood only")
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.decoder_output = decoder_output
        self.validate = validate
        self._warned_probs = False

    # -- the pieces -------------------------------------------------------------------------
    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = μ + σ·ε with ε ~ N(0, I); see :func:`reparameterize`."""
        return reparameterize(mu, logvar, generator=generator, validate=self.validate)

    def reconstruction_log_likelihood(
        self,
        x: torch.Tensor,
        x_recon_mu: torch.Tensor,
        x_recon_logvar: torch.Tensor | float | None = None,
    ) -> torch.Tensor:
        """The reconstruction term log p(x|z), summed over data dims, one value per row.

        A log-likelihood (higher is better); the loss is its negative. For
        ``likelihood="gaussian"`` ``x_recon_mu`` is the decoder mean and ``x_recon_logvar``
        its log-variance (scalar or per-pixel; ``None`` means 0). For ``"bernoulli"``
        ``x_recon_mu`` holds the decoder **logits** and ``x_recon_logvar`` must be ``None``.
        """
        if should_validate(self.validate):
            check_float_tensor("x", x)
            check_float_tensor("x_recon_mu", x_recon_mu)
            if isinstance(x_recon_logvar, torch.Tensor):
                check_floats(True, x=x, x_recon_mu=x_recon_mu, x_recon_logvar=x_recon_logvar)
            elif x_recon_logvar is not None:
                check_number("x_recon_logvar", x_recon_logvar)
        return self._reconstruction(x, x_recon_mu, x_recon_logvar, event_dims=x.dim() - 1)

    #: The handout's name for :meth:`reconstruction_log_likelihood`. Despite the name it
    #: returns the *positive* log-likelihood log p(x|z), not a loss.
    reconstruction_loss = reconstruction_log_likelihood

    def _reconstruction(
        self,
        x: torch.Tensor,
        x_recon_mu: torch.Tensor,
        x_recon_logvar: torch.Tensor | float | None,
        *,
        event_dims: int,
    ) -> torch.Tensor:
        if self.likelihood == "bernoulli":
            if x_recon_logvar is not None:
                raise ValueError("x_recon_logvar must be None for a Bernoulli likelihood")
            if self.decoder_output == "probs":
                if should_validate(self.validate):
                    lo, hi = finite_range("decoder probabilities", x_recon_mu)
                    if lo < 0 or hi > 1:
                        raise ValueError("decoder probabilities must lie in [0, 1], got "
                                         f"[{lo:.4g}, {hi:.4g}]")
                logits = probs_to_logits(x_recon_mu, is_binary=True)  # clamps to [eps, 1-eps]
            else:
                logits = x_recon_mu
                if should_validate(self.validate) and not self._warned_probs:
                    lo, hi = finite_range("decoder logits", x_recon_mu)
                    if lo >= 0 and hi <= 1:
                        self._warned_probs = True
                        warnings.warn(
                            "every decoder logit lies in [0, 1]: if the decoder returns "
                            "probabilities (a sigmoid at its end), pass "
                            "decoder_output='probs' to ELBOFramework", stacklevel=4)
            return bernoulli_log_likelihood(x, logits, event_dims=event_dims,
                                            validate=self.validate)
        logvar = 0.0 if x_recon_logvar is None else x_recon_logvar
        return gaussian_log_likelihood(
            x, x_recon_mu, logvar, event_dims=event_dims, validate=self.validate
        )

    def kl_regularization(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Analytic KL(q(z|x) ‖ N(0, I)), one value per row."""
        return standard_normal_kl(mu, logvar, validate=self.validate)

    # -- the bound ---------------------------------------------------------------------------
    # -- the latent-variable model: posterior(x), log_likelihood(x, z), prior ------------------
    @property
    def prior(self) -> StandardNormal:
        """p(z) = N(0, I)."""
        return STANDARD_NORMAL

    def posterior(self, x: torch.Tensor) -> Posterior:
        """q(z|x) for the batch ``x`` (batch, *event): the encoder's (mu, logvar), checked here
        once (finite, shapes (batch, latent_dim)), as a
        :class:`~elbolab.posterior.DiagonalGaussian` (a subclass with another family returns
        its own posterior type)."""
        return DiagonalGaussian(*self.encode(x), validate=False)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's (mu, logvar) for ``x``, each (batch, latent_dim), checked: ``x`` a
        float tensor with a batch dimension; the encoder's outputs a finite pair of that
        shape."""
        if should_validate(self.validate):
            check_float_tensor("x", x)
            if x.dim() < 2:
                raise ValueError(f"x must have shape (batch, ...), got {list(x.shape)}")
        try:
            out = self.encoder(x)
        except RuntimeError as exc:  # most often a size mismatch: say which input it was
            raise ValueError(f"encoder(x) failed for x of shape {list(x.shape)}: {exc}") from exc
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise TypeError("encoder(x) must return a pair (mu, logvar)")
        mu, logvar = out
        if should_validate(self.validate):
            check_floats(True, mu=mu, logvar=logvar)
            if mu.shape != logvar.shape or mu.dim() != 2 or mu.shape[0] != x.shape[0]:
                raise ValueError(
                    "encoder must return mu and logvar of shape (batch, latent_dim); got "
                    f"{list(mu.shape)} and {list(logvar.shape)} for batch {x.shape[0]}"
                )
        return mu, logvar

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for z of shape (*S, batch, latent) → (*S, batch), nats.

        The decoder sees z flattened to (N, latent), so any ``nn.Module`` works; its outputs
        that carry that leading N are reshaped back to (*S, batch, *event), while a scalar or
        per-pixel ``x_logvar`` broadcasts as it is.
        """
        lead, z_flat = z.shape[:-1], z.reshape(-1, z.shape[-1])
        out = self.decoder(z_flat)

        per_example = x[0].numel()

        def unflatten(t: torch.Tensor | float | None) -> torch.Tensor | float | None:
            # an output with one row per z and as many values per row as x has per example
            # ((N, 784) for images (N, 1, 28, 28)) is read in x's shape
            if isinstance(t, torch.Tensor) and t.dim() >= 2 and t.shape[0] == len(z_flat) \
                    and t[0].numel() == per_example:
                return t.reshape(*lead, *x.shape[1:])
            return t

        if self.likelihood == "bernoulli":
            if not isinstance(out, torch.Tensor):
                raise TypeError("a Bernoulli decoder(z) must return a logits tensor")
            params = (unflatten(out), None)
        else:
            if not (isinstance(out, tuple | list) and len(out) == 2):
                raise TypeError("a Gaussian decoder(z) must return a pair (x_mean, x_logvar)")
            params = (unflatten(out[0]), unflatten(out[1]))
        return self._reconstruction(x, *params, event_dims=x.dim() - 1)

    def compute_elbo(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> ELBOResult:
        r"""One-sample ELBO per example: reconstruction − KL (:func:`compute_elbo`: the analytic
        KL for the Gaussian posterior, the sampled one for another family).

        .. math:: \mathcal L(x) = \mathbb E_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x)\|p(z))
        """
        return compute_elbo(self, x, generator)

    def forward(self, x: torch.Tensor) -> ELBOResult:
        """Same as :meth:`compute_elbo`."""
        return self.compute_elbo(x)

    def log_importance_weights(
        self,
        x: torch.Tensor,
        k: int,
        *,
        chunk_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        r"""log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x), z_i ~ q(z|x), shape (k, batch)
        (:func:`~elbolab.posterior.log_importance_weights`); k ≤ :data:`MAX_K`."""
        return log_importance_weights(self, x, k, chunk_size=chunk_size, generator=generator,
                                      maximum=MAX_K)

    def iwae_bound(
        self,
        x: torch.Tensor,
        k: int,
        *,
        chunk_size: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Per-example k-sample importance-weighted bound (:func:`importance_weighted_bound`,
        Burda et al. 2016); shape (batch,), nats."""
        return importance_weighted_bound(self, x, k, chunk_size=chunk_size,
                                         generator=generator)


__all__ = ["DECODER_OUTPUTS", "LIKELIHOODS", "MAX_K", "ELBOFramework", "ELBOResult",
           "bernoulli_log_likelihood", "compute_elbo", "gaussian_log_likelihood",
           "importance_weighted_bound", "reparameterize"]
