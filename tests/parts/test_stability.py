"""The stability map on the coarse grid of the lab (seconds): elbolab holds its promise in
float64 and float32 against the 50-digit reference, the textbook versions fail where the text
says they do, and the invariances hold exactly. Oracles: mpmath at 50 digits (through the
harness) and exact identities."""

import math

import mpmath
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from elbolab import (
    bernoulli_log_prob,
    discretized_gaussian_log_prob,
    effective_sample_size,
    gaussian_kl,
    gaussian_log_prob,
    linear_schedule,
    standard_normal_kl,
)
from elbolab.parts.stability import (
    NAIVE_BCE_EPS,
    TOLERANCE,
    default_cases,
    evaluate,
    posterior_variance_case,
    schedule_case,
    stability_map,
    summarize,
)

F64, F32 = torch.float64, torch.float32


@pytest.fixture(scope="module")
def points():
    cases = default_cases() + [schedule_case(linear_schedule(1000)),
                               posterior_variance_case(linear_schedule(1000))]
    return stability_map(cases, dtypes=(F64, F32))


def test_elbolab_meets_its_tolerance_and_is_never_silently_non_finite(points):
    ours = [p for p in points if p.implementation == "elbolab"]
    failed = [(p.function, p.sweep, p.dtype, p.parameter, p.value, p.reference)
              for p in ours if p.failed]
    assert not failed, failed
    inside = [p for p in ours if p.representable and p.in_safe_range]
    for dtype, tol in (("float64", TOLERANCE[F64]), ("float32", TOLERANCE[F32])):
        worst = max(p.error for p in inside if p.dtype == dtype)
        assert worst <= tol, (dtype, worst)
    assert all(p.finite for p in ours if p.representable)


def _worst(points, function, sweep_start, impl, dtype):
    rows = [r for r in summarize(points) if r["function"] == function
            and r["sweep"].startswith(sweep_start) and r["implementation"] == impl
            and r["dtype"] == dtype]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(("function", "sweep", "dtype", "what"), [
    # σ = √exp(logvar) overflows/underflows: NaN at x = mean for logvar ≤ −89 in float32
    ("gaussian_log_prob", "logvar, x = mean", "float32", "non_finite"),
    # the KL via variances cancels for nearly equal variances, in both precisions
    ("gaussian_kl", "logvar₁ − logvar₂", "float64", "error"),
    ("gaussian_kl", "logvar₁ − logvar₂", "float32", "error"),
    # log(mean(exp(a))) overflows and underflows
    ("log_mean_exp", "shift", "float64", "non_finite"),
    # the ε-clamped BCE caps −log p at −log ε
    ("bernoulli_log_prob", "logits, x = 1", "float64", "error"),
    ("bernoulli_log_prob", "logits, x = 0", "float32", "error"),
    ("effective_sample_size", "shift", "float64", "non_finite"),
    ("reparameterize", "logvar", "float32", "non_finite"),
])
def test_the_textbook_formula_fails_where_the_text_says(points, function, sweep, dtype, what):
    row = _worst(points, function, sweep, "naive", dtype)
    if what == "non_finite":
        assert row["non_finite"] > 0, row
    else:
        assert row["worst_error"] > 1e-3, row
    ours = _worst(points, function, sweep, "elbolab", dtype)
    assert ours["failed"] == 0 and ours["non_finite"] == 0


def test_the_eps_clamp_bounds_the_log_likelihood():
    logits = torch.tensor([5.0, 20.0, 40.0], dtype=F64)
    x = torch.zeros(3, dtype=F64)
    naive = torch.log(1 - torch.sigmoid(logits).clamp(NAIVE_BCE_EPS, 1 - NAIVE_BCE_EPS))
    assert naive[-1].item() == pytest.approx(math.log(NAIVE_BCE_EPS), rel=1e-6)  # capped
    exact = bernoulli_log_prob(x, logits)
    assert exact[-1].item() == pytest.approx(-40.0, rel=1e-15)  # −softplus(40)


def test_reported_failures_of_the_issue_are_fixed():
    # gaussian_log_prob at x = mean, logvar = −100 (float32): 49.08, not NaN
    v = gaussian_log_prob(torch.zeros(1), torch.zeros(1), torch.tensor([-100.0]))
    assert v.item() == pytest.approx(0.5 * (100 - math.log(2 * math.pi)), rel=1e-6)
    # gaussian_kl with equal means and logvars ≤ −89 (float32): exactly 0
    lv = torch.tensor([-100.0])
    assert gaussian_kl(torch.zeros(1), lv, torch.zeros(1), lv).item() == 0.0
    # nearly equal variances: 2.5e-17 at a log-variance difference of 1e-8 (float64), to 1e-15
    r = torch.tensor([1e-8], dtype=F64)
    with mpmath.workdps(50):
        ref = float((mpmath.expm1(mpmath.mpf(1e-8)) - mpmath.mpf(1e-8)) / 2)
    assert gaussian_kl(torch.zeros(1, dtype=F64), r, torch.zeros(1, dtype=F64),
                       torch.zeros(1, dtype=F64)).item() == pytest.approx(ref, rel=1e-15)
    # ESS at |log w| = 1e4 (float32): 4 equal weights give exactly 4
    assert effective_sample_size(torch.full((4,), 1e4)).item() == pytest.approx(4.0, abs=1e-6)
    # the 8-bit decoder at logvar 60 (float64) and a float32 mean of 1e6: finite and right
    dec = discretized_gaussian_log_prob(torch.zeros(1, dtype=F64), torch.zeros(1, dtype=F64),
                                        torch.tensor([60.0], dtype=F64))
    with mpmath.workdps(50):
        h = mpmath.mpf(1) / 255 * mpmath.exp(-30)
        ref = float(mpmath.log(mpmath.ncdf(h) - mpmath.ncdf(-h)))
    assert dec.item() == pytest.approx(ref, rel=1e-12)
    far = discretized_gaussian_log_prob(torch.zeros(1), torch.tensor([1e6]), torch.zeros(1))
    assert far.dtype == torch.float32 and far.item() == pytest.approx(-5e11, rel=1e-6)


def test_gradients_are_finite_and_right():
    logits = torch.tensor([0.0, 30.0, -30.0, 50.0], dtype=F64, requires_grad=True)
    x = torch.tensor([1.0, 1.0, 0.0, 0.25], dtype=F64)
    (g,) = torch.autograd.grad(bernoulli_log_prob(x, logits).sum(), logits)
    torch.testing.assert_close(g, x - torch.sigmoid(logits.detach()), rtol=0, atol=1e-15)
    r = torch.tensor([1e-9, 1e-3, 0.5, -2.0], dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(standard_normal_kl(torch.zeros(1, 4, dtype=F64), r[None]).sum(), r)
    torch.testing.assert_close(g, 0.5 * torch.expm1(r.detach()), rtol=1e-12, atol=0)
    lv = torch.tensor([-100.0, 0.0, 100.0], requires_grad=True)
    (g,) = torch.autograd.grad(gaussian_log_prob(torch.zeros(3), torch.zeros(3), lv).sum(), lv)
    torch.testing.assert_close(g, torch.full((3,), -0.5))


def test_a_coarse_case_runs_in_every_precision():
    case = default_cases()[0]
    for dtype in (torch.bfloat16, torch.float16):
        pts = evaluate(case, "elbolab", dtype)
        assert pts and all(p.dtype == str(dtype).removeprefix("torch.") for p in pts)


# -- invariances, over the documented ranges ---------------------------------------------------
logvars = st.floats(-100.0, 100.0)
means = st.floats(-1e6, 1e6)


@given(means, logvars)
def test_kl_of_a_gaussian_with_itself_is_exactly_zero(mu, lv):
    for dtype in (F64, F32):
        m, v = torch.tensor([mu], dtype=dtype), torch.tensor([lv], dtype=dtype)
        assert gaussian_kl(m, v, m, v).item() == 0.0


@given(means, logvars, means, logvars)
def test_kl_is_never_negative_nor_nan(mu1, lv1, mu2, lv2):
    t = [torch.tensor([v], dtype=F64) for v in (mu1, lv1, mu2, lv2)]
    kl = gaussian_kl(*t).item()
    assert kl >= 0.0 and not math.isnan(kl)
    assert standard_normal_kl(t[0][None], t[1][None]).item() >= 0.0


@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(-20.0, 20.0))
def test_log_density_is_translation_invariant(x, shift, lv):
    a = gaussian_log_prob(torch.tensor([x], dtype=F64), torch.tensor([0.0], dtype=F64),
                          torch.tensor([lv], dtype=F64))
    b = gaussian_log_prob(torch.tensor([x + shift], dtype=F64),
                          torch.tensor([shift], dtype=F64), torch.tensor([lv], dtype=F64))
    # the shift costs the residual at most one rounding of x + shift
    tol = 4 * torch.finfo(F64).eps * (abs(x) + abs(shift)) ** 2 * math.exp(-lv) + 1e-12
    assert abs(a.item() - b.item()) <= tol


@given(st.floats(-1e4, 1e4), st.sampled_from([0.0, 0.25, 1.0]))
def test_bernoulli_log_prob_matches_mpmath(logit, x):
    got = bernoulli_log_prob(torch.tensor([x], dtype=F64), torch.tensor([logit], dtype=F64))
    with mpmath.workdps(50):
        lg = mpmath.mpf(logit)
        ref = float(x * lg - mpmath.log1p(mpmath.exp(lg)))
    # mixed: relative 1e-13 above 1 nat, absolute eps below (the documented contract)
    assert got.item() == pytest.approx(ref, rel=1e-13, abs=4e-16)
