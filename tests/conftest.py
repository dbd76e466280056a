import os

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
