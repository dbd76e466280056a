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


def mnist_subsets(n_train: int, n_test: int):
    """(train, test): the first ``n_train`` and ``n_test`` MNIST images as ImageData; the
    calling test is skipped without MNIST."""
    if not HAVE_MNIST:
        pytest.skip("MNIST not found in ELBOLAB_DATA_DIR")
    from elbolab.vae.data import ImageData, load_dataset

    tr = load_dataset("mnist", "train", SHARED, allow_download=False, fallback=False)
    te = load_dataset("mnist", "test", SHARED, allow_download=False, fallback=False)
    return (ImageData(tr.images[:n_train], tr.labels[:n_train], tr.shape, "mnist", tr.source),
            ImageData(te.images[:n_test], te.labels[:n_test], te.shape, "mnist", te.source))
