"""Running a detector (the exported ensemble, one fold model or CFAR) over sets of scenes.

Each scene becomes a lazy job that returns its candidate table (columns of
:data:`xview3_pipeline.core.encoding.DETECTION_COLUMNS` plus ``detect_lat``,
``detect_lon`` and ``distance_from_shore_km``). Jobs cache their result under
``<cache_dir>/<fingerprint>/<scene_id>.parquet`` (written to a temporary name, then
renamed), where the fingerprint covers the detector's weights or settings: a run that is
interrupted and started again skips the scenes already done, and a new model or new
settings never reuse stale candidates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import torch
from torch import nn

from xview3_pipeline.core.cfar import CfarConfig, detect_scene
from xview3_pipeline.core.constants import ANCILLARY_FILES
from xview3_pipeline.core.inference.postprocess import add_scene_columns
from xview3_pipeline.core.inference.predict import InferenceConfig, InferenceScene, predict_scene
from xview3_pipeline.core.metric.shoreline import load_shoreline

logger = logging.getLogger(__name__)

Detector = Callable[[Any], pd.DataFrame]


def module_fingerprint(module: nn.Module, extra: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a module's tensors (names, shapes, bytes) and of settings.

    Args:
        module: Any module (also an exported one).
        extra: Settings that change the output (e.g. the inference configuration).

    Returns:
        A hex digest.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    digest.update(json.dumps(dict(extra or {}), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """SHA-256 of JSON settings (for detectors without weights, such as CFAR)."""
    return hashlib.sha256(
        json.dumps(dict(settings), sort_keys=True, default=str).encode()
    ).hexdigest()


def scene_context(scene: Any, shore_root: str | Path | None) -> dict[str, Any]:
    """Shoreline and owiMask of a scene-index row, for the shore-distance column."""
    shoreline = load_shoreline(shore_root, str(scene.scene_id)) if shore_root else None
    owi = (
        Path(str(scene.scene_dir)) / ANCILLARY_FILES["owi_mask"]
        if hasattr(scene, "scene_dir")
        else None
    )
    return {
        "shoreline": shoreline,
        "owi_mask_path": owi if owi is not None and owi.is_file() else None,
    }


def _scene(row: Any) -> InferenceScene:
    """Paths and size of a scene-index row; CRS and transform are read from the raster."""
    return InferenceScene.coerce(
        SimpleNamespace(
            scene_id=str(row.scene_id),
            vh_path=row.vh_path,
            vv_path=row.vv_path,
            height=int(row.height),
            width=int(row.width),
        )
    )


def model_detector(
    model: nn.Module, config: InferenceConfig, shore_root: str | Path | None
) -> Detector:
    """Tiled inference of a (fold or exported ensemble) model on one scene-index row."""

    def detect(row: Any) -> pd.DataFrame:
        return predict_scene(model, _scene(row), config, **scene_context(row, shore_root))

    return detect


def cfar_detector(config: CfarConfig, shore_root: str | Path | None) -> Detector:
    """The CFAR baseline on one scene-index row, with lat/lon and shore distance added."""

    def detect(row: Any) -> pd.DataFrame:
        context = scene_context(row, shore_root)
        scene = _scene(row)
        frame = detect_scene(
            scene.vh_path, scene.vv_path, config, scene_id=scene.scene_id, **context
        )
        return add_scene_columns(frame, transform=scene.transform, crs=scene.crs, **context)

    return detect


def candidate_jobs(
    detect: Detector,
    scenes: pd.DataFrame,
    *,
    cache_dir: str | Path | None,
    fingerprint: str,
) -> dict[str, Callable[[], pd.DataFrame]]:
    """One lazy, cached job per scene.

    Args:
        detect: The detector, called with a scene-index row (a namedtuple).
        scenes: Scene-index rows to process.
        cache_dir: Folder of the per-scene cache, or None for no cache.
        fingerprint: Identifies the detector; part of the cache path.

    Returns:
        ``scene_id -> job``; calling a job returns the scene's candidates.
    """
    folder = Path(cache_dir) / fingerprint[:16] if cache_dir else None

    def job(scene: Any) -> pd.DataFrame:
        path = folder / f"{scene.scene_id}.parquet" if folder else None
        if path is not None and path.is_file():
            logger.info("Scene %s: candidates from the cache %s", scene.scene_id, path)
            return pd.read_parquet(path)
        with torch.inference_mode():
            frame = detect(scene)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp-{os.getpid()}")
            frame.to_parquet(tmp, index=False)
            tmp.replace(path)
        return frame

    return {str(r.scene_id): (lambda r=r: job(r)) for r in scenes.itertuples(index=False)}


def concat_partitions(
    partitions: Mapping[str, Callable[[], pd.DataFrame] | pd.DataFrame],
) -> pd.DataFrame:
    """All candidates of a partitioned dataset as one frame (loading lazily one by one)."""
    frames = [p() if callable(p) else p for _, p in sorted(partitions.items())]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def select_scenes(
    scene_index: pd.DataFrame, fold_assignments: pd.DataFrame, which: str, fold: int | None = None
) -> pd.DataFrame:
    """Scene-index rows of one set of scenes.

    Args:
        scene_index: The scene index.
        fold_assignments: The fold table.
        which: ``holdout`` (fold -1), ``test`` (split ``public``) or ``oof`` (the
            validation scenes of ``fold``).
        fold: The fold, for ``oof``.

    Returns:
        The rows, sorted by scene id.

    Raises:
        ValueError: On an unknown set.
    """
    folds = fold_assignments.assign(scene_id=fold_assignments["scene_id"].astype(str))
    if which == "holdout":
        ids = set(folds.loc[folds["fold"] == -1, "scene_id"])
    elif which == "oof":
        ids = set(folds.loc[folds["fold"] == fold, "scene_id"])
    elif which == "test":
        ids = set(scene_index.loc[scene_index["split"] == "public", "scene_id"].astype(str))
    else:
        raise ValueError(f"Unknown scene set {which!r}; expected 'holdout', 'test' or 'oof'.")
    return scene_index[scene_index["scene_id"].astype(str).isin(ids)].sort_values("scene_id")


def truth_of(labels: pd.DataFrame, scene_ids: Any) -> pd.DataFrame:
    """Label rows of some scenes with ``confidence`` as plain strings (for the metric)."""
    rows = labels[labels["scene_id"].astype(str).isin(set(map(str, scene_ids)))].copy()
    rows["confidence"] = rows["confidence"].astype(str)
    return rows


__all__ = (
    "candidate_jobs",
    "cfar_detector",
    "concat_partitions",
    "model_detector",
    "module_fingerprint",
    "scene_context",
    "select_scenes",
    "settings_fingerprint",
    "truth_of",
)
