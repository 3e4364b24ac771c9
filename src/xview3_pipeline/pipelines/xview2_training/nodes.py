"""Nodes of the ``xview2_training`` pipeline (bound to an architecture and fold when built)."""

from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from xview3_pipeline.core.training.plots import plot_history
from xview3_pipeline.core.training.teachers import merge_overrides
from xview3_pipeline.core.xview2.data import damage_mask_loaders
from xview3_pipeline.core.xview2.runs import clear_fold_run, train_fold_model
from xview3_pipeline.pipelines.xview2_structure import Xview2Structure, check_xview2_structure


def train_xview2_fold(
    pair_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    target_masks: dict[str, Callable[[], Image.Image]],
    parameters: dict[str, Any],
    *,
    architecture: str,
    fold: int,
    structure: Xview2Structure,
) -> tuple[nn.Module, pd.DataFrame, Figure]:
    """Train one architecture on one fold, resuming an interrupted run of it.

    Args:
        pair_index: ``xview2_pair_index``.
        fold_assignments: ``xview2_fold_assignments``.
        target_masks: ``xview2_target_masks`` (lazy partitions).
        parameters: The ``xview2`` block (``raw_root``, ``models``, ``training``).
        architecture: Key of ``xview2.models`` (bound when the pipeline is built).
        fold: The fold ``k`` (bound when the pipeline is built).
        structure: The structure the pipelines were built with (checked against the run).

    Returns:
        The best model, its per-epoch history and a plot of its curves.
    """
    check_xview2_structure(parameters, structure)
    model, history = train_fold_model(
        pair_index,
        fold_assignments,
        damage_mask_loaders(target_masks, pair_index),
        parameters["raw_root"],
        model=parameters["models"][architecture],
        training=parameters["training"],
        architecture=architecture,
        fold=fold,
    )
    return model, history, training_curves(history, f"{architecture} fold {fold}")


def training_curves(history: pd.DataFrame, title: str) -> Figure:
    """The loss and score curves of a history, titled with its best validation score."""
    best = history["val/score"].max() if "val/score" in history else float("nan")
    return plot_history(history, f"{title}: best val xView2 score {best:.3f}")


def clear_xview2_training_work(
    model: nn.Module,
    history: pd.DataFrame,
    parameters: dict[str, Any],
    *,
    architecture: str,
    fold: int,
    stage: str = "base",
) -> None:
    """Remove a fold run's work folder once its model and history are saved.

    Its inputs are the saved model and history, so Kedro runs it only after both are
    written; a kill before that keeps the checkpoints and the rerun resumes.
    """
    block = parameters["training"]
    if stage != "base":
        block = merge_overrides(block, parameters["pseudo_labels"]["overrides"])
    clear_fold_run(block, architecture=architecture, fold=fold, stage=stage)
