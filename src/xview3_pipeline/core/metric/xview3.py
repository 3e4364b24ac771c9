"""The official xView3 scorer, vectorised, with a reuse path for threshold tuning.

Reproduces ``reference/metric.py`` of ``DIUx-xView/xview3-reference`` (HEAD ``5ea1034``) in
the leaderboard configuration (``--distance_tolerance 200 --shore_tolerance 2 --shore_root
DIR --drop_low_detect --costly_dist``) and its other switches. Step by step:

1. GT is restricted to the scenes with at least one prediction (a scene without predictions
   costs nothing). Predictions in scenes without HIGH/MEDIUM GT are ignored.
2. ``drop_low_detect`` (unless ``score_all``): per scene, predictions are matched against all
   GT rows; those matched within tolerance to a LOW row are deleted. GT is then reduced to
   HIGH/MEDIUM (``score_all`` keeps every level and drops nothing).
3. Per scene, optimal assignment (:func:`~xview3_pipeline.core.metric.matching.match_points`)
   on pixel distance x 10 m; TP iff the assigned cost is strictly below the tolerance;
   ``costly_dist`` replaces costs above the tolerance by a huge constant.
4. Close-to-shore F1: GT with ``distance_from_shore_km <= shore_tolerance_km``; predictions
   with a shoreline contour point at ``0 < d <= 220 px``
   (:func:`~xview3_pipeline.core.metric.shoreline.near_shore_mask`). Only scenes with both
   near-shore GT and near-shore predictions are re-matched and counted.
5. Vessel / fishing F1 over the TP pairs whose GT label is known (fishing only where the GT
   is a vessel); the positive class is True, TN never counts, a NaN prediction is wrong.
6. Length accuracy over the TP pairs with a known GT length:
   ``1 - min(mean(|min(p, 500) - min(g, 500)| / min(g, 500)), 1)``; a NaN predicted length
   propagates NaN, a GT length of 0 gives an infinite error (accuracy 0).
7. ``aggregate = loc_F1 * (1 + length_acc + vessel_F1 + fishing_F1 + shore_F1) / 5``.
   All counts (and the length errors) are summed over scenes (micro average); every 0/0
   gives 0.

Where the official code crashes, this module returns a defined value and logs a warning:

* a scored scene left with **zero predictions after the LOW drop** (official ``ValueError``
  in ``distance_matrix``): all its HIGH/MEDIUM GT count as FN; listed in
  ``details["official_would_crash_scenes"]``;
* a **missing shoreline file** (official ``FileNotFoundError``): the scene has no near-shore
  predictions; listed in ``details["missing_shoreline_scenes"]``;
* **pd.NA labels** (nullable dtypes; official "ambiguous truth value"): treated like NaN
  (unknown GT label, wrong prediction), listed in ``details["warnings"]``;
* rows without a ``scene_id`` are dropped with a warning.

NaN coordinates in a row that takes part in matching raise a ``ValueError`` naming the
scene and row (the official code fails inside ``linear_sum_assignment``).

The switches travel as one :class:`~xview3_pipeline.core.metric.config.MetricConfig`.
This module runs the steps; the input tables are read in
:mod:`~xview3_pipeline.core.metric.inputs`, the per-scene matching is in
:mod:`~xview3_pipeline.core.metric.matching` and the scores are computed in
:mod:`~xview3_pipeline.core.metric.scoring`.

Threshold tuning: :func:`prepare` does all the matching for a fixed set of predictions (the
objectness threshold decides which predictions exist, so it is applied before matching);
:meth:`PreparedMatch.score` and :func:`score_thresholds` then only compare labels on the
matched pairs, from the probability columns ``vessel_p`` and
``fishing_p`` (``is_vessel = vessel_p >= t_v``,
``is_fishing = fishing_p >= t_f``, as the winner's tuning did; NaN probability
-> False).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import OBJECTNESS_COLUMN
from xview3_pipeline.core.metric.config import MetricConfig
from xview3_pipeline.core.metric.inputs import (
    GroundTruth,
    Predictions,
    check_finite,
    record_warning,
    require_columns,
)
from xview3_pipeline.core.metric.matching import (
    SceneTally,
    ShorelineSource,
    group_rows,
    match_scene,
)
from xview3_pipeline.core.metric.scoring import MetricResult, PreparedMatch, length_accuracy
from xview3_pipeline.core.metric.shoreline import Shoreline

__all__ = ["PER_SCENE_COLUMNS", "prepare", "score"]

#: Columns of ``details["per_scene"]``.
PER_SCENE_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "status",
    "n_gt",
    "n_gt_low",
    "n_pred",
    "n_pred_dropped_low",
    "tp",
    "fp",
    "fn",
    "n_gt_near_shore",
    "n_pred_near_shore",
    "shore_counted",
    "shore_tp",
    "shore_fp",
    "shore_fn",
    "shoreline_found",
)


def prepare(
    pred_candidates: pd.DataFrame,
    gt: pd.DataFrame,
    config: MetricConfig | None = None,
    *,
    shore_root: str | Path | None = None,
    shorelines: Mapping[str, np.ndarray | Shoreline] | None = None,
    objectness_threshold: float | None = None,
    objectness_column: str = OBJECTNESS_COLUMN,
) -> PreparedMatch:
    """Match predictions to GT once; the result scores any vessel/fishing thresholds.

    Args:
        pred_candidates: Predictions: ``detect_scene_row``, ``detect_scene_column`` (pixels),
            ``scene_id``, ``vessel_length_m`` (metres), and ``is_vessel``/``is_fishing``
            labels and/or ``vessel_p``/``fishing_p`` in [0, 1].
        gt: Labels in the official layout (``detect_scene_row``, ``detect_scene_column``,
            ``scene_id``, ``is_vessel``, ``is_fishing``, ``vessel_length_m``, ``confidence``
            and, with shorelines, ``distance_from_shore_km``).
        config: The scorer switches (None: the leaderboard's, see :class:`MetricConfig`).
        shore_root: Folder of ``<scene_id>_shoreline.npy`` (also searched in split
            subfolders); None (and no ``shorelines``) turns the shore term off (0).
        shorelines: Preloaded shorelines (scene id -> :class:`Shoreline` or contours), looked
            up before ``shore_root``; see
            :func:`~xview3_pipeline.core.metric.shoreline.load_shorelines`.
        objectness_threshold: If set, keep only predictions with
            ``objectness_column >= objectness_threshold`` before matching.
        objectness_column: Detection-score column for ``objectness_threshold``.

    Returns:
        The :class:`PreparedMatch`.

    Raises:
        ValueError: On missing columns, non-boolean GT labels, or non-finite coordinates
            in rows that take part in matching (the message names scene and row).
        InvalidSceneIdError: If a scene id needed for a shoreline path is not plain.
    """
    config = MetricConfig() if config is None else config
    source = ShorelineSource(shorelines, shore_root)
    shore_enabled = config.shore_tolerance_km > 0 and source.given
    warnings: list[str] = []
    preds = Predictions.read(pred_candidates, objectness_threshold, objectness_column, warnings)
    gts, g_in = _truth_in_predicted_scenes(gt, preds, config, shore_enabled, warnings)
    tally, scenes = _match_scenes(
        preds, gt, gts, g_in, config=config, shore=source if shore_enabled else None
    )
    _warn_about(tally, shore_root, warnings)
    pp = np.concatenate(tally.pair_pred) if tally.pair_pred else np.zeros(0, dtype=np.int64)
    pg = np.concatenate(tally.pair_gt) if tally.pair_gt else np.zeros(0, dtype=np.int64)
    if gts is not None:
        length_acc, length_pairs = length_accuracy(preds.length[pp], gts.length[pg])
        gt_vessel, gt_fishing = gts.is_vessel[pg], gts.is_fishing[pg]
    else:
        length_acc, length_pairs = 0.0, 0
        gt_vessel = gt_fishing = np.zeros(0)
    g_scene_all = gt["scene_id"].to_numpy(dtype=object) if "scene_id" in gt.columns else np.zeros(0)
    per_scene = _finish_per_scene(
        pd.concat(
            [
                pd.DataFrame.from_records(tally.records, columns=list(PER_SCENE_COLUMNS)),
                _unscored_scenes(preds.scene[preds.has_scene], g_scene_all[~g_in], set(scenes)),
            ],
            ignore_index=True,
        )
    )

    def pairs(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[pp]

    n_pred_valid = int(preds.has_scene.sum())
    return PreparedMatch(
        config=config,
        shore_enabled=shore_enabled,
        loc_tp=int(tally.loc[0]),
        loc_fp=int(tally.loc[1]),
        loc_fn=int(tally.loc[2]),
        shore_tp=int(tally.shore[0]),
        shore_fp=int(tally.shore[1]),
        shore_fn=int(tally.shore[2]),
        length_acc=length_acc,
        length_pairs=length_pairs,
        pair_pred_row=preds.keep_rows[pp].astype(np.int64),
        pair_gt_row=pg.astype(np.int64),
        gt_is_vessel=gt_vessel,
        gt_is_fishing=gt_fishing,
        pred_is_vessel=pairs(preds.is_vessel),
        pred_is_fishing=pairs(preds.is_fishing),
        vessel_probability=pairs(preds.vessel_probability),
        fishing_probability=pairs(preds.fishing_probability),
        per_scene=per_scene,
        summary={
            "n_pred_input": len(pred_candidates),
            "n_pred_candidates": len(preds.scene),
            "n_pred_scored": tally.n_scored_pred,
            "n_pred_dropped_low": tally.n_dropped,
            "n_pred_ignored": n_pred_valid - tally.n_scored_pred - tally.n_dropped,
            "n_gt_input": len(gt),
            "n_gt_scored": tally.n_scored_gt,
            "n_gt_ignored": len(gt) - tally.n_scored_gt,
        },
        official_would_crash_scenes=tuple(tally.crash_scenes),
        missing_shoreline_scenes=tuple(tally.missing_shore),
        warnings=tuple(warnings),
    )


def _truth_in_predicted_scenes(
    gt: pd.DataFrame,
    preds: Predictions,
    config: MetricConfig,
    shore_enabled: bool,
    warnings: list[str],
) -> tuple[GroundTruth | None, np.ndarray]:
    """The GT arrays and the ``(m,)`` mask of GT rows in scenes with a prediction.

    The GT is not read at all when there is no prediction or no GT row (None).
    """
    if not (len(gt) and len(preds.scene)):
        return None, np.zeros(len(gt), dtype=bool)
    gts = GroundTruth.read(gt, config, shore_enabled=shore_enabled, warnings=warnings)
    has_scene = gt["scene_id"].notna().to_numpy()
    if not has_scene.all():
        record_warning(
            warnings, f"{int((~has_scene).sum())} GT row(s) without scene_id are ignored."
        )
    pred_scenes = pd.unique(preds.scene[preds.has_scene])
    return gts, has_scene & gt["scene_id"].isin(pred_scenes).to_numpy()


def _match_scenes(
    preds: Predictions,
    gt: pd.DataFrame,
    gts: GroundTruth | None,
    g_in: np.ndarray,
    *,
    config: MetricConfig,
    shore: ShorelineSource | None,
) -> tuple[SceneTally, pd.Index]:
    """Run :func:`match_scene` over the GT scenes that have predictions.

    Returns:
        The tally and the scenes of the loop, in order of first appearance in ``gt`` (as
        ``gt["scene_id"].unique()`` in the official loop).
    """
    tally = SceneTally()
    g_rows_in = np.flatnonzero(g_in)
    if gts is None or not len(g_rows_in):
        return tally, pd.Index([], dtype=object)
    scene_codes, scenes = pd.factorize(pd.Series(gts.scene[g_rows_in], dtype=object))
    g_codes = np.full(len(gts.scene), -1, dtype=np.int64)
    g_codes[g_rows_in] = scene_codes
    p_codes = np.full(len(preds.scene), -1, dtype=np.int64)
    p_codes[preds.has_scene] = pd.Index(scenes).get_indexer(
        pd.Series(preds.scene[preds.has_scene], dtype=object)
    )
    check_finite(
        preds.rc,
        np.flatnonzero(p_codes >= 0),
        scenes=preds.scene,
        index=preds.frame.index,
        row_numbers=preds.keep_rows,
        what="prediction",
    )
    check_finite(
        gts.rc,
        g_rows_in,
        scenes=gts.scene,
        index=gt.index,
        row_numbers=np.arange(len(gt)),
        what="ground-truth",
    )
    gt_groups = group_rows(g_codes, len(scenes))
    pred_groups = group_rows(p_codes, len(scenes))
    for k, scene in enumerate(scenes):
        match_scene(
            scene,
            pred_groups[k],
            gt_groups[k],
            preds=preds,
            gts=gts,
            config=config,
            shore=shore,
            tally=tally,
        )
    return tally, scenes


def _warn_about(tally: SceneTally, shore_root: str | Path | None, warnings: list[str]) -> None:
    """Record the scenes where the official scorer would crash."""
    if tally.crash_scenes:
        record_warning(
            warnings,
            f"{len(tally.crash_scenes)} scene(s) have no prediction left after the LOW drop "
            f"({tally.crash_scenes[:10]}); the official scorer crashes there. Their "
            "HIGH/MEDIUM GT count as false negatives.",
        )
    if tally.missing_shore:
        record_warning(
            warnings,
            f"No shoreline for {len(tally.missing_shore)} scored scene(s) "
            f"({tally.missing_shore[:10]}) under {shore_root}; they have no near-shore "
            "predictions. The official scorer would raise FileNotFoundError.",
        )


def _unscored_scenes(pred_scenes: Any, gt_scenes: Any, scored: set[Any]) -> pd.DataFrame:
    """Per-scene rows for scenes outside the scoring loop (vectorised counts).

    Prediction scenes not in ``scored`` get ``ignored_no_scored_gt`` (their ``n_pred``);
    the remaining GT scenes get ``ignored_no_predictions`` (``n_gt`` counts all their rows).
    """
    p_counts = pd.Series(pred_scenes, dtype=object).value_counts(sort=False)
    p_counts = p_counts[~p_counts.index.isin(list(scored))]
    frames = []
    if len(p_counts):
        frames.append(
            pd.DataFrame(
                {
                    "scene_id": p_counts.index.to_numpy(dtype=object),
                    "status": "ignored_no_scored_gt",
                    "n_pred": p_counts.to_numpy(),
                }
            )
        )
    if len(gt_scenes):
        g_counts = pd.Series(gt_scenes, dtype=object).dropna().value_counts(sort=False)
        g_counts = g_counts[~g_counts.index.isin(list(scored) + list(p_counts.index))]
        if len(g_counts):
            frames.append(
                pd.DataFrame(
                    {
                        "scene_id": g_counts.index.to_numpy(dtype=object),
                        "status": "ignored_no_predictions",
                        "n_gt": g_counts.to_numpy(),
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=list(PER_SCENE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _finish_per_scene(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reindex(columns=list(PER_SCENE_COLUMNS))
    for column in PER_SCENE_COLUMNS[2:]:
        if column in ("shore_counted", "shoreline_found"):
            out[column] = out[column].astype("boolean")
        else:
            out[column] = out[column].fillna(0).astype(np.int64)
    out["scene_id"] = out["scene_id"].astype(object)
    out["status"] = out["status"].astype(object)
    return out


def score(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    config: MetricConfig | None = None,
    *,
    shore_root: str | Path | None = None,
    shorelines: Mapping[str, np.ndarray | Shoreline] | None = None,
) -> MetricResult:
    """Score a submission with the official xView3 metric (leaderboard switches by default).

    Args:
        pred: Submission rows: ``detect_scene_row``, ``detect_scene_column`` (pixels),
            ``scene_id``, ``is_vessel``, ``is_fishing``, ``vessel_length_m`` (metres).
        gt: Labels in the official layout (see :func:`prepare`).
        config: The scorer switches (None: the leaderboard's, see :class:`MetricConfig`).
        shore_root: Folder of shoreline files; None (and no ``shorelines``) -> shore F1 = 0.
        shorelines: Preloaded shorelines (scene id -> Shoreline or contours).

    Returns:
        The six components and ``details`` (see :class:`MetricResult`).

    Raises:
        ValueError: On missing columns, bad labels or non-finite coordinates.
    """
    if len(pred):
        require_columns(pred, ("is_vessel", "is_fishing"), "prediction")
    return prepare(pred, gt, config, shore_root=shore_root, shorelines=shorelines).score()
