"""Nodes of the ``inference`` pipeline."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS, SHORELINE_DIR
from xview3_pipeline.core.detection import CnnDetector
from xview3_pipeline.core.detection.cnn import InferenceConfig, build_ensemble
from xview3_pipeline.core.detection.scene_sets import (
    candidate_jobs,
    concat_partitions,
    select_scenes,
    truth_of,
)
from xview3_pipeline.core.metric.shoreline import load_shorelines
from xview3_pipeline.core.submission import score_candidates

Jobs = dict[str, Callable[[], pd.DataFrame]]


def export_ensemble(parameters: dict[str, Any], *models: nn.Module) -> nn.Module:
    """The fold models as one ensemble (sigmoid per model, mean, flip TTA), to be exported.

    Args:
        parameters: The ``inference`` block (tile size, TTA flags).
        *models: The fold models (``fold_k.model``).

    Returns:
        The ensemble with ``export_shape`` set to one tile.
    """
    config = InferenceConfig.from_dict(parameters)
    ensemble = build_ensemble(list(models), config)
    # A batch of at least 2 in the example keeps the exported batch size dynamic.
    ensemble.export_shape = (max(2, config.batch_size), 2, config.tile_size, config.tile_size)
    return ensemble


def _jobs(
    model: nn.Module,
    scenes: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    cache_dir: str,
) -> Jobs:
    detector = CnnDetector(model, InferenceConfig.from_dict(parameters))
    return candidate_jobs(detector, scenes, raw_root=raw_root, cache_dir=cache_dir)


def predict_scene_set(
    *,
    ensemble: nn.Module,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    cache_dir: str,
    which: str,
) -> Jobs:
    """Candidates of a set of scenes from the exported ensemble, as lazy per-scene jobs.

    ``which`` is ``holdout`` (the private holdout) or ``test`` (the ``public`` scenes).
    """
    scenes = select_scenes(scene_index, fold_assignments, which)
    return _jobs(ensemble, scenes, raw_root, parameters, cache_dir)


def predict_out_of_fold(
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
    cache_dir: str,
    *models: nn.Module,
) -> Jobs:
    """Candidates of each fold's validation scenes from that fold's own model (with TTA)."""
    config = InferenceConfig.from_dict(parameters)
    jobs: Jobs = {}
    for fold, model in enumerate(models):
        scenes = select_scenes(scene_index, fold_assignments, "oof", fold)
        jobs |= _jobs(build_ensemble([model], config), scenes, raw_root, parameters, cache_dir)
    return jobs


def cross_validation_report(
    oof_candidates: dict[str, Any],
    labels: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
) -> pd.DataFrame:
    """xView3 components per fold on its out-of-fold candidates at the seed's thresholds.

    Returns:
        One row per fold plus ``all`` (the pooled out-of-fold score).
    """
    candidates = concat_partitions(oof_candidates)
    folds = fold_assignments[fold_assignments["fold"] >= 0]
    shorelines = load_shorelines(Path(raw_root) / SHORELINE_DIR, folds["scene_id"].astype(str))
    rows = []
    groups = [(str(k), set(g["scene_id"].astype(str))) for k, g in folds.groupby("fold")]
    for name, ids in [*groups, ("all", set(folds["scene_id"].astype(str)))]:
        part = (
            candidates[candidates["scene_id"].astype(str).isin(ids)]
            if len(candidates)
            else candidates
        )
        scores = score_candidates(part, truth_of(labels, ids), shorelines, DEFAULT_THRESHOLDS)
        rows.append({"fold": name, "scenes": len(ids), **scores})
    return pd.DataFrame(rows)
