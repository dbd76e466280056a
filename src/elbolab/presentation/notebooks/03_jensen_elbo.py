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
# # Chapter 3 — Jensen's inequality and the ELBO
#
# The handout's Part 3 (15 min) and the derivation its Part 4 builds on. After this chapter
# you will be able to
#
# - show $\mathbb E[\log X]\le\log\mathbb E[X]$ geometrically and measure its gap;
# - derive the ELBO from Jensen's inequality line by line, and prove numerically that the gap
#   $\log p(x)-\mathrm{ELBO}(q)$ is exactly $\mathrm{KL}(q\,\|\,p(z\mid x))$.
#
# (`JensenInequalityDemo` is this lab's own class: the handout names the demonstration, not a
# class for it.)

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%

import numpy as np
from torch.distributions import Normal

from elbolab import (
    IntractableLikelihoodDemo,
    JensenInequalityDemo,
    monte_carlo_mean,
)
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter

# %%
ch = Chapter("3", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device

# %% [markdown]
# <a id="part-3"></a>
#
#
# ## The picture
#
# For a concave function like $\log$, the curve lies above every chord. For a random
# $X > 0$ the point $(\mathbb E[X], \mathbb E[\log X])$ is an average of points on the curve, so
# it lies *below* the curve at $\mathbb E[X]$:
# $$\mathbb E[\log X] \;\le\; \log \mathbb E[X],$$
# with equality only when $X$ is constant [@jensen1906]. Below, four distributions of $X$ whose two sides
# are known exactly; the shaded bar is the gap (@fig:jensen_chords).

# %%
log.section("Jensen's inequality", 'p3.jensen')
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
# ## The gap grows with the spread of $X$
#
# For $X = e^{Y}$, $Y\sim\mathcal N(0,\sigma^2)$: $\mathbb E[\log X] = 0$ and
# $\log\mathbb E[X] = \sigma^2/2$, so the gap is exactly $\sigma^2/2$. A tighter $X$ means a
# tighter bound — the reason a good $q$ makes a tight ELBO (@fig:jensen_gap_vs_spread).

# %%
log.section('the Jensen gap and the spread of X', 'p3.jensen')
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
# ## From Jensen to the ELBO, step by step
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
# ## The identity, checked exactly
#
# In the linear-Gaussian model both sides have closed forms computed by different routes:
# the left from $\log p(x)$ and $\mathbb E_q\log p(x\mid z)$ and the KL to the *prior*; the right
# from the exact *posterior*. We compare them for many random full-covariance $q$.

# %%
log.section('the ELBO gap = KL to the posterior', 'p3.elbo', 'p3.gap')
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
# error bar of the closed form (@fig:elbo_gap_identity).

# %%
q0 = qs[0]
z_q, log_q = q0.rsample_with_log_prob(20_000, gen)
elbo_mc = monte_carlo_mean(demo.likelihood_given_z(x, z_q)
                           + Normal(0.0, 1.0).log_prob(z_q).sum(-1) - log_q)
log.z_within("Monte Carlo ELBO within 4 SE of the closed form (max |z| over x)", "jensen",
             elbo_mc.z_score(demo.exact_elbo(x, q0)).abs().max().item(), against="closed-form ELBO")
show(figures.jensen.plot_elbo_gap_identity(kls.numpy(), gaps.numpy(), factors, by_scale.mean(1).numpy()),
     "elbo_gap_identity",
     f"For {len(kls.reshape(-1))} pairs of q and x, log p(x) − ELBO(q) = KL(q ‖ p(z|x)) to a "
     f"relative {rel_id:.0e}; the gap vanishes only when q's scale is the posterior's.")

# %% [markdown]
# ## Try it
#
# - Add a law of your own to `jensen.default_variables()` — e.g. a Gamma with a small shape
#   parameter: the gap grows with the spread of $X$, as the log-normal's $\sigma^2/2$ does.
# - In the identity section, scale the exact posterior by 1.01: the gap becomes a small
#   positive KL, and the two routes still agree to ~1e-14.

# %%
ch.finish()
