"""Nodes of the ``xview2_ingestion`` pipeline."""

from collections.abc import Callable
from typing import Any

import pandas as pd
from PIL import Image

from xview3_pipeline.core.xview2.ingestion import index_pairs, ingestion_report
from xview3_pipeline.core.xview2.masks import target_mask_partitions


def index_xview2_pairs(
    raw_root: str, truth_root: str, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Index the image pairs of the raw root and validate their labels.

    Args:
        raw_root: Root of the xBD layout (``params:xview2.raw_root``).
        truth_root: Root of the withheld test labels (``params:xview2.truth_root``);
            validated when present.
        parameters: ``splits``, ``strict`` and ``outside_tolerance_px`` (``xview2.ingestion``
            in ``parameters_xview2.yml``).

    Returns:
        The pair index, the rejected label features and the ingestion report.
    """
    result = index_pairs(
        raw_root,
        parameters["splits"],
        truth_root=truth_root,
        strict=bool(parameters["strict"]),
        tolerance_px=float(parameters["outside_tolerance_px"]),
    )
    return result.index, result.rejects, ingestion_report(result.index, result.rejects)


def rasterize_xview2_targets(
    pair_index: pd.DataFrame, raw_root: str, truth_root: str, parameters: dict[str, Any]
) -> dict[str, Callable[[], Image.Image]]:
    """Localization and damage target masks of every labelled pair, as lazy partitions.

    Args:
        pair_index: Output of :func:`index_xview2_pairs`.
        raw_root: Root of the xBD layout.
        truth_root: Root of the withheld test labels (used for pairs without raw labels).
        parameters: ``outside_tolerance_px`` (``xview2.ingestion``).

    Returns:
        ``{"<split>/<split>_<kind>_<mask id>_target": load}`` (see
        :mod:`xview3_pipeline.core.xview2.masks`).
    """
    return target_mask_partitions(
        pair_index, raw_root, truth_root, tolerance_px=float(parameters["outside_tolerance_px"])
    )
