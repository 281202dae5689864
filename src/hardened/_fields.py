"""Type checks for configuration: dataclass fields and `Service(...)` arguments.

Value checks live in each config's `__post_init__`; this module answers the question before
them — is it the right kind of value at all — so that `DeadlineConfig(default_timeout="5")`
or `Service("x", deadline=5)` fail at construction with a `ConfigError` naming the argument,
not later inside a gate. Only the simple shapes configs use are checked: `int`, `float`
(an int is accepted), `str`, `bool`, classes, `X | None`, `Literal[...]` and `tuple[X, ...]`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from hardened.errors import ConfigError

__all__ = ["check_arguments", "check_fields", "check_type", "type_name"]


def _matches(value: Any, hint: Any) -> bool:  # noqa: PLR0911, PLR0912 - one branch per shape
    origin = typing.get_origin(hint)
    if hint is Any or hint is object:
        return True
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(item, args[0]) for item in value)
        return True
    if origin is collections.abc.Sequence:
        args = typing.get_args(hint)
        if not isinstance(value, collections.abc.Sequence) or isinstance(value, str | bytes):
            return False
        return not args or all(_matches(item, args[0]) for item in value)
    if origin is not None:  # other generics (Mapping[...], Callable[...]): check the origin
        return isinstance(origin, type) and isinstance(value, origin)
    if getattr(hint, "_is_protocol", False) and not getattr(hint, "_is_runtime_protocol", False):
        return True  # a structural type that cannot be checked at run time
    return not isinstance(hint, type) or isinstance(value, hint)


def type_name(hint: Any) -> str:
    """A readable name for a type hint: `float`, `DeadlineConfig | None`."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(type_name(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def check_type(owner: str, name: str, value: Any, hint: Any) -> None:
    """Raise `ConfigError` unless `value` fits `hint`; the message names `owner(name=...)`."""
    if not _matches(value, hint):
        raise ConfigError(
            f"{owner}({name}=...) must be {type_name(hint)}, not {type(value).__name__} {value!r}"
        )


_HINTS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}  # per config class, built once


def _hints(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    found = _HINTS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = tuple((field.name, hints[field.name]) for field in dataclasses.fields(cls))
        _HINTS[cls] = found
    return found


def check_fields(config: Any) -> None:
    """Check every field of the dataclass instance `config` against its annotation."""
    cls = type(config)
    for name, hint in _hints(cls):
        check_type(cls.__name__, name, getattr(config, name), hint)


def check_arguments(owner: str, function: Callable[..., Any], arguments: Mapping[str, Any]) -> None:
    """Check the named `arguments` of a call to `function` against its annotations."""
    hints = typing.get_type_hints(function)
    for name, value in arguments.items():
        if name in hints and name not in ("self", "return"):
            check_type(owner, name, value, hints[name])
