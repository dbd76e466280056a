r"""Numerical stability, mapped: each core formula over its whole range against a 50-digit
reference, beside the textbook version a student would write, in four precisions.

A :class:`Case` sweeps one parameter of one function (the others fixed) over extreme but valid
values; :func:`evaluate` runs an implementation (``"elbolab"`` or ``"naive"``) in a dtype and
holds the value and its gradient against an mpmath reference computed at 50 significant
digits (``mpmath.diff`` for the derivative). The error of a value is relative, or, for a
quantity that crosses zero (a log-density), *mixed*: :math:`|v - r| / \max(|r|, s)` with the
case's ``scale`` s = 1, so an answer near a root is judged by its absolute error (the digits
lost there are lost to any formula that subtracts the two terms, not to ours). Points whose
true value does not fit the dtype (beyond ``finfo.max``) are marked ``representable = False``
and left out of every verdict.

The naive versions are written as they appear on a formula sheet: σ = √(exp(logvar)), the KL
via variances, the Bernoulli log-likelihood through ``sigmoid`` with an ε clamp
(:data:`NAIVE_BCE_EPS`), ``log(mean(exp(a)))``, the weights' sums for the ESS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np
import torch

from ..densities import (
    bernoulli_log_prob,
    discretized_gaussian_log_prob,
    gaussian_log_prob,
    log_mean_exp,
)
from ..elbo import reparameterize
from ..estimators import LogMeanExpAccumulator, effective_sample_size, iwae_bound
from ..kl import gaussian_kl, mvn_kl, standard_normal_kl

REFERENCE_DIGITS = 50
DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)
# the ε of the clamped binary cross-entropy (Keras's default epsilon); its bias is the point
NAIVE_BCE_EPS = 1e-7
# accuracy the library promises inside a function's safe range (mixed/relative error)
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}

# a value of the swept parameter -> (our value, naive value); tensors in the given dtype
Impl = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Case:
    """One sweep: ``function`` evaluated as ``ours(p)`` / ``naive(p)`` for a parameter tensor
    p (one value per grid point) against ``reference(p)`` in mpmath. ``scale`` is the floor of
    the error's denominator (0: relative error; 1: mixed, for values that cross zero)."""

    function: str
    sweep: str
    grid: tuple[float, ...]
    ours: Impl
    reference: Callable[[mpmath.mpf], mpmath.mpf]
    naive: Impl | None = None
    scale: float = 0.0
    gradient: bool = True
    # floor of the gradient error's denominator (1: the gradient is judged by its absolute
    # error where it is small, e.g. the Bernoulli's x − σ(ℓ), whose exact value cancels)
    gradient_scale: float = 0.0
    # the documented safe range of the parameter per dtype name (default: the whole grid);
    # outside it a value must still be finite, but need not meet TOLERANCE
    safe: tuple[tuple[str, float, float], ...] = ()

    def safe_range(self, dtype: str) -> tuple[float, float]:
        for name, lo, hi in self.safe:
            if name == dtype:
                return lo, hi
        return min(self.grid), max(self.grid)


@dataclass(frozen=True)
class Point:
    """One grid point of one implementation in one dtype."""

    function: str
    sweep: str
    implementation: str
    dtype: str
    parameter: float
    value: float
    reference: float
    error: float
    finite: bool
    gradient_error: float | None
    gradient_finite: bool | None
    representable: bool
    in_safe_range: bool

    @property
    def failed(self) -> bool:
        """Non-finite (value or gradient) where the truth is finite, anywhere; or, inside the
        documented safe range, an error above the dtype's tolerance (:data:`TOLERANCE`;
        1e-2 for the half precisions, which have no promise)."""
        if not self.representable:
            return False
        if not self.finite or self.gradient_finite is False:
            return True
        tol = TOLERANCE.get(_DTYPE[self.dtype], 1e-2)
        return self.in_safe_range and (self.error > tol or (self.gradient_error or 0.0) > tol)


_DTYPE = {str(d).removeprefix("torch."): d for d in DTYPES}


def symlog_grid(limit: float, n: int = 21) -> tuple[float, ...]:
    """0, ±10^k for k up to log10(limit), n points in all (odd n): for parameters whose sign
    and magnitude both matter (means, logits)."""
    half = np.geomspace(1e-2, limit, (n - 1) // 2)
    return tuple(float(v) for v in np.concatenate([-half[::-1], [0.0], half]))


def _error(value: float, ref: float, scale: float) -> float:
    if not math.isfinite(value):
        return math.inf
    denom = max(abs(ref), scale)
    return abs(value - ref) / denom if denom > 0 else abs(value)


def evaluate(case: Case, implementation: str = "elbolab",
             dtype: torch.dtype = torch.float64) -> list[Point]:
    """The case's points for one implementation and dtype (see the module docstring)."""
    fn = case.ours if implementation == "elbolab" else case.naive
    if fn is None:
        return []
    info = torch.finfo(dtype)
    cast = torch.tensor(case.grid, dtype=torch.float64).to(dtype)
    keep = torch.isfinite(cast)  # grid values the dtype cannot hold are not inputs of it
    p = cast[keep].clone().requires_grad_(case.gradient)
    grads = None
    try:
        values = fn(p)
        if case.gradient:
            (grads,) = torch.autograd.grad(values.sum(), p, allow_unused=True)
    except (RuntimeError, TypeError, ValueError):  # no kernel for this dtype, or refused
        values = torch.full((len(p),), math.nan, dtype=torch.float64)
        grads = torch.full_like(values, math.nan) if case.gradient else None
    out = []
    params = [g for g, k in zip(case.grid, keep.tolist(), strict=True) if k]
    lo, hi = case.safe_range(str(dtype).removeprefix("torch."))
    with mpmath.workdps(REFERENCE_DIGITS):
        for i, g in enumerate(params):
            x = mpmath.mpf(float(p[i].detach().double()))  # the parameter as the dtype holds it
            ref = mpmath.re(case.reference(x))
            ref_f = float(ref)
            v = float(values[i].detach().double())
            # a true value beyond the dtype's range, or in its subnormals (where relative
            # precision is gone by construction), is not an answer the dtype can give
            representable = math.isfinite(ref_f) and (
                ref_f == 0 or info.tiny <= abs(ref_f) <= info.max)
            g_err = g_fin = None
            if grads is not None:
                d_ref = float(mpmath.re(mpmath.diff(case.reference, x)))
                d_v = float(grads[i].double())
                g_fin = math.isfinite(d_v)
                # a derivative that is zero in exact arithmetic comes back from mpmath.diff as
                # ~1e-50 (the reference's working precision): below 1e-40 it counts as zero
                d_ref = 0.0 if abs(d_ref) < 1e-40 else d_ref
                g_err = _error(d_v, d_ref, case.gradient_scale)
                # the chain rule forms products up to a few times the result: a derivative
                # within a factor 4 of the largest number is counted as beyond the dtype
                representable = representable and abs(d_ref) <= info.max / 4
            out.append(Point(case.function, case.sweep, implementation,
                             str(dtype).removeprefix("torch."), g, v, ref_f,
                             _error(v, ref_f, case.scale), math.isfinite(v), g_err, g_fin,
                             representable, lo <= g <= hi))
    return out


def stability_map(cases: list[Case] | None = None, dtypes: tuple[torch.dtype, ...] = DTYPES,
                  implementations: tuple[str, ...] = ("elbolab", "naive")) -> list[Point]:
    """Every point of every case, implementation and dtype."""
    rows: list[Point] = []
    for case in cases or default_cases():
        for impl in implementations:
            for dtype in dtypes:
                rows.extend(evaluate(case, impl, dtype))
    return rows


def summarize(points: list[Point]) -> list[dict]:
    """One row per (function, sweep, implementation, dtype): the worst error and gradient error
    over the representable points, and how many of them failed."""
    groups: dict[tuple, list[Point]] = {}
    for pt in points:
        groups.setdefault((pt.function, pt.sweep, pt.implementation, pt.dtype), []).append(pt)
    rows = []
    for (function, sweep, impl, dtype), pts in groups.items():
        ok = [p for p in pts if p.representable]
        rows.append({
            "function": function, "sweep": sweep, "implementation": impl, "dtype": dtype,
            "points": len(ok),
            "worst_error": max((p.error for p in ok), default=0.0),
            "worst_gradient_error": max((p.gradient_error for p in ok
                                         if p.gradient_error is not None), default=None),
            "non_finite": sum(not p.finite for p in ok),
            "failed": sum(p.failed for p in ok),
        })
    return rows


# -- the cases ----------------------------------------------------------------------------------
def _naive_sigma(logvar: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.exp(logvar))


def naive_gaussian_log_prob(x, mean, logvar):
    """The formula sheet's log N(x; μ, σ²) with σ = √exp(logvar)."""
    sigma = _naive_sigma(logvar)
    return -torch.log(sigma) - 0.5 * math.log(2 * math.pi) - (x - mean) ** 2 / (2 * sigma**2)


def naive_gaussian_kl(mu1, lv1, mu2, lv2):
    """The textbook KL, log(σ₂/σ₁) + (σ₁² + Δμ²)/2σ₂² − ½, via the variances."""
    s1, s2 = _naive_sigma(lv1), _naive_sigma(lv2)
    return torch.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5


def naive_bernoulli_log_prob(x, logits):
    """x log p + (1 − x) log(1 − p) with p = sigmoid(logits) clamped to [ε, 1 − ε]."""
    p = torch.sigmoid(logits).clamp(NAIVE_BCE_EPS, 1 - NAIVE_BCE_EPS)
    return x * torch.log(p) + (1 - x) * torch.log(1 - p)


_OFFSETS = (0.0, -1.0, -2.0, -3.0)  # log-weights around a common shift c


def _shifted(c: torch.Tensor) -> torch.Tensor:
    return c[:, None] + torch.tensor(_OFFSETS, dtype=c.dtype)


def _streamed(c: torch.Tensor) -> torch.Tensor:
    """log-mean-exp of c + offsets fed to the streaming accumulator one weight at a time (its
    running sums are float64 whatever the input; the result is cast back)."""
    acc = LogMeanExpAccumulator()
    for chunk in _shifted(c).T.split(1):
        acc.update(chunk)
    return acc.result().estimate.to(c.dtype)


def default_cases(fine: bool = False) -> list[Case]:
    """The map of the lab's core formulas (see the module docstring); ``fine`` takes about
    five times as many grid points per sweep."""
    k = 5 if fine else 1
    lv_grid = tuple(float(v) for v in np.linspace(-100, 100, 40 * k + 1))
    near = tuple(float(v) for v in np.geomspace(1e-12, 1.0, 24 * k + 1))
    log2pi = mpmath.log(2 * mpmath.pi)
    half_bin = 1 / mpmath.mpf(255)
    return [
        Case("gaussian_log_prob", "logvar, x = mean", lv_grid,
             lambda lv: gaussian_log_prob(torch.zeros_like(lv), torch.zeros_like(lv), lv),
             lambda lv: -(log2pi + lv) / 2,
             lambda lv: naive_gaussian_log_prob(torch.zeros_like(lv), torch.zeros_like(lv), lv),
             scale=1.0),
        Case("gaussian_log_prob", "logvar, x − mean = 1", lv_grid,
             lambda lv: gaussian_log_prob(torch.ones_like(lv), torch.zeros_like(lv), lv),
             lambda lv: -(log2pi + lv + mpmath.exp(-lv)) / 2,
             lambda lv: naive_gaussian_log_prob(torch.ones_like(lv), torch.zeros_like(lv), lv),
             scale=1.0),
        Case("gaussian_log_prob", "mean, logvar = 0", symlog_grid(1e6, 20 * k + 1),
             lambda m: gaussian_log_prob(torch.zeros_like(m), m, torch.zeros_like(m)),
             lambda m: -(log2pi + m**2) / 2,
             lambda m: naive_gaussian_log_prob(torch.zeros_like(m), m, torch.zeros_like(m)),
             scale=1.0),
        Case("gaussian_kl", "logvar₁ = logvar₂, equal means", lv_grid,
             lambda lv: gaussian_kl(torch.zeros_like(lv), lv, torch.zeros_like(lv), lv),
             lambda lv: mpmath.mpf(0),
             lambda lv: naive_gaussian_kl(torch.zeros_like(lv), lv, torch.zeros_like(lv), lv),
             scale=1.0),
        Case("gaussian_kl", "logvar₁ − logvar₂ (nearly equal variances)", near,
             lambda r: gaussian_kl(torch.zeros_like(r), r, torch.zeros_like(r),
                                   torch.zeros_like(r)),
             lambda r: (mpmath.expm1(r) - r) / 2,
             lambda r: naive_gaussian_kl(torch.zeros_like(r), r, torch.zeros_like(r),
                                 torch.zeros_like(r))),
        Case("gaussian_kl", "μ₁ − μ₂, logvars = 100", tuple(float(v) for v in
                                                            np.geomspace(1e-2, 1e6, 16 * k + 1)),
             lambda d: gaussian_kl(d, torch.full_like(d, 100.0), torch.zeros_like(d),
                                   torch.full_like(d, 100.0)),
             lambda d: d**2 * mpmath.exp(-100) / 2,
             lambda d: naive_gaussian_kl(d, torch.full_like(d, 100.0), torch.zeros_like(d),
                                 torch.full_like(d, 100.0))),
        Case("standard_normal_kl", "logvar, μ = 0", lv_grid,
             lambda lv: standard_normal_kl(torch.zeros_like(lv)[:, None], lv[:, None]),
             lambda lv: (mpmath.expm1(lv) - lv) / 2,
             lambda lv: naive_gaussian_kl(torch.zeros_like(lv), lv, torch.zeros_like(lv),
                                  torch.zeros_like(lv))),
        Case("bernoulli_log_prob", "logits, x = 1", symlog_grid(1e4, 20 * k + 1),
             lambda lg: bernoulli_log_prob(torch.ones_like(lg), lg),
             lambda lg: -mpmath.log1p(mpmath.exp(-lg)),
             lambda lg: naive_bernoulli_log_prob(torch.ones_like(lg), lg),
             # mixed: the value is −e^{−ℓ} for ℓ ≫ 0, and an absolute eps is what an ELBO sum
             # can use (the relative form costs 3x; bernoulli_log_prob's docstring)
             scale=1.0, gradient_scale=1.0),
        Case("bernoulli_log_prob", "logits, x = 0", symlog_grid(1e4, 20 * k + 1),
             lambda lg: bernoulli_log_prob(torch.zeros_like(lg), lg),
             lambda lg: -mpmath.log1p(mpmath.exp(lg)),
             lambda lg: naive_bernoulli_log_prob(torch.zeros_like(lg), lg),
             scale=1.0, gradient_scale=1.0),
        Case("log_mean_exp", "shift c of the log-weights c + (0, −1, −2, −3)",
             symlog_grid(1e4, 20 * k + 1),
             lambda c: log_mean_exp(_shifted(c), dim=1),
             lambda c: c + mpmath.log(sum(mpmath.exp(o) for o in _OFFSETS) / len(_OFFSETS)),
             lambda c: torch.log(torch.exp(_shifted(c)).mean(1)), scale=1.0,
             # the gradient (softmax weights) inherits the rounding of the result, ulp(c)
             safe=(("float32", -200.0, 200.0),)),
        Case("iwae_bound", "shift c of the log-weights c + (0, −1, −2, −3)",
             symlog_grid(1e4, 20 * k + 1),
             lambda c: iwae_bound(_shifted(c), dim=1),
             lambda c: c + mpmath.log(sum(mpmath.exp(o) for o in _OFFSETS) / len(_OFFSETS)),
             scale=1.0, safe=(("float32", -200.0, 200.0),)),
        Case("LogMeanExpAccumulator", "shift c, the weights streamed in chunks of 1",
             symlog_grid(1e4, 20 * k + 1), _streamed,
             lambda c: c + mpmath.log(sum(mpmath.exp(o) for o in _OFFSETS) / len(_OFFSETS)),
             scale=1.0, gradient=False),
        Case("effective_sample_size", "shift c of the log-weights c + (0, −1, −2, −3)",
             symlog_grid(1e6, 20 * k + 1),
             lambda c: effective_sample_size(_shifted(c), dim=1),
             lambda c: (sum(mpmath.exp(o) for o in _OFFSETS) ** 2
                        / sum(mpmath.exp(2 * o) for o in _OFFSETS)),
             lambda c: (torch.exp(_shifted(c)).sum(1) ** 2
                        / torch.exp(2 * _shifted(c)).sum(1)), gradient=False),
        Case("reparameterize", "logvar (z = μ + σ·ε, μ = 0, ε = 1)", lv_grid,
             lambda lv: reparameterize(torch.zeros_like(lv), lv, eps=torch.ones_like(lv)),
             lambda lv: mpmath.exp(lv / 2),
             lambda lv: torch.zeros_like(lv) + _naive_sigma(lv) * 1.0),
        Case("mvn_kl", "scale s of L₁ = s·I₃ against N(0, I₃)",
             tuple(float(v) for v in np.geomspace(1e-30, 1e30, 30 * k + 1)),
             lambda s: mvn_kl(torch.zeros(len(s), 3, dtype=s.dtype),
                              s[:, None, None] * torch.eye(3, dtype=s.dtype),
                              torch.zeros(len(s), 3, dtype=s.dtype),
                              torch.eye(3, dtype=s.dtype).expand(len(s), 3, 3)),
             lambda s: (3 * s**2 - 3) / 2 - 3 * mpmath.log(s)),
        Case("discretized_gaussian_log_prob", "logvar, x = mean = 0",
             tuple(float(v) for v in np.linspace(-10, 80, 30 * k + 1)),
             lambda lv: discretized_gaussian_log_prob(torch.zeros_like(lv),
                                                      torch.zeros_like(lv), lv),
             lambda lv: _log_bin_mass(-half_bin * mpmath.exp(-lv / 2),
                                      half_bin * mpmath.exp(-lv / 2)),
             scale=1.0),
        Case("discretized_gaussian_log_prob", "mean, x = 0, logvar = 0",
             symlog_grid(1e6, 20 * k + 1),
             lambda m: discretized_gaussian_log_prob(torch.zeros_like(m), m,
                                                     torch.zeros_like(m)),
             lambda m: _log_bin_mass(-half_bin - m, half_bin - m),
             # the value is exact to 1e-15 over the whole sweep; its gradient (torch's log_ndtr
             # backward) loses ~|m|²·eps relative beyond ~50 σ: the safe range is the gradient's
             scale=1.0, gradient_scale=1.0,
             safe=(("float64", -50.0, 50.0), ("float32", -50.0, 50.0))),
    ]


def schedule_case(schedule, name: str = "linear_schedule") -> Case:
    """log ᾱ_t of a noise schedule (anything with float64 ``betas`` and ``log_alpha_bar``
    indexed by t = 0…T, such as :class:`~elbolab.diffusion.schedules.NoiseSchedule`) against
    Σ log(1 − β_s) summed in mpmath from the same β. See also :func:`posterior_variance_case`."""
    betas = [mpmath.mpf(float(b)) for b in schedule.betas[1:]]
    T = len(betas)
    ts = tuple(float(t) for t in sorted({1, 2, 10, T // 10, T // 2, T - 1, T}) if t >= 1)
    return Case(name, f"log ᾱ_t, T = {T}", ts,
                lambda t: schedule.log_alpha_bar.to(t.dtype)[t.detach().long()],
                lambda t: mpmath.fsum(mpmath.log1p(-b) for b in betas[: int(t)]),
                gradient=False, scale=1.0)


def posterior_variance_case(schedule, name: str = "linear_schedule") -> Case:
    """log β̃_t = log β_t + log(1 − ᾱ_{t−1}) − log(1 − ᾱ_t) of a schedule (``posterior_logvar``)
    at t = 2 … T, where 1 − ᾱ_{t−1} is tiny near t = 2 and ᾱ_t tiny near T, against mpmath."""
    betas = [mpmath.mpf(float(b)) for b in schedule.betas[1:]]
    T = len(betas)

    def ref(t):
        t = int(t)
        log_ab = [mpmath.fsum(mpmath.log1p(-b) for b in betas[:s]) for s in (t - 1, t)]
        return (mpmath.log(betas[t - 1]) + mpmath.log(-mpmath.expm1(log_ab[0]))
                - mpmath.log(-mpmath.expm1(log_ab[1])))

    ts = tuple(float(t) for t in sorted({2, 3, 10, T // 2, T - 1, T}) if t >= 2)
    return Case(name, f"posterior log-variance log β̃_t, T = {T}", ts,
                lambda t: schedule.posterior_logvar.to(t.dtype)[t.detach().long()], ref,
                gradient=False, scale=1.0)


def safe_range_table(cases: list[Case], points: list[Point]) -> list[dict]:
    """Per sweep: the documented safe range in float64 and float32, elbolab's worst error there
    (value and gradient), and whether anything was non-finite where the truth is finite."""
    rows = []
    for case in cases:
        row = {"function": case.function, "sweep": case.sweep}
        for dtype in ("float64", "float32"):
            pts = [p for p in points if p.function == case.function and p.sweep == case.sweep
                   and p.implementation == "elbolab" and p.dtype == dtype and p.representable]
            inside = [p for p in pts if p.in_safe_range]
            row[f"safe_{dtype}"] = case.safe_range(dtype)
            row[f"error_{dtype}"] = max((p.error for p in inside), default=0.0)
            row[f"gradient_error_{dtype}"] = max(
                (p.gradient_error for p in inside if p.gradient_error is not None), default=None)
            row[f"non_finite_{dtype}"] = sum(not p.finite or p.gradient_finite is False
                                             for p in pts)
        rows.append(row)
    return rows


def _log_bin_mass(a, b):
    """log(Φ(b) − Φ(a)) in mpmath, mirrored into the lower tail for accuracy."""
    if a > 0:
        a, b = -b, -a
    return mpmath.log(mpmath.ncdf(b) - mpmath.ncdf(a))


__all__ = ["DTYPES", "NAIVE_BCE_EPS", "REFERENCE_DIGITS", "TOLERANCE", "Case", "Point",
           "default_cases", "evaluate", "naive_bernoulli_log_prob", "naive_gaussian_kl",
           "naive_gaussian_log_prob", "posterior_variance_case", "safe_range_table",
           "schedule_case", "stability_map", "summarize", "symlog_grid"]
