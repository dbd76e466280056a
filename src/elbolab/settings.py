"""Settings: the config dataclasses' fields and their checks, in one place.

Every command's settings are a dataclass whose fields are made with :func:`option` (default,
help, choices: the command line is generated from them) and whose ``__post_init__`` checks
each value with the ``check_setting_*`` functions here. A bad value raises
:class:`ConfigError`, which names the field; the command line shows it as its option and exits
2. The setting checks are :mod:`elbolab.checks`' own, with ``ConfigError`` as their error
type: one family of checks, two kinds of error.
"""

from __future__ import annotations

import functools
import os
from dataclasses import field
from pathlib import Path
from typing import Any

from .checks import check_choice, check_count, check_number


class ConfigError(ValueError):
    """A setting (a field of a config dataclass, and so a command-line option) with a value it
    cannot take. ``field`` names the field, ``problem`` says what was expected; the command
    line shows the field as its option (``batch_size`` → ``--batch-size``) and exits 2."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


#: An integer setting in [minimum, maximum] (``optional``: ``None`` too): :func:`check_count`
check_setting_count = functools.partial(check_count, error=ConfigError)
#: A finite real setting: :func:`~elbolab.checks.check_number` raising :class:`ConfigError`
check_setting_number = functools.partial(check_number, error=ConfigError)
#: A setting that is one of ``choices``: :func:`~elbolab.checks.check_choice`
check_setting_choice = functools.partial(check_choice, error=ConfigError)


def check_setting_folder(field: str, value: str | os.PathLike[str] | None, *,
                         must_exist: bool = False) -> None:
    """Require a folder setting that is not a file (and exists, when ``must_exist``)."""
    if value is None:
        return
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(field, f"must be a folder, but {path} is a file")
    if must_exist and not path.exists():
        raise ConfigError(field, f"names a folder that does not exist: {path}")


def option(default: Any = None, help: str = "", *, choices: tuple | None = None,
           type: type | None = None, factory: Any = None, flag: str | None = None) -> Any:
    """A dataclass field that is also a command-line option: its default (or
    ``default_factory``), help text, allowed values, where the default is ``None`` or a tuple
    the type of a given value, and ``flag``, the option's name where it is not the field's
    (for a ``True`` boolean, the flag that turns it off)."""
    meta = {"help": help, "choices": choices, "type": type, "flag": flag}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


__all__ = ["ConfigError", "check_setting_choice", "check_setting_count", "check_setting_folder",
           "check_setting_number", "option"]
