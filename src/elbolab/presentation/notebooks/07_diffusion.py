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
# # Chapter 7 — The bridge to diffusion
#
# The handout's closing step: "prepare the foundation for understanding diffusion model
# mathematics". After this chapter you will be able to
#
# - derive the diffusion model's variational bound as a hierarchical VAE's ELBO with a fixed
#   encoder: a prior term, Gaussian KLs between posteriors and reverse steps, and a
#   reconstruction term;
# - check each piece (schedules, the forward posterior, $L_T$, the 8-bit decoder) against an
#   independent answer, and the whole bound against an exact likelihood;
# - train a small DDPM and read its bound against the data's entropy.

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
import math

import mpmath
import numpy as np
import torch
from scipy import stats

from elbolab import (
    GaussianTestBed,
    cosine_schedule,
    discretized_gaussian_log_prob,
    linear_schedule,
    monte_carlo_mean,
    train_ddpm,
    variational_bound,
)
from elbolab.diffusion import prior_term, q_posterior, ring_mixture
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter

# %%
ch = Chapter("7", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device
train_data, test_data = ch.load_data()

# %% [markdown]
# <a id="diffusion"></a>
#
#
# **VAE.** One latent, a learned encoder: $\log p(x) \ge \mathbb E_{q(z|x)}[\log p(x|z)] -
# \mathrm{KL}(q(z|x)\,\|\,p(z))$.
#
# **Hierarchical VAE.** A chain of latents $x_1,\dots,x_T$ with a Markov encoder
# $q(x_{1:T}|x_0)=\prod_t q(x_t|x_{t-1})$ and decoder $p(x_{0:T}) = p(x_T)\prod_t
# p_\theta(x_{t-1}|x_t)$. Jensen's inequality, exactly as in chapter 3, gives
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
# the posterior is Gaussian [@ho2020, Eqs. 6–7]:
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
# \varepsilon_\theta(x_t,t)\rVert^2+C$. The $L_\text{simple}$ of @ho2020 drops the weight:
# $\mathbb E_{t,x_0,\varepsilon}\lVert\varepsilon-\varepsilon_\theta(\sqrt{\bar\alpha_t}x_0+
# \sqrt{1-\bar\alpha_t}\,\varepsilon,\,t)\rVert^2$ — the loss the DDPM below trains on.

# %% [markdown]
# Two noise schedules: the linear one of @ho2020 (Sec. 4) and the cosine one of @nichol2021
# (Eq. 17), each held against the papers' equations written again in numpy (@fig:diffusion_schedules).

# %%
log.section('schedules, posterior, L_T', 'diffusion', 'x.connections')
linear, cosine = linear_schedule(1000), cosine_schedule(1000)
for sch in (linear, cosine):
    print(f"{sch.name}: T = {sch.T}, β_1 = {sch.betas[1]:.3g}, β_T = {sch.betas[-1]:.3g}, "
          f"ᾱ_T = {sch.alpha_bar[-1]:.3g}")
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
# $L_T$ on MNIST scaled to $[-1, 1]$. @ho2020 report about $10^{-5}$ bits/dim for
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
            lt_bpd, 1e-4, "a published order of magnitude, not an oracle", kind="demonstration",
            against="Ho et al. (2020): ~1e-5", unit="bits/dim")
log.between("L_T on uniform [-1, 1] data is about 1e-5 bits/dim (within 2x)", "diffusion",
            lt_uniform, 0.5e-5, 2e-5, "a published order of magnitude, not an oracle",
            kind="demonstration", against="Ho et al. (2020): ~1e-5", unit="bits/dim")
# L_T = Σ_d KL(N(√ᾱ x, 1 − ᾱ) ‖ N(0, 1)) written out in numpy
ab_T = ab[-1]
x_np = x.numpy()
lt_numpy = 0.5 * (ab_T * x_np**2 - ab_T - np.log1p(-ab_T)).sum(-1)
log.at_most("L_T = the Gaussian KL written out in numpy (max rel. error)", "diffusion",
            np.abs(prior_term(x, linear).numpy() / lt_numpy - 1).max(), 1e-8,
            "float64; the numpy form cancels to ~1e-11 relative", kind="oracle",
            against="the Gaussian KL written out in numpy", unit="rel. error")

# %% [markdown]
# ## An exact test bed: Gaussian data
#
# For $x_0\sim\mathcal N(m,S)$ every marginal $q(x_t)$ is Gaussian, the best reverse mean of
# the DDPM family $p_\theta(x_{t-1}|x_t)=\mathcal N(\mu_\theta(x_t),\sigma_t^2 I)$ is linear in
# $x_t$, and so the model $p_\theta(x_0)$ is itself Gaussian: its exact log-likelihood and
# every term of the bound are closed forms (`GaussianTestBed`). Three choices of the fixed
# reverse variance: $\sigma_t^2=\beta_t$ and $\sigma_t^2=\tilde\beta_t$ [@ho2020], and
# the optimal isotropic variance of Analytic-DPM [@bao2022]. We check
# ELBO ≤ exact $\log p_\theta(x_0)$ for every single $x_0$ (`bound.elbo`, the negative of the summed
# losses `bound.total` of @ho2020), and watch the gap close as $T$ grows (@fig:diffusion_testbed).

# %%
log.section('an exact test bed', 'diffusion', 'x.connections')
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
             "the optimal variance minimizes the bound (Bao et al. 2022); the order of the other two is "
             "this data set's, not a theorem", kind="demonstration",
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
# step of spread-out data at small $t$ ($\tilde\beta_1 = 0$), so every path pays there.
# @ho2020 note the two fixed choices are the optima for a point mass ($\tilde\beta_t$) and for
# $\mathcal N(0,I)$ data ($\beta_t$); the optimal variance [@bao2022] closes the gap.

# %% [markdown]
# ## The decoder for 8-bit data
#
# Images are discrete: the $L_0$ of @ho2020 gives each pixel value the probability mass of its bin
# $[x-\frac1{255}, x+\frac1{255}]$ under the Gaussian, the end bins extended to $\pm\infty$,
# so the 256 probabilities sum to one and $L_0$ is a true negative log-probability (in
# bits/dim, comparable across models). Computed with `log_ndtr` in both tails.

# %%
log.section('the decoder for 8-bit data', 'diffusion')
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
# ## A trained diffusion model
#
# A DDPM (ε-prediction MLP, linear schedule, T = 1000, the $L_\text{simple}$ of @ho2020) on a ring
# of eight Gaussians. Its bound on the negative log-likelihood, $L = \sum_k L_k$ (`bound.total`,
# the sign of @ho2020: a loss), estimated term by term on held-out points, can be held against
# the data's exact entropy: $\mathbb E[L] \ge \mathbb E[-\log p_\theta(x_0)] \ge H(q)$, so the
# excess $\mathbb E[L] - H(q)$ measures what the model has not yet learned plus the bound's own
# gap.
#
# Two numbers in the printout are negative, and both are right. The data are continuous, so
# their differential entropy $H(q) = -\mathbb E\log q(x_0)$ can be negative: the ring's modes
# are narrow, their density exceeds 1, and $\log q(x_0) > 0$. $L_0 = -\mathbb E\log
# p_\theta(x_0\mid x_1)$ is a density too, of a Gaussian whose variance $\beta_1 = 10^{-4}$ is
# tiny: its log-density at the truth is large and positive, so $L_0$ is negative. Only a bound
# on a *discrete* likelihood (bits/dim of 8-bit images, with the discretized decoder above) is
# bounded below by zero.

# %%
log.section('a trained DDPM', 'diffusion', 'x.connections')
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
# centres, would score *better* above. The other side: no mode is starved (a χ² test of the
# counts of samples nearest each centre against the mixture's equal weights, at the 0.1%
# level: it does not ask for equal shares, and a p-value of a few percent says the shares
# are somewhat uneven though every mode is populated), and the
# samples spread around their centre as the data do (the median squared distance over
# $2s^2\ln 2$, which is 1 for the data's isotropic Gaussians of standard deviation $s$);
# @fig:diffusion_ddpm_2d shows the samples over the data.

# %%
nearest_mode = torch.cdist(samples.double(), ring.means).argmin(1)
counts = torch.bincount(nearest_mode, minlength=len(ring.means)).numpy()
coverage = stats.chisquare(counts)
sq_dist = (samples.double() - ring.means[nearest_mode]).pow(2).sum(-1)
spread = (sq_dist.median() / (2 * ring.stds[0, 0] ** 2 * math.log(2))).item()
print(f"samples per mode {', '.join(map(str, counts.tolist()))} (χ² p = "
      f"{coverage.pvalue:.2g}); spread / data spread {spread:.2f}")
log.at_least("DDPM covers every mode (chi-square p-value of the counts per mode)", "diffusion",
             coverage.pvalue, 1e-3, "null: equal weights; 0.1% level", kind="statistical",
             against="the 0.1% level (chi-square, equal weights)", unit="p-value")
log.between("DDPM samples spread like the data (median squared distance / (2 s^2 ln 2))",
            "diffusion", spread, 0.5, 2.0, kind="demonstration",
            against="the data's spread (exact)", unit="ratio")
show(figures.diffusion.plot_ddpm_2d(x_train[:3000].numpy(), samples.numpy(),
                                    mean_terms.numpy(), ddpm.losses), "diffusion_ddpm_2d",
     f"A small DDPM trained for {steps:,} steps: its samples cover all {len(ring.means)} modes "
     f"(χ² p = {coverage.pvalue:.2g}) and its bound is {excess.estimate.item():.2f} nats above the "
     "data entropy.")

# %% [markdown]
# ## Try it
#
# - Use `cosine_schedule` in the test bed: the bound stays below the exact log-likelihood
#   (Jensen), and the optimal variance still gives the smallest gap; compare the other two.
# - Train the DDPM for fewer steps (2,000): the excess of its bound over the data entropy
#   grows and the samples spread off the ring.

# %%
ch.finish()
