"""Someone else's VAE: the PyTorch examples VAE (a sigmoid decoder, two encoder heads) under
ELBOFramework, its loss as the oracle, and its weights converted into the `example` preset."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from elbolab import ELBOFramework
from elbolab.vae.models import build_model, preset_spec


class ExampleVAE(nn.Module):
    """pytorch/examples vae/main.py, as published."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))


def example_loss(recon_x, x, mu, logvar):
    """pytorch/examples vae/main.py's loss_function: BCE (sum) + KLD, i.e. −ELBO summed."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


class Encoder(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x):
        return self.vae.encode(x.view(-1, 784))


class Decoder(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, z):
        return self.vae.decode(z)  # probabilities


@pytest.fixture
def example():
    torch.manual_seed(0)
    vae = ExampleVAE().double()
    x = torch.rand(16, 1, 28, 28, dtype=torch.float64).bernoulli()  # image-shaped, binary
    return vae, x


def test_the_examples_vae_elbo_equals_its_own_loss(example):
    vae, x = example
    fw = ELBOFramework(Encoder(vae), Decoder(vae), "bernoulli", decoder_output="probs")
    res = fw.compute_elbo(x, generator=torch.Generator().manual_seed(1))
    # the example's loss at the same z (the same reparameterized sample)
    loss = example_loss(vae.decode(res.z), x, res.mu, res.logvar)
    assert (-res.elbo.sum()).item() == pytest.approx(loss.item(), rel=1e-12)  # float64


def test_its_weights_converted_into_the_example_preset_give_the_same_elbo(example):
    vae, x = example
    ours = build_model(preset_spec("example")).double()
    with torch.no_grad():  # the preset's encoder head outputs mu first, then logvar
        ours.encoder.body[0].weight.copy_(vae.fc1.weight)
        ours.encoder.body[0].bias.copy_(vae.fc1.bias)
        ours.encoder.head.weight.copy_(torch.cat([vae.fc21.weight, vae.fc22.weight]))
        ours.encoder.head.bias.copy_(torch.cat([vae.fc21.bias, vae.fc22.bias]))
        ours.decoder.body[0].weight.copy_(vae.fc3.weight)
        ours.decoder.body[0].bias.copy_(vae.fc3.bias)
        ours.decoder.head.weight.copy_(vae.fc4.weight)  # logits: the sigmoid is dropped
        ours.decoder.head.bias.copy_(vae.fc4.bias)
    theirs = ELBOFramework(Encoder(vae), Decoder(vae), "bernoulli", decoder_output="probs")
    a = ours.compute_elbo(x, generator=torch.Generator().manual_seed(2))  # (N, 1, 28, 28) in
    b = theirs.compute_elbo(x, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.elbo, b.elbo, rtol=1e-10, atol=1e-9)
    c = ours.compute_elbo(x.flatten(1), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a.elbo, c.elbo, rtol=0, atol=0)  # image shape = flat, exactly


def test_a_logits_decoder_that_returns_probabilities_is_warned_about(example):
    vae, x = example
    fw = ELBOFramework(Encoder(vae), Decoder(vae), "bernoulli")  # the mistake: logits assumed
    with pytest.warns(UserWarning, match="decoder_output='probs'"):
        fw.compute_elbo(x)


def test_bad_decoder_output_settings_are_refused(example):
    vae, x = example
    with pytest.raises(ValueError, match="decoder_output must be one of"):
        ELBOFramework(Encoder(vae), Decoder(vae), "bernoulli", decoder_output="probas")
    with pytest.raises(ValueError, match="Bernoulli likelihood only"):
        ELBOFramework(Encoder(vae), Decoder(vae), "gaussian", decoder_output="probs")
    fw = ELBOFramework(Encoder(vae), nn.Linear(20, 784).double(), "bernoulli",
                       decoder_output="probs")  # a 'probability' outside [0, 1]
    with pytest.raises(ValueError, match="decoder probabilities must lie in \\[0, 1\\]"):
        fw.compute_elbo(x)


def test_decoder_means_of_a_probability_decoder_are_its_output(example):
    from elbolab.vae.evaluation import decoder_means

    vae, _ = example
    fw = ELBOFramework(Encoder(vae), Decoder(vae), "bernoulli", decoder_output="probs")
    z = torch.randn(5, 20, dtype=torch.float64)
    torch.testing.assert_close(decoder_means(fw, z), vae.decode(z), rtol=0, atol=0)
