"""Kills resume exactly (issue 15, item 3): the soak harness of ``benchmarks/kill_soak.py``
with four SIGKILLs, two of them inside a checkpoint write. It asserts after every kill that
the checkpoint loads with ``weights_only=True`` and at the end that the parameters equal an
uninterrupted run's (``torch.equal``) and the per-epoch metrics too, timings excepted. The
benchmark runs the same with 40 kills and records the count."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

from kill_soak import soak  # noqa: E402


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_run_killed_four_times_ends_exactly_as_an_uninterrupted_one(tmp_path):
    counts = soak(tmp_path, kills=4, seed=1, epochs=6)
    assert counts["kills"] == 4
    assert counts["inside_writes"] >= 2  # every other kill waits for a write and strikes in it
    assert counts["leftover_files"] == []  # a resumed run removes what a killed write left
