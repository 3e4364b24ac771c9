"""Helpers shared by the typed configurations built from Kedro parameters."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any


def check_keys(
    cls: type, values: Mapping[str, Any] | None, *, what: str | None = None
) -> dict[str, Any]:
    """Check a parameters mapping against the fields of a dataclass.

    Args:
        cls: The dataclass the mapping configures.
        values: The mapping (None means no keys: all defaults).
        what: Name of the configuration in the message (default: the class name).

    Returns:
        A plain ``dict`` copy of ``values``.

    Raises:
        ValueError: If a key is not a field; the message lists the valid keys.
    """
    values = dict(values or {})
    names = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(
            f"Unknown {what or cls.__name__} key(s) {unknown}; valid keys are {names}."
        )
    return values


class RenamedOptionWarning(FutureWarning):
    """A configuration value uses a spelling that is accepted for one release only."""


def resolve_alias(value: str, aliases: Mapping[str, str], *, what: str) -> str:
    """Map a deprecated spelling of an option value to its current one.

    The winning solution's behaviour is spelled ``winner`` everywhere ("seed" means a
    random seed only); older spellings such as ``seed`` or ``seed_code`` are accepted
    for one release with a :class:`RenamedOptionWarning`.

    Args:
        value: The value as configured.
        aliases: ``old spelling -> current spelling``.
        what: The parameter's name, for the warning (e.g. ``inference.coverage``).

    Returns:
        The current spelling (``value`` itself when it is not an alias).
    """
    if value in aliases:
        new = aliases[value]
        warnings.warn(
            f"{what}: {value!r} is deprecated and will be removed in the next release; "
            f"use {new!r}.",
            RenamedOptionWarning,
            stacklevel=3,
        )
        return new
    return value
