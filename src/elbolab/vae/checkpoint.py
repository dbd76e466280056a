"""A run folder's files: the checkpoint (written atomically, read with ``weights_only=True``)
and the per-epoch metrics as JSON lines and CSV; and who may write them.

A checkpoint holds the model, the optimizer, the RNG states, the epoch and step, the history,
the :class:`~elbolab.vae.config.TrainConfig` and the :class:`~elbolab.vae.models.ModelSpec`.

A folder holds one run: :func:`claim_run_folder` refuses to start a new run where one is
(continue it with ``resume``, replace it with ``overwrite``), and the trainer holds the
folder's lock (:func:`elbolab.io.folder_lock`) while it writes.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import torch

from ..elbo import ELBOFramework
from ..io import atomic_write, atomic_write_text
from .device import resolve_device
from .models import ModelSpec, build_model

CHECKPOINT = "checkpoint.pt"
INTERRUPTED = "interrupted.pt"
CONFIG = "config.json"
#: What a run folder holds (files, then folders) — what ``overwrite`` removes, and nothing else
RUN_FILES = (CONFIG, CHECKPOINT, INTERRUPTED, "metrics.jsonl", "metrics.csv")
RUN_FOLDERS = ("figures",)
# TrainConfig fields that may change when a run is continued
RESUMABLE_CHANGES = ("epochs", "max_minutes", "device")
# TrainConfig fields added after runs were saved without them, with the value those runs had
ADDED_SETTINGS = {"k": 1, "gradient": "reparam", "posterior": "gaussian", "flow_layers": 4}


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """``torch.save(state)`` to ``path`` through a temporary file (flushed to disk) and a
    rename: a kill at any moment leaves the previous checkpoint or the new one, whole."""
    return atomic_write(path, lambda f: torch.save(state, f), binary=True)


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
        check_same_config(state["config"], config, path)
    return state


def check_same_config(saved: dict, config: dict, source: str | Path) -> None:
    """Raise ``ValueError`` naming the differences if ``config`` (a TrainConfig as a dict)
    differs from the ``saved`` one in anything but :data:`RESUMABLE_CHANGES`."""
    mine = {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}
    saved = {**{k: v for k, v in ADDED_SETTINGS.items() if k in mine},
             **{k: v for k, v in saved.items() if k in mine}}
    if saved != mine:
        diff = {k: (saved.get(k), mine.get(k)) for k in mine if saved.get(k) != mine.get(k)}
        raise ValueError(f"{source} was written by a different configuration "
                         f"(saved, given): {diff}")


class RunExists(ValueError):
    """The folder already holds a run, and neither resuming nor replacing it was asked for."""


def claim_run_folder(folder: str | Path, *, resume: bool = False,
                     overwrite: bool = False) -> None:
    """Make ``folder`` ready for a run: a new run only where none is (a :data:`CONFIG` or
    :data:`CHECKPOINT` marks one); ``resume`` continues the one there; ``overwrite`` removes
    its files (:data:`RUN_FILES`, :data:`RUN_FOLDERS`; nothing else in the folder) first.
    Temporary files of the run's writes that a kill left behind are removed. Call it holding
    the folder's lock (:func:`~elbolab.io.folder_lock`). Raises :class:`RunExists` when a run
    is there and neither was asked for."""
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: continue the run in the "
                         "folder, or replace it")
    folder = Path(folder)
    for stale in folder.glob(".*.tmp"):  # a write killed before its rename: never the run's
        if any(stale.name.startswith(f".{name}.") for name in RUN_FILES):
            stale.unlink(missing_ok=True)
    found = [n for n in (CONFIG, CHECKPOINT) if (folder / n).exists()]
    if not found or resume:
        return
    if not overwrite:
        raise RunExists(f"{folder} already holds a run ({', '.join(found)}); continue it with "
                        "--resume, or replace it with --overwrite")
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(folder / name, ignore_errors=True)


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


__all__ = ["CHECKPOINT", "CONFIG", "INTERRUPTED", "RESUMABLE_CHANGES", "RUN_FILES",
           "RUN_FOLDERS", "RunExists", "check_same_config", "claim_run_folder",
           "load_checkpoint", "load_run", "save_checkpoint", "write_metrics"]
