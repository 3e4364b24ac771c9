"""Tuning of the objectness, vessel and fishing thresholds on the holdout candidates."""

from xview3_pipeline.core.tuning.plots import plot_grid, plot_history, plot_slices
from xview3_pipeline.core.tuning.thresholds import (
    THRESHOLD_NAMES,
    TRIAL_COLUMNS,
    PreparedCache,
    TuningConfig,
    TuningResult,
    apply_thresholds,
    grid_search,
    optuna_search,
    tune_thresholds,
)

__all__ = (
    "THRESHOLD_NAMES",
    "TRIAL_COLUMNS",
    "PreparedCache",
    "TuningConfig",
    "TuningResult",
    "apply_thresholds",
    "grid_search",
    "optuna_search",
    "plot_grid",
    "plot_history",
    "plot_slices",
    "tune_thresholds",
)
