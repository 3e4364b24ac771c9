"""Cross-validation folds and the private holdout.

The winner's final ("leaky") folds are ``StratifiedGroupKFold(4, shuffle=True,
random_state=42)`` over the object rows of validation.csv, grouped by scene and stratified
by near-shore (``stratify_by="winner"``, the same as ``("near_shore",)``, reproduces it); the b5 model added the
train.csv scenes not in the holdout, folded the same way on their own (stratified by
``is_fishing`` with unknown as a class) at sample weight 0.25. Grouping by location
(``group_by="location"``) gives leak-free folds instead.

Order of operations in :func:`assign_folds`:

1. The private holdout (threshold tuning): ``holdout_per_location`` scenes of
   ``holdout_split`` per location that has such scenes (labelled or not), chosen by
   ``holdout_method``. Holdout scenes get fold ``-1`` and never enter a training fold.
2. Each split of ``label_sources`` is folded separately with the same config, so adding a
   split never changes the folds of another. ``train_cleaned`` (the train scenes with
   cleaned labels) is folded exactly as ``train`` would be, on the labels given here (the
   raw labels), and its rows have split ``train``. ``StratifiedGroupKFold`` runs over object rows
   with ``y`` = one combined class of the ``stratify_by`` flags (each flag True / False /
   unknown) and ``groups`` = scene or location. A scene without labels contributes one
   pseudo-row of its own class so it is still assigned.

Note on the seed: scikit-learn's ``StratifiedGroupKFold(shuffle=True)`` only shuffles the
order of groups whose class-count spread ties (it then sorts groups by that spread), so with
real per-scene counts, which rarely tie, different seeds often give the same folds.

Fold numbers of different splits are independent: fold ``k`` of validation and fold ``k``
of train are the same CV fold (trained on everything else, as in the winner's b5 recipe).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from xview3_pipeline.core.folds.config import (
    FOLD_COLUMNS,
    HOLDOUT_FOLD,
    STRATIFY_COLUMNS,
    FoldConfig,
    require_columns,
    source_split,
)

logger = logging.getLogger(__name__)


def _prepare_scenes(scene_locations: pd.DataFrame) -> pd.DataFrame:
    require_columns(scene_locations, "scene_locations", ("scene_id", "split", "location_id"))
    scenes = scene_locations[["scene_id", "split", "location_id"]].astype(str)
    dup = scenes["scene_id"][scenes["scene_id"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"scene_locations has duplicate scene ids: {sorted(dup)[:10]}.")
    return scenes.sort_values("scene_id", kind="mergesort").reset_index(drop=True)


def _objects_per_scene(labels: pd.DataFrame, scene_ids: pd.Series) -> pd.Series:
    """Number of label rows per scene id (0 for unlabelled), indexed like ``scene_ids``."""
    counts = labels["scene_id"].astype(str).value_counts()
    return scene_ids.map(counts).fillna(0).astype(int)


def _select_holdout(scenes: pd.DataFrame, labels: pd.DataFrame, config: FoldConfig) -> pd.DataFrame:
    """Holdout scenes (subset of ``scenes``) per location, see :class:`FoldConfig`."""
    candidates = scenes[scenes["split"] == config.holdout_split].copy()
    if candidates.empty:
        logger.warning(
            "No scene of holdout_split=%r in scene_locations: the holdout is empty.",
            config.holdout_split,
        )
        return candidates
    if config.holdout_method == "first":
        keys = ["location_id", "scene_id"]
        ascending = [True, True]
    elif config.holdout_method == "random":
        rng = np.random.default_rng(config.seed)
        candidates["_key"] = rng.permutation(len(candidates))  # rows are sorted by scene id
        keys, ascending = ["location_id", "_key"], [True, True]
    else:  # most_objects
        candidates["_key"] = _objects_per_scene(labels, candidates["scene_id"])
        keys, ascending = ["location_id", "_key", "scene_id"], [True, False, True]
    chosen = (
        candidates.sort_values(keys, ascending=ascending, kind="mergesort")
        .groupby("location_id", sort=False)
        .head(config.holdout_per_location)
    )
    return chosen.drop(columns="_key", errors="ignore")


def _flag_codes(values: pd.Series) -> np.ndarray:
    """0 = False, 1 = True, 2 = unknown, for a (nullable) boolean-like column."""
    missing = values.isna().to_numpy()
    truthy = values.astype("boolean").fillna(False).to_numpy(dtype=bool)
    return np.where(missing, 2, truthy.astype(int))


def _stratification_class(labels: pd.DataFrame, stratify_by: tuple[str, ...]) -> np.ndarray:
    """One integer class per object row combining the ``stratify_by`` flags (base 3)."""
    y = np.zeros(len(labels), dtype=np.int64)
    for flag in stratify_by:
        y = y * 3 + _flag_codes(labels[STRATIFY_COLUMNS[flag]])
    return y


def _fold_split(
    split: str, scenes: pd.DataFrame, labels: pd.DataFrame, config: FoldConfig
) -> pd.Series:
    """Fold of each scene of one split (indexed by scene id).

    Args:
        split: Split name, for messages.
        scenes: The split's non-holdout scenes (``scene_id``, ``location_id``).
        labels: Labels of those scenes (other rows are ignored).
        config: Fold parameters.

    Returns:
        Integer fold in ``[0, n_folds)`` per scene id.

    Raises:
        ValueError: If there are fewer groups than folds.
    """
    group_col = "scene_id" if config.group_by == "scene" else "location_id"
    n_groups = scenes[group_col].nunique()
    if n_groups < config.n_folds:
        raise ValueError(
            f"Split {split!r} has {n_groups} {config.group_by} group(s) outside the holdout, "
            f"fewer than n_folds={config.n_folds}. Use fewer folds"
            + (", group_by='scene'" if config.group_by == "location" else "")
            + (", or disable/shrink the holdout" if config.holdout_enabled else "")
            + f", or add {split!r} scenes."
        )
    objects = labels[labels["scene_id"].isin(scenes["scene_id"])]
    rows = pd.DataFrame(
        {
            "scene_id": objects["scene_id"].to_numpy(),
            "y": _stratification_class(objects, config.stratify_by),
        }
    )
    unlabelled = scenes.loc[~scenes["scene_id"].isin(rows["scene_id"]), ["scene_id"]]
    pseudo_class = 3 ** len(config.stratify_by)  # outside every real class
    rows = pd.concat([rows, unlabelled.assign(y=pseudo_class)], ignore_index=True)
    rows = rows.merge(scenes[["scene_id", "location_id"]], on="scene_id", how="left")
    rows = rows.sort_values(["scene_id", "y"], kind="mergesort").reset_index(drop=True)

    sgkf = StratifiedGroupKFold(n_splits=config.n_folds, shuffle=True, random_state=config.seed)
    fold_of_row = np.full(len(rows), -1, dtype=int)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, test) in enumerate(
            sgkf.split(np.zeros(len(rows)), rows["y"].to_numpy(), rows[group_col].to_numpy())
        ):
            fold_of_row[test] = k
    folds = pd.Series(fold_of_row, index=rows["scene_id"]).groupby(level=0).first()
    empty = sorted(set(range(config.n_folds)) - set(folds.unique()))
    if empty:
        logger.warning("Split %r: fold(s) %s received no scene.", split, empty)
    return folds


def assign_folds(
    labels: pd.DataFrame, scene_locations: pd.DataFrame, config: FoldConfig | None = None
) -> pd.DataFrame:
    """Assign every training scene to a CV fold and choose the private holdout.

    Args:
        labels: One row per labelled object with ``scene_id`` and the flag columns of
            ``config.stratify_by`` (``is_fishing``, ``is_near_shore``, ``is_vessel``;
            nullable booleans, NA = unknown). Rows of scenes absent from
            ``scene_locations`` are ignored with a warning.
        scene_locations: One row per scene with ``scene_id``, ``split``, ``location_id``
            (output of :func:`xview3_pipeline.core.locations.cluster_locations`).
        config: Fold parameters; defaults if ``None``.

    Returns:
        One row per holdout scene and per scene of a ``label_sources`` split (the
        ``train`` scenes for ``train_cleaned``), sorted by ``split`` then ``scene_id``,
        with columns ``scene_id``, ``split`` (the scene's), ``location_id``,
        ``fold`` (int, ``-1`` = holdout), ``sample_weight`` (float; the split's weight,
        ``0.0`` for holdout scenes, which are never trained on) and ``role``
        (``"train"`` or ``"holdout"``).

    Raises:
        ValueError: On missing columns, duplicate scene ids, or a split with fewer groups
            than folds.
    """
    config = config or FoldConfig()
    scenes = _prepare_scenes(scene_locations)
    require_columns(labels, "labels", ("scene_id",))
    require_columns(labels, "labels", tuple(STRATIFY_COLUMNS[f] for f in config.stratify_by))
    labels = labels.assign(scene_id=labels["scene_id"].astype(str))
    unknown = ~labels["scene_id"].isin(scenes["scene_id"])
    if unknown.any():
        logger.warning(
            "%d label row(s) of %d scene(s) not in scene_locations are ignored (e.g. %s).",
            int(unknown.sum()),
            labels.loc[unknown, "scene_id"].nunique(),
            sorted(labels.loc[unknown, "scene_id"].unique())[:5],
        )
        labels = labels[~unknown]

    parts = []
    holdout_ids: set[str] = set()
    if config.holdout_enabled:
        holdout = _select_holdout(scenes, labels, config)
        holdout_ids = set(holdout["scene_id"])
        parts.append(holdout.assign(fold=HOLDOUT_FOLD, sample_weight=0.0, role="holdout"))
        logger.info(
            "Holdout: %d %s scene(s) from %d location(s) (method %r).",
            len(holdout),
            config.holdout_split,
            holdout["location_id"].nunique(),
            config.holdout_method,
        )

    for source, weight in config.label_sources.items():
        split = source_split(source)
        split_scenes = scenes[(scenes["split"] == split) & ~scenes["scene_id"].isin(holdout_ids)]
        folds = _fold_split(split, split_scenes, labels, config)
        parts.append(
            split_scenes.assign(
                fold=split_scenes["scene_id"].map(folds).astype(int),
                sample_weight=weight,
                role="train",
            )
        )
        logger.info(
            "Label source %r: %d scenes in %d folds (group_by=%r, weight %.3g).",
            source,
            len(split_scenes),
            config.n_folds,
            config.group_by,
            weight,
        )

    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FOLD_COLUMNS)
    out = out.astype({"fold": int, "sample_weight": float})
    return (
        out[list(FOLD_COLUMNS)]
        .sort_values(["split", "scene_id"], kind="mergesort")
        .reset_index(drop=True)
    )
