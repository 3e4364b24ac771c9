"""Nodes of the ``xview2_inference`` pipeline."""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from torch import nn

from xview3_pipeline.core.xview2.inference import Xview2InferenceConfig
from xview3_pipeline.core.xview2.runs import lazy_probabilities, oof_probabilities, split_pairs

LazyArrays = dict[str, Callable[[], NDArray[np.float16]]]


def predict_xview2_oof(
    pair_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    parameters: dict[str, Any],
    *fold_models: nn.Module,
) -> LazyArrays:
    """Out-of-fold class probabilities of one architecture (each pair by its fold's model).

    Args:
        pair_index: ``xview2_pair_index``.
        fold_assignments: ``xview2_fold_assignments``.
        parameters: The ``xview2`` block (``raw_root``, ``inference``).
        *fold_models: The architecture's models of folds ``0 … K-1``.

    Returns:
        ``pair_id -> callable`` of ``(5, H, W)`` float16 probabilities (saved lazily, one
        pair in memory at a time).
    """
    inference = Xview2InferenceConfig.from_dict(parameters["inference"])
    return oof_probabilities(
        fold_models, pair_index, fold_assignments, parameters["raw_root"], inference
    )


def predict_xview2_test(
    pair_index: pd.DataFrame, parameters: dict[str, Any], *fold_models: nn.Module
) -> LazyArrays:
    """Class probabilities of one architecture on the test pairs, mean of its fold models.

    Args:
        pair_index: ``xview2_pair_index``.
        parameters: The ``xview2`` block (``raw_root``, ``inference``, ``test_split``).
        *fold_models: The architecture's fold models.

    Returns:
        ``pair_id -> callable`` of ``(5, H, W)`` float16 probabilities.
    """
    split = parameters["test_split"]
    rows = split_pairs(pair_index, split)
    if rows.empty:
        raise ValueError(
            f"The pair index has no {split!r} pairs to predict (xview2.test_split); rerun "
            "xview2_ingestion with that split."
        )
    inference = Xview2InferenceConfig.from_dict(parameters["inference"])
    return lazy_probabilities(list(fold_models), rows, parameters["raw_root"], inference)
