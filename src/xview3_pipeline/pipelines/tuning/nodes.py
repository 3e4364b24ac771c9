"""Nodes of the ``tuning`` pipeline."""

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import SHORELINE_DIR
from xview3_pipeline.core.detection.scene_sets import concat_partitions, truth_of
from xview3_pipeline.core.metric.shoreline import load_shorelines
from xview3_pipeline.core.tuning import (
    TuningConfig,
    compare_methods,
    plot_grid,
    plot_history,
    plot_slices,
    tune_thresholds,
)


def tune(
    candidates: dict[str, Any],
    labels: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    storage_path: str,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, Figure, Figure, Figure]:
    """Tune the thresholds on holdout candidates with every method of ``tuning.methods``.

    Args:
        candidates: Holdout candidates (partitioned, per scene).
        labels: Validated labels (the holdout's truth is taken from them).
        raw_root: Root of the xView3 layout (shorelines).
        parameters: The ``tuning`` block (``TuningConfig``).
        storage_path: SQLite file of the Optuna study (resumable, optuna-dashboard).

    Returns:
        Best thresholds of the first method (with their scores); its trials; the method
        comparison (one row per method, an empty table, written as no file, when one
        method runs); the history and slice plots of the first method; the grid plot
        (best aggregate per objectness threshold and the vessel x fishing plane) of the
        grid search when it ran, else of the first method's trials.
    """
    frame = concat_partitions(candidates)
    scene_ids = sorted(candidates)
    shorelines = load_shorelines(Path(raw_root) / SHORELINE_DIR, scene_ids)
    config = TuningConfig.from_dict(parameters)
    results = tune_thresholds(
        frame,
        truth_of(labels, scene_ids),
        config,
        storage_path=storage_path,
        shorelines=shorelines,
    )
    best = results[config.method]
    thresholds = {
        **best.best_thresholds,
        "method": config.method,
        "holdout_scores": best.best_components,
        "holdout_scenes": scene_ids,
    }
    return (
        thresholds,
        best.trials,
        compare_methods(results if len(results) > 1 else {}),
        plot_history(best.trials),
        plot_slices(best.trials),
        plot_grid(results.get("grid", best).trials),
    )
