"""Nodes of the ``submission`` pipeline."""

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import SHORELINE_DIR
from xview3_pipeline.core.detection.scene_sets import concat_partitions
from xview3_pipeline.core.metric.shoreline import load_shorelines
from xview3_pipeline.core.submission import (
    detections_layer,
    official_submission,
    score_report,
    threshold_detections,
)


def make_submission(
    candidates: dict[str, Any], thresholds: dict[str, Any]
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Apply the tuned thresholds to the test candidates.

    Returns:
        The official submission CSV, the detections as GeoPackage and GeoJSON layers, and
        the thresholded detections with all their columns (for the score report).
    """
    detections = threshold_detections(concat_partitions(candidates), thresholds)
    layer = detections_layer(detections)
    return official_submission(detections), layer, layer, detections


def report_scores(
    *,
    detections: pd.DataFrame,
    candidates: dict[str, Any],
    truth: pd.DataFrame,
    thresholds: dict[str, Any],
    raw_root: str,
    name: str,
) -> tuple[dict[str, Any], pd.DataFrame, Figure]:
    """Score the thresholded test detections when truth exists (synthetic data).

    Returns:
        The report (six official components), the per-scene table and a PR-curve figure.
    """
    all_candidates = concat_partitions(candidates)
    scene_ids = sorted(candidates)
    shorelines = load_shorelines(Path(raw_root) / SHORELINE_DIR, scene_ids)
    truth = truth[truth["scene_id"].astype(str).isin(scene_ids)] if len(truth) else truth
    return score_report(
        detections, all_candidates, truth, shorelines, thresholds=thresholds, name=name
    )
