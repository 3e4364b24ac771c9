"""Nodes of the ``predict`` pipeline: one chosen detector on a folder of new scenes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import geopandas as gpd
import pandas as pd

from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS
from xview3_pipeline.core.detection import Detector, Scene, empty_candidates
from xview3_pipeline.core.io.scenes import discover_prediction_scenes
from xview3_pipeline.core.submission import (
    detections_layer,
    official_submission,
    threshold_detections,
)
from xview3_pipeline.datasets.candidate_sets import (
    SceneFailure,
    SceneJob,
    failures_frame,
    run_scene_jobs,
)
from xview3_pipeline.pipelines.evaluation.nodes import detect_scene

logger = logging.getLogger(__name__)


def _detect_folder_scene(detector: Detector, scene: Scene) -> pd.DataFrame:
    """Check one scene of the folder and detect; both are isolated per scene."""
    return detect_scene(detector, scene.checked())


def _thresholds(thresholds: Mapping[str, Any] | None, detector: str) -> dict[str, Any]:
    """The tuned thresholds, or the winner's defaults (with a warning) when untuned."""
    if thresholds is None:
        logger.warning(
            "Detector %s was never tuned in this project (no %s.best_thresholds): predicting "
            "with the winner's default thresholds %s.",
            detector,
            detector,
            dict(DEFAULT_THRESHOLDS),
        )
        return dict(DEFAULT_THRESHOLDS)
    return dict(thresholds)


def predict_folder(
    *,
    detector: Detector,
    thresholds: dict[str, Any] | None,
    predict_root: str,
    detection: dict[str, Any],
    chosen: str,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Detect vessels in every scene under ``predict_root``; no labels needed.

    Each scene is opened and detected on its own: with ``detection.on_scene_error:
    continue`` (the default) a scene that fails is logged and listed in the third output
    while the others are written; ``raise`` stops at the first failure.

    Args:
        detector: The chosen detector (``cnn.detector`` or ``cfar.detector``).
        thresholds: Its tuned thresholds (``{detector}.best_thresholds``), or ``None``
            when it was never tuned: the winner's defaults are used then.
        predict_root: Folder of scenes: the xView3 split layout or a flat folder of scene
            folders; shoreline files under ``<predict_root>/shoreline/`` are used when
            present, otherwise the shore distance comes from ``owiMask.tif`` or is empty.
        detection: The ``detection`` block (``on_scene_error``).
        chosen: ``predict.detector`` as the run sees it (checked against ``detector``).

    Returns:
        The official submission CSV, a GeoPackage layer of the detections (both empty,
        with their columns, when nothing is detected) and the failed scenes.

    Raises:
        ValueError: If the pipeline was built for another detector than ``chosen``.
    """
    if chosen != detector.name:
        raise ValueError(
            f"predict.detector is {chosen!r} but the predict pipeline was built for "
            f"{detector.name!r}: the pipeline registry reads predict.detector before the run "
            "starts, from the command line (kedro run --params predict.detector=...), "
            "conf/<env>/parameters*.yml or KEDRO_ENV, not from KedroSession runtime_params."
        )
    scenes = discover_prediction_scenes(predict_root)
    fingerprint = detector.fingerprint()
    jobs = [
        SceneJob(
            scene.scene_id,
            fingerprint,
            str(scene.scene_dir),
            partial(_detect_folder_scene, detector, scene),
        )
        for scene in scenes
    ]
    frames: list[pd.DataFrame] = []
    failures: list[SceneFailure] = []
    for _, result in run_scene_jobs(jobs, str(detection.get("on_scene_error", "continue"))):
        if isinstance(result, SceneFailure):
            failures.append(result)
        else:
            frames.append(result)
    frames = [f for f in frames if len(f)]
    candidates = pd.concat(frames, ignore_index=True) if frames else empty_candidates()
    detections = threshold_detections(candidates, _thresholds(thresholds, detector.name))
    logger.info(
        "predict (%s): %d detection(s) in %d scene(s), %d failed.",
        detector.name,
        len(detections),
        len(scenes) - len(failures),
        len(failures),
    )
    return official_submission(detections), detections_layer(detections), failures_frame(failures)
