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
# # Appendix A3 — Pitfalls, edge cases and error conditions
#
# The handout lists twelve "Common Mathematical Pitfalls". After this appendix you will be
# able to recognise each in code by its numbers: each pitfall below is committed on purpose
# and measured against the right computation, and bad input is shown to raise one clear error
# that names what is wrong.

# %% tags=["parameters"]
QUICK = True  # small sample sizes (CI); False for the full run
DEVICE = "auto"  # "auto", "cpu", "cuda", "mps"
SEED = 0
OUT_DIR = "."  # where figures/ and metrics.json go
DATA_DIR = None  # data folder (None: $ELBOLAB_DATA_DIR or the user cache)
PROGRESS = True  # progress bars on long cells (`elbolab lab` relays them to its console)

# %%
import gzip
import math
import tempfile
from pathlib import Path

import torch

import elbolab
from scipy import stats

from elbolab import (
    ELBOFramework,
    KLDivergenceBuilder,
    TwoForcesAnalysis,
    load_dataset,
)
from elbolab.presentation.chapters import Chapter
from elbolab.vae.data import DataError

# %%
ch = Chapter("A3", out_dir=OUT_DIR, quick=QUICK, device=DEVICE, seed=SEED,
             data_dir=DATA_DIR, progress=PROGRESS)
log, show, gen, device = ch.log, ch.show, ch.gen, ch.device
kl = KLDivergenceBuilder()

# %% [markdown]
# ## Probability theory errors
#
# **"Computing `log(0)` in likelihood calculations (add small epsilon)."** A Bernoulli decoder
# with logit $\ell$ has $\log p(x{=}1) = \log\sigma(\ell) = -\operatorname{softplus}(-\ell)$.
# Written as `log(sigmoid(l))`, $\sigma(-200)$ underflows to 0 in float32 and the log is
# $-\infty$; the handout's remedy, adding $\varepsilon = 10^{-7}$, makes it finite but caps
# it at $\log\varepsilon = -16.1$ nats where the truth is $-200$. The library never forms
# $\sigma(\ell)$: it works from logits, $x\ell - \operatorname{softplus}(\ell)$.

# %%
log.section("probability theory errors", "x.stability")
ch.source(elbolab.bernoulli_log_prob)

# %%
logit, one = torch.tensor([-200.0]), torch.ones(1)
naive_log0 = torch.log(torch.sigmoid(logit)).item()
eps_log0 = torch.log(torch.sigmoid(logit) + 1e-7).item()
ours_log0 = elbolab.bernoulli_log_prob(one, logit).item()
truth_log0 = -torch.nn.functional.softplus(torch.tensor(200.0, dtype=torch.float64)).item()
print(f"log σ(−200): textbook {naive_log0}, with ε = 1e-7 {eps_log0:.2f}, elbolab "
      f"{ours_log0:.2f}, float64 truth {truth_log0:.2f} nats")
log.at_least("pitfall: log(0) — log(sigmoid(-200)) in float32 is -inf (1 = yes)", "elbo",
             float(naive_log0 == -math.inf), 1.0, kind="demonstration",
             against="the finite truth, -200 nats", unit="(1 = yes)")
log.at_most("pitfall: log(0) — elbolab's Bernoulli log-probability from logits at -200, float32, "
            "against the float64 truth (abs error)", "elbo", abs(ours_log0 - truth_log0), 1e-4,
            "float32 rounding of a 200-nat value (~1e-5)", kind="oracle",
            against="-softplus(200) in float64", unit="nats")

# %% [markdown]
# **"Forgetting to sum over appropriate dimensions."** $\log p(x\mid z)$ of an image is a sum
# over its $D$ pixels and the KL a sum over the latent units. A mean over pixels divides the
# reconstruction term by $D$, which silently turns the ELBO into a β-VAE objective with
# $\beta = D$ (here 784): the KL then outweighs the image.

# %%
x_bin = torch.rand(64, 784, generator=gen).lt(0.3).float()
logits_bin = torch.randn(64, 784, generator=gen) * 2
summed = elbolab.bernoulli_log_likelihood(x_bin, logits_bin)
averaged = elbolab.bernoulli_log_prob(x_bin, logits_bin).mean(-1)
oracle_sum = torch.distributions.Bernoulli(logits=logits_bin).log_prob(x_bin).sum(-1)
log.at_most("bernoulli_log_likelihood = torch.distributions Bernoulli log_prob summed over "
            "pixels (max abs error)", "elbo", (summed - oracle_sum).abs().max().item(), 1e-3,
            "float32: ~10 ulp of ~600-nat sums", kind="oracle",
            against="torch.distributions Bernoulli(logits).log_prob", unit="nats")
log.close("pitfall: a mean over pixels instead of a sum scales the reconstruction term by 1/D "
          "(ratio sum / mean, D = 784)", "elbo", (summed / averaged).mean().item(), 784.0,
          rtol=1e-5, detail="float32 rounding of 784-term sums", kind="identity",
          against="D = 784, the number of pixels", unit="ratio")
print(f"per image: summed {summed.mean():.1f} nats, averaged {averaged.mean():.3f}: a factor "
      f"{(summed / averaged).mean():.1f}")

# %% [markdown]
# **"Using variance instead of log-variance in reparameterization."** `reparameterize(mu,
# logvar)` computes $\sigma = e^{\frac12\log\sigma^2}$. Passed the variance $\sigma^2 = 0.25$
# where $\log\sigma^2 = -1.386$ belongs, it draws with variance $e^{0.25} = 1.28$: a different
# law, five times too wide, and nothing raises.

# %%
var_true = 0.25
n_var_draws = 20_000
right = elbolab.reparameterize(torch.zeros(()), torch.tensor(math.log(var_true)),
                               sample_shape=(n_var_draws,), generator=gen)
wrong = elbolab.reparameterize(torch.zeros(()), torch.tensor(var_true),
                               sample_shape=(n_var_draws,), generator=gen)
var_se = var_true * math.sqrt(2 / (n_var_draws - 1))  # SE of a Gaussian sample variance
print(f"sample variance: log-variance passed {right.var():.4f}, variance passed "
      f"{wrong.var():.4f} (truth {var_true})")
log.z_within("reparameterize with the log-variance: sample variance = sigma^2 (z-score)", "elbo",
             (right.var().item() - var_true) / var_se,
             detail="SE of a Gaussian sample variance", against="sigma^2 = 0.25")
log.at_least("pitfall: the variance passed as log-variance draws the wrong law (z-score of the "
             "sample variance against sigma^2)", "elbo", (wrong.var().item() - var_true) / var_se,
             4.0, "4 SE: a wrong law must be detected", kind="demonstration",
             against="sigma^2 = 0.25", unit="SE")

# %% [markdown]
# ## Implementation issues
#
# **"Not preserving gradients through sampling (reparameterization essential)."**
# `Normal(mu, sigma).sample()` draws without a graph: a loss built on it sends no gradient to
# $\mu$. `rsample()` — and the library's `reparameterize` — draws $z=\mu+\sigma\varepsilon$,
# and the gradient of $\mathbb E[z^2] = \mu^2+\sigma^2$ arrives: $2\mu$ on average.

# %%
log.section("implementation issues", "x.edge_cases")
mu_g = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
sigma_g = torch.tensor(0.5, dtype=torch.float64)
z_plain = torch.distributions.Normal(mu_g, sigma_g).sample((4000,))
print(f"sample(): requires_grad = {z_plain.requires_grad}; the loss has no path to μ")
log.at_least("pitfall: a sample drawn without the trick carries no gradient to mu (1 = none)",
             "elbo", float(not z_plain.requires_grad), 1.0, kind="demonstration",
             against="the reparameterized draw's gradient", unit="(1 = yes)")
eps_g = torch.randn(4000, generator=gen, dtype=torch.float64)
per_draw = torch.autograd.grad(elbolab.reparameterize(
    mu_g.expand(4000), torch.log(sigma_g**2).expand(4000), eps=eps_g).pow(2).sum(), mu_g)[0]
grad_each = 2 * (mu_g.detach() + sigma_g * eps_g)  # d(z^2)/dmu per draw, for its spread
grad_z = (per_draw / 4000 - 2 * mu_g.detach()) / (grad_each.std() / math.sqrt(4000))
log.z_within("reparameterized draws: mean gradient of z^2 with respect to mu = 2 mu (z-score)",
             "elbo", grad_z.item(), against="2 mu (calculus)")

# %% [markdown]
# **"Incorrect broadcasting in batch operations."** A batch of targets of shape $(N,)$ minus
# predictions of shape $(N, 1)$ is not an error in PyTorch: it broadcasts to $(N, N)$ and
# every target meets every prediction. The sum is then over $N^2$ terms, off by a factor of
# about $N$, and nothing raises. The library checks the shapes at its boundary: an encoder
# that returns $(N, 1, d)$ is refused by `ELBOFramework`, naming what it expected.

# %%
n_b = 64
target, pred = torch.randn(n_b, generator=gen), torch.randn(n_b, 1, generator=gen)
broadcast = (target - pred).pow(2)
right_sq = (target - pred[:, 0]).pow(2)
print(f"shape {tuple(broadcast.shape)}; sum {broadcast.sum():.1f} against the intended "
      f"{right_sq.sum():.1f}")
log.at_least("pitfall: (N,) minus (N, 1) broadcasts to (N, N): elements / intended elements",
             "elbo", broadcast.numel() / right_sq.numel(), n_b, "N = 64 times too many terms",
             kind="demonstration", against="the N intended terms", unit="ratio")


class BadEncoder(torch.nn.Module):  # returns (N, 1, d): a broadcasting bug upstream
    def forward(self, x):
        return torch.zeros(len(x), 1, 2), torch.zeros(len(x), 1, 2)


try:
    ELBOFramework(BadEncoder(), torch.nn.Linear(2, 6), "bernoulli").compute_elbo(
        torch.zeros(5, 6))
    caught = ""
except ValueError as exc:
    caught = str(exc)
print(f"ELBOFramework: {caught}")
log.at_least("pitfall: (N,) minus (N, 1) — ELBOFramework refuses an encoder output of the "
             "wrong shape, naming mu (1 = yes)", "elbo", float("mu" in caught), 1.0,
             kind="identity", against="a ValueError naming mu and logvar", unit="(1 = yes)")

# %% [markdown]
# **"Missing normalization constants in Gaussian log-likelihood."** The handout's formula is
# $\log p(x\mid z) = -\frac12\big[\log 2\pi + \log\sigma^2 + (x-\mu)^2/\sigma^2\big]$ per
# dimension. Dropping $\log 2\pi$ does not change a gradient, but it changes every reported
# number: the ELBO, $\log p(x)$ and bits/dim are off by $\frac D2\log 2\pi$ — 720.4 nats for
# a 784-pixel image — and no longer comparable with any other model's.

# %%
x_g = torch.randn(16, 784, generator=gen, dtype=torch.float64)
mean_g = torch.randn(16, 784, generator=gen, dtype=torch.float64)
logvar_g = torch.tensor(math.log(0.3), dtype=torch.float64)
with_const = elbolab.gaussian_log_likelihood(x_g, mean_g, logvar_g)
without = (-0.5 * (logvar_g + (x_g - mean_g) ** 2 / logvar_g.exp())).sum(-1)
scipy_ll = torch.from_numpy(stats.norm.logpdf(x_g.numpy(), mean_g.numpy(),
                                              math.sqrt(0.3)).sum(-1))
log.at_most("gaussian_log_likelihood = scipy.stats.norm.logpdf summed over 784 pixels (max abs "
            "error)", "elbo", (with_const - scipy_ll).abs().max().item(), 1e-9,
            "float64 rounding of 784-term sums", kind="oracle",
            against="scipy.stats.norm.logpdf", unit="nats")
log.close("pitfall: the Gaussian log-likelihood without its log 2π term is off by (D/2) log 2π "
          "(measured difference, D = 784)", "elbo", (without - with_const).mean().item(),
          392 * math.log(2 * math.pi), atol=1e-9, detail="float64 rounding",
          kind="identity", against="(D/2) log 2π = 720.4 nats", unit="nats")

# %% [markdown]
# ## Conceptual misunderstandings
#
# **"Confusing reconstruction loss with mean squared error."** MSE is the reconstruction term
# only for a Gaussian decoder, and only up to a scale and a constant:
# $-\log p(x\mid z) = \lVert x-\hat x\rVert^2/(2\sigma^2) + \frac D2\log 2\pi\sigma^2$. For binary
# pixels the decoder is a Bernoulli, and the two can rank decoders oppositely. Below, decoder
# A predicts 0.5 everywhere; decoder B is confident (0.001 or 0.999) and wrong on 15% of the
# pixels. MSE prefers B; the log-likelihood — the quantity the ELBO contains — prefers A,
# because a confident mistake costs $\log 1000 = 6.9$ nats.

# %%
log.section("conceptual misunderstandings", "x.theory_practice")
x_mse = torch.rand(256, 784, generator=gen).lt(0.5).double()
flip = torch.rand(256, 784, generator=gen, dtype=torch.float64).lt(0.15)
p_a = torch.full_like(x_mse, 0.5)
p_b = torch.where(flip, 1 - x_mse, x_mse).clamp(1e-3, 1 - 1e-3)
mse = {n: (x_mse - p).pow(2).sum(-1).mean().item() for n, p in (("A", p_a), ("B", p_b))}
ll = {n: elbolab.bernoulli_log_likelihood(x_mse, torch.logit(p)).mean().item()
      for n, p in (("A", p_a), ("B", p_b))}
print(f"sum of squared errors per image: A {mse['A']:.1f}, B {mse['B']:.1f}; Bernoulli "
      f"log-likelihood: A {ll['A']:.1f}, B {ll['B']:.1f} nats")
log.at_least("pitfall: MSE is not the reconstruction term — MSE and the Bernoulli "
             "log-likelihood rank two decoders oppositely (1 = yes)", "elbo",
             float((mse["B"] < mse["A"]) and (ll["A"] > ll["B"])), 1.0, kind="demonstration",
             against="the ranking by log-likelihood", unit="(1 = yes)")
sse = (x_g - mean_g).pow(2).sum(-1)
log.at_most("pitfall: MSE is not the reconstruction term — for a unit-variance Gaussian "
            "decoder, -log p(x|z) = SSE/2 + (D/2) log 2π exactly (max abs error)", "elbo",
            (-elbolab.gaussian_log_likelihood(x_g, mean_g, 0.0)
             - (sse / 2 + 392 * math.log(2 * math.pi))).abs().max().item(), 1e-9,
            "float64 rounding", kind="identity", against="SSE/2 + (D/2) log 2π",
            unit="nats")

# %% [markdown]
# The other pitfalls are measured where their subject is: the wrong direction of the KL and
# its asymmetry in chapter 2 (mode covering against mode seeking), why Jensen's inequality
# gives a *lower* bound in chapter 3, instability in extreme parameter ranges in appendix A2,
# and the connection between β and force balance in chapter 6. The last appendix lists which
# check covers each.

# %% [markdown]
# ## Edge cases and error conditions
#
# Bad input gets one clear error that names the argument (or the file) and says what was
# expected — never a silent NaN. Each call below is wrong on purpose; the error is caught and
# printed, as a user would read it.

# %%
log.section('edge cases and error conditions', 'x.edge_cases')
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
        shown = str(exc).replace(str(bad_dir.parent), "<a temporary folder>")
        print(f"{what:<30} → {type(exc).__name__}: {shown}")
log.at_least("bad input raises a clear error naming its argument or file (of 5 cases)",
             "elbo", named, len(bad_calls), "each case must raise and name what is wrong",
             kind="identity", against="the number of bad-input cases", unit="count")

# %% [markdown]
# ## Try it
#
# - Remove `sum_event` from a reconstruction term of your own and compare the ELBO with
#   `ELBOFramework.compute_elbo`: it shrinks by a factor of the data dimension.

# %%
ch.finish()
