# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 1 — Why $p(x)$ is intractable
#
# The handout's Part 1 (20 min): "experience firsthand why direct approaches fail
# spectacularly". After this chapter you will be able to
#
# - write $\log p(x)=\log\int p(x\mid z)p(z)\,dz$ for a linear-Gaussian model in closed form
#   and use it as the truth every estimator is held against;
# - run naive Monte Carlo from the prior (`IntractableLikelihoodDemo.sample_prior`,
#   `likelihood_given_z`, `approximate_marginal_likelihood`) and measure *how* it fails as the
#   latent dimension grows: its error, its effective sample size, and the error bar it reports;
# - say why the average must be taken in log space, and fix the estimator with importance
#   sampling, the IWAE-$k$ bound and the ELBO.

# %% [markdown]
# ### How the book works
#
# Each chapter is a notebook that runs on its own (`elbolab lab --chapter N`); a chapter that
# needs a trained model loads it from the run folder an earlier chapter wrote. Every number is
# computed by the `elbolab` library. Every claim that can be checked is held against an
# independent answer — a closed form, `torch.distributions`, `scipy.stats`, mpmath, quadrature,
# or a Monte Carlo estimate with a stated standard error — and logged with its kind: *identity*
# (exact, to float precision), *oracle* (an independent implementation), *statistical* (a
# z-score or a test, 4 standard errors unless stated) or *demonstration*. A demonstration only
# illustrates what the text says (that an estimator fails, that a warm-up delays the rate); a
# few claims rest on demonstrations alone, and their records say so. `elbolab lab` prints
# every check and fails if one does not hold; whether each check *can* fail is itself tested
# by planting bugs in the library (`benchmarks/mutation.py`).
#
# **Conventions.** Nats unless a name says bits; sums over event dimensions, means over the
# batch; variances travel as `logvar` $=\log\sigma^2$; every random call takes a `generator`.
#
# **Notation.** One symbol, one meaning, throughout the book:
#
# | symbol | meaning |
# | --- | --- |
# | $x$, $z$ | data (dimension $D$), latent (dimension $d$) |
# | $p(z)=\mathcal N(0,I)$, $p(x\mid z)$, $p(x)$ | prior, decoder (likelihood), marginal likelihood (evidence) |
# | $\sigma_x$ | the decoder's noise standard deviation, $p(x\mid z)=\mathcal N(f_\theta(z),\sigma_x^2 I)$ |
# | $q(z)$, $q(z\mid x)$ | a variational distribution for one $x$; an encoder's, amortized over $x$ |
# | $w = p(x,z)/q(z)$ | importance weight; $\mathrm{ESS}=(\sum w)^2/\sum w^2$, Kish's effective sample size |
# | SE | standard error of a Monte Carlo mean, $s/\sqrt n$; for $\log\frac1n\sum w$ the delta method, $\sqrt{(n/\mathrm{ESS}-1)/(n-1)}$ |
# | $\mathcal L_k$ | the IWAE bound with $k$ samples ($\mathcal L_1$ = ELBO); a bound, maximized |
# | $r=\log\sigma_1^2-\log\sigma_2^2$, $s$ | a log-variance ratio; a ratio of standard deviations (chapter 2) |
# | $\rho$ | a correlation (chapter 2) |
# | $\beta$ | the weight of the KL in the β-VAE (chapter 6) |
# | $J_\beta = \mathcal D + \beta R$ | the β-VAE's loss, minimized: distortion $\mathcal D=-\mathbb E_q\log p(x\mid z)$, rate $R=\mathrm{KL}(q(z\mid x)\,\|\,p(z))$ |
# | $\tau$, $S$ | AIS's inverse temperature and number of steps (chapter 5) |
# | $\beta_t$, $\alpha_t=1-\beta_t$, $\bar\alpha_t$, $T$ | the diffusion noise schedule and its number of steps (chapter 7) |
#
# Chapter 1 uses the ELBO and IWAE as estimators before chapter 3 derives them; there, $q(z)$
# is fitted for each $x$, and from chapter 4 on an encoder outputs $q(z\mid x)$ for every $x$.

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
import math

import numpy as np
import torch
from scipy import stats
from torch.distributions import MultivariateNormal, Normal

import elbolab
from elbolab import (
    IntractableLikelihoodDemo,
)
from elbolab.parts import intractable
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter

# %%
ch = Chapter("1", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device

# %% [markdown]
# <a id="part-1"></a>
#
#
# A latent-variable model defines the likelihood of data through an integral,
# $$p(x) = \int p(x\mid z)\,p(z)\,dz .$$
# For a neural decoder it has no closed form. The obvious estimator samples the prior,
# $$\log p(x) \approx \log \frac1n\sum_{i=1}^n p(x\mid z_i),\qquad z_i\sim p(z),$$
# and it "fails spectacularly" — but a claim about failure is only honest if it is measured
# against the right answer. A **linear-Gaussian** decoder gives one:
# $x = Wz + b + \sigma\varepsilon$ has $p(x) = \mathcal N(b,\ WW^\top + \sigma^2 I)$ and a Gaussian
# posterior $p(z\mid x) = \mathcal N\big(A^{-1}W^\top(x-b)/\sigma^2,\ A^{-1}\big)$ with
# $A = I + W^\top W/\sigma^2$. `IntractableLikelihoodDemo` computes both with a $d\times d$
# Cholesky factor (no inverse) and holds every estimator against them.
#
# ## The exact answer against `scipy.stats`

# %%
log.section('the exact answer', 'p1.integral')
demo = IntractableLikelihoodDemo(latent_dim=4, data_dim=12, decoder="linear", noise_std=0.8,
                                  seed=SEED)
x = demo.sample_data(32, gen)
exact = demo.exact_log_marginal(x)
W, b = demo.model.W, demo.model.b
cov = W @ W.T + demo.noise_std**2 * torch.eye(demo.data_dim, dtype=torch.float64)
scipy_ref = stats.multivariate_normal(b.numpy(), cov.numpy()).logpdf(x.numpy())
log.at_most("exact log p(x) vs scipy.stats.multivariate_normal (max abs error)", "intractable",
            np.abs(exact.numpy() - scipy_ref).max(), 1e-9,
            "float64: two factorizations of a 12x12 covariance agree to ~1e-13", kind="oracle",
            against="scipy.stats.multivariate_normal.logpdf", unit="nats")
post = demo.exact_posterior(x)
ref_post = MultivariateNormal(post.mean, scale_tril=post.scale_tril)
z_probe = post.sample(4, gen)
# Bayes' rule as an oracle: log p(z|x) = log p(x|z) + log p(z) − log p(x) at any z
bayes = (demo.likelihood_given_z(x, z_probe)
         + Normal(0.0, 1.0).log_prob(z_probe).sum(-1) - exact)
log.at_most("exact posterior density = Bayes' rule p(x|z)p(z)/p(x) (max abs error)",
            "intractable", (ref_post.log_prob(z_probe) - bayes).abs().max().item(), 1e-9,
            "float64 rounding of sums of O(10)-nat terms", kind="oracle",
            against="torch MultivariateNormal of the exact posterior", unit="nats")
print("log p(x) of the first four points:", ", ".join(f"{v:.4f}" for v in exact[:4].tolist()),
      "nats")

# %% [markdown]
# ## The handout's three methods, one line of the estimator each
#
# `IntractableLikelihoodDemo` has the handout's three methods, and they are the three steps of
# naive Monte Carlo: draw $z_i\sim p(z)=\mathcal N(0,I)$ (`sample_prior`), evaluate
# $\log p(x\mid z_i)=\log\mathcal N(x; f_\theta(z_i),\sigma^2 I)
# =-\tfrac12\big[D(\log 2\pi+\log\sigma^2)+\lVert x-f_\theta(z_i)\rVert^2/\sigma^2\big]$
# (`likelihood_given_z`, which returns the **log**-likelihood: see the next sections for why),
# and average in log space, $\log\frac1n\sum_i e^{a_i} = \operatorname{logsumexp}(a)-\log n$
# (`approximate_marginal_likelihood`). The library's code for each, as it runs:

# %%
ch.source(type(demo.model).sample_prior, type(demo.model).log_likelihood,
          intractable.naive_monte_carlo)

# %% [markdown]
# Called through the class, each is held against an independent answer: the prior draws
# against $\mathcal N(0, 1)$ (Kolmogorov–Smirnov, all coordinates pooled), and the estimator
# against the formula above written out with `torch.logsumexp` on the same draws.

# %%
log.section("the handout's three methods", 'p1.naive_mc')
n_naive = 4000
z_prior = demo.sample_prior(n_naive, torch.Generator().manual_seed(SEED + 1))
ks_prior = stats.kstest(z_prior.reshape(-1).numpy(), "norm")
log.at_least("IntractableLikelihoodDemo.sample_prior: draws ~ N(0, I) (Kolmogorov-Smirnov "
             "p-value, coordinates pooled)", "intractable", ks_prior.pvalue, 1e-3,
             "null: the draws are N(0, 1); 0.1% level", kind="statistical",
             against="the 0.1% level (Kolmogorov-Smirnov vs N(0, 1))", unit="p-value")
by_hand = (torch.logsumexp(demo.likelihood_given_z(x, z_prior), dim=0) - math.log(n_naive))
naive_demo = demo.approximate_marginal_likelihood(
    x, n_naive, generator=torch.Generator().manual_seed(SEED + 1), chunk_size=n_naive)
log.at_most("IntractableLikelihoodDemo.approximate_marginal_likelihood = logsumexp of "
            "likelihood_given_z over sample_prior draws, minus log n (max abs error)",
            "intractable", (naive_demo.estimate - by_hand).abs().max().item(), 1e-10,
            "float64 rounding of a 4000-term logsumexp of O(10)-nat terms", kind="identity",
            against="the estimator's formula, written out on the same draws", unit="nats")
print(f"d = 4: naive MC with {n_naive:,} prior draws misses the exact log p(x) by "
      f"{(naive_demo.estimate - exact).abs().mean():.3f} nats on average (reported SE "
      f"{naive_demo.stderr.mean():.3f})"
      + (" — at d = 4 it still works; the next section raises d."
         if ((naive_demo.estimate - exact) / naive_demo.stderr).abs().max() <= 4 else
         " — already outside its error bars at d = 4."))

# %% [markdown]
# ## Naive Monte Carlo against the exact answer, as the latent dimension grows
#
# For each latent dimension $d$ we build a linear-Gaussian model (weights scaled so that
# every latent dimension carries about the same information about $x$), draw data from it and
# estimate $\log p(x)$ by prior sampling with $n$ samples. Solid lines are the measured error;
# dotted lines are the standard error the estimator *reports* about itself — the delta
# method: $\widehat{\log p} = \log\bar w$ has SE $\approx \mathrm{sd}(w)/(\bar w\sqrt n) =
# \sqrt{(n/\mathrm{ESS}-1)/(n-1)}$, with ESS $=(\sum w)^2/\sum w^2$ the effective number of
# samples (Kish) that carry the weight (@fig:naive_mc_error_vs_samples).
# In high dimension the reported error is far too small: the few prior samples that land
# near the posterior dominate both the estimate and its error bar. How many prior samples a
# 1-nat answer needs grows like $e^{\mathrm{KL}}$ (@fig:naive_mc_samples_needed), because the
# effective sample size collapses with $d$ (@fig:naive_mc_ess_collapse).

# %%
log.section('naive Monte Carlo as d grows', 'p1.naive_mc')
sweep_dims = (1, 2, 4, 8, 16, 32) + (() if QUICK else (64,))
sweep_ns = (10, 100, 1_000, 10_000, 100_000) + (() if QUICK else (1_000_000,))
sweep = intractable.naive_mc_sweep(sweep_dims, sweep_ns, data_dim=64, n_data=8 if QUICK else 16,
                       seed=SEED, generator=gen)
row_32 = next(r for r in sweep if r["latent_dim"] == 32 and r["n_samples"] == 1_000)
print(f"d = 32, n = 10^3: mean |error| {row_32['mean_abs_error']:.2f} nats, reported SE "
      f"{row_32['reported_stderr']:.2f}, ESS {row_32['ess']:.1f} of 1000")
log.at_least("naive MC error at d=32 with 10^3 samples (nats; it fails)", "intractable",
             row_32["mean_abs_error"], 1.0, "the 1-nat accuracy of the next cell", kind="demonstration",
             against="the 1-nat accuracy asked for", unit="nats")
# where naive MC works it must be right within its own error bar: a wrong estimator fails here
low_d = [r for r in sweep if r["latent_dim"] <= 2 and r["n_samples"] >= 1_000]
log.z_within("naive MC where it works (d <= 2, n >= 10^3): within 4 reported SE of the exact "
             "log p(x) (max |z| over points)", "intractable", max(r["max_abs_z"] for r in low_d),
             against="exact log p(x) (closed form)")
# an honest error bar makes |error| / SE a half-normal variable, median 0.674
understated = row_32["median_abs_z"] / stats.halfnorm.median()
print(f"d = 32, n = 10^3: median |error| / reported SE = {row_32['median_abs_z']:.1f}, "
      f"{understated:.1f}x what an honest error bar gives")
log.at_least("naive MC's reported error is far too small at d = 32, n = 10^3 (median |error| / "
             "reported SE, over its honest value 0.674)", "intractable", understated, 3.0,
             kind="demonstration", against="an honest error bar (median 0.674)", unit="ratio")
err_by_d = [next(r["mean_abs_error"] for r in sweep if r["latent_dim"] == d
                 and r["n_samples"] == 1_000) for d in sweep_dims]
log.at_least("naive MC error grows with dimension (error at largest d / at d=1, n=10^3)",
             "intractable", err_by_d[-1] / err_by_d[0], 10.0, kind="demonstration",
             against="the error at d = 1", unit="ratio")
show(figures.intractable.plot_naive_mc_error(sweep), "naive_mc_error_vs_samples",
     f"Naive Monte Carlo's error at n = 1,000 grows from {err_by_d[0]:.2g} nats at d = 1 to "
     f"{err_by_d[-1]:.2g} nats at d = {sweep_dims[-1]}, and there the error bar it reports is "
     f"{understated:.1f}x too small.")

# %%
needed = intractable.samples_for_accuracy(sweep, tolerance=1.0)
kl_by_d = [next(r["kl_posterior_prior"] for r in sweep if r["latent_dim"] == d)
           for d in sweep_dims]
for d, k in zip(sweep_dims, kl_by_d, strict=True):
    n_needed = needed[d]
    needed_text = ("> " + format(max(sweep_ns), ",") if n_needed is None else
                   "≤ " + format(n_needed, ",") if n_needed == min(sweep_ns) else
                   format(n_needed, ","))
    print(f"d = {d:>2}: KL(posterior || prior) = {k:6.2f} nats, samples for 1-nat accuracy: "
          f"{needed_text}")
missed = [d for d in sweep_dims if needed[d] is None]
show(figures.intractable.plot_samples_for_accuracy(
    sweep_dims, [needed[d] for d in sweep_dims], kl_by_d, max(sweep_ns)), "naive_mc_samples_needed",
     "The prior samples naive Monte Carlo needs for 1-nat accuracy grow like "
     "exp KL(posterior ‖ prior), exponentially in d"
     + (f"; from d = {missed[0]} on, {max(sweep_ns):,} samples are not enough." if missed else "."))
ess_small = next(r["ess"] for r in sweep if r["latent_dim"] == 1 and r["n_samples"] == 10_000)
ess_large = next(r["ess"] for r in sweep if r["latent_dim"] == max(sweep_dims)
                 and r["n_samples"] == 10_000)
log.at_least("ESS collapses with dimension (ESS at d=1 / ESS at largest d, n=10^4)",
             "intractable", ess_small / ess_large, 100.0, kind="demonstration",
             against="the ESS at the largest d", unit="ratio")
# Chatterjee & Diaconis (2018): about e^KL samples are necessary and sufficient
decades = [abs(math.log10(needed[d]) - kl / math.log(10))
           for d, kl in zip(sweep_dims, kl_by_d, strict=True) if needed[d] is not None]
log.at_most("samples naive MC needs ~ e^KL(posterior||prior) (largest |log10 n - log10 e^KL|, "
            "dims where 1 nat was reached)", "intractable", max(decades), 1.5,
            "the sweep's n are a decade apart; the rule holds up to a factor e^t",
            kind="demonstration", against="Chatterjee & Diaconis (2018): n ~ e^KL", unit="decades")
show(figures.intractable.plot_ess_collapse(sweep, 10_000), "naive_mc_ess_collapse",
     f"Of 10,000 prior samples, {ess_small:,.0f} count at d = 1 but {ess_large:,.1f} at "
     f"d = {max(sweep_dims)}: a handful of samples carry the whole estimate.")

# %% [markdown]
# ## Averaging probabilities underflows
#
# Taken literally, the formula averages *probabilities*. With $D$ data dimensions
# $\log p(x\mid z)$ is of order $-D$: below about $-104$ every term is 0 in float32 (below
# $-745$ in float64), the average is 0 and the "estimate" is $-\infty$. In log space
# ($\log\frac1n\sum e^{a_i} = \operatorname{logsumexp}(a) - \log n$) nothing underflows
# (@fig:naive_mc_underflow).

# %%
log.section('averaging probabilities underflows', 'p1.log_space', 'x.stability')
under = intractable.underflow_table((1, 4, 16, 64, 256, 784), n_samples=1000, seed=SEED, generator=gen)
for r in under:
    print(f"D = {r['data_dim']:>3}: exact {r['exact']:10.2f}  log-space {r['log_space']:10.2f}  "
          f"float32 prob-space {r['prob_space_float32']:10.2f}  "
          f"float64 prob-space {r['prob_space_float64']:10.2f}")
log.at_least("probability-space average underflows to -inf in float32 at D=784 (1 = yes)",
             "intractable", float(under[-1]["prob_space_float32"] == -np.inf), 1.0,
             kind="demonstration", against="the float32 result (1 = -inf)", unit="(1 = yes)")
log.at_most("log-space estimate at D=784 is finite and near exact (|error|, nats)",
            "intractable", abs(under[-1]["log_space"] - under[-1]["exact"]), 1.0,
            kind="demonstration", against="exact log p(x) (closed form)", unit="nats")
show(figures.intractable.plot_underflow(under), "naive_mc_underflow",
     f"At D = {under[-1]['data_dim']}, averaging probabilities in float32 gives "
     f"{under[-1]['prob_space_float32']:.1f} (every term underflows); the log-space average gives "
     f"{under[-1]['log_space']:.1f} against the exact {under[-1]['exact']:.1f} nats.")

# %% [markdown]
# ## Better estimators: importance sampling, IWAE-k and the ELBO
#
# Sampling from a proposal $q$ close to the posterior and reweighting,
# $\log p(x) \approx \log\frac1n\sum_i p(x, z_i)/q(z_i)$, is how to cure that failure. At
# $d = 8$ below, naive Monte Carlo still works; the point there is what each proposal costs.
# The cure itself is shown at $d = 32$, where naive Monte Carlo fails, in the next section. With the exact
# posterior as $q$ every weight **equals** $p(x)$ — zero variance. A proposal that is too
# wide wastes samples; one that is too narrow has heavy-tailed weights. The IWAE bound
# $\mathcal L_k = \mathbb E\big[\log\frac1k\sum_{i\le k} w_i\big]$ [@burda2016]
# interpolates between the ELBO ($k = 1$) and $\log p(x)$ ($k\to\infty$); here its $q$ is the
# over-confident (half-width) posterior, like a typical VAE encoder (@fig:estimators_vs_exact).

# %%
log.section('importance sampling, IWAE-k and the ELBO', 'p1.importance')
demo = IntractableLikelihoodDemo(latent_dim=8, data_dim=32, decoder="linear", noise_std=1.0,
                                  seed=SEED)
x = demo.sample_data(16, gen)
exact = demo.exact_log_marginal(x)
n_evals = 10_000 if QUICK else 100_000
iwae_ks = (1, 10, 100, 1000) + (() if QUICK else (10_000,))
runs = demo.compare_estimators(x, n_evals, iwae_k=iwae_ks, generator=gen)
errors = [(r.result.estimate - exact).mean().item() for r in runs]
for r, e in zip(runs, errors, strict=True):
    print(f"{r.name:<28} error {e:+9.4f} ± {r.result.stderr.mean().item():.4f} nats "
          f"({r.evaluations:,} evaluations, {r.seconds:.2f} s)")
is_exact = next(r.result for r in runs if r.name == "IS, exact posterior")
log.at_most("IS with the exact posterior has zero variance (max reported SE)", "intractable",
            is_exact.stderr.max().item(), 1e-8,
            "every weight equals p(x): the spread is float64 rounding of ~40-nat sums",
            kind="identity", against="0: every weight equals p(x)", unit="nats")
log.at_most("IS with the exact posterior is exact (max |error|, nats)", "intractable",
            (is_exact.estimate - exact).abs().max().item(), 1e-8,
            "float64 rounding of ~40-nat sums", kind="identity",
            against="exact log p(x) (closed form)", unit="nats")
bounds = [r.result for r in runs if r.name.startswith(("ELBO", "IWAE"))]
chain = [(b.estimate.mean().item(), (b.stderr.pow(2).sum().sqrt() / len(b.stderr)).item())
         for b in bounds] + [(exact.mean().item(), 0.0)]
# independent runs: the SE of a step is the root sum of the two runs' squared SEs
step_z = min((hi - lo) / max(math.hypot(s_lo, s_hi), 1e-300)
             for (lo, s_lo), (hi, s_hi) in zip(chain, chain[1:], strict=False))
log.at_least("ELBO <= IWAE_k <= log p(x), increasing in k (smallest z-score of a step)",
             "intractable", step_z, -4.0, "a step may be 4 SE below zero by chance",
             kind="statistical", against="0: each step of the chain", unit="SE")
log.at_most("IWAE_k -> log p(x): gap at the largest k / gap of the ELBO", "intractable",
            (chain[-1][0] - chain[-2][0]) / (chain[-1][0] - chain[0][0]), 0.35,
            kind="demonstration", against="the ELBO's gap to the largest k's bound", unit="ratio")
show(figures.intractable.plot_estimator_comparison(
    [r.name for r in runs], errors, [r.result.stderr.mean().item() for r in runs],
    [r.seconds for r in runs]), "estimators_vs_exact",
     f"At d = 8 the bounds sit below the exact log p(x) and rise toward it with k: IWAE-"
     f"{iwae_ks[-1]:,} leaves {(chain[-1][0] - chain[-2][0]) / (chain[-1][0] - chain[0][0]):.0%} "
     "of the ELBO's gap, and importance sampling with the exact posterior is exact.")

# %% [markdown]
# The weights behind these estimators: Kish's effective sample size $(\sum w)^2/\sum w^2$,
# by the library and written out in numpy, on the heavy-tailed weights of the narrow proposal.

# %%
lw = intractable.log_importance_weights(demo.model, x, demo.exact_posterior(x).scaled(0.5), 4000,
                                        generator=gen)
w_np = np.exp(lw.numpy() - lw.numpy().max(0))
ess_np = w_np.sum(0) ** 2 / (w_np**2).sum(0)
log.at_most("effective sample size = (sum w)^2 / sum w^2 in numpy (max rel. error)",
            "intractable", np.abs(elbolab.effective_sample_size(lw).numpy() / ess_np - 1).max(),
            1e-12, "float64 rounding of 4000-term sums", kind="oracle",
            against="numpy: (sum w)^2 / sum w^2", unit="rel. error")

# %% [markdown]
# ## Where naive Monte Carlo fails, importance sampling fixes it: $d = 32$
#
# At $d = 8$ above, naive Monte Carlo still works (its error is within its error bar), so
# nothing there needed fixing. At $d = 32$ the posterior is $\approx 10$ nats of KL away from the
# prior: $10^4$ prior samples have an ESS of a handful, the estimate is off by nats, and its
# reported error bar misses the truth. Importance sampling with a proposal that knows nothing of
# the exact answer — a diagonal Gaussian $q$ fitted to each $x$ by maximizing the ELBO
# (`fit_gaussian_proposal`), widened ×1.2 because a reverse-KL fit is narrower than the
# posterior (chapter 2) — spends the same $10^4$ evaluations and lands within its error bar
# (@fig:estimators_d32_per_point).

# %%
log.section('naive MC fails, importance sampling fixes it (d = 32)', 'p1.naive_mc',
            'p1.importance')
demo = IntractableLikelihoodDemo(latent_dim=32, data_dim=64, decoder="linear", noise_std=1.0,
                                  seed=SEED)
x = demo.sample_data(16, gen)
exact = demo.exact_log_marginal(x)
fitted = intractable.fit_gaussian_proposal(demo.model, x, generator=gen).scaled(1.2)
runs = demo.compare_estimators(x, 10_000, proposals={"IS, fitted q x1.2": fitted},
                               iwae_proposal=fitted, iwae_k=(), generator=gen)
per_point = {r.name: ((r.result.estimate - exact).numpy(), r.result.stderr.numpy())
             for r in runs}
for r in runs:
    err, se = per_point[r.name]
    print(f"{r.name:<20} mean |error| {np.abs(err).mean():.3f} nats, mean reported SE "
          f"{se.mean():.3f}, max |error|/SE {np.abs(err / se).max():5.1f}, mean ESS "
          f"{r.result.ess.mean():,.0f} of 10,000")
naive_err, naive_se = per_point["naive prior MC"]
is_err, is_se = per_point["IS, fitted q x1.2"]
log.z_within("d = 32: importance sampling with an ELBO-fitted q (x1.2) = exact log p(x) "
             "(max |z| over 16 points)", "intractable", np.abs(is_err / is_se).max(),
             against="exact log p(x) (closed form)")
log.at_least("d = 32: naive MC misses the exact log p(x) by more than 4 of its own SE "
             "(max |z| over 16 points; it fails)", "intractable",
             np.abs(naive_err / naive_se).max(), 4.0, kind="demonstration",
             against="exact log p(x) (closed form)", unit="SE")
log.at_least("d = 32, same 10^4 evaluations: naive MC mean |error| / IS mean |error|",
             "intractable", np.abs(naive_err).mean() / np.abs(is_err).mean(), 10.0,
             kind="demonstration", against="importance sampling's mean |error|", unit="ratio")
show(figures.intractable.plot_per_point_errors(
    per_point, "d = 32, 10⁴ evaluations each: naive MC misses, importance sampling does not"),
    "estimators_d32_per_point",
     f"At d = 32, with the same 10⁴ evaluations, naive Monte Carlo misses log p(x) by "
     f"{np.abs(naive_err).mean():.2f} nats on average (up to {np.abs(naive_err / naive_se).max():.0f} "
     f"of its own SE); importance sampling with a fitted q by {np.abs(is_err).mean():.3f}, "
     "within its error bars.")

# %% [markdown]
# ## A neural decoder: no exact answer, a reference with an error bar
#
# With a tanh MLP decoder $p(x)$ has no closed form. The reference is importance sampling
# with a Gaussian proposal fitted to each posterior (by maximizing the ELBO) and widened
# ×3 (the posterior of a tanh decoder can have several modes), over many samples. Its own
# standard error and ESS cannot vouch for it — a proposal that misses a mode reports a small
# error bar too — so it is held against an answer that uses no sampling at all: with a
# 2-dimensional latent, $p(x)=\int p(x\mid z)p(z)\,dz$ is a 1201 × 1201 midpoint-rule sum
# over $[-8, 8]^2$ (`quadrature_log_marginal`; the prior mass outside the box is below
# $10^{-14}$). Naive Monte Carlo's 1,000 prior draws are then judged against that answer: the
# printout gives their largest error, in nats and in the standard errors they report.

# %%
log.section('a neural decoder against quadrature', 'p1.importance')
demo = IntractableLikelihoodDemo(latent_dim=2, data_dim=16, decoder="mlp", noise_std=0.5,
                                  seed=SEED)
x = demo.sample_data(8, gen)
n_ref = 200_000 if QUICK else 1_000_000
ref = demo.reference_log_marginal(x, n_ref, generator=gen)
naive = demo.approximate_marginal_likelihood(x, 1_000, generator=gen)
quad = intractable.quadrature_log_marginal(demo.model, x)
for i in range(4):
    print(f"x[{i}]: quadrature {quad[i]:.4f}; reference {ref.estimate[i]:.4f} ± "
          f"{ref.stderr[i]:.4f} (ESS {ref.ess[i]:,.0f} of {n_ref:,}); naive MC (10^3) "
          f"{naive.estimate[i]:.4f}")
log.z_within("MLP decoder: importance-sampled reference = quadrature (max |z| over x)",
             "intractable", ref.z_score(quad).abs().max().item(),
             against="midpoint-rule quadrature of the 2-D integral (1201 x 1201 grid)")
naive_z = ((naive.estimate - quad) / naive.stderr).abs().max().item()
print(f"naive MC (10^3 samples) against the quadrature: max |error| "
      f"{(naive.estimate - quad).abs().max():.3f} nats, {naive_z:.1f} of its own SE — "
      + ("within the 4 SE this book allows a statistical check, at d = 2 (compare d = 32 "
         "above)" if naive_z <= 4 else
         "more than the 4 SE this book allows, even at d = 2"))

# %% [markdown]
# ## Try it
#
# - In the first section, set `noise_std=0.2`: the posterior sharpens, KL(posterior ‖ prior)
#   grows, and naive Monte Carlo needs many more samples for the same accuracy (the rule
#   $n\approx e^{\mathrm{KL}}$ predicts how many).
# - In the importance-sampling section, widen the proposal with `.scaled(3.0)` instead of
#   `.scaled(0.5)`: the error shrinks and the ESS rises, but both stay worse than with the
#   exact posterior, which has zero variance.

# %%
ch.finish()
