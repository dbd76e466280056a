"""Planar flows (issue 18, item 2): the change of variables against autograd's Jacobian, the
identity start against the Gaussian, and per-example flows against the best diagonal Gaussian
of a correlated linear-Gaussian posterior."""

from __future__ import annotations

import math

import torch

from elbolab.flows import flow_elbo, identity_planar_parameters, planar_flow

F64 = torch.float64


def test_log_det_equals_the_log_determinant_of_autograds_jacobian():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(1, 3, 4, generator=gen, dtype=F64)
    w = torch.randn(1, 3, 4, generator=gen, dtype=F64)
    b = torch.randn(1, 3, generator=gen, dtype=F64)
    for _ in range(5):
        z = torch.randn(1, 4, generator=gen, dtype=F64)
        _, log_det = planar_flow(z, u, w, b)
        jac = torch.autograd.functional.jacobian(lambda t: planar_flow(t[None], u, w, b)[0][0],
                                                 z[0])
        assert abs(log_det.item() - torch.linalg.slogdet(jac)[1].item()) < 1e-12
        assert torch.linalg.slogdet(jac)[0].item() == 1.0  # orientation kept: invertible


def test_identity_start_reproduces_the_gaussian_exactly():
    gen = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(5, 3, generator=gen, dtype=F64), torch.randn(5, 3, generator=gen,
                                                                           dtype=F64)
    u, w, b = identity_planar_parameters(5, 3, 4, dtype=F64, generator=gen)
    eps = torch.randn(7, 5, 3, generator=gen, dtype=F64)
    z, log_det = planar_flow(mu + torch.exp(0.5 * logvar) * eps, u, w, b)
    assert torch.allclose(z, mu + torch.exp(0.5 * logvar) * eps, rtol=0, atol=1e-14)
    assert log_det.abs().max().item() < 1e-14

    def ll(zz):
        return -(zz - 1).square().sum(-1)

    flow = flow_elbo(ll, mu, logvar, u, w, b, eps=eps)
    z0 = mu + torch.exp(0.5 * logvar) * eps
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z0).sum(-1)
    p = torch.distributions.Normal(0.0, 1.0).log_prob(z0).sum(-1)
    assert torch.allclose(flow, (ll(z0) + p - q).mean(0), rtol=0, atol=1e-12)


def test_per_example_flows_beat_the_best_diagonal_gaussian_of_a_correlated_posterior():
    # a linear-Gaussian model whose posterior is correlated (non-orthogonal W): no diagonal
    # Gaussian reaches it; planar layers can bend q toward it
    from elbolab.elbo import ELBOFramework
    from elbolab.parts import inference_gaps as ig
    from elbolab.parts.latent_models import GaussianProposal, LinearGaussianModel

    model = LinearGaussianModel(latent_dim=2, data_dim=4, noise_std=0.5, seed=3)
    # nearly parallel columns: the posterior's two latents are strongly correlated
    model.W = torch.tensor([[1.0, 0.8], [0.9, 1.0], [1.0, 1.0], [0.8, 0.9]], dtype=F64)
    model._gram = model.W.T @ model.W
    x = model.sample_data(4, torch.Generator().manual_seed(4))

    class Enc(torch.nn.Module):
        def forward(self, xx):
            return torch.zeros(len(xx), 2, dtype=F64), torch.zeros(len(xx), 2, dtype=F64)

    class Dec(torch.nn.Module):
        def forward(self, z):
            return z @ model.W.T + model.b, torch.tensor(model.noise_logvar, dtype=F64)

    vae = ELBOFramework(Enc(), Dec(), "gaussian")
    gen = torch.Generator().manual_seed(5)
    gauss = ig.local_gaussian_posteriors(vae, x, max_steps=1500, lr=2e-2, samples=32,
                                         tol=0.0, generator=gen)
    flow = ig.local_gaussian_posteriors(vae, x, max_steps=1500, lr=2e-2, samples=32, tol=0.0,
                                        flow_layers=4, start=gauss, generator=gen)
    post = model.exact_posterior(x)
    prec = torch.linalg.inv(post.scale_tril @ post.scale_tril.mT)
    best_diag = model.exact_elbo(x, GaussianProposal(post.mean, torch.diag(
        torch.diagonal(prec).rsqrt())))  # closed form, the diagonal family's ceiling
    flow_elbo_ = flow.elbo(vae, x, samples=20_000, generator=gen)
    se = 0.02  # 20,000 draws of a log-weight with sd < 1 nat: SE < 0.01; 2 SE of margin
    gap = model.exact_log_marginal(x) - best_diag  # what the diagonal family cannot close
    assert bool((flow_elbo_ > best_diag + se).all()), (flow_elbo_ - best_diag, gap)
    assert bool((flow_elbo_ <= model.exact_log_marginal(x) + se).all())
    assert math.isfinite(flow_elbo_.sum().item())
