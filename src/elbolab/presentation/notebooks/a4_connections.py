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
# state, for each family of generative models, the one equation that ties it to the ELBO.

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%


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
# ## Try it
#
# - Chapter 5 measures the flow posterior's gain; compare it with the autoregressive
#   models' published test NLL on binarized MNIST.

# %%
ch.finish()
