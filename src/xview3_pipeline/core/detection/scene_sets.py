"""Sets of scenes to detect on (holdout, test, out-of-fold) and their candidate tables.

:func:`candidate_jobs` makes one lazy job per scene that calls a
:class:`~xview3_pipeline.core.detection.contract.Detector`; jobs cache their result under
``<cache_dir>/<fingerprint[:16]>/<scene_id>.parquet`` (written to a temporary name, then
renamed), so an interrupted run skips the scenes already done and a new model or new
settings never reuse stale candidates.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from xview3_pipeline.core.detection.contract import Detector, empty_candidates
from xview3_pipeline.core.detection.scene import Scene

logger = logging.getLogger(__name__)


def candidate_jobs(
    detector: Detector,
    scenes: pd.DataFrame,
    *,
    raw_root: str | Path,
    cache_dir: str | Path | None,
) -> dict[str, Callable[[], pd.DataFrame]]:
    """One lazy, cached job per scene.

    Args:
        detector: The detector.
        scenes: Scene-index rows to process (paths relative to ``raw_root`` or absolute).
        raw_root: Root of the scene index's relative paths and of ``shoreline/``.
        cache_dir: Folder of the per-scene cache, or None for no cache.

    Returns:
        ``scene_id -> job``; calling a job returns the scene's candidates.
    """
    folder = Path(cache_dir) / detector.fingerprint()[:16] if cache_dir else None

    def job(scene: Scene) -> pd.DataFrame:
        path = folder / f"{scene.scene_id}.parquet" if folder else None
        if path is not None and path.is_file():
            logger.info("Scene %s: candidates from the cache %s", scene.scene_id, path)
            return pd.read_parquet(path)
        frame = detector.detect(scene)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp-{os.getpid()}")
            frame.to_parquet(tmp, index=False)
            tmp.replace(path)
        return frame

    refs = [Scene.from_index_row(r, raw_root) for r in scenes.itertuples(index=False)]
    return {s.scene_id: (lambda s=s: job(s)) for s in refs}


def concat_partitions(
    partitions: Mapping[str, Callable[[], pd.DataFrame] | pd.DataFrame],
) -> pd.DataFrame:
    """All candidates of a partitioned dataset as one frame (loading lazily one by one).

    Returns:
        The concatenated tables; :func:`empty_candidates` when no scene has a candidate.
    """
    frames = [p() if callable(p) else p for _, p in sorted(partitions.items())]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_candidates()


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


__all__ = ("candidate_jobs", "concat_partitions", "select_scenes", "truth_of")
