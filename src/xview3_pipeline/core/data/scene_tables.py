"""Tables of training scenes: a fold's scenes, their objects and their shorelines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from xview3_pipeline.core.data.scene_reader import contours_to_points, load_shoreline_points
from xview3_pipeline.core.encoding import labels_to_objects
from xview3_pipeline.core.types import ObjectLabels

__all__ = [
    "SCENE_COLUMNS",
    "ShorelineSource",
    "check_scene_table",
    "fold_scenes",
    "objects_by_scene",
    "shoreline_points_by_scene",
]

#: Columns a table of training scenes must have.
SCENE_COLUMNS: tuple[str, ...] = ("scene_id", "vh_path", "vv_path", "width", "height")

#: Where shorelines come from: a mapping or callable ``scene_id -> contours``, or None to
#: read each scene row's ``shoreline_path``.
ShorelineSource = Mapping[str, Any] | Callable[[str], np.ndarray] | None


def objects_by_scene(
    labels: pd.DataFrame,
    scene_ids: list[str],
    to_objects: Callable[[pd.DataFrame], ObjectLabels] = labels_to_objects,
) -> dict[str, ObjectLabels]:
    """Split a labels table into per-scene objects.

    Args:
        labels: Validated label rows (``scene_id`` plus the columns ``to_objects`` needs).
        scene_ids: Scenes to return (scenes without rows get no objects).
        to_objects: Conversion of one scene's rows (default: the coder's
            ``labels_to_objects``).

    Returns:
        ``scene_id`` → objects with centres ``(x, y) = (column, row)`` in scene pixels.
    """
    out = dict.fromkeys(scene_ids, ObjectLabels.empty())
    if len(labels):
        wanted = labels[labels["scene_id"].isin(scene_ids)]
        for scene_id, rows in wanted.groupby("scene_id", sort=False, observed=True):
            out[str(scene_id)] = to_objects(rows)
    return out


def fold_scenes(
    scene_index: pd.DataFrame,
    fold_table: pd.DataFrame,
    fold: int,
    subset: Literal["train", "valid", "holdout"] = "train",
) -> pd.DataFrame:
    """Scenes of one fold with their sample weights.

    Args:
        scene_index: ``scene_id``, ``vh_path``, ``vv_path``, ``width``, ``height``, ...
        fold_table: ``scene_id``, ``fold`` (−1 holdout) and ``sample_weight``.
        fold: The fold ``k``.
        subset: ``"train"`` (``fold >= 0``, ``fold != k``, ``sample_weight > 0``),
            ``"valid"`` (``fold == k``) or ``"holdout"`` (``fold == -1``).

    Returns:
        The matching rows of ``scene_index`` with ``fold`` and ``sample_weight`` added.

    Raises:
        ValueError: On an unknown subset or missing columns.
    """
    needed = {"scene_id", "fold", "sample_weight"}
    if not needed <= set(fold_table.columns):
        raise ValueError(f"fold_table lacks columns {sorted(needed - set(fold_table.columns))}.")
    folds = fold_table[["scene_id", "fold", "sample_weight"]]
    table = scene_index.drop(columns=["fold", "sample_weight"], errors="ignore").merge(
        folds, on="scene_id", how="inner"
    )
    if subset == "train":
        keep = (table["fold"] >= 0) & (table["fold"] != fold) & (table["sample_weight"] > 0)
    elif subset == "valid":
        keep = table["fold"] == fold
    elif subset == "holdout":
        keep = table["fold"] == -1
    else:
        raise ValueError(f"Unknown subset {subset!r}; expected 'train', 'valid' or 'holdout'.")
    return table[keep].reset_index(drop=True)


def check_scene_table(scenes: pd.DataFrame) -> pd.DataFrame:
    """Check a table of training scenes and give it a float ``sample_weight``.

    Args:
        scenes: One row per scene with :data:`SCENE_COLUMNS`.

    Returns:
        A re-indexed copy with ``sample_weight`` (1.0 where the column is absent).

    Raises:
        ValueError: On missing columns, no rows or duplicate scene ids.
    """
    missing = [c for c in SCENE_COLUMNS if c not in scenes.columns]
    if missing:
        raise ValueError(f"Scene table lacks columns {missing}; expected {list(SCENE_COLUMNS)}.")
    if len(scenes) == 0:
        raise ValueError("Scene table is empty.")
    if scenes["scene_id"].duplicated().any():
        dup = scenes.loc[scenes["scene_id"].duplicated(), "scene_id"].tolist()
        raise ValueError(f"Scene table has duplicate scene ids {dup[:5]}.")
    table = scenes.reset_index(drop=True).copy()
    if "sample_weight" not in table.columns:
        table["sample_weight"] = 1.0
    table["sample_weight"] = table["sample_weight"].astype(float)
    return table


def shoreline_points_by_scene(
    scenes: pd.DataFrame, shorelines: ShorelineSource
) -> dict[str, np.ndarray]:
    """Shoreline points of every scene of a table.

    Args:
        scenes: Scene rows (``scene_id``, and ``shoreline_path`` when ``shorelines`` is None).
        shorelines: ``scene_id`` → contours, a callable giving them, or None to read each
            row's ``shoreline_path``.

    Returns:
        ``scene_id`` → ``(N, 2)`` float ``(row, col)`` points in scene pixels (``N`` may be 0).
    """
    out: dict[str, np.ndarray] = {}
    for row in scenes.itertuples(index=False):
        scene_id = str(row.scene_id)
        if shorelines is None:
            path = getattr(row, "shoreline_path", None)
            out[scene_id] = load_shoreline_points(path if isinstance(path, str) and path else None)
        elif isinstance(shorelines, Mapping):
            out[scene_id] = contours_to_points(shorelines.get(scene_id))
        else:
            out[scene_id] = contours_to_points(shorelines(scene_id))
    return out
