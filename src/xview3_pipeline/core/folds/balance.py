"""Per-fold counts of scenes, locations and objects, and their bar chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.folds.config import HOLDOUT_FOLD, require_columns

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
    require_columns(fold_assignments, "fold_assignments", ("scene_id", "fold"))
    require_columns(
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
