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
# # Chapter 2 — KL divergence
#
# The handout's Part 2 (20 min): "build the mathematical tool that measures distributional
# differences". After this chapter you will be able to
#
# - compute the Kullback–Leibler divergence [@kullback1951] $\mathrm{KL}(p\,\|\,q)$ three ways
#   with `KLDivergenceBuilder` — closed form for two Gaussians, `standard_normal_kl` for an
#   encoder against $\mathcal N(0,I)$, and Monte Carlo with an honest standard error — and check each against `torch.distributions`;
# - explain, with numbers and pictures, why $\mathrm{KL}(p\|q)\neq\mathrm{KL}(q\|p)$ and what
#   that does to a fitted $q$: mode covering against mode seeking, and an over-confident VAE
#   posterior.

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
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import elbolab
from elbolab import (
    KLDivergenceBuilder,
    gaussian_log_prob,
    mvn_kl,
    reparameterize,
)
from elbolab.parts import asymmetry
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter
from elbolab.variational import fit_diagonal_gaussian, reverse_kl_loss

# %%
ch = Chapter("2", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device

# %% [markdown]
# <a id="part-2"></a>
#
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
# The handout's `KLDivergenceBuilder` has one method per way: `gaussian_kl_closed_form`
# (standard deviations, as the handout's formula sheet writes it), `standard_normal_kl` and
# `monte_carlo_kl`; each below is called through the class. The code that runs behind the
# first — the stable closed form above, in log-variances:

# %%
ch.source(elbolab.gaussian_kl)

# %% [markdown]
# ## The closed form against `torch.distributions`

# %%
log.section('the closed form', 'p2.closed_form')
kl = KLDivergenceBuilder()
n_pairs = 10_000
mu1, mu2 = torch.randn(2, n_pairs, generator=gen, dtype=torch.float64) * 3
sigma1, sigma2 = torch.exp(torch.randn(2, n_pairs, generator=gen, dtype=torch.float64))
ours = kl.gaussian_kl_closed_form(mu1, sigma1, mu2, sigma2)
oracle = kl_divergence(Normal(mu1, sigma1), Normal(mu2, sigma2))
rel_err = ((ours - oracle).abs() / oracle.abs().clamp_min(1e-12)).max().item()
log.at_most("KLDivergenceBuilder.gaussian_kl_closed_form vs torch.distributions (max rel. error, "
            "10^4 pairs)",
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
# [@kingma2014, App. B], summed over the latent dimensions; checked on its own,
# through `KLDivergenceBuilder.standard_normal_kl`. Its code:

# %%
ch.source(elbolab.standard_normal_kl)

# %%
log.section('standard_normal_kl', 'p2.standard_normal', 'p2.closed_form')
mu_e = torch.randn(500, 20, generator=gen, dtype=torch.float64) * 2
logvar_e = torch.randn(500, 20, generator=gen, dtype=torch.float64) * 3
ours_std = kl.standard_normal_kl(mu_e, logvar_e)
torch_std = kl_divergence(Normal(mu_e, torch.exp(0.5 * logvar_e)), Normal(0.0, 1.0)).sum(-1)
log.at_most("KLDivergenceBuilder.standard_normal_kl = sum of torch.distributions KLs to N(0, 1) "
            "(max rel. error)",
            "kl", ((ours_std - torch_std).abs() / torch_std).max().item(), 1e-10,
            "float64, 20 terms of O(10) nats; catches a mean over units or a missing 1/2",
            kind="oracle",
            against="torch.distributions kl_divergence to N(0, 1)", unit="rel. error")

# %% [markdown]
# ## Monte Carlo converges to the closed form at the rate $n^{-1/2}$
#
# $p = \mathcal N(\mu_p, \operatorname{diag}\sigma_p^2)$ and $q$ another diagonal Gaussian in
# 4 dimensions. For each sample count we draw from $p$ (reparameterized, with a seeded
# generator) and report the estimate with its standard error.

# %%
log.section('Monte Carlo KL', 'p2.monte_carlo')
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
log.z_within("KLDivergenceBuilder.monte_carlo_kl within 4 SE of the closed form (max |z| "
             "over n)", "kl",
             max(z_scores), against="closed-form Gaussian KL")

# %% [markdown]
# Is the reported standard error honest? Repeat the estimate many times and compare the spread
# of the estimates with the error bar each one reports: their ratio must be 1 up to the
# sampling error of a standard deviation, $1/\sqrt{2(R-1)}$ for $R$ replicates
# (@fig:kl_monte_carlo_convergence).

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
# ## Full covariances
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
log.section('full covariances', 'p2.closed_form', 'p2.monte_carlo')
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
# ## KL is not symmetric
#
# $\mathrm{KL}(p\|q)$ weighs the log-ratio by $p$; $\mathrm{KL}(q\|p)$ by $q$. A wide $q$ around
# a narrow $p$ pays little in one direction and a lot in the other (@fig:kl_asymmetry_pair).

# %%
log.section('KL is not symmetric', 'p2.asymmetry')
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
# ## Fitting one Gaussian to two modes: mode covering vs mode seeking
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
#   mass there. That is the printed comparison with $\log 2$ (@fig:kl_mode_fits_1d; in two
#   dimensions, @fig:kl_mode_fits_2d).

# %%
log.section('mode covering vs mode seeking', 'p2.asymmetry')
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
# ## What the reverse KL does to a VAE's posterior
#
# An encoder with a diagonal Gaussian $q$ is fitted by the reverse KL (the ELBO). Against a
# correlated Gaussian posterior $p=\mathcal N(0,\Sigma)$, unit variances and correlation
# $\rho$, the reverse-KL optimum is known: $q$'s variances are $1/(\Sigma^{-1})_{ii} = 1-\rho^2$,
# the *conditional* variances, not the marginal ones (1) that the forward KL would match. The
# fitted $q$ is over-confident by the factor $1/(1-\rho^2)$ — the practical face of the
# asymmetry, and the reason chapter 1 used an over-confident proposal "like a typical VAE
# encoder".

# %%
log.section("the reverse KL and a VAE's posterior", 'p2.asymmetry', 'x.theory_practice')
rho_c = 0.9
corr = MultivariateNormal(torch.zeros(2, dtype=torch.float64),
                          torch.tensor([[1.0, rho_c], [rho_c, 1.0]], dtype=torch.float64))
diag_fit = fit_diagonal_gaussian(
    reverse_kl_loss(corr.log_prob, 512, generator=gen),
    torch.tensor([0.3, -0.2], dtype=torch.float64), torch.zeros(2, dtype=torch.float64),
    steps=1000, lr=0.05, final_lr=0.001)
print(f"reverse-KL diagonal fit: variances "
      f"{', '.join(f'{v:.4f}' for v in diag_fit.std.pow(2).tolist())}, exact "
      f"optimum 1 − ρ² = {1 - rho_c**2:.4f}; marginal variance 1: over-confident by "
      f"{1 / diag_fit.std.pow(2).mean().item():.1f}x")
log.at_most("reverse-KL diagonal fit to a correlated Gaussian: variances = 1 - rho^2 (max rel. "
            "error)", "kl", (diag_fit.std.pow(2) / (1 - rho_c**2) - 1).abs().max().item(), 0.05,
            "the stochastic optimizer's noise at its final step size", kind="oracle",
            against="1 - rho^2, the exact reverse-KL fit", unit="rel. error")

# %% [markdown]
# ## KL(p‖q) ≠ KL(q‖p) for every pair of Gaussians but the equal-width ones
#
# For $p = \mathcal N(0, 1)$ and $q = \mathcal N(\Delta\mu, s^2)$ ($s$ the ratio of $q$'s standard
# deviation to $p$'s), both directions in closed form over a grid. When $s = 1$ they agree (the KL
# is then $\Delta\mu^2/2$ both ways); a narrower $q$ ($s<1$) makes $\mathrm{KL}(p\|q)$ much
# larger than $\mathrm{KL}(q\|p)$ (@fig:kl_asymmetry_heatmap).

# %%
log.section('asymmetry for every pair of Gaussians', 'p2.asymmetry')
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
# ## Try it
#
# - Swap $p$ and $q$ in the Monte Carlo section: the estimate converges to a different number
#   (the other direction's closed form), at the same $n^{-1/2}$ rate.
# - Move the two modes of the bimodal target closer (`asymmetry.bimodal_1d` builds it): as the
#   modes merge into one bump, watch the reverse-KL fit stop choosing a mode and the two fits
#   come together.

# %%
ch.finish()
