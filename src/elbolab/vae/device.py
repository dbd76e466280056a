"""Choosing a torch device from a user's word ("auto", "cpu", "cuda", "cuda:1", "mps")."""

from __future__ import annotations

import torch

from ..settings import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit device that is not
    available raises ``ValueError`` instead of failing later inside a kernel."""
    if isinstance(spec, torch.device):
        return spec
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"device must be one of {DEVICE_CHOICES} (or cuda:N), got {spec!r}") \
            from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available here")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device {spec!r} requested but MPS is not available here")
    return dev


def check_device_setting(field: str, spec: str) -> None:
    """:func:`resolve_device` for a config field: a :class:`~elbolab.checks.ConfigError`
    naming ``field`` when the device is not usable here."""
    try:
        resolve_device(spec)
    except ValueError as exc:
        raise ConfigError(field, f"names a device that is not usable here: {exc}") from None


__all__ = ["DEVICE_CHOICES", "check_device_setting", "resolve_device"]
