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
# # Chapter 4 — The reparameterization trick and a VAE on MNIST
#
# The handout's Part 4 (25 min): "construct the universal solution to generative
# modeling". After this chapter you will be able to
#
# - validate the reparameterization trick statistically and check that gradients flow through
#   the sample (`ELBOFramework.reparameterize`);
# - assemble the ELBO from `reconstruction_loss` and `kl_regularization`, check each piece
#   against `torch.distributions`, and hold the ELBO and IWAE-$k$ against an exact $\log p(x)$;
# - train a VAE on binarized MNIST, read its learning curve, and score it with the ELBO, the
#   importance-sampled $\log p(x)$ and an exact baseline.
#
# Later chapters load the model trained here from its run folder (`runs/part4_example`).

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
import math
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import elbolab
from elbolab import (
    ELBOFramework,
    KLDivergenceBuilder,
    TrainConfig,
    Trainer,
    gaussian_log_prob,
    monte_carlo_mean,
    reparameterize,
)
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter
from elbolab.vae.backprop import elbo_gradients
from elbolab.vae.data import binarize
from elbolab.vae.evaluation import (
    bits_per_dim,
    iwae_per_example,
    per_example_elbo,
    reconstruct,
    sample_prior,
)

# %%
ch = Chapter("4", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device
train_data, test_data = ch.load_data()
kl = KLDivergenceBuilder()

# %% [markdown]
# <a id="part-4"></a>
#
#
# For a latent-variable model $p(x, z) = p(x\mid z)\,p(z)$ and any $q(z\mid x)$,
# $$\log p(x) = \underbrace{\mathbb E_{q}\big[\log p(x\mid z)\big]
#   - \mathrm{KL}\big(q(z\mid x)\,\|\,p(z)\big)}_{\text{ELBO}}
#   \;+\; \mathrm{KL}\big(q(z\mid x)\,\|\,p(z\mid x)\big),$$
# so the ELBO is a lower bound whose gap is the KL to the true posterior. Training needs its
# gradient with respect to the parameters of $q$; writing the sample as a deterministic,
# differentiable function of noise,
# $$z = \mu + \sigma\odot\varepsilon,\qquad \varepsilon\sim\mathcal N(0, I),$$
# moves the randomness out of the way [@kingma2014, §2.4; @rezende2014]: $\partial z/\partial\mu = 1$
# and $\partial z/\partial\sigma = \varepsilon$.
#
# ## The samples have the right distribution
#
# Draws of $z=\mu+\sigma\varepsilon$ against the law $\mathcal N(\mu,\sigma^2)$ they must have:
# their mean and variance, and a Kolmogorov–Smirnov test (@fig:reparameterization).

# %%
log.section('reparameterized samples', 'p4.reparameterization')
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
      f"(σ² = {sigma0**2:.4f}), KS D = {ks.statistic:.4f}, p = {ks.pvalue:.2g}")
show(figures.elbo.plot_reparameterization(z.numpy(), mu0, sigma0, ks.statistic, ks.pvalue),
     "reparameterization",
     f"z = μ + σ·ε has the law N(μ, σ²): sample mean {mean_z.estimate:.3f} for μ = {mu0}, "
     f"Kolmogorov–Smirnov p = {ks.pvalue:.2g}.")

# %% [markdown]
# ## Gradients flow through the sample
#
# With the noise $\varepsilon$ fixed, autograd must give $\partial z/\partial\mu = 1$ and
# $\partial z/\partial\sigma = \varepsilon$ exactly (we differentiate through
# $\sigma = e^{\frac12\log\sigma^2}$ and divide by
# $\partial\sigma/\partial\log\sigma^2 = \sigma/2$).

# %%
log.section('gradients through the sample', 'p4.reparameterization', 'x.theory_practice')
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
print(f"largest |dz/dμ − 1| = {(dz_dmu - 1).abs().max().item():.1e}, largest |dz/dσ − ε| = "
      f"{(dz_dsigma - eps).abs().max().item():.1e} (float64 rounding is about 1e-16)")

# %% [markdown]
# ## The bound's pieces on a small linear-Gaussian model
#
# A linear decoder $p(x\mid z) = \mathcal N(Wz + b, \sigma^2 I)$ with $p(z)=\mathcal N(0,I)$ has
# a Gaussian marginal $p(x) = \mathcal N(b, WW^\top + \sigma^2 I)$, which `torch.distributions`
# evaluates for us: a true $\log p(x)$ to hold the bounds against. The encoder is a deliberately
# imperfect linear map. `ELBOFramework` assembles reconstruction, analytic KL, the ELBO and the
# importance-weighted bound $\mathcal L_k$ [@burda2016], and we check
# $\text{ELBO} \le \mathcal L_k \le \log p(x)$ with $\mathcal L_k$ rising in $k$.

# %%
log.section("the bound's pieces and IWAE-k", 'p4.elbo', 'p4.iwae')
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


# %% [markdown]
# The handout's four methods of `ELBOFramework`, each called through the class and held
# against an independent answer: `reparameterize` against $z=\mu+e^{\frac12\log\sigma^2}
# \varepsilon$ written out with the same $\varepsilon$; `reconstruction_loss` (which, despite
# the handout's name, returns the log-likelihood $\log p(x\mid z)$, summed over pixels: the
# loss is its negative) against `torch.distributions`; `kl_regularization` against
# `torch.distributions`; and `compute_elbo`, which must be exactly the first minus the second
# at its own sample. The code that runs behind them:

# %%
ch.source(reparameterize, elbolab.gaussian_log_likelihood, ELBOFramework.compute_elbo)

# %%
with torch.no_grad():
    z_method = framework.reparameterize(res.mu, res.logvar,
                                        generator=torch.Generator(device=device).manual_seed(3))
    eps_same = torch.randn(res.mu.shape, generator=torch.Generator(device=device).manual_seed(3),
                           device=device)
    rec_method = framework.reconstruction_loss(x, x_mean, x_logvar)
    kl_method = framework.kl_regularization(res.mu, res.logvar)
    elbo_parts = (framework.reconstruction_loss(x, *framework.decoder(res.z))
                  - framework.kl_regularization(res.mu, res.logvar))
log.at_most("ELBOFramework.reparameterize = mu + exp(logvar / 2) * eps, the same eps (max abs "
            "error)", "elbo", (z_method - (res.mu + torch.exp(0.5 * res.logvar) * eps_same))
            .abs().max().item(), 1e-6, "float32: a few ulp of O(1) values", kind="identity",
            against="z = mu + sigma * eps, written out", unit="abs. error")
log.at_most("ELBOFramework.reconstruction_loss = torch.distributions Normal log_prob summed over "
            "pixels (max abs error)", "elbo", (rec_method - Normal(
                x_mean, torch.exp(0.5 * x_logvar)).log_prob(x).sum(-1)).abs().max().item(), 1e-4,
            "float32: ~10 ulp of O(10)-nat sums", kind="oracle",
            against="torch.distributions Normal(mean, sigma).log_prob", unit="nats")
log.at_most("ELBOFramework.kl_regularization = torch.distributions KL to N(0, I) summed over "
            "units (max abs error)", "elbo", (kl_method - kl_divergence(
                q_dist, Normal(0.0, 1.0)).sum(-1)).abs().max().item(), 1e-5,
            "float32: a few ulp of O(1)-nat values", kind="oracle",
            against="torch.distributions kl_divergence to N(0, 1)", unit="nats")
log.at_most("ELBOFramework.compute_elbo = reconstruction_loss - kl_regularization at its own z "
            "(max abs error)", "elbo", (res.elbo - elbo_parts).abs().max().item(), 1e-5,
            "float32 rounding of the same sums", kind="identity",
            against="its two terms, each called through the class", unit="nats")

# %%
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
# data cancels and the standard errors below measure Monte Carlo noise alone
# (@fig:iwae_vs_k).

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
# ## Training a real VAE on MNIST
#
# Everything above, put to work: `ELBOFramework` with an MLP encoder and decoder (the
# `example` preset: 784-400-20, ReLU, Bernoulli likelihood), trained by maximizing the ELBO
# with Adam. A Bernoulli decoder is a normalized likelihood only for **binary** images, so the
# pixels are binarized as in @burda2016: every epoch draws each training pixel as a
# Bernoulli of its grey level (dynamic binarization), and the test set is binarized once with
# a fixed seed. Every −ELBO, log p(x) and bits/dim below is therefore a likelihood of binary
# images, comparable to the binarized-MNIST literature (@burda2016 report 86.76 nats for a
# one-layer VAE trained for 3,280 epochs; this one trains for a few epochs, whose seconds the
# printout gives). The trainer keeps the
# whole dataset on the device, writes a checkpoint and metrics every epoch, and can resume. At
# the end we hold the model against an exact baseline and the ELBO against the tighter
# importance-weighted bound on the test set. Its learning curve (@fig:training_learning_curves),
# its reconstructions of test images (@fig:training_reconstructions) and images it generates
# from the prior (@fig:training_samples) follow.

# %%
log.section('a VAE trained on MNIST', 'p4.vae')
# quick: 6 epochs of 5,000 images (a learning curve with six points, for the cost of three
# epochs of 10,000); the 8x8 digits fallback has 1,438 training images: more epochs, about as
# many steps
epochs_4 = (6 if QUICK else 10) * (1 if train_data.name == "mnist" else 5 if QUICK else 10)
train_cfg = TrainConfig(preset="example", epochs=epochs_4, seed=SEED,
                        device=str(device), data_dir=DATA_DIR, binarize="dynamic",
                        train_subset=5_000 if QUICK else None,
                        test_subset=1_000 if QUICK else None)
trainer = Trainer.from_config(train_cfg, Path(OUT_DIR) / "runs" / "part4_example",
                              train=train_data, test=test_data, progress=PROGRESS)
run = trainer.fit(overwrite=True)  # the lab owns its output folder: a rerun replaces it
for h in run.history:
    print(f"epoch {h['epoch']:>2}: train −ELBO {h['train_loss']:7.2f}  test −ELBO "
          f"{h['test_loss']:7.2f}  (E[log p(x|z)] {h['test_reconstruction']:7.2f}, "
          f"KL {h['test_kl']:5.2f})  {h['train_seconds']:.2f} s")
first, last = run.history[0], run.history[-1]
print(f"{len(run.history)} epochs in {sum(h['train_seconds'] for h in run.history):.1f} s of "
      f"training steps on {device}")
epoch_rho = stats.spearmanr([h["epoch"] for h in run.history],
                            [h["test_loss"] for h in run.history]).statistic
log.at_most("learning curve: the test −ELBO falls epoch by epoch (Spearman rank correlation of "
            "epoch and test −ELBO)", "training", epoch_rho, -0.8, "-1 is a curve that falls "
            "at every epoch; -0.8 allows one step up among six", kind="demonstration",
            against="-1: a curve that falls at every epoch", unit="rank correlation")
log.at_least("training improves the test ELBO (first-epoch minus last-epoch loss, nats)",
             "training", first["test_loss"] - last["test_loss"], 1.0 if QUICK else 5.0,
             kind="demonstration", against="the claimed improvement", unit="nats")

# %%
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
# ## The backward pass, written out
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
log.section('the backward pass and the test bound', 'p4.vae', 'p4.iwae',
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
n_eval, k_eval = ch.n_eval, ch.k_eval
x_eval = trainer.data.test_x[:n_eval]
eval_gen = torch.Generator(device=device).manual_seed(SEED)
# the model's one test ELBO and log p(x) per image: saved with the run, so that chapter 5
# compares other models with these very numbers
elbo_eval = per_example_elbo(run.model, x_eval, draws=10, generator=eval_gen)["elbo"]
ll_x = iwae_per_example(run.model, x_eval, k_eval, generator=eval_gen).double().cpu()
ch.save_scores("part4_example", elbo=elbo_eval, log_px=ll_x)
ll_eval = monte_carlo_mean(ll_x)
gap_eval = monte_carlo_mean(ll_x - elbo_eval)
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
# ## A convolutional encoder and decoder
#
# The same ELBO, with other networks: the `conv` preset reads each image as a 28×28 grid and
# uses two 4×4 convolutions with stride 2 each way (32 and 64 channels, 258k parameters
# against the MLP's 653k). A convolution applies the same small filter at every position, so
# each weight learns from every part of every image. Whether that buys a lower −ELBO is
# measured, not assumed: the printout gives both models' test −ELBO epoch by epoch (which one
# leads can change between epochs), and after the last epoch the two are compared per test
# image (paired, with its standard error). Per second the convolutional VAE may be slower — its
# products cost more arithmetic per image and it trains through autograd — the printout gives
# the seconds of this run. Same data, seed, optimizer and objective as the MLP run above.

# %%
log.section('a convolutional VAE', 'p4.vae')
# both networks on the same protocol: 3 epochs of 10,000 images in quick mode (all in full)
conv_epochs = 3
cmp_cfg = dataclasses.replace(train_cfg, epochs=conv_epochs,
                              train_subset=10_000 if QUICK else None)
conv_trainer = Trainer.from_config(
    dataclasses.replace(cmp_cfg, preset="conv"),
    Path(OUT_DIR) / "runs" / "part4_conv", train=train_data, test=test_data, progress=PROGRESS)
conv_run = conv_trainer.fit(overwrite=True)
mlp_short = Trainer.from_config(cmp_cfg, Path(OUT_DIR) / "runs" / "part4_example_short",
                                train=train_data, test=test_data,
                                progress=PROGRESS).fit(overwrite=True)
mlp_hist = mlp_short.history
for h_mlp, h_conv in zip(mlp_hist, conv_run.history, strict=False):
    lead = "conv" if h_conv["test_loss"] < h_mlp["test_loss"] else "MLP"
    print(f"epoch {h_conv['epoch']}: test −ELBO MLP {h_mlp['test_loss']:7.2f} "
          f"({h_mlp['train_seconds']:.2f} s), conv {h_conv['test_loss']:7.2f} "
          f"({h_conv['train_seconds']:.2f} s): {lead} lower")
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
# difference (@fig:training_mlp_vs_conv), and the two models' reconstructions of the same test
# images side by side (@fig:training_conv_reconstructions). (Both trained on the same images
# for the same epochs; the MLP of the previous sections trained on a different budget, so the
# comparison uses an MLP trained like the convolutional one.)

# %%
x_cmp = conv_trainer.data.test_x[:n_eval]
mlp_at_conv = mlp_short.model
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
    {"MLP (example)": mlp_short.history, "conv": conv_run.history},
    title=f"Test −ELBO on {train_data.name}"), "training_mlp_vs_conv",
     f"After {conv_epochs} epochs the convolutional VAE's test ELBO is "
     f"{abs(conv_vs_mlp.estimate):.2f} ± {conv_vs_mlp.stderr:.2f} nats per image "
     f"{'above' if conv_vs_mlp.estimate > 0 else 'below'} the MLP's (paired), for "
     f"{conv_s / mlp_s:.1f}x its training time.")
x_show = conv_trainer.data.test_x[:16]
show(figures.training.plot_reconstructions(
    x_show.cpu().numpy(),
    {f"{name}, {conv_epochs} epochs": reconstruct(m, x_show).cpu().numpy()
     for name, m in (("MLP", mlp_at_conv), ("conv", conv_run.model))},
    conv_trainer.data.image_shape), "training_conv_reconstructions",
     f"The same test images reconstructed by the MLP and by the convolutional VAE, each after "
     f"{conv_epochs} epochs on the same data.")

# %% [markdown]
# ## Try it
#
# - Train for more epochs (`epochs_4`): the test −ELBO keeps falling, by less each epoch; the
#   learning curve shows where the returns diminish.
# - Set `latent=2` in the `TrainConfig` and compare the test −ELBO with the 20-unit model's:
#   two units cannot carry as much about an image; `elbolab train --latent 2` also draws the
#   latent space as a scatter plot by digit.

# %%
ch.finish()
