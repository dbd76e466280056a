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
# Every claim in this notebook is a number computed by the `elbolab` library and checked
# against an independent answer: a closed form, `torch.distributions`, `scipy.stats`, or a
# Monte Carlo estimate with a stated standard error. Each check is logged and written to
# `metrics.json`; `elbolab lab` prints them as a table and fails if one does not hold.
#
# **Conventions.** Nats unless a name says bits; sums over event dimensions, means over the
# batch; variances travel as `logvar = log σ²`; every random call takes a `generator`.
#
# **Contents**
# - Part 2 — KL divergence: the closed form, Monte Carlo with error bars, asymmetry
# - Part 4 — The ELBO: the reparameterization trick, the bound's pieces, IWAE-k

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)

# %%
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import elbolab
from elbolab import (
    ELBOFramework,
    KLDivergenceBuilder,
    gaussian_log_prob,
    monte_carlo_mean,
    mvn_kl,
    reparameterize,
)
from elbolab.device import resolve_device
from elbolab.plots import (
    plot_iwae_vs_k,
    plot_kl_asymmetry_pair,
    plot_kl_monte_carlo,
    plot_reparameterization,
    save_figure,
)
from elbolab.validation import ValidationLog

FIG_DIR = Path(OUT_DIR) / "figures"
FIG_DIR.mkdir(parents=True, exist_ok=True)
device = resolve_device(DEVICE)
log = ValidationLog()
gen = torch.Generator().manual_seed(SEED)


def show(fig, name):
    """Save a figure as figures/<name>.png and display it inline."""
    save_figure(fig, FIG_DIR / f"{name}.png")
    return fig


print(f"elbolab {elbolab.__version__}, torch {torch.__version__}, device {device}, "
      f"mode {'quick' if QUICK else 'full'}")

# %% [markdown]
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
kl = KLDivergenceBuilder()
n_pairs = 10_000
mu1, mu2 = torch.randn(2, n_pairs, generator=gen, dtype=torch.float64) * 3
sigma1, sigma2 = torch.exp(torch.randn(2, n_pairs, generator=gen, dtype=torch.float64))
ours = kl.gaussian_kl_closed_form(mu1, sigma1, mu2, sigma2)
oracle = kl_divergence(Normal(mu1, sigma1), Normal(mu2, sigma2))
rel_err = ((ours - oracle).abs() / oracle.abs().clamp_min(1e-12)).max().item()
log.at_most("closed-form Gaussian KL vs torch.distributions (max rel. error, 10^4 pairs)",
            "kl", rel_err, 1e-10)
log.at_least("closed-form KL is never negative (min over 10^4 pairs)", "kl",
             ours.min().item(), 0.0)
print(f"max relative error vs torch.distributions: {rel_err:.2e}")

# %% [markdown]
# ### Monte Carlo converges to the closed form at the rate $n^{-1/2}$
#
# $p = \mathcal N(\mu_p, \operatorname{diag}\sigma_p^2)$ and $q$ another diagonal Gaussian in
# 4 dimensions. For each sample count we draw from $p$ (reparameterized, with a seeded
# generator) and report the estimate with its standard error.

# %%
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
log.at_most("MC KL within 4 standard errors of the closed form (max |z| over n)", "kl",
            max(z_scores), 4.0)
log.at_most("MC standard error shrinks like n^-1/2 (|log-log slope + 0.5|)", "kl",
            abs(np.polyfit(np.log(ns), np.log(se), 1)[0] + 0.5), 0.1)
show(plot_kl_monte_carlo(ns, est, se, exact_kl), "kl_monte_carlo_convergence")

# %% [markdown]
# ### Full covariances
#
# With Cholesky factors $\Sigma = LL^\top$ the KL needs only triangular solves:
# trace $\lVert L_2^{-1}L_1\rVert_F^2$, Mahalanobis $\lVert L_2^{-1}(\mu_2-\mu_1)\rVert^2$ and the
# log-determinants from the diagonals. We check it against `torch.distributions` and against
# Monte Carlo.

# %%
A = torch.randn(200, 5, 5, generator=gen, dtype=torch.float64)
B = torch.randn(200, 5, 5, generator=gen, dtype=torch.float64)
L1 = torch.linalg.cholesky(A @ A.mT + 0.5 * torch.eye(5, dtype=torch.float64))
L2 = torch.linalg.cholesky(B @ B.mT + 0.5 * torch.eye(5, dtype=torch.float64))
m1, m2 = torch.randn(2, 200, 5, generator=gen, dtype=torch.float64)
ours = mvn_kl(m1, L1, m2, L2)
oracle = kl_divergence(MultivariateNormal(m1, scale_tril=L1), MultivariateNormal(m2, scale_tril=L2))
rel = ((ours - oracle).abs() / oracle).max().item()
log.at_most("full-covariance KL vs torch.distributions (max rel. error, 200 pairs)", "kl",
            rel, 1e-10)
p0 = MultivariateNormal(m1[0], scale_tril=L1[0])
q0 = MultivariateNormal(m2[0], scale_tril=L2[0])
n_mc = 20_000 if QUICK else 200_000
x = m1[0] + torch.randn(n_mc, 5, generator=gen, dtype=torch.float64) @ L1[0].T
r = kl.monte_carlo_kl(x, p0.log_prob, q0.log_prob)
print(f"full covariance: closed form {ours[0]:.4f}, MC {r.estimate:.4f} ± {r.stderr:.4f}")
log.at_most("full-covariance MC KL within 4 SE of the closed form", "kl",
            abs(r.z_score(ours[0]).item()), 4.0)

# %% [markdown]
# ### KL is not symmetric
#
# $\mathrm{KL}(p\|q)$ weighs the log-ratio by $p$; $\mathrm{KL}(q\|p)$ by $q$. A wide $q$ around
# a narrow $p$ pays little in one direction and a lot in the other.

# %%
p_mu, p_sigma, q_mu, q_sigma = 0.0, 0.6, 1.0, 2.0
kl_pq = kl.gaussian_kl_closed_form(*map(torch.tensor, (p_mu, p_sigma, q_mu, q_sigma))).item()
kl_qp = kl.gaussian_kl_closed_form(*map(torch.tensor, (q_mu, q_sigma, p_mu, p_sigma))).item()
grid = np.linspace(-6, 7, 600)
show(plot_kl_asymmetry_pair(grid, stats.norm.pdf(grid, p_mu, p_sigma),
                            stats.norm.pdf(grid, q_mu, q_sigma), kl_pq, kl_qp,
                            labels=(f"p = N({p_mu}, {p_sigma}²)", f"q = N({q_mu}, {q_sigma}²)")),
     "kl_asymmetry_pair")
print(f"KL(p||q) = {kl_pq:.4f}, KL(q||p) = {kl_qp:.4f} nats")
log.at_least("KL(p||q) and KL(q||p) differ (|difference|, nats)", "kl", abs(kl_pq - kl_qp), 0.5)

# %% [markdown]
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
mu0, sigma0 = 1.5, 0.7
n_rep = 20_000 if QUICK else 200_000
z = reparameterize(torch.tensor(mu0, dtype=torch.float64),
                   torch.tensor(2 * np.log(sigma0), dtype=torch.float64),
                   sample_shape=(n_rep,), generator=gen)
mean_z = monte_carlo_mean(z)
var_z = z.var().item()
var_se = sigma0**2 * np.sqrt(2 / (n_rep - 1))  # std. error of a Gaussian sample variance
ks = stats.kstest(z.numpy(), "norm", args=(mu0, sigma0))
log.at_most("reparameterized z: mean within 4 SE of mu (|z-score|)", "elbo",
            abs(mean_z.z_score(mu0).item()), 4.0)
log.at_most("reparameterized z: variance within 4 SE of sigma^2 (|z-score|)", "elbo",
            abs(var_z - sigma0**2) / var_se, 4.0)
log.at_least("reparameterized z ~ N(mu, sigma^2): Kolmogorov-Smirnov p-value", "elbo",
             ks.pvalue, 0.01)
print(f"mean {mean_z.estimate:.4f} ± {mean_z.stderr:.4f} (μ = {mu0}), var {var_z:.4f} "
      f"(σ² = {sigma0**2:.4f}), KS D = {ks.statistic:.4f}, p = {ks.pvalue:.3f}")
show(plot_reparameterization(z.numpy(), mu0, sigma0, ks.statistic, ks.pvalue),
     "reparameterization")

# %% [markdown]
# ### Gradients flow through the sample
#
# With the noise $\varepsilon$ fixed, autograd must give $\partial z/\partial\mu = 1$ and
# $\partial z/\partial\sigma = \varepsilon$ exactly (we differentiate through
# $\sigma = e^{\frac12\log\sigma^2}$ and divide by
# $\partial\sigma/\partial\log\sigma^2 = \sigma/2$).

# %%
mu_t = torch.full((1000,), 0.3, dtype=torch.float64, requires_grad=True)
logvar_t = torch.full((1000,), -0.4, dtype=torch.float64, requires_grad=True)
eps = torch.randn(1000, generator=gen, dtype=torch.float64)
z = reparameterize(mu_t, logvar_t, eps=eps)
dz_dmu, dz_dlogvar = torch.autograd.grad(z.sum(), (mu_t, logvar_t))
sigma_t = torch.exp(0.5 * logvar_t.detach())
dz_dsigma = dz_dlogvar / (0.5 * sigma_t)
log.at_most("dz/dmu = 1 (max abs error)", "elbo", (dz_dmu - 1).abs().max().item(), 1e-12)
log.at_most("dz/dsigma = eps (max abs error)", "elbo", (dz_dsigma - eps).abs().max().item(),
            1e-12)
print("dz/dμ − 1:", (dz_dmu - 1).abs().max().item(), "  dz/dσ − ε:",
      (dz_dsigma - eps).abs().max().item())

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
x_data = marginal.sample((n_data,))
log_px = marginal.log_prob(x_data)

dev_gen = torch.Generator(device=device).manual_seed(SEED)
res = framework.compute_elbo(x_data, generator=dev_gen)
log.at_most("ELBO = reconstruction - KL (max abs difference)", "elbo",
            (res.elbo - (res.reconstruction - res.kl)).abs().max().item(), 0.0)

# Analytic KL(q || p(z)) against Monte Carlo over the same q, for one data point.
mu_q0, logvar_q0 = res.mu[0].detach(), res.logvar[0].detach()
zs = reparameterize(mu_q0, logvar_q0, sample_shape=(20_000,), generator=dev_gen)
mc_kl = kl.monte_carlo_kl(zs, lambda s: gaussian_log_prob(s, mu_q0, logvar_q0).sum(-1),
                          lambda s: gaussian_log_prob(s, torch.zeros_like(s),
                                                      torch.zeros_like(s)).sum(-1))
log.at_most("analytic KL(q||p(z)) vs Monte Carlo (|z-score|)", "elbo",
            abs(mc_kl.z_score(res.kl[0].detach()).item()), 4.0)

# The gradient reaches both networks through the sample.
res.loss.backward()
grad_ok = all(p.grad is not None and p.grad.abs().sum() > 0 for p in framework.parameters())
log.record("gradients reach every encoder and decoder parameter", "elbo", float(grad_ok), 1.0,
           grad_ok)

# Per-example values, so that comparisons are paired: the spread of log p(x) across the data
# cancels and the standard errors below measure Monte Carlo noise alone.
with torch.no_grad():
    elbo_x = torch.stack([framework.compute_elbo(x_data, generator=dev_gen).elbo
                          for _ in range(64)]).mean(0)
    ks_list = [1, 4, 16, 64, 256] + ([] if QUICK else [1024, 4096])
    iwae_x = [framework.iwae_bound(x_data, k, chunk_size=256, generator=dev_gen)
              for k in ks_list]
above_elbo = [monte_carlo_mean(v - elbo_x) for v in iwae_x]
below_px = [monte_carlo_mean(log_px - v) for v in iwae_x]
steps = [monte_carlo_mean(b - a) for a, b in zip(iwae_x, iwae_x[1:], strict=False)]
elbo_mean, mean_log_px = elbo_x.mean().item(), log_px.mean().item()
b_est = [v.mean().item() for v in iwae_x]
b_se = [r.stderr.item() for r in above_elbo]
for k, e, r in zip(ks_list, b_est, above_elbo, strict=True):
    print(f"IWAE-{k:<5} {e:9.4f}   (above the ELBO by {r.estimate:.4f} ± {r.stderr:.4f})")
print(f"ELBO       {elbo_mean:9.4f}\nlog p(x)   {mean_log_px:9.4f}")
log.at_most("IWAE-1 equals the ELBO in expectation (|z-score|)", "elbo",
            abs(above_elbo[0].z_score(0.0).item()), 4.0)
log.at_least("ELBO < IWAE-k for k >= 4 (smallest z-score of IWAE-k - ELBO)", "elbo",
             min(r.z_score(0.0).item() for r in above_elbo[1:]), 4.0)
log.at_least("IWAE-k <= log p(x) (smallest z-score of log p(x) - IWAE-k)", "elbo",
             min(r.z_score(0.0).item() for r in below_px), -4.0)
log.at_least("IWAE-k increases with k (smallest z-score of consecutive increments)", "elbo",
             min(r.z_score(0.0).item() for r in steps), -4.0)
log.at_most("IWAE-k approaches log p(x): gap at the largest k (nats)", "elbo",
            below_px[-1].estimate.item(), 0.25 * below_px[0].estimate.item(),
            "gap at largest k <= a quarter of the gap at k = 1")
show(plot_iwae_vs_k(ks_list, b_est, b_se, elbo_mean, 0.0, reference=mean_log_px,
                    reference_label="exact log p(x)"), "iwae_vs_k")

# %% [markdown]
# ## What the lab verified

# %%
log.save(Path(OUT_DIR) / "metrics.json", quick=QUICK, device=str(device))
print(log.table())
