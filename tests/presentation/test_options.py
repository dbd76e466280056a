"""The command line is generated from the configs: every field is an option, the defaults are
the config's own, and parsed options rebuild an equal config."""

import argparse
import dataclasses

import pytest

from elbolab.presentation.lab import LabConfig
from elbolab.presentation.options import add_config_options, config_from_args
from elbolab.vae.config import EvaluateConfig, SweepConfig, TrainConfig
from elbolab.vae.objectives import Objective


def _parser(cls) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_config_options(p, cls)
    return p


@pytest.mark.parametrize("cls", [TrainConfig, SweepConfig, EvaluateConfig, LabConfig])
def test_no_options_give_the_config_defaults(cls):
    assert config_from_args(cls, _parser(cls).parse_args([])) == cls()


@pytest.mark.parametrize("cls", [TrainConfig, SweepConfig, EvaluateConfig, LabConfig])
def test_every_field_is_an_option_with_help(cls):
    actions = {a.dest: a for a in _parser(cls)._actions}
    for f in dataclasses.fields(cls):
        if f.name == "objective":
            for g in dataclasses.fields(Objective):
                assert g.name in actions and actions[g.name].help, g.name
        else:
            assert f.name in actions and actions[f.name].help, f.name


@pytest.mark.parametrize("cls", [TrainConfig, SweepConfig, EvaluateConfig, LabConfig])
def test_every_valued_option_states_its_default(cls):
    """--help shows a default for every option that takes a value, including those whose
    default is None ("the preset's", "all", "no limit"): a user never guesses."""
    for a in _parser(cls)._actions:
        if a.dest != "help" and a.nargs != 0:
            assert "default" in a.help, (a.dest, a.help)


def test_options_reach_the_config_and_its_objective():
    args = _parser(TrainConfig).parse_args(
        ["--batch-size", "64", "--no-cuda-graph", "--objective", "free_bits", "--free-bits",
         "1.5", "--latent", "7", "--lr-schedule", "iwae"])
    cfg = config_from_args(TrainConfig, args)
    assert cfg == TrainConfig(batch_size=64, cuda_graph=False, latent=7, lr_schedule="iwae",
                              objective=Objective("free_bits", free_bits=1.5))


def test_sweep_lists_and_flags():
    args = _parser(SweepConfig).parse_args(["--betas", "0,0.5,4", "--hidden", "64,32",
                                            "--sequential", "--k", "20"])
    cfg = config_from_args(SweepConfig, args)
    assert cfg.betas == (0.0, 0.5, 4.0) and cfg.hidden == (64, 32)
    assert cfg.vectorized is False and cfg.k_eval == 20


def test_bad_values_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        _parser(TrainConfig).parse_args(["--preset", "resnet"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parser(SweepConfig).parse_args(["--betas", "0,one"])
    assert "comma-separated float" in capsys.readouterr().err
