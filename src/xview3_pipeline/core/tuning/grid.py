"""The winner's grid search of the objectness, vessel and fishing thresholds.

The winner (``evaluation.py::compute_optimal_thresholds``) searched objectness thresholds
0.35 ... 0.60 (step 0.01) and, for each, a 50 x 50 sweep of the vessel and fishing
thresholds over ``linspace(0, 1, 50)``, maximising the official aggregate on its private
holdout. One matching per objectness threshold, then the vectorised
:meth:`~xview3_pipeline.core.metric.PreparedMatch.score_grid` over the sweep.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import COMPONENTS, THRESHOLD_NAMES
from xview3_pipeline.core.tuning.cache import PreparedCache, clean_threshold, quiet_repeats
from xview3_pipeline.core.tuning.config import TuningConfig
from xview3_pipeline.core.tuning.results import (
    TuningResult,
    finish,
    start_search,
)

__all__ = ["grid_search"]


def grid_search(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None = None,
    *,
    shorelines: Mapping[str, Any] | None = None,
    cache: PreparedCache | None = None,
) -> TuningResult:
    """The grid search: objectness grid x (vessel x fishing) sweep (``config.grid``).

    Ties go to the first triple in (objectness, vessel, fishing) order.

    Args:
        candidates: Candidate detections (see
            :func:`~xview3_pipeline.core.tuning.tune_thresholds`).
        truth: Holdout labels in the official layout.
        config: Tuning configuration (a mapping is parsed with
            :meth:`TuningConfig.from_dict`).
        shorelines: Preloaded shorelines; None turns the shore term off.
        cache: A cache to reuse (built from ``config`` if None).

    Returns:
        The :class:`TuningResult` (``study`` None); ``trials`` has every grid point.
    """
    config, prepared = start_search(
        candidates, truth, config, "grid", shorelines=shorelines, cache=cache
    )
    if isinstance(prepared, TuningResult):
        return prepared
    cache = prepared
    vessel, fishing = config.grid.vessel_values(), config.grid.fishing_values()
    vv, ff = (a.ravel() for a in np.meshgrid(vessel, fishing, indexing="ij"))
    frames = []
    start = time.perf_counter()
    with quiet_repeats():
        for value in config.grid.objectness_values():
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
        thresholds = {name: clean_threshold(best[name]) for name in THRESHOLD_NAMES}
        return finish(
            method="grid",
            thresholds=thresholds,
            cache=cache,
            config=config,
            trials=trials,
            study=None,
            n_new=len(trials),
            elapsed=elapsed,
        )
