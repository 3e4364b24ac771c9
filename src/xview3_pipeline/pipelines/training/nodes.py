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
from xview3_pipeline.core.training.labels import with_cleaned_train_labels
from xview3_pipeline.core.training.plots import plot_history
from xview3_pipeline.core.training.teachers import merge_overrides
from xview3_pipeline.core.training.train import fold_run_name, run_fold


def train_fold(
    *,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    labels: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    fold: int,
    train_cleaned_labels: pd.DataFrame | None = None,
    overrides: dict[str, Any] | None = None,
    run_prefix: str = "",
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
        train_cleaned_labels: The cleaned train labels (``train_cleaned_labels``, with
            ``ignore``), given when ``folds.label_sources`` has ``train_cleaned``: the
            fold table's ``train`` scenes train on them instead of their raw labels.
        overrides: Keys of ``parameters`` to replace (the label-cleaning teachers'
            ``label_cleaning.teacher_training``).
        run_prefix: Prefix of the run's work folder (bound when the pipeline is built).

    Returns:
        The best model, its per-epoch history and a plot of the curves. The run's
        checkpoints stay in ``training.work_dir`` until :func:`clear_training_work`.
    """
    config = TrainingConfig.from_dict(merge_overrides(parameters, overrides))
    k = int(fold)
    if train_cleaned_labels is not None:
        labels = with_cleaned_train_labels(labels, train_cleaned_labels, fold_assignments)
    result = run_fold(
        resolve_scene_paths(scene_index, raw_root),
        fold_assignments,
        labels,
        shore_root=str(Path(raw_root) / SHORELINE_DIR),
        config=config,
        fold=k,
        run_prefix=run_prefix,
    )
    title = f"fold {k} ({config.model.get('preset', 'custom')}): best val aggregate {result.best_score:.3f}"
    return result.model, result.history, plot_history(result.history, title)


def clear_training_work(
    *,
    model: nn.Module,
    history: pd.DataFrame,
    parameters: dict[str, Any],
    fold: int,
    overrides: dict[str, Any] | None = None,
    run_prefix: str = "",
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
        overrides: As for :func:`train_fold`.
        run_prefix: As for :func:`train_fold`.
    """
    config = TrainingConfig.from_dict(merge_overrides(parameters, overrides))
    clear_run(config, fold_run_name(config, int(fold), run_prefix))
