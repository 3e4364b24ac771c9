"""Nodes of the ``encoding`` pipeline."""

from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.data.scene_reader import SceneReader
from xview3_pipeline.core.encoding import CoderConfig
from xview3_pipeline.core.encoding.tables import encode_scenes, lazy_crop_preview, roundtrip_table
from xview3_pipeline.core.io.layout import resolve_scene_paths


def _training_scenes(scene_index: pd.DataFrame, fold_assignments: pd.DataFrame) -> pd.DataFrame:
    ids = set(fold_assignments.loc[fold_assignments["fold"] >= 0, "scene_id"].astype(str))
    return scene_index[scene_index["scene_id"].isin(ids)].sort_values("scene_id")


def encode_training_scenes(
    labels: pd.DataFrame,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    coder: dict[str, Any],
) -> dict[str, pd.DataFrame]:
    """Per-object targets (stride coordinates) of every training scene.

    Args:
        labels: Validated labels.
        scene_index: The scene index.
        fold_assignments: The fold table (scenes in folds 0..K-1 are encoded).
        coder: ``training.coder`` parameters.

    Returns:
        ``scene_id -> encoded object table``.
    """
    return encode_scenes(
        labels, _training_scenes(scene_index, fold_assignments), CoderConfig.from_dict(coder)
    )


def roundtrip_report(
    labels: pd.DataFrame,
    scene_index: pd.DataFrame,
    coder: dict[str, Any],
    parameters: dict[str, Any],
) -> pd.DataFrame:
    """Encode → decode → match F1 per stride over all labelled scenes.

    Args:
        labels: Validated labels.
        scene_index: The scene index.
        coder: ``training.coder`` parameters.
        parameters: ``roundtrip_strides`` and ``roundtrip_include_low``.

    Returns:
        ``encoding_roundtrip_f1``: stride, f1, precision, recall, tp, fp, fn, n_objects.
    """
    return roundtrip_table(
        labels,
        scene_index[scene_index["scene_id"].isin(set(labels["scene_id"]))],
        CoderConfig.from_dict(coder),
        strides=tuple(int(s) for s in parameters["roundtrip_strides"]),
        include_low=bool(parameters["roundtrip_include_low"]),
    )


def target_previews(
    *,
    labels: pd.DataFrame,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    coder: dict[str, Any],
    parameters: dict[str, Any],
    raw_root: str,
) -> dict[str, Callable[[], Figure]]:
    """Target previews over the densest crop of the first training scenes.

    Args:
        labels: Validated labels.
        scene_index: The scene index.
        fold_assignments: The fold table.
        coder: ``training.coder`` parameters.
        parameters: ``preview_scenes`` (how many) and ``preview_crop`` (pixels).
        raw_root: Root of the xView3 layout, which the index's paths are relative to.

    Returns:
        Lazy figures keyed by scene id.
    """
    config = CoderConfig.from_dict(coder)
    scenes = resolve_scene_paths(
        _training_scenes(scene_index, fold_assignments).head(int(parameters["preview_scenes"])),
        raw_root,
    )
    out = {}
    for r in scenes.itertuples(index=False):
        reader = SceneReader(r.vh_path, r.vv_path)
        out[str(r.scene_id)] = lazy_crop_preview(
            reader.read,
            labels[labels["scene_id"] == r.scene_id],
            (int(r.height), int(r.width)),
            config,
            size=int(parameters["preview_crop"]),
            title=f"{r.scene_id} stride {config.stride}",
        )
    return out
