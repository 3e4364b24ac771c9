"""Helpers shared by the typed configurations built from Kedro parameters."""

from __future__ import annotations

import dataclasses
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
