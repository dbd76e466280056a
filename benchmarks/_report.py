"""What every benchmark script shares: the device label and where its Markdown result goes."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from elbolab.io import atomic_write_text

RESULTS = Path(__file__).with_name("results")


def device_label(device: str) -> str:
    """The GPU's name, or the CPU's architecture and thread count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def write_report(stem: str, device: str, lines: list[str], out: str | None = None) -> Path:
    """Write ``lines`` atomically to ``out`` or ``results/{stem}_{cpu|cudaN}.md``."""
    suffix = "cpu" if device == "cpu" else device.replace(":", "")
    path = Path(out) if out else RESULTS / f"{stem}_{suffix}.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
