"""Nodes of the ``xview2_pseudo_labels`` pipeline."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image
from torch import nn

from xview3_pipeline.core.training.teachers import merge_overrides
from xview3_pipeline.core.xview2.data import damage_mask_loaders
from xview3_pipeline.core.xview2.pseudo_labels import PseudoLabelConfig
from xview3_pipeline.core.xview2.runs import fine_tune_fold_model, pseudo_label_partitions
from xview3_pipeline.pipelines.xview2_structure import Xview2Structure, check_xview2_structure
from xview3_pipeline.pipelines.xview2_training.nodes import training_curves

Partitions = dict[str, Callable[[], Any]]


def make_xview2_pseudo_labels(
    pair_index: pd.DataFrame, parameters: dict[str, Any], *probabilities: Partitions
) -> tuple[dict[str, Callable[[], Image.Image]], dict[str, Any]]:
    """Pseudo-label masks of the test pairs from the first-stage ensemble.

    Args:
        pair_index: ``xview2_pair_index``.
        parameters: The ``xview2`` block (``pseudo_labels``).
        *probabilities: Per ensemble architecture, its fold-mean test probabilities
            (``xview2.<architecture>.stage1_test_probabilities``).

    Returns:
        ``pair_id -> lazy PNG`` of uint8 masks (0..4, 255 where the ensemble is unsure),
        and a summary (labelled share per class).
    """
    config = PseudoLabelConfig.from_dict(parameters["pseudo_labels"]["labels"])
    return pseudo_label_partitions(list(probabilities), config)


def fine_tune_xview2_fold(
    *,
    base_model: nn.Module,
    pair_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    target_masks: dict[str, Callable[[], Image.Image]],
    pseudo_masks: dict[str, Callable[[], Image.Image]],
    parameters: dict[str, Any],
    architecture: str,
    fold: int,
    structure: Xview2Structure,
) -> tuple[nn.Module, pd.DataFrame, Figure]:
    """Fine-tune one fold model on its training pairs plus the pseudo-labelled test pairs."""
    check_xview2_structure(parameters, structure)
    model, history = fine_tune_fold_model(
        base_model,
        pair_index,
        fold_assignments,
        damage_mask_loaders(target_masks, pair_index),
        pseudo_masks={pid: _as_array(load) for pid, load in pseudo_masks.items()},
        raw_root=parameters["raw_root"],
        training=merge_overrides(parameters["training"], parameters["pseudo_labels"]["overrides"]),
        architecture=architecture,
        fold=fold,
    )
    return model, history, training_curves(history, f"{architecture} fold {fold}, pseudo-labels")


def _as_array(load: Callable[[], Image.Image]) -> Callable[[], NDArray[np.uint8]]:
    def read() -> NDArray[np.uint8]:
        return np.asarray(load(), dtype=np.uint8)

    return read
