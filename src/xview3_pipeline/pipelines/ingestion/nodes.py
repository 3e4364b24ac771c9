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
        The scene index (EPSG:4326 footprints, paths relative to the raw root), kept in
        memory until the labels are validated against it.
    """
    return build_scene_index(
        raw_root, splits=parameters["splits"], max_side=int(parameters["max_side"])
    )


def validate_labels(
    raw_root: str, indexed_scenes: gpd.GeoDataFrame, parameters: dict[str, Any]
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Validate ``train.csv`` and ``validation.csv`` against the new scene index.

    The index is an output of this node, not of :func:`index_scenes`: Kedro saves it only
    together with the labels, so a strict run that stops on a bad label row leaves the
    previous run's index, labels and report as they were.

    Args:
        raw_root: Root of the xView3 layout.
        indexed_scenes: Output of :func:`index_scenes`.
        parameters: ``strict`` (stop on the first invalid rows) and ``near_shore_km``.

    Returns:
        The scene index, validated labels, rejected rows (lenient mode) and a summary
        report.
    """
    result = validate_labels_in_root(
        raw_root,
        indexed_scenes,
        strict=bool(parameters["strict"]),
        near_shore_km=float(parameters["near_shore_km"]),
    )
    report = ingestion_report(indexed_scenes, result.labels, result.rejects)
    return indexed_scenes, result.labels, result.rejects, report
