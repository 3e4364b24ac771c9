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
   split never changes the folds of another. ``StratifiedGroupKFold`` runs over object rows
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

import dataclasses
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.model_selection import StratifiedGroupKFold

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import LABEL_FILES

logger = logging.getLogger(__name__)

GroupBy = Literal["scene", "location"]
HoldoutMethod = Literal["first", "random", "most_objects"]

#: Stratification flags and the label column each one reads.
STRATIFY_COLUMNS: Mapping[str, str] = MappingProxyType(
    {"fishing": "is_fishing", "near_shore": "is_near_shore", "vessel": "is_vessel"}
)
#: Named stratifications: ``winner`` is the winning solution's (near-shore only).
STRATIFY_PRESETS: Mapping[str, tuple[str, ...]] = MappingProxyType({"winner": ("near_shore",)})
#: Splits that have label files and can feed training or the holdout.
LABELLED_SPLITS: tuple[str, ...] = tuple(LABEL_FILES)
#: Fold number of the private holdout.
HOLDOUT_FOLD: int = -1

FOLD_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "split",
    "location_id",
    "fold",
    "sample_weight",
    "role",
)
BALANCE_COUNT_COLUMNS: tuple[str, ...] = (
    "scenes",
    "locations",
    "objects",
    "vessels",
    "non_vessels",
    "fishing",
    "non_fishing",
    "near_shore",
    "low_confidence",
)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"FoldConfig.{name} must be one of {list(allowed)}, got {value!r}.")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"FoldConfig.{name} must be an integer >= {minimum}, got {value!r}.")


@dataclass(frozen=True)
class FoldConfig:
    """Parameters of the fold split and the private holdout.

    Attributes:
        n_folds: Number of CV folds (>= 2).
        seed: Random seed of ``StratifiedGroupKFold`` and of ``holdout_method="random"``.
        group_by: ``"scene"`` (the winner's leaky folds) or ``"location"`` (leak-free).
        stratify_by: Flags combined into the stratification class, from ``"fishing"``,
            ``"near_shore"``, ``"vessel"``, or the name of a preset
            (:data:`STRATIFY_PRESETS`): ``"winner"`` (the same as ``("near_shore",)``)
            reproduces the winner's validation folds; empty means group k-fold without
            stratification.
        label_sources: Labelled split -> sample weight (> 0) of its objects in training.
            ``{"validation": 1.0}`` is the winner's default, ``{"validation": 1.0,
            "train": 0.25}`` the b5 recipe.
        holdout_split: Split the holdout scenes are drawn from.
        holdout_per_location: Holdout scenes per location (fewer if it has fewer).
        holdout_method: ``"first"`` (smallest scene ids, as the winner), ``"random"``
            (seeded) or ``"most_objects"`` (most labelled objects, ties by scene id).
        holdout_enabled: If False, no holdout is taken.
    """

    n_folds: int = 4
    seed: int = 42
    group_by: GroupBy = "scene"
    stratify_by: tuple[str, ...] = ("fishing", "near_shore")
    label_sources: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"validation": 1.0})
    )
    holdout_split: str = "train"
    holdout_per_location: int = 1
    holdout_method: HoldoutMethod = "first"
    holdout_enabled: bool = True

    def __post_init__(self) -> None:
        _check_int("n_folds", self.n_folds, 2)
        _check_int("seed", self.seed, 0)
        _check_choice("group_by", self.group_by, get_args(GroupBy))
        if isinstance(self.stratify_by, str):
            if self.stratify_by not in STRATIFY_PRESETS:
                raise ValueError(
                    f"FoldConfig.stratify_by must be a list of flags from "
                    f"{list(STRATIFY_COLUMNS)} or one of {list(STRATIFY_PRESETS)}, got the "
                    f"string {self.stratify_by!r}; write e.g. [{self.stratify_by!r}]."
                )
            object.__setattr__(self, "stratify_by", STRATIFY_PRESETS[self.stratify_by])
        stratify_by = tuple(self.stratify_by)
        for flag in stratify_by:
            _check_choice("stratify_by item", flag, tuple(STRATIFY_COLUMNS))
        if len(set(stratify_by)) != len(stratify_by):
            raise ValueError(f"FoldConfig.stratify_by has duplicates: {list(stratify_by)}.")
        object.__setattr__(self, "stratify_by", stratify_by)

        if not isinstance(self.label_sources, Mapping) or not self.label_sources:
            raise ValueError(
                "FoldConfig.label_sources must be a non-empty mapping split -> sample weight, "
                f"e.g. {{'validation': 1.0}}; got {self.label_sources!r}."
            )
        sources: dict[str, float] = {}
        for split, weight in self.label_sources.items():
            _check_choice("label_sources key", split, LABELLED_SPLITS)
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not math.isfinite(weight)
                or weight <= 0
            ):
                raise ValueError(
                    f"FoldConfig.label_sources[{split!r}] must be a finite weight > 0, "
                    f"got {weight!r}."
                )
            sources[split] = float(weight)
        object.__setattr__(self, "label_sources", MappingProxyType(sources))

        _check_choice("holdout_split", self.holdout_split, LABELLED_SPLITS)
        _check_int("holdout_per_location", self.holdout_per_location, 1)
        _check_choice("holdout_method", self.holdout_method, get_args(HoldoutMethod))
        if not isinstance(self.holdout_enabled, bool):
            raise ValueError(
                f"FoldConfig.holdout_enabled must be a bool, got {self.holdout_enabled!r}."
            )

    def __hash__(self) -> int:
        return hash(
            tuple(
                tuple(sorted(v.items())) if isinstance(v, Mapping) else v
                for v in (getattr(self, f.name) for f in dataclasses.fields(self))
            )
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> FoldConfig:
        """Build a config from a parameters mapping (e.g. Kedro ``params:folds``).

        Args:
            d: Keys are field names; missing keys take their defaults; lists are accepted
                for ``stratify_by``. ``None`` means all defaults.

        Returns:
            The validated config.

        Raises:
            ValueError: On unknown keys (the message lists the valid ones) or invalid values.
        """
        return cls(**check_keys(cls, d, what="fold parameter"))


def _check_columns(df: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(df.columns)}.")


def _prepare_scenes(scene_locations: pd.DataFrame) -> pd.DataFrame:
    _check_columns(scene_locations, "scene_locations", ("scene_id", "split", "location_id"))
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
        One row per holdout scene and per scene of a ``label_sources`` split, sorted by
        ``split`` then ``scene_id``, with columns ``scene_id``, ``split``, ``location_id``,
        ``fold`` (int, ``-1`` = holdout), ``sample_weight`` (float; the split's weight,
        ``0.0`` for holdout scenes, which are never trained on) and ``role``
        (``"train"`` or ``"holdout"``).

    Raises:
        ValueError: On missing columns, duplicate scene ids, or a split with fewer groups
            than folds.
    """
    config = config or FoldConfig()
    scenes = _prepare_scenes(scene_locations)
    _check_columns(labels, "labels", ("scene_id",))
    _check_columns(labels, "labels", tuple(STRATIFY_COLUMNS[f] for f in config.stratify_by))
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

    for split, weight in config.label_sources.items():
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
            "Split %r: %d scenes in %d folds (group_by=%r, weight %.3g).",
            split,
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


def _true_count(values: pd.Series) -> pd.Series:
    return values.astype("boolean").fillna(False).astype(int)


def fold_balance(
    fold_assignments: pd.DataFrame, labels: pd.DataFrame, scene_locations: pd.DataFrame
) -> pd.DataFrame:
    """Per-fold counts of scenes, locations and objects, to check the stratification.

    Args:
        fold_assignments: Output of :func:`assign_folds`.
        labels: Object labels (``scene_id``, ``is_vessel``, ``is_fishing``,
            ``is_near_shore``, ``confidence``); only rows of assigned scenes are counted.
        scene_locations: Scene -> ``location_id`` table; it overrides the location ids of
            ``fold_assignments`` where both have the scene.

    Returns:
        One row per fold, folds ascending then the holdout (fold ``-1``), with columns
        ``fold``, ``role``, ``scenes``, ``locations``, ``objects``, ``vessels``,
        ``non_vessels``, ``fishing``, ``non_fishing``, ``near_shore``, ``low_confidence``
        (counts) and ``objects_per_scene`` (mean objects per scene).
    """
    _check_columns(fold_assignments, "fold_assignments", ("scene_id", "fold"))
    _check_columns(
        labels,
        "labels",
        ("scene_id", "is_vessel", "is_fishing", "is_near_shore", "confidence"),
    )
    assigned = fold_assignments.assign(scene_id=fold_assignments["scene_id"].astype(str))
    locations = scene_locations[["scene_id", "location_id"]].astype(str).drop_duplicates("scene_id")
    fallback = (
        assigned.set_index("scene_id")["location_id"]
        if "location_id" in assigned.columns
        else pd.Series(dtype=object)
    )
    assigned["location_id"] = (
        assigned["scene_id"].map(locations.set_index("scene_id")["location_id"])
        .fillna(assigned["scene_id"].map(fallback))
        .fillna(assigned["scene_id"])  # unknown location: its own
    )  # fmt: skip

    scene_stats = assigned.groupby("fold").agg(
        scenes=("scene_id", "nunique"), locations=("location_id", "nunique")
    )
    objs = labels.assign(scene_id=labels["scene_id"].astype(str)).merge(
        assigned[["scene_id", "fold"]].drop_duplicates("scene_id"), on="scene_id", how="inner"
    )
    is_vessel = objs["is_vessel"].astype("boolean")
    is_fishing = objs["is_fishing"].astype("boolean")
    counts = pd.DataFrame(
        {
            "fold": objs["fold"].to_numpy(),
            "objects": 1,
            "vessels": _true_count(is_vessel).to_numpy(),
            "non_vessels": _true_count(~is_vessel).to_numpy(),
            "fishing": _true_count(is_fishing).to_numpy(),
            "non_fishing": _true_count(~is_fishing).to_numpy(),
            "near_shore": _true_count(objs["is_near_shore"]).to_numpy(),
            "low_confidence": (objs["confidence"].astype(str) == "LOW").astype(int).to_numpy(),
        }
    )
    object_stats = counts.groupby("fold").sum()
    balance = scene_stats.join(object_stats, how="left").fillna(0).astype(int)
    balance["objects_per_scene"] = balance["objects"] / balance["scenes"]
    order = sorted(balance.index, key=lambda f: (f == HOLDOUT_FOLD, f))
    balance = balance.loc[order].reset_index()
    balance.insert(1, "role", np.where(balance["fold"] == HOLDOUT_FOLD, "holdout", "train"))
    return balance[["fold", "role", *BALANCE_COUNT_COLUMNS, "objects_per_scene"]]


def plot_fold_balance(balance: pd.DataFrame) -> Figure:
    """Grouped bar chart of :func:`fold_balance`.

    Left panel: object counts per fold (objects, vessels, fishing, near-shore, ...); right
    panel: scenes and locations per fold. The holdout is labelled ``"holdout"``.

    Args:
        balance: Output of :func:`fold_balance`.

    Returns:
        A matplotlib figure (created without pyplot; renders with the Agg backend).
    """
    fig = Figure(figsize=(13, 4.5), layout="constrained")
    ax_obj, ax_scn = fig.subplots(1, 2, width_ratios=[3, 1])
    ticks = ["holdout" if int(f) == HOLDOUT_FOLD else f"fold {int(f)}" for f in balance["fold"]]
    x = np.arange(len(balance))
    for ax, columns, title in (
        (ax_obj, [c for c in BALANCE_COUNT_COLUMNS if c not in ("scenes", "locations")], "objects"),
        (ax_scn, ["scenes", "locations"], "scenes and locations"),
    ):
        width = 0.8 / len(columns)
        for k, column in enumerate(columns):
            ax.bar(
                x + (k - (len(columns) - 1) / 2) * width,
                balance[column].to_numpy(dtype=float),
                width,
                label=column,
                color=f"C{k}",
            )
        ax.set_xticks(x, ticks)
        ax.set_ylabel("count")
        ax.set_title(f"Per-fold {title}")
        ax.legend(fontsize=7)
        ax.grid(True, axis="y", linewidth=0.3)
    return fig
