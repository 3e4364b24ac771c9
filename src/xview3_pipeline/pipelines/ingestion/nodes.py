"""Nodes of the ``ingestion`` pipeline."""

from typing import Any

import geopandas as gpd
import pandas as pd

from xview3_pipeline.core.ingestion import (
    build_scene_index,
    ingestion_report,
    validate_labels_in_root,
)


def index_scenes(raw_root: str, parameters: dict[str, Any]) -> gpd.GeoDataFrame:
    """Index every scene under the raw root (footprint, CRS, size, nodata, dB statistics).

    Args:
        raw_root: Root of the xView3 layout (``params:raw_root``).
        parameters: ``splits`` to index and ``max_side`` of the decimated read.

    Returns:
        The scene index (EPSG:4326 footprints).
    """
    return build_scene_index(
        raw_root, splits=parameters["splits"], max_side=int(parameters["max_side"])
    )


def validate_labels(
    raw_root: str, scene_index: gpd.GeoDataFrame, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Validate ``train.csv`` and ``validation.csv`` against the scene index.

    Args:
        raw_root: Root of the xView3 layout.
        scene_index: Output of :func:`index_scenes`.
        parameters: ``strict`` (stop on the first invalid rows) and ``near_shore_km``.

    Returns:
        Validated labels, rejected rows (lenient mode) and a summary report.
    """
    result = validate_labels_in_root(
        raw_root,
        scene_index,
        strict=bool(parameters["strict"]),
        near_shore_km=float(parameters["near_shore_km"]),
    )
    report = ingestion_report(scene_index, result.labels, result.rejects)
    return result.labels, result.rejects, report
