"""A run folder's files: the checkpoint (written atomically, read with ``weights_only=True``)
and the per-epoch metrics as JSON lines and CSV.

A checkpoint holds the model, the optimizer, the RNG states, the epoch and step, the history,
the :class:`~elbolab.vae.config.TrainConfig` and the :class:`~elbolab.vae.models.ModelSpec`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import torch

from ..elbo import ELBOFramework
from ..io import atomic_path, atomic_write_text
from .device import resolve_device
from .models import ModelSpec, build_model

CHECKPOINT = "checkpoint.pt"
INTERRUPTED = "interrupted.pt"
# TrainConfig fields that may change when a run is continued
RESUMABLE_CHANGES = ("epochs", "max_minutes", "device")


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """``torch.save(state)`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    config: dict | None = None) -> dict:
    """The checkpoint's contents (``weights_only=True``). With ``config`` (a TrainConfig as a
    dict), a checkpoint written by a different configuration — other than the fields of
    :data:`RESUMABLE_CHANGES` — raises ``ValueError`` naming the differences."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no checkpoint (train with `elbolab train` first)")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot be loaded ({exc}); the file is corrupted") from None
    if config is not None:
        saved = {k: v for k, v in state["config"].items() if k not in RESUMABLE_CHANGES}
        mine = {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}
        if saved != mine:
            diff = {k: (saved.get(k), mine.get(k)) for k in mine if saved.get(k) != mine.get(k)}
            raise ValueError(f"{path} was written by a different configuration: {diff}")
    return state


def write_metrics(out_dir: str | Path, history: list[dict]) -> None:
    """``metrics.jsonl`` and ``metrics.csv`` (one row per epoch), each written atomically."""
    out_dir = Path(out_dir)
    atomic_write_text(out_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
    buf = io.StringIO()
    if history:
        writer = csv.DictWriter(buf, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    atomic_write_text(out_dir / "metrics.csv", buf.getvalue())


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[ELBOFramework, dict]:
    """The trained model of a run folder (in eval mode) and its checkpoint contents."""
    dev = resolve_device(device)
    state = load_checkpoint(Path(run_dir) / CHECKPOINT, dev)
    model = build_model(ModelSpec.from_dict(state["spec"])).to(dev)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


__all__ = ["CHECKPOINT", "INTERRUPTED", "RESUMABLE_CHANGES", "load_checkpoint", "load_run",
           "save_checkpoint", "write_metrics"]
