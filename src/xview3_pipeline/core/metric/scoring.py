"""Scores of the xView3 metric from matched pairs: F1s, length accuracy, aggregate.

:class:`PreparedMatch` holds everything that does not depend on the vessel and fishing
thresholds (the matching, the shore counts, the length accuracy); its
:meth:`~PreparedMatch.score` compares labels on the matched pairs and
:meth:`~PreparedMatch.score_grid` does it for a whole grid of thresholds at once
(vectorised, the engine of :func:`score_thresholds`). Every 0/0 gives 0, as the official
``calculate_p_r_f``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import (
    COMPONENTS,
    FISHING_PROBABILITY_COLUMN,
    VESSEL_PROBABILITY_COLUMN,
)
from xview3_pipeline.core.metric.config import MetricConfig
from xview3_pipeline.core.metric.inputs import at_least

__all__ = [
    "MAX_OBJECT_LENGTH_M",
    "MetricResult",
    "PreparedMatch",
    "aggregate_score",
    "length_accuracy",
    "prf",
    "score_thresholds",
]

#: Lengths are capped at this value before the relative error is taken, metres.
MAX_OBJECT_LENGTH_M = 500.0


@dataclass(frozen=True)
class MetricResult:
    """The six xView3 score components (all in [0, 1], or NaN for a NaN predicted length).

    Attributes:
        loc_fscore: Detection F1.
        loc_fscore_shore: Close-to-shore detection F1 (0 without shorelines).
        vessel_fscore: Vessel-vs-non-vessel F1 on matched pairs.
        fishing_fscore: Fishing-vs-non-fishing F1 on matched pairs whose GT is a vessel.
        length_acc: ``1 - min(mean relative length error, 1)``.
        aggregate: ``loc_fscore * (1 + length + vessel + fishing + shore) / 5``.
        details: Counts (``loc``, ``shore``, ``vessel``, ``fishing``: tp/fp/fn[/tn],
            precision, recall), ``length_pairs``, ``per_scene`` (DataFrame with
            :data:`~xview3_pipeline.core.metric.xview3.PER_SCENE_COLUMNS`), ``official_would_crash_scenes``,
            ``missing_shoreline_scenes``, ``warnings``, prediction/GT bookkeeping counts,
            ``config`` and ``thresholds``.
    """

    loc_fscore: float
    loc_fscore_shore: float
    vessel_fscore: float
    fishing_fscore: float
    length_acc: float
    aggregate: float
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def as_dict(self) -> dict[str, float]:
        """The six components, keyed as in the official output."""
        return {name: float(getattr(self, name)) for name in COMPONENTS}


def prf(tp: Any, fp: Any, fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 exactly as ``calculate_p_r_f`` (0/0 -> 0), elementwise."""
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    fn = np.asarray(fn, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_p = tp + fp
        d_r = tp + fn
        precision = np.where(d_p > 0, tp / np.where(d_p > 0, d_p, 1.0), 0.0)
        recall = np.where(d_r > 0, tp / np.where(d_r > 0, d_r, 1.0), 0.0)
        s = precision + recall
        fscore = np.where(s > 0, 2 * precision * recall / np.where(s > 0, s, 1.0), 0.0)
    return precision, recall, fscore


def aggregate_score(loc: Any, length: Any, vessel: Any, fishing: Any, shore: Any) -> Any:
    """``aggregate_f`` of the official code, same evaluation order."""
    return loc * (1 + length + vessel + fishing + shore) / 5


def threshold_labels(probability: np.ndarray | None, threshold: float, what: str) -> np.ndarray:
    """Labels 1.0/0.0 of ``probability >= threshold`` (NaN -> 0.0) for the pair arrays.

    Raises:
        ValueError: If the probability column ``what`` was absent (``probability`` None).
    """
    if probability is None:
        raise ValueError(
            f"Thresholds need the prediction column {what!r} (probabilities in [0, 1])."
        )
    return at_least(probability, threshold).astype(np.float64)


@dataclass(frozen=True, eq=False)
class PreparedMatch:
    """All threshold-independent work of one scoring run (matching, shore, length).

    Built by :func:`~xview3_pipeline.core.metric.prepare`. Scoring vessel/fishing thresholds only compares labels on the
    matched pairs (numpy on a few thousand values).

    Attributes:
        config: The scorer switches used.
        shore_enabled: Whether the close-to-shore term was computed (a shoreline source
            was given and ``config.shore_tolerance_km > 0``); else it is 0.
        loc_tp: Detection true positives (matched pairs).
        loc_fp: Detection false positives.
        loc_fn: Detection false negatives.
        shore_tp: Close-to-shore true positives.
        shore_fp: Close-to-shore false positives.
        shore_fn: Close-to-shore false negatives.
        length_acc: Length accuracy (NaN if a matched prediction has a NaN length).
        length_pairs: Number of TP pairs with a known GT length.
        pair_pred_row: Positions (0-based) of the matched predictions in the input table.
        pair_gt_row: Positions (0-based) of the matched GT rows in the input table.
        gt_is_vessel: GT ``is_vessel`` of each pair (1.0/0.0/NaN).
        gt_is_fishing: GT ``is_fishing`` of each pair (1.0/0.0/NaN).
        pred_is_vessel: Predicted ``is_vessel`` label of each pair, or None.
        pred_is_fishing: Predicted ``is_fishing`` label of each pair, or None.
        vessel_probability: Predicted P(vessel) of each pair, or None.
        fishing_probability: Predicted P(fishing) of each pair, or None.
        per_scene: Per-scene counts (:data:`~xview3_pipeline.core.metric.xview3.PER_SCENE_COLUMNS`).
        summary: Bookkeeping counts (predictions dropped/ignored, GT ignored, ...).
        official_would_crash_scenes: Scenes where the official code raises (zero
            predictions after the LOW drop).
        missing_shoreline_scenes: Scored scenes without a shoreline file.
        warnings: Messages of everything that deviates from a clean official run.
    """

    config: MetricConfig
    shore_enabled: bool
    loc_tp: int
    loc_fp: int
    loc_fn: int
    shore_tp: int
    shore_fp: int
    shore_fn: int
    length_acc: float
    length_pairs: int
    pair_pred_row: np.ndarray
    pair_gt_row: np.ndarray
    gt_is_vessel: np.ndarray
    gt_is_fishing: np.ndarray
    pred_is_vessel: np.ndarray | None
    pred_is_fishing: np.ndarray | None
    vessel_probability: np.ndarray | None
    fishing_probability: np.ndarray | None
    per_scene: pd.DataFrame
    summary: Mapping[str, int]
    official_would_crash_scenes: tuple[str, ...] = ()
    missing_shoreline_scenes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    _vessel_valid: np.ndarray = field(init=False, repr=False)
    _fishing_valid: np.ndarray = field(init=False, repr=False)
    _loc_prf: tuple[float, float, float] = field(init=False, repr=False)
    _shore_prf: tuple[float, float, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vessel_valid = ~np.isnan(self.gt_is_vessel)
        fishing_valid = (self.gt_is_vessel == 1.0) & ~np.isnan(self.gt_is_fishing)
        object.__setattr__(self, "_vessel_valid", vessel_valid)
        object.__setattr__(self, "_fishing_valid", fishing_valid)
        loc = tuple(float(v) for v in prf(self.loc_tp, self.loc_fp, self.loc_fn))
        shore = tuple(float(v) for v in prf(self.shore_tp, self.shore_fp, self.shore_fn))
        object.__setattr__(self, "_loc_prf", loc)
        object.__setattr__(self, "_shore_prf", shore if self.shore_enabled else (0.0,) * 3)

    @property
    def loc_fscore(self) -> float:
        """Detection F1 (independent of vessel/fishing thresholds)."""
        return self._loc_prf[2]

    @property
    def loc_fscore_shore(self) -> float:
        """Close-to-shore F1 (independent of vessel/fishing thresholds)."""
        return self._shore_prf[2]

    def _labels(
        self,
        vessel_threshold: float | None,
        fishing_threshold: float | None,
        fishing_requires_vessel: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        if len(self.gt_is_vessel) == 0:
            return self.gt_is_vessel, self.gt_is_fishing  # no pairs: nothing to compare
        if vessel_threshold is None and fishing_threshold is None:
            if self.pred_is_vessel is None or self.pred_is_fishing is None:
                raise ValueError(
                    "The predictions have no is_vessel/is_fishing labels; pass "
                    "vessel_threshold and fishing_threshold to label them from "
                    f"{VESSEL_PROBABILITY_COLUMN!r} and {FISHING_PROBABILITY_COLUMN!r}."
                )
            return self.pred_is_vessel, self.pred_is_fishing
        if vessel_threshold is None or fishing_threshold is None:
            raise ValueError("Pass both vessel_threshold and fishing_threshold, or neither.")
        vessel = threshold_labels(
            self.vessel_probability, vessel_threshold, VESSEL_PROBABILITY_COLUMN
        )
        fishing = threshold_labels(
            self.fishing_probability, fishing_threshold, FISHING_PROBABILITY_COLUMN
        )
        if fishing_requires_vessel:
            fishing = fishing * vessel
        return vessel, fishing

    @staticmethod
    def _class_counts(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, int]:
        g = gt[valid]
        equal = pred[valid] == g
        positive = g == 1.0
        return {
            "tp": int(np.count_nonzero(positive & equal)),
            "fp": int(np.count_nonzero(~positive & ~equal)),
            "fn": int(np.count_nonzero(positive & ~equal)),
            "tn": int(np.count_nonzero(~positive & equal)),
        }

    def score(
        self,
        vessel_threshold: float | None = None,
        fishing_threshold: float | None = None,
        *,
        fishing_requires_vessel: bool = False,
    ) -> MetricResult:
        """Score the prepared match.

        Args:
            vessel_threshold: Label ``is_vessel = vessel_p >= threshold``; with
                ``fishing_threshold`` None too, the ``is_vessel``/``is_fishing`` label
                columns are used instead.
            fishing_threshold: Label ``is_fishing = fishing_p >= threshold``.
            fishing_requires_vessel: Also require ``is_vessel`` for ``is_fishing`` (off by
                default; the winner thresholded the two independently).

        Returns:
            The six components with ``details``.

        Raises:
            ValueError: If the needed label or probability columns were absent.
        """
        vessel_pred, fishing_pred = self._labels(
            vessel_threshold, fishing_threshold, fishing_requires_vessel
        )
        v = self._class_counts(vessel_pred, self.gt_is_vessel, self._vessel_valid)
        f = self._class_counts(fishing_pred, self.gt_is_fishing, self._fishing_valid)
        v_p, v_r, v_f = (float(x) for x in prf(v["tp"], v["fp"], v["fn"]))
        f_p, f_r, f_f = (float(x) for x in prf(f["tp"], f["fp"], f["fn"]))
        loc_p, loc_r, loc_f = self._loc_prf
        sh_p, sh_r, sh_f = self._shore_prf
        aggregate = float(aggregate_score(loc_f, self.length_acc, v_f, f_f, sh_f))
        details: dict[str, Any] = {
            "loc": {"tp": self.loc_tp, "fp": self.loc_fp, "fn": self.loc_fn}
            | {"precision": loc_p, "recall": loc_r},
            "shore": {"tp": self.shore_tp, "fp": self.shore_fp, "fn": self.shore_fn}
            | {"precision": sh_p, "recall": sh_r},
            "vessel": v | {"precision": v_p, "recall": v_r},
            "fishing": f | {"precision": f_p, "recall": f_r},
            "length_pairs": self.length_pairs,
            **self.summary,
            "per_scene": self.per_scene,
            "official_would_crash_scenes": list(self.official_would_crash_scenes),
            "missing_shoreline_scenes": list(self.missing_shoreline_scenes),
            "warnings": list(self.warnings),
            "config": self.config.as_dict() | {"shore_enabled": self.shore_enabled},
            "thresholds": {
                "vessel": vessel_threshold,
                "fishing": fishing_threshold,
                "fishing_requires_vessel": fishing_requires_vessel,
            },
        }
        return MetricResult(
            loc_fscore=loc_f,
            loc_fscore_shore=sh_f,
            vessel_fscore=v_f,
            fishing_fscore=f_f,
            length_acc=float(self.length_acc),
            aggregate=aggregate,
            details=details,
        )

    def score_grid(
        self,
        vessel_thresholds: Any,
        fishing_thresholds: Any,
        *,
        fishing_requires_vessel: bool = False,
    ) -> dict[str, np.ndarray]:
        """All six components over a grid of vessel x fishing thresholds.

        Args:
            vessel_thresholds: 1-D thresholds on ``vessel_p``.
            fishing_thresholds: 1-D thresholds on ``fishing_p``.
            fishing_requires_vessel: See :meth:`score`.

        Returns:
            Component name -> ``(len(vessel_thresholds), len(fishing_thresholds))`` float64
            array; entry ``[i, j]`` equals ``self.score(vt[i], ft[j]).<component>``.
        """
        vt = np.atleast_1d(np.asarray(vessel_thresholds, dtype=np.float64))
        ft = np.atleast_1d(np.asarray(fishing_thresholds, dtype=np.float64))
        if vt.ndim != 1 or ft.ndim != 1:
            raise ValueError("vessel_thresholds and fishing_thresholds must be 1-D.")
        vessel_probability, fishing_probability = self.vessel_probability, self.fishing_probability
        if len(self.gt_is_vessel) == 0:  # no matched pair: nothing to label
            vessel_probability = fishing_probability = np.zeros(0)
        if vessel_probability is None or fishing_probability is None:
            raise ValueError(
                f"Threshold grids need the prediction columns {VESSEL_PROBABILITY_COLUMN!r} "
                f"and {FISHING_PROBABILITY_COLUMN!r}."
            )
        shape = (len(vt), len(ft))
        with np.errstate(invalid="ignore"):
            # Vessel: depends on the vessel threshold only.
            gv = self.gt_is_vessel[self._vessel_valid]
            pv = vessel_probability[self._vessel_valid]
            pos = gv == 1.0
            label = pv[None, :] >= vt[:, None]
            v_tp = np.count_nonzero(label[:, pos], axis=1)
            v_fp = np.count_nonzero(label[:, ~pos], axis=1)
            v_fn = int(pos.sum()) - v_tp
            vessel_f = prf(v_tp, v_fp, v_fn)[2][:, None]
            # Fishing: on pairs whose GT is a vessel with a known fishing label.
            gf = self.gt_is_fishing[self._fishing_valid]
            pf = fishing_probability[self._fishing_valid]
            pos = gf == 1.0
            f_label = (pf[None, :] >= ft[:, None]).astype(np.float64)
            if fishing_requires_vessel:
                gate = (vessel_probability[self._fishing_valid][None, :] >= vt[:, None]).astype(
                    np.float64
                )
                f_tp = gate[:, pos] @ f_label[:, pos].T
                f_fp = gate[:, ~pos] @ f_label[:, ~pos].T
            else:
                f_tp = np.broadcast_to(f_label[:, pos].sum(axis=1)[None, :], shape)
                f_fp = np.broadcast_to(f_label[:, ~pos].sum(axis=1)[None, :], shape)
            f_fn = float(pos.sum()) - f_tp
            fishing_f = prf(f_tp, f_fp, f_fn)[2]
        loc = np.full(shape, self.loc_fscore)
        shore = np.full(shape, self.loc_fscore_shore)
        length = np.full(shape, float(self.length_acc))
        vessel = np.broadcast_to(vessel_f, shape).copy()
        fishing = np.broadcast_to(fishing_f, shape).copy()
        return {
            "loc_fscore": loc,
            "loc_fscore_shore": shore,
            "vessel_fscore": vessel,
            "fishing_fscore": fishing,
            "length_acc": length,
            "aggregate": aggregate_score(loc, length, vessel, fishing, shore),
        }


def score_thresholds(
    prepared: PreparedMatch,
    vessel_thresholds: Any,
    fishing_thresholds: Any,
    *,
    component: str = "aggregate",
    fishing_requires_vessel: bool = False,
) -> np.ndarray:
    """One score component over a vessel x fishing threshold grid.

    Args:
        prepared: Output of :func:`~xview3_pipeline.core.metric.prepare` on predictions with probability columns.
        vessel_thresholds: 1-D thresholds on ``vessel_p``.
        fishing_thresholds: 1-D thresholds on ``fishing_p``.
        component: One of :data:`COMPONENTS`.
        fishing_requires_vessel: See :meth:`PreparedMatch.score`.

    Returns:
        ``(len(vessel_thresholds), len(fishing_thresholds))`` float64 array.
    """
    if component not in COMPONENTS:
        raise ValueError(f"Unknown component {component!r}; expected one of {list(COMPONENTS)}.")
    grid = prepared.score_grid(
        vessel_thresholds, fishing_thresholds, fishing_requires_vessel=fishing_requires_vessel
    )
    return grid[component]


def length_accuracy(pred_len: np.ndarray, gt_len: np.ndarray) -> tuple[float, int]:
    """``compute_length_performance`` on the TP pairs (in the official pair order).

    Args:
        pred_len: ``(k,)`` predicted lengths of the TP pairs, metres.
        gt_len: ``(k,)`` true lengths of the TP pairs, metres (NaN: unknown, skipped).

    Returns:
        ``(accuracy, n)``: ``1 - min(mean(|min(p, 500) - min(g, 500)| / min(g, 500)), 1)``
        over the ``n`` pairs with a known true length (0.0 when ``n == 0``; NaN when a
        predicted length is NaN).
    """
    valid = ~np.isnan(gt_len)
    n = int(valid.sum())
    if n == 0:
        return 0.0, 0
    g = np.minimum(gt_len[valid], MAX_OBJECT_LENGTH_M)
    p = np.minimum(pred_len[valid], MAX_OBJECT_LENGTH_M)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(p - g) / g
        # Sequential sum (cumsum), the official loop's summation order.
        mean = float(np.cumsum(errors)[-1]) / float(n)
    capped = 1.0 if 1.0 < mean else mean  # Python min(mean, 1.0): NaN stays NaN
    return 1.0 - capped, n
