"""Command-line options made from a config class's fields, and the config built back from them.

A field `focal_gamma` becomes `--focal-gamma`: its type from the annotation, its choices from a
`Literal`, `--x / --no-x` for a switch, its help from the field's description with the default.
An option left out reads None, so a config file's value (or the default) stands; nested configs
and fields of other types are not options.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal, TypeVar

from mer_live.stream.settings import config_from_json, config_to_json

T = TypeVar("T")
SCALARS = (bool, int, float, str)


def option_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _dest(cls: type, name: str) -> str:
    """Where argparse keeps the option: apart from the hand-written options (the source's --fps)."""
    return f"{cls.__name__}.{name}"


def _scalar(annotation: Any) -> tuple[type | None, tuple | None]:
    """(type, choices) an option can take for a field of `annotation`; (None, None) for any other."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _scalar(args[0])
    if typing.get_origin(annotation) is Literal:
        kinds = {type(a) for a in args}
        return (kinds.pop(), tuple(args)) if len(kinds) == 1 and kinds <= set(SCALARS) else (None, None)
    return (annotation, None) if annotation in SCALARS else (None, None)


def add_config_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type, skip: tuple[str, ...] = ()
) -> None:
    """One option per field of `cls` that holds a number, a string, a choice or a switch, `skip` left out."""
    for name, info in cls.__pydantic_fields__.items():
        kind, choices = _scalar(info.annotation)
        if kind is None or name in skip:
            continue
        default = info.get_default(call_default_factory=True)
        help_text = f"{info.description or name} (default: {default})".replace("%", "%%")
        if kind is bool:
            parser.add_argument(
                option_flag(name),
                dest=_dest(cls, name),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                option_flag(name),
                dest=_dest(cls, name),
                type=kind,
                choices=choices,
                default=None,
                metavar=None if choices else {int: "N", float: "X"}.get(kind, "TEXT"),
                help=help_text,
            )


def given_options(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of `cls` the command line set, by field name."""
    return {
        name: value for name in cls.__pydantic_fields__ if (value := getattr(args, _dest(cls, name), None)) is not None
    }


def config_from_args(cls: type[T], args: argparse.Namespace, base: T | None = None) -> T:
    """`base` (default: the defaults) with the options the command line gave; an error names the field."""
    data = (config_to_json(base) if base is not None else {}) | given_options(cls, args)
    return config_from_json(cls, data, "the command line")
