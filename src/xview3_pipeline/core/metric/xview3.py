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

Threshold tuning: :func:`prepare` does all the matching for a fixed set of predictions (the
objectness threshold decides which predictions exist, so it is applied before matching);
:meth:`PreparedMatch.score` and :func:`score_thresholds` then only compare labels on the
matched pairs, from the probability columns ``vessel_p`` and
``fishing_p`` (``is_vessel = vessel_p >= t_v``,
``is_fishing = fishing_p >= t_f``, as the winner's tuning did; NaN probability
-> False).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import NEAR_SHORE_KM
from xview3_pipeline.core.metric.matching import DISTANCE_TOLERANCE_M, match_points
from xview3_pipeline.core.metric.shoreline import (
    Shoreline,
    load_shoreline,
    near_shore_mask,
    shore_radius_px,
)

logger = logging.getLogger(__name__)

__all__ = [
    "COMPONENTS",
    "FISHING_PROBABILITY_COLUMN",
    "MAX_OBJECT_LENGTH_M",
    "OBJECTNESS_COLUMN",
    "VESSEL_PROBABILITY_COLUMN",
    "MetricConfig",
    "MetricResult",
    "PreparedMatch",
    "apply_thresholds",
    "prepare",
    "score",
    "score_thresholds",
]

#: The six score components, named as in the official output.
COMPONENTS: tuple[str, ...] = (
    "loc_fscore",
    "loc_fscore_shore",
    "vessel_fscore",
    "fishing_fscore",
    "length_acc",
    "aggregate",
)
#: Lengths are capped at this value before the relative error is taken, metres.
MAX_OBJECT_LENGTH_M = 500.0
#: Prediction column with P(vessel), used by the threshold path.
VESSEL_PROBABILITY_COLUMN = "vessel_p"
#: Prediction column with P(fishing), used by the threshold path.
FISHING_PROBABILITY_COLUMN = "fishing_p"
#: Default prediction column of the detection score for ``objectness_threshold``.
OBJECTNESS_COLUMN = "objectness_p"

_ROW = "detect_scene_row"
_COL = "detect_scene_column"
_PRED_REQUIRED = (_ROW, _COL, "scene_id", "vessel_length_m")
_GT_REQUIRED = (_ROW, _COL, "scene_id", "is_vessel", "is_fishing", "vessel_length_m")
_SCORED_CONFIDENCE = ("HIGH", "MEDIUM")
_LOW = "LOW"
_BOOL_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0, "": np.nan}
_WARNED_ONCE: set[str] = set()

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


# --------------------------------------------------------------------------------------
# Results and configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricConfig:
    """Switches of the official scorer (leaderboard values by default).

    Attributes:
        distance_tolerance_m: A pair is a TP when closer than this, metres.
        shore_tolerance_km: GT near-shore tolerance, km; 0 turns the shore term off.
        drop_low_detect: Delete predictions matched to LOW labels (two-stage LOW drop).
        costly_dist: Replace costs above the tolerance by a huge constant before matching.
        score_all: Score against every confidence level (no LOW handling at all).
        shore_enabled: Whether shorelines were given and the shore term is computed.
    """

    distance_tolerance_m: float = DISTANCE_TOLERANCE_M
    shore_tolerance_km: float = NEAR_SHORE_KM
    drop_low_detect: bool = True
    costly_dist: bool = True
    score_all: bool = False
    shore_enabled: bool = True


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
            :data:`PER_SCENE_COLUMNS`), ``official_would_crash_scenes``,
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


# --------------------------------------------------------------------------------------
# Small numeric helpers
# --------------------------------------------------------------------------------------


def _prf(tp: Any, fp: Any, fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _aggregate(loc: Any, length: Any, vessel: Any, fishing: Any, shore: Any) -> Any:
    """``aggregate_f`` of the official code, same evaluation order."""
    return loc * (1 + length + vessel + fishing + shore) / 5


def _warn(warnings: list[str], message: str, *, once_key: str | None = None) -> None:
    """Record a warning in ``details`` and log it (once per process for ``once_key``)."""
    warnings.append(message)
    if once_key is None or once_key not in _WARNED_ONCE:
        logger.warning(message)
        if once_key is not None:
            _WARNED_ONCE.add(once_key)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The {what} table lacks the columns {missing}; it has {list(frame.columns)}."
        )


def _float_column(series: pd.Series, what: str) -> np.ndarray:
    """A numeric column as float64, missing values (NaN, None, pd.NA) as NaN."""
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        pass
    try:
        numeric = pd.to_numeric(series, errors="raise")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The {what} column {series.name!r} is not numeric: {exc}") from exc
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan)


def _has_pd_na(series: pd.Series) -> bool:
    """Whether a column holds ``pd.NA`` (the official code crashes on it)."""
    missing = series.isna().to_numpy()
    if not missing.any():
        return False
    if (
        isinstance(series.dtype, pd.api.extensions.ExtensionDtype)
        and series.dtype.na_value is pd.NA
    ):
        return True
    if series.dtype == object:
        # Only the (few) missing cells are inspected.
        return any(v is pd.NA for v in series.to_numpy()[missing])
    return False


def _label_column(series: pd.Series, what: str, *, strict: bool) -> np.ndarray:
    """A True/False/unknown column as float64 1.0/0.0/NaN.

    Numbers keep their value (the official ``pred == gt`` comparison then treats anything
    other than 1/0 as wrong); the strings true/false/1/0 (any case) are parsed; missing
    values (NaN, None, pd.NA, blank) become NaN.

    Raises:
        ValueError: On text that is not a boolean, or (``strict``, GT) on values other than
            0, 1 and missing.
    """
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        text = series.astype("string").str.strip().str.lower()
        missing = text.isna().to_numpy(dtype=bool)
        bad = ~(missing | text.isin(list(_BOOL_TEXT)).to_numpy(dtype=bool))
        if bad.any():
            examples = series[bad].astype(str).unique()[:5].tolist()
            raise ValueError(
                f"The {what} column {series.name!r} has non-boolean values {examples}; "
                "expected True, False or blank."
            ) from None
        values = np.full(len(text), np.nan)
        values[~missing] = text[~missing].map(_BOOL_TEXT).to_numpy(dtype=np.float64)
    if strict:
        bad = ~(np.isnan(values) | (values == 0.0) | (values == 1.0))
        if bad.any():
            raise ValueError(
                f"The {what} column {series.name!r} has values {np.unique(values[bad])[:5].tolist()}; "
                "expected True, False or blank."
            )
    return values


def _check_finite(
    rc: np.ndarray,
    rows: np.ndarray,
    *,
    scenes: np.ndarray,
    index: pd.Index,
    row_numbers: np.ndarray,
    what: str,
) -> None:
    """Raise a ValueError naming the first participating row with a non-finite coordinate."""
    if len(rows) == 0:
        return
    bad = ~np.isfinite(rc[rows]).all(axis=1)
    if bad.any():
        pos = int(rows[np.flatnonzero(bad)[0]])
        raise ValueError(
            f"Non-finite coordinates in the {what} table, scene {scenes[pos]!r}, row "
            f"{int(row_numbers[pos])} (0-based position; index label {index[pos]!r}): "
            f"{_ROW}={rc[pos, 0]!r}, {_COL}={rc[pos, 1]!r}; "
            f"{int(bad.sum())} such row(s) take part in matching. The official scorer fails "
            "on these too."
        )


def _groups(codes: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Row positions per group code (codes < 0 left out), ascending within each group."""
    rows = np.flatnonzero(codes >= 0)
    order = np.argsort(codes[rows], kind="stable")
    rows = rows[order]
    bounds = np.searchsorted(codes[rows], np.arange(n_groups + 1), side="left")
    return [rows[bounds[k] : bounds[k + 1]] for k in range(n_groups)]


def _threshold_labels(probability: np.ndarray | None, threshold: float, what: str) -> np.ndarray:
    if probability is None:
        raise ValueError(
            f"Thresholds need the prediction column {what!r} (probabilities in [0, 1])."
        )
    with np.errstate(invalid="ignore"):
        return (probability >= threshold).astype(np.float64)


# --------------------------------------------------------------------------------------
# Prepared matching
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PreparedMatch:
    """All threshold-independent work of one scoring run (matching, shore, length).

    Built by :func:`prepare`. Scoring vessel/fishing thresholds only compares labels on the
    matched pairs (numpy on a few thousand values).

    Attributes:
        config: The scorer switches used.
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
        per_scene: Per-scene counts (:data:`PER_SCENE_COLUMNS`).
        summary: Bookkeeping counts (predictions dropped/ignored, GT ignored, ...).
        official_would_crash_scenes: Scenes where the official code raises (zero
            predictions after the LOW drop).
        missing_shoreline_scenes: Scored scenes without a shoreline file.
        warnings: Messages of everything that deviates from a clean official run.
    """

    config: MetricConfig
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
        loc = tuple(float(v) for v in _prf(self.loc_tp, self.loc_fp, self.loc_fn))
        shore = tuple(float(v) for v in _prf(self.shore_tp, self.shore_fp, self.shore_fn))
        object.__setattr__(self, "_loc_prf", loc)
        object.__setattr__(self, "_shore_prf", shore if self.config.shore_enabled else (0.0,) * 3)

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
        vessel = _threshold_labels(
            self.vessel_probability, vessel_threshold, VESSEL_PROBABILITY_COLUMN
        )
        fishing = _threshold_labels(
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
        v_p, v_r, v_f = (float(x) for x in _prf(v["tp"], v["fp"], v["fn"]))
        f_p, f_r, f_f = (float(x) for x in _prf(f["tp"], f["fp"], f["fn"]))
        loc_p, loc_r, loc_f = self._loc_prf
        sh_p, sh_r, sh_f = self._shore_prf
        aggregate = float(_aggregate(loc_f, self.length_acc, v_f, f_f, sh_f))
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
            "config": asdict(self.config),
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
            vessel_f = _prf(v_tp, v_fp, v_fn)[2][:, None]
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
            fishing_f = _prf(f_tp, f_fp, f_fn)[2]
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
            "aggregate": _aggregate(loc, length, vessel, fishing, shore),
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
        prepared: Output of :func:`prepare` on predictions with probability columns.
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


def apply_thresholds(
    pred: pd.DataFrame,
    vessel_threshold: float,
    fishing_threshold: float,
    *,
    fishing_requires_vessel: bool = False,
) -> pd.DataFrame:
    """Label predictions from their probabilities (a copy with ``is_vessel``/``is_fishing``).

    Args:
        pred: Predictions with ``vessel_p`` and ``fishing_p``.
        vessel_threshold: ``is_vessel = vessel_probability >= vessel_threshold``.
        fishing_threshold: ``is_fishing = fishing_probability >= fishing_threshold``.
        fishing_requires_vessel: Also require ``is_vessel`` for ``is_fishing``.

    Returns:
        A copy of ``pred`` with boolean ``is_vessel`` and ``is_fishing`` (NaN probability
        gives False).
    """
    _require(pred, (VESSEL_PROBABILITY_COLUMN, FISHING_PROBABILITY_COLUMN), "prediction")
    out = pred.copy()
    pv = _float_column(pred[VESSEL_PROBABILITY_COLUMN], "prediction")
    pf = _float_column(pred[FISHING_PROBABILITY_COLUMN], "prediction")
    with np.errstate(invalid="ignore"):
        vessel = pv >= vessel_threshold
        fishing = pf >= fishing_threshold
    if fishing_requires_vessel:
        fishing &= vessel
    out["is_vessel"] = vessel
    out["is_fishing"] = fishing
    return out


@dataclass
class _Predictions:
    """Prediction columns as arrays (rows kept after the objectness filter)."""

    frame: pd.DataFrame
    keep_rows: np.ndarray
    scene: np.ndarray
    has_scene: np.ndarray
    rc: np.ndarray
    length: np.ndarray
    is_vessel: np.ndarray | None
    is_fishing: np.ndarray | None
    vessel_probability: np.ndarray | None
    fishing_probability: np.ndarray | None

    @classmethod
    def read(
        cls,
        pred: pd.DataFrame,
        objectness_threshold: float | None,
        objectness_column: str,
        warnings: list[str],
    ) -> _Predictions:
        keep_rows = np.arange(len(pred))
        if objectness_threshold is not None and len(pred):
            _require(pred, (objectness_column,), "prediction")
            objectness = _float_column(pred[objectness_column], "prediction")
            with np.errstate(invalid="ignore"):
                keep_rows = np.flatnonzero(objectness >= objectness_threshold)
            pred = pred.iloc[keep_rows]
        n = len(pred)
        if n == 0:
            empty = np.zeros(0)
            return cls(
                pred,
                keep_rows,
                empty.astype(object),
                empty.astype(bool),
                np.zeros((0, 2)),
                empty,
                None,
                None,
                None,
                None,
            )
        _require(pred, _PRED_REQUIRED, "prediction")
        has_scene = pred["scene_id"].notna().to_numpy()
        if not has_scene.all():
            _warn(
                warnings,
                f"{int((~has_scene).sum())} prediction row(s) without scene_id are ignored.",
            )
        for column in ("is_vessel", "is_fishing", "vessel_length_m"):
            if column in pred.columns and _has_pd_na(pred[column]):
                _warn(
                    warnings,
                    f"Prediction column {column!r} holds pd.NA; treated as NaN (a wrong label, "
                    "a NaN length). The official scorer would crash on it.",
                )

        def label(column: str) -> np.ndarray | None:
            if column not in pred.columns:
                return None
            return _label_column(pred[column], "prediction", strict=False)

        def probability(column: str) -> np.ndarray | None:
            if column not in pred.columns:
                return None
            return _float_column(pred[column], "prediction")

        rc = np.stack(
            [_float_column(pred[_ROW], "prediction"), _float_column(pred[_COL], "prediction")],
            axis=1,
        )
        return cls(
            frame=pred,
            keep_rows=keep_rows,
            scene=pred["scene_id"].to_numpy(dtype=object),
            has_scene=has_scene,
            rc=rc,
            length=_float_column(pred["vessel_length_m"], "prediction"),
            is_vessel=label("is_vessel"),
            is_fishing=label("is_fishing"),
            vessel_probability=probability(VESSEL_PROBABILITY_COLUMN),
            fishing_probability=probability(FISHING_PROBABILITY_COLUMN),
        )


@dataclass
class _GroundTruth:
    """GT columns as arrays, with the confidence and near-shore masks."""

    scene: np.ndarray
    rc: np.ndarray
    is_vessel: np.ndarray
    is_fishing: np.ndarray
    length: np.ndarray
    scored: np.ndarray
    low: np.ndarray
    near_shore: np.ndarray

    @classmethod
    def read(cls, gt: pd.DataFrame, config: MetricConfig, warnings: list[str]) -> _GroundTruth:
        needed = _GT_REQUIRED + (() if config.score_all else ("confidence",))
        needed += ("distance_from_shore_km",) if config.shore_enabled else ()
        _require(gt, needed, "ground-truth")
        for column in ("is_vessel", "is_fishing", "vessel_length_m"):
            if _has_pd_na(gt[column]):
                _warn(
                    warnings,
                    f"GT column {column!r} holds pd.NA; treated as unknown (NaN). The official "
                    "scorer would crash on it.",
                    once_key=f"gt-pd-na-{column}",
                )
        n = len(gt)
        if config.score_all:
            scored = np.ones(n, dtype=bool)
            low = np.zeros(n, dtype=bool)
        else:
            scored = gt["confidence"].isin(_SCORED_CONFIDENCE).to_numpy(dtype=bool)
            low = gt["confidence"].isin([_LOW]).to_numpy(dtype=bool)
        near_shore = np.zeros(n, dtype=bool)
        if config.shore_enabled:
            distance_km = _float_column(gt["distance_from_shore_km"], "ground-truth")
            with np.errstate(invalid="ignore"):
                near_shore = distance_km <= config.shore_tolerance_km
        rc = np.stack(
            [_float_column(gt[_ROW], "ground-truth"), _float_column(gt[_COL], "ground-truth")],
            axis=1,
        )
        return cls(
            scene=gt["scene_id"].to_numpy(dtype=object),
            rc=rc,
            is_vessel=_label_column(gt["is_vessel"], "ground-truth", strict=True),
            is_fishing=_label_column(gt["is_fishing"], "ground-truth", strict=True),
            length=_float_column(gt["vessel_length_m"], "ground-truth"),
            scored=scored,
            low=low,
            near_shore=near_shore,
        )


@dataclass
class _SceneTally:
    """Accumulators of the per-scene loop."""

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


def _resolve_shoreline(
    scene_id: Any,
    shorelines: Mapping[str, np.ndarray | Shoreline] | None,
    shore_root: str | Path | None,
) -> Shoreline | None:
    if shorelines is not None and scene_id in shorelines:
        value = shorelines[scene_id]
        return value if isinstance(value, Shoreline) else Shoreline(value, scene_id=scene_id)
    if shore_root is not None and str(shore_root) != "":
        return load_shoreline(shore_root, scene_id)
    return None


def _score_scene(
    scene: Any,
    p_idx: np.ndarray,
    g_all: np.ndarray,
    *,
    preds: _Predictions,
    gts: _GroundTruth,
    config: MetricConfig,
    shore_source: tuple[Mapping[str, np.ndarray | Shoreline] | None, str | Path | None],
    tally: _SceneTally,
) -> None:
    """Official scoring of one GT scene (LOW drop, matching, shore), into ``tally``."""
    match_kw = {"tolerance_m": config.distance_tolerance_m, "costly_dist": config.costly_dist}
    n_drop = 0
    # Stage 1: delete predictions matched to LOW labels (against all GT of the scene).
    # A scene without LOW labels cannot lose predictions, so its matching is skipped.
    if not config.score_all and config.drop_low_detect and gts.low[g_all].any():
        pi, gi = match_points(preds.rc[p_idx], gts.rc[g_all], **match_kw)
        low = gts.low[g_all[gi]]
        if low.any():
            keep = np.ones(len(p_idx), dtype=bool)
            keep[pi[low]] = False
            n_drop = int(low.sum())
            p_idx = p_idx[keep]
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
        pi, gi = match_points(preds.rc[p_idx], gts.rc[g_idx], **match_kw)
        tally.pair_pred.append(p_idx[pi])
        tally.pair_gt.append(g_idx[gi])
        tp = len(pi)
    counts = np.array([tp, len(p_idx) - tp, len(g_idx) - tp])
    tally.loc += counts
    record |= dict(zip(("tp", "fp", "fn"), counts.tolist(), strict=True))
    if not config.shore_enabled:
        return
    shoreline = _resolve_shoreline(scene, *shore_source)
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
        pi, _ = match_points(preds.rc[p_near], gts.rc[g_near], **match_kw)
        s_counts = np.array([len(pi), len(p_near) - len(pi), len(g_near) - len(pi)])
        tally.shore += s_counts
        record |= dict(zip(("shore_tp", "shore_fp", "shore_fn"), s_counts.tolist(), strict=True))


def prepare(
    pred_candidates: pd.DataFrame,
    gt: pd.DataFrame,
    *,
    shore_root: str | Path | None = None,
    shorelines: Mapping[str, np.ndarray | Shoreline] | None = None,
    distance_tolerance_m: float = DISTANCE_TOLERANCE_M,
    shore_tolerance_km: float = NEAR_SHORE_KM,
    drop_low_detect: bool = True,
    costly_dist: bool = True,
    score_all: bool = False,
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
        shore_root: Folder of ``<scene_id>_shoreline.npy`` (also searched in split
            subfolders); None (and no ``shorelines``) turns the shore term off (0).
        shorelines: Preloaded shorelines (scene id -> :class:`Shoreline` or contours), looked
            up before ``shore_root``; see
            :func:`~xview3_pipeline.core.metric.shoreline.load_shorelines`.
        distance_tolerance_m: Detection tolerance, metres (TP iff strictly closer).
        shore_tolerance_km: GT near-shore tolerance, km; 0 turns the shore term off.
        drop_low_detect: Two-stage LOW drop (official ``--drop_low_detect``).
        costly_dist: Official ``--costly_dist`` matching.
        score_all: Official ``--score_all``: every confidence level counts, no LOW drop.
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
    warnings: list[str] = []
    shore_enabled = bool(shore_tolerance_km) and (
        shorelines is not None or (shore_root is not None and str(shore_root) != "")
    )
    config = MetricConfig(
        distance_tolerance_m=float(distance_tolerance_m),
        shore_tolerance_km=float(shore_tolerance_km),
        drop_low_detect=bool(drop_low_detect),
        costly_dist=bool(costly_dist),
        score_all=bool(score_all),
        shore_enabled=shore_enabled,
    )
    preds = _Predictions.read(pred_candidates, objectness_threshold, objectness_column, warnings)
    n_pred = len(preds.scene)
    pred_scenes = pd.unique(preds.scene[preds.has_scene])

    # GT restricted to the scenes with at least one prediction.
    if len(gt) and n_pred:
        gts: _GroundTruth | None = _GroundTruth.read(gt, config, warnings)
        has_scene = gt["scene_id"].notna().to_numpy()
        if not has_scene.all():
            _warn(warnings, f"{int((~has_scene).sum())} GT row(s) without scene_id are ignored.")
        g_in = has_scene & gt["scene_id"].isin(pred_scenes).to_numpy()
    else:
        gts = None
        g_in = np.zeros(len(gt), dtype=bool)
    g_rows_in = np.flatnonzero(g_in)
    g_scene_all = gt["scene_id"].to_numpy(dtype=object) if "scene_id" in gt.columns else np.zeros(0)

    tally = _SceneTally()
    scenes: pd.Index = pd.Index([], dtype=object)
    if gts is not None and len(g_rows_in):
        # Scenes in order of first appearance, as gt["scene_id"].unique() in the official loop.
        scene_codes, scenes = pd.factorize(pd.Series(gts.scene[g_rows_in], dtype=object))
        g_codes = np.full(len(gts.scene), -1, dtype=np.int64)
        g_codes[g_rows_in] = scene_codes
        p_codes = np.full(n_pred, -1, dtype=np.int64)
        p_codes[preds.has_scene] = pd.Index(scenes).get_indexer(
            pd.Series(preds.scene[preds.has_scene], dtype=object)
        )
        _check_finite(
            preds.rc,
            np.flatnonzero(p_codes >= 0),
            scenes=preds.scene,
            index=preds.frame.index,
            row_numbers=preds.keep_rows,
            what="prediction",
        )
        _check_finite(
            gts.rc,
            g_rows_in,
            scenes=gts.scene,
            index=gt.index,
            row_numbers=np.arange(len(gt)),
            what="ground-truth",
        )
        gt_groups = _groups(g_codes, len(scenes))
        pred_groups = _groups(p_codes, len(scenes))
        for k, scene in enumerate(scenes):
            _score_scene(
                scene,
                pred_groups[k],
                gt_groups[k],
                preds=preds,
                gts=gts,
                config=config,
                shore_source=(shorelines, shore_root),
                tally=tally,
            )

    if tally.crash_scenes:
        _warn(
            warnings,
            f"{len(tally.crash_scenes)} scene(s) have no prediction left after the LOW drop "
            f"({tally.crash_scenes[:10]}); the official scorer crashes there. Their "
            "HIGH/MEDIUM GT count as false negatives.",
        )
    if tally.missing_shore:
        _warn(
            warnings,
            f"No shoreline for {len(tally.missing_shore)} scored scene(s) "
            f"({tally.missing_shore[:10]}) under {shore_root}; they have no near-shore "
            "predictions. The official scorer would raise FileNotFoundError.",
        )

    pp = np.concatenate(tally.pair_pred) if tally.pair_pred else np.zeros(0, dtype=np.int64)
    pg = np.concatenate(tally.pair_gt) if tally.pair_gt else np.zeros(0, dtype=np.int64)
    if gts is not None:
        length_acc, length_pairs = _length_accuracy(preds.length[pp], gts.length[pg])
        gt_vessel, gt_fishing = gts.is_vessel[pg], gts.is_fishing[pg]
    else:
        length_acc, length_pairs = 0.0, 0
        gt_vessel = gt_fishing = np.zeros(0)
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
            "n_pred_candidates": n_pred,
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


def _length_accuracy(pred_len: np.ndarray, gt_len: np.ndarray) -> tuple[float, int]:
    """``compute_length_performance`` on the TP pairs (in the official pair order)."""
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
    *,
    shore_root: str | Path | None = None,
    shorelines: Mapping[str, np.ndarray | Shoreline] | None = None,
    distance_tolerance_m: float = DISTANCE_TOLERANCE_M,
    shore_tolerance_km: float = NEAR_SHORE_KM,
    drop_low_detect: bool = True,
    costly_dist: bool = True,
    score_all: bool = False,
) -> MetricResult:
    """Score a submission with the official xView3 metric (leaderboard switches by default).

    Args:
        pred: Submission rows: ``detect_scene_row``, ``detect_scene_column`` (pixels),
            ``scene_id``, ``is_vessel``, ``is_fishing``, ``vessel_length_m`` (metres).
        gt: Labels in the official layout (see :func:`prepare`).
        shore_root: Folder of shoreline files; None (and no ``shorelines``) -> shore F1 = 0.
        shorelines: Preloaded shorelines (scene id -> Shoreline or contours).
        distance_tolerance_m: Detection tolerance, metres.
        shore_tolerance_km: GT near-shore tolerance, km; 0 -> shore F1 = 0.
        drop_low_detect: Official ``--drop_low_detect``.
        costly_dist: Official ``--costly_dist``.
        score_all: Official ``--score_all``.

    Returns:
        The six components and ``details`` (see :class:`MetricResult`).

    Raises:
        ValueError: On missing columns, bad labels or non-finite coordinates.
    """
    if len(pred):
        _require(pred, ("is_vessel", "is_fishing"), "prediction")
    prepared = prepare(
        pred,
        gt,
        shore_root=shore_root,
        shorelines=shorelines,
        distance_tolerance_m=distance_tolerance_m,
        shore_tolerance_km=shore_tolerance_km,
        drop_low_detect=drop_low_detect,
        costly_dist=costly_dist,
        score_all=score_all,
    )
    return prepared.score()
