"""Nodes of the ``tuning`` pipeline."""

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import SHORELINE_DIR
from xview3_pipeline.core.detection.scene_sets import concat_partitions, truth_of
from xview3_pipeline.core.metric.shoreline import load_shorelines
from xview3_pipeline.core.tuning import TuningConfig, tune_thresholds
from xview3_pipeline.core.tuning.plots import plot_grid, plot_history, plot_slices


def tune(
    candidates: dict[str, Any],
    labels: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    storage_path: str,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, Figure, Figure, Figure]:
    """Tune the thresholds on holdout candidates with the configured method and the other.

    Args:
        candidates: Holdout candidates (partitioned, per scene).
        labels: Validated labels (the holdout's truth is taken from them).
        raw_root: Root of the xView3 layout (shorelines).
        parameters: The ``tuning`` block (``TuningConfig``).
        storage_path: SQLite file of the Optuna study (resumable, optuna-dashboard).

    Returns:
        Best thresholds (with their scores), the trials of the chosen method, a comparison
        of both methods, and the history, slice and grid plots.
    """
    frame = concat_partitions(candidates)
    scene_ids = sorted(candidates)
    truth = truth_of(labels, scene_ids)
    shorelines = load_shorelines(Path(raw_root) / SHORELINE_DIR, scene_ids)
    config = TuningConfig.from_dict(parameters)
    other = "grid" if config.method == "optuna" else "optuna"
    results = {
        method: tune_thresholds(
            frame,
            truth,
            {**parameters, "method": method},
            storage_path=storage_path,
            shorelines=shorelines,
        )
        for method in (config.method, other)
    }
    best = results[config.method]
    comparison = pd.DataFrame(
        [
            {
                "method": m,
                **r.best_thresholds,
                "aggregate": r.best_value,
                "evaluations": len(r.trials),
            }
            for m, r in results.items()
        ]
    )
    thresholds = {
        **best.best_thresholds,
        "method": config.method,
        "holdout_scores": best.best_components,
        "holdout_scenes": scene_ids,
    }
    return (
        thresholds,
        best.trials,
        comparison,
        plot_history(best.trials),
        plot_slices(best.trials),
        plot_grid(results["grid"].trials),
    )
