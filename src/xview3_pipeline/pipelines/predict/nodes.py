"""Nodes of the ``predict`` pipeline: one chosen detector on a folder of new scenes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import closing
from functools import partial
from typing import Any

import geopandas as gpd
import pandas as pd

from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS
from xview3_pipeline.core.detection import Detector, detect_candidates, empty_candidates
from xview3_pipeline.core.io.scenes import discover_prediction_scenes
from xview3_pipeline.core.parallel import ExecutorConfig
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

logger = logging.getLogger(__name__)


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
    executor: str | None = None,
    dask: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Detect vessels in every scene under ``predict_root``; no labels needed.

    Each scene is opened and detected on its own: with ``detection.on_scene_error:
    continue`` (the default) a scene that fails is logged and listed in the third output
    while the others are written; ``raise`` stops at the first failure. With ``executor:
    dask`` each scene is one task on the cluster (the detector sent once per worker) and
    its candidate table comes back here.

    Args:
        detector: The chosen detector (``cnn.detector`` or ``cfar.detector``).
        thresholds: Its tuned thresholds (``{detector}.best_thresholds``), or ``None``
            when it was never tuned: the winner's defaults are used then.
        predict_root: Folder of scenes: the xView3 split layout or a flat folder of scene
            folders; shoreline files under ``<predict_root>/shoreline/`` are used when
            present, otherwise the shore distance comes from ``owiMask.tif`` or is empty.
        detection: The ``detection`` block (``on_scene_error``).
        chosen: ``predict.detector`` as the run sees it (checked against ``detector``).
        executor: ``local`` or ``dask`` (the ``executor`` parameter).
        dask: The ``dask`` block.

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
    config = ExecutorConfig.from_params(executor, dask)
    scenes = discover_prediction_scenes(predict_root)
    fingerprint = detector.fingerprint()
    jobs = [
        SceneJob(
            scene.scene_id,
            fingerprint,
            str(scene.scene_dir),
            partial(detect_candidates, scene=scene, check=True),
            detector=detector,
        )
        for scene in scenes
    ]
    frames: dict[str, pd.DataFrame] = {}
    failures: list[SceneFailure] = []
    policy = str(detection.get("on_scene_error", "continue"))
    results = run_scene_jobs(jobs, policy, executor=config, label=f"predict_{detector.name}")
    with closing(results):
        for job, result in results:
            if isinstance(result, SceneFailure):
                failures.append(result)
            else:
                frames[job.scene_id] = result
    found = [frames[s.scene_id] for s in scenes if len(frames.get(s.scene_id, ()))]
    candidates = pd.concat(found, ignore_index=True) if found else empty_candidates()
    detections = threshold_detections(candidates, _thresholds(thresholds, detector.name))
    logger.info(
        "predict (%s): %d detection(s) in %d scene(s), %d failed.",
        detector.name,
        len(detections),
        len(scenes) - len(failures),
        len(failures),
    )
    order = {s.scene_id: i for i, s in enumerate(scenes)}  # dask yields as scenes finish
    failed = failures_frame(sorted(failures, key=lambda f: order[f.scene_id]))
    return official_submission(detections), detections_layer(detections), failed
