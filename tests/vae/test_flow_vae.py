"""A VAE with a planar-flow posterior (issue 18, item 2): `elbolab train --posterior flow`."""

import pytest
import torch
from conftest import mnist_subsets

from elbolab.settings import ConfigError
from elbolab.vae.config import TrainConfig
from elbolab.vae.models import FlowELBOFramework, ModelSpec, build_model
from elbolab.vae.training import Trainer


def test_a_fresh_flow_posterior_is_its_gaussian_exactly():
    # the same weights with and without the (identity) flow: equal log-weights on equal draws
    torch.manual_seed(0)
    flow = build_model(ModelSpec(data_dim=16, hidden=(8,), latent=3, flow_layers=3))
    gauss = build_model(ModelSpec(data_dim=16, hidden=(8,), latent=3))
    gauss.load_state_dict({k: v for k, v in flow.state_dict().items()
                           if not k.startswith("encoder.flow_head")})
    assert isinstance(flow, FlowELBOFramework)
    x = (torch.rand(5, 16, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    a = flow.log_importance_weights(x, 7, generator=torch.Generator().manual_seed(2))
    b = gauss.log_importance_weights(x, 7, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)  # float32, ~100-nat sums


def test_flow_log_weights_use_the_flow_density():
    # after a random step away from the identity, log w must still average to log p(x) in the
    # sense that importance weights from two different q's estimate the same marginal: their
    # IWAE-2000 bounds agree within Monte Carlo error (paired per image, 4 SE)
    torch.manual_seed(0)
    flow = build_model(ModelSpec(data_dim=16, hidden=(8,), latent=2, flow_layers=2))
    with torch.no_grad():
        flow.encoder.flow_head.weight.normal_(0, 0.3)
    gauss = build_model(ModelSpec(data_dim=16, hidden=(8,), latent=2))
    gauss.load_state_dict({k: v for k, v in flow.state_dict().items()
                           if not k.startswith("encoder.flow_head")})
    x = (torch.rand(4, 16, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    gen = torch.Generator().manual_seed(3)
    from elbolab.estimators import streaming_log_mean_exp
    est = [streaming_log_mean_exp(lambda m, mod=mod: mod.log_importance_weights(x, m,
                                                                                generator=gen),
                                  20_000, 5_000) for mod in (flow, gauss)]
    z = (est[0].estimate - est[1].estimate) / (est[0].stderr ** 2 + est[1].stderr ** 2).sqrt()
    assert z.abs().max() < 4, z


def test_the_flow_vae_trains_and_resumes(tmp_path):
    data = mnist_subsets(2000, 300)

    def trainer(out, **kw):
        cfg = TrainConfig(**{"device": "cpu", "epochs": 2, "batch_size": 100, "seed": 3,
                             "posterior": "flow", "flow_layers": 2, **kw})
        return Trainer.from_config(cfg, out, train=data[0], test=data[1], progress=False)

    full = trainer(tmp_path / "full").fit()
    assert isinstance(full.model, FlowELBOFramework)
    assert full.history[-1]["test_elbo"] > -260  # untrained ≈ −545 nats
    trainer(tmp_path / "part", epochs=1).fit()
    resumed = trainer(tmp_path / "part").fit(resume=True)
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(("kw", "field"), [
    (dict(objective="iwae", k=5), "posterior"),
    (dict(gradient="stl"), "posterior"),
    (dict(preset="conv"), "posterior"),
    (dict(posterior="realnvp"), "posterior"),
    (dict(flow_layers=0), "flow_layers"),
])
def test_flow_settings_that_do_not_apply_are_refused(kw, field):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{"posterior": "flow", **kw})
    assert info.value.field == field
