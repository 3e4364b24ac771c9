"""Sets of scenes to detect on (holdout, test, out-of-fold) and their candidate tables.

Which scenes a set holds and how its per-scene tables combine; running a detector over
a set, and resuming it, is the catalog's job (``xview3_pipeline.datasets.candidate_sets``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from xview3_pipeline.core.detection.contract import empty_candidates


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
        which: ``holdout`` (fold -1), ``test`` (split ``public``), ``oof`` (the
            validation scenes of ``fold``) or ``attribute`` (the ``train`` scenes the fold
            table does not hold: neither in a fold nor the holdout).
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
    elif which == "attribute":
        train = scene_index.loc[scene_index["split"] == "train", "scene_id"].astype(str)
        ids = set(train) - set(folds["scene_id"])
    elif which == "test":
        ids = set(scene_index.loc[scene_index["split"] == "public", "scene_id"].astype(str))
    else:
        raise ValueError(
            f"Unknown scene set {which!r}; expected 'holdout', 'test', 'oof' or 'attribute'."
        )
    return scene_index[scene_index["scene_id"].astype(str).isin(ids)].sort_values("scene_id")


def truth_of(labels: pd.DataFrame, scene_ids: Any) -> pd.DataFrame:
    """Label rows of some scenes with ``confidence`` as plain strings (for the metric)."""
    rows = labels[labels["scene_id"].astype(str).isin(set(map(str, scene_ids)))].copy()
    rows["confidence"] = rows["confidence"].astype(str)
    return rows


__all__ = ("concat_partitions", "select_scenes", "truth_of")
