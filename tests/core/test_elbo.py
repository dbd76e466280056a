import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from elbolab import (
    ELBOFramework,
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    monte_carlo_mean,
    reparameterize,
)

f64 = torch.float64


# -- reparameterization ---------------------------------------------------------------------
def test_reparameterize_is_reproducible_with_a_generator():
    mu, lv = torch.zeros(3), torch.zeros(3)
    a = reparameterize(mu, lv, sample_shape=(4,), generator=torch.Generator().manual_seed(0))
    b = reparameterize(mu, lv, sample_shape=(4,), generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_reparameterized_samples_have_the_right_law(gen):
    mu, sigma = -0.7, 1.8
    z = reparameterize(
        torch.tensor(mu, dtype=f64),
        torch.tensor(2 * math.log(sigma), dtype=f64),
        sample_shape=(100_000,),
        generator=gen,
    )
    m = monte_carlo_mean(z)
    assert abs(m.z_score(mu).item()) < 4
    assert abs(z.var().item() - sigma**2) < 4 * sigma**2 * math.sqrt(2 / 99_999)
    assert stats.kstest(z.numpy(), "norm", args=(mu, sigma)).pvalue > 1e-3


def test_reparameterize_gradients_are_one_and_eps(gen):
    mu = torch.randn(50, generator=gen, dtype=f64, requires_grad=True)
    sigma = torch.rand(50, generator=gen, dtype=f64).add(0.1).requires_grad_()
    eps = torch.randn(50, generator=gen, dtype=f64)
    z = reparameterize(mu, 2 * torch.log(sigma), eps=eps)
    dmu, dsigma = torch.autograd.grad(z.sum(), (mu, sigma))
    torch.testing.assert_close(dmu, torch.ones_like(mu))
    torch.testing.assert_close(dsigma, eps)


def test_reparameterize_matches_torch_rsample_draw_for_draw(gen):
    """With the global seed, torch's Normal.rsample draws the same ε: the samples and their
    gradients must agree with ours."""
    mu = torch.randn(5, 3, generator=gen, dtype=f64, requires_grad=True)
    lv = torch.randn(5, 3, generator=gen, dtype=f64, requires_grad=True)
    torch.manual_seed(0)
    theirs = Normal(mu, torch.exp(0.5 * lv)).rsample((4,))
    torch.manual_seed(0)
    ours = reparameterize(mu, lv, sample_shape=(4,))
    torch.testing.assert_close(ours, theirs)
    w = torch.randn(4, 5, 3, generator=gen, dtype=f64)
    g_ours = torch.autograd.grad((ours * w).sum(), (mu, lv))
    g_theirs = torch.autograd.grad((theirs * w).sum(), (mu, lv))
    for a, b in zip(g_ours, g_theirs, strict=True):
        torch.testing.assert_close(a, b)


def test_reparameterize_rejects_bad_eps_shape():
    with pytest.raises(ValueError, match="eps must have shape"):
        reparameterize(torch.zeros(3), torch.zeros(3), eps=torch.zeros(4))


# -- reconstruction terms -------------------------------------------------------------------
@pytest.mark.parametrize("logvar_kind", ["scalar", "per_pixel", "full"])
def test_gaussian_log_likelihood_matches_independent_normal(gen, logvar_kind):
    x, mean = torch.randn(2, 8, 10, generator=gen, dtype=f64)
    logvar = {
        "scalar": torch.tensor(-0.3, dtype=f64),
        "per_pixel": torch.randn(10, generator=gen, dtype=f64),
        "full": torch.randn(8, 10, generator=gen, dtype=f64),
    }[logvar_kind]
    ref = Independent(Normal(mean, torch.exp(0.5 * logvar).expand(8, 10)), 1).log_prob(x)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, logvar), ref)


def test_bernoulli_log_likelihood_matches_independent_bernoulli_on_images(gen):
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3, dtype=f64), generator=gen)
    logits = torch.randn(5, 1, 4, 4, generator=gen, dtype=f64)
    out = bernoulli_log_likelihood(x, logits, event_dims=3)
    torch.testing.assert_close(out, Independent(Bernoulli(logits=logits), 3).log_prob(x))


# -- ELBOFramework --------------------------------------------------------------------------
class GaussEncoder(nn.Module):
    def __init__(self, d_in, d_z):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(d_in, 16), nn.Tanh(), nn.Linear(16, 2 * d_z)
        )

    def forward(self, x):
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar


class GaussDecoder(nn.Module):
    def __init__(self, d_z, d_out, per_pixel=False):
        super().__init__()
        self.net = nn.Linear(d_z, d_out)
        self.x_logvar = nn.Parameter(torch.zeros(d_out) if per_pixel else torch.zeros(()))

    def forward(self, z):
        return self.net(z), self.x_logvar


class ImageBernoulliDecoder(nn.Module):
    def __init__(self, d_z):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_z, 16), nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 1, 3, padding=1)
        )

    def forward(self, z):
        return self.net(z)


def test_elbo_is_reconstruction_minus_kl_and_pieces_match_oracles(gen):
    torch.manual_seed(0)
    fw = ELBOFramework(GaussEncoder(6, 2), GaussDecoder(2, 6, per_pixel=True)).double()
    x = torch.randn(32, 6, generator=gen, dtype=f64)
    res = fw.compute_elbo(x, generator=gen)
    assert res.elbo.shape == res.reconstruction.shape == res.kl.shape == (32,)
    torch.testing.assert_close(res.elbo, res.reconstruction - res.kl, rtol=0, atol=0)
    # pieces against torch.distributions
    q = Independent(Normal(res.mu, torch.exp(0.5 * res.logvar)), 1)
    prior = Independent(Normal(torch.zeros_like(res.mu), 1.0), 1)
    torch.testing.assert_close(res.kl, torch.distributions.kl_divergence(q, prior))
    x_mean, x_logvar = fw.decoder(res.z)
    lik = Independent(Normal(x_mean, torch.exp(0.5 * x_logvar).expand_as(x_mean)), 1).log_prob(x)
    torch.testing.assert_close(res.reconstruction, lik)
    torch.testing.assert_close(fw.reconstruction_loss(x, x_mean, x_logvar), lik)
    torch.testing.assert_close(fw.kl_regularization(res.mu, res.logvar), res.kl)
    assert res.loss.item() == pytest.approx(-res.elbo.mean().item())


def test_gradients_flow_through_sampling_to_every_parameter(gen):
    fw = ELBOFramework(GaussEncoder(6, 2), GaussDecoder(2, 6))
    fw.compute_elbo(torch.randn(16, 6, generator=gen)).loss.backward()
    for name, p in fw.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_bernoulli_framework_with_image_shaped_data_and_conv_decoder(gen):
    fw = ELBOFramework(GaussEncoder(16, 3), ImageBernoulliDecoder(3), likelihood="bernoulli")
    x = torch.bernoulli(torch.full((10, 1, 4, 4), 0.5), generator=gen)
    res = fw.compute_elbo(x, generator=gen)
    assert res.elbo.shape == (10,)
    logits = fw.decoder(res.z)
    torch.testing.assert_close(
        res.reconstruction, Independent(Bernoulli(logits=logits), 3).log_prob(x)
    )
    iw = fw.iwae_bound(x, k=7, generator=gen)
    assert iw.shape == (10,) and torch.isfinite(iw).all()
    with pytest.raises(ValueError, match="x_recon_logvar must be None"):
        fw.reconstruction_loss(x, logits, torch.zeros(()))


def _linear_gaussian_framework():
    torch.manual_seed(1)
    enc, dec = GaussEncoder(5, 2), GaussDecoder(2, 5)
    with torch.no_grad():
        dec.x_logvar.fill_(math.log(0.3**2))
    fw = ELBOFramework(enc, dec).double()
    W, b = fw.decoder.net.weight.detach(), fw.decoder.net.bias.detach()
    marginal = MultivariateNormal(b, W @ W.T + 0.3**2 * torch.eye(5, dtype=f64))
    return fw, marginal


def test_elbo_le_iwae_k_le_exact_log_px_and_iwae_increases_in_k():
    fw, marginal = _linear_gaussian_framework()
    g = torch.Generator().manual_seed(5)
    x = marginal.sample((200,))
    log_px = marginal.log_prob(x)
    with torch.no_grad():
        elbo = torch.stack([fw.compute_elbo(x, generator=g).elbo for _ in range(50)]).mean(0)
        bounds = {k: fw.iwae_bound(x, k, generator=g) for k in (1, 10, 100, 1000)}
    # paired per-example differences: Monte Carlo noise only
    assert abs(monte_carlo_mean(bounds[1] - elbo).z_score(0.0)) < 4  # IWAE-1 = ELBO in mean
    for k in (10, 100, 1000):
        assert monte_carlo_mean(bounds[k] - elbo).z_score(0.0) > 4  # strictly above ELBO
        assert monte_carlo_mean(log_px - bounds[k]).z_score(0.0) > -4  # never above log p(x)
    for a, b in ((1, 10), (10, 100), (100, 1000)):
        assert monte_carlo_mean(bounds[b] - bounds[a]).estimate > 0
    gap_1 = (log_px - bounds[1]).mean()
    gap_1000 = (log_px - bounds[1000]).mean()
    assert gap_1000 < 0.2 * gap_1


class ExactPosteriorEncoder(nn.Module):
    """q(z|x) = p(z|x) of a linear-Gaussian model whose W has orthogonal columns, so the
    posterior covariance (I + WᵀW/σ²)⁻¹ is diagonal."""

    def __init__(self, W, b, noise_var):
        super().__init__()
        post_var = 1.0 / (1.0 + (W * W).sum(0) / noise_var)
        self.register_buffer("gain", (W * (post_var / noise_var)).T)  # Σ Wᵀ / σ²
        self.register_buffer("b", b)
        self.register_buffer("logvar", post_var.log())

    def forward(self, x):
        return (x - self.b) @ self.gain.T, self.logvar.expand(x.shape[0], -1)


def test_exact_posterior_gives_zero_variance_weights_equal_to_log_px_chunked_or_not():
    g = torch.Generator().manual_seed(2)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=f64))
    W, b, noise_var = (
        q[:, :2] * torch.tensor([2.0, 0.5], dtype=f64),
        torch.randn(5, dtype=f64),
        0.09,
    )
    dec = GaussDecoder(2, 5).double()
    with torch.no_grad():
        dec.net.weight.copy_(W)
        dec.net.bias.copy_(b)
        dec.x_logvar.fill_(math.log(noise_var))
    fw = ELBOFramework(ExactPosteriorEncoder(W, b, noise_var), dec)
    marginal = MultivariateNormal(b, W @ W.T + noise_var * torch.eye(5, dtype=f64))
    x = marginal.sample((16,))
    log_px = marginal.log_prob(x)
    for chunk in (None, 5):
        log_w = fw.log_importance_weights(x, 12, chunk_size=chunk, generator=g)
        assert log_w.shape == (12, 16)
        torch.testing.assert_close(log_w, log_px.expand(12, 16), rtol=1e-10, atol=1e-10)
    # and then every bound is exact
    torch.testing.assert_close(fw.iwae_bound(x, 3, generator=g), log_px)
    # the analytic-KL ELBO is exact in expectation only (its reconstruction term still varies)
    with torch.no_grad():
        draws = torch.stack([fw.compute_elbo(x, generator=g).elbo for _ in range(2000)])
    assert (monte_carlo_mean(draws).z_score(log_px).abs() < 4.5).all()


def test_framework_bad_input():
    fw = ELBOFramework(GaussEncoder(6, 2), GaussDecoder(2, 6))
    with pytest.raises(ValueError, match="k must be >= 1"):
        fw.iwae_bound(torch.zeros(3, 6), 0)
    with pytest.raises(TypeError, match="x must have a floating-point"):
        fw.compute_elbo(torch.zeros(3, 6, dtype=torch.int64))
    with pytest.raises(ValueError, match="x contains"):
        fw.compute_elbo(torch.full((3, 6), float("nan")))
    with pytest.raises(ValueError, match="likelihood must be one of"):
        ELBOFramework(GaussEncoder(6, 2), GaussDecoder(2, 6), likelihood="poisson")

    class BadEncoder(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="encoder"):
        ELBOFramework(BadEncoder(), GaussDecoder(2, 6)).compute_elbo(torch.zeros(3, 6))


def test_framework_runs_with_validation_off_and_float32(gen):
    fw = ELBOFramework(GaussEncoder(6, 2), GaussDecoder(2, 6), validate=False)
    res = fw(torch.randn(4, 6, generator=gen))
    assert res.elbo.dtype == torch.float32 and torch.isfinite(res.elbo).all()
    assert np.isfinite(fw.iwae_bound(torch.randn(4, 6, generator=gen), 3).detach().numpy()).all()
