"""MADE: a normalized distribution over binary vectors (enumerated exactly), the autoregressive
property read off autograd's Jacobian, and its conditionals against a brute-force chain rule."""

import itertools
import math

import pytest
import torch

from elbolab.densities import all_binary_vectors
from elbolab.parts.autoregressive import (
    MADE,
    forbidden_dependencies,
    logit_jacobian,
    made_degrees,
    total_log_probability,
)


def _random_made(dim, hidden=(32,), order=None, seed=0, direct=True):
    torch.manual_seed(seed)
    model = MADE(dim, hidden, order=order, direct=direct).double()
    for p in model.parameters():  # large weights: a strongly dependent, far from uniform model
        torch.nn.init.normal_(p, 0.0, 1.0)
    return model


@pytest.mark.parametrize("hidden", [(16,), (24, 24)])
@pytest.mark.parametrize("ordered", [False, True])
def test_probabilities_of_all_binary_vectors_sum_to_one(hidden, ordered):
    # 2^10 terms in float64: the log of their sum is 0 to ~2^10 eps
    order = torch.randperm(10, generator=torch.Generator().manual_seed(1)) if ordered else None
    model = _random_made(10, hidden, order)
    assert abs(total_log_probability(model)) <= 2 ** 10 * 2.2e-16


def test_a_mask_that_lets_a_pixel_see_itself_is_not_normalized():
    # the bug the check exists for: output d reading input d (>= instead of >) in the direct
    # connection makes the "conditionals" condition on the value they score
    model = _random_made(8)
    eye = torch.eye(8, dtype=model.direct_mask.dtype)
    model.direct_mask = (model.direct_mask + eye).clamp(max=1)
    assert abs(total_log_probability(model)) > 1e-3


def test_jacobian_is_zero_exactly_where_the_order_forbids_and_only_there():
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    model = _random_made(6, (40, 40), order)
    x = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    jac = logit_jacobian(model, x)
    forbidden = forbidden_dependencies(model)
    assert jac[forbidden].abs().max().item() == 0.0
    assert (jac[~forbidden] != 0).all()  # a wide random MADE uses every allowed dependency
    # the first pixel in the order depends on nothing; the last on all the others
    assert forbidden[3].all() and forbidden[2].sum() == 1


def test_log_prob_is_the_chain_rule_of_its_conditionals():
    # p(x) = prod_d p(x_d | x_<d) computed the slow way: for each d, the logit at x with
    # every later pixel set to 0 must be the logit at x itself (it cannot see them)
    model = _random_made(7)
    g = torch.Generator().manual_seed(2)
    x = torch.bernoulli(torch.full((20, 7), 0.5, dtype=torch.float64), generator=g)
    slow = torch.zeros(20, dtype=torch.float64)
    for d in range(7):
        masked = x.clone()
        masked[:, d:] = 0.0
        logit = model.logits(masked)[:, d]
        slow += torch.distributions.Bernoulli(logits=logit).log_prob(x[:, d])
    torch.testing.assert_close(model.log_prob(x), slow, rtol=0, atol=1e-12)


def test_samples_follow_the_model():
    # 3 binary pixels: the sample frequencies of the 8 vectors against exp(log_prob),
    # a chi-square test at the 0.1% level
    from scipy import stats

    model = _random_made(3, (16,))
    model.float()
    xs = model.sample(40_000, torch.Generator().manual_seed(3))
    codes = (xs @ torch.tensor([1.0, 2.0, 4.0])).long()
    counts = torch.bincount(codes, minlength=8).double()
    probs = model.log_prob(all_binary_vectors(3, torch.float32)).exp().double().detach()
    assert abs(probs.sum().item() - 1) < 1e-6
    expected = probs / probs.sum() * 40_000  # float32 probabilities, renormalized in float64
    assert stats.chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3


def test_degrees_use_every_hidden_degree_and_orders_are_checked():
    deg = made_degrees(5, (8,))
    assert set(deg[1].tolist()) == {1, 2, 3, 4}
    with pytest.raises(ValueError, match="permutation"):
        made_degrees(5, (8,), torch.tensor([0, 1, 2, 3, 3]))
    with pytest.raises(ValueError, match="dim"):
        MADE(1)


def test_bad_input_is_a_clear_error():
    model = _random_made(4)
    with pytest.raises(ValueError, match="binary"):
        model.log_prob(torch.full((2, 4), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        model.log_prob(torch.zeros(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x"):
        model.logits(torch.full((1, 4), math.nan, dtype=torch.float64))
    with pytest.raises(ValueError, match="dim"):
        all_binary_vectors(40)
    with pytest.raises(TypeError, match="MADE"):
        total_log_probability(torch.nn.Linear(2, 2))


def test_all_binary_vectors_enumerates_each_once():
    v = all_binary_vectors(4)
    assert v.shape == (16, 4)
    assert {tuple(r) for r in v.long().tolist()} == set(itertools.product((0, 1), repeat=4))
