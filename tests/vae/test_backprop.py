"""The written-out backward pass against autograd (the oracle), in float64."""

import pytest
import torch
from torch import nn

from elbolab.elbo import ELBOFramework
from elbolab.vae.backprop import elbo_gradients, supports
from elbolab.vae.models import ModelSpec, build_model


def _model(hidden, activation, likelihood, latent=3, dim=7):
    torch.manual_seed(0)
    m = build_model(ModelSpec(dim, hidden, latent, activation, likelihood)).double()
    if likelihood == "gaussian":
        with torch.no_grad():
            m.decoder.x_logvar.uniform_(-1, 1)
    return m


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("hidden,activation", [((5,), "relu"), ((6, 4), "tanh"), ((), "relu")])
@pytest.mark.parametrize("beta", [0.0, 1.0, 3.5])
def test_gradients_match_autograd(likelihood, hidden, activation, beta):
    m = _model(hidden, activation, likelihood)
    x = torch.rand(11, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = m.compute_elbo(x, generator=torch.Generator().manual_seed(2))
    loss = -(res.reconstruction - beta * res.kl).mean()
    params = list(m.parameters())
    expected = torch.autograd.grad(loss, params)
    got_loss, rec, kl = elbo_gradients(m, x, beta=beta, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(rec, res.reconstruction.sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kl, res.kl.sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_loss, loss.detach() * len(x), rtol=1e-12, atol=1e-12)
    for p, g in zip(params, expected, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12)


def test_explicit_eps_and_overwrite_semantics():
    m = _model((5,), "relu", "bernoulli")
    x = torch.rand(4, 7, dtype=torch.float64)
    eps = torch.randn(4, 3, dtype=torch.float64)
    for p in m.parameters():
        p.grad = torch.full_like(p, 123.0)  # stale gradients are overwritten, not accumulated
    elbo_gradients(m, x, eps=eps)
    mu, logvar = m.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    from elbolab.elbo import bernoulli_log_likelihood
    from elbolab.kl import standard_normal_kl
    loss = (standard_normal_kl(mu, logvar) - bernoulli_log_likelihood(x, m.decoder(z))).mean()
    for p, g in zip(m.parameters(), torch.autograd.grad(loss, list(m.parameters())), strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12)


def test_supports_rejects_other_models():
    assert supports(_model((5,), "relu", "bernoulli"))
    assert not supports(_model((5,), "elu", "bernoulli"))  # no derivative table entry
    other = ELBOFramework(nn.Linear(7, 6), nn.Linear(3, 7), "bernoulli")
    assert not supports(other)
    with pytest.raises(TypeError, match="MLPEncoder"):
        elbo_gradients(other, torch.rand(2, 7))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_bfloat16_products_stay_close_to_float32(likelihood):
    torch.manual_seed(0)
    m = build_model(ModelSpec(50, (64,), 8, "relu", likelihood))
    x = torch.rand(128, 50, generator=torch.Generator().manual_seed(1))
    eps = torch.randn(128, 8, generator=torch.Generator().manual_seed(2))
    ref = elbo_gradients(m, x, eps=eps)
    ref_grads = [p.grad.clone() for p in m.parameters()]
    got = elbo_gradients(m, x, eps=eps, compute_dtype=torch.bfloat16)
    for a, b in zip(got, ref, strict=True):  # sums of 128 examples: bf16 rounding (2^-8) only
        assert abs(a.item() - b.item()) <= 0.01 * abs(b.item()) + 0.5
    for p, g in zip(m.parameters(), ref_grads, strict=True):
        assert p.grad.dtype == torch.float32
        assert ((p.grad - g).norm() / g.norm()).item() < 0.02
