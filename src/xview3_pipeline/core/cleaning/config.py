"""Settings of label cleaning: when a prediction is confident and when it agrees with a label."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import DISTANCE_TOLERANCE_M

__all__ = ["CleaningConfig"]

_PROBABILITIES = ("objectness_threshold", "vessel_threshold", "fishing_threshold")


@dataclass(frozen=True)
class CleaningConfig:
    """How out-of-fold predictions are matched to labels and compared with them.

    Attributes:
        objectness_threshold: A candidate is "confident", and takes part in matching, when
            its ``objectness_p`` is at or above this (probability in [0, 1]).
        tolerance_m: A label and a confident candidate match when their centres are
            strictly closer than this, metres (the metric's match radius by default); the
            one-to-one assignment is the official scorer's (:func:`match_points`).
        vessel_threshold: The prediction says "vessel" when ``vessel_p`` is at or above
            this (probability in [0, 1]).
        fishing_threshold: The prediction says "fishing" when ``fishing_p`` is at or above
            this (probability in [0, 1]).
        length_tolerance_rel: A predicted length agrees with a labelled length ``L`` when
            ``|pred - L| <= length_tolerance_rel * L`` (``|pred - L| / L`` at most this;
            for ``L = 0`` only an exact 0 agrees). Non-negative.
    """

    objectness_threshold: float = 0.5
    tolerance_m: float = DISTANCE_TOLERANCE_M
    vessel_threshold: float = 0.5
    fishing_threshold: float = 0.5
    length_tolerance_rel: float = 0.3

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"cleaning {name} must be a number, got {value!r}.")
            # Floats, so an int from YAML gives the same configuration.
            object.__setattr__(self, name, float(value))
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"cleaning {name} must be in [0, 1], got {value!r}.")
        if not (math.isfinite(self.tolerance_m) and self.tolerance_m > 0):
            raise ValueError(
                f"cleaning tolerance_m must be a finite distance > 0 (metres), "
                f"got {self.tolerance_m!r}."
            )
        if not (math.isfinite(self.length_tolerance_rel) and self.length_tolerance_rel >= 0):
            raise ValueError(
                f"cleaning length_tolerance_rel must be finite and >= 0, "
                f"got {self.length_tolerance_rel!r}."
            )

    @classmethod
    def from_params(
        cls, values: Mapping[str, Any] | None, *, what: str = "label_cleaning.cleaning"
    ) -> CleaningConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Args:
            values: Field name -> value (None or empty: all defaults).
            what: Name of the block in error messages.

        Returns:
            The configuration.

        Raises:
            ValueError: On an unknown key (the message lists the valid ones) or a value out
                of range.
            TypeError: On a value that is not a number.
        """
        return cls(**check_keys(cls, values, what=what))
