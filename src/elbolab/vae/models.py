"""Encoders and decoders for image VAEs, and the presets the lab trains.

Presets (``build_model(preset)``):

- ``example``: 784-400-20 with ReLU, the PyTorch example VAE (one hidden layer each way);
- ``iwae``: 784-200-200-50 with tanh, the one-stochastic-layer model of Burda, Grosse &
  Salakhutdinov (2015), Sec. 5;
- ``conv``: two stride-2 4×4 convolutions (32, 64 channels) and a linear head to a 20-d
  latent, mirrored by transposed convolutions (the layout of the DCGAN-style VAEs, e.g.
  Burgess et al. 2018, with fewer layers for 28×28 images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..checks import check_count
from ..elbo import LIKELIHOODS, ELBOFramework
from ..flows import IDENTITY_SHIFT, PlanarFlowPosterior

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "softplus": nn.Softplus,
               "gelu": nn.GELU}


def _mlp(sizes: Sequence[int], activation: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    return layers


class MLPEncoder(nn.Module):
    """x (B, D) → (mu, logvar), each (B, latent): hidden layers then one linear head that
    outputs both (a single matmul instead of two)."""

    def __init__(self, in_dim: int, hidden: Sequence[int], latent: int, activation: str):
        super().__init__()
        self.body = nn.Sequential(*_mlp([in_dim, *hidden], activation))
        self.head = nn.Linear(hidden[-1] if hidden else in_dim, 2 * latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x.flatten(1))).chunk(2, dim=-1)
        return mu, logvar


class FlowMLPEncoder(MLPEncoder):
    """An :class:`MLPEncoder` whose posterior is its Gaussian pushed through ``layers``
    amortized planar layers (:mod:`elbolab.flows`; Rezende & Mohamed 2015, Sec. 4): a second
    linear head maps the hidden features to (v, w, b) per layer, with u = v + c·w/‖w‖²
    (c = :data:`~elbolab.flows.IDENTITY_SHIFT`). The head starts with zero weights, v = b = 0
    and a random w in its bias, so every layer starts as the identity and the model starts as
    the Gaussian VAE it extends. ``forward`` returns the base Gaussian's (mu, logvar);
    :meth:`posterior` also the layers."""

    def __init__(self, in_dim: int, hidden: Sequence[int], latent: int, activation: str,
                 layers: int):
        super().__init__(in_dim, hidden, latent, activation)
        self.latent, self.layers = latent, layers
        self.flow_head = nn.Linear(hidden[-1] if hidden else in_dim, layers * (2 * latent + 1))
        with torch.no_grad():
            self.flow_head.weight.zero_()
            bias = torch.zeros(layers, 2 * latent + 1)
            bias[:, latent:2 * latent] = torch.randn(layers, latent) / math.sqrt(latent)
            self.flow_head.bias.copy_(bias.flatten())

    def posterior(self, x: torch.Tensor):
        """(mu, logvar, (u, w, b)): the base Gaussian (B, L) and the planar layers, u and w
        (B, K, L), b (B, K)."""
        h = self.body(x.flatten(1))
        mu, logvar = self.head(h).chunk(2, dim=-1)
        f = self.flow_head(h).view(len(h), self.layers, 2 * self.latent + 1)
        v, w, b = f[..., :self.latent], f[..., self.latent:2 * self.latent], f[..., -1]
        u = v + IDENTITY_SHIFT * w / (w * w).sum(-1, keepdim=True)
        return mu, logvar, (u, w, b)


class FlowELBOFramework(ELBOFramework):
    r"""The ELBO with a planar-flow posterior (a :class:`FlowMLPEncoder`): its
    :meth:`posterior` is a :class:`~elbolab.flows.PlanarFlowPosterior`, z_0 = μ + σ⊙ε,
    z_K = flow(z_0), so the bounds sample the KL term,
    :math:`\log q_0(z_0) - \sum_k\log|\det J_k| - \log p(z_K)` (nats; one draw per example
    in :meth:`compute_elbo`, k in :meth:`log_importance_weights`). ``mu``/``logvar`` in the
    result are the base Gaussian's; ``z`` is z_K."""

    def posterior(self, x: torch.Tensor) -> PlanarFlowPosterior:
        mu, logvar, flow = self.encoder.posterior(x)
        return PlanarFlowPosterior(mu, logvar, *flow, validate=self.validate)


def _square_side(data_dim: int) -> int:
    side = math.isqrt(data_dim)
    if side * side != data_dim or side % 4:
        raise ValueError(f"a conv model needs square one-channel images whose side is a multiple "
                         f"of 4 (28×28, 8×8, ...); got data_dim={data_dim}")
    return side


def _channels(hidden: Sequence[int]) -> tuple[int, int]:
    if len(hidden) != 2:
        raise ValueError(f"a conv model takes two channel counts as hidden, got {tuple(hidden)}")
    return hidden[0], hidden[1]


class ConvEncoder(nn.Module):
    """x (B, D), read as one-channel s×s images (s² = D), → (mu, logvar), each (B, latent):
    two 4×4 convolutions with stride 2 (s → s/2 → s/4) and ``channels`` = (c1, c2) output
    channels, then one linear head that outputs both."""

    def __init__(self, in_dim: int, channels: Sequence[int], latent: int, activation: str):
        super().__init__()
        side, (c1, c2) = _square_side(in_dim), _channels(channels)
        act = ACTIVATIONS[activation]
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, side, side)),
            nn.Conv2d(1, c1, 4, stride=2, padding=1), act(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), act(),
            nn.Flatten())
        self.head = nn.Linear(c2 * (side // 4) ** 2, 2 * latent)

    forward = MLPEncoder.forward


class MLPDecoder(nn.Module):
    """z (B, latent) → Bernoulli logits (B, D), or for a Gaussian likelihood (mean, logvar)
    with a learned per-pixel ``x_logvar``."""

    def __init__(self, latent: int, hidden: Sequence[int], out_dim: int, activation: str,
                 likelihood: str = "bernoulli"):
        super().__init__()
        self.body = nn.Sequential(*_mlp([latent, *hidden], activation))
        self.head = nn.Linear(hidden[-1] if hidden else latent, out_dim)
        self.likelihood = likelihood
        if likelihood == "gaussian":
            self.x_logvar = nn.Parameter(torch.zeros(out_dim))

    def forward(self, z: torch.Tensor):
        out = self.head(self.body(z))
        return (out, self.x_logvar) if self.likelihood == "gaussian" else out


class ConvDecoder(nn.Module):
    """z (B, latent) → Bernoulli logits (B, D) (or, for a Gaussian likelihood, (mean, logvar)
    with a learned per-pixel ``x_logvar``), D = s²: a linear layer to c2 maps of s/4 × s/4,
    then two 4×4 transposed convolutions with stride 2 (c2 → c1 → 1 channel)."""

    def __init__(self, latent: int, channels: Sequence[int], out_dim: int, activation: str,
                 likelihood: str = "bernoulli"):
        super().__init__()
        side, (c1, c2) = _square_side(out_dim), _channels(channels)
        act = ACTIVATIONS[activation]
        self.body = nn.Sequential(
            nn.Linear(latent, c2 * (side // 4) ** 2), act(),
            nn.Unflatten(1, (c2, side // 4, side // 4)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), act())
        self.head = nn.Sequential(nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
                                  nn.Flatten())
        self.likelihood = likelihood
        if likelihood == "gaussian":
            self.x_logvar = nn.Parameter(torch.zeros(out_dim))

    forward = MLPDecoder.forward


ARCHITECTURES = ("mlp", "conv")


@dataclass(frozen=True)
class ModelSpec:
    """What defines a model: sizes, activation, likelihood. Stored in checkpoints.
    ``arch="conv"``: ``hidden`` holds the two convolutions' channel counts."""

    data_dim: int = 784
    hidden: tuple[int, ...] = (400,)
    latent: int = 20
    activation: str = "relu"
    likelihood: str = "bernoulli"
    arch: str = "mlp"
    flow_layers: int = 0  # > 0: a planar-flow posterior (FlowMLPEncoder), MLP only

    def __post_init__(self) -> None:
        check_count("data_dim", self.data_dim)
        check_count("latent", self.latent)
        check_count("flow_layers", self.flow_layers, minimum=0, maximum=1000)
        if self.flow_layers and self.arch != "mlp":
            raise ValueError(f"a flow posterior needs an MLP encoder, got arch={self.arch!r}")
        for width in self.hidden:
            check_count("hidden width", width)
        for name, value, allowed in (("activation", self.activation, tuple(ACTIVATIONS)),
                                     ("likelihood", self.likelihood, LIKELIHOODS),
                                     ("arch", self.arch, ARCHITECTURES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        return cls(**{**d, "hidden": tuple(d["hidden"])})


PRESETS = {
    "example": ModelSpec(hidden=(400,), latent=20, activation="relu"),
    "iwae": ModelSpec(hidden=(200, 200), latent=50, activation="tanh"),
    "conv": ModelSpec(hidden=(32, 64), latent=20, activation="relu", arch="conv"),
}


def preset_spec(preset: str, *, data_dim: int = 784, latent: int | None = None,
                likelihood: str = "bernoulli", flow_layers: int = 0) -> ModelSpec:
    """The preset's spec, adapted to the data dimension, latent size and likelihood, with a
    planar-flow posterior of ``flow_layers`` layers where that is > 0."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    base = PRESETS[preset]  # ModelSpec checks the likelihood and the latent size
    return ModelSpec(data_dim, base.hidden, base.latent if latent is None else latent,
                     base.activation, likelihood, base.arch, flow_layers)


def build_model(spec: ModelSpec, *, validate: bool | None = False) -> ELBOFramework:
    """An :class:`~elbolab.elbo.ELBOFramework` with an MLP encoder and mirrored decoder.
    Argument checks are off by default: the trainer feeds it validated, device-resident data."""
    if spec.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}")
    if spec.arch == "conv":
        enc = ConvEncoder(spec.data_dim, spec.hidden, spec.latent, spec.activation)
        dec = ConvDecoder(spec.latent, spec.hidden, spec.data_dim, spec.activation,
                          spec.likelihood)
    elif spec.arch == "mlp":
        enc = (FlowMLPEncoder(spec.data_dim, spec.hidden, spec.latent, spec.activation,
                              spec.flow_layers) if spec.flow_layers else
               MLPEncoder(spec.data_dim, spec.hidden, spec.latent, spec.activation))
        dec = MLPDecoder(spec.latent, tuple(reversed(spec.hidden)), spec.data_dim,
                         spec.activation, spec.likelihood)
    else:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {spec.arch!r}")
    framework = FlowELBOFramework if spec.flow_layers else ELBOFramework
    return framework(enc, dec, spec.likelihood, validate=validate)


class StackedLinear(nn.Module):
    """K independent ``nn.Linear`` layers as one: ``weight`` (K, out, in), ``bias`` (K, out)."""

    def __init__(self, layers: Sequence[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([lin.weight.detach() for lin in layers]).clone())
        self.bias = nn.Parameter(torch.stack([lin.bias.detach() for lin in layers]).clone())


def _stack_part(parts: Sequence[nn.Module]) -> nn.Module:
    """Stack K identical MLP encoders or decoders layer by layer (activations are shared)."""
    out = nn.Module()
    bodies = [list(p.body) for p in parts]
    out.body = nn.Sequential(*[
        StackedLinear([b[i] for b in bodies]) if isinstance(m, nn.Linear) else type(m)()
        for i, m in enumerate(bodies[0])])
    out.head = StackedLinear([p.head for p in parts])
    if getattr(parts[0], "likelihood", None) == "gaussian":
        out.x_logvar = nn.Parameter(torch.stack([p.x_logvar.detach() for p in parts]).clone())
    return out


class StackedMLPVAE(nn.Module):
    """K MLP VAEs of one :class:`ModelSpec`, their parameters stacked along a leading K, so
    that one batched product trains them all (:func:`elbolab.vae.backprop.elbo_gradients_per_dim`).
    :meth:`model` returns model k as an ``ELBOFramework``."""

    def __init__(self, spec: ModelSpec, models: Sequence[ELBOFramework]):
        super().__init__()
        if not models:
            raise ValueError("models must hold at least one model")
        if spec.arch != "mlp":
            raise ValueError(f"StackedMLPVAE stacks MLP models, got arch={spec.arch!r}")
        self.spec, self.likelihood, self.K = spec, spec.likelihood, len(models)
        self.encoder = _stack_part([m.encoder for m in models])
        self.decoder = _stack_part([m.decoder for m in models])

    def model(self, k: int) -> ELBOFramework:
        """Model k as a standalone ``ELBOFramework`` (a copy of its parameters)."""
        if not 0 <= k < self.K:
            raise IndexError(f"k must be in 0..{self.K - 1}, got {k}")
        m = build_model(self.spec).to(self.encoder.head.weight)  # device and dtype
        stacked = dict(self.named_parameters())
        with torch.no_grad():
            for name, p in m.named_parameters():
                p.copy_(stacked[name][k])
        return m.eval()


__all__ = ["ACTIVATIONS", "ARCHITECTURES", "ConvDecoder", "ConvEncoder", "FlowELBOFramework",
           "FlowMLPEncoder", "MLPDecoder", "MLPEncoder", "ModelSpec", "PRESETS", "StackedLinear",
           "StackedMLPVAE", "build_model", "preset_spec"]
