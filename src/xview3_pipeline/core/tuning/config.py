"""Configuration of the threshold search, built from the ``tuning`` parameters block.

The block nests one part per concern, as the training configuration does::

    tuning:
      methods: [optuna]          # every listed method runs; the first gives the thresholds
      optuna: {n_trials: 200, seed: 42, objectness_low: 0.1, ...}
      grid: {objectness_start: 0.35, objectness_stop: 0.6, ...}   # the winner's grid
      metric: {distance_tolerance_m: 200, shore_tolerance_km: 2, ...}
      defaults: {objectness: 0.3, vessel: 0.338, fishing: 0.35}

The flat keys of the previous release (``method: grid``, ``n_trials``, ``grid_objectness_*``,
``distance_tolerance_m``, ``default_vessel`` ...) are still accepted for one release: each
is moved to its nested place with a
:class:`~xview3_pipeline.core.config.RenamedOptionWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from xview3_pipeline.core.config import RenamedOptionWarning, check_keys
from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS, OBJECTNESS_COLUMN, THRESHOLD_NAMES
from xview3_pipeline.core.metric import MetricConfig

__all__ = [
    "METHODS",
    "DefaultThresholds",
    "GridConfig",
    "OptunaConfig",
    "TuningConfig",
    "as_config",
]

#: The search methods, in their default order of preference.
METHODS: tuple[str, ...] = ("optuna", "grid")


@dataclass(frozen=True)
class OptunaConfig:
    """The seeded Optuna TPE search (``tuning.optuna``).

    Attributes:
        n_trials: Target total of completed trials in the study, earlier runs of the same
            study included.
        seed: Seed of the TPE sampler (a resumed run uses ``seed + completed trials``, so
            it does not replay the first run's random start).
        n_startup_trials: Random trials before TPE modelling starts.
        objectness_low: Lowest objectness threshold.
        objectness_high: Highest objectness threshold.
        objectness_step: Objectness thresholds are suggested on this grid, which is also
            the resolution of the matching cache (``high - low`` must be a multiple of it).
        vessel_low: Lowest vessel threshold.
        vessel_high: Highest vessel threshold.
        fishing_low: Lowest fishing threshold.
        fishing_high: Highest fishing threshold.
        vessel_fishing_step: Step of the vessel/fishing suggestions; None is continuous.
        study_name: Study name (the key for resuming in the SQLite file).
        study_per_data: Suffix the study name with a fingerprint of the candidates,
            truth, shorelines and metric options, so an interrupted run on the same
            candidates resumes while new candidates (after retraining) get a study of
            their own in the same file. Without it, resuming a study on other data is an
            error.
        enqueue_defaults: Start a new study with the default thresholds as its first
            trial, so the result is never worse than the defaults.
    """

    n_trials: int = 200
    seed: int = 42
    n_startup_trials: int = 10
    objectness_low: float = 0.1
    objectness_high: float = 0.8
    objectness_step: float = 0.005
    vessel_low: float = 0.0
    vessel_high: float = 1.0
    fishing_low: float = 0.0
    fishing_high: float = 1.0
    vessel_fishing_step: float | None = None
    study_name: str = "xview3_thresholds"
    study_per_data: bool = True
    enqueue_defaults: bool = True

    def validate(self) -> None:
        """Check the values.

        Raises:
            ValueError: If a value is out of range or a range is not a multiple of its step.
        """
        if self.n_trials < 1:
            raise ValueError(f"tuning.optuna.n_trials must be >= 1, got {self.n_trials}.")
        if self.n_startup_trials < 0:
            raise ValueError(
                f"tuning.optuna.n_startup_trials must be >= 0, got {self.n_startup_trials}."
            )
        for name in THRESHOLD_NAMES:
            low, high = getattr(self, f"{name}_low"), getattr(self, f"{name}_high")
            _check_range(f"tuning.optuna.{name}_low", f"{name}_high", low, high, strict=True)
        _check_step("objectness", self.objectness_low, self.objectness_high, self.objectness_step)
        if self.vessel_fishing_step is not None:
            for name in ("vessel", "fishing"):
                low, high = getattr(self, f"{name}_low"), getattr(self, f"{name}_high")
                _check_step(name, low, high, self.vessel_fishing_step)
        if not self.study_name:
            raise ValueError("tuning.optuna.study_name must not be empty.")


@dataclass(frozen=True)
class GridConfig:
    """The grid search (``tuning.grid``); the defaults are the winner's grid.

    The winner searched objectness 0.35 ... 0.60 (step 0.01) and, for each, a 50 x 50
    sweep of the vessel and fishing thresholds over ``linspace(0, 1, 50)``.

    Attributes:
        objectness_start: First objectness threshold.
        objectness_stop: Last objectness threshold (inclusive).
        objectness_step: Objectness step.
        vessel_start: First vessel threshold of the sweep.
        vessel_stop: Last vessel threshold of the sweep (inclusive).
        fishing_start: First fishing threshold of the sweep.
        fishing_stop: Last fishing threshold of the sweep (inclusive).
        vessel_fishing_points: Points of the vessel and of the fishing sweep
            (``linspace(start, stop, points)``).
    """

    objectness_start: float = 0.35
    objectness_stop: float = 0.60
    objectness_step: float = 0.01
    vessel_start: float = 0.0
    vessel_stop: float = 1.0
    fishing_start: float = 0.0
    fishing_stop: float = 1.0
    vessel_fishing_points: int = 50

    def validate(self) -> None:
        """Check the values.

        Raises:
            ValueError: If a value is out of range.
        """
        for name in THRESHOLD_NAMES:
            start, stop = getattr(self, f"{name}_start"), getattr(self, f"{name}_stop")
            _check_range(f"tuning.grid.{name}_start", f"{name}_stop", start, stop, strict=False)
        if not self.objectness_step > 0:
            raise ValueError(
                f"tuning.grid.objectness_step must be > 0, got {self.objectness_step}."
            )
        if self.vessel_fishing_points < 1:
            raise ValueError(
                f"tuning.grid.vessel_fishing_points must be >= 1, got {self.vessel_fishing_points}."
            )

    def objectness_values(self) -> np.ndarray:
        """The objectness thresholds, start to stop inclusive (rounded to 10 decimals)."""
        span = self.objectness_stop - self.objectness_start
        n = math.floor(span / self.objectness_step + 1e-9) + 1
        return np.round(self.objectness_start + self.objectness_step * np.arange(n), 10)

    def vessel_values(self) -> np.ndarray:
        """The vessel thresholds of the sweep."""
        return np.linspace(self.vessel_start, self.vessel_stop, self.vessel_fishing_points)

    def fishing_values(self) -> np.ndarray:
        """The fishing thresholds of the sweep."""
        return np.linspace(self.fishing_start, self.fishing_stop, self.vessel_fishing_points)


@dataclass(frozen=True)
class DefaultThresholds:
    """The thresholds used when there is nothing to tune on (``tuning.defaults``).

    The defaults are the winning submission's (``core.constants.DEFAULT_THRESHOLDS``);
    Optuna also starts a new study with them (``optuna.enqueue_defaults``).

    Attributes:
        objectness: Objectness threshold.
        vessel: Vessel threshold.
        fishing: Fishing threshold.
    """

    objectness: float = DEFAULT_THRESHOLDS["objectness"]
    vessel: float = DEFAULT_THRESHOLDS["vessel"]
    fishing: float = DEFAULT_THRESHOLDS["fishing"]

    def validate(self) -> None:
        """Check the values.

        Raises:
            ValueError: If a threshold is outside [0, 1].
        """
        for name, value in self.as_dict().items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"tuning.defaults.{name} must be in [0, 1], got {value}.")

    def as_dict(self) -> dict[str, float]:
        """``{"objectness", "vessel", "fishing"}`` as plain floats (JSON-ready)."""
        return {name: float(getattr(self, name)) for name in THRESHOLD_NAMES}


@dataclass(frozen=True)
class TuningConfig:
    """How the thresholds are tuned (the ``tuning`` parameters block).

    Attributes:
        methods: The search methods to run, in order (``optuna``, ``grid``); the first
            gives the tuned thresholds, the others are run for comparison.
        optuna: The Optuna search.
        grid: The grid search.
        metric: The metric options every score of the search uses.
        defaults: The answer when there is nothing to tune on.
        cache_size: Most prepared matchings kept (LRU), one per objectness threshold.
        fishing_requires_vessel: Also require ``is_vessel`` for ``is_fishing`` (the winner
            did not).
        objectness_column: Candidate column with the detection score.
    """

    methods: tuple[str, ...] = ("optuna",)
    optuna: OptunaConfig = field(default_factory=OptunaConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    metric: MetricConfig = field(default_factory=MetricConfig)
    defaults: DefaultThresholds = field(default_factory=DefaultThresholds)
    cache_size: int = 256
    fishing_requires_vessel: bool = False
    objectness_column: str = OBJECTNESS_COLUMN

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> TuningConfig:
        """Build from the ``tuning`` parameters block, rejecting unknown keys.

        Args:
            values: The block (None or empty: all defaults). Flat keys of the previous
                release are moved to their nested place with a ``RenamedOptionWarning``.

        Returns:
            The validated configuration.

        Raises:
            ValueError: On unknown keys (the message lists the valid ones) or invalid
                values.
        """
        values = _migrate_flat_keys(dict(values or {}))
        values = check_keys(cls, values, what="tuning")
        methods = values.pop("methods", cls.methods)
        values["methods"] = (methods,) if isinstance(methods, str) else tuple(methods)
        values["optuna"] = _nested(OptunaConfig, values.get("optuna"), "tuning.optuna")
        values["grid"] = _nested(GridConfig, values.get("grid"), "tuning.grid")
        values["metric"] = MetricConfig.from_dict(values.get("metric"), what="tuning.metric")
        values["defaults"] = _nested(DefaultThresholds, values.get("defaults"), "tuning.defaults")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check the values (the nested parts included).

        Raises:
            ValueError: If a value is out of range or a method is unknown.
        """
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown or len(set(self.methods)) != len(self.methods):
            raise ValueError(
                f"tuning.methods must be a non-empty list of distinct methods from "
                f"{list(METHODS)}, got {list(self.methods)}."
            )
        if self.cache_size < 1:
            raise ValueError(f"tuning.cache_size must be >= 1, got {self.cache_size}.")
        self.optuna.validate()
        self.grid.validate()
        self.metric.validate()
        self.defaults.validate()

    @property
    def method(self) -> str:
        """The method whose thresholds are used (the first of :attr:`methods`)."""
        return self.methods[0]


def as_config(config: TuningConfig | Mapping[str, Any] | None) -> TuningConfig:
    """A validated :class:`TuningConfig` from a configuration, its mapping or None.

    Raises:
        ValueError: On unknown keys or invalid values.
    """
    if isinstance(config, TuningConfig):
        config.validate()
        return config
    return TuningConfig.from_dict(config)


def _nested(cls: type, values: Mapping[str, Any] | None, what: str) -> Any:
    return cls(**check_keys(cls, values, what=what))


def _check_range(low_name: str, high_name: str, low: float, high: float, *, strict: bool) -> None:
    ordered = low < high if strict else low <= high
    if not (0.0 <= low and ordered and high <= 1.0):
        relation = "<" if strict else "<="
        raise ValueError(f"Need 0 <= {low_name} {relation} {high_name} <= 1, got {low} and {high}.")


def _check_step(name: str, low: float, high: float, step: float) -> None:
    if not step > 0:
        raise ValueError(f"The tuning.optuna {name} step must be > 0, got {step}.")
    ratio = (high - low) / step
    if abs(ratio - round(ratio)) > 1e-6:
        raise ValueError(
            f"The tuning.optuna {name} range [{low}, {high}] is not a multiple of the step "
            f"{step}; Optuna would silently shrink it."
        )


#: Flat keys of the previous release -> their nested places (section, key).
_FLAT_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    **{k: (("optuna", k),) for k in (f.name for f in fields(OptunaConfig))},
    **{
        f"grid_{k}": (("grid", k),)
        for k in ("objectness_start", "objectness_stop", "objectness_step")
    },
    "grid_vessel_fishing_points": (("grid", "vessel_fishing_points"),),
    **{k: (("metric", k),) for k in (f.name for f in fields(MetricConfig))},
    **{f"default_{k}": (("defaults", k),) for k in THRESHOLD_NAMES},
}
# The vessel and fishing ranges were shared by both methods.
for _name in ("vessel", "fishing"):
    _FLAT_KEYS[f"{_name}_low"] += (("grid", f"{_name}_start"),)
    _FLAT_KEYS[f"{_name}_high"] += (("grid", f"{_name}_stop"),)


def _migrate_flat_keys(values: dict[str, Any]) -> dict[str, Any]:
    """Move the previous release's flat keys (and ``method``) to the nested layout."""
    if "method" in values:
        if "methods" in values:
            raise ValueError(
                "tuning: give either methods (a list) or the deprecated method, not both; "
                f"got method={values['method']!r} and methods={values['methods']!r}."
            )
        method = values.pop("method")
        _warn_moved("method", f"methods: [{method}]")
        values["methods"] = [method]
    for old in [k for k in values if k in _FLAT_KEYS]:
        value = values.pop(old)
        targets = _FLAT_KEYS[old]
        for section, key in targets:
            part = dict(values.get(section) or {})
            part.setdefault(key, value)
            values[section] = part
        _warn_moved(old, " and ".join(f"{section}.{key}" for section, key in targets))
    return values


def _warn_moved(old: str, new: str) -> None:
    warnings.warn(
        f"tuning.{old} is deprecated and will be removed in the next release; use tuning.{new}.",
        RenamedOptionWarning,
        stacklevel=4,
    )
