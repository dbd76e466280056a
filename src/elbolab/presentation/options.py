"""Command-line options generated from the config dataclasses (:mod:`elbolab.vae.config`,
:class:`~elbolab.presentation.lab.LabConfig`): each field is one option, named after it
(``batch_size`` → ``--batch-size``), with its default, choices and help written once, in the
config. A nested :class:`~elbolab.vae.objectives.Objective` contributes its own fields.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..settings import ConfigError
from ..vae.objectives import Objective


def _tuple_of(kind: type):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind.__name__} values, got {text!r}") from None
    return parse


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def add_config_options(parser: argparse.ArgumentParser, cls: type, *,
                       skip: tuple[str, ...] = ()) -> None:
    """One option per field of the dataclass ``cls`` (see the module docstring)."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default, meta = _default(f), f.metadata
        if isinstance(default, Objective):
            add_config_options(parser, Objective)
            continue
        name = "--" + (meta.get("flag") or f.name).replace("_", "-")
        help_text = meta.get("help", "")
        if isinstance(default, bool):
            if default:
                flag = name if meta.get("flag") else "--no-" + f.name.replace("_", "-")
                if not meta.get("flag") and help_text:  # the field's help says what is on
                    help_text = f"turn off what is on by default: {help_text}"
                parser.add_argument(flag, dest=f.name, action="store_false",
                                    help=help_text or None)
            else:
                parser.add_argument(name, dest=f.name, action="store_true", help=help_text or None)
            continue
        if isinstance(default, tuple):  # an empty default tuple needs its type= in the field
            kind, shown = _tuple_of(meta.get("type") or type(default[0])), ",".join(
                f"{v:g}" if isinstance(v, float) else str(v) for v in default)
        else:
            kind = meta.get("type") or type(default)
            shown = default
        if default not in (None, ()) and "default" not in help_text:
            help_text = f"{help_text} (default: {shown})"
        parser.add_argument(name, dest=f.name, type=kind, default=default,
                            choices=meta.get("choices"), help=help_text or None)


def option_name(cls: type, name: str) -> str:
    """The command-line option of the field ``name`` of ``cls`` (``batch_size`` →
    ``--batch-size``; a field with its own ``flag`` → that flag)."""
    f = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    flag = f.metadata.get("flag") if f is not None else None
    return "--" + (flag or name).replace("_", "-")


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The ``cls`` config whose fields are the parsed options of the same names (a nested
    Objective is rebuilt from its own options). The config validates itself; a
    :class:`~elbolab.checks.ConfigError` comes out naming the option (``--batch-size``)
    instead of the field."""
    values = {}
    for f in dataclasses.fields(cls):
        if isinstance(_default(f), Objective):
            values[f.name] = config_from_args(Objective, args)
        elif hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    try:
        return cls(**values)
    except ConfigError as exc:
        if exc.field.startswith("--"):  # a nested config's option, already named
            raise
        raise ConfigError(option_name(cls, exc.field), exc.problem) from None


__all__ = ["add_config_options", "config_from_args", "option_name"]
