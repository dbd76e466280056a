"""Binary (two-category multinomial) diffusion: its marginals and posteriors against the
one-step chain written out, the exact likelihood of the reverse chain against path enumeration,
normalization, and the bound above the exact −log p for every state."""

import itertools
import math

import pytest
import torch

from elbolab.densities import all_binary_vectors
from elbolab.diffusion import EpsilonMLP, cosine_schedule, linear_schedule
from elbolab.diffusion.binary import (
    BinaryDiffusion,
    bernoulli_kl,
    exact_log_likelihood,
    posterior_bit_prob,
    q_bit_prob,
    train_binary_diffusion,
)

F64 = torch.float64


def _step_matrix(beta):
    # q(x_t = j | x_{t-1} = i): keep with 1 - beta, else a fair coin
    return torch.tensor([[1 - beta / 2, beta / 2], [beta / 2, 1 - beta / 2]], dtype=F64)


def _model(dim=3, T=6, seed=0, scale=0.7):
    torch.manual_seed(seed)
    model = BinaryDiffusion(EpsilonMLP(dim, 16, 2, T=T), linear_schedule(T, 0.05, 0.4)).double()
    for p in model.net.parameters():
        torch.nn.init.normal_(p, 0.0, scale)
    return model


def test_marginals_and_posteriors_equal_the_chain_written_out():
    sched = cosine_schedule(12)
    for x0 in (0, 1):
        dist = torch.tensor([1.0 - x0, float(x0)], dtype=F64)
        marginals = [dist]
        for t in range(1, 13):
            dist = dist @ _step_matrix(sched.betas[t].item())
            marginals.append(dist)
        for t in range(0, 13):
            assert abs(q_bit_prob(torch.tensor(float(x0)), t, sched).item()
                       - marginals[t][1].item()) < 1e-14
        for t in range(2, 13):
            step = _step_matrix(sched.betas[t].item())
            for xt in (0, 1):
                joint = marginals[t - 1] * step[:, xt]  # q(x_{t-1}) q(x_t | x_{t-1})
                expected = (joint[1] / joint.sum()).item()
                got = posterior_bit_prob(torch.tensor(float(x0)), torch.tensor(float(xt)), t,
                                         sched).item()
                assert abs(got - expected) < 1e-14


def test_exact_likelihood_equals_the_sum_over_every_path():
    # D = 2, T = 3: 4^3 paths x_3 -> x_2 -> x_1 -> x_0, each a product of the model's own
    # Bernoulli steps, summed by brute force
    model = _model(dim=2, T=3)
    states = all_binary_vectors(2)
    with torch.no_grad():
        exact = exact_log_likelihood(model)

        def step_prob(nxt, cur, t):
            p = model.reverse_bit_prob(cur[None], t)[0]
            return torch.prod(torch.where(nxt == 1, p, 1 - p)).item()

        for i, x0 in enumerate(states):
            total = 0.0
            for x3, x2, x1 in itertools.product(states, repeat=3):
                total += (0.25 * step_prob(x2, x3, 3) * step_prob(x1, x2, 2)
                          * step_prob(x0, x1, 1))
            assert abs(exact[i].item() - math.log(total)) < 1e-12


def test_probabilities_sum_to_one_and_the_bound_lies_above_every_state():
    model = _model(dim=4, T=8)
    with torch.no_grad():
        log_p = exact_log_likelihood(model)
    assert abs(torch.logsumexp(log_p, 0).item()) < 16 * 2.2e-16 * 4
    g = torch.Generator().manual_seed(1)
    states = all_binary_vectors(4)
    draws = model.bound(states.repeat_interleave(3000, 0), g).total.reshape(16, 3000)
    se = draws.std(1) / math.sqrt(3000)
    z = (draws.mean(1) + log_p) / se  # bound − (−log p), in SE
    assert z.min().item() > -4


def test_a_posterior_off_by_one_step_breaks_the_bound():
    # the bug the chain test guards against: the posterior's prior from q(x_t | x_0) instead
    # of q(x_{t-1} | x_0) no longer matches Bayes' rule
    sched = cosine_schedule(10)
    x0, xt = torch.tensor(1.0), torch.tensor(0.0)
    right = posterior_bit_prob(x0, xt, 5, sched)
    a = 1 - sched.betas[5]
    wrong_prior = q_bit_prob(x0, 5, sched)
    like1, like0 = (1 - a) / 2, a + (1 - a) / 2
    wrong = like1 * wrong_prior / (like1 * wrong_prior + like0 * (1 - wrong_prior))
    assert abs(right.item() - wrong.item()) > 1e-3


def test_bernoulli_kl_against_torch_distributions():
    g = torch.Generator().manual_seed(2)
    p = torch.rand(100, generator=g, dtype=F64)
    q = torch.rand(100, generator=g, dtype=F64).clamp(1e-3, 1 - 1e-3)
    expected = torch.distributions.kl_divergence(torch.distributions.Bernoulli(probs=p),
                                                 torch.distributions.Bernoulli(probs=q))
    torch.testing.assert_close(bernoulli_kl(p, q), expected, rtol=1e-10, atol=1e-12)
    assert bernoulli_kl(torch.tensor([0.0, 1.0], dtype=F64),
                        torch.tensor([0.5, 0.5], dtype=F64)).tolist() == pytest.approx(
                            [math.log(2), math.log(2)], abs=1e-15)


def test_training_lowers_the_bound_and_samples_are_binary():
    data = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]).repeat(64, 1)
    res = train_binary_diffusion(data, schedule=cosine_schedule(10), steps=300, batch_size=32,
                                 hidden=32, lr=3e-3)
    model = res.model
    with torch.no_grad():
        log_p = exact_log_likelihood(model)
    # two patterns of 16: the model must put most of its mass on them (log 2 nats each at best)
    assert torch.logsumexp(log_p[[3, 12]], 0).item() > math.log(0.8)
    s = model.sample(50, torch.Generator().manual_seed(3))
    assert ((s == 0) | (s == 1)).all()


def test_bad_input_is_a_clear_error():
    model = _model()
    with pytest.raises(ValueError, match="binary"):
        model.bound(torch.full((2, 3), 0.5, dtype=F64))
    with pytest.raises(ValueError, match=r"\(batch >= 1, 3\)"):
        model.loss(torch.zeros(2, 4, dtype=F64))
    with pytest.raises(ValueError, match="t must be"):
        posterior_bit_prob(torch.zeros(3), torch.zeros(3), 1, cosine_schedule(5))
    with pytest.raises(ValueError, match="dim"):
        all_binary_vectors(30)
    with pytest.raises(TypeError, match="BinaryDiffusion"):
        exact_log_likelihood(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="aux_weight"):
        train_binary_diffusion(torch.zeros(4, 3), steps=1, aux_weight=-1.0)
