"""Objectness, vessel and fishing thresholds tuned on the holdout with the xView3 metric.

:func:`tune_thresholds` runs every method that ``tuning.methods`` lists (the seeded Optuna
TPE search of :mod:`~xview3_pipeline.core.tuning.study`, the winner's grid search of
:mod:`~xview3_pipeline.core.tuning.grid`) on one shared
:class:`~xview3_pipeline.core.tuning.cache.PreparedCache`; the first method gives the
thresholds. :func:`apply_thresholds` turns candidates into submission rows.

Scoring rules that matter here (all from the official metric,
:mod:`xview3_pipeline.core.metric`):

* ``is_vessel = vessel_p >= t_v`` and ``is_fishing = fishing_p >= t_f`` are set
  independently, as in the winner's code (``fishing_requires_vessel`` switches the gate on).
* A holdout scene with no candidate at all is left out of the scoring (the official rule:
  GT is restricted to the scenes that have predictions), so it does not lower the score.
  Above a high objectness threshold a scene can lose all its candidates and drop out the
  same way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import (
    FISHING_PROBABILITY_COLUMN,
    OBJECTNESS_COLUMN,
    SUBMISSION_COLUMNS,
    THRESHOLD_NAMES,
    VESSEL_PROBABILITY_COLUMN,
)
from xview3_pipeline.core.metric import label_from_probabilities
from xview3_pipeline.core.tuning.cache import PreparedCache
from xview3_pipeline.core.tuning.config import TuningConfig, as_config
from xview3_pipeline.core.tuning.grid import grid_search
from xview3_pipeline.core.tuning.results import TuningResult
from xview3_pipeline.core.tuning.study import optuna_search

logger = logging.getLogger(__name__)

__all__ = ["apply_thresholds", "tune_thresholds"]


def tune_thresholds(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None = None,
    *,
    storage_path: str | Path | None = None,
    shorelines: Mapping[str, Any] | None = None,
) -> dict[str, TuningResult]:
    """Tune the objectness, vessel and fishing thresholds with every configured method.

    Maximises the official xView3 aggregate (LOW handling, 200 m matching, 2 km shore F1
    with the leaderboard defaults of ``config.metric``). Holdout scenes without any
    candidate are left out by the metric (official rule) and do not lower the score. With
    no candidates (or no labels) every method returns the defaults with value 0 and a
    warning. The methods share one matching cache.

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
        Method name -> :class:`TuningResult`, in the order of ``config.methods`` (the first
        is the one whose thresholds are used).

    Raises:
        ValueError: On an invalid configuration, missing columns, or a resumed study
            that was run on other data.
    """
    config = as_config(config)
    cache = PreparedCache.from_config(candidates, truth, config, shorelines)
    results: dict[str, TuningResult] = {}
    for method in config.methods:
        if method == "optuna":
            results[method] = optuna_search(
                candidates,
                truth,
                config,
                storage_path=storage_path,
                shorelines=shorelines,
                cache=cache,
            )
        else:
            results[method] = grid_search(
                candidates, truth, config, shorelines=shorelines, cache=cache
            )
    return results


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
    labelled = label_from_probabilities(
        candidates.loc[keep],
        float(thresholds["vessel"]),
        float(thresholds["fishing"]),
        fishing_requires_vessel=fishing_requires_vessel,
    )
    absent = [c for c in SUBMISSION_COLUMNS if c not in labelled.columns]
    if absent:
        raise ValueError(f"The candidates lack the submission columns {absent}.")
    return labelled.loc[:, columns].reset_index(drop=True)
