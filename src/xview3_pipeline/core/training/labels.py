"""The labels a fold trains on when its train scenes use cleaned labels (``train_cleaned``).

``folds.label_sources: {train_cleaned: w}`` folds the ``train`` scenes like ``train`` (same
fold table rows, split ``train``), but their labels come from ``train_cleaned_labels``
(:func:`xview3_pipeline.core.cleaning.training_labels`: the labels table plus a bool
``ignore`` column) instead of the raw ``labels`` table. :func:`with_cleaned_train_labels`
makes that one table; the encoder then draws the ``ignore`` rows as ignore regions.
"""

from __future__ import annotations

import logging

import pandas as pd

from xview3_pipeline.core.folds import HOLDOUT_FOLD, source_split
from xview3_pipeline.core.folds.config import TRAIN_CLEANED

logger = logging.getLogger(__name__)

__all__ = ["cleaned_scene_ids", "with_cleaned_train_labels"]

#: Split whose scenes take their labels from the cleaned table.
CLEANED_SPLIT: str = source_split(TRAIN_CLEANED)


def cleaned_scene_ids(fold_assignments: pd.DataFrame) -> list[str]:
    """The scenes of a fold table that train on cleaned labels: its ``train`` scenes in a fold.

    Holdout scenes (fold ``-1``) are never trained on and keep their raw labels.

    Returns:
        Sorted scene ids.
    """
    folds = fold_assignments
    chosen = (folds["split"].astype(str) == CLEANED_SPLIT) & (folds["fold"] != HOLDOUT_FOLD)
    return sorted(folds.loc[chosen, "scene_id"].astype(str))


def with_cleaned_train_labels(
    labels: pd.DataFrame, train_cleaned_labels: pd.DataFrame, fold_assignments: pd.DataFrame
) -> pd.DataFrame:
    """The raw labels with the rows of the folded ``train`` scenes replaced by cleaned ones.

    Args:
        labels: The validated labels table (all splits).
        train_cleaned_labels: Cleaned labels (the labels table's columns plus a bool
            ``ignore``) of the ``train`` scenes.
        fold_assignments: The fold table of the run (``scene_id``, ``split``, ``fold``).

    Returns:
        One table: the raw rows of every scene that is not a folded ``train`` scene (with
        ``ignore`` False) and the cleaned rows of the folded ``train`` scenes (their own
        ``ignore``). A scene without cleaned rows (nothing labelled, nothing predicted)
        trains as background.

    Raises:
        ValueError: If the cleaned table lacks ``scene_id`` or ``ignore``, or holds no
            row of any folded train scene although they have raw labels (a table of other
            scenes: rerun ``label_cleaning``).
    """
    missing = [c for c in ("scene_id", "ignore") if c not in train_cleaned_labels.columns]
    if missing:
        raise ValueError(
            f"train_cleaned_labels lacks column(s) {missing}; it has "
            f"{list(train_cleaned_labels.columns)}. It must be the labels table plus a bool "
            "ignore column (core.cleaning.training_labels; rerun the label_cleaning pipeline)."
        )
    scenes = set(cleaned_scene_ids(fold_assignments))
    cleaned = train_cleaned_labels[train_cleaned_labels["scene_id"].astype(str).isin(scenes)]
    raw_ids = labels["scene_id"].astype(str)
    in_cleaned = raw_ids.isin(scenes)
    without = sorted(scenes - set(cleaned["scene_id"].astype(str)))
    if scenes and len(without) == len(scenes) and in_cleaned.any():
        raise ValueError(
            f"train_cleaned_labels holds no row of the {len(scenes)} train scene(s) of the fold "
            f"table (e.g. {sorted(scenes)[:3]}), which have {int(in_cleaned.sum())} raw label "
            "row(s): it was cleaned for other scenes. Rerun the label_cleaning pipeline "
            "(kedro run --pipelines label_cleaning)."
        )
    if without:
        logger.warning(
            "%d of %d train scene(s) have no cleaned label row and train as background: %s",
            len(without), len(scenes), without[:5],
        )  # fmt: skip
    kept = labels[~in_cleaned].assign(ignore=False)
    table = pd.concat([kept, cleaned], ignore_index=True)
    logger.info(
        "Training labels: %d raw row(s), %d cleaned row(s) of %d train scene(s) (%d ignored).",
        len(kept), len(cleaned), len(scenes), int(cleaned["ignore"].astype(bool).sum()),
    )  # fmt: skip
    return table
