"""Objectness, vessel and fishing thresholds tuned on the holdout with the xView3 metric.

The winner searched objectness thresholds 0.35…0.60 (step 0.01) and, for each, a 50 x 50
sweep of the vessel and fishing thresholds over ``linspace(0, 1, 50)``, maximising the
official aggregate on its private holdout (``evaluation.py::compute_optimal_thresholds``).
This module offers that grid search (:func:`grid_search`) and a seeded Optuna TPE search
over the same three thresholds (:func:`optuna_search`); :func:`tune_thresholds` picks one
from :class:`TuningConfig`.

Scoring rules that matter here (all from the official metric,
:mod:`xview3_pipeline.core.metric.xview3`):

* ``is_vessel = vessel_p >= t_v`` and ``is_fishing = fishing_p >= t_f`` are set
  independently, as in the winner's code (``fishing_requires_vessel`` switches the gate on).
* A holdout scene with no candidate at all is left out of the scoring (the official rule:
  GT is restricted to the scenes that have predictions), so it does not lower the score.
  Above a high objectness threshold a scene can lose all its candidates and drop out the
  same way.

Efficiency: the objectness threshold decides which predictions exist, so the matching
depends on it; the vessel and fishing thresholds only relabel the matched pairs. A
:class:`PreparedCache` keeps one :class:`~xview3_pipeline.core.metric.xview3.PreparedMatch`
per objectness threshold (LRU-bounded); Optuna suggests the objectness threshold on a grid
of ``objectness_step`` (``trial.suggest_float(..., step=...)``), so at most
``(high - low) / step + 1`` matchings are ever computed and a cached match is exactly the
match of that threshold. Everything else is numpy on the matched pairs.

Resuming: with a ``storage_path`` the study lives in a SQLite file (open it with
``optuna-dashboard sqlite:///<path>``). Rerunning with the same ``study_name`` continues the
study, and ``n_trials`` is the **target total** of completed trials, earlier runs included:
a study that already has ``n_trials`` completed trials runs no new ones and simply reports
its best trial. A fingerprint of the candidates, the truth, the shorelines and the metric
options is stored with the study; resuming on different data raises (use a new
``study_name``), so stale thresholds are never returned silently.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import NEAR_SHORE_KM, SUBMISSION_COLUMNS
from xview3_pipeline.core.metric.matching import DISTANCE_TOLERANCE_M
from xview3_pipeline.core.metric.xview3 import (
    COMPONENTS,
    FISHING_PROBABILITY_COLUMN,
    OBJECTNESS_COLUMN,
    VESSEL_PROBABILITY_COLUMN,
    PreparedMatch,
    prepare,
)
from xview3_pipeline.core.metric.xview3 import apply_thresholds as _label_from_probabilities

logger = logging.getLogger(__name__)

__all__ = [
    "THRESHOLD_NAMES",
    "TRIAL_COLUMNS",
    "PreparedCache",
    "TuningConfig",
    "TuningResult",
    "apply_thresholds",
    "grid_search",
    "optuna_search",
    "tune_thresholds",
]

#: Keys of a thresholds dict (and Optuna parameter names).
THRESHOLD_NAMES: tuple[str, ...] = ("objectness", "vessel", "fishing")
#: Columns of :attr:`TuningResult.trials` (both methods).
TRIAL_COLUMNS: tuple[str, ...] = ("number", *THRESHOLD_NAMES, *COMPONENTS)

_STUDY_FINGERPRINT_ATTR = "data_fingerprint"
_COMPONENTS_ATTR = "components"
_CANDIDATE_COLUMNS = (
    "detect_scene_row",
    "detect_scene_column",
    "scene_id",
    "vessel_length_m",
    VESSEL_PROBABILITY_COLUMN,
    FISHING_PROBABILITY_COLUMN,
)
_TRUTH_COLUMNS = (
    "detect_scene_row",
    "detect_scene_column",
    "scene_id",
    "is_vessel",
    "is_fishing",
    "vessel_length_m",
    "confidence",
    "distance_from_shore_km",
)
_METRIC_LOGGERS = ("xview3_pipeline.core.metric.xview3",)


# --------------------------------------------------------------------------------------
# Configuration and result
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuningConfig:
    """How the thresholds are tuned (the ``threshold_tuning`` parameters block).

    Attributes:
        method: ``"optuna"`` (seeded TPE) or ``"grid"`` (the winner's grid search).
        n_trials: Optuna: target total of completed trials in the study, earlier runs of
            the same study included.
        seed: Seed of the TPE sampler (a resumed run uses ``seed + completed trials``, so
            it does not replay the first run's random start).
        n_startup_trials: Random trials before TPE modelling starts.
        objectness_low: Optuna: lowest objectness threshold.
        objectness_high: Optuna: highest objectness threshold.
        objectness_step: Optuna: objectness thresholds are suggested on this grid, which
            is also the resolution of the matching cache (``(high - low)`` must be a
            multiple of it).
        vessel_low: Lowest vessel threshold (Optuna range; grid sweep start).
        vessel_high: Highest vessel threshold (Optuna range; grid sweep end).
        fishing_low: Lowest fishing threshold (Optuna range; grid sweep start).
        fishing_high: Highest fishing threshold (Optuna range; grid sweep end).
        vessel_fishing_step: Optuna: step of the vessel/fishing suggestions; None is
            continuous.
        grid_objectness_start: Grid: first objectness threshold.
        grid_objectness_stop: Grid: last objectness threshold (inclusive).
        grid_objectness_step: Grid: objectness step.
        grid_vessel_fishing_points: Grid: points of the vessel and of the fishing sweep
            (``linspace(low, high, points)``; the winner used 50 over [0, 1]).
        study_name: Optuna study name (the key for resuming in the SQLite file).
        study_per_data: Suffix the study name with a fingerprint of the candidates,
            truth, shorelines and metric options, so an interrupted run on the same
            candidates resumes while new candidates (after retraining) get a study of
            their own in the same file. Without it, resuming a study on other data is
            an error.
        enqueue_defaults: Optuna: start a new study with the default thresholds as its
            first trial, so the result is never worse than the defaults.
        default_objectness: Default objectness threshold (the winner's final 0.300); also
            the answer when there is nothing to tune on.
        default_vessel: Default vessel threshold (the winner's 0.338).
        default_fishing: Default fishing threshold (the winner's 0.350).
        cache_size: Most prepared matchings kept (LRU).
        fishing_requires_vessel: Also require ``is_vessel`` for ``is_fishing`` (the winner
            did not).
        objectness_column: Candidate column with the detection score.
        distance_tolerance_m: Metric: detection tolerance, metres (leaderboard: 200).
        shore_tolerance_km: Metric: near-shore tolerance, km (leaderboard: 2); needs
            shorelines, else the shore term is 0.
        drop_low_detect: Metric: official ``--drop_low_detect``.
        costly_dist: Metric: official ``--costly_dist``.
        score_all: Metric: official ``--score_all``.
    """

    method: Literal["optuna", "grid"] = "optuna"
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
    grid_objectness_start: float = 0.35
    grid_objectness_stop: float = 0.60
    grid_objectness_step: float = 0.01
    grid_vessel_fishing_points: int = 50
    study_name: str = "xview3_thresholds"
    study_per_data: bool = True
    enqueue_defaults: bool = True
    default_objectness: float = 0.3
    default_vessel: float = 0.338
    default_fishing: float = 0.35
    cache_size: int = 256
    fishing_requires_vessel: bool = False
    objectness_column: str = OBJECTNESS_COLUMN
    distance_tolerance_m: float = DISTANCE_TOLERANCE_M
    shore_tolerance_km: float = NEAR_SHORE_KM
    drop_low_detect: bool = True
    costly_dist: bool = True
    score_all: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> TuningConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Raises:
            ValueError: On unknown keys or invalid values.
        """
        cfg = cls(**check_keys(cls, values, what="threshold tuning"))
        cfg.validate()
        return cfg

    @property
    def metric_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`~xview3_pipeline.core.metric.xview3.prepare`."""
        return {
            "distance_tolerance_m": float(self.distance_tolerance_m),
            "shore_tolerance_km": float(self.shore_tolerance_km),
            "drop_low_detect": bool(self.drop_low_detect),
            "costly_dist": bool(self.costly_dist),
            "score_all": bool(self.score_all),
        }

    @property
    def defaults(self) -> dict[str, float]:
        """The default thresholds as a thresholds dict."""
        return {
            "objectness": float(self.default_objectness),
            "vessel": float(self.default_vessel),
            "fishing": float(self.default_fishing),
        }

    def validate(self) -> None:
        """Check the values.

        Raises:
            ValueError: If a value is out of range or inconsistent.
        """
        if self.method not in ("optuna", "grid"):
            raise ValueError(f"method must be 'optuna' or 'grid', got {self.method!r}.")
        if self.n_trials < 1:
            raise ValueError(f"n_trials must be >= 1, got {self.n_trials}.")
        if self.n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {self.n_startup_trials}.")
        if self.cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {self.cache_size}.")
        if self.grid_vessel_fishing_points < 1:
            raise ValueError(
                f"grid_vessel_fishing_points must be >= 1, got {self.grid_vessel_fishing_points}."
            )
        if self.distance_tolerance_m <= 0 or self.shore_tolerance_km < 0:
            raise ValueError(
                "Need distance_tolerance_m > 0 and shore_tolerance_km >= 0, got "
                f"{self.distance_tolerance_m} and {self.shore_tolerance_km}."
            )
        self._validate_ranges()

    def _validate_ranges(self) -> None:
        for name in ("objectness", "vessel", "fishing"):
            low, high = getattr(self, f"{name}_low"), getattr(self, f"{name}_high")
            if not 0.0 <= low < high <= 1.0:
                raise ValueError(f"Need 0 <= {name}_low < {name}_high <= 1, got {low} and {high}.")
        _check_step("objectness", self.objectness_low, self.objectness_high, self.objectness_step)
        if self.vessel_fishing_step is not None:
            for name in ("vessel", "fishing"):
                _check_step(
                    name,
                    getattr(self, f"{name}_low"),
                    getattr(self, f"{name}_high"),
                    self.vessel_fishing_step,
                )
        if not (
            self.grid_objectness_step > 0
            and 0.0 <= self.grid_objectness_start <= self.grid_objectness_stop <= 1.0
        ):
            raise ValueError(
                "Need 0 <= grid_objectness_start <= grid_objectness_stop <= 1 and "
                f"grid_objectness_step > 0, got {self.grid_objectness_start}, "
                f"{self.grid_objectness_stop}, {self.grid_objectness_step}."
            )
        for name, value in self.defaults.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"default_{name} must be in [0, 1], got {value}.")

    def grid_objectness_values(self) -> np.ndarray:
        """The grid's objectness thresholds, start to stop inclusive."""
        span = self.grid_objectness_stop - self.grid_objectness_start
        n = math.floor(span / self.grid_objectness_step + 1e-9) + 1
        return np.round(self.grid_objectness_start + self.grid_objectness_step * np.arange(n), 10)


def _check_step(name: str, low: float, high: float, step: float) -> None:
    if not step > 0:
        raise ValueError(f"The {name} step must be > 0, got {step}.")
    ratio = (high - low) / step
    if abs(ratio - round(ratio)) > 1e-6:
        raise ValueError(
            f"The {name} range [{low}, {high}] is not a multiple of the step {step}; "
            "Optuna would silently shrink it."
        )


@dataclass(frozen=True)
class TuningResult:
    """Outcome of a threshold search.

    Attributes:
        best_thresholds: ``{"objectness": ..., "vessel": ..., "fishing": ...}`` (plain
            floats, ready for JSON).
        best_value: The aggregate at the best thresholds.
        best_components: The six metric components at the best thresholds.
        trials: One row per evaluated threshold triple (:data:`TRIAL_COLUMNS`); for Optuna
            every completed trial of the study, earlier runs included.
        method: ``"optuna"`` or ``"grid"``.
        study: The Optuna study (None for the grid and when nothing was tuned).
        stats: Bookkeeping: ``n_new_trials``, ``elapsed_s``, ``trials_per_s``,
            ``cache_hits``, ``cache_misses``.
    """

    best_thresholds: dict[str, float]
    best_value: float
    best_components: dict[str, float]
    trials: pd.DataFrame
    method: str
    study: optuna.Study | None = None
    stats: Mapping[str, Any] = field(default_factory=dict, compare=False)


# --------------------------------------------------------------------------------------
# Matching cache
# --------------------------------------------------------------------------------------


class PreparedCache:
    """Prepared matchings of one candidate table, one per objectness threshold (LRU).

    Thresholds are keyed after rounding to 10 decimals, which only removes floating-point
    noise: callers discretise (Optuna's ``step``, the grid), so a hit is exactly the
    matching that :func:`~xview3_pipeline.core.metric.xview3.prepare` would return.

    Args:
        candidates: Candidate detections (see :func:`tune_thresholds`).
        truth: Holdout labels in the official layout.
        shorelines: Preloaded shorelines (scene id -> Shoreline); None turns the shore
            term off (0).
        objectness_column: Candidate column with the detection score.
        maxsize: Most matchings kept.
        metric_options: Passed to ``prepare`` (tolerances and official switches).
    """

    def __init__(
        self,
        candidates: pd.DataFrame,
        truth: pd.DataFrame,
        *,
        shorelines: Mapping[str, Any] | None = None,
        objectness_column: str = OBJECTNESS_COLUMN,
        maxsize: int = 256,
        **metric_options: Any,
    ) -> None:
        columns = [c for c in (*_CANDIDATE_COLUMNS, objectness_column) if c in candidates]
        self._candidates = candidates.loc[:, list(dict.fromkeys(columns))]
        self._truth = truth
        self._shorelines = shorelines
        self._objectness_column = objectness_column
        self._options = metric_options
        self._maxsize = int(maxsize)
        self._store: OrderedDict[float, PreparedMatch] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_config(
        cls,
        candidates: pd.DataFrame,
        truth: pd.DataFrame,
        config: TuningConfig,
        shorelines: Mapping[str, Any] | None = None,
    ) -> PreparedCache:
        """A cache with the metric options and size of ``config``."""
        return cls(
            candidates,
            truth,
            shorelines=shorelines,
            objectness_column=config.objectness_column,
            maxsize=config.cache_size,
            **config.metric_options,
        )

    def __len__(self) -> int:
        return len(self._store)

    def get(self, objectness_threshold: float) -> PreparedMatch:
        """The matching of the candidates with ``objectness >= objectness_threshold``."""
        key = round(float(objectness_threshold), 10)
        prepared = self._store.get(key)
        if prepared is not None:
            self.hits += 1
            self._store.move_to_end(key)
            return prepared
        self.misses += 1
        prepared = prepare(
            self._candidates,
            self._truth,
            shorelines=self._shorelines,
            objectness_threshold=key,
            objectness_column=self._objectness_column,
            **self._options,
        )
        self._store[key] = prepared
        if len(self._store) > self._maxsize:
            self._store.popitem(last=False)
        return prepared


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


class _RepeatFilter(logging.Filter):
    """Drops log records whose message was already emitted (one per distinct text)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@contextmanager
def _quiet_repeats() -> Iterator[None]:
    """Log each metric warning once while the same data is scored many times."""
    repeat = _RepeatFilter()
    loggers = [logging.getLogger(name) for name in _METRIC_LOGGERS]
    for lg in loggers:
        lg.addFilter(repeat)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(repeat)


def _clean(value: float) -> float:
    """A threshold without floating-point noise (``0.30000000000000004`` -> ``0.3``)."""
    return round(float(value), 10)


def _snap(value: float, low: float, step: float | None) -> float:
    if step is None:
        return _clean(value)
    return _clean(low + round((value - low) / step) * step)


def _components(result: Any) -> dict[str, float]:
    """The six components as floats, with a NaN aggregate (NaN predicted length) as 0."""
    values = {name: float(getattr(result, name)) for name in COMPONENTS}
    if math.isnan(values["aggregate"]):
        values["aggregate"] = 0.0
    return values


def _empty_trials() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype=np.float64) for name in TRIAL_COLUMNS})
    frame["number"] = frame["number"].astype(np.int64)
    return frame


def _nothing_to_tune(
    candidates: pd.DataFrame, truth: pd.DataFrame, config: TuningConfig, method: str
) -> TuningResult | None:
    """The defaults (value 0) when there are no candidates or no labels, else None."""
    if len(candidates) and len(truth):
        return None
    what = "candidates" if not len(candidates) else "holdout labels"
    logger.warning(
        "No %s to tune thresholds on; returning the defaults %s with value 0.",
        what,
        config.defaults,
    )
    return TuningResult(
        best_thresholds=config.defaults,
        best_value=0.0,
        best_components=dict.fromkeys(COMPONENTS, 0.0),
        trials=_empty_trials(),
        method=method,
        study=None,
        stats={"n_new_trials": 0, "elapsed_s": 0.0, "trials_per_s": 0.0},
    )


def _log_coverage(candidates: pd.DataFrame, truth: pd.DataFrame, shorelines: Any) -> None:
    if "scene_id" in truth and "scene_id" in candidates:
        missing = set(truth["scene_id"].dropna()) - set(candidates["scene_id"].dropna())
        if missing:
            logger.info(
                "%d holdout scene(s) have no candidate; the official metric leaves them out "
                "of the score (%s).",
                len(missing),
                sorted(map(str, missing))[:10],
            )
    if shorelines is None:
        logger.info("No shorelines given: the close-to-shore F1 term is 0 while tuning.")


def _frame_digest(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    present = [c for c in columns if c in frame.columns]
    sub = frame.loc[:, present]
    digest = hashlib.sha256(repr((present, len(sub))).encode())
    try:
        hashed = pd.util.hash_pandas_object(sub, index=False).to_numpy()
        digest.update(hashed.tobytes())
    except TypeError:
        digest.update(sub.to_csv(index=False).encode())
    return digest.hexdigest()


def _fingerprint(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig,
    shorelines: Mapping[str, Any] | None,
) -> str:
    """Identify what a study's values depend on (data, shorelines, metric options)."""
    shore = None if shorelines is None else sorted(map(str, shorelines))
    digest = hashlib.sha256()
    digest.update(
        _frame_digest(candidates, (*_CANDIDATE_COLUMNS, config.objectness_column)).encode()
    )
    digest.update(_frame_digest(truth, _TRUTH_COLUMNS).encode())
    digest.update(
        repr(
            (
                shore,
                sorted(config.metric_options.items()),
                config.objectness_column,
                config.fishing_requires_vessel,
            )
        ).encode()
    )
    return digest.hexdigest()[:32]


def _storage_url(storage_path: str | Path | None) -> str | None:
    if storage_path is None:
        return None
    path = Path(storage_path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _study_trials(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        row: dict[str, Any] = {"number": trial.number}
        row |= {name: float(trial.params.get(name, np.nan)) for name in THRESHOLD_NAMES}
        components = trial.user_attrs.get(_COMPONENTS_ATTR) or {}
        row |= {name: float(components.get(name, np.nan)) for name in COMPONENTS}
        row["aggregate"] = float(trial.value) if trial.value is not None else np.nan
        rows.append(row)
    if not rows:
        return _empty_trials()
    return pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))


def _finish(
    *,
    method: str,
    thresholds: dict[str, float],
    cache: PreparedCache,
    config: TuningConfig,
    trials: pd.DataFrame,
    study: optuna.Study | None,
    n_new: int,
    elapsed: float,
) -> TuningResult:
    result = cache.get(thresholds["objectness"]).score(
        thresholds["vessel"],
        thresholds["fishing"],
        fishing_requires_vessel=config.fishing_requires_vessel,
    )
    components = _components(result)
    stats = {
        "n_new_trials": n_new,
        "elapsed_s": elapsed,
        "trials_per_s": n_new / elapsed if elapsed > 0 else float("nan"),
        "cache_hits": cache.hits,
        "cache_misses": cache.misses,
    }
    logger.info(
        "Threshold tuning (%s): best %s, aggregate %.5f; %d new evaluation(s) in %.2f s "
        "(%.1f/s), %d matching(s) computed.",
        method,
        thresholds,
        components["aggregate"],
        n_new,
        elapsed,
        stats["trials_per_s"],
        cache.misses,
    )
    return TuningResult(
        best_thresholds=thresholds,
        best_value=components["aggregate"],
        best_components=components,
        trials=trials,
        method=method,
        study=study,
        stats=stats,
    )


def _as_config(config: TuningConfig | Mapping[str, Any] | None) -> TuningConfig:
    if isinstance(config, TuningConfig):
        config.validate()
        return config
    return TuningConfig.from_dict(config)


# --------------------------------------------------------------------------------------
# Search methods
# --------------------------------------------------------------------------------------


def grid_search(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None = None,
    *,
    shorelines: Mapping[str, Any] | None = None,
    cache: PreparedCache | None = None,
) -> TuningResult:
    """The winner's grid search: objectness grid x (vessel x fishing) sweep.

    One matching per objectness threshold (``grid_objectness_start`` to
    ``grid_objectness_stop`` by ``grid_objectness_step``), then the vectorised
    :meth:`~xview3_pipeline.core.metric.xview3.PreparedMatch.score_grid` (the engine of
    :func:`~xview3_pipeline.core.metric.xview3.score_thresholds`) over
    ``linspace(vessel_low, vessel_high, points)`` x ``linspace(fishing_low, fishing_high,
    points)``. Ties go to the first triple in (objectness, vessel, fishing) order.

    Args:
        candidates: Candidate detections (see :func:`tune_thresholds`).
        truth: Holdout labels in the official layout.
        config: Tuning configuration (a mapping is parsed with
            :meth:`TuningConfig.from_dict`).
        shorelines: Preloaded shorelines; None turns the shore term off.
        cache: A cache to reuse (built from ``config`` if None).

    Returns:
        The :class:`TuningResult` (``study`` None); ``trials`` has every grid point.
    """
    config = _as_config(config)
    empty = _nothing_to_tune(candidates, truth, config, "grid")
    if empty is not None:
        return empty
    _log_coverage(candidates, truth, shorelines)
    if cache is None:
        cache = PreparedCache.from_config(candidates, truth, config, shorelines)
    objectness = config.grid_objectness_values()
    points = config.grid_vessel_fishing_points
    vessel = np.linspace(config.vessel_low, config.vessel_high, points)
    fishing = np.linspace(config.fishing_low, config.fishing_high, points)
    vv, ff = (a.ravel() for a in np.meshgrid(vessel, fishing, indexing="ij"))
    frames = []
    start = time.perf_counter()
    with _quiet_repeats():
        for value in objectness:
            grid = cache.get(value).score_grid(
                vessel, fishing, fishing_requires_vessel=config.fishing_requires_vessel
            )
            block = {"objectness": np.full(vv.size, value), "vessel": vv, "fishing": ff}
            block |= {name: grid[name].ravel() for name in COMPONENTS}
            frames.append(pd.DataFrame(block))
        elapsed = time.perf_counter() - start
        trials = pd.concat(frames, ignore_index=True)
        trials["aggregate"] = trials["aggregate"].fillna(0.0)
        trials.insert(0, "number", np.arange(len(trials), dtype=np.int64))
        best = trials.iloc[int(np.argmax(trials["aggregate"].to_numpy()))]
        thresholds = {name: _clean(best[name]) for name in THRESHOLD_NAMES}
        return _finish(
            method="grid",
            thresholds=thresholds,
            cache=cache,
            config=config,
            trials=trials,
            study=None,
            n_new=len(trials),
            elapsed=elapsed,
        )


def optuna_search(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None = None,
    *,
    storage_path: str | Path | None = None,
    shorelines: Mapping[str, Any] | None = None,
    cache: PreparedCache | None = None,
) -> TuningResult:
    """Seeded TPE search over the three thresholds, maximising the xView3 aggregate.

    The objectness threshold is suggested on the ``objectness_step`` grid (exact caching
    of the matching), the vessel and fishing thresholds in their ranges. Each trial stores
    the six components in its ``components`` user attribute. With ``storage_path`` the
    study is a SQLite file that resumes under the same ``study_name``; ``n_trials`` is the
    target total of completed trials (a study already at or above it runs no new trial).
    A new study starts with the default thresholds (``enqueue_defaults``). SQLite writes
    dominate the time per trial (about 10-20 trials/s against 50-100 in memory).

    Args:
        candidates: Candidate detections (see :func:`tune_thresholds`).
        truth: Holdout labels in the official layout.
        config: Tuning configuration (a mapping is parsed with
            :meth:`TuningConfig.from_dict`).
        storage_path: SQLite file of the study (parents created); None keeps it in memory.
        shorelines: Preloaded shorelines; None turns the shore term off.
        cache: A cache to reuse (built from ``config`` if None).

    Returns:
        The :class:`TuningResult` with the study; ``trials`` holds all completed trials.

    Raises:
        ValueError: When resuming a study that was run on other data or metric options.
    """
    config = _as_config(config)
    empty = _nothing_to_tune(candidates, truth, config, "optuna")
    if empty is not None:
        return empty
    _log_coverage(candidates, truth, shorelines)
    if cache is None:
        cache = PreparedCache.from_config(candidates, truth, config, shorelines)
    fingerprint = _fingerprint(candidates, truth, config, shorelines)
    storage = _storage_url(storage_path)
    study_name = (
        f"{config.study_name}-{fingerprint[:12]}" if config.study_per_data else config.study_name
    )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=True,
        direction="maximize",
    )
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    stored = study.user_attrs.get(_STUDY_FINGERPRINT_ATTR)
    if stored is not None and stored != fingerprint:
        raise ValueError(
            f"The study {config.study_name!r} in {storage_path} was run on other candidates, "
            "labels, shorelines or metric options; its thresholds would not apply. Use a new "
            "study_name or remove the study."
        )
    if stored is None:
        if done:
            logger.warning(
                "Study %r has %d trial(s) but no data fingerprint; assuming the same data.",
                config.study_name,
                done,
            )
        study.set_user_attr(_STUDY_FINGERPRINT_ATTR, fingerprint)
        study.set_user_attr("config", asdict(config))
    study.sampler = optuna.samplers.TPESampler(
        seed=config.seed + done, n_startup_trials=config.n_startup_trials
    )
    remaining = max(config.n_trials - done, 0)
    if done and storage:
        logger.info(
            "Resuming study %r (%s): %d completed trial(s), %d to go to reach n_trials=%d.",
            config.study_name,
            storage,
            done,
            remaining,
            config.n_trials,
        )
    if remaining and config.enqueue_defaults and not study.trials:
        _enqueue_defaults(study, config)

    def objective(trial: optuna.Trial) -> float:
        objectness = _clean(
            trial.suggest_float(
                "objectness",
                config.objectness_low,
                config.objectness_high,
                step=config.objectness_step,
            )
        )
        vessel = trial.suggest_float(
            "vessel", config.vessel_low, config.vessel_high, step=config.vessel_fishing_step
        )
        fishing = trial.suggest_float(
            "fishing", config.fishing_low, config.fishing_high, step=config.vessel_fishing_step
        )
        result = cache.get(objectness).score(
            vessel, fishing, fishing_requires_vessel=config.fishing_requires_vessel
        )
        components = _components(result)
        # One attribute (one storage write): SQLite commits dominate the trial time.
        trial.set_user_attr(_COMPONENTS_ATTR, components)
        return components["aggregate"]

    start = time.perf_counter()
    with _quiet_repeats():
        if remaining:
            study.optimize(objective, n_trials=remaining)
        elapsed = time.perf_counter() - start
        best = study.best_trial
        missing = [name for name in THRESHOLD_NAMES if name not in best.params]
        if missing:
            raise ValueError(
                f"The best trial of study {config.study_name!r} lacks the parameters {missing}."
            )
        thresholds = {
            "objectness": _snap(
                best.params["objectness"], config.objectness_low, config.objectness_step
            ),
            "vessel": float(best.params["vessel"]),
            "fishing": float(best.params["fishing"]),
        }
        return _finish(
            method="optuna",
            thresholds=thresholds,
            cache=cache,
            config=config,
            trials=_study_trials(study),
            study=study,
            n_new=remaining,
            elapsed=elapsed,
        )


def _enqueue_defaults(study: optuna.Study, config: TuningConfig) -> None:
    """Queue the default thresholds (snapped to the search grid) as the first trial."""
    params = {
        "objectness": _snap(
            config.default_objectness, config.objectness_low, config.objectness_step
        ),
        "vessel": _snap(config.default_vessel, config.vessel_low, config.vessel_fishing_step),
        "fishing": _snap(config.default_fishing, config.fishing_low, config.vessel_fishing_step),
    }
    outside = [
        name
        for name, value in params.items()
        if not getattr(config, f"{name}_low") <= value <= getattr(config, f"{name}_high")
    ]
    if outside:
        logger.info("Default thresholds %s outside the search ranges; not enqueued.", params)
        return
    study.enqueue_trial(params)


def tune_thresholds(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None = None,
    *,
    storage_path: str | Path | None = None,
    shorelines: Mapping[str, Any] | None = None,
) -> TuningResult:
    """Tune the objectness, vessel and fishing thresholds on the holdout candidates.

    Maximises the official xView3 aggregate (LOW handling, 200 m matching, 2 km shore F1
    with the leaderboard defaults). Holdout scenes without any candidate are left out by
    the metric (official rule) and do not lower the score. With no candidates (or no
    labels) the defaults are returned with value 0 and a warning.

    Args:
        candidates: Unfiltered candidate detections of the holdout scenes:
            ``detect_scene_row``, ``detect_scene_column`` (pixels), ``scene_id``,
            ``vessel_length_m``, ``objectness_p``, ``vessel_p``, ``fishing_p``.
        truth: Holdout labels in the official layout (with ``confidence`` and, for the
            shore term, ``distance_from_shore_km``).
        config: Tuning configuration or its parameters mapping (None: defaults).
        storage_path: Optuna only: SQLite file of the study (resumable); None in memory.
        shorelines: Preloaded shorelines
            (:func:`~xview3_pipeline.core.metric.shoreline.load_shorelines`); None turns
            the close-to-shore term off (0).

    Returns:
        The :class:`TuningResult`.

    Raises:
        ValueError: On an invalid configuration, missing columns, or a resumed study
            that was run on other data.
    """
    config = _as_config(config)
    if config.method == "grid":
        if storage_path is not None:
            logger.debug("storage_path is not used by the grid search.")
        return grid_search(candidates, truth, config, shorelines=shorelines)
    return optuna_search(
        candidates, truth, config, storage_path=storage_path, shorelines=shorelines
    )


# --------------------------------------------------------------------------------------
# Applying thresholds
# --------------------------------------------------------------------------------------


def apply_thresholds(
    candidates: pd.DataFrame,
    thresholds: Mapping[str, float],
    *,
    fishing_requires_vessel: bool = False,
    objectness_column: str = OBJECTNESS_COLUMN,
    keep_columns: Sequence[str] = (
        OBJECTNESS_COLUMN,
        VESSEL_PROBABILITY_COLUMN,
        FISHING_PROBABILITY_COLUMN,
    ),
) -> pd.DataFrame:
    """Turn candidates into submission rows with tuned thresholds.

    Keeps candidates with ``objectness >= thresholds["objectness"]`` (NaN dropped) and
    sets ``is_vessel = vessel_p >= thresholds["vessel"]`` and
    ``is_fishing = fishing_p >= thresholds["fishing"]`` independently, as the winner did
    (NaN probability -> False).

    Args:
        candidates: Candidates with the submission columns and the probability columns.
        thresholds: ``{"objectness", "vessel", "fishing"}`` thresholds.
        fishing_requires_vessel: Also require ``is_vessel`` for ``is_fishing``.
        objectness_column: Detection-score column.
        keep_columns: Score columns kept after the submission columns (when present).

    Returns:
        A new frame (fresh index): ``detect_scene_row``, ``detect_scene_column``,
        ``scene_id``, ``is_vessel``, ``is_fishing``, ``vessel_length_m``, then the kept
        score columns.

    Raises:
        ValueError: On missing thresholds or columns.
    """
    missing = [name for name in THRESHOLD_NAMES if name not in thresholds]
    if missing:
        raise ValueError(f"thresholds lacks {missing}; expected keys {list(THRESHOLD_NAMES)}.")
    kept = [c for c in dict.fromkeys(keep_columns) if c in candidates.columns]
    columns = [*SUBMISSION_COLUMNS, *(c for c in kept if c not in SUBMISSION_COLUMNS)]
    if objectness_column not in candidates.columns:
        if not len(candidates):
            return pd.DataFrame(columns=columns)
        raise ValueError(
            f"The candidates lack the objectness column {objectness_column!r}; they have "
            f"{list(candidates.columns)}."
        )
    objectness = pd.to_numeric(candidates[objectness_column], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    with np.errstate(invalid="ignore"):
        keep = objectness >= float(thresholds["objectness"])
    labelled = _label_from_probabilities(
        candidates.loc[keep],
        float(thresholds["vessel"]),
        float(thresholds["fishing"]),
        fishing_requires_vessel=fishing_requires_vessel,
    )
    absent = [c for c in SUBMISSION_COLUMNS if c not in labelled.columns]
    if absent:
        raise ValueError(f"The candidates lack the submission columns {absent}.")
    return labelled.loc[:, columns].reset_index(drop=True)
