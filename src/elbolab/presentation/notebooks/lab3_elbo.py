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
# # Lab 3 — The Evidence Lower Bound, executable
#
# Every result in this notebook is a number computed by the `elbolab` library, and every
# claim is held against an independent answer: a closed form, `torch.distributions`,
# `scipy.stats`, mpmath, quadrature, or a Monte Carlo estimate with a stated standard error.
# Each check is logged and written to `metrics.json`; `elbolab lab` prints them as a table and
# fails if one does not hold. Whether each check *can* fail is itself tested: the mutation
# harness (`benchmarks/mutation.py`) plants plausible bugs in the library and records which
# checks catch them.
#
# The data set this run used (MNIST, or the 8×8 digits when MNIST is absent and cannot be
# downloaded) is printed by the first code cell below.
#
# **Conventions.** Nats unless a name says bits; sums over event dimensions, means over the
# batch; variances travel as `logvar = log σ²`; every random call takes a `generator`.
# Every check is logged with its kind: *identity* (exact, to float precision), *oracle*
# (against an independent implementation), *statistical* (a z-score or a test, 4 standard
# errors unless stated) or *demonstration* (illustrates; never the only evidence).
#
# **Notation.** One symbol, one meaning:
#
# | symbol | meaning |
# | --- | --- |
# | $x$, $z$ | data (dimension $D$), latent (dimension $d$) |
# | $p(z)=\mathcal N(0,I)$, $p(x\mid z)$, $p(x)$ | prior, decoder (likelihood), marginal likelihood (evidence) |
# | $q(z)$, $q(z\mid x)$ | a variational distribution for one $x$; an encoder's, amortized over $x$ |
# | $w = p(x,z)/q(z)$ | importance weight; $\mathrm{ESS}=(\sum w)^2/\sum w^2$, Kish's effective sample size |
# | SE | standard error of a Monte Carlo mean, $s/\sqrt n$; for $\log\frac1n\sum w$ the delta method, $\sqrt{(n/\mathrm{ESS}-1)/(n-1)}$ |
# | $\mathcal L_k$ | the IWAE bound with $k$ samples ($\mathcal L_1$ = ELBO) |
# | $r=\log\sigma_1^2-\log\sigma_2^2$ | a log-variance ratio (Part 2's KL) |
# | $\beta$ | the weight of the KL in the β-VAE (Part 5) |
# | $\beta_t$, $\alpha_t=1-\beta_t$, $\bar\alpha_t=\prod_{s\le t}\alpha_s$ | the diffusion noise schedule (the last section only) |
# | $R$, $D$ | rate $=\mathrm{KL}(q(z\mid x)\,\|\,p(z))$, distortion $=-\mathbb E_q\log p(x\mid z)$ |
#
# Part 1 uses the ELBO and IWAE as estimators before Part 3 derives them (the derivation is
# in "From Jensen to the ELBO"); there, $q(z)$ is fitted for each $x$, and from Part 4 on an
# encoder outputs $q(z\mid x)$ for every $x$ at once.
#
# **Contents**
# - [Part 1 — Why p(x) is intractable](#part-1): naive Monte Carlo against the exact answer
# - [Part 2 — KL divergence](#part-2): the closed form, Monte Carlo with error bars,
#   asymmetry, mode covering vs mode seeking
# - [Part 3 — Jensen's inequality](#part-3), the ELBO derived, and its gap as a KL to the
#   posterior
# - [Part 4 — The ELBO](#part-4): the reparameterization trick, the bound's pieces, IWAE-k,
#   and a VAE trained on MNIST
# - [Part 5 — The two forces](#part-5): the β-VAE trade-off as a rate–distortion study, all β
#   trained at once; KL warm-up, free bits and capacity annealing
# - [From the ELBO to diffusion](#diffusion): the DDPM bound as a sum of the same Gaussian
#   KLs, against an exact likelihood, and a small trained diffusion model
# - [Connections](#connections), [what the lab verified](#verified) and
#   [the checklist](#checklist)

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
import copy
import dataclasses
import gzip
import html
import json
import math
import tempfile
import warnings
from pathlib import Path

import mpmath
import numpy as np
import torch
import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display
from scipy import stats
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import elbolab
from elbolab import (
    ELBOFramework,
    GaussianTestBed,
    IntractableLikelihoodDemo,
    JensenInequalityDemo,
    KLDivergenceBuilder,
    Objective,
    SweepConfig,
    TrainConfig,
    Trainer,
    TwoForcesAnalysis,
    cosine_schedule,
    discretized_gaussian_log_prob,
    gaussian_log_prob,
    linear_schedule,
    load_dataset,
    monte_carlo_mean,
    mvn_kl,
    reparameterize,
    train_ddpm,
    train_sweep,
    variational_bound,
)
from elbolab.diffusion import prior_term, q_posterior, ring_mixture
from elbolab.parts import asymmetry, gradient_variance, inference_gaps, intractable, stability
from elbolab.ais import ais_bounds, annealed_importance_sampling, sigmoid_schedule
from elbolab.parts.latent_models import GaussianProposal, LinearGaussianModel
from elbolab.parts.two_forces import encoder_forces
from elbolab.presentation import figures
from elbolab.presentation.checklist import appendix_html
from elbolab.presentation.figures.style import save_figure
from elbolab.presentation.validation import ValidationLog
from elbolab.vae.backprop import elbo_gradients
from elbolab.vae.data import DataError, binarize
from elbolab.vae.device import resolve_device
from elbolab.vae.evaluation import (
    bits_per_dim,
    iwae_per_example,
    per_example_elbo,
    reconstruct,
    sample_prior,
)
from elbolab.variational import fit_diagonal_gaussian, reverse_kl_loss

# %%
FIG_DIR = Path(OUT_DIR) / "figures"
FIG_DIR.mkdir(parents=True, exist_ok=True)
device = resolve_device(DEVICE)
log = ValidationLog()
gen = torch.Generator().manual_seed(SEED)


figure_count = [0]


def show(fig, name, caption):
    """Save a figure as figures/<name>.png, display it here once under its number with a
    one-line caption that states what it shows, and close it."""
    figure_count[0] += 1
    save_figure(fig, FIG_DIR / f"{name}.png")
    display(fig)
    display(HTML(f'<p class="elbolab-caption"><b>Figure {figure_count[0]}.</b> '
                 f"{html.escape(caption)}</p>"))
    plt.close(fig)


print(f"elbolab {elbolab.__version__}, torch {torch.__version__}, device {device}, "
      f"mode {'quick' if QUICK else 'full'}")
# the data of Parts 4 and 5, loaded once: MNIST, or the 8x8 digits when it is absent offline
with warnings.catch_warnings(record=True) as fell_back:
    warnings.simplefilter("always")
    train_data = load_dataset("mnist", "train", DATA_DIR)
    test_data = load_dataset("mnist", "test", DATA_DIR)
print(f"data: {train_data.name}, {len(train_data):,} training and {len(test_data):,} test images"
      + (" — MNIST was not in the data folder and could not be downloaded, so Parts 4 and 5 "
         "run on scikit-learn's 8x8 digits; the MNIST-only comparisons are skipped"
         if fell_back else ""))

# %% [markdown]
# <a id="part-1"></a>
#
# ## Part 1 — Why $p(x)$ is intractable, measured against the truth
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
# ### The exact answer against `scipy.stats`

# %%
log.section('Part 1: the exact answer', 'p1.integral')
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
print(f"log p(x) for the first points: {exact[:4].numpy().round(4)}")

# %% [markdown]
# ### Naive Monte Carlo against the exact answer, as the latent dimension grows
#
# For each latent dimension $d$ we build a linear-Gaussian model (weights scaled so that
# every latent dimension carries about the same information about $x$), draw data from it and
# estimate $\log p(x)$ by prior sampling with $n$ samples. Solid lines are the measured error;
# dotted lines are the standard error the estimator *reports* about itself — the delta
# method: $\widehat{\log p} = \log\bar w$ has SE $\approx \mathrm{sd}(w)/(\bar w\sqrt n) =
# \sqrt{(n/\mathrm{ESS}-1)/(n-1)}$, with ESS $=(\sum w)^2/\sum w^2$ the effective number of
# samples (Kish) that carry the weight.
# In high dimension the reported error is far too small: the few prior samples that land
# near the posterior dominate both the estimate and its error bar.

# %%
log.section('Part 1: naive Monte Carlo as d grows', 'p1.naive_mc')
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
     f"{understated:.0f}x too small.")

# %%
needed = intractable.samples_for_accuracy(sweep, tolerance=1.0)
kl_by_d = [next(r["kl_posterior_prior"] for r in sweep if r["latent_dim"] == d)
           for d in sweep_dims]
for d, k in zip(sweep_dims, kl_by_d, strict=True):
    n_needed = needed[d]
    print(f"d = {d:>2}: KL(posterior || prior) = {k:6.2f} nats, samples for 1-nat accuracy: "
          f"{'> ' + format(max(sweep_ns), ',') if n_needed is None else format(n_needed, ',')}")
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
# ### Averaging probabilities underflows
#
# Taken literally, the formula averages *probabilities*. With $D$ data dimensions
# $\log p(x\mid z)$ is of order $-D$: below about $-104$ every term is 0 in float32 (below
# $-745$ in float64), the average is 0 and the "estimate" is $-\infty$. In log space
# ($\log\frac1n\sum e^{a_i} = \operatorname{logsumexp}(a) - \log n$) nothing underflows.

# %%
log.section('Part 1: averaging probabilities underflows', 'p1.log_space', 'x.stability')
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
# ### Better estimators: importance sampling, IWAE-k and the ELBO
#
# Sampling from a proposal $q$ close to the posterior and reweighting,
# $\log p(x) \approx \log\frac1n\sum_i p(x, z_i)/q(z_i)$, is how to cure that failure. At
# $d = 8$ below, naive Monte Carlo still works; the point there is what each proposal costs.
# The cure itself is shown at $d = 32$, where naive Monte Carlo fails, in the next section. With the exact
# posterior as $q$ every weight **equals** $p(x)$ — zero variance. A proposal that is too
# wide wastes samples; one that is too narrow has heavy-tailed weights. The IWAE bound
# $\mathcal L_k = \mathbb E\big[\log\frac1k\sum_{i\le k} w_i\big]$ (Burda et al. 2015)
# interpolates between the ELBO ($k = 1$) and $\log p(x)$ ($k\to\infty$); here its $q$ is the
# over-confident (half-width) posterior, like a typical VAE encoder.

# %%
log.section('Part 1: importance sampling, IWAE-k and the ELBO', 'p1.importance')
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
# ### Where naive Monte Carlo fails, importance sampling fixes it: $d = 32$
#
# At $d = 8$ above, naive Monte Carlo still works (its error is within its error bar), so
# nothing there needed fixing. At $d = 32$ the posterior is $\approx 10$ nats of KL away from the
# prior: $10^4$ prior samples have an ESS of a handful, the estimate is off by nats, and its
# reported error bar misses the truth. Importance sampling with a proposal that knows nothing of
# the exact answer — a diagonal Gaussian $q$ fitted to each $x$ by maximizing the ELBO
# (`fit_gaussian_proposal`), widened ×1.2 because a reverse-KL fit is narrower than the
# posterior (Part 2) — spends the same $10^4$ evaluations and lands within its error bar.

# %%
log.section('Part 1: naive MC fails, importance sampling fixes it (d = 32)', 'p1.naive_mc',
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
# ### A neural decoder: no exact answer, a reference with an error bar
#
# With a tanh MLP decoder $p(x)$ has no closed form. The reference is importance sampling
# with a Gaussian proposal fitted to each posterior (by maximizing the ELBO) and widened
# ×3 (the posterior of a tanh decoder can have several modes), over many samples. Its own
# standard error and ESS cannot vouch for it — a proposal that misses a mode reports a small
# error bar too — so it is held against an answer that uses no sampling at all: with a
# 2-dimensional latent, $p(x)=\int p(x\mid z)p(z)\,dz$ is a 1201 × 1201 midpoint-rule sum
# over $[-8, 8]^2$ (`quadrature_log_marginal`; the prior mass outside the box is below
# $10^{-14}$). Naive Monte Carlo is then judged against that.

# %%
log.section('Part 1: a neural decoder against quadrature', 'p1.importance')
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
             against="numerical quadrature of the 1-D integral")
print(f"naive MC (10^3 samples) against the quadrature: max |error| "
      f"{(naive.estimate - quad).abs().max():.3f} nats")

# %% [markdown]
# <a id="part-2"></a>
#
# ## Part 2 — KL divergence
#
# For densities $p$ and $q$,
# $$\mathrm{KL}(p\,\|\,q) = \mathbb E_{x\sim p}\big[\log p(x) - \log q(x)\big] \;\ge 0,$$
# with equality iff $p = q$. For two Gaussians the expectation has a closed form,
# $$\mathrm{KL}\big(\mathcal N(\mu_1,\sigma_1^2)\,\|\,\mathcal N(\mu_2,\sigma_2^2)\big)
#   = \tfrac12\Big[\big(e^{r}-1-r\big) + \frac{(\mu_1-\mu_2)^2}{\sigma_2^2}\Big],
#   \qquad r = \log\sigma_1^2 - \log\sigma_2^2,$$
# written as the sum of two non-negative terms so that it never cancels into a negative
# number. In general we can only *estimate* it: draw $x_i\sim p$ and average the log-ratio.
# The average is unbiased and its standard error is the sample standard deviation over
# $\sqrt n$.
#
# ### The closed form against `torch.distributions`

# %%
log.section('Part 2: the closed form', 'p2.closed_form')
kl = KLDivergenceBuilder()
n_pairs = 10_000
mu1, mu2 = torch.randn(2, n_pairs, generator=gen, dtype=torch.float64) * 3
sigma1, sigma2 = torch.exp(torch.randn(2, n_pairs, generator=gen, dtype=torch.float64))
ours = kl.gaussian_kl_closed_form(mu1, sigma1, mu2, sigma2)
oracle = kl_divergence(Normal(mu1, sigma1), Normal(mu2, sigma2))
rel_err = ((ours - oracle).abs() / oracle.abs().clamp_min(1e-12)).max().item()
log.at_most("closed-form Gaussian KL vs torch.distributions (max rel. error, 10^4 pairs)",
            "kl", rel_err, 1e-10, "float64; torch's formula cancels to ~1e-12 relative at "
            "small KL", kind="oracle",
            against="torch.distributions kl_divergence", unit="rel. error")
log.at_least("closed-form KL is never negative (min over 10^4 pairs)", "kl",
             ours.min().item(), 0.0, "a sum of two non-negative terms", kind="identity",
             against="0 (Gibbs' inequality)", unit="nats")
print(f"max relative error vs torch.distributions: {rel_err:.2e}")

# %% [markdown]
# The case used most in practice — an encoder's $q(z\mid x)=\mathcal N(\mu,\operatorname{diag}
# \sigma^2)$ against the prior $\mathcal N(0, I)$ — is `standard_normal_kl`:
# $$\mathrm{KL}\big(q\,\|\,\mathcal N(0,I)\big) = \tfrac12\sum_{j=1}^d\big(\mu_j^2 + \sigma_j^2 - 1
#   - \log\sigma_j^2\big)$$
# (Kingma & Welling 2014, App. B), summed over the latent dimensions; checked on its own.

# %%
log.section('Part 2: standard_normal_kl', 'p2.standard_normal', 'p2.closed_form')
mu_e = torch.randn(500, 20, generator=gen, dtype=torch.float64) * 2
logvar_e = torch.randn(500, 20, generator=gen, dtype=torch.float64) * 3
ours_std = elbolab.standard_normal_kl(mu_e, logvar_e)
torch_std = kl_divergence(Normal(mu_e, torch.exp(0.5 * logvar_e)), Normal(0.0, 1.0)).sum(-1)
log.at_most("standard_normal_kl = sum of torch.distributions KLs to N(0, 1) (max rel. error)",
            "kl", ((ours_std - torch_std).abs() / torch_std).max().item(), 1e-10,
            "float64, 20 terms of O(10) nats; catches a mean over units or a missing 1/2",
            kind="oracle",
            against="torch.distributions kl_divergence to N(0, 1)", unit="rel. error")

# %% [markdown]
# ### Monte Carlo converges to the closed form at the rate $n^{-1/2}$
#
# $p = \mathcal N(\mu_p, \operatorname{diag}\sigma_p^2)$ and $q$ another diagonal Gaussian in
# 4 dimensions. For each sample count we draw from $p$ (reparameterized, with a seeded
# generator) and report the estimate with its standard error.

# %%
log.section('Part 2: Monte Carlo KL', 'p2.monte_carlo')
d = 4
mu_p, logvar_p = torch.tensor([0.0, 1.0, -0.5, 2.0]), torch.tensor([0.0, -0.5, 0.4, 0.2])
mu_q, logvar_q = torch.tensor([0.5, 0.0, 0.0, 1.0]), torch.tensor([0.3, 0.0, 0.0, 0.8])


def log_p(x):
    return gaussian_log_prob(x, mu_p, logvar_p).sum(-1)


def log_q(x):
    return gaussian_log_prob(x, mu_q, logvar_q).sum(-1)


exact_kl = elbolab.gaussian_kl(mu_p, logvar_p, mu_q, logvar_q).sum().item()
ns = [10, 30, 100, 300, 1_000, 3_000, 10_000] + ([] if QUICK else [30_000, 100_000, 300_000])
mc = [kl.monte_carlo_kl(reparameterize(mu_p, logvar_p, sample_shape=(n,), generator=gen),
                        log_p, log_q) for n in ns]
est = [r.estimate.item() for r in mc]
se = [r.stderr.item() for r in mc]
z_scores = [abs(r.z_score(exact_kl).item()) for r in mc]
for n, e, s, z in zip(ns, est, se, z_scores, strict=True):
    print(f"n = {n:>7,}:  KL ≈ {e:.4f} ± {s:.4f}   (|z| = {z:.2f})")
print(f"closed form: {exact_kl:.4f} nats")
log.z_within("MC KL within 4 standard errors of the closed form (max |z| over n)", "kl",
             max(z_scores), against="closed-form Gaussian KL")

# %% [markdown]
# Is the reported standard error honest? Repeat the estimate many times and compare the spread
# of the estimates with the error bar each one reports: their ratio must be 1 up to the
# sampling error of a standard deviation, $1/\sqrt{2(R-1)}$ for $R$ replicates.

# %%
n_rep_kl, reps = 100, 400
x_rep = reparameterize(mu_p, logvar_p, sample_shape=(n_rep_kl, reps), generator=gen)
rep_kl = kl.monte_carlo_kl(x_rep, log_p, log_q)
spread_ratio = (rep_kl.estimate.std() / rep_kl.stderr.mean()).item()
ratio_se = 1 / math.sqrt(2 * (reps - 1))
print(f"{reps} replicates of n = {n_rep_kl}: spread of the estimates / mean reported SE = "
      f"{spread_ratio:.3f} (1 ± {ratio_se:.3f})")
log.z_within("MC KL: spread of replicate estimates / reported SE = 1 (z-score)", "kl",
             (spread_ratio - 1) / ratio_se,
             detail="SE of a sample std of R replicates: 1/sqrt(2(R-1))",
             against="1: the spread of replicates")
show(figures.kl.plot_kl_monte_carlo(ns, est, se, exact_kl), "kl_monte_carlo_convergence",
     f"The Monte Carlo KL converges to the closed form, {exact_kl:.3f} nats, at the rate 1/√n; "
     f"every estimate is within {max(z_scores):.1f} standard errors of it.")

# %% [markdown]
# ### Full covariances
#
# For $k$-dimensional Gaussians,
# $$\mathrm{KL}\big(\mathcal N(\mu_1,\Sigma_1)\,\|\,\mathcal N(\mu_2,\Sigma_2)\big) = \tfrac12\Big[
#   \operatorname{tr}(\Sigma_2^{-1}\Sigma_1) + (\mu_2-\mu_1)^\top\Sigma_2^{-1}(\mu_2-\mu_1) - k
#   + \log\frac{\det\Sigma_2}{\det\Sigma_1}\Big].$$
# With Cholesky factors $\Sigma = LL^\top$ it needs only triangular solves:
# trace $\lVert L_2^{-1}L_1\rVert_F^2$, Mahalanobis $\lVert L_2^{-1}(\mu_2-\mu_1)\rVert^2$ and the
# log-determinants from the diagonals ($\log\det\Sigma = 2\sum_i\log L_{ii}$). We check it
# against `torch.distributions` and against Monte Carlo.

# %%
log.section('Part 2: full covariances', 'p2.closed_form', 'p2.monte_carlo')
A = torch.randn(200, 5, 5, generator=gen, dtype=torch.float64)
B = torch.randn(200, 5, 5, generator=gen, dtype=torch.float64)
L1 = torch.linalg.cholesky(A @ A.mT + 0.5 * torch.eye(5, dtype=torch.float64))
L2 = torch.linalg.cholesky(B @ B.mT + 0.5 * torch.eye(5, dtype=torch.float64))
m1, m2 = torch.randn(2, 200, 5, generator=gen, dtype=torch.float64)
ours = mvn_kl(m1, L1, m2, L2)
oracle = kl_divergence(MultivariateNormal(m1, scale_tril=L1), MultivariateNormal(m2, scale_tril=L2))
rel = ((ours - oracle).abs() / oracle).max().item()
log.at_most("full-covariance KL vs torch.distributions (max rel. error, 200 pairs)", "kl",
            rel, 1e-10, "float64, 5x5 triangular solves", kind="oracle",
            against="torch.distributions MultivariateNormal KL", unit="rel. error")
p0 = MultivariateNormal(m1[0], scale_tril=L1[0])
q0 = MultivariateNormal(m2[0], scale_tril=L2[0])
n_mc = 20_000 if QUICK else 200_000
x = m1[0] + torch.randn(n_mc, 5, generator=gen, dtype=torch.float64) @ L1[0].T
r = kl.monte_carlo_kl(x, p0.log_prob, q0.log_prob)
print(f"full covariance: closed form {ours[0]:.4f}, MC {r.estimate:.4f} ± {r.stderr:.4f}")
log.z_within("full-covariance MC KL within 4 SE of the closed form", "kl",
             r.z_score(ours[0]).item(), against="closed-form full-covariance KL")

# %% [markdown]
# ### KL is not symmetric
#
# $\mathrm{KL}(p\|q)$ weighs the log-ratio by $p$; $\mathrm{KL}(q\|p)$ by $q$. A wide $q$ around
# a narrow $p$ pays little in one direction and a lot in the other.

# %%
log.section('Part 2: KL is not symmetric', 'p2.asymmetry')
p_mu, p_sigma, q_mu, q_sigma = 0.0, 0.6, 1.0, 2.0
kl_pq = kl.gaussian_kl_closed_form(*map(torch.tensor, (p_mu, p_sigma, q_mu, q_sigma))).item()
kl_qp = kl.gaussian_kl_closed_form(*map(torch.tensor, (q_mu, q_sigma, p_mu, p_sigma))).item()
grid = np.linspace(-6, 7, 600)
show(figures.kl.plot_kl_asymmetry_pair(grid, stats.norm.pdf(grid, p_mu, p_sigma),
                            stats.norm.pdf(grid, q_mu, q_sigma), kl_pq, kl_qp,
                            labels=(f"p = N({p_mu}, {p_sigma}²)", f"q = N({q_mu}, {q_sigma}²)")),
     "kl_asymmetry_pair",
     f"The same two Gaussians, two answers: KL(p‖q) = {kl_pq:.2f} nats, KL(q‖p) = {kl_qp:.2f} "
     "nats; the KL is not a distance.")
print(f"KL(p||q) = {kl_pq:.4f}, KL(q||p) = {kl_qp:.4f} nats")
log.at_least("KL(p||q) and KL(q||p) differ (|difference|, nats)", "kl", abs(kl_pq - kl_qp), 0.5,
             kind="demonstration", against="0: a symmetric divergence", unit="nats")
both_ways = [kl_divergence(Normal(*map(torch.tensor, a)), Normal(*map(torch.tensor, b))).item()
             for a, b in (((p_mu, p_sigma), (q_mu, q_sigma)), ((q_mu, q_sigma), (p_mu, p_sigma)))]
log.at_most("both directions vs torch.distributions (max abs error)", "kl",
            max(abs(kl_pq - both_ways[0]), abs(kl_qp - both_ways[1])), 1e-6,
            "float32 scalars: ~10 ulp of a 1-nat value", kind="oracle",
            against="torch.distributions kl_divergence", unit="nats")

# %% [markdown]
# ### Fitting one Gaussian to two modes: mode covering vs mode seeking
#
# Let $p$ be a mixture of two well-separated Gaussians and fit a single Gaussian $q$ by
# gradient descent on Monte Carlo estimates of either direction of the KL.
#
# * **Forward**, $\min_q \mathrm{KL}(p\|q) = \min_q -\mathbb E_p[\log q] + \text{const}$:
#   $q$ must put mass wherever $p$ has it, so it stretches across both modes. Its optimum is
#   known in closed form — *moment matching*, $q = \mathcal N(\mathbb E_p[x], \operatorname{Var}_p[x])$ — which
#   checks the optimizer.
# * **Reverse**, $\min_q \mathrm{KL}(q\|p) = \min_q \mathbb E_q[\log q - \log p]$ (the direction of
#   the ELBO, with reparameterized samples): $q$ is punished for mass where $p$ has none, so it
#   settles on one mode — which one depends on where it starts (`init_mean`): the reverse KL
#   has a local optimum at each mode. On one of two equal, well-separated modes,
#   $\mathrm{KL}(q\|p)\approx\log 2$: $q$ matches that mode's shape, and $p$ puts only half its
#   mass there. That is the printed comparison with $\log 2$.

# %%
log.section('Part 2: mode covering vs mode seeking', 'p2.asymmetry')
target = asymmetry.bimodal_1d()
fit_steps = 600 if QUICK else 1500
fwd = asymmetry.fit_gaussian(target, "forward", steps=fit_steps, generator=gen)
rev = asymmetry.fit_gaussian(target, "reverse", steps=fit_steps, init_mean=torch.tensor([1.0]),
                             generator=gen)
mm_mean, mm_std = target.mean(), target.covariance().diagonal().sqrt()
print(f"moment matching: mean {mm_mean.item():.3f}, std {mm_std.item():.3f}")
print(f"forward-KL fit:  mean {fwd.mean.item():.3f}, std {fwd.std.item():.3f}")
print(f"reverse-KL fit:  mean {rev.mean.item():.3f}, std {rev.std.item():.3f}")
log.at_most("forward-KL fit = moment matching: |mean error| (1-D)", "kl",
            abs(fwd.mean - mm_mean).item(), 0.1,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the target's mean (moment matching)", unit="abs. error")
log.at_most("forward-KL fit = moment matching: |std error| / std (1-D)", "kl",
            (abs(fwd.std - mm_std) / mm_std).item(), 0.03,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the target's std (moment matching)", unit="rel. error")
nearest = target.means[:, 0].sub(rev.mean).abs().argmin()
log.at_most("reverse-KL fit sits on one mode: |mean - mode| (1-D)", "kl",
            abs(rev.mean - target.means[nearest, 0]).item(), 0.15,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the nearest mode's mean", unit="abs. error")
log.at_most("reverse-KL fit has that mode's width: |std / mode std - 1| (1-D)", "kl",
            abs(rev.std / target.stds[nearest, 0] - 1).item(), 0.1,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the nearest mode's std", unit="rel. error")
n_kl = 50_000 if QUICK else 200_000
f_pq, f_qp = asymmetry.kl_both_ways(target, fwd, n_kl, gen)
r_pq, r_qp = asymmetry.kl_both_ways(target, rev, n_kl, gen)
print(f"forward fit: KL(p||q) = {f_pq.estimate:.3f} ± {f_pq.stderr:.3f}, "
      f"KL(q||p) = {f_qp.estimate:.3f} ± {f_qp.stderr:.3f}")
print(f"reverse fit: KL(p||q) = {r_pq.estimate:.3f} ± {r_pq.stderr:.3f}, "
      f"KL(q||p) = {r_qp.estimate:.3f} ± {r_qp.stderr:.3f}  (log 2 = {np.log(2):.3f})")
win_z = min(((r_pq.estimate - f_pq.estimate) / math.hypot(r_pq.stderr, f_pq.stderr)).item(),
            ((f_qp.estimate - r_qp.estimate) / math.hypot(f_qp.stderr, r_qp.stderr)).item())
log.at_least("each fit wins its own direction (smaller z-score of the two KL differences)", "kl",
             win_z, 4.0, "independent estimates: SE of a difference = root sum of squares",
             kind="statistical", against="0: each fit's own KL vs the other fit's", unit="SE")

# %%
grid = np.linspace(-5, 6, 800)
grid_t = torch.tensor(grid)[:, None]
show(figures.kl.plot_mode_fits_1d(grid, target.log_prob(grid_t).exp().numpy(), [
    (f"forward KL(p‖q): N({fwd.mean.item():.2f}, {fwd.std.item():.2f}²)",
     fwd.log_prob(grid_t).exp().numpy()),
    (f"reverse KL(q‖p): N({rev.mean.item():.2f}, {rev.std.item():.2f}²)",
     rev.log_prob(grid_t).exp().numpy())]), "kl_mode_fits_1d",
     f"Fitted to a bimodal p, the forward KL spreads one Gaussian over both modes (σ = "
     f"{fwd.std.item():.2f}); the reverse KL settles on one mode (σ = {rev.std.item():.2f}).")

# %%
target = asymmetry.bimodal_2d()
fwd = asymmetry.fit_gaussian(target, "forward", steps=fit_steps, generator=gen)
rev = asymmetry.fit_gaussian(target, "reverse", steps=fit_steps,
                             init_mean=torch.tensor([0.5, 0.0]), generator=gen)
mm_std = target.covariance().diagonal().sqrt()
log.at_most("forward-KL fit = moment matching (2-D, max |mean error|)", "kl",
            (fwd.mean - target.mean()).abs().max().item(), 0.1,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the target's mean (moment matching)", unit="abs. error")
log.at_most("forward-KL fit = moment matching (2-D, max |std error| / std)", "kl",
            ((fwd.std - mm_std).abs() / mm_std).max().item(), 0.03,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the target's std (moment matching)", unit="rel. error")
log.at_most("reverse-KL fit sits on one mode (2-D, distance to nearest mode)", "kl",
            (target.means - rev.mean).norm(dim=1).min().item(), 0.15,
            "the stochastic optimizer's noise at its final step size, not a standard error",
            kind="oracle", against="the nearest mode's mean", unit="distance")
g1, g2 = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-4, 4.5, 170))
density = target.log_prob(torch.tensor(np.stack([g1, g2], -1))).exp().numpy()
show(figures.kl.plot_mode_fits_2d(g1, g2, density, [
    ("forward KL (moment matching)", fwd.mean.numpy(), fwd.std.numpy()),
    ("reverse KL (one mode)", rev.mean.numpy(), rev.std.numpy())]), "kl_mode_fits_2d",
     "In 2-D the same: the forward-KL fit matches the mixture's mean and covariance, the "
     f"reverse-KL fit sits {(target.means - rev.mean).norm(dim=1).min().item():.2f} from one mode.")

# %% [markdown]
# ### What the reverse KL does to a VAE's posterior
#
# An encoder with a diagonal Gaussian $q$ is fitted by the reverse KL (the ELBO). Against a
# correlated Gaussian posterior $p=\mathcal N(0,\Sigma)$, unit variances and correlation
# $\rho$, the reverse-KL optimum is known: $q$'s variances are $1/(\Sigma^{-1})_{ii} = 1-\rho^2$,
# the *conditional* variances, not the marginal ones (1) that the forward KL would match. The
# fitted $q$ is over-confident by the factor $1/(1-\rho^2)$ — the practical face of the
# asymmetry, and the reason Part 1 used an over-confident proposal "like a typical VAE
# encoder".

# %%
log.section("Part 2: the reverse KL and a VAE's posterior", 'p2.asymmetry', 'x.theory_practice')
rho_c = 0.9
corr = MultivariateNormal(torch.zeros(2, dtype=torch.float64),
                          torch.tensor([[1.0, rho_c], [rho_c, 1.0]], dtype=torch.float64))
diag_fit = fit_diagonal_gaussian(
    reverse_kl_loss(corr.log_prob, 512, generator=gen),
    torch.tensor([0.3, -0.2], dtype=torch.float64), torch.zeros(2, dtype=torch.float64),
    steps=1000, lr=0.05, final_lr=0.001)
print(f"reverse-KL diagonal fit: variances {diag_fit.std.pow(2).numpy().round(4)}, exact "
      f"optimum 1 − ρ² = {1 - rho_c**2:.4f}; marginal variance 1: over-confident by "
      f"{1 / diag_fit.std.pow(2).mean().item():.1f}x")
log.at_most("reverse-KL diagonal fit to a correlated Gaussian: variances = 1 - rho^2 (max rel. "
            "error)", "kl", (diag_fit.std.pow(2) / (1 - rho_c**2) - 1).abs().max().item(), 0.05,
            "the stochastic optimizer's noise at its final step size", kind="oracle",
            against="1 - rho^2, the exact reverse-KL fit", unit="rel. error")

# %% [markdown]
# ### KL(p‖q) ≠ KL(q‖p) for every pair of Gaussians but the equal-width ones
#
# For $p = \mathcal N(0, 1)$ and $q = \mathcal N(\Delta\mu, \rho^2)$ ($\rho$ a ratio of standard
# deviations), both directions in closed form over a grid. When $\rho = 1$ they agree (the KL
# is then $\Delta\mu^2/2$ both ways); a narrower $q$ ($\rho<1$) makes $\mathrm{KL}(p\|q)$ much
# larger than $\mathrm{KL}(q\|p)$.

# %%
log.section('Part 2: asymmetry for every pair of Gaussians', 'p2.asymmetry')
dmu_grid = np.linspace(-3, 3, 121)
ratio_grid = np.geomspace(0.2, 5, 101)
kl_fwd, kl_rev = asymmetry.asymmetry_grid(dmu_grid, ratio_grid)
eq_fwd, eq_rev = asymmetry.asymmetry_grid(dmu_grid, np.array([1.0]))
log.at_most("equal widths: KL(p||q) = KL(q||p) = dmu^2/2 (max abs error)", "kl",
            max(np.abs(eq_fwd - eq_rev).max(), np.abs(eq_fwd - dmu_grid**2 / 2).max()), 1e-12,
            "float64 rounding of values up to 4.5", kind="identity",
            against="dmu^2/2 (closed form)", unit="nats")
narrow = ratio_grid < 0.5
log.at_least("narrow q: KL(p||q) / KL(q||p) (smallest over the grid)", "kl",
             (kl_fwd[narrow] / kl_rev[narrow]).min(), 2.0, kind="demonstration",
             against="the reverse direction KL(q||p)", unit="ratio")
show(figures.kl.plot_kl_asymmetry_heatmap(dmu_grid, ratio_grid, kl_fwd, kl_rev), "kl_asymmetry_heatmap",
     "Against p = N(0, 1), the two directions agree only where q is as wide as p; a q narrower "
     f"than half of p pays at least {(kl_fwd[narrow] / kl_rev[narrow]).min():.1f}x more in the "
     "forward direction.")

# %% [markdown]
# <a id="part-3"></a>
#
# ## Part 3 — Jensen's inequality and the evidence lower bound
#
# ### The picture
#
# For a concave function like $\log$, the curve lies above every chord. For a random
# $X > 0$ the point $(\mathbb E[X], \mathbb E[\log X])$ is an average of points on the curve, so
# it lies *below* the curve at $\mathbb E[X]$:
# $$\mathbb E[\log X] \;\le\; \log \mathbb E[X],$$
# with equality only when $X$ is constant. Below, four distributions of $X$ whose two sides
# are known exactly; the shaded bar is the gap.

# %%
log.section("Part 3: Jensen's inequality", 'p3.jensen')
jensen = JensenInequalityDemo(seed=SEED)
n_draws = 50_000 if QUICK else 400_000
panels, worst_z, worst_gap_err = [], 0.0, 0.0
for var in jensen.default_variables():
    r = jensen.measure(var, n_draws, gen)
    samples = var.sample(4000, gen).numpy()
    panels.append({"name": var.name, "x": samples, "e_x": float(np.exp(r.exact_log_e)),
                   "e_log": r.exact_e_log, "log_e": r.exact_log_e})
    worst_z = max(worst_z, abs(r.e_log.z_score(r.exact_e_log).item()))
    worst_gap_err = max(worst_gap_err, abs(r.gap - r.exact_gap))
    print(f"{var.name:<26} E[log X] = {r.e_log.estimate:.4f} ± {r.e_log.stderr:.4f} "
          f"(exact {r.exact_e_log:.4f});  log E[X] = {r.log_e:.4f} (exact {r.exact_log_e:.4f});"
          f"  gap {r.gap:.4f} (exact {r.exact_gap:.4f})")
log.z_within("Monte Carlo E[log X] within 4 SE of the exact value (max |z| over 4 laws)",
             "jensen", worst_z, against="exact E[log X] of each law")
log.at_most("measured Jensen gap vs exact (max abs error over 4 laws, nats)", "jensen",
            worst_gap_err, 0.03, "about 4 SE of log-mean-exp at these n", kind="demonstration",
            against="exact log E[X] - E[log X]", unit="nats")
gaps_text = ", ".join(f"{p['log_e'] - p['e_log']:.3f}" for p in panels)
show(figures.jensen.plot_jensen_chords(panels), "jensen_chords",
     f"For four laws of X, E[log X] lies below log E[X] by {gaps_text} nats; the Monte Carlo "
     f"gaps match the exact ones to {worst_gap_err:.3f}.")

# %% [markdown]
# ### The gap grows with the spread of $X$
#
# For $X = e^{Y}$, $Y\sim\mathcal N(0,\sigma^2)$: $\mathbb E[\log X] = 0$ and
# $\log\mathbb E[X] = \sigma^2/2$, so the gap is exactly $\sigma^2/2$. A tighter $X$ means a
# tighter bound — the reason a good $q$ makes a tight ELBO.

# %%
log.section('Part 3: the Jensen gap and the spread of X', 'p3.jensen')
sigmas = [0.1, 0.25, 0.5, 0.75, 1.0, 1.25]
spread = jensen.gap_vs_spread(sigmas, n_draws, gen)
rel = max(abs(r.gap - r.exact_gap) / r.exact_gap for r in spread[:4])
log.at_most("log-normal Jensen gap = sigma^2/2 (max rel. error, sigma <= 0.75)", "jensen",
            rel, 0.05, kind="demonstration", against="sigma^2/2 (closed form)", unit="rel. error")
show(figures.jensen.plot_jensen_gap_vs_spread(sigmas, [r.gap for r in spread],
                               [r.exact_gap for r in spread]), "jensen_gap_vs_spread",
     f"The Jensen gap of a log-normal X is σ²/2: measured within {rel:.1%} of it for σ ≤ 0.75, "
     "it grows with the spread of X.")

# %% [markdown]
# ### From Jensen to the ELBO, step by step
#
# Take any distribution $q(z)$ with $q(z) > 0$ wherever $p(x, z) > 0$. Then
# $$
# \begin{aligned}
# \log p(x) &= \log \int p(x, z)\,dz
#   && \text{(marginalize the latent)}\\
# &= \log \int q(z)\,\frac{p(x, z)}{q(z)}\,dz
#   && \text{(multiply and divide by } q)\\
# &= \log \mathbb E_{q}\!\left[\frac{p(x, z)}{q(z)}\right]
#   && \text{(an expectation under } q)\\
# &\ge \mathbb E_{q}\!\left[\log \frac{p(x, z)}{q(z)}\right]
#   && \text{(Jensen: } \log \text{ is concave)}\\
# &= \mathbb E_{q}[\log p(x\mid z)] - \mathrm{KL}\big(q(z)\,\|\,p(z)\big)
#   && \text{(} p(x,z) = p(x\mid z)p(z)\text{)}\\
# &=: \mathrm{ELBO}(q).
# \end{aligned}
# $$
# How much is lost? Write $p(x, z) = p(z\mid x)\,p(x)$ inside the ELBO:
# $$\mathrm{ELBO}(q) = \mathbb E_q\!\left[\log p(x) + \log\frac{p(z\mid x)}{q(z)}\right]
#   = \log p(x) - \mathrm{KL}\big(q(z)\,\|\,p(z\mid x)\big).$$
# So **the Jensen gap is exactly the KL from $q$ to the true posterior**, zero if and only if
# $q = p(z\mid x)$ — the random variable $p(x,z)/q(z)$ is then the constant $p(x)$, the one case
# where Jensen is an equality. Maximizing the ELBO over $q$ is posterior inference.
#
# ### The identity, checked exactly
#
# In the linear-Gaussian model both sides have closed forms computed by different routes:
# the left from $\log p(x)$ and $\mathbb E_q\log p(x\mid z)$ and the KL to the *prior*; the right
# from the exact *posterior*. We compare them for many random full-covariance $q$.

# %%
log.section('Part 3: the ELBO gap = KL to the posterior', 'p3.elbo', 'p3.gap')
demo = IntractableLikelihoodDemo(latent_dim=3, data_dim=10, decoder="linear", noise_std=0.7,
                                  seed=SEED)
x = demo.sample_data(8, gen)
qs = jensen.random_gaussians(demo, x, 60, gen)
gaps, kls = jensen.elbo_gap_identity(demo, x, qs)
rel_id = ((gaps - kls).abs() / kls.abs().clamp_min(1e-300)).max().item()
log.at_most("ELBO gap equals KL to posterior (max rel. error, 60 q x 8 x)", "jensen",
            rel_id, 1e-10, "float64: two routes through 3x3 Cholesky factors of O(10)-nat "
            "terms; the identity holds to ~1e-14", kind="identity",
            against="KL(q || p(z|x)) from the exact posterior", unit="rel. error")
log.at_least("ELBO <= log p(x) for every q (smallest gap, nats)", "jensen",
             gaps.min().item(), 0.0, "Jensen: exact", kind="identity",
             against="exact log p(x) (closed form)", unit="nats")
factors = [0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0]
by_scale = jensen.gap_vs_scale(demo, x, factors)
log.at_most("zero gap when q is the true posterior (max |gap|, nats)", "jensen",
            by_scale[factors.index(1.0)].abs().max().item(), 1e-9,
            "float64 rounding of O(10)-nat sums", kind="identity",
            against="0: q is the posterior", unit="nats")
print(f"max relative difference between the two sides: {rel_id:.2e}")

# %% [markdown]
# The same identity with Monte Carlo: the ELBO of one $q$ estimated by sampling $q$, within its
# error bar of the closed form.

# %%
q0 = qs[0]
z_q, log_q = q0.sample_with_log_prob(20_000, gen)
elbo_mc = monte_carlo_mean(demo.likelihood_given_z(x, z_q)
                           + Normal(0.0, 1.0).log_prob(z_q).sum(-1) - log_q)
log.z_within("Monte Carlo ELBO within 4 SE of the closed form (max |z| over x)", "jensen",
             elbo_mc.z_score(demo.exact_elbo(x, q0)).abs().max().item(), against="closed-form ELBO")
show(figures.jensen.plot_elbo_gap_identity(kls.numpy(), gaps.numpy(), factors, by_scale.mean(1).numpy()),
     "elbo_gap_identity",
     f"For {len(kls.reshape(-1))} pairs of q and x, log p(x) − ELBO(q) = KL(q ‖ p(z|x)) to a "
     f"relative {rel_id:.0e}; the gap vanishes only when q's scale is the posterior's.")

# %% [markdown]
# <a id="part-4"></a>
#
# ## Part 4 — The ELBO and the reparameterization trick
#
# For a latent-variable model $p(x, z) = p(x\mid z)\,p(z)$ and any $q(z\mid x)$,
# $$\log p(x) = \underbrace{\mathbb E_{q}\big[\log p(x\mid z)\big]
#   - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{ELBO}}
#   \;+\; \mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big),$$
# so the ELBO is a lower bound whose gap is the KL to the true posterior. Training needs its
# gradient with respect to the parameters of $q$; writing the sample as a deterministic,
# differentiable function of noise,
# $$z = \mu + \sigma\odot\varepsilon,\qquad \varepsilon\sim\mathcal N(0, I),$$
# moves the randomness out of the way (Kingma & Welling 2014, §2.4): $\partial z/\partial\mu = 1$
# and $\partial z/\partial\sigma = \varepsilon$.
#
# ### The samples have the right distribution

# %%
log.section('Part 4: reparameterized samples', 'p4.reparameterization')
mu0, sigma0 = 1.5, 0.7
n_rep = 20_000 if QUICK else 200_000
z = reparameterize(torch.tensor(mu0, dtype=torch.float64),
                   torch.tensor(2 * np.log(sigma0), dtype=torch.float64),
                   sample_shape=(n_rep,), generator=gen)
mean_z = monte_carlo_mean(z)
var_z = z.var().item()
var_se = sigma0**2 * np.sqrt(2 / (n_rep - 1))  # std. error of a Gaussian sample variance
ks = stats.kstest(z.numpy(), "norm", args=(mu0, sigma0))
log.z_within("reparameterized z: mean within 4 SE of mu (z-score)", "elbo",
             mean_z.z_score(mu0).item(), against="mu")
log.z_within("reparameterized z: variance within 4 SE of sigma^2 (z-score)", "elbo",
             (var_z - sigma0**2) / var_se, detail="SE of a Gaussian sample variance",
             against="sigma^2")
log.at_least("reparameterized z ~ N(mu, sigma^2): Kolmogorov-Smirnov p-value", "elbo",
             ks.pvalue, 0.01, "null: z ~ N(mu, sigma^2); 1% level", kind="statistical",
             against="the 1% level (Kolmogorov-Smirnov vs N(mu, sigma^2))", unit="p-value")
print(f"mean {mean_z.estimate:.4f} ± {mean_z.stderr:.4f} (μ = {mu0}), var {var_z:.4f} "
      f"(σ² = {sigma0**2:.4f}), KS D = {ks.statistic:.4f}, p = {ks.pvalue:.3f}")
show(figures.elbo.plot_reparameterization(z.numpy(), mu0, sigma0, ks.statistic, ks.pvalue),
     "reparameterization",
     f"z = μ + σ·ε has the law N(μ, σ²): sample mean {mean_z.estimate:.3f} for μ = {mu0}, "
     f"Kolmogorov–Smirnov p = {ks.pvalue:.2f}.")

# %% [markdown]
# ### Gradients flow through the sample
#
# With the noise $\varepsilon$ fixed, autograd must give $\partial z/\partial\mu = 1$ and
# $\partial z/\partial\sigma = \varepsilon$ exactly (we differentiate through
# $\sigma = e^{\frac12\log\sigma^2}$ and divide by
# $\partial\sigma/\partial\log\sigma^2 = \sigma/2$).

# %%
log.section('Part 4: gradients through the sample', 'p4.reparameterization', 'x.theory_practice')
mu_t = torch.full((1000,), 0.3, dtype=torch.float64, requires_grad=True)
logvar_t = torch.full((1000,), -0.4, dtype=torch.float64, requires_grad=True)
eps = torch.randn(1000, generator=gen, dtype=torch.float64)
z = reparameterize(mu_t, logvar_t, eps=eps)
dz_dmu, dz_dlogvar = torch.autograd.grad(z.sum(), (mu_t, logvar_t))
sigma_t = torch.exp(0.5 * logvar_t.detach())
dz_dsigma = dz_dlogvar / (0.5 * sigma_t)
log.at_most("dz/dmu = 1 (max abs error)", "elbo", (dz_dmu - 1).abs().max().item(), 1e-12,
            "float64", kind="identity", against="1 (calculus)", unit="abs. error")
log.at_most("dz/dsigma = eps (max abs error)", "elbo", (dz_dsigma - eps).abs().max().item(),
            1e-12, "float64 rounding of exp and a division", kind="identity",
            against="eps (calculus)", unit="abs. error")
print("dz/dμ − 1:", (dz_dmu - 1).abs().max().item(), "  dz/dσ − ε:",
      (dz_dsigma - eps).abs().max().item())

# %% [markdown]
# ### Why the trick: gradient variance, measured against exact gradients
#
# The trick is *correct*; the reason to use it is *variance*. Every unbiased estimator of
# $\nabla_\phi\,\mathbb E_{q_\phi}[f(z)]$ averages to the same gradient, but how many samples
# it needs depends on its spread. The score function (REINFORCE),
# $f(z)\,\nabla_\phi\log q_\phi(z)$, needs only values of $f$; the reparameterized (pathwise)
# estimator $\nabla_z f(z)\,\partial z/\partial\phi$ uses $f$'s gradient. On the linear-Gaussian
# model of Part 1 the ELBO of a diagonal $q = \mathcal N(\mu, \operatorname{diag}e^{\text{logvar}})$
# and its gradient are known in closed form,
# $$\partial_\mu\mathrm{ELBO} = W^\top(x - W\mu - b)/\sigma_x^2 - \mu,\qquad
#   \partial_{\text{logvar}}\mathrm{ELBO} = \tfrac12\big(1 - v\odot(1 + \operatorname{diag}
#   W^\top W/\sigma_x^2)\big),$$
# so every estimator (`elbolab.gradients`) can be held against the true gradient: the score
# function, with a leave-one-out baseline, reparameterization, "sticking the landing" (STL,
# Roeder et al. 2017, the path derivative alone) and reparameterization with the analytic KL.

# %%
log.section('Part 4: gradient estimators against exact gradients', 'p4.reparameterization',
            'x.theory_practice')
gv_model, gv_x, gv_mu, gv_lv = gradient_variance.linear_problem(d=4)
m_req, lv_req = gv_mu.clone().requires_grad_(), gv_lv.clone().requires_grad_()
auto = torch.autograd.grad(gv_model.exact_elbo(gv_x[None], GaussianProposal(
    m_req[None], torch.diag(torch.exp(0.5 * lv_req)))).sum(), (m_req, lv_req))
closed = gv_model.exact_elbo_gradient(gv_x, gv_mu, gv_lv)[:2]
grad_err = max((a - c).abs().max().item() for a, c in zip(auto, closed, strict=True))
log.at_most("closed-form ELBO gradient = autograd on the closed-form ELBO (max abs error)",
            "elbo", grad_err, 1e-10, "float64, a few dozen operations", kind="identity",
            against="autograd of the closed-form ELBO", unit="abs. error")
unb = gradient_variance.elbo_unbiasedness(d=3, n=10_000 if QUICK else 40_000)
for est, z_max in unb.max_abs_z.items():
    log.z_within(f"{est} ELBO gradient: mean within 4 SE of the exact gradient (max |z|)",
                 "elbo", z_max, detail=f"n = {unb.n:,} estimates, 6 parameters",
                 against="closed-form ELBO gradient")
display(Markdown("| estimator | max \\|z\\| vs exact | variance of one estimate |\n|---|---:|---:|\n"
                 + "\n".join(f"| {e} | {unb.max_abs_z[e]:.2f} | {unb.variance[e]:.3g} |"
                             for e in unb.max_abs_z)))

# %% [markdown]
# All five are unbiased; their variances differ by two orders of magnitude. The spread of the
# score function grows with the dimension: for $f(z)=\sum_j z_j^2$ under
# $\mathcal N(\mu, \sigma^2 I)$ (exact gradient $(2\mu, \sigma^2)$), each coordinate's estimate
# carries the noise of all $d$ coordinates of $f$, while the pathwise estimate of
# $\partial/\partial\mu_j$ is $2z_j$, whose variance is exactly $4\sigma^2$ whatever $d$.

# %%
n_var = 2_000 if QUICK else 8_000
by_d = gradient_variance.variance_vs_dimension(n=n_var)
by_s = gradient_variance.variance_vs_sigma(n=n_var, d=10)
at10 = {e: v[list(by_d.values).index(10.0)] for e, v in by_d.variance.items()}
ratio10, ratio10_loo = at10["score"] / at10["reparam"], at10["score_loo"] / at10["reparam"]
n_tests = 3 * 2 * (by_d.values.sum() + 10 * len(by_s.values))  # estimators x parameters
z_family = gradient_variance.bonferroni_z(n_tests, alpha=2 * stats.norm.sf(4.0))  # 4-SE level
log.at_most("second-moment gradient estimators: means within the Bonferroni bound of "
            "(2 mu, sigma^2) (max |z|)", "elbo", max(by_d.max_abs_z, by_s.max_abs_z),
            float(z_family), f"{n_tests:.0f} z-scores; the 4-SE level shared among them",
            kind="statistical", against="exact gradient (2 mu, sigma^2)", unit="SE")
var_se = 4 * np.sqrt(2 / (n_var - 1)) / np.sqrt(10)  # SE of a Gaussian variance, mean of 10
log.z_within("reparameterized variance at d = 10, sigma = 1 equals 4 sigma^2 (z-score)", "elbo",
             (at10["reparam"] - 4.0) / var_se, detail="SE of a Gaussian sample variance",
             against="4 sigma^2 (Var of 2z)")
log.at_least("score function variance / reparameterization variance at d = 10", "elbo",
             ratio10, 1.0, "the reason for the trick", kind="demonstration",
             against="1 (equal variance)", unit="ratio")
print(f"variance at d = 10: score {at10['score']:.1f}, score + baseline "
      f"{at10['score_loo']:.1f}, reparameterization {at10['reparam']:.2f}: ratios "
      f"{ratio10:.0f}x and {ratio10_loo:.0f}x")
show(figures.gradients.plot_gradient_variance(by_d.values, by_d.variance, by_s.values,
                                              by_s.variance, 10),
     "gradient_variance",
     f"At d = 10 one score-function estimate has {ratio10:.0f}x the variance of a "
     f"reparameterized one ({ratio10_loo:.0f}x with a leave-one-out baseline); the "
     "reparameterized variance stays at 4σ² whatever d.")

# %% [markdown]
# **Sticking the landing.** The standard reparameterized ELBO gradient differentiates
# $\log q_\phi(z)$ twice: through $z$ and through $\phi$ directly. The second term (the score,
# zero in expectation) keeps its variance even when $q$ is exactly the posterior; dropping it
# leaves the path derivative $\nabla_z[\log p(x,z) - \log q(z)]\,\partial z/\partial\phi$, which
# is *zero for every draw* at the posterior. On a linear-Gaussian model with orthogonal columns
# the posterior is a diagonal Gaussian, so $q$ can reach it.

# %%
landing = gradient_variance.stl_vs_distance(n=1_000 if QUICK else 4_000)
log.at_most("STL gradient variance at the exact posterior", "elbo", landing.stl[-1], 1e-20,
            "float64: z − μ and the posterior's score cancel to rounding", kind="identity",
            against="0 (Roeder et al. 2017)", unit="variance")
log.at_least("standard reparameterized gradient variance at the exact posterior", "elbo",
             landing.reparam[-1], 1e-2, "the score term's variance, ½ per logvar at least",
             kind="demonstration", against="STL's zero", unit="variance")
print("distance:", landing.distance, "\nSTL variance:", landing.stl,
      "\nreparameterization variance:", landing.reparam)
show(figures.gradients.plot_sticking_the_landing(landing.distance, landing.stl,
                                                 landing.reparam),
     "sticking_the_landing",
     f"At the posterior STL's gradient variance is {landing.stl[-1]:.1e} (float64 zero) while "
     f"the standard estimator's stays at {landing.reparam[-1]:.2f}.")

# %% [markdown]
# **Importance-weighted bounds.** Training on $\mathcal L_k$ (Burda et al. 2015) tightens the
# bound, but Rainforth et al. (2018) proved that the signal-to-noise ratio of the encoder's
# gradient falls like $k^{-1/2}$ while the decoder's rises like $k^{1/2}$: the encoder's
# expected gradient vanishes faster than its noise. The doubly reparameterized gradient (DReG,
# Tucker et al. 2018) $\sum_j\tilde w_j^2\,\partial\log w_j/\partial z_j\,\partial z_j/\partial\phi$
# removes the score terms and keeps the encoder's SNR from falling. We fit the log-log slopes
# (bootstrap standard errors) and hold them against the theory.

# %%
# quick mode: k <= 64, where 1,000 estimates still resolve the encoder's falling SNR (at
# k = 256 it nears the 1/sqrt(n) floor of an SNR estimate from n draws)
snr = gradient_variance.snr_vs_k(ks=(1, 4, 16, 64) if QUICK else (1, 4, 16, 64, 256),
                                  n=1_000 if QUICK else 4_000, bootstrap=100 if QUICK else 300)
for name, theory in (("encoder", -0.5), ("decoder", 0.5)):
    log.z_within(f"IWAE-k {name} SNR slope in log k equals {theory:+.1f} (z-score)", "elbo",
                 (snr.slope[name] - theory) / snr.slope_se[name],
                 detail=f"slope {snr.slope[name]:+.3f} ± {snr.slope_se[name]:.3f} (bootstrap)",
                 against=f"Rainforth et al. 2018: SNR ~ k^({theory:+.1f})")
log.at_least("DReG encoder SNR slope in log k, in bootstrap SEs above 0", "elbo",
             snr.slope["encoder_dreg"] / snr.slope_se["encoder_dreg"], 4.0,
             "4 SE", kind="statistical", against="0 (a flat SNR)", unit="z-score")
print({k: f"{v:+.3f} ± {snr.slope_se[k]:.3f}" for k, v in snr.slope.items()})
show(figures.gradients.plot_snr_vs_k(snr.ks, snr.snr, snr.slope, snr.slope_se), "iwae_snr",
     f"Encoder SNR slope {snr.slope['encoder']:+.2f} (theory −0.5), decoder "
     f"{snr.slope['decoder']:+.2f} (theory +0.5); with DReG the encoder's is "
     f"{snr.slope['encoder_dreg']:+.2f}.")

# %% [markdown]
# ### The bound's pieces on a small linear-Gaussian model
#
# A linear decoder $p(x\mid z) = \mathcal N(Wz + b, \sigma^2 I)$ with $p(z)=\mathcal N(0,I)$ has
# a Gaussian marginal $p(x) = \mathcal N(b, WW^\top + \sigma^2 I)$, which `torch.distributions`
# evaluates for us: a true $\log p(x)$ to hold the bounds against. The encoder is a deliberately
# imperfect linear map. `ELBOFramework` assembles reconstruction, analytic KL, the ELBO and the
# importance-weighted bound $\mathcal L_k$ (Burda et al. 2015), and we check
# $\text{ELBO} \le \mathcal L_k \le \log p(x)$ with $\mathcal L_k$ rising in $k$.

# %%
log.section("Part 4: the bound's pieces and IWAE-k", 'p4.elbo', 'p4.iwae')
torch.manual_seed(SEED)
latent_dim, data_dim, noise_std = 2, 6, 0.5


class LinearEncoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(data_dim, 2 * latent_dim)

    def forward(self, x):
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar - 1.0


class LinearDecoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(latent_dim, data_dim)
        self.x_logvar = torch.nn.Parameter(torch.tensor(2 * np.log(noise_std)))

    def forward(self, z):
        return self.net(z), self.x_logvar


framework = ELBOFramework(LinearEncoder(), LinearDecoder(), likelihood="gaussian").to(device)
W, b = framework.decoder.net.weight.detach(), framework.decoder.net.bias.detach()
marginal = MultivariateNormal(b, W @ W.T + noise_std**2 * torch.eye(data_dim, device=device))
n_data = 256
x = marginal.sample((n_data,))
log_px = marginal.log_prob(x)

# %% [markdown]
# The pieces, each against `torch.distributions` at the same sample $z$: the ELBO equals
# $\log\mathcal N(x; \text{decoder}(z), \sigma^2 I)$ minus the KL of two `Normal`s; the
# analytic KL agrees with Monte Carlo over the same $q$; the loss's gradient reaches both
# networks through the sample.

# %%
dev_gen = torch.Generator(device=device).manual_seed(SEED)
res = framework.compute_elbo(x, generator=dev_gen)
with torch.no_grad():
    x_mean, x_logvar = framework.decoder(res.z)
    q_dist = Normal(res.mu, torch.exp(0.5 * res.logvar))
    oracle_elbo = (Normal(x_mean, torch.exp(0.5 * x_logvar)).log_prob(x).sum(-1)
                   - kl_divergence(q_dist, Normal(0.0, 1.0)).sum(-1))
log.at_most("ELBO = log N(x; decoder(z)) - KL(q || N(0, I)) by torch.distributions (max abs "
            "error)", "elbo", (res.elbo - oracle_elbo).abs().max().item(), 1e-4,
            "float32: ~10 ulp of the O(10)-nat terms", kind="oracle",
            against="torch.distributions Normal and kl_divergence", unit="nats")

# Analytic KL(q || p(z)) against Monte Carlo over the same q, for one data point.
mu_q0, logvar_q0 = res.mu[0].detach(), res.logvar[0].detach()
zs = reparameterize(mu_q0, logvar_q0, sample_shape=(20_000,), generator=dev_gen)
mc_kl = kl.monte_carlo_kl(zs, lambda s: gaussian_log_prob(s, mu_q0, logvar_q0).sum(-1),
                          lambda s: gaussian_log_prob(s, torch.zeros_like(s),
                                                      torch.zeros_like(s)).sum(-1))
log.z_within("analytic KL(q||p(z)) vs Monte Carlo (z-score)", "elbo",
             mc_kl.z_score(res.kl[0].detach()).item(), against="Monte Carlo KL over the same q")

# The gradient reaches both networks through the sample.
res.loss.backward()
grad_ok = all(p.grad is not None and p.grad.abs().sum() > 0 for p in framework.parameters())
log.at_least("gradients reach every encoder and decoder parameter", "elbo", float(grad_ok), 1.0,
             kind="demonstration", against="every parameter of both networks", unit="(1 = yes)")

# %% [markdown]
# Per-example values, so that comparisons are paired: the spread of $\log p(x)$ across the
# data cancels and the standard errors below measure Monte Carlo noise alone.

# %%
with torch.no_grad():
    elbo_x = torch.stack([framework.compute_elbo(x, generator=dev_gen).elbo
                          for _ in range(64)]).mean(0)
    ks_list = [1, 4, 16, 64, 256] + ([] if QUICK else [1024, 4096])
    iwae_x = [framework.iwae_bound(x, k, chunk_size=256, generator=dev_gen) for k in ks_list]
above_elbo = [monte_carlo_mean(v - elbo_x) for v in iwae_x]
below_px = [monte_carlo_mean(log_px - v) for v in iwae_x]
steps = [monte_carlo_mean(hi - lo) for lo, hi in zip(iwae_x, iwae_x[1:], strict=False)]
elbo_mean, mean_log_px = elbo_x.mean().item(), log_px.mean().item()
b_est = [v.mean().item() for v in iwae_x]
b_se = [r.stderr.item() for r in above_elbo]
for k, e, r in zip(ks_list, b_est, above_elbo, strict=True):
    print(f"IWAE-{k:<5} {e:9.4f}   (above the ELBO by {r.estimate:.4f} ± {r.stderr:.4f})")
print(f"ELBO       {elbo_mean:9.4f}\nlog p(x)   {mean_log_px:9.4f}")
log.z_within("IWAE-1 equals the ELBO in expectation (z-score)", "elbo",
             above_elbo[0].z_score(0.0).item(), detail="paired per x",
             against="the ELBO, paired per x")
log.at_least("ELBO < IWAE-k for k >= 4 (smallest z-score of IWAE-k - ELBO)", "elbo",
             min(r.z_score(0.0).item() for r in above_elbo[1:]), 4.0,
             "paired per x; 4 SE above zero", kind="statistical",
             against="0: the ELBO, paired per x", unit="SE")
log.at_least("IWAE-k <= log p(x) (smallest z-score of log p(x) - IWAE-k)", "elbo",
             min(r.z_score(0.0).item() for r in below_px), -4.0,
             "paired per x; may be 4 SE below zero by chance", kind="statistical",
             against="0: exact log p(x), paired per x", unit="SE")
log.at_least("IWAE-k increases with k (smallest z-score of consecutive increments)", "elbo",
             min(r.z_score(0.0).item() for r in steps), -4.0,
             "paired per x; Burda et al.'s Theorem 1 illustrated: no plausible bug breaks it "
             "alone (benchmarks/mutation.py)", kind="demonstration",
             against="0: the previous k, paired per x", unit="SE")
log.at_most("IWAE-k approaches log p(x): gap at the largest k (nats)", "elbo",
            below_px[-1].estimate.item(), 0.25 * below_px[0].estimate.item(),
            "gap at largest k <= a quarter of the gap at k = 1", kind="demonstration",
            against="a quarter of the ELBO's gap", unit="nats")
show(figures.elbo.plot_iwae_vs_k(ks_list, b_est, b_se, elbo_mean, 0.0, reference=mean_log_px,
                    reference_label="exact log p(x)"), "iwae_vs_k",
     f"The IWAE-k bound rises from the ELBO ({elbo_mean:.2f}) toward the exact log p(x) "
     f"({mean_log_px:.2f} nats): at k = {ks_list[-1]} it is {below_px[-1].estimate.item():.3f} nats "
     "below it.")

# %% [markdown]
# ### Training a real VAE on MNIST
#
# Everything above, put to work: `ELBOFramework` with an MLP encoder and decoder (the
# `example` preset: 784-400-20, ReLU, Bernoulli likelihood), trained by maximizing the ELBO
# with Adam. A Bernoulli decoder is a normalized likelihood only for **binary** images, so the
# pixels are binarized as in Burda et al. (2015): every epoch draws each training pixel as a
# Bernoulli of its grey level (dynamic binarization), and the test set is binarized once with
# a fixed seed. Every −ELBO, log p(x) and bits/dim below is therefore a likelihood of binary
# images, comparable to the binarized-MNIST literature (Burda et al. report 86.76 nats for a
# one-layer VAE trained for 3,280 epochs; ours trains for minutes). The trainer keeps the
# whole dataset on the device, writes a checkpoint and metrics every epoch, and can resume. At
# the end we hold the model against an exact baseline and the ELBO against the tighter
# importance-weighted bound on the test set.

# %%
log.section('Part 4: a VAE trained on MNIST', 'p4.vae')
# the 8x8 digits fallback has 1,438 training images: ten times the epochs, about as many steps
epochs_4 = (3 if QUICK else 10) * (1 if train_data.name == "mnist" else 10)
train_cfg = TrainConfig(preset="example", epochs=epochs_4, seed=SEED,
                        device=str(device), data_dir=DATA_DIR, binarize="dynamic",
                        train_subset=10_000 if QUICK else None,
                        test_subset=1_000 if QUICK else None)
trainer = Trainer.from_config(train_cfg, Path(OUT_DIR) / "runs" / "part4_example",
                              train=train_data, test=test_data, progress=PROGRESS)
run = trainer.fit(overwrite=True)  # the lab owns its output folder: a rerun replaces it
for h in run.history:
    print(f"epoch {h['epoch']:>2}: train −ELBO {h['train_loss']:7.2f}  test −ELBO "
          f"{h['test_loss']:7.2f}  (E[log p(x|z)] {h['test_reconstruction']:7.2f}, "
          f"KL {h['test_kl']:5.2f})  {h['train_seconds']:.2f} s")
first, last = run.history[0], run.history[-1]
log.at_least("training improves the test ELBO (first-epoch minus last-epoch loss, nats)",
             "training", first["test_loss"] - last["test_loss"], 1.0 if QUICK else 5.0,
             kind="demonstration", against="the claimed improvement", unit="nats")
# the protocol, checked: the test images are binary, and a dynamic binarization draws each
# pixel as a Bernoulli of its grey level (its mean over draws is the grey level)
grey = trainer.data.train_x[:256].double()
bin_gen = torch.Generator(device=device).manual_seed(SEED)
draws_b = torch.stack([binarize(trainer.data.train_x[:256], bin_gen)
                       for _ in range(100)]).double()
non_binary = ((draws_b != 0) & (draws_b != 1)).double().mean().item() + (
    (trainer.data.test_x != 0) & (trainer.data.test_x != 1)).double().mean().item()
log.at_most("binarized training and test pixels are 0 or 1 (fraction that is not)", "training",
            non_binary, 0.0, kind="identity", against="0: binary pixels", unit="fraction")
bin_se = (grey * (1 - grey)).sum().sqrt() / (grey.numel() * math.sqrt(len(draws_b)))
log.z_within("dynamic binarization: mean of the draws = the grey levels (z-score)", "training",
             ((draws_b.mean(0).mean() - grey.mean()) / bin_se).item(),
             detail="SE of a mean of Bernoulli draws: sqrt(sum p(1-p)) / (N R)",
             against="the grey levels")
show(figures.training.plot_learning_curves(run.history,
                                           title=f"example VAE on {train_data.name}"),
     "training_learning_curves",
     f"In {len(run.history)} epochs the test −ELBO falls to {run.history[-1]['test_loss']:.1f} nats: "
     f"the distortion falls to {-run.history[-1]['test_reconstruction']:.1f} nats while the rate "
     f"ends at {run.history[-1]['test_kl']:.1f}.")

# %%
x_show = trainer.data.test_x[:16]
show(figures.training.plot_reconstructions(
    x_show.cpu().numpy(), reconstruct(run.model, x_show).cpu().numpy(), trainer.data.image_shape),
    "training_reconstructions",
     f"Test images (top) and their reconstructions (decoder means, bottom) after "
     f"{len(run.history)} epochs, at {-run.history[-1]['test_reconstruction']:.1f} nats of "
     "distortion per image.")
samples = sample_prior(run.model, 50, trainer.spec.latent,
                       torch.Generator(device=device).manual_seed(SEED))
show(figures.training.plot_samples(samples.cpu().numpy(), trainer.data.image_shape),
     "training_samples",
     "Fifty draws from the prior, decoded (decoder means): the model generates images it never "
     "saw, not only reconstructions.")

# %% [markdown]
# ### The backward pass, written out
#
# On the CPU the trainer does not build an autograd graph: `elbolab.vae.backprop` writes the
# gradient of the batch-mean loss $-\log p(x\mid z) + \beta\,\mathrm{KL}$ out by hand. Besides the
# chain rule through the linear layers it needs only what the lab has derived:
# $\partial(-\log p)/\partial\,\text{logits} = \sigma(\text{logits}) - x$ for the Bernoulli
# decoder; $\partial z/\partial\mu = 1$ and $\partial z/\partial\log\sigma^2 = \tfrac12\sigma
# \varepsilon$ from the reparameterization; and $\partial\,\mathrm{KL}/\partial\mu = \mu$,
# $\partial\,\mathrm{KL}/\partial\log\sigma^2 = \tfrac12(\sigma^2 - 1)$ from the closed-form KL.
# Checked here against autograd on the trained model, in float64.

# %%
log.section('Part 4: the backward pass and the test bound', 'p4.vae', 'p4.iwae',
            'x.theory_practice')
model64 = copy.deepcopy(run.model).double()
x64 = trainer.data.test_x[:64].double()
res64 = model64.compute_elbo(x64, generator=torch.Generator(device=device).manual_seed(SEED))
auto_grads = torch.autograd.grad(res64.loss, list(model64.parameters()))
elbo_gradients(model64, x64, generator=torch.Generator(device=device).manual_seed(SEED))
grad_err = max(((p.grad - g).abs().max() / g.abs().max()).item()
               for p, g in zip(model64.parameters(), auto_grads, strict=True))
print(f"largest relative difference, written-out vs autograd gradients: {grad_err:.2e}")
log.at_most("written-out backward pass = autograd (max relative gradient difference, float64)",
            "training", grad_err, 1e-10, "float64 rounding through 3 layers", kind="identity",
            against="torch.autograd in float64", unit="rel. error")

# %%
n_eval, k_eval = (200, 100) if QUICK else (1000, 1000)
x_eval = trainer.data.test_x[:n_eval]
eval_gen = torch.Generator(device=device).manual_seed(SEED)
with torch.no_grad():
    elbo_eval = torch.stack([run.model.compute_elbo(x_eval, generator=eval_gen).elbo
                             for _ in range(10)]).mean(0)
ll_x = iwae_per_example(run.model, x_eval, k_eval, generator=eval_gen)
ll_eval = monte_carlo_mean(ll_x.double())
gap_eval = monte_carlo_mean((ll_x - elbo_eval).double())
nll_bpd = bits_per_dim(-ll_eval.estimate.item(), x_eval.shape[1])
print(f"{n_eval} test images: ELBO {elbo_eval.mean():.2f} nats, IWAE-{k_eval} "
      f"{ll_eval.estimate:.2f} ± {ll_eval.stderr:.2f} nats ({nll_bpd:.4f} bits/dim); "
      f"IWAE − ELBO = {gap_eval.estimate:.2f} ± {gap_eval.stderr:.2f} nats")
log.at_least(f"test IWAE-{k_eval} bound above the ELBO (z-score of the paired gap)", "training",
             gap_eval.z_score(0.0).item(), 4.0, "paired per image", kind="statistical",
             against="0: the test ELBO, paired per image", unit="SE")
log.at_most("bits/dim = nats / (D ln 2), against the numbers printed above", "training",
            abs(nll_bpd * x_eval.shape[1] * math.log(2) + ll_eval.estimate.item()), 1e-9,
            "float64 rounding", kind="identity", against="the printed nats per image", unit="nats")

# %% [markdown]
# Is that a good model? An exact baseline: every pixel an independent Bernoulli with the
# training set's mean intensity ($\log p(x) = \sum_j x_j\log p_j + (1-x_j)\log(1-p_j)$,
# counts smoothed by ½ so that no $p_j$ is 0 or 1). The VAE must beat it per test image, by
# more than the Monte Carlo and sampling error of the paired difference.

# %%
n_seen = len(trainer.data.train_x)
pix = (trainer.data.train_x.double().sum(0) + 0.5) / (n_seen + 1)
baseline_x = (x_eval.double() * pix.log() + (1 - x_eval.double()) * torch.log1p(-pix)).sum(-1)
beat = monte_carlo_mean(ll_x.double() - baseline_x)
print(f"independent-pixel baseline {baseline_x.mean():.2f} nats; the VAE beats it by "
      f"{beat.estimate:.2f} ± {beat.stderr:.2f} nats per image")
log.at_least("the VAE's log p(x) beats the exact independent-pixel model (z-score, paired "
             "per image)", "training", beat.z_score(0.0).item(), 4.0, kind="statistical",
             against="0: the independent-pixel model's exact log p(x)", unit="SE")

# %% [markdown]
# ### Why the trick, on the trained VAE
#
# The linear-Gaussian experiments above had exact gradients. The trained MNIST VAE has none, so
# each estimator of the ELBO's gradient with respect to $q(z\mid x)$'s parameters ($\mu$ and
# $\log\sigma^2$ for each test image: what the encoder's weights receive through the chain
# rule) is held against a large-sample reference, the mean of many analytic-KL estimates with
# its standard error. All five must agree with it (one Bonferroni bound for every image,
# parameter and estimator); their variances, the total over the $2L$ parameters, are what
# differ. In float64, on the model trained above.

# %%
log.section('Part 4: gradient variance on the trained VAE', 'p4.reparameterization',
            'x.theory_practice')
n_img_var = 4 if QUICK else 16
vae_var = gradient_variance.vae_gradient_variance(
    model64, x_eval[:n_img_var].double(), n=1_000 if QUICK else 4_000,
    n_ref=10_000 if QUICK else 40_000, seed=SEED)
log.at_most("trained VAE: every ELBO gradient estimator's mean within the Bonferroni bound "
            "of the large-sample reference (max |z|)", "elbo", max(vae_var.max_abs_z.values()),
            vae_var.z_threshold, f"{n_img_var} images x {vae_var.params} parameters x "
            f"{len(vae_var.estimators)} estimators, family-wise 1e-3", kind="statistical",
            against=f"mean of {vae_var.n_ref:,} analytic-KL estimates", unit="SE")
tot = {e: v.sum() for e, v in vae_var.variance.items()}
tot_se = {e: math.sqrt((v**2).sum()) for e, v in vae_var.variance_se.items()}
loo_vs_rep = (tot["score_loo"] - tot["reparam"]) / math.hypot(tot_se["score_loo"],
                                                              tot_se["reparam"])
log.at_least("trained VAE: score function with a baseline has more gradient variance than "
             "reparameterization (z-score of the difference)", "elbo", loo_vs_rep, 4.0,
             "4 SE of the summed variances", kind="statistical",
             against="0: equal variance", unit="SE")
display(Markdown("| estimator | total variance, summed over images | / reparameterization | "
                 "max \\|z\\| vs reference |\n|---|---:|---:|---:|\n" + "\n".join(
                     f"| {e} | {tot[e]:.4g} ± {tot_se[e]:.2g} | {tot[e] / tot['reparam']:.3g} | "
                     f"{vae_var.max_abs_z[e]:.2f} |" for e in vae_var.estimators)))
show(figures.gradients.plot_vae_gradient_variance(vae_var.variance, vae_var.variance_se,
                                                  train_data.name), "vae_gradient_variance",
     f"On the trained VAE one score-function estimate has {tot['score'] / tot['reparam']:.0f}x "
     f"the variance of a reparameterized one ({tot['score_loo'] / tot['reparam']:.0f}x with a "
     f"leave-one-out baseline); sticking the landing has {tot['stl'] / tot['reparam']:.2f}x, "
     f"the analytic KL {tot['analytic_kl'] / tot['reparam']:.2f}x.")

# %% [markdown]
# ### Training on the importance-weighted bound
#
# The same model and budget in epochs, trained on $\mathcal L_k$ instead of the ELBO
# (`elbolab train --objective iwae --k 5 --gradient dreg`: the bound of Burda et al. 2015 with
# the doubly reparameterized encoder gradient, whose SNR the section above showed does not
# fall with k). Each model is then scored on the same test images by all three bounds, paired
# per image: its ELBO, $\mathcal L_5$ and the importance-sampled $\log p(x)$.

# %%
log.section('Part 4: training on the IWAE bound', 'p4.iwae', 'x.theory_practice')
k_train = 5
iwae_run = Trainer.from_config(
    dataclasses.replace(train_cfg, objective="iwae", k=k_train, gradient="dreg"),
    Path(OUT_DIR) / "runs" / "part4_iwae", train=train_data, test=test_data,
    progress=PROGRESS).fit(overwrite=True)
bound_gen = torch.Generator(device=device).manual_seed(SEED + 5)
by_objective, per_image = {}, {}
for name, m in (("ELBO-trained (VAE)", run.model), (f"L_{k_train}-trained (IWAE)", iwae_run.model)):
    vals = {"ELBO": per_example_elbo(m, x_eval, draws=10, generator=bound_gen)["elbo"],
            f"L_{k_train}": iwae_per_example(m, x_eval, k_train, generator=bound_gen).double().cpu(),
            f"log p(x), IWAE-{k_eval}": iwae_per_example(m, x_eval, k_eval,
                                                         generator=bound_gen).double().cpu()}
    per_image[name] = vals
    by_objective[name] = {b: (v.mean().item(), v.std().item() / math.sqrt(len(v)))
                          for b, v in vals.items()}
    print(name, {b: f"{mu:.2f} ± {se:.2f}" for b, (mu, se) in by_objective[name].items()})

# %% [markdown]
# Paired per image: how much each model's $\mathcal L_5$ gains over its own ELBO, and how the
# two models' $\log p(x)$ compare.

# %%
(vae_vals, iwae_vals) = per_image.values()
gap_vae = monte_carlo_mean(vae_vals[f"L_{k_train}"] - vae_vals["ELBO"])
gap_iwae = monte_carlo_mean(iwae_vals[f"L_{k_train}"] - iwae_vals["ELBO"])
print(f"L_{k_train} − ELBO: VAE-trained {gap_vae.estimate:.2f} ± {gap_vae.stderr:.2f}, "
      f"IWAE-trained {gap_iwae.estimate:.2f} ± {gap_iwae.stderr:.2f} nats per image")
log.at_least(f"IWAE-trained model: L_{k_train} above its ELBO (z-score, paired per image)",
             "training", gap_iwae.z_score(0.0).item(), 4.0, "paired per image",
             kind="statistical", against="0: its own ELBO, paired per image", unit="SE")
ll_diff = monte_carlo_mean(iwae_vals[f"log p(x), IWAE-{k_eval}"]
                           - vae_vals[f"log p(x), IWAE-{k_eval}"])
print(f"log p(x), IWAE-trained − ELBO-trained: {ll_diff.estimate:+.2f} ± {ll_diff.stderr:.2f} "
      "nats per image")
log.at_least("the L_5-trained model's log p(x) beats the ELBO-trained model's (z-score, paired "
             "per image)", "training", ll_diff.z_score(0.0).item(), 4.0, "paired per image",
             kind="statistical", against="0: the ELBO-trained model (Burda et al. 2015, Table 1)",
             unit="SE")
show(figures.training.plot_bounds_by_objective(by_objective), "iwae_training_bounds",
     f"Trained on L_{k_train}, the model's ELBO is looser (L_{k_train} − ELBO = "
     f"{gap_iwae.estimate:.1f} nats against {gap_vae.estimate:.1f}) and its log p(x) differs by "
     f"{ll_diff.estimate:+.2f} ± {ll_diff.stderr:.2f} nats per image from the ELBO-trained one "
     f"after {len(iwae_run.history)} epochs each.")

# %% [markdown]
# ### How tight is the bound on real data?
#
# Part 3 proved $\log p(x) - \text{ELBO} = \mathrm{KL}(q(z\mid x)\,\|\,p(z\mid x))$ on models
# whose posterior is known. On the trained MNIST VAE the gap has two causes that can be measured
# apart (Cremer, Li & Duvenaud 2018): the **approximation gap** $\log p(x) - \mathcal L[q^*]$,
# where $q^*$ is the best diagonal Gaussian for this $x$, and the **amortization gap**
# $\mathcal L[q^*] - \mathcal L[q_{\text{enc}}]$, what the encoder loses by answering every $x$
# with one network. $q^*$ is found by optimizing each image's mean and log-variance from the
# encoder's output (all images at once). $\log p(x)$ comes from **annealed importance
# sampling** (AIS, Neal 2001): chains move from the prior to the posterior through
# $p(z)\,p(x\mid z)^\beta$, $\beta: 0\to1$, by Hamiltonian Monte Carlo, and their weights average
# to $p(x)$ — a stochastic lower bound on $\log p(x)$. Run backwards from an exact posterior
# sample, the same recursion averages to $1/p(x)$: an upper bound (bidirectional Monte Carlo,
# Grosse et al. 2015; Wu et al. 2017). Exact posterior samples exist for data simulated from the
# model, so there the truth is sandwiched. First, where the answer is exact: the linear-Gaussian
# model of Part 1, with a sharp posterior ($\sigma_x = 0.1$, $D = 16$).

# %%
log.section('Part 4: how tight is the bound on real data?', 'p4.iwae', 'x.theory_practice')
lg = LinearGaussianModel(latent_dim=3, data_dim=16, noise_std=0.1, seed=SEED)
ais_gen = torch.Generator().manual_seed(SEED)
x_lg = lg.sample_data(16, ais_gen)
exact_lg = lg.exact_log_marginal(x_lg)
ais_steps = [5, 25, 125, 625]
brackets = []
for T in ais_steps:
    fw = annealed_importance_sampling(lambda z: lg.log_likelihood(x_lg, z),
                                      torch.randn(16, 16, 3, generator=ais_gen, dtype=torch.float64),
                                      sigmoid_schedule(T), leapfrog=5, generator=ais_gen)
    rv = annealed_importance_sampling(lambda z: lg.log_likelihood(x_lg, z),
                                      lg.exact_posterior(x_lg).sample(16, ais_gen),
                                      sigmoid_schedule(T).flip(0), leapfrog=5, generator=ais_gen)
    brackets.append((fw.estimate, rv.estimate))
    print(f"T = {T:>4}: lower − exact {(fw.estimate.estimate - exact_lg).mean():+.3f}, "
          f"upper − exact {(rv.estimate.estimate - exact_lg).mean():+.3f} nats (means over x)")
lo_T, up_T = brackets[-1]
log.at_most(f"linear-Gaussian: AIS (T = {ais_steps[-1]}) = exact log p(x) (max |z| over 16 x)",
            "elbo", ((lo_T.estimate - exact_lg) / lo_T.stderr).abs().max().item(),
            gradient_variance.bonferroni_z(16, alpha=2 * stats.norm.sf(4.0)),
            "the 4-SE level shared by 16 z-scores (Bonferroni)", kind="oracle",
            against="exact log p(x) (Gaussian marginal)", unit="SE")
log.at_least("linear-Gaussian: the BDMC bracket contains the exact log p(x) (smaller of "
             "upper − exact and exact − lower, means over x)", "elbo",
             min((up_T.estimate - exact_lg).mean().item(), (exact_lg - lo_T.estimate).mean().item()),
             0.0, "stochastic bounds, seeded", kind="statistical",
             against="exact log p(x)", unit="nats")
widths = [(u.estimate - lo.estimate).mean().item() for lo, u in brackets]
log.at_least("BDMC bracket narrows as the AIS schedule grows (smallest ratio of widths, T to 5T)",
             "elbo", min(a / b for a, b in zip(widths, widths[1:], strict=False)), 1.0,
             "each 5x longer schedule must narrow it", kind="demonstration",
             against="1: no narrowing", unit="ratio")
show(figures.gaps.plot_bdmc_bracket(np.array(ais_steps, float),
                                    np.array([lo.estimate.mean().item() for lo, _ in brackets]),
                                    np.array([u.estimate.mean().item() for _, u in brackets]),
                                    exact_lg.mean().item(), "AIS and reverse AIS sandwich the "
                                    "exact log p(x)"), "bdmc_linear_gaussian",
     f"The bracket narrows from {widths[0]:.1f} nats at T = 5 to {widths[-1]:.3f} at "
     f"T = {ais_steps[-1]}, always around the exact value.")

# %% [markdown]
# On the trained VAE, per test image and paired: the encoder's ELBO, the ELBO of the optimized
# Gaussian $q^*$, of a per-example normalizing flow on top of it (four planar layers, Rezende &
# Mohamed 2015: $z_k = z_{k-1} + \hat u_k\tanh(w_k^\top z_{k-1} + b_k)$, started at the
# identity), the importance-weighted bound and AIS. The flow shows how much of the
# approximation gap is the Gaussian family's; both families get the same number of Adam steps,
# so what the flow gains is not more optimization.

# %%
n_gap = 10 if QUICK else 50  # AIS costs ~ steps x chains x (leapfrog + 1) decodes
x_gap = x_eval[:n_gap]
gap_gen = torch.Generator(device=device).manual_seed(SEED + 7)
with torch.no_grad():
    mu_enc, lv_enc = run.model._encode(x_gap)
elbo_enc = inference_gaps.gaussian_elbo(run.model, x_gap, mu_enc, lv_enc, samples=1000,
                                        generator=gap_gen)
local = inference_gaps.local_gaussian_posteriors(run.model, x_gap, max_steps=300 if QUICK else 2000,
                                                 tol=None, generator=gap_gen)
elbo_star = local.elbo(run.model, x_gap, samples=1000, generator=gap_gen)
local_flow = inference_gaps.local_gaussian_posteriors(  # 4 planar layers on top of q*
    run.model, x_gap, max_steps=300 if QUICK else 2000, tol=None, flow_layers=4, start=local,
    generator=gap_gen)
elbo_flow = local_flow.elbo(run.model, x_gap, samples=1000, generator=gap_gen)
k_gap = 1000 if QUICK else 5000
iwae_gap = iwae_per_example(run.model, x_gap, k_gap, generator=gap_gen).double().cpu()
ais_real = ais_bounds(run.model, x_gap, steps=200 if QUICK else 500,
                                     chains=4 if QUICK else 8, leapfrog=5 if QUICK else 10,
                                     generator=gap_gen, progress=PROGRESS)
ais_gap = ais_real.lower.estimate.estimate.cpu()
amortization = monte_carlo_mean(elbo_star.cpu() - elbo_enc.cpu())
approximation = monte_carlo_mean(ais_gap - elbo_star.cpu())
ais_vs_iwae = monte_carlo_mean(ais_gap - iwae_gap)
iwae_vs_star = monte_carlo_mean(iwae_gap - elbo_flow.cpu())
flow_vs_star = monte_carlo_mean(elbo_flow.cpu() - elbo_star.cpu())
print(f"{n_gap} test images, q* after {local.steps} steps; AIS acceptance "
      f"{ais_real.lower.acceptance:.2f}")
log.at_least("MNIST VAE: ELBO(q*) above the encoder's ELBO (z-score, paired per image)",
             "training", amortization.z_score(0.0).item(), 4.0, "paired per image",
             kind="statistical", against="0: the encoder's ELBO (the amortization gap)", unit="SE")
log.at_least("MNIST VAE: the per-example flow's ELBO not below the Gaussian q*'s (z-score, "
             "paired per image)", "training", flow_vs_star.z_score(0.0).item(), -4.0,
             "it starts at q* (identity layers); paired per image", kind="statistical",
             against="0: ELBO(q*), Gaussian", unit="SE")
log.at_least(f"MNIST VAE: IWAE-{k_gap} above the flow ELBO(q*) (z-score, paired per image)",
             "training", iwae_vs_star.z_score(0.0).item(), -4.0, "paired per image",
             kind="statistical", against="0: ELBO(q*), flow", unit="SE")
log.at_least(f"MNIST VAE: AIS log p(x) not below IWAE-{k_gap} (z-score, paired per image)",
             "training", ais_vs_iwae.z_score(0.0).item(), -4.0, "paired per image",
             kind="statistical", against=f"0: IWAE-{k_gap}", unit="SE")

# %%
gap_bounds = {"ELBO, encoder q": elbo_enc, "ELBO, optimized Gaussian q*": elbo_star,
              "ELBO, optimized flow q*": elbo_flow, f"IWAE-{k_gap}": iwae_gap,
              "AIS log p(x)": ais_gap}
gap_table = {name: (v.mean().item(), v.std().item() / math.sqrt(len(v)))
             for name, v in gap_bounds.items()}
gaps_nats = {name: (r.estimate.item(), r.stderr.item()) for name, r in (
    ("amortization gap", amortization), ("approximation gap", approximation),
    ("of it, closed by the flow", flow_vs_star), (f"AIS − IWAE-{k_gap}", ais_vs_iwae))}
display(Markdown("| bound | nats per image | | gap | nats (paired ± SE) |\n|---|---:|---|---|---:|\n"
                 + "\n".join(f"| {n} | {m:.2f} ± {se:.2f} | | {g} | {v.estimate:.2f} ± "
                             f"{v.stderr:.2f} |" for (n, (m, se)), (g, v) in zip(
                                 gap_table.items(), (("amortization", amortization),
                                                     ("approximation (Gaussian)", approximation),
                                                     ("flow q* − Gaussian q*", flow_vs_star),
                                                     ("IWAE − flow q*", iwae_vs_star),
                                                     (f"AIS − IWAE-{k_gap}", ais_vs_iwae)),
                                 strict=True))))
show(figures.gaps.plot_bound_ladder(gap_table, gaps_nats,
                                    f"The bounds of the trained VAE ({n_gap} test images)"),
     "bound_ladder",
     f"Of the encoder's {amortization.estimate + approximation.estimate:.1f} nats below "
     f"log p(x), {amortization.estimate:.1f} are the amortization gap (the encoder) and "
     f"{approximation.estimate:.1f} the approximation gap (the Gaussian family).")

# %% [markdown]
# Is our reported $\log p(x)$ — the importance-sampled IWAE-$k$ — itself close to the truth? On
# images simulated from the model, where each image's latent is an exact posterior sample, AIS
# and reverse AIS sandwich $\log p(x)$, and IWAE-$k$ is held against the sandwich.

# %%
n_sim = 10 if QUICK else 50
x_sim, z_sim = inference_gaps.simulate(run.model, n_sim, trainer.spec.latent, generator=gap_gen)
sim = ais_bounds(run.model, x_sim, steps=200 if QUICK else 500,
                                chains=4 if QUICK else 8, leapfrog=5 if QUICK else 10,
                                z_posterior=z_sim, generator=gap_gen, progress=PROGRESS)
sim_lo, sim_up = sim.lower.estimate.estimate.cpu(), sim.upper.estimate.estimate.cpu()
sim_iwae = iwae_per_example(run.model, x_sim, k_gap, generator=gap_gen).double().cpu()
bracket = monte_carlo_mean(sim_up - sim_lo)
below = monte_carlo_mean(sim_lo - sim_iwae)
print(f"simulated images: BDMC bracket {bracket.estimate:.3f} ± {bracket.stderr:.3f} nats wide; "
      f"IWAE-{k_gap} is {below.estimate:.3f} ± {below.stderr:.3f} nats below its lower end")
log.at_least("simulated data: reverse AIS above forward AIS (z-score of the mean bracket width)",
             "training", bracket.z_score(0.0).item(), -4.0, "stochastic bounds; paired per image",
             kind="statistical", against="0: an empty bracket", unit="SE")

# %% [markdown]
# **An amortized flow.** The per-example flow above needed hundreds of optimizer steps per image.
# Trained with the model instead (`elbolab train --posterior flow`), the encoder outputs the
# four planar layers for each image alongside the Gaussian, and the ELBO's KL term is sampled.
# The same model, data, seed and epochs as the Gaussian VAE above; both scored on the same test
# images, paired.

# %%
flow_run = Trainer.from_config(
    dataclasses.replace(train_cfg, posterior="flow", flow_layers=4),
    Path(OUT_DIR) / "runs" / "part4_flow", train=train_data, test=test_data,
    progress=PROGRESS).fit(overwrite=True)
flow_gen = torch.Generator(device=device).manual_seed(SEED + 9)
scores = {name: (per_example_elbo(m, x_eval, draws=10, generator=flow_gen)["elbo"],
                 iwae_per_example(m, x_eval, k_eval, generator=flow_gen).double().cpu())
          for name, m in (("Gaussian", run.model), ("flow", flow_run.model))}
for name, (e, ll) in scores.items():
    print(f"{name:>8} posterior: test ELBO {e.mean():.2f}, log p(x) (IWAE-{k_eval}) "
          f"{ll.mean():.2f} nats per image")
flow_gain = monte_carlo_mean(scores["flow"][1] - scores["Gaussian"][1])
flow_gap = monte_carlo_mean(scores["flow"][1] - scores["flow"][0])
print(f"log p(x), flow − Gaussian: {flow_gain.estimate:+.2f} ± {flow_gain.stderr:.2f} nats; the "
      f"flow VAE's log p(x) − ELBO: {flow_gap.estimate:.2f} ± {flow_gap.stderr:.2f}")
log.at_least("flow VAE: its IWAE-k log p(x) above its ELBO (z-score, paired per image)",
             "training", flow_gap.z_score(0.0).item(), 4.0, "paired per image",
             kind="statistical", against="0: its ELBO (the sampled-KL bound)", unit="SE")

# %% [markdown]
# ### A convolutional encoder and decoder
#
# The same ELBO, with other networks: the `conv` preset reads each image as a 28×28 grid and
# uses two 4×4 convolutions with stride 2 each way (32 and 64 channels, 258k parameters
# against the MLP's 653k). A convolution applies the same small filter at every position, so
# each weight learns from every part of every image: per epoch, the convolutional VAE reaches
# a lower −ELBO, measured below per test image (paired, with its standard error). Per second it
# may be slower — its products cost more arithmetic per image and it trains through autograd —
# the printout gives the seconds of this run. Same data, seed, optimizer and objective as the
# MLP run above.

# %%
log.section('Part 4: a convolutional VAE', 'p4.vae')
conv_epochs = 3
conv_trainer = Trainer.from_config(
    dataclasses.replace(train_cfg, preset="conv", epochs=conv_epochs),
    Path(OUT_DIR) / "runs" / "part4_conv", train=train_data, test=test_data, progress=PROGRESS)
conv_run = conv_trainer.fit(overwrite=True)
mlp_hist = run.history[:conv_epochs]
for h_mlp, h_conv in zip(mlp_hist, conv_run.history, strict=False):
    print(f"epoch {h_conv['epoch']}: test −ELBO MLP {h_mlp['test_loss']:7.2f} "
          f"({h_mlp['train_seconds']:.2f} s), conv {h_conv['test_loss']:7.2f} "
          f"({h_conv['train_seconds']:.2f} s)")
log.at_least("conv VAE: training improves the test ELBO (first minus last epoch, nats)",
             "training", conv_run.history[0]["test_loss"] - conv_run.history[-1]["test_loss"],
             5.0, kind="demonstration", against="the claimed improvement", unit="nats")
mlp_s = sum(h["train_seconds"] for h in mlp_hist)
conv_s = sum(h["train_seconds"] for h in conv_run.history)
print(f"{conv_epochs} epochs of training steps: MLP {mlp_s:.1f} s, conv {conv_s:.1f} s "
      f"(conv / MLP = {conv_s / mlp_s:.1f}x on {device})")
# %% [markdown]
# Which is better after the same three epochs? Both models' ELBO per test image (the mean of
# 10 draws of $z$) on the same binarized images, paired, with the standard error of the paired
# difference. (The full run trains the MLP longer, so it is rerun for three epochs.)

# %%
x_cmp = conv_trainer.data.test_x[:n_eval]
mlp_at_conv = Trainer.from_config(
    dataclasses.replace(train_cfg, epochs=conv_epochs),
    Path(OUT_DIR) / "runs" / "part4_example_short", train=train_data, test=test_data,
    progress=PROGRESS).fit(overwrite=True).model if conv_epochs != len(run.history) else run.model
conv_elbo, mlp_elbo = (per_example_elbo(
    m, x_cmp, draws=10, generator=torch.Generator(device=device).manual_seed(SEED + 11))["elbo"]
    for m in (conv_run.model, mlp_at_conv))
conv_vs_mlp = monte_carlo_mean(conv_elbo - mlp_elbo)
print(f"after {conv_epochs} epochs, conv ELBO − MLP ELBO = {conv_vs_mlp.estimate:.2f} ± "
      f"{conv_vs_mlp.stderr:.2f} nats per test image")
if train_data.name == "mnist":  # 28x28 images; the 8x8 digits fallback is too small for it
    log.at_least(f"conv VAE beats the MLP after {conv_epochs} epochs (z-score of the paired "
                 f"per-image ELBO difference)", "training", conv_vs_mlp.z_score(0.0).item(), 4.0,
                 "paired per image", kind="statistical",
                 against="0: the MLP's ELBO, paired per image", unit="SE")
show(figures.training.plot_runs_compared(
    {"MLP (example)": run.history, "conv": conv_run.history},
    title=f"Test −ELBO on {train_data.name}"), "training_mlp_vs_conv",
     f"After {conv_epochs} epochs the convolutional VAE's test ELBO is "
     f"{abs(conv_vs_mlp.estimate):.2f} ± {conv_vs_mlp.stderr:.2f} nats per image "
     f"{'above' if conv_vs_mlp.estimate > 0 else 'below'} the MLP's (paired), for "
     f"{conv_s / mlp_s:.1f}x its training time.")
x_show = conv_trainer.data.test_x[:16]
show(figures.training.plot_reconstructions(
    x_show.cpu().numpy(), reconstruct(conv_run.model, x_show).cpu().numpy(),
    conv_trainer.data.image_shape), "training_conv_reconstructions",
     f"The convolutional VAE's reconstructions of the same test images after {conv_epochs} "
     "epochs.")

# %% [markdown]
# ### Numerical stability, mapped
#
# Everything above is computed in log space, but "stable" has a range. Each core formula is
# swept over extreme but valid inputs — log-variances from −100 to 100, means up to $10^6$,
# logits up to $\pm10^4$, variances that differ by $10^{-12}$, log-weights shifted by $10^6$ —
# and held against an mpmath reference at 50 significant digits, value and gradient
# (`elbolab.parts.stability`). Beside each, the version a student writes from the formula
# sheet: $\sigma = \sqrt{e^{\log\sigma^2}}$, the KL through the variances, the Bernoulli
# log-likelihood through `sigmoid` with an $\varepsilon = 10^{-7}$ clamp, $\log(\mathrm{mean}(e^a))$,
# the ESS from the weights' sums. The error is relative, or *mixed* (absolute where the value
# is below 1) for values that cross zero, and for the Bernoulli log-likelihood, whose tiny
# values (a confident, correct pixel: $-e^{-\ell}$) are exact to an absolute eps, which is all
# an ELBO sum can use. What the map found in the library, and fixed: the
# Gaussian log-density and KL formed $1/\sigma^2$, which overflows float32 below
# $\log\sigma^2 = -88$ and turns $0\cdot\infty$ into NaN at $x = \mu$ (now the standardized
# residual $(x-\mu)e^{-(\log\sigma^2+\ln 2)/2}$); $e^r - 1 - r$ cancels for nearly equal
# variances (now a Taylor series below $|r| = 10^{-3}$ in float64 and $0.02$ in float32); the
# ESS subtracted two log-sums of size $2\max\log w$ (now shifted first); the 8-bit decoder
# subtracted nearly equal CDFs for bins much narrower than $\sigma$ (now the midpoint
# rule) and rounded float32 bin edges onto each other (now evaluated in float64).

# %%
log.section('Part 4: numerical stability, mapped', 'x.stability')
stability_cases = stability.default_cases(fine=not QUICK) + [
    stability.schedule_case(linear_schedule(1000)),
    stability.posterior_variance_case(linear_schedule(1000))]
stability_points = stability.stability_map(stability_cases)
safe_table = stability.safe_range_table(stability_cases, stability_points)
print(f"{'function':<30} {'sweep':<46} {'safe range':>22} {'float64':>9} {'float32':>9}")
for r in safe_table:
    lo, hi = r["safe_float64"]
    print(f"{r['function']:<30} {r['sweep'][:46]:<46} {f'[{lo:.3g}, {hi:.3g}]':>22} "
          f"{r['error_float64']:9.1e} {r['error_float32']:9.1e}")
ours_pts = [p for p in stability_points if p.implementation == "elbolab" and p.representable]
for dtype, tol in (("float64", 1e-12), ("float32", 1e-5)):
    worst = max(max(p.error, p.gradient_error or 0.0) for p in ours_pts
                if p.dtype == dtype and p.in_safe_range)
    log.at_most(f"elbolab {dtype} error in every documented safe range, value and gradient "
                f"(50-digit mpmath reference)", "elbo", worst, tol,
                f"a few hundred {dtype} ulp", kind="oracle",
                against="mpmath at 50 digits", unit="mixed error")
silent = sum(not p.finite or p.gradient_finite is False for p in ours_pts
             if p.dtype in ("float64", "float32"))
_ = log.at_most("elbolab NaN/inf where the true value or gradient is finite (float64, float32)",
                "elbo", silent, 0, "the mpmath reference is finite there", kind="oracle",
                against="mpmath at 50 digits (finite there)", unit="count")

# %% [markdown]
# The textbook versions fail where the text above says they do: each check below is one such
# point, measured.

# %%
def naive_point(function, sweep, dtype, parameter):
    return next(p for p in stability_points if p.implementation == "naive"
                and p.function == function and p.sweep.startswith(sweep) and p.dtype == dtype
                and p.parameter == parameter)


naive_failures = {
    "σ = √exp(logvar) at x = μ, logvar = 100, float32 (exp overflows: non-finite)":
        naive_point("gaussian_log_prob", "logvar, x = mean", "float32", 100.0),
    "KL via variances, logvar₁ − logvar₂ = 1e-12, float64 (relative error)":
        naive_point("gaussian_kl", "logvar₁ − logvar₂", "float64", 1e-12),
    "log(mean(exp(a))) at a shift of 1e4, float64 (non-finite)":
        naive_point("log_mean_exp", "shift", "float64", 1e4),
    "ε-clamped BCE at x = 1, logits = −1e4, float64 (relative error)":
        naive_point("bernoulli_log_prob", "logits, x = 1", "float64", -1e4),
    "ESS from the weights' sums at a shift of 1e6, float64 (non-finite)":
        naive_point("effective_sample_size", "shift", "float64", 1e6),
}
for claim, p in naive_failures.items():
    print(f"{claim}: value {p.value:.4g}, truth {p.reference:.4g}")
    if "non-finite" in claim:  # the value 1 records "non-finite"
        log.at_least(f"textbook formula fails: {claim}", "elbo", float(not p.finite), 1.0,
                     kind="demonstration", against="the true, finite value (mpmath)",
                     unit="(1 = yes)")
    else:
        log.at_least(f"textbook formula fails: {claim}", "elbo", p.error, 1e-3,
                     kind="demonstration", against="the true value (mpmath)", unit="mixed error")
naive_bad = sum(not p.finite for p in stability_points if p.implementation == "naive"
                and p.representable and p.dtype in ("float64", "float32"))
show(figures.stability.plot_stability_map(stability_points,
                                          dtypes=("float64", "float32", "bfloat16")),
     "stability_map",
     "Relative error against a 50-digit mpmath reference over extreme inputs: where the truth is "
     f"finite, elbolab's formulas return NaN/inf at {silent} points in float64 and float32, the "
     f"textbook versions at {naive_bad}.")

# %% [markdown]
# **Precision.** bfloat16 keeps 8 significant bits and float16 overflows at 65504. The same
# formulas in those precisions (printed below) lose two to three digits at best and whole
# answers at worst, and float16 cannot even hold $e^{\log\sigma^2}$ at moderate log-variances.
# That is why the trainer's `--precision bfloat16` runs only the matrix products in bfloat16
# and keeps every log-density, KL and optimizer update in float32.

# %%
for dtype in ("float64", "float32", "bfloat16", "float16"):
    pts = [p for p in stability_points if p.implementation == "elbolab" and p.dtype == dtype
           and p.representable and p.function in ("gaussian_log_prob", "gaussian_kl",
                                                  "standard_normal_kl", "bernoulli_log_prob")]
    worst = max(p.error for p in pts if p.finite)
    print(f"{dtype:>9}: worst error of the trainer's elementwise formulas {worst:.1e}, "
          f"non-finite at {sum(not p.finite for p in pts)} of {len(pts)} points")

# %% [markdown]
# **What the ε clamp costs on real data.** The clamped BCE caps each pixel's $-\log p$ at
# $-\log\varepsilon = 16.1$ nats, so it can change only the pixels whose decoder logit lies
# beyond $\pm\log\frac{1-\varepsilon}{\varepsilon} = \pm16.1$: there it reports too high a
# log-likelihood where the decoder is confidently wrong, and a slightly too low one where it is
# confidently right. Measured on the trained MNIST VAE's reconstructions of test images (decoder
# at the posterior mean), paired per image:

# %%
with torch.no_grad():
    mu_eval, _ = run.model.encoder(x_eval)
    logits_eval = run.model.decoder(mu_eval).double()
    exact_rec = elbolab.bernoulli_log_prob(x_eval.double(), logits_eval).sum(-1)
    naive_rec = stability.naive_bernoulli_log_prob(x_eval.double(), logits_eval).sum(-1)
clamp_bias = monte_carlo_mean(naive_rec - exact_rec)
saturated = (logits_eval.abs() > math.log((1 - 1e-7) / 1e-7)).double().mean().item()
print(f"clamped minus exact reconstruction term: {clamp_bias.estimate:+.2e} ± "
      f"{clamp_bias.stderr:.1e} nats per image ({n_eval} test images); {saturated:.1%} of the "
      f"pixels have |logit| beyond the clamp")

# %% [markdown]
# ### Edge cases and error conditions
#
# Bad input gets one clear error that names the argument (or the file) and says what was
# expected — never a silent NaN. Each call below is wrong on purpose; the error is caught and
# printed, as a user would read it.

# %%
log.section('Part 4: edge cases and error conditions', 'x.edge_cases')
bad_dir = Path(tempfile.mkdtemp()) / "mnist"
bad_dir.mkdir()
for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
    (bad_dir / name).write_bytes(gzip.compress(b"not an IDX file"))
bad_calls = {  # what is wrong: (the call, the name its error must contain)
    "a negative standard deviation": (
        lambda: kl.gaussian_kl_closed_form(0.0, -1.0, 0.0, 1.0), "sigma1"),
    "NaN input": (lambda: elbolab.gaussian_kl(torch.tensor([math.nan]), torch.zeros(1),
                                              torch.zeros(1), torch.zeros(1)), "mu1"),
    "a shape mismatch": (lambda: elbolab.bernoulli_log_prob(torch.zeros(3, 4), torch.zeros(5)),
                         "logits"),
    "pixel values outside [0, 1]": (
        lambda: TwoForcesAnalysis().analyze_beta_vae(torch.full((10, 4), 2.0)), "[0, 1]"),
    # a damaged data folder is refused, never replaced by the fallback data set
    "a corrupted data file": (lambda: load_dataset("mnist", "train", bad_dir.parent,
                                                   allow_download=False),
                              "train-images-idx3-ubyte.gz"),
}
named = 0
for what, (call, name) in bad_calls.items():
    try:
        call()
        print(f"{what}: no error (a bug)")
    except (TypeError, ValueError, DataError) as exc:
        named += name in str(exc)
        print(f"{what:<30} → {type(exc).__name__}: {exc}")
log.at_least("bad input raises a clear error naming its argument or file (of 5 cases)",
             "elbo", named, len(bad_calls), "each case must raise and name what is wrong",
             kind="identity", against="the number of bad-input cases", unit="count")

# %% [markdown]
# <a id="part-5"></a>
#
# ## Part 5 — The two forces: reconstruction against regularization
#
# The β-VAE loss $\mathcal L_\beta = D + \beta R$ weighs two forces:
# **distortion** $D = -\mathbb E_{q(z|x)}[\log p(x|z)]$ pulls the encoder toward codes that
# pin down $x$; **rate** $R = \mathrm{KL}(q(z|x)\,\|\,p(z))$ pulls every code toward the
# prior. Both are sums over dimensions (pixels, latent units) and means over the batch: that
# reduction is what makes $\beta = 1$ the ELBO, and makes $\beta$ the exchange rate between
# nats of rate and nats of distortion. For each $\beta$ the optimum minimizes $D + \beta R$:
# it sits where the rate–distortion curve has slope $-\beta$ (Alemi et al. 2018).
# $\beta = 0$ is an autoencoder with noise (rate is free), large $\beta$ collapses latent units
# onto the prior. All five models below are trained **at once**: their weights are stacked and
# one batched product per layer trains them all, with the same minibatches and noise that five
# separate runs with one seed would see. As in Part 4 the pixels are binarized (dynamically for
# training, once for the test set), so that the −ELBO and log p(x) are likelihoods.

# %%
log.section('Part 5: the beta trade-off', 'p5.tradeoff')
betas = [0.0, 0.1, 1.0, 5.0, 10.0]
analysis = TwoForcesAnalysis(epochs=10 if QUICK else 30, k_eval=100 if QUICK else 500,
                             device=str(device), seed=SEED, progress=PROGRESS)
tf = analysis.analyze_beta_vae(train_data.images[: 5000 if QUICK else 20_000], betas,
                               test_data=test_data.images[: 500 if QUICK else 1000])
print(f"{len(betas)} models, {tf.meta['n_train']} training images, {analysis.config.epochs} "
      f"epochs: {tf.meta['seconds']:.1f} s for the whole sweep "
      f"({tf.meta['train_seconds']:.1f} s of training steps)")
display(Markdown(tf.to_markdown()))

# %% [markdown]
# The two forces, measured on the same test images for every β, so that each comparison is
# paired per image and its standard error is that of a paired difference: the rate (KL) falls
# and the distortion (−reconstruction) rises with β; β = 0 spends many nats; β = 1, the ELBO
# itself, has the best test ELBO; the importance-sampled log p(x) lies above every ELBO.
#
# Two ways to count the units a model uses: **active** units in the sense of Burda et al.
# (2015), whose posterior mean moves with the data ($\operatorname{Var}_x\mathbb E_q[z_j] >
# 0.01$), and units that **carry information**, whose KL to the prior exceeds 0.1 nat on
# average. A unit can move its mean a little and still carry almost nothing: large β first
# drains the information, and only later stops the means moving.

# %%
per = tf.per_example
rates = [r["kl"] for r in tf.rows]
dists = [-r["reconstruction"] for r in tf.rows]
rate_steps = [monte_carlo_mean(hi["kl"] - lo["kl"]) for lo, hi in zip(per, per[1:], strict=False)]
dist_steps = [monte_carlo_mean(lo["reconstruction"] - hi["reconstruction"])
              for lo, hi in zip(per, per[1:], strict=False)]
log.at_most("rate non-increasing in beta (largest z-score of a rise between neighbours)",
            "two_forces", max(r.z_score(0.0).item() for r in rate_steps), 4.0,
            "paired per test image", kind="statistical",
            against="0: the neighbouring beta, paired per image", unit="SE")
log.at_least("distortion non-decreasing in beta (smallest z-score of a step between neighbours)",
             "two_forces", min(r.z_score(0.0).item() for r in dist_steps), -4.0,
             "paired per test image", kind="statistical",
             against="0: the neighbouring beta, paired per image", unit="SE")
log.at_least("beta = 0 behaves as an autoencoder: rate(0) / rate(1)", "two_forces",
             rates[0] / rates[2], 3.0, kind="demonstration",
             against="the rate at beta = 1", unit="ratio")
open_units = [r["informative_units"] for r in tf.rows]
print("units carrying > 0.1 nat per β:", dict(zip(betas, open_units, strict=True)),
      "  active units (Var μ > 0.01):", dict(zip(betas, [r["active_units"] for r in tf.rows],
                                                  strict=True)))
log.at_most(f"beta = {betas[-1]:g} drains units beta = 1 uses (units with KL > 0.1 nat: "
            f"beta = {betas[-1]:g} minus beta = 1, of {analysis.config.latent})", "two_forces",
            open_units[-1] - open_units[2], -3, kind="demonstration",
            against="the units open at beta = 1", unit="units")
best_z = min(monte_carlo_mean(per[2]["elbo"] - p["elbo"]).z_score(0.0).item()
             for k, p in enumerate(per) if k != 2)
log.at_least("beta = 1, the ELBO itself, has the best test ELBO (smallest z-score of ELBO(1) - "
             "ELBO(beta))", "two_forces", best_z, 4.0, "paired per test image",
             kind="statistical", against="0: the other betas, paired per image", unit="SE")
gap_z = min(monte_carlo_mean(p["log_px"] - p["elbo"]).z_score(0.0).item() for p in per)
log.at_least("importance-sampled log p(x) >= ELBO for every beta (smallest z-score of the "
             "paired gap)", "two_forces", gap_z, -4.0,
             "paired per test image: the SE of the mean gap, not the spread of log p(x)",
             kind="statistical", against="0: the ELBO, paired per image", unit="SE")

# %% [markdown]
# **The slope −β.** Each model minimizes $D + \beta R$, so if it reached the optimum no other
# model's point can do better at its β: $D_i + \beta_i R_i \le D_j + \beta_i R_j$. For
# neighbours $\beta_i < \beta_{i+1}$ that puts the chord's slope between them,
# $-\beta_{i+1} \le (D_{i+1} - D_i)/(R_{i+1} - R_i) \le -\beta_i$: the curve is convex and
# its tangent at $\beta$ has slope $-\beta$.

# %%
chords = [(dists[i + 1] - dists[i]) / (rates[i + 1] - rates[i]) for i in range(len(betas) - 1)]
for i, c in enumerate(chords):
    print(f"β {betas[i]:g} → {betas[i + 1]:g}: chord slope {c:8.3f}  (between "
          f"{-betas[i + 1]:g} and {-betas[i]:g})")
outside = max(max(-betas[i + 1] - c, c + betas[i], 0.0) for i, c in enumerate(chords))
if train_data.name == "mnist":  # the 8x8 digits fallback's short runs stop short of the optima
    log.at_most("rate-distortion chords between neighbours have slopes in [-beta_(i+1), "
                "-beta_i] (largest excursion)", "two_forces", outside, 0.0,
                "exact for optimal models; trained ones must get there", kind="demonstration",
                against="the slopes -beta_(i+1) and -beta_i", unit="slope")

# %% [markdown]
# **The forces themselves.** On the encoder's parameters $\phi$ the distortion pulls with
# $\nabla_\phi D$ and the rate with $\beta\nabla_\phi R$; at a stationary point of
# $D + \beta R$ they cancel exactly (equal norms, cosine −1). Measured on 2,000 training images
# (one reparameterized sample each) for every trained β:

# %%
x_forces = binarize(train_data.images[:2000].to(device),
                    torch.Generator(device=device).manual_seed(SEED))
forces = [encoder_forces(m, x_forces, b, generator=torch.Generator(device=device).manual_seed(SEED))
          for b, m in zip(betas, tf.run.models, strict=True)]
for f in forces:
    print(f"β = {f['beta']:>4g}: |∇D| = {f['distortion_norm']:7.2f}, |β∇R| = "
          f"{f['rate_norm']:7.2f}, |sum| = {f['total_norm']:7.2f}, cos = {f['cosine']:+.3f}")
log.at_most("the two forces oppose each other for every beta > 0 (largest cosine)", "two_forces",
            max(f["cosine"] for f in forces if f["beta"] > 0), 0.0, kind="demonstration",
            against="0: orthogonal forces", unit="cosine")
show(figures.two_forces.plot_encoder_forces(forces), "two_forces_encoder_forces",
     "On the encoder, the distortion gradient and the β-weighted rate gradient pull against each "
     f"other for every β > 0 (largest cosine {max(f['cosine'] for f in forces if f['beta'] > 0):+.2f}).")

# %%
captions = {
    "two_forces_rate_distortion": f"From β = 0 to β = {betas[-1]:g} the rate falls from {rates[0]:.1f} "
    f"to {rates[-1]:.1f} nats while the distortion rises from {dists[0]:.1f} to {dists[-1]:.1f}.",
    "two_forces_kl_per_dim": f"KL per latent unit: β = {betas[-1]:g} leaves {open_units[-1]} units "
    f"with more than 0.1 nat, β = 1 uses {open_units[betas.index(1.0)]}.",
    "two_forces_learning_curves": "Rate and distortion of each β on the test set, epoch by epoch: "
    f"at the last epoch the rates run from {rates[0]:.1f} nats (β = 0) to {rates[-1]:.1f} "
    f"(β = {betas[-1]:g}).",
    "two_forces_images": f"Reconstructions and prior samples per β: as β grows to {betas[-1]:g}, "
    f"reconstructions blur (distortion {dists[0]:.0f} → {dists[-1]:.0f} nats).",
    "two_forces_traversals": "One latent unit moved at a time: only the units that still carry "
    "KL change the image.",
}
for name, fig in figures.two_forces.two_forces_figures(tf, tf.pictures(seed=SEED)).items():
    show(fig, name, captions[name])

# %% [markdown]
# Read the table and figures together: moving down the table, each step up in β trades nats of
# rate for nats of distortion at the exchange rate β — the rate–distortion plane shows the
# points on a convex curve; β = 0 buys a low distortion with a rate no model needs; the
# reconstructions and prior samples show the same trade in pictures; the traversals show
# which units still move the image; the KL per unit shows the information draining out of the
# units (the "units with KL > 0.1 nat" column). The checks below make each
# of these statements a number.

# %% [markdown]
# ### All β at once equals one β at a time
#
# The same sweep, sequentially with the same seed, on a small problem: the stacked run must
# reproduce every model up to floating-point rounding.

# %%
log.section('Part 5: all beta at once', 'p5.tradeoff', 'x.theory_practice')
x = train_data.images[:600].to(device)
cfg = SweepConfig(betas=(0.0, 1.0, 10.0), hidden=(32,), latent=4, epochs=2, batch_size=64,
                  seed=SEED, device=str(device))
vec = train_sweep(x[:500], x[500:], cfg)
seq = train_sweep(x[:500], x[500:], dataclasses.replace(cfg, vectorized=False))
max_diff = max((a - b).abs().max().item() for mv, ms in zip(vec.models, seq.models, strict=True)
               for a, b in zip(mv.state_dict().values(), ms.state_dict().values(), strict=True))
print(f"largest parameter difference, vectorized vs sequential: {max_diff:.2e}")
log.at_most("vectorized sweep = sequential training, same seeds (max parameter difference)",
            "two_forces", max_diff, 1e-4,
            "float32 rounding of batched vs single products, amplified by ~16 Adam steps",
            kind="identity", against="sequential training with the same seeds", unit="abs. error")

# %% [markdown]
# ### Beyond a fixed β: warm-up, free bits, capacity
#
# Three ways to manage the rate force while training, as options of the same trainer
# (`Objective`): **KL warm-up** ramps β from 0 (Bowman et al. 2016; Sønderby et al. 2016),
# **free bits** stops pushing a unit's KL down once it is below λ nats (Kingma et al. 2016),
# **capacity annealing** steers the KL toward a target C that rises during training with a
# penalty γ|KL − C| (Burgess et al. 2018). Here at β = 5, where the plain objective squeezes
# the rate hard.

# %%
log.section('Part 5: warm-up, free bits, capacity', 'p5.objectives', 'x.theory_practice')
# the images actually there (the offline 8×8 digits fallback has fewer than asked for), so
# that the schedules below end half way through training whatever the data set
n_train = min(3000 if QUICK else 10_000, len(train_data.images))
cfg = SweepConfig(betas=(5.0,), epochs=8 if QUICK else 20, seed=SEED, device=str(device))
half_way = -(-n_train // cfg.batch_size) * cfg.epochs // 2  # optimizer steps
capacity_target = 15.0
objectives = {
    "β = 5": Objective("beta"),
    "β = 5, warm-up": Objective("warmup", warmup_steps=half_way),
    "β = 5, free bits λ = 1": Objective("free_bits", free_bits=1.0),
    f"capacity C → {capacity_target:g}": Objective(
        "capacity", capacity=capacity_target, capacity_steps=half_way, gamma=100.0),
}
runs = {name: train_sweep(train_data.images[:n_train], test_data.images[:500],
                          dataclasses.replace(cfg, objective=objective), progress=PROGRESS)
        for name, objective in objectives.items()}
final = {name: r.history[0][-1] for name, r in runs.items()}
for name, h in final.items():
    print(f"{name:>24}: rate {h['test_kl']:6.2f}  distortion {-h['test_reconstruction']:7.2f} "
          f"nats")
cap_rate = final[f"capacity C → {capacity_target:g}"]["test_kl"]
log.at_most("capacity annealing reaches its target C (|rate - C| / C)", "two_forces",
            abs(cap_rate - capacity_target) / capacity_target, 0.25, kind="demonstration",
            against="the target capacity C", unit="rel. error")
log.at_least("free bits raise the rate over plain beta = 5 (nats)", "two_forces",
             final["β = 5, free bits λ = 1"]["test_kl"] - final["β = 5"]["test_kl"], 0.5,
             kind="demonstration", against="the rate of plain beta = 5", unit="nats")

# %% [markdown]
# The schedules themselves, step by step, against the papers' formulas written out again
# here — warm-up $\beta\min(1, t/T)$, free bits $\beta\sum_j\max(\lambda, \mathrm{KL}_j)$,
# capacity $\gamma|\mathrm{KL} - C\min(1, t/T)|$ — and the per-unit weights the trainer uses
# against autograd's derivative of each penalty.

# %%
kl_probe = torch.tensor([[0.3, 1.7, 0.02, 4.0]], dtype=torch.float64)
beta_probe = torch.tensor([5.0], dtype=torch.float64)
T_probe = 100
papers = {
    "beta": lambda k, t: 5.0 * k.sum(),
    "warmup": lambda k, t: 5.0 * min(1.0, t / T_probe) * k.sum(),
    "free_bits": lambda k, t: 5.0 * sum(max(1.0, v) for v in k.tolist()),
    "capacity": lambda k, t: 100.0 * abs(k.sum().item() - 15.0 * min(1.0, t / T_probe)),
}
objective_err = 0.0
for kind_name, formula in papers.items():
    obj = Objective(kind_name, warmup_steps=T_probe, free_bits=1.0, capacity=15.0,
                    capacity_steps=T_probe, gamma=100.0)
    for t in (0, 1, 37, 99, 100, 101, 250):
        k = kl_probe.clone().requires_grad_(True)
        weights, penalty = obj.kl_weights(k, beta_probe, t)
        (grad,) = torch.autograd.grad(penalty.sum(), k)
        objective_err = max(objective_err, abs(penalty.item() - float(formula(kl_probe[0], t))),
                        (torch.as_tensor(weights).reshape(-1).expand(4) - grad[0]).abs().max()
                        .item())
log.at_most("objectives' penalties = the papers' formulas, weights = their derivatives (max "
            "error over 4 objectives x 7 steps)", "two_forces", objective_err, 1e-12, "float64",
            kind="oracle", against="the papers' formulas and their derivatives", unit="abs. error")

# %%
steps_per_epoch = -(-n_train // cfg.batch_size)
epochs_axis = np.arange(1, cfg.epochs + 1)
c_schedule = capacity_target * np.minimum(1.0, epochs_axis * steps_per_epoch / half_way)
show(figures.two_forces.plot_rd_learning_curves(
    list(runs), [r.history[0] for r in runs.values()], title="Objectives: ",
    target=(epochs_axis, c_schedule, "target C·min(1, t/T)")), "two_forces_objectives",
     f"At β = 5, capacity annealing steers the rate to {cap_rate:.1f} nats (target "
     f"{capacity_target:g}), free bits hold it "
     f"{final['β = 5, free bits λ = 1']['test_kl'] - final['β = 5']['test_kl']:.1f} nats above plain "
     f"β = 5, and warm-up ends where plain β = 5 ends.")
plain = final["β = 5"]
log.at_most("warm-up ends where plain beta = 5 ends (|rate difference|, nats)", "two_forces",
            abs(final["β = 5, warm-up"]["test_kl"] - plain["test_kl"]), 1.0,
            kind="demonstration", against="the rate of plain beta = 5", unit="nats")
cap = final[f"capacity C → {capacity_target:g}"]
if train_data.name == "mnist":  # an MNIST outcome; on the 8x8 digits the trade differs
    log.at_least("capacity buys rate with worse distortion than plain beta = 5 (distortion "
                 "difference, nats)", "two_forces",
                 plain["test_reconstruction"] - cap["test_reconstruction"], 0.0,
                 kind="demonstration", against="the distortion of plain beta = 5", unit="nats")

# %% [markdown]
# Read the printout and the curves: warm-up only delays the rate force, and once β is back to
# 5 the run ends within a nat of plain β = 5 — at this budget it changes almost nothing. Free
# bits keeps each unit's KL near λ, buying rate for lower distortion. Capacity annealing does
# reach its target rate, but γ|KL − C| pushes the rate up whether or not the decoder can use
# it: the distortion ends *worse* than plain β = 5 at several times the rate — a bad trade
# here, which is why Burgess et al. tune C and γ per dataset.

# %% [markdown]
# ### Toward diffusion
#
# A VAE's encoder is a learned compromise between the two forces. A diffusion model takes the
# rate side out of the learning problem: its "encoder" $q(x_t|x_{t-1})$ is fixed, so the rate of
# its last latent, $L_T = \mathrm{KL}(q(x_T|x_0)\,\|\,p(x_T))$, depends only on $x_0$ and the
# schedule — there is nothing in it to learn. The KLs between latent transitions,
# $L_1,\dots,L_{T-1}$, are rate-like terms that only the decoder can lower, and $L_0$ is the
# distortion. The next section shows that bound, term by term, with the same Gaussian KL.

# %% [markdown]
# <a id="diffusion"></a>
#
# ## From the ELBO to diffusion
#
# **VAE.** One latent, a learned encoder: $\log p(x) \ge \mathbb E_{q(z|x)}[\log p(x|z)] -
# \mathrm{KL}(q(z|x)\,\|\,p(z))$.
#
# **Hierarchical VAE.** A chain of latents $x_1,\dots,x_T$ with a Markov encoder
# $q(x_{1:T}|x_0)=\prod_t q(x_t|x_{t-1})$ and decoder $p(x_{0:T}) = p(x_T)\prod_t
# p_\theta(x_{t-1}|x_t)$. Jensen's inequality, exactly as in Part 3, gives
# $\log p_\theta(x_0) \ge \mathbb E_q\big[\log p(x_{0:T}) - \log q(x_{1:T}|x_0)\big]$.
#
# **Diffusion.** Fix the encoder: $q(x_t|x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1},
# \beta_t I)$ has no parameters, and its marginals are closed form,
# $q(x_t|x_0)=\mathcal N(\sqrt{\bar\alpha_t}x_0,(1-\bar\alpha_t)I)$. Bayes' rule conditioned on
# $x_0$, $q(x_t|x_{t-1}) = q(x_{t-1}|x_t,x_0)\,q(x_t|x_0)/q(x_{t-1}|x_0)$, makes the ratio
# telescope, and the bound becomes
#
# $$-\log p_\theta(x_0) \le \underbrace{\mathrm{KL}(q(x_T|x_0)\|p(x_T))}_{L_T}
# + \sum_{t=2}^{T}\underbrace{\mathbb E_{q(x_t|x_0)}\mathrm{KL}\big(q(x_{t-1}|x_t,x_0)\,\|\,
# p_\theta(x_{t-1}|x_t)\big)}_{L_{t-1}}
# \;\underbrace{-\,\mathbb E_{q(x_1|x_0)}\log p_\theta(x_0|x_1)}_{L_0}.$$
#
# Each $L_{t-1}$ is a KL between two Gaussians — the same `gaussian_kl` the VAE uses — because
# the posterior is Gaussian (Ho et al. 2020, Eqs. 6–7):
# $$q(x_{t-1}\mid x_t,x_0)=\mathcal N(\tilde\mu_t,\tilde\beta_t I),\quad
# \tilde\mu_t=\frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}x_0
#   +\frac{\sqrt{\alpha_t}(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}x_t,\quad
# \tilde\beta_t=\frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t .$$
# $L_T$ is the VAE's rate term with nothing to learn, $L_0$ its reconstruction. Where the VAE
# balances two forces with a learned encoder, diffusion fixes the encoder and spends all its
# capacity on the decoder.
#
# **From $L_{t-1}$ to ε-prediction.** With $p_\theta(x_{t-1}\mid x_t)=\mathcal N(\mu_\theta,
# \sigma_t^2I)$ and fixed $\sigma_t$, the KL of two Gaussians leaves only the means:
# $L_{t-1}=\frac{1}{2\sigma_t^2}\,\mathbb E\lVert\tilde\mu_t-\mu_\theta(x_t,t)\rVert^2+C$.
# Substituting $x_0=(x_t-\sqrt{1-\bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}$ into
# $\tilde\mu_t$ gives $\tilde\mu_t=\frac1{\sqrt{\alpha_t}}\big(x_t-\frac{\beta_t}{\sqrt{1-\bar
# \alpha_t}}\varepsilon\big)$; parameterizing $\mu_\theta$ the same way with a network
# $\varepsilon_\theta(x_t,t)$ turns the term into
# $L_{t-1}=\frac{\beta_t^2}{2\sigma_t^2\alpha_t(1-\bar\alpha_t)}\,\mathbb E\lVert\varepsilon-
# \varepsilon_\theta(x_t,t)\rVert^2+C$. Ho et al.'s $L_\text{simple}$ drops the weight:
# $\mathbb E_{t,x_0,\varepsilon}\lVert\varepsilon-\varepsilon_\theta(\sqrt{\bar\alpha_t}x_0+
# \sqrt{1-\bar\alpha_t}\,\varepsilon,\,t)\rVert^2$ — the loss the DDPM below trains on.

# %%
log.section('Diffusion: schedules, posterior, L_T', 'diffusion', 'x.connections')
linear, cosine = linear_schedule(1000), cosine_schedule(1000)
print(linear, cosine, sep="\n")
# the papers' schedules, written out again in numpy: Ho et al. (2020) Sec. 4 and Nichol &
# Dhariwal (2021) Eq. 17 (β clipped at 0.999), ᾱ_t = Π(1 − β_s)
t_grid = np.arange(1001) / 1000
f_cos = np.cos((t_grid + 0.008) / 1.008 * np.pi / 2) ** 2
paper_betas = {"linear": np.linspace(1e-4, 0.02, 1000),
               "cosine": np.minimum(1 - f_cos[1:] / f_cos[:-1], 0.999)}
sched_err = max(max(np.abs(sch.betas[1:].numpy() - paper_betas[name]).max(),
                    np.abs(sch.alpha_bar[1:].numpy() / np.cumprod(1 - paper_betas[name]) - 1).max())
                for name, sch in (("linear", linear), ("cosine", cosine)))
log.at_most("noise schedules = the papers' equations in numpy (max error of beta_t and relative "
            "error of alpha-bar_t)", "diffusion", sched_err, 1e-10,
            "float64: a product of 1000 factors accumulates ~1e-13 relative", kind="oracle",
            against="the papers' equations in numpy", unit="mixed error")
show(figures.diffusion.plot_noise_schedules([linear, cosine]), "diffusion_schedules",
     f"The linear and cosine schedules, equal to the papers' equations to {sched_err:.0e}: the "
     "cosine schedule keeps more of the signal through the middle of the chain.")

# %% [markdown]
# The posterior $q(x_{t-1}|x_t,x_0)$ against Gaussian conditioning of $(x_{t-1}, x_t)|x_0$,
# written in numpy from the joint's moments.

# %%
ab = np.cumprod(np.concatenate([[1.0], 1 - paper_betas["linear"]]))
x0, xt = np.array([0.7, -1.2, 0.1]), np.array([0.3, 0.9, -2.0])
post_err = 0.0
for t in (2, 10, 100, 500, 1000):
    v_prev, v_t = 1 - ab[t - 1], 1 - ab[t]
    cov12 = np.sqrt(ab[t] / ab[t - 1]) * v_prev
    ref_mean = np.sqrt(ab[t - 1]) * x0 + cov12 / v_t * (xt - np.sqrt(ab[t]) * x0)
    mean_t, logvar_t = q_posterior(torch.tensor(x0), torch.tensor(xt), t, linear)
    post_err = max(post_err, np.abs(mean_t.numpy() - ref_mean).max(),
                   abs(np.exp(logvar_t[0].item()) / (v_prev - cov12**2 / v_t) - 1))
log.at_most("posterior q(x_{t-1}|x_t,x_0) = Gaussian conditioning (max error, float64)",
            "diffusion", post_err, 1e-9, "float64; the variance ratio near t = 1000 loses digits",
            kind="oracle", against="Gaussian conditioning in numpy", unit="abs. error")

# %% [markdown]
# $L_T$ on MNIST scaled to $[-1, 1]$. Ho et al. (2020) report about $10^{-5}$ bits/dim for
# their linear schedule on CIFAR-10 (Sec. 4); the printout gives the value measured here on
# MNIST (its pixels sit mostly at ±1, so $L_T$ is larger, 2.7e-5), and on uniform data.

# %%
x = test_data.images[: 1000 if QUICK else None].double() * 2 - 1
lt_bpd = prior_term(x, linear).mean().item() / (x.shape[1] * np.log(2))
lt_uniform = prior_term(torch.rand(500, 3072, generator=torch.Generator().manual_seed(SEED),
                                   dtype=torch.float64) * 2 - 1, linear).mean().item() / (
    3072 * np.log(2))
print(f"ᾱ_T = {linear.alpha_bar[-1]:.3g}; L_T = {lt_bpd:.2e} bits/dim on {test_data.name} "
      f"(mostly ±1 pixels), {lt_uniform:.2e} bits/dim on uniform [-1, 1] data")
log.at_most("L_T for the linear schedule, T = 1000 (bits/dim; Ho et al.: ~1e-5)", "diffusion",
            lt_bpd, 1e-4, "a published order of magnitude", kind="oracle",
            against="Ho et al. (2020): ~1e-5", unit="bits/dim")
log.between("L_T on uniform [-1, 1] data is about 1e-5 bits/dim (within 2x)", "diffusion",
            lt_uniform, 0.5e-5, 2e-5, "a published order of magnitude",
            kind="oracle", against="Ho et al. (2020): ~1e-5", unit="bits/dim")
# L_T = Σ_d KL(N(√ᾱ x, 1 − ᾱ) ‖ N(0, 1)) written out in numpy
ab_T = ab[-1]
x_np = x.numpy()
lt_numpy = 0.5 * (ab_T * x_np**2 - ab_T - np.log1p(-ab_T)).sum(-1)
log.at_most("L_T = the Gaussian KL written out in numpy (max rel. error)", "diffusion",
            np.abs(prior_term(x, linear).numpy() / lt_numpy - 1).max(), 1e-8,
            "float64; the numpy form cancels to ~1e-11 relative", kind="oracle",
            against="the Gaussian KL written out in numpy", unit="rel. error")

# %% [markdown]
# ### An exact test bed: Gaussian data
#
# For $x_0\sim\mathcal N(m,S)$ every marginal $q(x_t)$ is Gaussian, the best reverse mean of
# the DDPM family $p_\theta(x_{t-1}|x_t)=\mathcal N(\mu_\theta(x_t),\sigma_t^2 I)$ is linear in
# $x_t$, and so the model $p_\theta(x_0)$ is itself Gaussian: its exact log-likelihood and
# every term of the bound are closed forms (`GaussianTestBed`). Three choices of the fixed
# reverse variance: $\sigma_t^2=\beta_t$ and $\sigma_t^2=\tilde\beta_t$ (Ho et al. 2020), and
# the optimal isotropic variance of Analytic-DPM (Bao et al. 2022). We check
# ELBO ≤ exact $\log p_\theta(x_0)$ for every single $x_0$ (`bound.elbo`, the negative of Ho et
# al.'s summed losses `bound.total`), and watch the gap close as $T$ grows.

# %%
log.section('Diffusion: an exact test bed', 'diffusion', 'x.connections')
cov = torch.tensor([[1.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
mean = torch.tensor([0.5, -0.3], dtype=torch.float64)
Ts = [25, 100, 400] if QUICK else [25, 50, 100, 250, 1000]
x0 = GaussianTestBed(mean, cov, linear_schedule(25)).sample(
    500 if QUICK else 2000, torch.Generator().manual_seed(SEED))
gaps, profiles, worst = {}, {}, -np.inf
for variance in ("optimal", "beta", "posterior"):
    gap_by_T = []
    for T in Ts:
        testbed = GaussianTestBed(mean, cov, linear_schedule(T), variance)
        bound = testbed.bound_terms(x0)
        log_p = testbed.log_likelihood(x0)
        worst = max(worst, (bound.elbo - log_p).max().item())
        gap_by_T.append((log_p - bound.elbo).mean().item())
        if variance == "optimal":
            profiles[T] = bound.terms.mean(0).numpy()
    gaps[variance] = (Ts, gap_by_T)
    print(f"σ² {variance:>9}: gap log p_θ(x₀) − bound = "
          + ", ".join(f"{g:.4f} (T={T})" for T, g in zip(Ts, gap_by_T, strict=True)) + " nats")
data_nll = -GaussianTestBed(mean, cov, linear).data_log_prob(x0).mean()
print(f"−log q(x₀) (the data density): {data_nll:.4f} nats; −log p_θ(x₀) at T = {Ts[-1]}: "
      f"{-log_p.mean():.4f} nats")
log.at_most("test bed: ELBO <= exact log p_theta(x0) for every x0, T and variance "
            "(max of ELBO - exact)", "diffusion", worst, 1e-10,
            "Jensen, exact; float64 rounding of ~T terms", kind="identity",
            against="exact log p_theta(x0) (linear-Gaussian)", unit="nats")
shrink = gaps["optimal"][1][0] / gaps["optimal"][1][-1]
log.at_least(f"test bed: gap shrinks ~1/T (gap ratio T={Ts[0]} vs T={Ts[-1]}, optimal variance)",
             "diffusion", shrink, 0.5 * Ts[-1] / Ts[0], kind="demonstration",
             against="half the ratio of the T's (gap ~ 1/T)", unit="ratio")
log.at_least("test bed: optimal variance < beta < posterior (the smaller difference of "
             "neighbours' mean gaps at the largest T)", "diffusion",
             min(gaps["beta"][1][-1] - gaps["optimal"][1][-1],
                 gaps["posterior"][1][-1] - gaps["beta"][1][-1]), 0.0,
             "the optimal variance minimizes the bound (Bao et al. 2022)", kind="identity",
             against="the next variance's gap", unit="nats")

# %% [markdown]
# The generic estimator (one $x_t\sim q(x_t|x_0)$ per term, the core `gaussian_kl`) against
# the closed forms, for one $x_0$ and many draws.

# %%
testbed = GaussianTestBed(mean, cov, linear_schedule(25), "beta")
x_one = x0[:1].expand(20_000 if QUICK else 100_000, 2)
sampled = variational_bound(x_one, testbed.reverse, testbed.schedule,
                            generator=torch.Generator().manual_seed(SEED))
total_mc = monte_carlo_mean(sampled.total)
exact_total = testbed.bound_terms(x0[:1]).total.item()
print(f"sampled bound {total_mc.estimate:.4f} ± {total_mc.stderr:.4f} nats vs closed form "
      f"{exact_total:.4f}")
log.z_within("sampled bound (core gaussian_kl) = closed form (z-score)", "diffusion",
             total_mc.z_score(exact_total).item(), against="closed-form bound")
show(figures.diffusion.plot_diffusion_testbed(profiles, gaps), "diffusion_testbed",
     f"On Gaussian data, where log p_θ(x₀) is exact, the bound's gap shrinks like 1/T ({shrink:.0f}x "
     f"from T = {Ts[0]} to {Ts[-1]}), and the optimal variance gives the smallest gap.")

# %% [markdown]
# Read the printout: with $\sigma_t^2=\tilde\beta_t$ the gap stays above a nat even at the
# largest $T$ (hundreds of times the optimal variance's), while $-\log p_\theta(x_0)$ equals the
# data's $-\log q(x_0)$ to a few $10^{-4}$ nats. The model is right; the *bound* is slack. The
# gap is $\mathrm{KL}\big(q(x_{1:T}\mid x_0)\,\|\,p_\theta(x_{1:T}\mid x_0)\big)$, and
# $\tilde\beta_t$ — the reverse variance when $x_0$ is known — is too small for the true reverse
# step of spread-out data at small $t$ ($\tilde\beta_1 = 0$), so every path pays there. Ho et
# al. note the two fixed choices are the optima for a point mass ($\tilde\beta_t$) and for
# $\mathcal N(0,I)$ data ($\beta_t$); the optimal variance (Bao et al. 2022) closes the gap.

# %% [markdown]
# ### The decoder for 8-bit data
#
# Images are discrete: Ho et al.'s $L_0$ gives each pixel value the probability mass of its bin
# $[x-\frac1{255}, x+\frac1{255}]$ under the Gaussian, the end bins extended to $\pm\infty$,
# so the 256 probabilities sum to one and $L_0$ is a true negative log-probability (in
# bits/dim, comparable across models). Computed with `log_ndtr` in both tails.

# %%
log.section('Diffusion: the decoder for 8-bit data', 'diffusion')
grid = torch.arange(256, dtype=torch.float64) * 2 / 255 - 1
norm_err = max(
    abs(torch.logsumexp(discretized_gaussian_log_prob(
        grid, torch.tensor(mu, dtype=torch.float64), torch.tensor(lv, dtype=torch.float64)),
        0).item())
    for mu, lv in [(0.3, np.log(1e-2)), (0.999, np.log(1e-6)), (-0.2, np.log(4.0)),
                   (-1.0, np.log(1e-8))])
log.at_most("discretized decoder: the 256 bin probabilities sum to 1 (max |log sum|)",
            "diffusion", norm_err, 1e-12, "float64 rounding of a 256-term logsumexp",
            kind="identity", against="0: log 1", unit="nats")
print(f"max |log Σ p(bin)| = {norm_err:.1e}")

# %% [markdown]
# Summing to one is not enough — a wrong scale or a shifted bin also sums to one. Each bin's
# log-probability against the Gaussian CDF difference at 50 significant digits (mpmath):

# %%
mpmath.mp.dps = 50
bin_err = 0.0
for mu, lv in [(0.3, 1e-2), (0.999, 1e-6), (-0.2, 4.0), (-1.0, 1e-8)]:
    ours = discretized_gaussian_log_prob(grid, torch.tensor(mu, dtype=torch.float64),
                                         torch.tensor(np.log(lv), dtype=torch.float64))
    sd = mpmath.sqrt(mpmath.mpf(lv))
    for k in range(0, 256, 5):
        lo = -mpmath.inf if k == 0 else (mpmath.mpf(2 * k - 1) / 255 - 1 - mu) / sd
        hi = mpmath.inf if k == 255 else (mpmath.mpf(2 * k + 1) / 255 - 1 - mu) / sd
        ref_bin = float(mpmath.log(mpmath.ncdf(hi) - mpmath.ncdf(lo)))
        bin_err = max(bin_err, abs(ours[k].item() - ref_bin) / max(1.0, abs(ref_bin)))
log.at_most("discretized decoder: bin log-probabilities vs mpmath (max mixed error, 4 Gaussians x "
            "52 bins)", "diffusion", bin_err, 1e-12,
            "the stability map's float64 bound for this function (3e-14), with margin",
            kind="oracle", against="mpmath at 50 digits", unit="mixed error")

# %% [markdown]
# ### A trained diffusion model
#
# A DDPM (ε-prediction MLP, linear schedule, T = 1000, Ho et al.'s $L_\text{simple}$) on a ring
# of eight Gaussians. Its bound on the negative log-likelihood, $L = \sum_k L_k$ (`bound.total`,
# Ho et al.'s sign: a loss), estimated term by term on held-out points, can be held against
# the data's exact entropy: $\mathbb E[L] \ge \mathbb E[-\log p_\theta(x_0)] \ge H(q)$, so the
# excess $\mathbb E[L] - H(q)$ measures what the model has not yet learned plus the bound's own
# gap.

# %%
log.section('Diffusion: a trained DDPM', 'diffusion', 'x.connections')
ring = ring_mixture()
steps = 8000 if QUICK else 15000
x_train = ring.sample(20_000, torch.Generator().manual_seed(SEED))
ddpm = train_ddpm(x_train, steps=steps, seed=SEED, progress=PROGRESS)
x_test = ring.sample(1000 if QUICK else 2000, torch.Generator().manual_seed(SEED + 1))
bound = ddpm.model.bound(x_test.float(), torch.Generator().manual_seed(SEED + 2))
excess = monte_carlo_mean(bound.total.double() + ring.log_prob(x_test))
entropy = -ring.log_prob(x_test).mean().item()
mean_terms = bound.terms.double().mean(0)
print(f"{steps} steps in {ddpm.seconds:.1f} s. Bound {bound.total.mean():.3f} nats "
      f"= {bound.bits_per_dim():.3f} bits/dim "
      f"(L_0 {mean_terms[0]:.3f}, Σ L_(t-1) {mean_terms[1:-1].sum():.3f}, L_T "
      f"{mean_terms[-1]:.1e}); data entropy {entropy:.3f} nats; excess "
      f"{excess.estimate:.3f} ± {excess.stderr:.3f} nats")
log.at_least("trained DDPM: bound >= data entropy (z-score of the paired excess)", "diffusion",
             excess.z_score(0.0).item(), -4.0, "paired per test point", kind="statistical",
             against="0: the data entropy, paired per point", unit="SE")
log.at_most("trained DDPM: bound within this many nats of the data entropy", "diffusion",
            excess.estimate.item(), 0.5, kind="demonstration",
            against="the data entropy (exact)", unit="nats")
log.at_most("bits/dim of the bound = its mean in nats / (D ln 2), in numpy", "diffusion",
            abs(bound.bits_per_dim().item()
                - bound.total.double().numpy().mean() / (2 * np.log(2))), 1e-6,
            "float32 terms summed", kind="oracle",
            against="numpy: mean nats / (D ln 2)", unit="bits/dim")
samples = ddpm.model.sample(2000, 2, torch.Generator().manual_seed(SEED + 3))
sample_ll = ring.log_prob(samples.double()).mean().item()
log.at_least("DDPM samples lie on the data (mean log q(sample) minus mean log q(data), nats)",
             "diffusion", sample_ll + entropy, -0.5, kind="demonstration",
             against="the data's mean log-density", unit="nats")

# %% [markdown]
# Lying on the data is one side. Samples that all sit on one mode, or collapse onto the mode
# centres, would score *better* above. The other side: every mode gets its share (a χ² test
# of the counts of samples nearest each centre against the mixture's equal weights), and the
# samples spread around their centre as the data do (the median squared distance over
# $2s^2\ln 2$, which is 1 for the data's isotropic Gaussians of standard deviation $s$).

# %%
nearest_mode = torch.cdist(samples.double(), ring.means).argmin(1)
counts = torch.bincount(nearest_mode, minlength=len(ring.means)).numpy()
coverage = stats.chisquare(counts)
sq_dist = (samples.double() - ring.means[nearest_mode]).pow(2).sum(-1)
spread = (sq_dist.median() / (2 * ring.stds[0, 0] ** 2 * math.log(2))).item()
print(f"samples per mode {counts.tolist()} (χ² p = {coverage.pvalue:.3f}); spread / data "
      f"spread {spread:.2f}")
log.at_least("DDPM covers every mode (chi-square p-value of the counts per mode)", "diffusion",
             coverage.pvalue, 1e-3, "null: equal weights; 0.1% level", kind="statistical",
             against="the 0.1% level (chi-square, equal weights)", unit="p-value")
log.between("DDPM samples spread like the data (median squared distance / (2 s^2 ln 2))",
            "diffusion", spread, 0.5, 2.0, kind="demonstration",
            against="the data's spread (exact)", unit="ratio")
show(figures.diffusion.plot_ddpm_2d(x_train[:3000].numpy(), samples.numpy(),
                                    mean_terms.numpy(), ddpm.losses), "diffusion_ddpm_2d",
     f"A small DDPM trained for {steps:,} steps: its samples cover all {len(ring.means)} modes "
     f"(χ² p = {coverage.pvalue:.2f}) and its bound is {excess.estimate.item():.2f} nats above the "
     "data entropy.")

# %% [markdown]
# <a id="connections"></a>
#
# ## Connections
#
# The same objects run through the other families of generative models; for each, the one
# equation that ties it to this lab, and what would be measured to show it.
#
# - **Normalizing flows** make $\log p(x)$ tractable by change of variables,
#   $\log p(x) = \log p(z) + \log\lvert\det \partial z/\partial x\rvert$ with $z = f(x)$
#   invertible: no bound, no gap. Used as $q(z\mid x)$ in a VAE they shrink the Part 3 gap
#   $\mathrm{KL}(q\,\|\,p(z\mid x))$; measured by the ELBO gap of a flow posterior against the
#   Gaussian one on the same decoder.
# - **Autoregressive models** factor $p(x)=\prod_i p(x_i\mid x_{<i})$: an exact likelihood
#   again, in the same nats and bits/dim as Part 4's IWAE estimate — which makes the two
#   directly comparable on binarized MNIST.
# - **GANs** drop the likelihood: the original minimax game minimizes (at the optimal
#   discriminator) $2\,\mathrm{JS}(p_\text{data}\,\|\,p_\theta) - \log 4$, a symmetrized cousin
#   of the KLs of Part 2 that is mode-seeking in practice, like the reverse KL there;
#   measured by mode coverage on the ring of Gaussians, as for the DDPM above.
# - **Diffusion models** are the hierarchical VAE of the last section with the encoder fixed:
#   $-\log p_\theta(x_0)\le L_T+\sum_t L_{t-1}+L_0$, each term a Gaussian KL of Part 2;
#   measured above, term by term, against an exact likelihood.

# %% [markdown]
# <a id="verified"></a>
#
# ## What the lab verified

# %%
log.save(Path(OUT_DIR) / "metrics.json", quick=QUICK, device=str(device))
HTML(log.html())

# %% [markdown]
# <a id="checklist"></a>
#
# ## Appendix — the checklist
#
# Every item the lab must show, with the sections and the validations that cover it, generated
# from the records in `metrics.json` (each record names the items it serves): an item that no
# validation serves would read **MISSING** here.

# %%
HTML(appendix_html(json.loads((Path(OUT_DIR) / "metrics.json").read_text())["validations"]))
