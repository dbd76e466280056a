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
# # Appendix A4 — Connections
#
# The handout ends with "Deep Learning Connections". After this appendix you will be able to
# state, for each family of generative models, the one equation that ties it to the ELBO;
# measure the one that ties GANs to variational inference (a discriminator's logit estimates
# a density ratio, and its objective is a lower bound on a divergence); and read five families
# — autoregressive, flow, diffusion, VAE, GAN — on one binarized MNIST, each number labelled
# exact or bound.

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
import numpy as np
import torch
from IPython.display import Markdown, display
from scipy import stats

from elbolab.densities import LN2, discretized_gaussian_log_prob
from elbolab.diffusion import (
    cosine_schedule,
    exact_log_likelihood,
    linear_schedule,
    train_binary_diffusion,
    train_ddpm,
)
from elbolab.estimators import monte_carlo_mean
from elbolab.kl import gaussian_kl
from elbolab.parts.autoregressive import (
    MADE,
    forbidden_dependencies,
    logit_jacobian,
    total_log_probability,
)
from elbolab.parts.connections import (
    binary_ddpm_samples,
    fit_density,
    fit_logistic_critic,
    gaussian_js,
    held_out_js_bound,
    js_lower_bound,
    kl_lower_bound,
    random_relu_features,
    samples_per_second,
)
from elbolab.parts.coupling_flow import (
    CouplingFlow,
    LogitTransform,
    cell_log_probability,
    dequantized_log_likelihood,
    flow_jacobian,
)
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter
from elbolab.vae.data import binarize, static_binarization
from elbolab.vae.evaluation import sample_prior

# %%
ch = Chapter("A4", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device

# %% [markdown]
# <a id="connections"></a>
#
#
# The handout's closing list, verbatim: "The mathematics you implement today underlies:
# **Variational Autoencoders (VAEs):** Direct application; **Generative Adversarial Networks
# (GANs):** Implicit variational inference; **Diffusion Models:** Optimal variational choice
# with fixed forward process; **Normalizing Flows:** Tractable likelihoods via change of
# variables; **Autoregressive Models:** Sequential factorization approach." For each family
# other than the VAE, the one equation that ties it to this lab:
#
# - **Autoregressive models** factor $p(x)=\prod_i p(x_i\mid x_{<i})$: an exact likelihood,
#   no latent, no bound.
# - **Normalizing flows** make $\log p(x)$ tractable by change of variables,
#   $\log p(x) = \log p(z) + \log\lvert\det \partial z/\partial x\rvert$ with $z = f(x)$
#   invertible: exact again — on continuous data. On discrete data the flow needs
#   *dequantization*, and Jensen's inequality turns it back into a bound.
# - **Diffusion models** are chapter 7's hierarchical VAE with the encoder fixed:
#   $-\log p_\theta(x_0)\le L_T+\sum_t L_{t-1}+L_0$, a bound.
# - **GANs** [@goodfellow2014] drop the likelihood altogether; their discriminator estimates a
#   density ratio, and its objective is a *lower* bound on a divergence.
#
# The first section measures the last of these on Gaussians, where the divergences are exact;
# the second puts all five families — the VAE of chapter 4 among them — on the same binarized
# MNIST test images, each number labelled exact or bound.

# %% [markdown]
# ## GANs as implicit variational inference, measured
#
# A GAN never writes down $p_\theta(x)$; its discriminator instead learns to tell data from
# samples, and its logit $\ell(x)$ becomes an estimate of the log density ratio
# $\log p(x)/q(x)$. The objectives are variational lower bounds on divergences
# [@nguyen2010; @nowozin2016]: for any critic $T$,
# $\mathrm{KL}(p\,\|\,q)\ge\mathbb E_p[T]-\mathbb E_q[e^{T-1}]$, and for any logit
# $\mathrm{JS}(p,q)\ge\log 2+\tfrac12\mathbb E_p[\log\sigma(\ell)]+\tfrac12\mathbb E_q[\log(1-
# \sigma(\ell))]$, the discriminator's own objective [@goodfellow2014], with equality exactly at
# $T = 1+\log p/q$ and $\ell = \log p/q$. On two Gaussians, $p$ the "data" and $q$ the
# "model", both divergences are known (the KL in closed form, the JS by quadrature), so the
# bounds can be held against them: critics $\alpha\log p/q$ for a range of $\alpha$ must stay
# below, touching at $\alpha = 1$; a logistic discriminator on $(1, x, x^2)$ trained with the
# GAN loss must recover the log ratio and, on fresh samples, nearly close the JS bound
# (@fig:gan_bounds).

# %%
log.section("GANs as implicit variational inference", "x.connections")
P, Q = (0.0, 1.0), (1.0, 1.5)  # (mean, standard deviation) of the data and of the model
n = 20_000 if QUICK else 200_000
g = torch.Generator().manual_seed(SEED)
x_p = P[0] + P[1] * torch.randn(n, generator=g, dtype=torch.float64)
x_q = Q[0] + Q[1] * torch.randn(n, generator=g, dtype=torch.float64)


def log_ratio(x):
    return torch.from_numpy(stats.norm.logpdf(x.numpy(), *P) - stats.norm.logpdf(x.numpy(), *Q))


exact_kl = gaussian_kl(*(torch.tensor(v, dtype=torch.float64) for v in (
    P[0], 2 * np.log(P[1]), Q[0], 2 * np.log(Q[1])))).item()
exact_js = gaussian_js(*P, *Q)
scales = np.linspace(0.0, 2.0, 21)
kl_b = np.array([[b.estimate.item(), b.stderr.item()] for b in (
    kl_lower_bound(1 + a * log_ratio(x_p), 1 + a * log_ratio(x_q)) for a in scales)])
js_b = np.array([[b.estimate.item(), b.stderr.item()] for b in (
    js_lower_bound(a * log_ratio(x_p), a * log_ratio(x_q)) for a in scales)])
at_one = int(np.argmin(np.abs(scales - 1)))
print(f"exact KL(p‖q) = {exact_kl:.4f}, bound at the optimal critic {kl_b[at_one, 0]:.4f} ± "
      f"{kl_b[at_one, 1]:.4f}; exact JS = {exact_js:.4f}, bound {js_b[at_one, 0]:.4f} ± "
      f"{js_b[at_one, 1]:.4f} nats")
log.z_within("f-GAN KL bound at the optimal critic T = 1 + log p/q equals the closed-form KL",
             "kl", (kl_b[at_one, 0] - exact_kl) / kl_b[at_one, 1],
             against="the closed-form Gaussian KL")
log.z_within("GAN JS bound at the optimal logit log p/q equals the exact JS", "kl",
             (js_b[at_one, 0] - exact_js) / js_b[at_one, 1],
             against="JS by quadrature (float64, trapezoid)")
# α = 0 is a constant critic: both bounds are exactly 0 (no standard error), below both
# divergences; the other 20 critics are held to their standard errors
moving = scales > 0
worst = max(((kl_b[moving, 0] - exact_kl) / kl_b[moving, 1]).max(),
            ((js_b[moving, 0] - exact_js) / js_b[moving, 1]).max())
_ = log.at_most("f-GAN bounds never above their divergence, any critic α·log p/q (largest "
                "z-score of bound − exact, 20 critics α > 0 × 2 bounds)", "kl", float(worst),
                4.0, "4 SE: the bound is below in expectation", kind="statistical",
                against="the exact KL and JS", unit="SE")

# %%
logit = fit_logistic_critic(x_p, x_q, lambda x: torch.stack([torch.ones_like(x), x, x * x], -1))
fresh = torch.Generator().manual_seed(SEED + 1)
f_p = P[0] + P[1] * torch.randn(n, generator=fresh, dtype=torch.float64)
f_q = Q[0] + Q[1] * torch.randn(n, generator=fresh, dtype=torch.float64)
trained = js_lower_bound(logit(f_p), logit(f_q))
grid = torch.linspace(-4.0, 5.0, 200, dtype=torch.float64)
central = torch.linspace(-1.96, 1.96, 101, dtype=torch.float64)
ratio_err = (logit(central) - log_ratio(central)).abs().max().item()
print(f"trained discriminator: JS bound {trained.estimate.item():.4f} ± "
      f"{trained.stderr.item():.4f} nats on fresh samples (exact {exact_js:.4f}); its logit "
      f"within {ratio_err:.3f} of log p/q over the central 95% of the data")
log.at_least("trained GAN discriminator: its JS bound on fresh samples closes the gap (bound − "
             "exact JS, nats)", "kl", trained.estimate.item() - exact_js, -0.01,
             "0.01 nat: a fitted quadratic logit on 20,000 samples", kind="statistical",
             against="the exact JS (quadrature)", unit="nats")
show(figures.connections.plot_gan_bounds(
        grid.numpy(), log_ratio(grid).numpy(), logit(grid).numpy(),
        stats.norm.pdf(grid.numpy(), *P), stats.norm.pdf(grid.numpy(), *Q), scales, kl_b,
        js_b, exact_kl, exact_js), "gan_bounds",
     f"A discriminator trained with the GAN loss recovers log p/q to {ratio_err:.2f} nats where "
     f"the data are; the f-GAN bounds of the critics α·log p/q stay below KL = {exact_kl:.3f} "
     f"and JS = {exact_js:.3f} nats and touch them at α = 1.")

# %% [markdown]
# ## Five families on one binarized MNIST
#
# The same test images as chapter 4 (its first evaluation images, binarized once with a fixed
# seed), the same training images (a fresh Bernoulli draw of their grey levels every batch,
# as chapter 4's VAE trained), the same unit: nats per image, and bits per dimension
# $= \text{nats}/(D\ln 2)$. Every model here is small and trained for seconds to minutes on
# this CPU, so the published figures beside ours — the same families trained to convergence
# with far larger networks — are the scale to read ours against, not a target they were
# tuned to. Each family's defining identity is checked first where it is exact.

# %%
log.section("Five families on one binarized MNIST", "x.connections")

train, test, run, x_eval = ch.example_run()
x_eval = x_eval.cpu().float()
train_x = run.data.train_x.cpu().float()
shape = run.data.image_shape or (int(round(x_eval.shape[1] ** 0.5)),) * 2
D = x_eval.shape[1]
# the CPU budget: about a minute in quick mode (5,000 images), about five in full (60,000)
made_epochs = 10
flow_epochs = 3
ddpm_steps = 1000 if QUICK else 3000
bin_steps = 800 if QUICK else 4000
k_deq = 64
fam_gen = torch.Generator().manual_seed(SEED + 7)
torch.manual_seed(SEED)
print(f"{len(train_x):,} training images (grey levels, binarized per batch), {len(x_eval):,} "
      f"binarized test images of D = {D} pixels")


# %% [markdown]
# ### Autoregressive: MADE, an exact likelihood
#
# MADE [@germain2015] computes every conditional $p(x_d\mid x_{<d})$ in one pass of an MLP
# whose weights are masked so that output $d$ sees only the pixels before $d$. That property
# is what makes the product of conditionals a normalized distribution, and both are checked:
# on 4×4 binary images (the data pooled to 4×4 and binarized, a MADE trained on them) the
# $2^{16}$ probabilities are enumerated and must sum to 1; on the MNIST model, autograd's
# Jacobian $\partial\ell_i/\partial x_j$ must be exactly zero wherever $j$ does not come
# before $i$.

# %%
small_x = torch.nn.functional.adaptive_avg_pool2d(
    train_x[:4000].reshape(-1, 1, *shape), 4).reshape(-1, 16)
small = MADE(16, (64,)).double()
fit_density(lambda x: -small.log_prob(x), small.parameters(), small_x.double(), epochs=5,
            lr=3e-3, transform=lambda x: binarize(x, fam_gen), generator=fam_gen)
log_total = total_log_probability(small)
print(f"4×4 MADE: log Σ p over all 2^16 images = {log_total:.2e} (a float64 sum of 65,536 "
      "terms)")
log.at_most("MADE: the 2^16 probabilities of 4x4 binary images sum to 1 (|log of the sum|)",
            "intractable", abs(log_total), 2 ** 16 * 2.2e-16,
            "2^16 x float64 eps: the rounding of a 65,536-term sum", kind="identity",
            against="1: a normalized distribution", unit="nats")

made = MADE(D, (500,))
made_fit = fit_density(lambda x: -made.log_prob(x), made.parameters(), train_x,
                       epochs=made_epochs, lr=3e-3, transform=lambda x: binarize(x, fam_gen),
                       generator=fam_gen, progress=PROGRESS, desc="MADE")
made.eval()
jac = logit_jacobian(made, x_eval[0])
forbidden = forbidden_dependencies(made)
leak = jac[forbidden].abs().max().item()
print(f"MADE ({made_epochs} epochs, {made_fit.seconds:.0f} s): largest |∂ℓ_i/∂x_j| where j is "
      f"not before i: {leak:.1e}; {int((jac[~forbidden] != 0).sum()):,} of "
      f"{int((~forbidden).sum()):,} allowed entries nonzero")
log.at_most("MADE: autograd Jacobian of the logits is exactly 0 where the ordering forbids a "
            "dependency (max |entry|)", "intractable", leak, 0.0, kind="identity",
            against="0: the autoregressive property", unit="logit per pixel")
with torch.no_grad():
    made_nll = -made.log_prob(x_eval)

# %% [markdown]
# ### Flow: exact by change of variables, a bound after dequantization
#
# A flow of affine coupling layers [@dinh2017] has a triangular Jacobian, so its
# $\log\lvert\det\rvert$ is a sum of the layers' log-scales. Held against autograd's full
# Jacobian (`torch.linalg.slogdet`), in two dimensions and on one MNIST image. Binary pixels
# have no density, so the flow models $y = x + u$, $u\sim U[0,1)^D$ [@theis2016]: the
# probability it gives the image is the integral over the image's unit cell,
# $P(x)=\int p(x+u)\,du$, and
# $$\log P(x) = \log\mathbb E_{u}[p(x+u)] \;\ge\; \mathbb E_u[\log p(x+u)]$$
# — Jensen's inequality of chapter 3, with the uniform noise as $q(u\mid x)$; the gap is
# $\mathrm{KL}(U\,\|\,p(u\mid x))$. In two dimensions both sides are integrals over a cell and
# the gap is exact (@fig:dequantization); on MNIST the $k$-sample bound
# $\log\frac1k\sum_j p(x+u_j)$ — chapter 4's IWAE with the same pair — measures how much of
# it a better estimate recovers.

# %%
ring = torch.randn(20_000, 2, generator=fam_gen, dtype=torch.float64)
ring = torch.cat([ring[:10_000] * 0.8 + torch.tensor([3.0, 3.0], dtype=torch.float64),
                  ring[10_000:] * torch.tensor([2.0, 0.6], dtype=torch.float64)
                  + torch.tensor([-2.0, -1.0], dtype=torch.float64)])
lattice_data = ring.floor()
flow2 = CouplingFlow(2, layers=8, hidden=64).double()
fit_density(lambda x: -dequantized_log_likelihood(flow2.log_prob, x, 1, fam_gen),
            flow2.parameters(), lattice_data, epochs=8 if QUICK else 20, batch_size=256,
            lr=3e-3, generator=fam_gen)
flow2.eval()
points = [torch.tensor([0.3, -0.7], dtype=torch.float64), lattice_data[0] + 0.5]
err_2d = max(abs(flow2(p[None])[1].item() - torch.linalg.slogdet(flow_jacobian(flow2, p))[1]
                 .item()) for p in points)


def grid_mass(step):
    g1 = torch.arange(-12.0, 12.0 + step / 2, step, dtype=torch.float64)
    yy = torch.stack(torch.meshgrid(g1, g1, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        dens = flow2.log_prob(yy).exp().reshape(len(g1), len(g1))
    return torch.trapezoid(torch.trapezoid(dens, g1), g1).item(), g1, dens


mass_coarse, _, _ = grid_mass(0.04)
mass, g1, dens = grid_mass(0.02)
with torch.no_grad():
    far = (flow2.sample(100_000, fam_gen).abs() > 12).any(-1).double()
outside, outside_se = far.mean().item(), (far.std() / len(far) ** 0.5).item()
mass_tol = 10 * abs(mass - mass_coarse) + 4 * outside_se + 1e-9
print(f"2-D flow: log|det| against autograd's slogdet, max error {err_2d:.1e}; ∫p over "
      f"[-12, 12]² = {mass:.6f} (step 0.04: {mass_coarse:.6f}) + mass outside {outside:.1e} "
      f"(from 10^5 samples)")
log.at_most("2-D flow: log|det J| = slogdet of the autograd Jacobian (max abs error)",
            "intractable", err_2d, 1e-10, "float64 rounding of a sum of 8 layers' log-scales",
            kind="oracle", against="torch.linalg.slogdet of autograd's Jacobian", unit="nats")
log.at_most("2-D flow: the density integrates to 1 (|trapezoid over the box + sampled mass "
            "outside - 1|)", "intractable", abs(mass + outside - 1), mass_tol,
            "10x the change from halving the grid step + 4 SE of the outside mass",
            kind="oracle", against="1: a normalized density", unit="probability")

# %%
cells, counts = torch.unique(lattice_data, dim=0, return_counts=True)
with torch.no_grad():
    log_cell, jensen = cell_log_probability(flow2.log_prob, cells)
gap_cells = (log_cell - jensen).numpy()
weights = counts.double() / counts.sum()
gap_2d = float((weights * (log_cell - jensen)).sum())
print(f"dequantization gap, exact: {gap_2d:.4f} nats per point on average "
      f"(smallest cell {gap_cells.min():.1e}, largest {gap_cells.max():.3f}); the cells' "
      f"probabilities sum to {torch.exp(log_cell).sum().item():.4f} of the data's support")
log.at_least("dequantization: log P(x) >= E_u log p(x + u) on every cell of the data "
             "(Jensen; smallest gap, quadrature)", "jensen", float(gap_cells.min()),
             -1e-10, "Gauss-Legendre rounding", kind="identity",
             against="0: Jensen's inequality", unit="nats")
show(figures.connections.plot_dequantization(g1.numpy(), dens.numpy(), cells.numpy(),
                                             gap_cells, counts.numpy()), "dequantization",
     f"A flow trained on dequantized lattice data: its density (left) and each cell's exact "
     f"dequantization gap, {gap_2d:.3f} nats on average, never negative (right).")

# %%
flow = CouplingFlow(D, layers=8, hidden=256, preprocess=LogitTransform(2.0))
flow_fit = fit_density(lambda x: -dequantized_log_likelihood(flow.log_prob, x, 1, fam_gen),
                       flow.parameters(), train_x, epochs=flow_epochs, lr=1e-3,
                       transform=lambda x: binarize(x, fam_gen), generator=fam_gen,
                       progress=PROGRESS, desc="flow")
flow.eval()
y0 = x_eval[0].double() + torch.rand(D, generator=fam_gen, dtype=torch.float64)
flow64 = CouplingFlow(D, layers=8, hidden=256, preprocess=LogitTransform(2.0)).double()
flow64.load_state_dict(flow.state_dict())
own = flow64(y0[None])[1].item()
auto = torch.linalg.slogdet(flow_jacobian(flow64, y0))[1].item()
print(f"MNIST flow ({flow_epochs} epochs, {flow_fit.seconds:.0f} s): log|det| {own:.6f}, "
      f"autograd's slogdet {auto:.6f}")
log.at_most("MNIST flow: log|det J| = slogdet of the autograd Jacobian, one image (relative "
            "error)", "intractable", abs(own - auto) / abs(auto), 1e-10,
            "float64 LU of a 784 x 784 Jacobian", kind="oracle",
            against="torch.linalg.slogdet of autograd's Jacobian", unit="relative")
with torch.no_grad():
    deq_1 = torch.stack([dequantized_log_likelihood(flow.log_prob, x_eval, 1, fam_gen)
                         for _ in range(4)]).mean(0)
    deq_k = dequantized_log_likelihood(flow.log_prob, x_eval, k_deq, fam_gen)
gain_est = monte_carlo_mean((deq_k - deq_1).double())
gain, gain_se = gain_est.estimate.item(), gain_est.stderr.item()
print(f"dequantized bound, per image: E_u log p(x+u) {deq_1.mean():.2f}, {k_deq}-sample "
      f"{deq_k.mean():.2f} nats: {gain:.2f} ± {gain_se:.2f} of the gap recovered")
log.at_least("MNIST flow: the k-sample dequantized bound is above the Jensen bound (z-score, "
             "paired per image)", "jensen", gain / gain_se, 4.0,
             "4 SE: the gap is there", kind="statistical",
             against="0: a zero dequantization gap", unit="SE")

# %% [markdown]
# ### Diffusion: a bound, Gaussian or Bernoulli
#
# Chapter 7's DDPM, on the binarized images scaled to $\pm1$: its decoder $L_0$ is the
# discretized Gaussian with **two** bins, $(-\infty, 0]$ for $-1$ and $[0,\infty)$ for $+1$,
# which sum to one, so $\sum_k L_k$ bounds the negative log-*probability* of the binary
# image. A Gaussian forward process is a poor match for two values: the network must predict
# the noise of a 784-dimensional Gaussian from a small MLP, and every step $t$ charges the
# squared error of that prediction at the weight $\beta_t/(2\alpha_t(1-\bar\alpha_t))$ —
# largest at the first steps. The printout says which terms carry the bound.
#
# Diffusion on binary data itself [@hoogeboom2021, two categories]: each step keeps a bit
# with probability $1-\beta_t$ and otherwise redraws it by a fair coin, so
# $q(x_t{=}1\mid x_0) = \bar\alpha_t x_0 + (1-\bar\alpha_t)/2$, the posterior
# $q(x_{t-1}\mid x_t, x_0)$ is Bayes' rule on two values, and **every term of the same bound is
# a KL between Bernoullis**; the network predicts $\hat x_0$. For a few bits the model's own
# $\log p_\theta(x_0)$ is exact — the reverse chain is a product of $2^D\times 2^D$
# matrices — so on 3×3 images (the data pooled and binarized, $2^9$ states) the bound is held
# against it, image by image, and the probabilities must sum to one.

# %%
bin_mean = 3 * torch.randn(1000, generator=fam_gen, dtype=torch.float64)
bin_logvar = 2 * torch.randn(1000, generator=fam_gen, dtype=torch.float64)
bins_p = torch.stack([discretized_gaussian_log_prob(torch.full((1000,), v, dtype=torch.float64),
                                                    bin_mean, bin_logvar, bins=2)
                      for v in (-1.0, 1.0)])
two_bins = torch.logsumexp(bins_p, 0).abs().max().item()
log.at_most("diffusion: the two-bin decoder's probabilities of -1 and +1 sum to 1 (max |log of "
            "the sum|, 1,000 random means and variances)", "diffusion", two_bins, 1e-12,
            "float64 rounding", kind="identity", against="1: a normalized decoder",
            unit="nats")
ddpm_data = static_binarization(train_x, SEED) * 2 - 1
ddpm_res = train_ddpm(ddpm_data, schedule=linear_schedule(100), steps=ddpm_steps,
                      batch_size=128, hidden=256, lr=1e-3, seed=SEED, progress=PROGRESS)
ddpm = ddpm_res.model.eval()
with torch.no_grad():
    ddpm_bound = ddpm.bound(x_eval * 2 - 1, torch.Generator().manual_seed(SEED + 1),
                            decoder="discretized", bins=2)
terms = ddpm_bound.terms.mean(0)
print(f"Gaussian DDPM ({ddpm_steps:,} steps, {ddpm_res.seconds:.0f} s): bound {ddpm_bound.total.mean():.1f}"
      f" nats = L_0 {terms[0]:.2f} + Σ L_(t−1) {terms[1:-1].sum():.1f} (of which t ≤ 10: "
      f"{terms[1:10].sum():.1f}) + L_T {terms[-1]:.1e}")

# %%
tiny_x = torch.nn.functional.adaptive_avg_pool2d(
    train_x[:4000].reshape(-1, 1, *shape), 3).reshape(-1, 9)
tiny = train_binary_diffusion(tiny_x, schedule=cosine_schedule(20), steps=600, batch_size=128,
                              hidden=64, lr=3e-3, seed=SEED, transform=binarize).model.double()
tiny.eval()
with torch.no_grad():
    tiny_log_p = exact_log_likelihood(tiny)
tiny_total = torch.logsumexp(tiny_log_p, 0).item()
tiny_test = static_binarization(torch.nn.functional.adaptive_avg_pool2d(
    x_eval.reshape(-1, 1, *shape), 3).reshape(-1, 9).double(), SEED)
codes = (tiny_test @ (2.0 ** torch.arange(9, dtype=torch.float64))).long()
draws = 200
per_draw = tiny.bound(tiny_test.repeat_interleave(draws, 0),
                      torch.Generator().manual_seed(SEED + 2)).total.reshape(-1, draws)
bound_z = ((per_draw.mean(1) + tiny_log_p[codes])
           / (per_draw.std(1) / draws ** 0.5).clamp_min(1e-12))
print(f"3×3 binary diffusion (T = 20): log Σ p over all 2^9 images = {tiny_total:.1e}; bound − "
      f"exact −log p per test image: mean {(per_draw.mean(1) + tiny_log_p[codes]).mean():.3f}"
      f" nats, smallest z {bound_z.min():.1f}")
log.at_most("binary diffusion: the exact probabilities of all 2^9 3x3 images sum to 1 (|log of "
            "the sum|)", "diffusion", abs(tiny_total), 2 ** 9 * 2.2e-16 * 20,
            "float64 rounding of 20 log-sum-exp matrix products of 512 terms", kind="identity",
            against="1: a normalized model", unit="nats")
log.at_least("binary diffusion: the bound is above the exact -log p of every 3x3 test image "
             "(smallest z-score of bound - exact, 200 draws each)", "diffusion",
             bound_z.min().item(), -4.0, "4 SE", kind="statistical",
             against="the exact reverse-chain likelihood (matrix products)", unit="SE")

# %%
bdiff = train_binary_diffusion(train_x, schedule=cosine_schedule(50), steps=bin_steps,
                               batch_size=128, hidden=512, lr=1e-3, seed=SEED,
                               transform=binarize, progress=PROGRESS)
bin_model = bdiff.model.eval()
bin_bound = bin_model.bound(x_eval, torch.Generator().manual_seed(SEED + 3))
bterms = bin_bound.terms.mean(0)
print(f"binary diffusion (T = 50, {bin_steps:,} steps, {bdiff.seconds:.0f} s): bound "
      f"{bin_bound.total.mean():.1f} nats = L_0 {bterms[0]:.2f} + Σ L_(t−1) "
      f"{bterms[1:-1].sum():.1f} + L_T {bterms[-1]:.1e}")

# %% [markdown]
# ### GANs: a discriminator between each model's samples and the data
#
# No likelihood, but a number: a discriminator trained on half of the samples (a logistic
# regression on 512 random ReLU features of the pixels — the last layer of a one-hidden-layer
# network) and scored on the other half gives a lower bound on
# $\mathrm{JS}(p_\text{data}, p_\text{model})\le\log 2 = 0.693$. It is a bound for *that*
# discriminator: large when the samples are easy to tell from the data. First the
# discriminator against the data itself (two disjoint sets of test images), where the
# divergence is 0: a bound above 0 there would mean the procedure is biased.

# %%
pool = test.images.float()
n_js = min(1000 if QUICK else 2000, len(pool) // 2)
ref_a = static_binarization(pool[-2 * n_js:-n_js], SEED + 11)
ref_b = static_binarization(pool[-n_js:], SEED + 12)
features = random_relu_features(D, 512, torch.Generator().manual_seed(SEED + 3))
null = held_out_js_bound(ref_a, ref_b, features)
print(f"data against data: JS bound {null.estimate.item():.3f} ± {null.stderr.item():.3f} nats")
log.at_most("discriminator on data vs data: held-out JS bound not above 0 (z-score)",
            "kl", null.estimate.item() / null.stderr.item(), 4.0,
            "4 SE: the divergence is 0", kind="statistical",
            against="0: JS of a distribution with itself", unit="SE")

with torch.no_grad():
    def vae_sample(n):
        return torch.bernoulli(sample_prior(run.model, n, run.latent, fam_gen).cpu().float(),
                               generator=fam_gen)

    samplers = {
        "VAE (chapter 4)": vae_sample,
        "MADE": lambda n: made.sample(n, fam_gen),
        "flow": lambda n: (flow.sample(n, fam_gen).floor().clamp(0, 1)),
        "diffusion (Gaussian)": lambda n: binary_ddpm_samples(ddpm, n, fam_gen),
        "diffusion (Bernoulli)": lambda n: bin_model.sample(n, fam_gen),
    }
    drawn = {name: fn(n_js) for name, fn in samplers.items()}
    speed = {name: samples_per_second(fn, 64 if name == "MADE" or "diffusion" in name else 512)
             for name, fn in samplers.items()}
js = {name: held_out_js_bound(ref_a, x, features) for name, x in drawn.items()}
for name, b in js.items():
    print(f"{name:>17}: JS(data, samples) ≥ {b.estimate.item():.3f} ± {b.stderr.item():.3f} "
          f"nats; {speed[name]:,.0f} samples/s")
if train.name == "mnist":  # the 8x8 digits' 360 test images leave the critic 90 per class
    log.at_least("discriminator on the VAE's samples vs data: held-out JS bound above 0 "
                 "(z-score)", "kl", js["VAE (chapter 4)"].estimate.item()
                 / js["VAE (chapter 4)"].stderr.item(), 4.0, "4 SE: the samples are told apart",
                 kind="statistical", against="0: indistinguishable samples", unit="SE")
else:
    print(f"({n_js} images per side, half to train the critic, on the {train.name}: too few "
          "for the discriminator to "
          "tell the VAE's samples apart with confidence; that check runs on MNIST)")

# %% [markdown]
# ### One table
#
# Every number on the same test images. *Exact* is an exact $-\log p(x)$ of that model; an
# *upper bound* is $\ge -\log p(x)$ (the ELBO, the IWAE-$k$ estimate — a stochastic lower
# bound on $\log p(x)$ —, the dequantized flow, the diffusion bound). The JS column is the
# held-out discriminator's lower bound between the model's samples and the data (at most
# $\log 2 = 0.693$). Published figures are the same family on binarized MNIST in its
# paper [@burda2016; @germain2015] (their networks, training length and binarization;
# @burda2016's VAE is evaluated with IWAE-5000); @fig:families draws the column of NLLs beside
# each model's samples. Read the column with what each number includes: the exact row pays no
# bound's gap; the VAE's $-$ELBO and IWAE rows differ by the gap chapter 5 splits; the flow's
# includes the dequantization gap above; the Gaussian diffusion's, the cost of modelling two
# values with a continuous process. Every model here trained for seconds to minutes, its
# published counterpart for days; the printout gives the distance.

# %%
vae_scores = run.scores or {}
rows = []
if "elbo" in vae_scores:
    rows.append(("VAE (chapter 4)", "VAE (chapter 4)", "upper bound (−ELBO)",
                 -vae_scores["elbo"], None,
                 "Burda et al. 2016 report the NLL, not the ELBO (next row)"))
if "log_px" in vae_scores:
    rows.append((f"VAE, IWAE-{ch.k_eval}", "VAE (chapter 4)",
                 f"upper bound (−IWAE-{ch.k_eval})", -vae_scores["log_px"], 86.76,
                 "Burda et al. 2016, Table 1: VAE, 1 stochastic layer, trained with k = 1; "
                 "NLL by IWAE-5000"))
rows += [
    ("MADE", "MADE", "exact", made_nll, 86.64,
     "Germain et al. 2015, binarized-MNIST results: 2 hidden layers of 8,000, 32 masks"),
    ("flow (dequantized)", "flow", f"upper bound (−{k_deq}-sample)", -deq_k, None,
     "none found for binary MNIST: flows report bits/dim on 8-bit images"),
    ("diffusion (Gaussian)", "diffusion (Gaussian)", "upper bound (Σ L_k)", ddpm_bound.total,
     None,
     "none found for a Gaussian DDPM on binary MNIST"),
    ("diffusion (Bernoulli)", "diffusion (Bernoulli)", "upper bound (Σ L_k)", bin_bound.total,
     None,
     "none found for binary MNIST"),
]
# %%
table = ["| family | what the number is | test −log p(x), nats | bits/dim | JS(data, samples) ≥ "
         "| samples/s (this CPU; batches of 64 for MADE and diffusion, 512 else) "
         "| published (nats) | source |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
family_rows = []
for name, key, kind, per_image, published, source in rows:
    if train.name != "mnist" and published is not None:  # MNIST's figures say nothing here
        published, source = None, f"(an MNIST figure: {source})"
    est = monte_carlo_mean(per_image.double())
    mean, se = est.estimate.item(), est.stderr.item()
    b = js.get(key)
    table.append(f"| {name} | {kind} | {mean:.2f} ± {se:.2f} | {mean / (D * LN2):.3f} | "
                 + (f"{b.estimate.item():.3f}" if b is not None else "—") + " | "
                 + (f"{speed[key]:,.0f}" if key in speed else "—") + " | "
                 + (f"{published:.2f}" if published else "—") + f" | {source} |")
    family_rows.append((name, mean, se, kind, published))
table.append(f"| GAN | no likelihood: a discriminator's JS bound (data against data: "
             f"{null.estimate.item():.3f}) | — | — | — | — | — | Goodfellow et al. 2014; "
             "Nowozin et al. 2016 |")
display(Markdown("\n".join(table)))
made_mean = made_nll.double().mean().item()
if train.name == "mnist":
    print(f"MADE's exact NLL {made_mean:.2f} nats against the published 86.64: "
          f"{made_mean - 86.64:+.2f}; this model has one hidden layer of 500 and trained for "
          f"{made_fit.seconds:.0f} s")
best = min(family_rows, key=lambda r: r[1])
print(f"lowest test −log p(x) here: {best[0]}, {best[1]:.2f} nats ({best[3]})")

# %%
show(figures.connections.plot_families(
        [r[0] for r in family_rows], np.array([r[1] for r in family_rows]),
        np.array([r[2] for r in family_rows]), [r[3] for r in family_rows],
        [r[4] for r in family_rows], {k: v.numpy() for k, v in drawn.items()}, shape),
     "families",
     "Five families on the same binarized test images: an exact NLL (MADE) and upper bounds "
     "(the VAE's −ELBO and −IWAE, the dequantized flow, the two diffusion bounds), each with "
     "the published figure for its family where one exists; and eight samples from each "
     "model.")

# %% [markdown]
# ## Try it
#
# - Give the discriminator of the first section only the features $(1, x)$: a linear logit
#   cannot express the quadratic log ratio of two Gaussians of different widths, and its JS
#   bound stays below the exact value by a margin you can measure.
# - Train the MADE for more epochs (`made_epochs`): its exact NLL falls towards the published
#   86.64 nats and its samples look more like digits; its sampling speed does not change (one
#   pass per pixel, whatever the training).
# - Raise the dequantization draws `k_deq`: the flow's bound rises towards its discrete
#   $\log P(x)$, slowly — the gap is a KL between the uniform noise and the flow's own
#   $p(u\mid x)$, and only a learned (variational) dequantization closes it.

# %%
ch.finish()
