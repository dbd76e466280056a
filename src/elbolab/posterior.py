"""The latent-variable-model interface, and the posterior families every bound samples from.

A **latent-variable model** here is anything with

- ``posterior(x)`` → a posterior object for the batch ``x`` (one distribution per example),
- ``log_likelihood(x, z)`` → log p(x|z) for z of shape (*S, B, L): shape (*S, B), nats,
- ``prior`` → the prior p(z), the standard normal N(0, I) (:class:`StandardNormal`),

(:class:`LatentVariableModel`). The VAE (:class:`~elbolab.elbo.ELBOFramework`), Part 1's
models (:mod:`elbolab.parts.latent_models`) and the linear-Gaussian test beds satisfy it, so
the bounds of :mod:`elbolab.elbo` (the ELBO, IWAE-k), annealed importance sampling
(:mod:`elbolab.ais`) and the inference-gap fits take any of them.

A **posterior** has ``rsample_with_log_prob(n, generator)`` → (z, log q(z)), shapes
(n, B, L) and (n, B), differentiable in its parameters: the one call a bound needs.
:class:`DiagonalGaussian` is the Gaussian family, built on the library's stable formulas
(:func:`reparameterize`, :func:`~elbolab.densities.gaussian_log_prob`,
:func:`~elbolab.kl.standard_normal_kl`); the planar-flow family is
:class:`~elbolab.flows.PlanarFlowPosterior`.

A posterior validates its parameters once, when it is made (``validate``, the one switch of
:mod:`elbolab.checks`); its methods do not check them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from .checks import (
    MAX_WIDTH,
    check_count,
    check_float_tensor,
    check_floats,
    check_generator,
    should_validate,
)
from .densities import LOG_2PI, gaussian_log_prob, sum_event
from .kl import standard_normal_kl

# More importance samples per data point than this is a mistake, not a measurement: IWAE-5000
# is the field's standard, and 10^6 samples of the test set take days on one GPU.
MAX_K = 1_000_000


def reparameterize(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    sample_shape: Sequence[int] = (),
    generator: torch.Generator | None = None,
    eps: torch.Tensor | None = None,
    validate: bool | None = None,
) -> torch.Tensor:
    r"""Draw :math:`z = \mu + e^{\frac12\log\sigma^2}\odot\varepsilon`, :math:`\varepsilon\sim
    \mathcal N(0, I)`, differentiably in μ and logvar (Kingma & Welling 2014, Sec. 2.4).

    Shapes: ``mu`` and ``logvar`` broadcast to ``B``; the result is ``(*sample_shape, *B)``.
    Pass ``generator`` for reproducible draws, or ``eps`` (of the result's shape) to supply
    the noise yourself; then ``dz/dμ = 1`` and ``dz/dσ = ε`` exactly. σ is ``exp(logvar/2)``,
    never ``sqrt(exp(logvar))`` (which overflows float32 at logvar = 89 and gives an infinite
    gradient where exp underflows): value and gradient exact to 1 ulp for |logvar| ≤ 100.
    """
    check_floats(validate, mu=mu, logvar=logvar)
    shape = (*sample_shape, *torch.broadcast_shapes(mu.shape, logvar.shape))
    if eps is None:
        eps = torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)
    elif should_validate(validate):
        check_float_tensor("eps", eps)
        if tuple(eps.shape) != shape:
            raise ValueError(f"eps must have shape {list(shape)}, got {list(eps.shape)}")
    return torch.addcmul(mu, torch.exp(0.5 * logvar), eps)


class DiagonalGaussian:
    r"""The diagonal Gaussian :math:`\mathcal N(\mu, \operatorname{diag} e^{\text{logvar}})`
    over the last dimension (the latent units); the leading dimensions are the batch.

    ``mu`` and ``logvar`` broadcast together (validated here, once, unless ``validate`` is
    off). Every method is differentiable in ``mu`` and ``logvar``:

    - :meth:`rsample`: z = μ + σ⊙ε, from a ``generator`` or a given ``eps``;
    - :meth:`log_prob`: :math:`\sum_j \log\mathcal N(z_j;\mu_j,\sigma_j^2)`, shape
      ``z.shape[:-1]``, nats; ``stop_gradient=True`` holds μ and logvar fixed (the score term
      dropped: sticking the landing, DReG);
    - :meth:`kl_to_standard_normal`: KL(q ‖ N(0, I)) in closed form, shape of the batch;
    - :meth:`rsample_with_log_prob`: n draws and their log q, what a bound asks a posterior.
    """

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, *,
                 validate: bool | None = None) -> None:
        check_floats(validate, mu=mu, logvar=logvar)
        if should_validate(validate) and mu.dim() < 1:
            raise ValueError("mu must have at least one dimension (the latent units)")
        self.mu, self.logvar = mu, logvar

    @property
    def latent(self) -> int:
        """The number of latent units (the last dimension)."""
        return torch.broadcast_shapes(self.mu.shape, self.logvar.shape)[-1]

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype (the draws')."""
        return self.mu.dtype

    @property
    def std(self) -> torch.Tensor:
        """σ = exp(logvar / 2)."""
        return torch.exp(0.5 * self.logvar)

    def rsample(self, sample_shape: Sequence[int] = (), *,
                generator: torch.Generator | None = None,
                eps: torch.Tensor | None = None) -> torch.Tensor:
        """z = μ + σ⊙ε of shape (*sample_shape, *batch, L) (:func:`reparameterize`). The
        parameters were checked when the posterior was made; a given ``eps`` is checked here
        (with the default switch)."""
        return reparameterize(self.mu, self.logvar, sample_shape=sample_shape,
                              generator=generator, eps=eps,
                              validate=None if eps is not None else False)

    def log_prob(self, z: torch.Tensor, *, stop_gradient: bool = False) -> torch.Tensor:
        """log q(z), summed over the latent units: shape ``z.shape[:-1]``, nats. With
        ``stop_gradient`` the parameters are detached (the gradient reaches z only)."""
        mu, logvar = ((self.mu.detach(), self.logvar.detach()) if stop_gradient
                      else (self.mu, self.logvar))
        return sum_event(gaussian_log_prob(z, mu, logvar, validate=False), 1)

    def kl_to_standard_normal(self) -> torch.Tensor:
        """KL(q ‖ N(0, I)) in closed form, summed over the units: the batch's shape, nats."""
        return standard_normal_kl(self.mu, self.logvar, validate=False)

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None, *,
                              eps: torch.Tensor | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``n`` draws z = μ + σ⊙ε (n, *batch, L) and their log q(z) (n, *batch), read off the
        noise: :math:`-\tfrac12\sum_j(\varepsilon_j^2 + \log\sigma_j^2 + \log 2\pi)`, the same
        function of μ and logvar as :meth:`log_prob` at that z (so the same gradient), exact
        (no subtraction z − μ) and cheaper. ``eps`` (n, *batch, L) supplies the noise."""
        z, eps = self.rsample_with_noise(n, generator, eps=eps)
        return z, -0.5 * (eps.square() + self.logvar + LOG_2PI).sum(-1)

    def rsample_with_noise(self, n: int, generator: torch.Generator | None = None, *,
                           eps: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` draws z = μ + σ⊙ε (n, *batch, L) and the noise ε they were drawn with (a
        given ``eps`` is checked)."""
        if eps is None:
            shape = (n, *torch.broadcast_shapes(self.mu.shape, self.logvar.shape))
            eps = torch.randn(shape, generator=generator, dtype=self.mu.dtype,
                              device=self.mu.device)
            return reparameterize(self.mu, self.logvar, eps=eps, validate=False), eps
        return self.rsample((n,), eps=eps), eps


class StandardNormal:
    """The prior N(0, I) over however many latent units z has: :meth:`log_prob` sums
    log N(z_j; 0, 1) over the last dimension (shape ``z.shape[:-1]``, nats); :meth:`sample`
    draws (*shape, latent) from a ``generator``."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        # −½(‖z‖² + L log 2π): three operations (the trainer's hot loop calls it every step),
        # exact for every finite z (no exp, no cancellation)
        return -0.5 * (z.square().sum(-1) + z.shape[-1] * LOG_2PI)

    def sample(self, shape: Sequence[int], latent: int, *,
               generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
               device: torch.device | str | None = None) -> torch.Tensor:
        check_count("latent", latent, maximum=MAX_WIDTH)
        return torch.randn((*shape, latent), generator=generator, dtype=dtype, device=device)


#: The prior of every model here, N(0, I) (stateless: one instance serves all)
STANDARD_NORMAL = StandardNormal()


@runtime_checkable
class Posterior(Protocol):
    """What a bound asks of q(z|x): ``n`` reparameterized draws and their log-density (and
    the number of latent units and the draws' dtype)."""

    @property
    def latent(self) -> int: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class LatentVariableModel(Protocol):
    """p(x, z) = p(x|z) p(z) with an approximate posterior q(z|x) (the module docstring)."""

    @property
    def prior(self) -> StandardNormal: ...

    def posterior(self, x: torch.Tensor) -> Posterior: ...

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor: ...


def log_importance_weights(model: LatentVariableModel, x: torch.Tensor, k: int, *,
                           posterior: Posterior | None = None, chunk_size: int | None = None,
                           generator: torch.Generator | None = None,
                           maximum: int = MAX_K) -> torch.Tensor:
    r""":math:`\log w_i = \log p(x\mid z_i) + \log p(z_i) - \log q(z_i\mid x)`,
    :math:`z_i \sim q(z\mid x)`, shape (k, B), nats, for any :class:`LatentVariableModel`.

    q is ``posterior`` when given (a proposal: importance sampling), else the model's
    ``posterior(x)``, made once; ``chunk_size`` draws are decoded at a time (all k at once by
    default) so memory stays bounded for large k. ``maximum`` caps k (:data:`MAX_K` by
    default: a count larger than it is a mistake, not a measurement)."""
    check_count("k", k, maximum=maximum)
    if chunk_size is not None:
        check_count("chunk_size", chunk_size)
    check_generator("generator", generator)
    q = model.posterior(x) if posterior is None else posterior
    prior = model.prior
    chunks = []
    step = chunk_size or k
    for start in range(0, k, step):
        z, log_q = q.rsample_with_log_prob(min(step, k - start), generator)
        chunks.append(model.log_likelihood(x, z) + (prior.log_prob(z) - log_q))
    return torch.cat(chunks, dim=0)


__all__ = ["MAX_K", "STANDARD_NORMAL", "DiagonalGaussian", "LatentVariableModel", "Posterior",
           "StandardNormal",
           "log_importance_weights", "reparameterize"]
