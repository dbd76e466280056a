import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

# Deterministic property tests: the same examples on every run and in CI.
settings.register_profile(
    "elbolab",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "elbolab"))


@pytest.fixture
def gen():
    """A seeded generator: every random draw in a test is reproducible."""
    return torch.Generator().manual_seed(1234)


# The real data: ELBOLAB_DATA_DIR (CI and the Makefile point it at ../shared/data), else the
# workspace's shared folder. Tests that need MNIST skip without it.
SHARED = Path(os.environ.get("ELBOLAB_DATA_DIR", Path(__file__).parents[2] / "shared" / "data"))
HAVE_MNIST = (SHARED / "mnist" / "train-images-idx3-ubyte.gz").exists()
