"""The switches of the official xView3 scorer as one validated configuration."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import DISTANCE_TOLERANCE_M, NEAR_SHORE_KM

__all__ = ["MetricConfig"]


@dataclass(frozen=True)
class MetricConfig:
    """Options of the official scorer; the defaults are the leaderboard's.

    The official command line of the leaderboard is ``--distance_tolerance 200
    --shore_tolerance 2 --shore_root DIR --drop_low_detect --costly_dist``; every field
    maps to one of its switches. Whether the shore term is computed also depends on a
    shoreline source being given to :func:`~xview3_pipeline.core.metric.prepare`.

    Attributes:
        distance_tolerance_m: A predicted and a true centre match when strictly closer
            than this, metres (``--distance_tolerance``, the match radius).
        shore_tolerance_km: Ground truth at most this far from shore is near shore, km
            (``--shore_tolerance``); 0 turns the close-to-shore term off.
        drop_low_detect: Delete predictions matched to LOW-confidence labels before
            scoring (``--drop_low_detect``, the two-stage LOW drop).
        costly_dist: Replace costs above the tolerance by a huge constant before the
            assignment (``--costly_dist``); False minimises the plain sum of distances.
        score_all: Score against every confidence level with no LOW handling at all
            (``--score_all``); ``drop_low_detect`` is then ignored.
    """

    distance_tolerance_m: float = DISTANCE_TOLERANCE_M
    shore_tolerance_km: float = NEAR_SHORE_KM
    drop_low_detect: bool = True
    costly_dist: bool = True
    score_all: bool = False

    def __post_init__(self) -> None:
        self.validate()
        # Tolerances as floats, so an int from YAML gives the same config (and fingerprint).
        for name in ("distance_tolerance_m", "shore_tolerance_km"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, *, what: str = "metric") -> MetricConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Args:
            values: Field name -> value (None or empty: the leaderboard defaults).
            what: Name of the block in error messages (e.g. ``tuning.metric``).

        Returns:
            The configuration.

        Raises:
            ValueError: On an unknown key (the message lists the valid ones) or a value
                out of range.
            TypeError: On a switch that is not a boolean.
        """
        return cls(**check_keys(cls, values, what=what))

    def validate(self) -> None:
        """Check the values (called on construction).

        Raises:
            ValueError: If a tolerance is not finite or out of range.
            TypeError: If a tolerance is not a number or a switch is not a boolean.
        """
        for name in ("distance_tolerance_m", "shore_tolerance_km"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"metric {name} must be a number, got {value!r}.")
        if not (math.isfinite(self.distance_tolerance_m) and self.distance_tolerance_m > 0):
            raise ValueError(
                "metric distance_tolerance_m must be a finite number of metres > 0, got "
                f"{self.distance_tolerance_m!r}."
            )
        if not (math.isfinite(self.shore_tolerance_km) and self.shore_tolerance_km >= 0):
            raise ValueError(
                "metric shore_tolerance_km must be a finite number of km >= 0 (0 turns the "
                f"shore term off), got {self.shore_tolerance_km!r}."
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "bool" and not isinstance(value, bool):
                raise TypeError(
                    f"metric {f.name} must be true or false, got {value!r} "
                    f"({type(value).__name__})."
                )

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON-ready)."""
        return asdict(self)
