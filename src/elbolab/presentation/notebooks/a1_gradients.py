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
# # Appendix A1 — Gradient estimators in depth
#
# Why the reparameterization trick, measured. After this appendix you will be able to hold
# five estimators of the ELBO's gradient (score function with and without a baseline,
# reparameterization, sticking the landing, the analytic KL) against exact gradients, say
# why their variances differ by orders of magnitude, and why IWAE's encoder gradient needs
# DReG. Its last section uses the VAE of chapter 4 (loaded from `runs/part4_example`).

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
import copy
import math

import numpy as np
import torch
from IPython.display import Markdown, display
from scipy import stats

from elbolab.parts import gradient_variance
from elbolab.parts.latent_models import GaussianProposal
from elbolab.presentation import figures
from elbolab.presentation.chapters import Chapter

# %%
ch = Chapter("A1", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device
train_data, test_data, run, x_eval = ch.example_run()  # the VAE trained in chapter 4
n_eval, k_eval = ch.n_eval, ch.k_eval
model64 = copy.deepcopy(run.model).double()  # the gradients below are compared in float64

# %% [markdown]
# ## Why the trick: gradient variance, measured against exact gradients
#
# The trick is *correct*; the reason to use it is *variance*. Every unbiased estimator of
# $\nabla_\phi\,\mathbb E_{q_\phi}[f(z)]$ averages to the same gradient, but how many samples
# it needs depends on its spread. The score function (REINFORCE, @williams1992),
# $f(z)\,\nabla_\phi\log q_\phi(z)$, needs only values of $f$; the reparameterized (pathwise)
# estimator $\nabla_z f(z)\,\partial z/\partial\phi$ uses $f$'s gradient. On the linear-Gaussian
# model of chapter 1 the ELBO of a diagonal $q = \mathcal N(\mu, \operatorname{diag}e^{\text{logvar}})$
# and its gradient are known in closed form,
# $$\partial_\mu\mathrm{ELBO} = W^\top(x - W\mu - b)/\sigma_x^2 - \mu,\qquad
#   \partial_{\text{logvar}}\mathrm{ELBO} = \tfrac12\big(1 - v\odot(1 + \operatorname{diag}
#   W^\top W/\sigma_x^2)\big),$$
# with $v = e^{\text{logvar}}$ the variances of $q$ and $\sigma_x$ the decoder's noise standard
# deviation,
# so every estimator (`elbolab.gradients`) can be held against the true gradient: the score
# function, with a leave-one-out baseline, reparameterization, "sticking the landing" (STL,
# @roeder2017, the path derivative alone) and reparameterization with the analytic KL.

# %%
log.section('gradient estimators against exact gradients', 'p4.reparameterization',
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
# $\partial/\partial\mu_j$ is $2z_j$, whose variance is exactly $4\sigma^2$ whatever $d$
# (@fig:gradient_variance).

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
# the posterior is a diagonal Gaussian, so $q$ can reach it (@fig:sticking_the_landing).

# %%
landing = gradient_variance.stl_vs_distance(n=1_000 if QUICK else 4_000)
log.at_most("STL gradient variance at the exact posterior", "elbo", landing.stl[-1], 1e-20,
            "float64: z − μ and the posterior's score cancel to rounding", kind="identity",
            against="0 (Roeder et al. 2017)", unit="variance")
log.at_least("standard reparameterized gradient variance at the exact posterior", "elbo",
             landing.reparam[-1], 1e-2, "the score term's variance, ½ per logvar at least",
             kind="demonstration", against="STL's zero", unit="variance")
print("distance to the posterior   STL variance   reparameterization variance")
for dist_, v_stl, v_rep in zip(landing.distance, landing.stl, landing.reparam, strict=True):
    print(f"{dist_:>25.3g}   {v_stl:>12.2g}   {v_rep:>27.3g}")
show(figures.gradients.plot_sticking_the_landing(landing.distance, landing.stl,
                                                 landing.reparam),
     "sticking_the_landing",
     f"At the posterior STL's gradient variance is {landing.stl[-1]:.1e} (float64 zero) while "
     f"the standard estimator's stays at {landing.reparam[-1]:.2f}.")

# %% [markdown]
# **Importance-weighted bounds.** Training on $\mathcal L_k$ [@burda2016] tightens the
# bound, but @rainforth2018 proved that the signal-to-noise ratio of the encoder's
# gradient falls like $k^{-1/2}$ while the decoder's rises like $k^{1/2}$: the encoder's
# expected gradient vanishes faster than its noise. The doubly reparameterized gradient (DReG,
# @tucker2019) $\sum_j\tilde w_j^2\,\partial\log w_j/\partial z_j\,\partial z_j/\partial\phi$
# removes the score terms and keeps the encoder's SNR from falling. We fit the log-log slopes
# (bootstrap standard errors) and hold them against the theory (@fig:iwae_snr).

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
print("SNR slopes in log k: " + ", ".join(f"{k.replace('_', ' ')} {v:+.3f} ± {snr.slope_se[k]:.3f}"
                                           for k, v in snr.slope.items()))
show(figures.gradients.plot_snr_vs_k(snr.ks, snr.snr, snr.slope, snr.slope_se), "iwae_snr",
     f"Encoder SNR slope {snr.slope['encoder']:+.2f} (theory −0.5), decoder "
     f"{snr.slope['decoder']:+.2f} (theory +0.5); with DReG the encoder's is "
     f"{snr.slope['encoder_dreg']:+.2f}.")

# %% [markdown]
# ## Why the trick, on the trained VAE
#
# The linear-Gaussian experiments above had exact gradients. The trained MNIST VAE has none, so
# each estimator of the ELBO's gradient with respect to $q(z\mid x)$'s parameters ($\mu$ and
# $\log\sigma^2$ for each test image: what the encoder's weights receive through the chain
# rule) is held against a large-sample reference, the mean of many analytic-KL estimates with
# its standard error. All five must agree with it (one Bonferroni bound for every image,
# parameter and estimator); their variances, the total over the $2d$ parameters ($d$ latent units), are what
# differ (@fig:vae_gradient_variance). In float64, on the model trained above.

# %%
log.section('gradient variance on the trained VAE', 'p4.reparameterization',
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
# ## Try it
#
# - Raise `d` in `variance_vs_dimension`: the score function's variance grows roughly linearly
#   in d, the reparameterized one stays at $4\sigma^2$.

# %%
ch.finish()
