"""Nodes of the ``cfar_baseline`` pipeline."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from xview3_pipeline.core.cfar import CfarConfig
from xview3_pipeline.core.constants import SHORELINE_DIR
from xview3_pipeline.core.detection import (
    candidate_jobs,
    cfar_detector,
    select_scenes,
    settings_fingerprint,
)
from xview3_pipeline.core.io.layout import resolve_scene_paths

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
    config = CfarConfig.from_dict(parameters)
    detect = cfar_detector(config, Path(raw_root) / SHORELINE_DIR)
    fingerprint = settings_fingerprint({"cfar": parameters})
    return tuple(  # type: ignore[return-value]
        candidate_jobs(
            detect,
            select_scenes(resolve_scene_paths(scene_index, raw_root), fold_assignments, which),
            cache_dir=cache_dir,
            fingerprint=fingerprint,
        )
        for which in ("holdout", "test")
    )
