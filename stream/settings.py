"""How every config is declared, validated and written as or read from JSON — one way for all.

A config is a frozen dataclass that pydantic checks (`@config_class`): each field states its type,
its bounds and its meaning with `Field(default, gt=0, description=...)` (the description is also the
command line's help), choices are `Literal`s, and a rule between fields is one `model_validator`.
`dataclasses.replace`, `asdict` and `fields` work as on any dataclass. A bad value raises pydantic's
ValidationError, a ValueError whose `errors()` name the field (`spotter.k_low` when nested);
`describe` says it in one line. `config_to_json` and `config_from_json` are the only JSON path.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

T = TypeVar("T")
Switch = Annotated[bool, Field(strict=True)]  # true or false only: 1 or "yes" is refused, not taken for true


class ConfigError(ValueError):
    """A config that cannot be used; the message (one line) names where it came from and the field."""


def config_class(cls: type[T]) -> type[T]:
    """`cls` as a frozen, validated config: unknown fields, infinities and NaN are refused."""
    return dataclass(frozen=True, config=ConfigDict(extra="forbid", allow_inf_nan=False))(cls)


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def config_to_json(config: Any) -> dict:
    """The config as plain JSON values (tuples become lists), nested configs as objects."""
    return _adapter(type(config)).dump_python(config, mode="json")


def config_from_json(cls: type[T], data: Any, where: str = "") -> T:
    """`cls` from JSON values (missing fields take their defaults); ConfigError naming `where` and the field."""
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, where or cls.__name__)) from None


def read_json(path: Path) -> Any:
    """A config file's JSON values; ConfigError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON file: {exc}") from None


def load_config(cls: type[T], path: Path) -> T:
    """`cls` from a JSON file; ConfigError naming the file (and the field)."""
    return config_from_json(cls, read_json(path), str(path))


def describe(error: ValidationError, where: str = "") -> str:
    """The problems of `error` in one line: `WHERE: field.path: what is wrong (got VALUE)`; a rule
    between fields names them in its message."""
    problems = []
    for problem in error.errors():
        path = ".".join(map(str, problem["loc"]))
        message = problem["msg"].removeprefix("Value error, ")
        if (
            problem["type"] != "value_error"
            and not isinstance(problem["input"], (dict, list, tuple))
            and "missing" not in problem["type"]
        ):
            message += f" (got {problem['input']!r})"
        problems.append(f"{path}: {message}" if path else message)
    return f"{where or error.title}: " + "; ".join(problems)
