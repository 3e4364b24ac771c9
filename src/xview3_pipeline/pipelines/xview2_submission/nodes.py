"""Nodes of the ``xview2_submission`` pipeline."""

from collections.abc import Callable
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image

from xview3_pipeline.core.xview2.gis import collect_polygons, pair_georeferences
from xview3_pipeline.core.xview2.masks import mask_id
from xview3_pipeline.core.xview2.outputs import (
    ensemble_masks,
    example_images,
    score_submission,
    submission_confusion,
)
from xview3_pipeline.core.xview2.reports import confusion_matrix_figure, side_by_side
from xview3_pipeline.core.xview2.submission import partition_pairs, prediction_partitions

Partitions = dict[str, Callable[[], Any]]


def write_xview2_submission(parameters: dict[str, Any], *inputs: Any) -> dict[str, Any]:
    """The official PNG pairs of an ensemble's test predictions, written lazily.

    Args:
        parameters: The ``xview2`` block (``test_split``, ``tuning.rule``).
        *inputs: The test probabilities of each architecture of the ensemble, then the
            class weights of each, in the same order.

    Returns:
        ``<split>/<split>_{localization,damage}_<id>_prediction -> lazy image``.
    """
    n = len(inputs) // 2
    probabilities, weights = inputs[:n], inputs[n:]
    rule = parameters["tuning"].get("rule", "winner")
    masks = ensemble_masks(probabilities, [w["weights"] for w in weights], rule)
    return prediction_partitions(masks, split=parameters["test_split"])


def score_xview2_submission(
    submission: Partitions, target_masks: Partitions, parameters: dict[str, Any]
) -> dict[str, Any]:
    """The official xView2 score of the written submission on the test targets."""
    return score_submission(submission, target_masks, parameters["test_split"])


def report_xview2_submission(
    submission: Partitions,
    target_masks: Partitions,
    pair_index: pd.DataFrame,
    parameters: dict[str, Any],
) -> tuple[pd.DataFrame, Figure, gpd.GeoDataFrame, dict[str, Callable[[], Image.Image]]]:
    """Confusion matrix (table and plot), building-damage polygons and example images.

    Returns:
        The pixel confusion matrix, its plot, the polygon layer (image CRS where the pairs
        are georeferenced) and ``pair_id -> lazy`` side-by-side PNGs.
    """
    split = parameters["test_split"]
    cm = submission_confusion(submission, target_masks, split)
    figure = confusion_matrix_figure(cm, title=f"xView2 damage confusion, {split} pixels")
    rows = pair_index[pair_index["split"] == split]
    preds = partition_pairs(submission, "prediction")
    by_pair = {
        str(pid): preds[key][1]
        for pid in rows["pair_id"]
        if (key := f"{split}_{mask_id(str(pid))}") in preds
    }
    polygons = collect_polygons(
        by_pair,
        pair_georeferences(rows[rows["pair_id"].isin(list(by_pair))], parameters["raw_root"]),
    )
    examples = example_images(
        pair_index,
        parameters["raw_root"],
        submission,
        target_masks,
        split=split,
        n=int(parameters["submission"]["examples"]),
        draw=side_by_side,
    )
    return cm, figure, polygons, {k: partial(_png, draw) for k, draw in examples.items()}


def _png(draw: Callable[[], NDArray[np.uint8]]) -> Image.Image:
    return Image.fromarray(draw())
