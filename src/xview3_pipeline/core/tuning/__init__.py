"""Tuning of the objectness, vessel and fishing thresholds on the holdout candidates."""

from xview3_pipeline.core.constants import THRESHOLD_NAMES
from xview3_pipeline.core.tuning.cache import PreparedCache
from xview3_pipeline.core.tuning.config import (
    METHODS,
    DefaultThresholds,
    GridConfig,
    OptunaConfig,
    TuningConfig,
)
from xview3_pipeline.core.tuning.grid import grid_search
from xview3_pipeline.core.tuning.plots import plot_grid, plot_history, plot_slices
from xview3_pipeline.core.tuning.results import (
    COMPARISON_COLUMNS,
    TRIAL_COLUMNS,
    TuningResult,
    compare_methods,
)
from xview3_pipeline.core.tuning.study import fail_stale_trials, optuna_search
from xview3_pipeline.core.tuning.thresholds import apply_thresholds, tune_thresholds

__all__ = (
    "COMPARISON_COLUMNS",
    "METHODS",
    "THRESHOLD_NAMES",
    "TRIAL_COLUMNS",
    "DefaultThresholds",
    "GridConfig",
    "OptunaConfig",
    "PreparedCache",
    "TuningConfig",
    "TuningResult",
    "apply_thresholds",
    "compare_methods",
    "fail_stale_trials",
    "grid_search",
    "optuna_search",
    "plot_grid",
    "plot_history",
    "plot_slices",
    "tune_thresholds",
)
