"""Nodes of the ``xview2_folds`` pipeline."""

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.xview2.folds import (
    Xview2FoldConfig,
    assign_folds,
    fold_balance,
    plot_fold_balance,
)


def split_xview2_folds(pair_index: pd.DataFrame, parameters: dict[str, Any]) -> pd.DataFrame:
    """Split the image pairs into folds; each pre image takes its post image's fold.

    Args:
        pair_index: One row per pre/post pair (``xview2_pair_index``).
        parameters: Keys of ``Xview2FoldConfig`` (``xview2.folds`` in
            ``parameters_xview2.yml``).

    Returns:
        The fold table, one row per image.
    """
    return assign_folds(pair_index, Xview2FoldConfig.from_dict(parameters))


def report_xview2_fold_balance(
    fold_assignments: pd.DataFrame, pair_index: pd.DataFrame
) -> tuple[pd.DataFrame, Figure]:
    """Counts per fold (pairs, images, events, buildings, images per class) and a plot."""
    balance = fold_balance(fold_assignments, pair_index)
    return balance, plot_fold_balance(balance)
