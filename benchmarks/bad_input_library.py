"""Bad input to the library, probed (issue 15, item 6).

Every public function and class of the probability core (densities, kl, estimators, elbo,
mixture, variational), the diffusion package and the data loaders is called with one bad
argument at a time, the rest valid, and the outcome is classified:

* ``clear``: a ValueError or TypeError (or the loaders' DataError, which names the file) whose
  message names the argument;
* ``documented``: a value the function's docstring promises for that input (an empty result
  for an empty batch, a zero weight for a log-weight of -inf, half precision computed in half
  precision), checked to be finite;
* ``raw``: any other exception, or one that does not name the argument;
* ``silent``: a result returned without a word (a NaN passed through, a bad count used);
* ``hang``: still running after ``TIME_LIMIT_S`` (a SIGALRM stops it).

The bad values are drawn by hypothesis: where a NaN sits in a tensor, which dimension of a
shape is wrong and by how much, how negative a scale or how huge a count is. A case is as good
as its worst example. ``tests/test_bad_input_library.py`` asserts every case is clear or
documented; this script counts them::

    ELBOLAB_OFFLINE=1 .venv/bin/python benchmarks/bad_input_library.py \\
        --out benchmarks/results/bad_input_library.json

``PYTHONPATH=<old checkout>/src`` runs the same probe against an older elbolab (the "before"
column of ``benchmarks/results/bad_input_library.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TIME_LIMIT_S = 3.0  # the slowest valid call of the table takes well under a second
ORDER = ("clear", "documented", "raw", "silent", "hang")  # better to worse

# -- bad values, by the kind of argument --------------------------------------------------------
# F: a float tensor of any finite values; P: a float tensor of positive values (a std, a
# covariance); W: log-weights (-inf allowed: a zero weight); N: a count; T: a diffusion step;
# S: a name from a fixed set; R: a positive real; C: a callable; G: a torch.Generator;
# B: bytes of a file; D: a path to something that must exist.

_NONTENSORS = {"list": lambda v: v.reshape(-1).tolist(), "None": lambda v: None}


def _poison(value: torch.Tensor, fill: float, data) -> torch.Tensor:
    out = value.clone()
    flat = out.view(-1)
    flat[data.draw(st.integers(0, flat.numel() - 1), label="index")] = fill
    return out


def _bad_shape(value: torch.Tensor, data) -> torch.Tensor:
    """The same tensor with its last dimension of a size that cannot broadcast against the
    other arguments (every table entry with two tensors shares a last dimension > 1)."""
    shape = list(value.shape) or [1]
    shape[-1] = data.draw(st.integers(2, 9).filter(lambda s: s != shape[-1]), label="size")
    return torch.zeros(shape, dtype=value.dtype) + 0.5


def tensor_bads(kind: str, value: torch.Tensor) -> dict[str, Callable]:
    """The bad values of a tensor argument, as functions of hypothesis' ``data``."""
    bads: dict[str, Callable] = {
        "nan": lambda d: _poison(value, math.nan, d),
        "+inf": lambda d: _poison(value, math.inf, d),
        "int64": lambda d: value.round().to(torch.int64),
        "bool": lambda d: value > 0,
        "float16": lambda d: value.to(torch.float16),
        "empty": lambda d: value.new_zeros((0,) + tuple(value.shape[1:])),
        "shape": lambda d: _bad_shape(value, d),
        **{k: (lambda d, f=f: f(value)) for k, f in _NONTENSORS.items()},
    }
    if kind != "W":
        bads["-inf"] = lambda d: _poison(value, -math.inf, d)
    if kind == "P":
        bads["negative"] = lambda d: _poison(
            value, d.draw(st.floats(-1e6, -1e-6), label="negative"), d)
        bads["zero"] = lambda d: _poison(value, 0.0, d)
    if kind == "Fx":  # a tensor whose shape is fixed by another argument: no empty batch
        bads.pop("empty")
    return bads


def scalar_bads(kind: str) -> dict[str, Callable]:
    if kind == "N":
        return {"zero": lambda d: 0,
                "negative": lambda d: d.draw(st.integers(-10**6, -1), label="count"),
                "huge": lambda d: d.draw(st.integers(10**11, 10**15), label="count"),
                "float": lambda d: d.draw(st.floats(0.1, 64).filter(lambda v: v != int(v))),
                "str": lambda d: "3", "None": lambda d: None, "bool": lambda d: True}
    if kind == "T":
        return {"zero": lambda d: 0, "negative": lambda d: -1,
                "past T": lambda d: d.draw(st.integers(11, 10**12), label="t"),
                "float": lambda d: 2.5, "None": lambda d: None,
                "tensor": lambda d: torch.tensor(1.5)}
    if kind == "S":
        return {"unknown": lambda d: d.draw(st.text("xyzq_-", max_size=6), label="name"),
                "None": lambda d: None, "int": lambda d: 3}
    if kind == "R":
        return {"nan": lambda d: math.nan, "inf": lambda d: math.inf,
                "negative": lambda d: d.draw(st.floats(-1e6, -1e-6), label="real"),
                "zero": lambda d: 0.0, "str": lambda d: "x", "None": lambda d: None}
    if kind == "X":  # a finite real of any sign
        return {"nan": lambda d: math.nan, "inf": lambda d: -math.inf, "str": lambda d: "x",
                "None": lambda d: None}
    if kind == "C":
        return {"None": lambda d: None, "int": lambda d: 3}
    if kind == "G":
        return {"str": lambda d: "seed", "int": lambda d: 3}
    if kind == "B":
        return {"garbage": lambda d: d.draw(st.binary(max_size=64), label="bytes"),
                "str": lambda d: "abc", "None": lambda d: None}
    if kind == "D":
        return {"missing": lambda d: "/nonexistent/elbolab-probe",
                "None": lambda d: None, "int": lambda d: 3}
    raise KeyError(kind)


# -- the table ------------------------------------------------------------------------------------
@dataclass
class Probe:
    """One public callable: ``call(**kwargs)`` with ``valid()`` kwargs, and the kind of each
    argument probed. ``documented`` maps (argument, bad) to the docstring's promise."""

    name: str
    call: Callable[..., Any]
    valid: Callable[[], dict]
    kinds: dict[str, str]
    documented: dict[tuple[str, str], str] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Case:
    probe: Probe
    arg: str
    bad: str

    @property
    def id(self) -> str:
        return f"{self.probe.name}:{self.arg}={self.bad}"

    def draw(self, data) -> dict:
        kwargs = self.probe.valid()
        kind = self.probe.kinds[self.arg]
        if kind in {"F", "Fx", "P", "W"}:
            bads = tensor_bads(kind, kwargs[self.arg])
        else:
            bads = scalar_bads(kind)
        kwargs[self.arg] = bads[self.bad](data)
        return kwargs


def _t(*shape, lo=-1.0, hi=1.0, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=torch.float64)


# Documented everywhere: half precision is computed in half precision (the stability section
# and bfloat16 training use it), and an empty batch gives an empty result.
HALF = "half precision is accepted and computed in its own precision"
EMPTY = "an empty batch gives an empty result"
EMPTY_MEAN = "an empty batch gives an empty mean (the log-variance is per dimension)"
PASS = "values pass through unchecked: "  # a documented promise that holds for any values


def probes() -> list[Probe]:  # noqa: C901 - one table
    from elbolab import (
        ais,
        densities,
        elbo,
        estimators,
        gradients,
        kl,
        mixture,
        posterior,
        variational,
    )
    from elbolab.diffusion import ddpm, process, schedules, testbed
    from elbolab.vae import data

    sched = schedules.linear_schedule(10, 1e-3, 0.05)
    out: list[Probe] = []

    def add(name, call, valid, kinds, documented=None, aliases=None):
        out.append(Probe(name, call, valid, kinds, documented or {}, aliases or {}))

    # densities
    add("gaussian_log_prob", densities.gaussian_log_prob,
        lambda: dict(x=_t(4, 3), mean=_t(4, 3, seed=1), logvar=_t(4, 3, seed=2)),
        dict(x="F", mean="F", logvar="F"))
    add("bernoulli_log_prob", densities.bernoulli_log_prob,
        lambda: dict(x=(_t(4, 3) > 0).double(), logits=_t(4, 3, seed=1)),
        dict(x="F", logits="F"))
    add("discretized_gaussian_log_prob", densities.discretized_gaussian_log_prob,
        lambda: dict(x=_t(4, 3), mean=_t(4, 3, seed=1), logvar=_t(4, 3, seed=2), bins=256),
        dict(x="F", mean="F", logvar="F", bins="N"))
    add("mvn_log_prob", densities.mvn_log_prob,
        lambda: dict(x=_t(4, 2), mean=_t(2, seed=1),
                     scale_tril=torch.tensor([[1.0, 0.0], [0.3, 0.8]], dtype=torch.float64)),
        dict(x="F", mean="Fx", scale_tril="P"),
        documented={("scale_tril", "negative"): "only the diagonal must be positive; an "
                    "off-diagonal entry may be any finite value",
                    ("scale_tril", "zero"): "an off-diagonal zero is a valid factor"})
    add("all_binary_vectors", densities.all_binary_vectors, lambda: dict(dim=3), dict(dim="N"))
    add("log_mean_exp", densities.log_mean_exp, lambda: dict(a=_t(5, 3), dim=0),
        dict(a="W", dim="N"),
        documented={("dim", "zero"): "dim 0 is a valid dimension",
                    ("dim", "negative"): "negative dims count from the end, as in torch"})
    add("sum_event", densities.sum_event, lambda: dict(t=_t(4, 3), event_dims=1),
        dict(t="F", event_dims="N"),
        documented={("event_dims", "zero"): "no event dimension: the tensor itself",
                    ("t", "nan"): PASS + "a sum over event dimensions (a reduction helper)",
                    ("t", "+inf"): PASS + "a sum over event dimensions",
                    ("t", "-inf"): PASS + "a sum over event dimensions",
                    ("t", "int64"): "sums any dtype, as torch.sum",
                    ("t", "bool"): "sums any dtype, as torch.sum"})
    # kl
    add("gaussian_kl", kl.gaussian_kl,
        lambda: dict(mu1=_t(4, 3), logvar1=_t(4, 3, seed=1), mu2=_t(4, 3, seed=2),
                     logvar2=_t(4, 3, seed=3)),
        dict(mu1="F", logvar1="F", mu2="F", logvar2="F"))
    add("standard_normal_kl", kl.standard_normal_kl,
        lambda: dict(mu=_t(4, 3), logvar=_t(4, 3, seed=1)), dict(mu="F", logvar="F"))
    add("standard_normal_kl_per_dim", kl.standard_normal_kl_per_dim,
        lambda: dict(mu=_t(4, 3), logvar=_t(4, 3, seed=1)), dict(mu="F", logvar="F"))
    tril = torch.tensor([[1.0, 0.0], [0.3, 0.8]], dtype=torch.float64)
    add("mvn_kl", kl.mvn_kl,
        lambda: dict(mu1=_t(4, 2), scale_tril1=tril.clone(), mu2=_t(4, 2, seed=1),
                     scale_tril2=tril.clone() * 1.5),
        dict(mu1="F", scale_tril1="P", mu2="F", scale_tril2="P"),
        documented={(a, b): "only the diagonal must be positive" for a in
                    ("scale_tril1", "scale_tril2") for b in ("negative", "zero")})
    std = torch.distributions.Normal(0.0, 1.0)
    add("monte_carlo_kl", kl.monte_carlo_kl,
        lambda: dict(samples_from_p=_t(64, seed=4), log_p=std.log_prob,
                     log_q=lambda z: std.log_prob(z - 0.5)),
        dict(samples_from_p="F", log_p="C", log_q="C"))
    builder = kl.KLDivergenceBuilder()
    add("KLDivergenceBuilder.gaussian_kl_closed_form", builder.gaussian_kl_closed_form,
        lambda: dict(mu1=_t(3), sigma1=_t(3, lo=0.5, hi=2), mu2=_t(3, seed=1),
                     sigma2=_t(3, lo=0.5, hi=2, seed=2)),
        dict(mu1="F", sigma1="P", mu2="F", sigma2="P"))
    add("KLDivergenceBuilder.standard_normal_kl", builder.standard_normal_kl,
        lambda: dict(mu=_t(4, 3), logvar=_t(4, 3, seed=1)), dict(mu="F", logvar="F"))
    add("KLDivergenceBuilder.monte_carlo_kl", builder.monte_carlo_kl,
        lambda: dict(p_samples=_t(64, seed=4), p_logprob_fn=std.log_prob,
                     q_logprob_fn=lambda z: std.log_prob(z - 0.5)),
        dict(p_samples="F", p_logprob_fn="C", q_logprob_fn="C"))
    # estimators
    add("iwae_bound", estimators.iwae_bound, lambda: dict(log_weights=_t(8, 3), dim=0),
        dict(log_weights="W"))
    add("effective_sample_size", estimators.effective_sample_size,
        lambda: dict(log_weights=_t(8, 3), dim=0), dict(log_weights="W"))
    add("monte_carlo_mean", estimators.monte_carlo_mean, lambda: dict(values=_t(8, 3)),
        dict(values="F"))
    add("streaming_log_mean_exp", estimators.streaming_log_mean_exp,
        lambda: dict(draw_log_weights=lambda n: _t(n), n_samples=100, chunk_size=32),
        dict(draw_log_weights="C", n_samples="N", chunk_size="N"),
        documented={("chunk_size", "huge"): "a chunk larger than n_samples draws them at once"})
    add("LogMeanExpAccumulator.update",
        lambda log_w: estimators.LogMeanExpAccumulator().update(log_w),
        lambda: dict(log_w=_t(8)), dict(log_w="W"),
        documented={("log_w", "empty"): "an empty chunk adds nothing"})
    add("MonteCarloEstimate.z_score",
        lambda truth: estimators.monte_carlo_mean(_t(8)).z_score(truth),
        lambda: dict(truth=torch.tensor(0.1, dtype=torch.float64)), dict(truth="F"))
    # elbo
    add("reparameterize", elbo.reparameterize,
        lambda: dict(mu=_t(4, 2), logvar=_t(4, 2, seed=1), sample_shape=(3,),
                     generator=torch.Generator().manual_seed(0)),
        dict(mu="F", logvar="F", generator="G"))
    add("gaussian_log_likelihood", elbo.gaussian_log_likelihood,
        lambda: dict(x=_t(4, 3), x_mean=_t(4, 3, seed=1), x_logvar=_t(4, 3, seed=2),
                     event_dims=1),
        dict(x="F", x_mean="F", x_logvar="F", event_dims="N"),
        documented={("event_dims", "zero"): "event_dims=0: one log-likelihood per element"})
    add("bernoulli_log_likelihood", elbo.bernoulli_log_likelihood,
        lambda: dict(x=(_t(4, 3) > 0).double(), logits=_t(4, 3, seed=1), event_dims=1),
        dict(x="F", logits="F", event_dims="N"),
        documented={("event_dims", "zero"): "event_dims=0: one log-likelihood per element"})

    # posterior (the model interface)
    add("DiagonalGaussian", posterior.DiagonalGaussian,
        lambda: dict(mu=_t(4, 2), logvar=_t(4, 2, seed=1)), dict(mu="F", logvar="F"))
    add("DiagonalGaussian.rsample", lambda eps: posterior.DiagonalGaussian(
        _t(4, 2), _t(4, 2, seed=1)).rsample((3,), eps=eps),
        lambda: dict(eps=_t(3, 4, 2, seed=2)), dict(eps="F"),
        documented={("eps", "None"): "None: the noise is drawn (from the generator)"})
    add("StandardNormal.sample", lambda latent, generator: posterior.STANDARD_NORMAL.sample(
        (3,), latent, generator=generator), lambda: dict(latent=2, generator=None),
        dict(latent="N", generator="G"))
    add("log_importance_weights", lambda k, chunk_size, generator:
        posterior.log_importance_weights(framework(), (_t(4, 3, seed=7) > 0).float(), k,
                                         chunk_size=chunk_size, generator=generator),
        lambda: dict(k=5, chunk_size=2, generator=None),
        dict(k="N", chunk_size="N", generator="G"),
        documented={("chunk_size", "None"): "None: all k samples in one chunk",
                    ("chunk_size", "huge"): "a chunk larger than k takes all k at once"})

    def framework(likelihood="bernoulli"):
        torch.manual_seed(0)
        enc = _Encoder(3, 2)
        dec = _BernoulliDecoder(2, 3) if likelihood == "bernoulli" else _GaussDecoder(2, 3)
        return elbo.ELBOFramework(enc, dec, likelihood)

    x01 = lambda: (_t(4, 3, seed=7) > 0).float()  # noqa: E731
    add("ELBOFramework", lambda likelihood, decoder_output: elbo.ELBOFramework(
        _Encoder(3, 2), _BernoulliDecoder(2, 3), likelihood, decoder_output=decoder_output),
        lambda: dict(likelihood="bernoulli", decoder_output="logits"),
        dict(likelihood="S", decoder_output="S"))
    add("ELBOFramework.compute_elbo", lambda x, generator: framework().compute_elbo(
        x, generator=generator), lambda: dict(x=x01(), generator=torch.Generator()),
        dict(x="Fx", generator="G"))
    add("ELBOFramework.iwae_bound", lambda x, k, chunk_size: framework().iwae_bound(
        x, k, chunk_size=chunk_size), lambda: dict(x=x01(), k=5, chunk_size=2),
        dict(x="Fx", k="N", chunk_size="N"),
        documented={("chunk_size", "None"): "None: all k samples in one chunk",
                    ("chunk_size", "huge"): "a chunk larger than k takes all k at once"})
    add("ELBOFramework.log_importance_weights",
        lambda x, k: framework().log_importance_weights(x, k),
        lambda: dict(x=x01(), k=5), dict(x="Fx", k="N"))
    add("ELBOFramework.kl_regularization", lambda mu, logvar: framework().kl_regularization(
        mu, logvar), lambda: dict(mu=_t(4, 2).float(), logvar=_t(4, 2, seed=1).float()),
        dict(mu="F", logvar="F"))
    add("ELBOFramework.reconstruction_log_likelihood",
        lambda x, x_recon_mu, x_recon_logvar: framework("gaussian")
        .reconstruction_log_likelihood(x, x_recon_mu, x_recon_logvar),
        lambda: dict(x=_t(4, 3).float(), x_recon_mu=_t(4, 3, seed=1).float(),
                     x_recon_logvar=_t(4, 3, seed=2).float()),
        dict(x="F", x_recon_mu="F", x_recon_logvar="F"),
        documented={("x_recon_logvar", "None"): "None means a log-variance of 0"})
    add("ELBOFramework.reparameterize", lambda mu, logvar: framework().reparameterize(
        mu, logvar), lambda: dict(mu=_t(4, 2), logvar=_t(4, 2, seed=1)),
        dict(mu="F", logvar="F"))
    # gradients: estimators of ∇ E_q[f], ∇ ELBO, ∇ L_k and the training surrogate
    sq = lambda z: (z * z).sum(-1)  # noqa: E731
    add("expectation_gradient_samples", gradients.expectation_gradient_samples,
        lambda: dict(f=sq, mu=_t(3), logvar=_t(3, seed=1), n=16, estimator="reparam",
                     generator=torch.Generator()),
        dict(f="C", mu="Fx", logvar="Fx", n="N", estimator="S", generator="G"))
    add("elbo_gradient_samples", gradients.elbo_gradient_samples,
        lambda: dict(log_likelihood=lambda z: -sq(z - 1), mu=_t(3), logvar=_t(3, seed=1), n=16,
                     estimator="stl", generator=torch.Generator()),
        dict(log_likelihood="C", mu="Fx", logvar="Fx", n="N", estimator="S", generator="G"))
    add("iwae_gradient_samples", gradients.iwae_gradient_samples,
        lambda: dict(log_likelihood=lambda z: -sq(z - 1), mu=_t(3), logvar=_t(3, seed=1), k=4,
                     n=8, estimator="dreg", generator=torch.Generator()),
        dict(log_likelihood="C", mu="Fx", logvar="Fx", k="N", n="N", estimator="S",
             generator="G"))
    add("signal_to_noise", gradients.signal_to_noise, lambda: dict(samples=_t(16, 3)),
        dict(samples="F"))
    add("surrogate_objective", gradients.surrogate_objective,
        lambda: dict(log_likelihood=lambda z: -sq(z - 1), mu=_t(4, 3), logvar=_t(4, 3, seed=1),
                     k=4, gradient="dreg", generator=torch.Generator()),
        dict(log_likelihood="C", mu="Fx", logvar="Fx", k="N", gradient="S", generator="G"))
    # annealed importance sampling
    add("sigmoid_schedule", ais.sigmoid_schedule, lambda: dict(steps=10, delta=4.0),
        dict(steps="N", delta="R"))
    add("annealed_importance_sampling", ais.annealed_importance_sampling,
        lambda: dict(log_likelihood=lambda z: -sq(z - 1), z0=_t(3, 2, 2),
                     betas=ais.sigmoid_schedule(5), step_size=0.1, leapfrog=2,
                     generator=torch.Generator()),
        dict(log_likelihood="C", z0="F", betas="F", step_size="R", leapfrog="N",
             generator="G"),
        documented={("z0", "shape"): "any (chains, *batch, L) is a valid shape: the "
                    "log-likelihood decides which fit its data"})
    # mixture
    mix = lambda: dict(weights=torch.tensor([0.3, 0.7], dtype=torch.float64),  # noqa: E731
                       means=_t(2, 2), stds=_t(2, 2, lo=0.5, hi=1.5, seed=1))
    add("GaussianMixture", mixture.GaussianMixture, mix,
        dict(weights="P", means="Fx", stds="P"))
    add("GaussianMixture.log_prob", lambda x: mixture.GaussianMixture(**mix()).log_prob(x),
        lambda: dict(x=_t(5, 2, seed=3)), dict(x="F"))
    add("GaussianMixture.sample", lambda n, generator: mixture.GaussianMixture(**mix()).sample(
        n, generator), lambda: dict(n=10, generator=torch.Generator()), dict(n="N",
                                                                           generator="G"))
    # variational
    add("fit_diagonal_gaussian", variational.fit_diagonal_gaussian,
        lambda: dict(loss=lambda m, s: ((m - 1) ** 2).sum() + ((s - 0.5) ** 2).sum(),
                     mean=torch.zeros(2), log_std=torch.zeros(2), steps=5, lr=0.05),
        dict(loss="C", mean="F", log_std="Fx", steps="N", lr="R"))
    add("forward_kl_loss", variational.forward_kl_loss,
        lambda: dict(sample_target=lambda n: _t(n, 2).float(), n_samples=16),
        dict(sample_target="C", n_samples="N"))
    add("reverse_kl_loss", variational.reverse_kl_loss,
        lambda: dict(log_target=lambda z: -0.5 * (z ** 2).sum(-1), n_samples=16,
                     generator=torch.Generator()),
        dict(log_target="C", n_samples="N", generator="G"))
    # diffusion: schedules
    add("NoiseSchedule", schedules.NoiseSchedule,
        lambda: dict(betas=torch.linspace(1e-3, 0.05, 10, dtype=torch.float64)),
        dict(betas="P"))
    add("linear_schedule", schedules.linear_schedule,
        lambda: dict(T=10, beta_start=1e-3, beta_end=0.02),
        dict(T="N", beta_start="R", beta_end="R"),
        documented={("beta_start", "None"): "None: the scaled default (Ho et al.)",
                    ("beta_end", "None"): "None: the scaled default (Ho et al.)"})
    add("cosine_schedule", schedules.cosine_schedule, lambda: dict(T=10, s=0.008),
        dict(T="N", s="R"))
    add("NoiseSchedule.reverse_logvar", lambda kind: sched.reverse_logvar(kind),
        lambda: dict(kind="posterior"), dict(kind="S"))
    add("NoiseSchedule.check_t", lambda t: sched.check_t(t), lambda: dict(t=3), dict(t="T"))
    # diffusion: the forward process and its bound
    add("q_marginal", process.q_marginal, lambda: dict(x0=_t(4, 2), t=3, schedule=sched),
        dict(x0="F", t="T"))
    add("q_sample", process.q_sample,
        lambda: dict(x0=_t(4, 2), t=3, schedule=sched, eps=_t(4, 2, seed=1)),
        dict(x0="F", t="T", eps="F"), documented={("eps", "None"): "None: eps is drawn"})
    add("q_posterior", process.q_posterior,
        lambda: dict(x0=_t(4, 2), xt=_t(4, 2, seed=1), t=3, schedule=sched),
        dict(x0="F", xt="F", t="T"))
    add("x0_from_eps", process.x0_from_eps,
        lambda: dict(xt=_t(4, 2), t=3, eps=_t(4, 2, seed=1), schedule=sched),
        dict(xt="F", t="T", eps="F"))
    add("mean_from_eps", process.mean_from_eps,
        lambda: dict(xt=_t(4, 2), t=3, eps=_t(4, 2, seed=1), schedule=sched),
        dict(xt="F", t="T", eps="F"))
    add("prior_term", process.prior_term, lambda: dict(x0=_t(4, 2), schedule=sched),
        dict(x0="F"))
    add("decoder_nll", process.decoder_nll,
        lambda: dict(x0=_t(4, 2), mean=_t(4, 2, seed=1), logvar=_t(4, 2, seed=2) - 3,
                     decoder="continuous", bins=2),
        dict(x0="F", mean="F", logvar="F", decoder="S", bins="N"))
    add("denoising_term", process.denoising_term,
        lambda: dict(x0=_t(4, 2), xt=_t(4, 2, seed=1), t=3, model_mean=_t(4, 2, seed=2),
                     model_logvar=_t(4, 2, seed=3) - 3, schedule=sched),
        dict(x0="F", xt="F", t="T", model_mean="F", model_logvar="F"))
    bed = lambda: testbed.GaussianTestBed(  # noqa: E731
        torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64), sched)
    add("variational_bound", process.variational_bound,
        lambda: dict(x0=_t(4, 2), reverse=bed().reverse, schedule=sched, decoder="continuous",
                     bins=2, generator=torch.Generator()),
        dict(x0="F", reverse="C", decoder="S", bins="N", generator="G"))
    add("GaussianTestBed", lambda mean, cov, variance: testbed.GaussianTestBed(
        mean, cov, sched, variance),
        lambda: dict(mean=torch.zeros(2, dtype=torch.float64),
                     cov=torch.tensor([[1.0, 0.3], [0.3, 1.0]], dtype=torch.float64),
                     variance="optimal"),
        dict(mean="Fx", cov="P", variance="S"),
        documented={("cov", "negative"): "a negative off-diagonal covariance is valid when "
                    "the matrix stays positive definite",
                    ("cov", "zero"): "a zero covariance between two coordinates is valid"})
    for method in ("data_log_prob", "log_likelihood", "bound_terms"):
        add(f"GaussianTestBed.{method}", lambda x0, m=method: getattr(bed(), m)(x0),
            lambda: dict(x0=_t(4, 2)), dict(x0="F"))
    add("GaussianTestBed.reverse", lambda xt, t: bed().reverse(xt, t),
        lambda: dict(xt=_t(4, 2), t=3), dict(xt="F", t="T"),
        documented={("xt", "empty"): EMPTY_MEAN})
    add("GaussianTestBed.sample", lambda n, generator: bed().sample(n, generator),
        lambda: dict(n=5, generator=torch.Generator()), dict(n="N", generator="G"))
    # diffusion: the DDPM
    def model():
        torch.manual_seed(0)
        return ddpm.DDPM(ddpm.EpsilonMLP(dim=2, hidden=8, depth=1, freqs=2, T=10), sched)

    add("ring_mixture", ddpm.ring_mixture, lambda: dict(k=4, radius=1.0, std=0.1),
        dict(k="N", radius="X", std="R"))
    add("EpsilonMLP", ddpm.EpsilonMLP, lambda: dict(dim=2, hidden=8, depth=1, freqs=2, T=10),
        dict(dim="N", hidden="N", depth="N", freqs="N", T="N"))
    add("DDPM", lambda variance: ddpm.DDPM(ddpm.EpsilonMLP(2, 8, 1, 2, 10), sched, variance),
        lambda: dict(variance="beta"), dict(variance="S"))
    add("DDPM.loss", lambda x0, generator: model().loss(x0, generator),
        lambda: dict(x0=_t(4, 2).float(), generator=torch.Generator()),
        dict(x0="F", generator="G"))
    add("DDPM.reverse", lambda xt, t: model().reverse(xt, t),
        lambda: dict(xt=_t(4, 2).float(), t=3), dict(xt="F", t="T"),
        documented={("xt", "empty"): EMPTY_MEAN})
    add("DDPM.sample", lambda n, dim, generator: model().sample(n, dim, generator),
        lambda: dict(n=4, dim=2, generator=torch.Generator()),
        dict(n="N", dim="N", generator="G"))
    add("DDPM.bound", lambda x0, decoder, bins: model().bound(x0, decoder=decoder, bins=bins),
        lambda: dict(x0=_t(4, 2).float(), decoder="continuous", bins=2),
        dict(x0="F", decoder="S", bins="N"))
    add("train_ddpm", ddpm.train_ddpm,
        lambda: dict(data=_t(32, 2).float(), schedule=sched, steps=2, batch_size=8, lr=1e-3,
                     hidden=8),
        dict(data="F", steps="N", batch_size="N", lr="R", hidden="N", variance="S"))
    # data loaders
    add("parse_idx", data.parse_idx, lambda: dict(data=b"", name="probe.idx"), dict(data="B"),
        aliases={"data": ("probe.idx", "data")})
    add("read_idx", data.read_idx, lambda: dict(path="x"), dict(path="D"))
    add("load_digits_split", data.load_digits_split,
        lambda: dict(split="train", test_fraction=0.2, seed=0),
        dict(split="S", test_fraction="R"))
    add("load_dataset", data.load_dataset,
        lambda: dict(dataset="digits", split="train", allow_download=False),
        dict(dataset="S", split="S"))
    add("load_idx_split", data.load_idx_split,
        lambda: dict(dataset="mnist", split="train", data_dir="/nonexistent/elbolab-probe",
                     allow_download=False),
        dict(dataset="S", split="S"),
        aliases={})
    add("binarize", data.binarize,
        lambda: dict(images=_t(4, 3, lo=0, hi=1).float(), generator=torch.Generator()),
        dict(images="F", generator="G"))
    add("static_binarization", data.static_binarization,
        lambda: dict(images=_t(4, 3, lo=0, hi=1).float(), seed=0), dict(images="F"))
    add("binarize_split", data.binarize_split,
        lambda: dict(train_x=_t(4, 3, lo=0, hi=1).float(), test_x=_t(2, 3, lo=0, hi=1).float(),
                     mode="static", seed=0),
        dict(train_x="F", test_x="F", mode="S"),
        documented={("train_x", "empty"): "an empty split stays empty",
                    ("test_x", "empty"): "an empty split stays empty"})
    return out


class _Encoder(torch.nn.Module):
    def __init__(self, d, latent):
        super().__init__()
        self.lin = torch.nn.Linear(d, 2 * latent)

    def forward(self, x):
        mu, logvar = self.lin(x.float()).chunk(2, -1)
        return mu, logvar


class _BernoulliDecoder(torch.nn.Module):
    def __init__(self, latent, d):
        super().__init__()
        self.lin = torch.nn.Linear(latent, d)

    def forward(self, z):
        return self.lin(z)


class _GaussDecoder(_BernoulliDecoder):
    def forward(self, z):
        return self.lin(z), torch.zeros(())


def cases() -> list[Case]:
    out = []
    for p in probes():
        for arg, kind in p.kinds.items():
            if kind in {"F", "Fx", "P", "W"}:
                bads = list(tensor_bads(kind, torch.zeros(2, 2)))
                tensor_args = [a for a, k in p.kinds.items() if k in {"F", "Fx", "P", "W"}]
                if len(tensor_args) < 2 and kind != "Fx":
                    bads.remove("shape")  # nothing to broadcast against
            else:
                bads = list(scalar_bads(kind))
            out.extend(Case(p, arg, b) for b in bads)
    return out


# -- running one call -----------------------------------------------------------------------------
class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def stop(signum, frame):
        raise Hang(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _tensors(result: Any) -> Iterator[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        yield result
    elif isinstance(result, (tuple, list)):
        for r in result:
            yield from _tensors(r)
    elif hasattr(result, "__dataclass_fields__"):
        for name in result.__dataclass_fields__:
            yield from _tensors(getattr(result, name))


def classify(case: Case, kwargs: dict) -> tuple[str, str]:
    """Call the probe with ``kwargs``; return (outcome, detail)."""
    from elbolab.vae.data import DataError

    names = (case.arg, *case.probe.aliases.get(case.arg, ()))
    try:
        with time_limit(TIME_LIMIT_S):
            result = case.probe.call(**kwargs)
    except Hang as exc:
        return "hang", str(exc)
    except (ValueError, TypeError, DataError) as exc:
        message = str(exc)
        bad = kwargs.get(case.arg)
        named = any(n in message for n in names) or (
            isinstance(exc, DataError) and isinstance(bad, str) and bad in message)
        return ("clear" if named else "raw"), f"{type(exc).__name__}: {message[:160]}"
    except Exception as exc:  # noqa: BLE001 - the point is to classify it
        return "raw", f"{type(exc).__name__}: {str(exc)[:160]}"
    finite = all(bool(torch.isfinite(t).all()) for t in _tensors(result)
                 if t.is_floating_point())
    promise = case.probe.documented.get((case.arg, case.bad))
    if promise is None and case.bad == "float16":
        promise = HALF
    if promise is None and case.bad == "empty" and all(t.numel() == 0 for t in _tensors(result)):
        promise = EMPTY
    if promise is not None and (finite or promise.startswith(PASS)):
        return "documented", promise
    return "silent", "returned " + ("a non-finite result" if not finite else "without an error")


def run_case(case: Case, examples: int) -> tuple[str, str]:
    """The worst outcome over ``examples`` hypothesis draws of the case's bad value."""
    seen: list[tuple[str, str]] = []

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def probe(data):
        seen.append(classify(case, case.draw(data)))

    probe()
    return max(seen, key=lambda o: ORDER.index(o[0]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=5, help="hypothesis draws per case")
    ap.add_argument("--out", type=Path, help="write the counts and every case here (JSON)")
    ap.add_argument("--show", default="raw,silent,hang", help="outcomes to list")
    args = ap.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    rows = []
    all_cases = cases()
    for case in all_cases:
        start = time.perf_counter()
        outcome, detail = run_case(case, args.examples)
        rows.append(dict(case=case.id, function=case.probe.name, outcome=outcome, detail=detail,
                         seconds=round(time.perf_counter() - start, 3)))
        if outcome in args.show.split(","):
            print(f"{outcome:>6}  {case.id:60s} {detail}", flush=True)
    counts = Counter(r["outcome"] for r in rows)
    summary = {o: counts.get(o, 0) for o in ORDER}
    n_functions = len({r["function"] for r in rows})
    print(f"\n{len(rows)} cases over {n_functions} public callables: "
          + ", ".join(f"{o} {n}" for o, n in summary.items()))
    if args.out:
        args.out.write_text(json.dumps(dict(summary=summary, functions=n_functions,
                                            examples=args.examples, cases=rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
