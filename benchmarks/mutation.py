"""Mutation testing of the lab: does every plausible bug make a validation fail?

Each mutant is one small edit to a copy of ``src/elbolab`` — the kind of bug students and
library authors make (a variance used as a standard deviation, a missing ½, a sum over the
wrong dimension, log(mean) instead of log-mean-exp, a sign flip, probabilities passed as logits,
an ε-clamped BCE, a wrong schedule index, ...). For each, the quick lab runs on the mutated copy
(``PYTHONPATH`` puts it first) and the validations that fail are recorded. A mutant is *caught*
when at least one validation fails; a notebook that stops with an exception is reported as such
(caught by a crash, not by a check). The table goes to ``benchmarks/results/mutation_cpu.md``
(and the raw records to ``mutation_cpu.json``).

    python benchmarks/mutation.py                      # every mutant, ~90 s each on 2 cores
    python benchmarks/mutation.py --only kl_mean_term_doubled --keep /tmp/mut
    python benchmarks/mutation.py --list

Needs the MNIST files (``ELBOLAB_DATA_DIR``); without them the lab falls back to the 8x8
digits and the table says so. Every edit must match the source exactly once: a refactor that
moves the code makes the harness stop with the mutant's name, so the list stays true.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "elbolab"
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str  # what a person would have done wrong, in words
    file: str  # relative to src/elbolab
    old: str
    new: str


MUTANTS = [
    # -- densities and the reparameterization -----------------------------------------------
    Mutant("gaussian_logprob_variance_as_std", "variance used as a standard deviation in the "
           "Gaussian log-density", "densities.py",
           "z = (x - mean) * torch.exp(-0.5 * (logvar + LN2))",
           "z = (x - mean) * torch.exp(-(logvar + 0.5 * LN2))"),
    Mutant("gaussian_logprob_missing_half", "missing ½ on the log-normalizer (log 2πσ² instead "
           "of ½ log 2πσ²)", "densities.py",
           "return -torch.addcmul(0.5 * (logvar + LOG_2PI), z, z)",
           "return -torch.addcmul(logvar + LOG_2PI, z, z)"),
    Mutant("bernoulli_probabilities_as_logits", "probabilities passed where logits are "
           "expected (sigmoid applied twice)", "densities.py",
           "return torch.addcmul(F.softplus(logits, threshold=SOFTPLUS_LINEAR_ABOVE).neg_(), x, "
           "logits)",
           "logits = torch.sigmoid(logits)\n"
           "    return torch.addcmul(F.softplus(logits, threshold=SOFTPLUS_LINEAR_ABOVE).neg_(), "
           "x, logits)"),
    Mutant("bernoulli_eps_clamped_bce", "the ε-clamped BCE of the formula sheet instead of the "
           "logits form", "densities.py",
           "return torch.addcmul(F.softplus(logits, threshold=SOFTPLUS_LINEAR_ABOVE).neg_(), x, "
           "logits)",
           "p = torch.sigmoid(logits).clamp(1e-3, 1 - 1e-3)\n"
           "    return x * torch.log(p) + (1 - x) * torch.log1p(-p)"),
    Mutant("log_mean_exp_as_log_mean", "log(mean(exp(a))) instead of log-sum-exp minus log n",
           "densities.py",
           "return torch.logsumexp(a, dim=dim) - math.log(n)",
           "return torch.log(torch.exp(a).mean(dim=dim))"),
    Mutant("log_mean_exp_without_log_n", "log-sum-exp taken for the log-mean-exp (the − log n "
           "forgotten)", "densities.py",
           "return torch.logsumexp(a, dim=dim) - math.log(n)",
           "return torch.logsumexp(a, dim=dim)"),
    Mutant("reparameterize_variance_as_std", "z = μ + σ²ε (the variance as the scale)",
           "posterior.py",
           "return torch.addcmul(mu, torch.exp(0.5 * logvar), eps)",
           "return torch.addcmul(mu, torch.exp(logvar), eps)"),
    Mutant("reparameterize_forgets_mean", "z = σε: the mean left out of the reparameterized "
           "sample", "posterior.py",
           "return torch.addcmul(mu, torch.exp(0.5 * logvar), eps)",
           "return torch.exp(0.5 * logvar) * eps + 0 * mu"),
    # -- KL divergences --------------------------------------------------------------------
    Mutant("kl_mean_term_doubled", "missing ½ on the Gaussian KL's mean term", "kl.py",
           "z = (mu1 - mu2) * torch.exp(logvar2.mul(-0.5).sub_(0.5 * LN2))",
           "z = (mu1 - mu2) * torch.exp(logvar2.mul(-0.5))"),
    Mutant("kl_arguments_swapped", "KL(q‖p) computed where KL(p‖q) was asked (σ ratio "
           "inverted)", "kl.py",
           "return torch.addcmul(_half_expm1_minus_x(logvar1 - logvar2), z, z)",
           "return torch.addcmul(_half_expm1_minus_x(logvar2 - logvar1), z, z)"),
    Mutant("standard_normal_kl_sign", "a sign flip in the KL to the prior (−KL returned)",
           "kl.py",
           "return 0.5 * (mu * mu) + _half_expm1_minus_x(logvar)",
           "return -(0.5 * (mu * mu) + _half_expm1_minus_x(logvar))"),
    Mutant("mvn_kl_logdet_sign", "log-determinant ratio with the wrong sign in the "
           "full-covariance KL", "kl.py",
           "torch.diagonal(l2, dim1=-2, dim2=-1).log() - torch.diagonal(l1, dim1=-2, dim2=-1)"
           ".log()",
           "torch.diagonal(l1, dim1=-2, dim2=-1).log() - torch.diagonal(l2, dim1=-2, dim2=-1)"
           ".log()"),
    Mutant("kl_log_ratio_sign", "the log-variance term of the Gaussian KL with its sign "
           "flipped (½(e^r − 1 + r): log σ₁/σ₂ for log σ₂/σ₁)", "kl.py",
           "out = (torch.expm1(r) - r).mul_(0.5)", "out = (torch.expm1(r) + r).mul_(0.5)"),
    Mutant("kl_prior_mean_over_latent", "KL to the prior averaged over latent units instead of "
           "summed", "kl.py",
           "return (0.5 * (mu * mu) + _half_expm1_minus_x(logvar)).sum(dim=-1)",
           "return (0.5 * (mu * mu) + _half_expm1_minus_x(logvar)).mean(dim=-1)"),
    # -- the ELBO and its estimators -------------------------------------------------------
    Mutant("event_dims_mean_not_sum", "a mean over the event dimensions (pixels) where the "
           "log-likelihood needs their sum", "densities.py",
           "return t.sum(dim=tuple(range(-event_dims, 0))) if event_dims > 0 else t",
           "return t.mean(dim=tuple(range(-event_dims, 0))) if event_dims > 0 else t"),
    Mutant("iwae_bound_as_mean_log_weight", "the IWAE bound as the mean of the log-weights "
           "(the ELBO again) instead of their log-mean-exp", "estimators.py",
           "return log_mean_exp(log_weights, dim=dim, validate=validate)",
           "return log_weights.mean(dim=dim)"),
    Mutant("mc_stderr_n_for_sqrt_n", "Monte Carlo standard error s/n instead of s/√n",
           "estimators.py",
           "se = values.std(dim=dim, correction=1) / math.sqrt(n)",
           "se = values.std(dim=dim, correction=1) / n"),
    Mutant("elbo_kl_sign", "ELBO = reconstruction + KL (a sign flip)", "elbo.py",
           "return ELBOResult(rec - kl, rec, kl, base.mu, base.logvar, z)",
           "return ELBOResult(rec + kl, rec, kl, base.mu, base.logvar, z)"),
    Mutant("iwae_weight_without_prior", "IWAE weight log p(x|z) − log q(z|x), the prior term "
           "forgotten", "posterior.py",
           "chunks.append(model.log_likelihood(x, z) + (prior.log_prob(z) - log_q))",
           "chunks.append(model.log_likelihood(x, z) - log_q)"),
    Mutant("ess_wrong_formula", "ESS as Σw² / (Σw)² · n² (squares the wrong sum)",
           "estimators.py",
           "return torch.exp(2 * torch.logsumexp(a, dim=dim) - torch.logsumexp(2 * a, dim=dim))",
           "return torch.exp(torch.logsumexp(2 * a, dim=dim) - 2 * torch.logsumexp(a, dim=dim)"
           " + 2 * math.log(a.shape[dim]))"),
    Mutant("stream_stderr_missing_sqrt", "delta-method standard error without the square root "
           "(a variance reported as an error)", "estimators.py",
           "stderr = rel_var.sqrt()", "stderr = rel_var"),
    Mutant("stream_log_n_minus_one", "n − 1 for n in the streaming log-mean-exp", "estimators.py",
           "log_mean = safe + torch.log(self.s) - math.log(self.n)",
           "log_mean = safe + torch.log(self.s) - math.log(self.n - 1 + 1e-300)"),
    Mutant("reverse_kl_without_entropy", "reverse-KL fit that forgets q's entropy (maximizes "
           "E_q log p alone)", "variational.py",
           "return -(log_target(z).mean(0) + log_std.sum(-1)).sum()",
           "return -(log_target(z).mean(0)).sum()"),
    Mutant("reverse_sample_detached", "the reverse-KL fit's sample detached from the mean (no "
           "pathwise gradient reaches it)", "variational.py",
           "q = DiagonalGaussian(mean, 2 * log_std, validate=False)",
           "q = DiagonalGaussian(mean.detach(), 2 * log_std, validate=False)"),
    Mutant("forward_fit_minimizes_reverse_kl", "the two KL directions swapped: the forward fit "
           "minimizes KL(q‖p)", "parts/asymmetry.py",
           "loss = forward_kl_loss(lambda n: target.sample(n, generator), n_samples)",
           "loss = reverse_kl_loss(target.log_prob, n_samples, generator=generator)"),
    # -- Part 1's exact answers --------------------------------------------------------------
    Mutant("linear_marginal_logdet_half", "log det C from the Cholesky diagonal without the "
           "factor 2", "parts/latent_models.py",
           "logdet = self.data_dim * self.noise_logvar + 2 * torch.diagonal(la).log().sum()",
           "logdet = self.data_dim * self.noise_logvar + torch.diagonal(la).log().sum()"),
    Mutant("posterior_mean_missing_noise_scale", "posterior mean A⁻¹Wᵀ(x − b) without the "
           "1/σ²", "parts/latent_models.py",
           "rhs = ((xb - self.b) @ self.W).T * math.exp(-self.noise_logvar)  # (L, B)",
           "rhs = ((xb - self.b) @ self.W).T  # (L, B)"),
    Mutant("expected_loglik_without_trace", "E_q log p(x|z) of the linear model without the "
           "trace term (q's spread forgotten)", "parts/latent_models.py",
           "+ ((resid * resid).sum(-1) + trace) * math.exp(-self.noise_logvar))",
           "+ (resid * resid).sum(-1) * math.exp(-self.noise_logvar))"),
    Mutant("lognormal_mean_missing_half", "log E[X] of a log-normal as μ + σ² (the ½ "
           "forgotten)", "parts/jensen.py",
           "mu, mu + sigma**2 / 2)", "mu, mu + sigma**2)"),
    Mutant("posterior_precision_as_covariance", "the posterior's precision factor used as its "
           "covariance factor (A for A⁻¹)", "parts/latent_models.py",
           "return GaussianProposal(mean, torch.linalg.cholesky(cov))",
           "return GaussianProposal(mean, la)"),
    Mutant("gamma_elog_as_log_mean", "E[log X] of a Gamma taken as log E[X] (digamma "
           "forgotten)", "parts/jensen.py",
           "float(special.digamma(shape)) + math.log(scale),",
           "math.log(shape) + math.log(scale),"),
    # -- training ----------------------------------------------------------------------------
    Mutant("backprop_kl_logvar_missing_half", "∂KL/∂logvar = σ² − 1 instead of ½(σ² − 1) in "
           "the written-out backward pass", "vae/backprop.py",
           "g_logvar.addcmul_(kl_grad, w, value=0.5)", "g_logvar.addcmul_(kl_grad, w, value=1.0)"),
    Mutant("warmup_never_capped", "KL warm-up ramp step/T without the cap at 1",
           "vae/objectives.py",
           "ramp = min(1.0, step / self.warmup_steps)", "ramp = step / self.warmup_steps"),
    Mutant("free_bits_on_the_total", "free bits applied to the total KL instead of per unit",
           "vae/objectives.py",
           "return (b * above).unsqueeze(-2), b[:, 0] * kl_dims.clamp_min(self.free_bits)"
           ".sum(-1)",
           "return b.unsqueeze(-1), b[:, 0] * kl.clamp_min(self.free_bits)"),
    Mutant("capacity_sign", "capacity penalty pushing the KL away from C (sign flipped)",
           "vae/objectives.py",
           "sign = torch.sign(kl - c).view(-1, 1, 1)", "sign = torch.sign(c - kl).view(-1, 1, 1)"),
    Mutant("sweep_betas_reversed", "the β values assigned to the stacked models in reverse "
           "order", "vae/sweep.py",
           "group_betas = torch.tensor([betas[k] for k in group], device=dev)",
           "group_betas = torch.tensor([betas[k] for k in reversed(group)], device=dev)"),
    Mutant("bits_per_dim_log10", "bits/dim with log 10 instead of log 2", "vae/evaluation.py",
           "return nats / (dim * math.log(2))", "return nats / (dim * math.log(10))"),
    Mutant("binarize_by_threshold", "binarization by thresholding at ½ instead of a Bernoulli "
           "draw", "vae/data.py",
           "return torch.bernoulli(images, generator=generator)",
           "return (images > 0.5).to(images.dtype)"),
    Mutant("conv_decoder_relu_on_logits", "an activation after the conv decoder's last layer "
           "(ReLU on the logits)", "vae/models.py",
           "self.head = nn.Sequential(nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),",
           "self.head = nn.Sequential(nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1), "
           "nn.ReLU(),"),
    Mutant("no_binarization", "Bernoulli decoder trained on grey levels (binarize is a no-op)",
           "vae/data.py",
           "return torch.bernoulli(images, generator=generator)", "return images.clone()"),
    # -- diffusion ---------------------------------------------------------------------------
    Mutant("q_marginal_index_off_by_one", "q(x_t|x_0) built with ᾱ_{t−1} (a schedule index off "
           "by one)", "diffusion/process.py",
           "mean = x0 * _coef(schedule.alpha_bar, t, x0).sqrt()",
           "mean = x0 * _coef(schedule.alpha_bar, t - 1, x0).sqrt()"),
    Mutant("posterior_variance_one_step_late", "posterior variance β̃ taken one step off "
           "(t + 1)", "diffusion/process.py",
           "return mean, torch.full_like(mean, float(schedule.posterior_logvar[t]))",
           "return mean, torch.full_like(mean, float(schedule.posterior_logvar[min(t + 1, "
           "schedule.T)]))"),
    Mutant("cosine_schedule_without_offset", "cosine schedule with s dropped from the "
           "numerator", "diffusion/schedules.py",
           "log_f = 2 * torch.log(torch.cos((steps + s) / (1 + s) * math.pi / 2).clamp_min(0))",
           "log_f = 2 * torch.log(torch.cos(steps / (1 + s) * math.pi / 2).clamp_min(0))"),
    Mutant("linear_schedule_end_typo", "linear schedule ending at 2e-3 instead of 2e-2",
           "diffusion/schedules.py",
           "hi = 0.02 * scale if beta_end is None else beta_end",
           "hi = 0.002 * scale if beta_end is None else beta_end"),
    Mutant("ddpm_sampling_without_noise", "ancestral sampling that forgets the noise "
           "(x_{t−1} = μ_θ at every step)", "diffusion/ddpm.py",
           "x = mean + torch.exp(0.5 * logvar) * noise", "x = mean + 0 * noise"),
    # -- argument validation ------------------------------------------------------------------
    Mutant("positivity_check_lost", "a scale's positivity check that only rejects NaN (a "
           "negative standard deviation accepted, its log a silent NaN)", "checks.py",
           "    if not lo > 0:\n", "    if lo != lo:  # only NaN\n"),
    Mutant("discretized_bin_width", "8-bit bins of half-width 1/256 instead of 1/255 (off by "
           "one level)", "densities.py",
           "half = 1.0 / (bins - 1)", "half = 1.0 / bins"),
]


def apply(mutant: Mutant, root: Path) -> None:
    """Copy ``src/elbolab`` under ``root/src`` and apply ``mutant`` there (exactly one match)."""
    dst = root / "src" / "elbolab"
    shutil.copytree(SRC, dst, ignore=shutil.ignore_patterns("__pycache__"))
    path = dst / mutant.file
    text = path.read_text()
    if text.count(mutant.old) != 1:
        raise SystemExit(f"mutant {mutant.name}: its edit matches {text.count(mutant.old)} times "
                         f"in {mutant.file}; update the harness to the code")
    path.write_text(text.replace(mutant.old, mutant.new))


def run_lab(src_root: Path, out: Path, timeout: float) -> dict:
    """The quick lab on the package under ``src_root``: failed validations, or the error."""
    env = {**os.environ, "PYTHONPATH": str(src_root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "elbolab.presentation.cli", "lab", "--quick", "--out", str(out),
           "--no-progress"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=out.parent)
        code, tail = proc.returncode, (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired:
        code, tail = -1, f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() \
        else {}
    validations = metrics.get("validations", [])
    failed = [v["name"] for v in validations if not v["passed"]]
    # a chapter that stops with an exception stops only the chapters that need it
    chapter_errors = [f"chapter {c['id']}: {c['error']}" for c in metrics.get("chapters", [])
                      if c.get("error")]
    crashed = not validations or bool(chapter_errors)
    error = chapter_errors[0][:300] if chapter_errors else ""
    if crashed and not error:
        lines = [ln for ln in tail.splitlines() if "Error" in ln or "error" in ln]
        error = (lines[-1] if lines else tail.splitlines()[-1] if tail else "no output")[:300]
    return {"exit_code": code, "seconds": seconds, "failed": failed, "crashed": crashed,
            "error": error, "n_validations": len(validations),
            "kinds": {v["name"]: v.get("kind", "?") for v in validations}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="mutant names to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    ap.add_argument("--keep", help="keep the mutated copies and lab outputs in this folder")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per lab run")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    ap.add_argument("--baseline-only", action="store_true", help="only the unmutated run")
    ap.add_argument("--merge", action="store_true",
                    help="add these results to the existing .json (same names replaced) and "
                         "rewrite the table from all of them")
    ap.add_argument("--out", default=str(RESULTS / "mutation_cpu"),
                    help="results path without extension (.md and .json are written)")
    args = ap.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<38} {m.file:<24} {m.bug}")
        return 0
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.baseline_only:
        chosen = []
    unknown = set(args.only or ()) - {m.name for m in MUTANTS}
    if unknown:
        raise SystemExit(f"unknown mutants: {sorted(unknown)}")
    for m in chosen:  # every edit must still match before anything runs
        with tempfile.TemporaryDirectory() as tmp:
            apply(m, Path(tmp))
    work = Path(args.keep or tempfile.mkdtemp(prefix="elbolab-mutation-"))
    work.mkdir(parents=True, exist_ok=True)
    records = []
    baseline = None
    if not args.no_baseline:
        base_root = work / "baseline"
        shutil.rmtree(base_root, ignore_errors=True)
        base_root.mkdir()
        shutil.copytree(SRC, base_root / "src" / "elbolab",
                        ignore=shutil.ignore_patterns("__pycache__"))
        baseline = run_lab(base_root / "src", base_root / "out", args.timeout)
        print(f"baseline: {baseline['n_validations']} validations, "
              f"{len(baseline['failed'])} failed, {baseline['seconds']:.0f} s", flush=True)
    for i, m in enumerate(chosen, 1):
        root = work / m.name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        apply(m, root)
        r = run_lab(root / "src", root / "out", args.timeout)
        records.append({**asdict(m), **r})
        verdict = ("CRASH " + r["error"][:80] if r["crashed"] else
                   f"caught by {len(r['failed'])}" if r["failed"] else "NOT CAUGHT")
        print(f"[{i}/{len(chosen)}] {m.name:<38} {verdict} ({r['seconds']:.0f} s)", flush=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.merge and Path(args.out).with_suffix(".json").exists():
        old = json.loads(Path(args.out).with_suffix(".json").read_text())
        names = {r["name"] for r in records}
        order = {m.name: i for i, m in enumerate(MUTANTS)}  # mutants no longer listed drop out
        records = [r for r in old["mutants"] if r["name"] not in names and r["name"] in order
                   ] + records
        records.sort(key=lambda r: order.get(r["name"], len(order)))
        baseline = baseline or old.get("baseline")
    write_report(records, baseline, Path(args.out), argv or sys.argv[1:])
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    missed = [r["name"] for r in records if not r["failed"] and not r["crashed"]]
    return 1 if missed or (baseline and baseline["failed"]) else 0


def write_report(records: list[dict], baseline: dict | None, out: Path,
                 argv: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    kinds = (baseline or {}).get("kinds") or (records[0]["kinds"] if records else {})
    catches = {name: [] for name in kinds}
    for r in records:
        for name in r["failed"]:
            catches.setdefault(name, []).append(r["name"])
    caught = sum(bool(r["failed"]) for r in records)
    crashed = sum(r["crashed"] for r in records)
    checks = [n for n, k in kinds.items() if k != "demonstration"]
    idle_checks = [n for n in checks if not catches.get(n)]
    lines = [
        "# Mutation testing of the lab (quick mode, CPU)",
        "",
        "Reproduce: `ELBOLAB_DATA_DIR=../shared/data .venv/bin/python benchmarks/mutation.py` "
        f"(every mutant; this file was last written by `mutation.py {' '.join(argv)}`, data "
        f"{'MNIST' if os.environ.get('ELBOLAB_DATA_DIR') else 'the default folder'}).",
        "",
        f"- mutants: {len(records)}; caught by at least one validation: **{caught}**; "
        f"stopped the notebook with an exception: {crashed}; not caught: "
        f"**{len(records) - caught - crashed}**",
    ]
    if baseline:
        lines.append(f"- unmutated baseline: {baseline['n_validations']} validations, "
                     f"{len(baseline['failed'])} failed ({baseline['seconds']:.0f} s)")
    lines += [
        f"- validations that call themselves checks (identity, oracle, statistical): "
        f"{len(checks)}; catching at least one mutant: {len(checks) - len(idle_checks)}",
        "",
        "## Which validations catch each mutant",
        "",
        "| mutant | the bug | file | caught by |",
        "| --- | --- | --- | --- |",
    ]
    for r in records:
        if r["crashed"]:
            verdict = f"notebook stopped: `{r['error'][:120]}`"
        elif r["failed"]:
            shown = "; ".join(r["failed"][:4]) + (f"; … ({len(r['failed'])} in all)"
                                                   if len(r["failed"]) > 4 else "")
            verdict = f"**{len(r['failed'])}**: {shown}"
        else:
            verdict = "**not caught**"
        lines.append(f"| `{r['name']}` | {r['bug']} | {r['file']} | {verdict} |")
    lines += ["", "## Mutants caught by each validation", "",
              "| validation | kind | mutants caught |", "| --- | --- | ---: |"]
    for name, kind in kinds.items():
        lines.append(f"| {name} | {kind} | {len(catches.get(name, []))} |")
    if idle_checks:
        lines += ["", "Checks no mutant trips (each guards code no mutant above touches):", ""]
        lines += [f"- {n}" for n in idle_checks]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(
        {"baseline": baseline, "mutants": records}, indent=1))
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    raise SystemExit(main())
