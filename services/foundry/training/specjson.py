"""The JSON form of a training spec (`JobSpec.to_dict()` / `from_dict()`): frozen dataclasses as
objects, enums by value, tuples as lists; reading back names every unknown, missing or mistyped
field by its path."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, Literal, TypeVar

from foundry.runtime.errors import FieldViolation

D = TypeVar("D")


def to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def from_json(hint: Any, value: Any, path: str, bad: list[FieldViolation]) -> Any:
    """`value` parsed as type `hint`; problems are appended to `bad` (None is then returned)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return from_json(inner, value, path, bad)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass_from_json(hint, value, path, bad)
    if origin is Literal:
        if value in args:
            return value
    elif origin is tuple:
        item = args[0] if args else str
        if isinstance(value, list | tuple):
            items = [from_json(item, v, f"{path}[{i}]", bad) for i, v in enumerate(value)]
            return tuple(items) if all(v is not None for v in items) else None
    elif isinstance(hint, type) and issubclass(hint, Enum):
        if isinstance(value, str) and value in {m.value for m in hint}:
            return hint(value)
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint in (int, bool, str) and type(value) is hint:
        return value
    bad.append(FieldViolation(path, f"{value!r} is not a valid {_describe(hint)}"))
    return None


def _dataclass_from_json(cls: type[D], value: Any, path: str, bad: list[FieldViolation]) -> D | None:
    if not isinstance(value, Mapping):
        bad.append(FieldViolation(path or "spec", "must be an object"))
        return None
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    prefix = f"{path}." if path else ""
    before = len(bad)
    bad.extend(FieldViolation(f"{prefix}{key}", "unknown field") for key in value if key not in names)
    kwargs = {
        name: from_json(hints[name], value[name], f"{prefix}{name}", bad) for name in names if name in value
    }
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if (
            f.name not in value
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            bad.append(FieldViolation(f"{prefix}{f.name}", "required"))
    return cls(**kwargs) if len(bad) == before else None


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(map(repr, typing.get_args(hint)))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "value of " + ", ".join(m.value for m in hint)
    return getattr(hint, "__name__", str(hint))
