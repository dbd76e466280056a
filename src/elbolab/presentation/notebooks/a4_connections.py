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
# state, for each family of generative models, the one equation that ties it to the ELBO, and
# measure the one that ties GANs to variational inference: a discriminator's logit estimates
# a density ratio, and its objective is a lower bound on a divergence.

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
from scipy import stats

from elbolab.kl import gaussian_kl
from elbolab.parts.connections import (
    fit_logistic_critic,
    gaussian_js,
    js_lower_bound,
    kl_lower_bound,
)
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter

# %%
ch = Chapter("A4", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device

# %% [markdown]
# <a id="connections"></a>
#
#
# The same objects run through the other families of generative models; for each, the one
# equation that ties it to this lab, and what would be measured to show it.
#
# - **Normalizing flows** make $\log p(x)$ tractable by change of variables,
#   $\log p(x) = \log p(z) + \log\lvert\det \partial z/\partial x\rvert$ with $z = f(x)$
#   invertible: no bound, no gap. Used as $q(z\mid x)$ in a VAE they shrink the chapter 3 gap
#   $\mathrm{KL}(q\,\|\,p(z\mid x))$; measured by the ELBO gap of a flow posterior against the
#   Gaussian one on the same decoder.
# - **Autoregressive models** factor $p(x)=\prod_i p(x_i\mid x_{<i})$: an exact likelihood
#   again, in the same nats and bits/dim as chapter 4's IWAE estimate — which makes the two
#   directly comparable on binarized MNIST.
# - **GANs** [@goodfellow2014] drop the likelihood: the original minimax game minimizes (at the optimal
#   discriminator) $2\,\mathrm{JS}(p_\text{data}\,\|\,p_\theta) - \log 4$, a symmetrized cousin
#   of the KLs of chapter 2 that is mode-seeking in practice, like the reverse KL there;
#   measured by mode coverage on the ring of Gaussians, as for the DDPM above.
# - **Diffusion models** are the hierarchical VAE of the last section with the encoder fixed:
#   $-\log p_\theta(x_0)\le L_T+\sum_t L_{t-1}+L_0$, each term but $L_0$ a Gaussian KL of chapter 2 and $L_0$ a
#   reconstruction term, as in a VAE;
#   measured above, term by term, against an exact likelihood.

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
# ## Try it
#
# - Chapter 5 measures the flow posterior's gain; compare it with the autoregressive
#   models' published test NLL on binarized MNIST.
# - Give the discriminator only the features $(1, x)$: a linear logit cannot express the
#   quadratic log ratio of two Gaussians of different widths, and its JS bound stays below the
#   exact value by a margin you can measure.

# %%
ch.finish()
