"""Optimal one-to-one matching of predicted and true object centres, as the xView3 scorer.

The official scorer (``DIUx-xView/xview3-reference``, ``reference/metric.py``) builds a
cost matrix of Euclidean pixel distances times 10 m, replaces every cost strictly above
the tolerance by ``9999999 * 10`` (``--costly_dist``, the leaderboard setting), solves a
rectangular linear assignment (``scipy.optimize.linear_sum_assignment``) and keeps the
assigned pairs whose cost is strictly below the tolerance. A pair at exactly the
tolerance is not a match but keeps its finite cost, so it can still take an assignment
slot. Without ``costly_dist`` the plain sum of distances is minimised, which can leave
obvious matches unmatched (official issue #9).

:func:`match_scene` runs the official per-scene steps on top of :func:`match_points`: the
LOW drop, the HIGH/MEDIUM matching and the close-to-shore re-matching, and adds the
counts of one scene to a :class:`SceneTally`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from xview3_pipeline.core.constants import DISTANCE_TOLERANCE_M, PIX_TO_M
from xview3_pipeline.core.metric.config import MetricConfig
from xview3_pipeline.core.metric.inputs import GroundTruth, Predictions
from xview3_pipeline.core.metric.shoreline import (
    Shoreline,
    load_shoreline,
    near_shore_mask,
    shore_radius_px,
)

__all__ = [
    "COSTLY_DISTANCE",
    "DISTANCE_TOLERANCE_M",
    "SceneTally",
    "ShorelineSource",
    "group_rows",
    "match_by_scene",
    "match_points",
    "match_scene",
]

#: Cost given to pairs beyond the tolerance with ``costly_dist`` (the official value).
COSTLY_DISTANCE = 9999999.0 * 10.0


def match_points(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    tolerance_m: float = DISTANCE_TOLERANCE_M,
    costly_dist: bool = True,
    pix_to_m: float = PIX_TO_M,
) -> tuple[np.ndarray, np.ndarray]:
    """Match predictions to ground truth like the official scorer.

    Args:
        pred: ``(n, 2)`` predicted (row, column) pixel positions.
        gt: ``(m, 2)`` true (row, column) pixel positions.
        tolerance_m: A pair is a match when its distance is strictly below this, metres.
        costly_dist: Replace costs above the tolerance by a huge constant before solving
            (the leaderboard setting); otherwise minimise the plain sum of distances.
        pix_to_m: Metres per pixel.

    Returns:
        ``(pred_index, gt_index)``: int64 arrays of the matched pairs (true positives),
        sorted by ``pred_index``. Unmatched predictions are false positives, unmatched truth
        false negatives.

    Raises:
        ValueError: If a coordinate is not finite (the official code fails there too).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 2)
    empty = np.zeros(0, dtype=np.int64)
    if len(pred) == 0 or len(gt) == 0:
        return empty, empty.copy()
    if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
        raise ValueError("match_points: coordinates must be finite (NaN or inf found).")
    # Predictions as rows, truth as columns, as the official code: this orientation
    # decides which pair wins an exact tie.
    cost = cdist(pred, gt) * pix_to_m
    if costly_dist:
        cost = np.where(cost > tolerance_m, COSTLY_DISTANCE, cost)
    pred_idx, gt_idx = linear_sum_assignment(cost)
    keep = cost[pred_idx, gt_idx] < tolerance_m
    return pred_idx[keep].astype(np.int64), gt_idx[keep].astype(np.int64)


def match_by_scene(
    pred_scenes: np.ndarray,
    pred_rc: np.ndarray,
    gt_scenes: np.ndarray,
    gt_rc: np.ndarray,
    *,
    tolerance_m: float = DISTANCE_TOLERANCE_M,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match_points` within each scene, over rows of many scenes.

    Args:
        pred_scenes: ``(n,)`` scene id of each prediction.
        pred_rc: ``(n, 2)`` predicted (row, column) pixel positions.
        gt_scenes: ``(m,)`` scene id of each truth row.
        gt_rc: ``(m, 2)`` true (row, column) pixel positions.
        tolerance_m: Matching distance, metres.

    Returns:
        ``(pred_index, gt_index)``: int64 positions of the matched pairs, scene by scene.
    """
    pred_scenes = np.asarray(pred_scenes).astype(str)
    gt_scenes = np.asarray(gt_scenes).astype(str)
    names, codes = np.unique(np.concatenate([pred_scenes, gt_scenes]), return_inverse=True)
    pred_groups = group_rows(codes[: len(pred_scenes)], len(names))
    gt_groups = group_rows(codes[len(pred_scenes) :], len(names))
    pairs = [
        (pi[p], gi[g])
        for pi, gi in zip(pred_groups, gt_groups, strict=True)
        if len(pi) and len(gi)
        for p, g in [match_points(pred_rc[pi], gt_rc[gi], tolerance_m=tolerance_m)]
    ]
    empty = np.zeros(0, dtype=np.int64)
    if not pairs:
        return empty, empty.copy()
    return np.concatenate([p for p, _ in pairs]), np.concatenate([g for _, g in pairs])


def group_rows(codes: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Row positions per group code (codes < 0 left out), ascending within each group.

    Args:
        codes: ``(n,)`` int group code of each row; negative codes belong to no group.
        n_groups: Number of groups (codes ``0 .. n_groups - 1``).

    Returns:
        ``n_groups`` int arrays of row positions.
    """
    rows = np.flatnonzero(codes >= 0)
    order = np.argsort(codes[rows], kind="stable")
    rows = rows[order]
    bounds = np.searchsorted(codes[rows], np.arange(n_groups + 1), side="left")
    return [rows[bounds[k] : bounds[k + 1]] for k in range(n_groups)]


@dataclass(frozen=True)
class ShorelineSource:
    """Where the shoreline of a scene comes from: preloaded contours, then a folder.

    Attributes:
        shorelines: Scene id -> :class:`Shoreline` or raw contours, looked up first.
        shore_root: Folder of ``<scene_id>_shoreline.npy`` (split subfolders searched).
    """

    shorelines: Mapping[str, np.ndarray | Shoreline] | None = None
    shore_root: str | Path | None = None

    @property
    def given(self) -> bool:
        """Whether any source was given (else the shore term is off)."""
        return self.shorelines is not None or self._has_root

    @property
    def _has_root(self) -> bool:
        return self.shore_root is not None and str(self.shore_root) != ""

    def get(self, scene_id: Any) -> Shoreline | None:
        """The scene's shoreline, or None when no source has it."""
        if self.shorelines is not None and scene_id in self.shorelines:
            value = self.shorelines[scene_id]
            return value if isinstance(value, Shoreline) else Shoreline(value, scene_id=scene_id)
        root = self.shore_root
        if root is not None and str(root) != "":
            return load_shoreline(root, scene_id)
        return None


@dataclass
class SceneTally:
    """Accumulators of the per-scene loop (counts summed over scenes: micro average).

    Attributes:
        pair_pred: Per scene, prediction positions of the TP pairs.
        pair_gt: Per scene, GT positions of the TP pairs (same order).
        records: One per-scene record per scene of the loop.
        crash_scenes: Scenes left without predictions after the LOW drop.
        missing_shore: Scored scenes without a shoreline.
        loc: Detection ``[tp, fp, fn]``.
        shore: Close-to-shore ``[tp, fp, fn]``.
        n_dropped: Predictions deleted by the LOW drop.
        n_scored_pred: Predictions in scored scenes (after the drop).
        n_scored_gt: Scored GT rows.
    """

    pair_pred: list[np.ndarray] = field(default_factory=list)
    pair_gt: list[np.ndarray] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    crash_scenes: list[str] = field(default_factory=list)
    missing_shore: list[str] = field(default_factory=list)
    loc: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    shore: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    n_dropped: int = 0
    n_scored_pred: int = 0
    n_scored_gt: int = 0


def _drop_low_matches(
    p_idx: np.ndarray, g_all: np.ndarray, preds: Predictions, gts: GroundTruth, config: MetricConfig
) -> tuple[np.ndarray, int]:
    """Stage 1: delete predictions matched to LOW labels (against all GT of the scene)."""
    # A scene without LOW labels cannot lose predictions, so its matching is skipped.
    if config.score_all or not config.drop_low_detect or not gts.low[g_all].any():
        return p_idx, 0
    pi, gi = match_points(
        preds.rc[p_idx],
        gts.rc[g_all],
        tolerance_m=config.distance_tolerance_m,
        costly_dist=config.costly_dist,
    )
    low = gts.low[g_all[gi]]
    if not low.any():
        return p_idx, 0
    keep = np.ones(len(p_idx), dtype=bool)
    keep[pi[low]] = False
    return p_idx[keep], int(low.sum())


def _match_shore(
    scene: Any,
    p_idx: np.ndarray,
    g_idx: np.ndarray,
    *,
    preds: Predictions,
    gts: GroundTruth,
    config: MetricConfig,
    shoreline: Shoreline | None,
    tally: SceneTally,
    record: dict[str, Any],
) -> None:
    """Close-to-shore re-matching of one scored scene (two-sided scenes only)."""
    if shoreline is None:
        tally.missing_shore.append(str(scene))
        p_near = p_idx[:0]
    else:
        radius_px = shore_radius_px(config.shore_tolerance_km, config.distance_tolerance_m)
        p_near = p_idx[near_shore_mask(preds.rc[p_idx], shoreline, radius_px)]
    g_near = g_idx[gts.near_shore[g_idx]]
    counted = bool(len(g_near) and len(p_near))
    record |= {
        "shoreline_found": shoreline is not None,
        "n_gt_near_shore": len(g_near),
        "n_pred_near_shore": len(p_near),
        "shore_counted": counted,
    }
    if counted:  # one-sided scenes contribute nothing
        pi, _ = match_points(
            preds.rc[p_near],
            gts.rc[g_near],
            tolerance_m=config.distance_tolerance_m,
            costly_dist=config.costly_dist,
        )
        s_counts = np.array([len(pi), len(p_near) - len(pi), len(g_near) - len(pi)])
        tally.shore += s_counts
        record |= dict(zip(("shore_tp", "shore_fp", "shore_fn"), s_counts.tolist(), strict=True))


def match_scene(
    scene: Any,
    p_idx: np.ndarray,
    g_all: np.ndarray,
    *,
    preds: Predictions,
    gts: GroundTruth,
    config: MetricConfig,
    shore: ShorelineSource | None,
    tally: SceneTally,
) -> None:
    """Official scoring of one GT scene (LOW drop, matching, shore), into ``tally``.

    Args:
        scene: The scene id.
        p_idx: Positions of the scene's predictions in ``preds``.
        g_all: Positions of the scene's GT rows (every confidence level) in ``gts``.
        preds: The prediction arrays.
        gts: The GT arrays.
        config: The scorer switches.
        shore: Shoreline source, or None when the shore term is off.
        tally: Accumulators; the scene's counts, pairs and record are added.
    """
    p_idx, n_drop = _drop_low_matches(p_idx, g_all, preds, gts, config)
    tally.n_dropped += n_drop
    # Stage 2: HIGH/MEDIUM only (every level with score_all).
    g_idx = g_all[gts.scored[g_all]]
    record: dict[str, Any] = {
        "scene_id": scene,
        "n_gt": len(g_idx),
        "n_gt_low": int(gts.low[g_all].sum()),
        "n_pred": len(p_idx),
        "n_pred_dropped_low": n_drop,
    }
    tally.records.append(record)
    if len(g_idx) == 0:
        # Not in the official scoring loop: its predictions are ignored.
        record["status"] = "ignored_no_scored_gt"
        return
    tally.n_scored_pred += len(p_idx)
    tally.n_scored_gt += len(g_idx)
    tp = 0
    record["status"] = "scored"
    if len(p_idx) == 0:
        tally.crash_scenes.append(str(scene))
        record["status"] = "official_would_crash"
    else:
        pi, gi = match_points(
            preds.rc[p_idx],
            gts.rc[g_idx],
            tolerance_m=config.distance_tolerance_m,
            costly_dist=config.costly_dist,
        )
        tally.pair_pred.append(p_idx[pi])
        tally.pair_gt.append(g_idx[gi])
        tp = len(pi)
    counts = np.array([tp, len(p_idx) - tp, len(g_idx) - tp])
    tally.loc += counts
    record |= dict(zip(("tp", "fp", "fn"), counts.tolist(), strict=True))
    if shore is not None:
        _match_shore(
            scene,
            p_idx,
            g_idx,
            preds=preds,
            gts=gts,
            config=config,
            shoreline=shore.get(scene),
            tally=tally,
            record=record,
        )
