"""The coupling flow: its log|det J| against autograd's Jacobian, its inverse, its density
against an integral over the plane, and dequantization against exact cell integrals."""

import math

import pytest
import torch
from scipy import integrate, stats

from elbolab.parts.coupling_flow import (
    CouplingFlow,
    LogitTransform,
    cell_log_probability,
    dequantized_log_likelihood,
    flow_jacobian,
)


def _random_flow(dim, layers=6, hidden=16, preprocess=None, scale=0.3, seed=0):
    torch.manual_seed(seed)
    flow = CouplingFlow(dim, layers, hidden, preprocess).double()
    for p in flow.parameters():
        torch.nn.init.normal_(p, 0.0, scale)
    return flow


@pytest.mark.parametrize("dim", [2, 5, 12])
def test_log_det_equals_slogdet_of_the_autograd_jacobian(dim):
    flow = _random_flow(dim, preprocess=LogitTransform(2.0) if dim == 12 else None)
    g = torch.Generator().manual_seed(dim)
    x = (torch.rand(dim, generator=g, dtype=torch.float64) * 2 if dim == 12
         else torch.randn(dim, generator=g, dtype=torch.float64))
    sign, logabs = torch.linalg.slogdet(flow_jacobian(flow, x))
    assert sign.item() == 1.0  # every layer has a positive determinant
    assert abs(flow(x[None])[1].item() - logabs.item()) < 1e-11


def test_inverse_undoes_the_flow():
    flow = _random_flow(6, preprocess=LogitTransform(2.0))
    x = torch.rand(50, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    z, _ = flow(x)
    torch.testing.assert_close(flow.inverse(z), x, rtol=0, atol=1e-10)


def test_the_density_integrates_to_one_over_the_plane():
    # scipy's Simpson rule on a 1201 x 1201 grid over [-15, 15]^2 (an integrator of its own;
    # its error at this step is far below 1e-5 for a smooth density with Gaussian tails)
    flow = _random_flow(2, layers=4, hidden=8, scale=0.2)
    g = torch.linspace(-15, 15, 1201, dtype=torch.float64)
    y = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        dens = flow.log_prob(y).exp().reshape(1201, 1201).numpy()
    mass = integrate.simpson(integrate.simpson(dens, x=g.numpy()), x=g.numpy())
    assert abs(mass - 1) < 1e-5


def test_the_identity_flow_is_the_standard_normal():
    flow = CouplingFlow(3, 4, 8).double()  # last layers zero: the identity at start
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = torch.from_numpy(stats.norm.logpdf(x.numpy()).sum(-1))
    torch.testing.assert_close(flow.log_prob(x), expected, rtol=0, atol=1e-12)


def test_logit_transform_density_is_zero_outside_its_box():
    flow = _random_flow(3, preprocess=LogitTransform(1.0))
    x = torch.tensor([[0.5, 0.5, 0.5], [0.5, 1.5, 0.5], [-0.1, 0.5, 0.5]], dtype=torch.float64)
    lp = flow.log_prob(x)
    assert math.isfinite(lp[0].item()) and lp[1].item() == -math.inf and lp[2].item() == -math.inf


def test_cell_integrals_against_a_fine_midpoint_rule_and_jensen():
    # Gauss-Legendre (24 nodes per axis) against the midpoint rule on 400 x 400 points, whose
    # error is O(h^2) = O(1e-5) relative for a smooth density: an independent rule
    flow = _random_flow(2, layers=4, hidden=8, scale=0.2)
    x = torch.tensor([[0.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    with torch.no_grad():
        log_cell, expected = cell_log_probability(flow.log_prob, x, nodes=24)
        m = (torch.arange(400, dtype=torch.float64) + 0.5) / 400
        u = torch.stack(torch.meshgrid(m, m, indexing="ij"), -1).reshape(-1, 2)
        for i in range(len(x)):
            lp = flow.log_prob(x[i] + u)
            midpoint = (torch.logsumexp(lp, 0) - math.log(len(u))).item()
            assert abs(log_cell[i].item() - midpoint) < 1e-4
            assert abs(expected[i].item() - lp.mean().item()) < 1e-4
    assert (log_cell >= expected).all()  # Jensen


def test_dequantized_bound_rises_with_k_towards_the_cell_probability():
    flow = _random_flow(2, layers=4, hidden=8, scale=0.4)
    x = torch.tensor([[0.0, 0.0]], dtype=torch.float64).expand(4000, 2)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        log_cell, jensen = cell_log_probability(flow.log_prob, x[:1])
        b1 = dequantized_log_likelihood(flow.log_prob, x, 1, g)
        b16 = dequantized_log_likelihood(flow.log_prob, x, 16, g)
    # k = 1 is an unbiased estimate of E_u log p(x+u): within 4 SE of the quadrature
    se1 = b1.std().item() / math.sqrt(len(b1))
    assert abs(b1.mean().item() - jensen.item()) < 4 * se1
    # the 16-sample bound sits between the two, strictly above the Jensen bound
    se16 = b16.std().item() / math.sqrt(len(b16))
    assert b16.mean().item() > jensen.item() + 4 * se16
    assert b16.mean().item() < log_cell.item() + 4 * se16


def test_bad_input_is_a_clear_error():
    flow = _random_flow(3)
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        flow.log_prob(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="alpha"):
        LogitTransform(1.0, alpha=0.7)
    with pytest.raises(ValueError, match="nodes"):
        cell_log_probability(flow.log_prob, torch.zeros(1, 3, dtype=torch.float64), nodes=200)
    with pytest.raises(ValueError, match="x"):
        dequantized_log_likelihood(flow.log_prob, torch.zeros(3, dtype=torch.float64))
