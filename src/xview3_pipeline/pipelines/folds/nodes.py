"""Nodes of the ``folds`` pipeline."""

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.folds import FoldConfig, assign_folds, fold_balance, plot_fold_balance
from xview3_pipeline.validation import check_holdout_size


def split_folds(
    labels: pd.DataFrame, scene_locations: pd.DataFrame, parameters: dict[str, Any]
) -> pd.DataFrame:
    """Choose the private holdout, then split the training scenes into folds.

    Args:
        labels: Validated labels.
        scene_locations: Scene -> location table.
        parameters: Keys of ``FoldConfig`` (``parameters_folds.yml``).

    Returns:
        The fold table (fold -1 is the private holdout).

    Raises:
        ParameterError: If the holdout asks for more scenes per location than a location
            has (checked before anything is saved).
    """
    check_holdout_size(scene_locations, parameters)
    return assign_folds(labels, scene_locations, FoldConfig.from_dict(parameters))


def report_balance(
    fold_assignments: pd.DataFrame, labels: pd.DataFrame, scene_locations: pd.DataFrame
) -> tuple[pd.DataFrame, Figure]:
    """Counts per fold (objects, vessels, fishing, near shore, scenes, locations) and a plot."""
    balance = fold_balance(fold_assignments, labels, scene_locations)
    return balance, plot_fold_balance(balance)
