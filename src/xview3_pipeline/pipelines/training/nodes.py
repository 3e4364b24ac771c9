"""Nodes of the ``training`` pipeline."""

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from xview3_pipeline.core.constants import SHORELINE_DIR
from xview3_pipeline.core.io.layout import resolve_scene_paths
from xview3_pipeline.core.training.config import TrainingConfig
from xview3_pipeline.core.training.fit import clear_run
from xview3_pipeline.core.training.plots import plot_history
from xview3_pipeline.core.training.train import fold_run_name, run_fold


def train_fold(
    *,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    labels: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    fold: int,
) -> tuple[nn.Module, pd.DataFrame, Figure]:
    """Train the CircleNet of one fold, resuming an interrupted run of the same fold.

    Args:
        scene_index: The scene index.
        fold_assignments: The fold table.
        labels: Validated labels.
        raw_root: Root of the xView3 layout (for the shoreline files).
        parameters: The shared ``training`` block (``parameters_training.yml``).
        fold: This namespace's fold ``k`` (the dataset ``fold_k.fold``, checked against
            ``folds.n_folds`` and the fold table by ``fold_k.check_fold_node``).

    Returns:
        The best model, its per-epoch history and a plot of the curves. The run's
        checkpoints stay in ``training.work_dir`` until :func:`clear_training_work`.
    """
    config = TrainingConfig.from_dict(parameters)
    k = int(fold)
    result = run_fold(
        resolve_scene_paths(scene_index, raw_root),
        fold_assignments,
        labels,
        shore_root=str(Path(raw_root) / SHORELINE_DIR),
        config=config,
        fold=k,
    )
    title = f"fold {k} ({config.model.get('preset', 'custom')}): best val aggregate {result.best_score:.3f}"
    return result.model, result.history, plot_history(result.history, title)


def clear_training_work(
    *, model: nn.Module, history: pd.DataFrame, parameters: dict[str, Any], fold: int
) -> None:
    """Remove a fold's training work folder once its model and history are saved.

    The model and history are this node's inputs, so Kedro runs it only after it has
    saved them (and loaded them back: the saved checkpoint is readable). A kill or a
    failed save before that keeps the checkpoints, and the next run returns the finished
    result without training again.

    Args:
        model: The saved fold model (``fold_k.model``).
        history: The saved history (``fold_k.training_history``).
        parameters: The shared ``training`` block.
        fold: This namespace's fold ``k``.
    """
    config = TrainingConfig.from_dict(parameters)
    clear_run(config, fold_run_name(config, int(fold)))
