"""Nodes of the ``cfar_baseline`` pipeline."""

from collections.abc import Callable
from typing import Any

import pandas as pd

from xview3_pipeline.core.detection import CfarDetector
from xview3_pipeline.core.detection.cfar import CfarConfig
from xview3_pipeline.core.detection.scene_sets import candidate_jobs, select_scenes

Jobs = dict[str, Callable[[], pd.DataFrame]]


def cfar_candidates(
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    cache_dir: str,
) -> tuple[Jobs, Jobs]:
    """CFAR candidates of the holdout scenes (to tune its score threshold) and the test scenes.

    Args:
        scene_index: The scene index.
        fold_assignments: The fold table (holdout scenes).
        raw_root: Root of the xView3 layout (shorelines).
        parameters: ``CfarConfig`` keys (``parameters_cfar_baseline.yml``).
        cache_dir: Per-scene cache folder (a rerun skips finished scenes).

    Returns:
        Lazy per-scene candidate tables of the holdout and of the test scenes.
    """
    detector = CfarDetector(CfarConfig.from_dict(parameters))
    return tuple(  # type: ignore[return-value]
        candidate_jobs(
            detector,
            select_scenes(scene_index, fold_assignments, which),
            raw_root=raw_root,
            cache_dir=cache_dir,
        )
        for which in ("holdout", "test")
    )
