"""Static checks of configuration values: types from the dataclass annotations, ranges.

Used by the typed configurations' ``from_dict`` / ``validate`` so a bad parameter stops a
run before any work. Every message names the parameter by its full dotted name
(``training.data.crop_size``), the value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Collection
from typing import Any, Literal, get_args, get_origin

_TYPE_WORDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


#: Checks of plain annotations; ``bool`` is not accepted for numbers.
_PLAIN: dict[Any, Any] = {
    type(None): lambda v: v is None,
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in get_args(hint))
    check = _PLAIN.get(hint)
    return check(value) if check else True  # containers and classes: their owners check


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return f"one of {list(get_args(hint))}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in get_args(hint))
    if hint is type(None):
        return "null"
    return _TYPE_WORDS.get(hint, getattr(hint, "__name__", str(hint)))


def check_field_types(config: Any, what: str) -> None:
    """Check each field of a dataclass instance against its annotation.

    Plain types (``bool``, ``int``, ``float``, ``str``), ``None``, ``Literal`` choices and
    unions of them are checked; an ``int`` is accepted for a ``float`` and a ``bool`` is
    not accepted for an ``int``.

    Args:
        config: A dataclass instance.
        what: Dotted name of its block (``training.data``); empty for bare field names.

    Raises:
        ValueError: ``<what>.<field> must be <type>, got <value>``.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        hint = hints[field.name]
        if not _matches(value, hint):
            name = f"{what}.{field.name}" if what else field.name
            raise ValueError(
                f"{name} must be {_describe(hint)}, got {value!r} ({type(value).__name__})."
            )


def require(ok: bool, name: str, value: Any, accepted: str) -> None:
    """Raise ``ValueError("<name> must be <accepted>, got <value>.")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {accepted}, got {value!r}.")


def require_choice(value: Any, choices: Collection[str], name: str) -> None:
    """Raise unless ``value`` is one of ``choices`` (listed, sorted, in the message)."""
    require(value in choices, name, value, f"one of {sorted(choices)}")
