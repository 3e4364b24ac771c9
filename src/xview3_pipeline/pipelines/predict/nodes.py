"""Nodes of the ``predict`` pipeline."""

from typing import Any

import geopandas as gpd
import pandas as pd
from torch import nn

from xview3_pipeline.core.detection import CfarDetector, CnnDetector, Detector, Scene
from xview3_pipeline.core.detection.cfar import CfarConfig
from xview3_pipeline.core.detection.cnn import InferenceConfig
from xview3_pipeline.core.ingestion import index_scenes
from xview3_pipeline.core.io.scenes import discover_prediction_scenes
from xview3_pipeline.core.submission import (
    detections_layer,
    official_submission,
    threshold_detections,
)


def predict_folder(
    *,
    ensemble: nn.Module,
    thresholds: dict[str, Any],
    cfar_thresholds: dict[str, Any],
    predict_root: str,
    method: str,
    inference: dict[str, Any],
    cfar: dict[str, Any],
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Detect vessels in every scene under ``predict_root``; no labels needed.

    Args:
        ensemble: The exported ensemble (``ensemble_model``).
        thresholds: Tuned thresholds of the ensemble (``best_thresholds``).
        cfar_thresholds: Tuned thresholds of CFAR (``cfar_best_thresholds``).
        predict_root: Folder of scenes: the xView3 split layout or a flat folder of scene
            folders; shoreline files under ``<predict_root>/shoreline/`` are used when
            present, otherwise the shore distance comes from ``owiMask.tif`` or is empty.
        method: ``model`` (the ensemble) or ``cfar``.
        inference: The ``inference`` block.
        cfar: The ``cfar`` block.

    Returns:
        The official submission CSV and a GeoPackage layer of the detections.

    Raises:
        ValueError: On an unknown method.
    """
    scenes = index_scenes(discover_prediction_scenes(predict_root), max_side=512)
    detector: Detector
    if method == "model":
        detector, chosen = CnnDetector(ensemble, InferenceConfig.from_dict(inference)), thresholds
    elif method == "cfar":
        detector, chosen = CfarDetector(CfarConfig.from_dict(cfar)), cfar_thresholds
    else:
        raise ValueError(f"Unknown predict_method {method!r}; expected 'model' or 'cfar'.")
    frames = [
        detector.detect(Scene.from_index_row(row, predict_root))
        for row in scenes.itertuples(index=False)
    ]
    candidates = (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else pd.DataFrame()
    )
    detections = threshold_detections(candidates, chosen)
    return official_submission(detections), detections_layer(detections)
