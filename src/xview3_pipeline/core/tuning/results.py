"""The outcome of a threshold search, shared by both methods."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from xview3_pipeline.core.constants import COMPONENTS, THRESHOLD_NAMES
from xview3_pipeline.core.metric import MetricResult
from xview3_pipeline.core.tuning.cache import PreparedCache
from xview3_pipeline.core.tuning.config import TuningConfig, as_config

logger = logging.getLogger(__name__)

__all__ = [
    "COMPARISON_COLUMNS",
    "TRIAL_COLUMNS",
    "TuningResult",
    "compare_methods",
    "components_of",
    "empty_trials",
    "finish",
    "log_coverage",
    "nothing_to_tune",
    "start_search",
]

#: Columns of :attr:`TuningResult.trials` (both methods).
TRIAL_COLUMNS: tuple[str, ...] = ("number", *THRESHOLD_NAMES, *COMPONENTS)
#: Columns of :func:`compare_methods`.
COMPARISON_COLUMNS: tuple[str, ...] = ("method", *THRESHOLD_NAMES, "aggregate", "evaluations")


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
            ``cache_hits``, ``cache_misses`` (Optuna also ``n_failed_stale``, the trials
            left RUNNING by a killed run and marked FAIL on resume).
    """

    best_thresholds: dict[str, float]
    best_value: float
    best_components: dict[str, float]
    trials: pd.DataFrame
    method: str
    study: optuna.Study | None = None
    stats: Mapping[str, Any] = field(default_factory=dict, compare=False)


def components_of(result: MetricResult) -> dict[str, float]:
    """The six components as floats, with a NaN aggregate (NaN predicted length) as 0."""
    values = {name: float(getattr(result, name)) for name in COMPONENTS}
    if math.isnan(values["aggregate"]):
        values["aggregate"] = 0.0
    return values


def empty_trials() -> pd.DataFrame:
    """A trials table without rows (:data:`TRIAL_COLUMNS`)."""
    frame = pd.DataFrame({name: pd.Series(dtype=np.float64) for name in TRIAL_COLUMNS})
    frame["number"] = frame["number"].astype(np.int64)
    return frame


def nothing_to_tune(
    candidates: pd.DataFrame, truth: pd.DataFrame, config: TuningConfig, method: str
) -> TuningResult | None:
    """The defaults (value 0) when there are no candidates or no labels, else None."""
    if len(candidates) and len(truth):
        return None
    what = "candidates" if not len(candidates) else "holdout labels"
    defaults = config.defaults.as_dict()
    logger.warning(
        "No %s to tune thresholds on; returning the defaults %s with value 0.", what, defaults
    )
    return TuningResult(
        best_thresholds=defaults,
        best_value=0.0,
        best_components=dict.fromkeys(COMPONENTS, 0.0),
        trials=empty_trials(),
        method=method,
        study=None,
        stats={"n_new_trials": 0, "elapsed_s": 0.0, "trials_per_s": 0.0},
    )


def log_coverage(candidates: pd.DataFrame, truth: pd.DataFrame, shorelines: Any) -> None:
    """Log holdout scenes without candidates and a missing shore term."""
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


def start_search(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None,
    method: str,
    *,
    shorelines: Any,
    cache: PreparedCache | None,
) -> tuple[TuningConfig, PreparedCache | TuningResult]:
    """What both searches do first: parse the config, then the cache or the defaults.

    Args:
        candidates: Candidate detections.
        truth: Holdout labels in the official layout.
        config: Tuning configuration (a mapping is parsed with
            :meth:`TuningConfig.from_dict`; None: the defaults).
        method: ``grid`` or ``optuna``, recorded in an empty result.
        shorelines: Preloaded shorelines; None turns the shore term off.
        cache: A cache to reuse (built from ``config`` if None).

    Returns:
        The parsed config and either the prepared cache to search with, or the result to
        return at once (:func:`nothing_to_tune`) when there are no candidates or labels.
    """
    parsed = as_config(config)
    empty = nothing_to_tune(candidates, truth, parsed, method)
    if empty is not None:
        return parsed, empty
    log_coverage(candidates, truth, shorelines)
    if cache is None:
        cache = PreparedCache.from_config(candidates, truth, parsed, shorelines)
    return parsed, cache


def finish(
    *,
    method: str,
    thresholds: dict[str, float],
    cache: PreparedCache,
    config: TuningConfig,
    trials: pd.DataFrame,
    study: optuna.Study | None,
    n_new: int,
    elapsed: float,
    extra_stats: Mapping[str, Any] | None = None,
) -> TuningResult:
    """Score the chosen thresholds once more and assemble the :class:`TuningResult`."""
    result = cache.get(thresholds["objectness"]).score(
        thresholds["vessel"],
        thresholds["fishing"],
        fishing_requires_vessel=config.fishing_requires_vessel,
    )
    components = components_of(result)
    stats = {
        "n_new_trials": n_new,
        "elapsed_s": elapsed,
        "trials_per_s": n_new / elapsed if elapsed > 0 else float("nan"),
        "cache_hits": cache.hits,
        "cache_misses": cache.misses,
        **(extra_stats or {}),
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


def compare_methods(results: Mapping[str, TuningResult]) -> pd.DataFrame:
    """One row per method: its best thresholds, aggregate and number of evaluations.

    Args:
        results: Method name -> result, in the order of ``tuning.methods``.

    Returns:
        A frame with :data:`COMPARISON_COLUMNS`, one row per method.
    """
    rows = [
        {
            "method": method,
            **result.best_thresholds,
            "aggregate": result.best_value,
            "evaluations": len(result.trials),
        }
        for method, result in results.items()
    ]
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
