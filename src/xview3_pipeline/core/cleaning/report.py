"""How well cleaning did, scored against the synthetic generator's truth.

The generator knows every true object of a train scene and how its label was damaged (C1's
``synthetic_train_truth``): whether a label exists, whether its known vessel or fishing value
is flipped, how far it was moved and how wrong its length is. Each measure here is a
detection problem with a precise *positive* (something wrong, or right, in the labels) and
a precise *flag* (what cleaning did about it); precision and recall are the usual
``tp / flagged`` and ``tp / positive``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from xview3_pipeline.core.cleaning.config import CleaningConfig
from xview3_pipeline.core.cleaning.tables import (
    CLEANING_COLUMNS,
    LABEL_STATES,
    finite_positions,
    require_columns,
)
from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.metric.matching import group_rows, match_points

__all__ = [
    "MEASURES",
    "REPORT_COLUMNS",
    "TRUTH_COLUMNS",
    "cleaning_report",
    "truth_flag",
    "truth_status",
]

logger = logging.getLogger(__name__)

_CONFIRMED, _LABEL_ONLY, _PREDICTION_ONLY = LABEL_STATES

#: Columns of the truth table the report reads (C1's ``synthetic_train_truth``).
TRUTH_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "detect_id",
    "detect_scene_row",
    "detect_scene_column",
    "labelled",
    "vessel_flipped",
    "fishing_flipped",
    "length_error_rel",
)
_CLEANED_NEEDED = (
    "scene_id",
    "detect_id",
    "detect_scene_row",
    "detect_scene_column",
    "vessel_unknown",
    "fishing_unknown",
    "length_unknown",
    *CLEANING_COLUMNS,
)
#: Measure name -> (what is a positive, what is flagged), as written to the report.
MEASURES: Mapping[str, tuple[str, str]] = {
    "missing_found": (
        "a true object without a label",
        "a prediction_only row (a positive when it matches an unlabelled true object)",
    ),
    "vessel_wrong_flagged": (
        "a confirmed label whose known is_vessel is flipped",
        "vessel_agree is False",
    ),
    "fishing_wrong_flagged": (
        "a confirmed label whose known is_fishing is flipped",
        "fishing_agree is False",
    ),
    "length_wrong_flagged": (
        "a confirmed label whose known length is off by more than length_tolerance_rel",
        "length_agree is False",
    ),
    "position_wrong_flagged": (
        "a label at or beyond tolerance_m from its true object, or with no true object",
        "label_only",
    ),
    "correct_kept": (
        "a label within tolerance_m of its true object, no flipped flag, length within "
        "length_tolerance_rel (or blank)",
        "confirmed",
    ),
}
#: Columns of the report, in order.
REPORT_COLUMNS: tuple[str, ...] = (
    "cleaning_round",
    "measure",
    "n_positive",
    "n_flagged",
    "n_true_positive",
    "precision",
    "recall",
    "positive",
    "flagged",
)


def truth_flag(series: pd.Series) -> np.ndarray:
    """A bool column of the truth table (bools, or True/False text from a CSV; NA False)."""
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype("str").str.strip().str.lower()
        series = text.map({"true": True, "false": False, "1": True, "0": False}).astype(object)
    return pd.array(series, dtype="boolean").to_numpy(dtype=bool, na_value=False)


def _check_truth(truth: pd.DataFrame) -> pd.DataFrame:
    require_columns(truth, TRUTH_COLUMNS, what="cleaning_report: truth")
    truth = truth.reset_index(drop=True)
    dup = truth["detect_id"].duplicated()
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(
            f"cleaning_report: truth row {pos} repeats detect_id {truth.at[pos, 'detect_id']!r}; "
            "each true object has one row."
        )
    return truth


def truth_status(
    cleaned: pd.DataFrame, truth: pd.DataFrame, config: CleaningConfig | None = None
) -> pd.DataFrame:
    """Per cleaned label row, what the truth says about its label.

    Args:
        cleaned: Rows of :func:`~xview3_pipeline.core.cleaning.clean_labels` (any rounds).
        truth: The truth table (:data:`TRUTH_COLUMNS`).
        config: The tolerances (defaults: :class:`CleaningConfig`'s).

    Returns:
        One row per row of ``cleaned`` (same index) with bool columns ``has_truth`` (a truth
        row shares its ``detect_id``; False on prediction rows), ``position_wrong`` (no true
        object, or the true object at ``>= tolerance_m``), ``vessel_wrong``,
        ``fishing_wrong`` (the known value is flipped), ``length_wrong`` (the known length is
        off by more than ``length_tolerance_rel``), ``correct`` (a label with none of these)
        and float ``position_error_m`` (label to true object, NaN without one).
    """
    config = config or CleaningConfig()
    truth = _check_truth(truth)
    is_label = cleaned["label_state"].astype(object).to_numpy() != _PREDICTION_ONLY
    index = pd.Index(truth["detect_id"].astype(object))
    t = np.where(is_label, index.get_indexer(cleaned["detect_id"].astype(object)), -1)
    has = t >= 0
    truth_rc = finite_positions(truth, what="cleaning_report: truth", describe="detect_id")
    label_rc = finite_positions(cleaned, what="cleaning_report: cleaned", describe="detect_id")
    error_m = np.full(len(cleaned), np.nan)
    error_m[has] = np.hypot(*(label_rc[has] - truth_rc[t[has]]).T) * PIX_TO_M
    vessel_known = ~cleaned["vessel_unknown"].to_numpy(dtype=bool)
    fishing_known = ~cleaned["fishing_unknown"].to_numpy(dtype=bool)
    length_known = ~cleaned["length_unknown"].to_numpy(dtype=bool)
    length_error = pd.to_numeric(truth["length_error_rel"]).to_numpy(dtype=float, na_value=np.nan)

    def taken(values: np.ndarray) -> np.ndarray:
        """A per-truth-row flag on the cleaned rows (False without a truth row)."""
        out = np.zeros(len(cleaned), dtype=bool)
        out[has] = values[t[has]]
        return out

    out = pd.DataFrame(index=cleaned.index)
    out["has_truth"] = has
    out["position_error_m"] = error_m
    out["position_wrong"] = is_label & ~(has & (error_m < config.tolerance_m))
    out["vessel_wrong"] = vessel_known & taken(truth_flag(truth["vessel_flipped"]))
    out["fishing_wrong"] = fishing_known & taken(truth_flag(truth["fishing_flipped"]))
    out["length_wrong"] = length_known & taken(np.abs(length_error) > config.length_tolerance_rel)
    out["correct"] = is_label & ~(
        out["position_wrong"] | out["vessel_wrong"] | out["fishing_wrong"] | out["length_wrong"]
    )
    return out


def _measure(
    round_index: int, name: str, positive: np.ndarray, flagged: np.ndarray, tp: int | None = None
) -> dict[str, object]:
    """One report row; ``tp`` defaults to ``positive & flagged``."""
    n_pos, n_flag = int(positive.sum()), int(flagged.sum())
    tp = int((positive & flagged).sum()) if tp is None else int(tp)
    return {
        "cleaning_round": int(round_index),
        "measure": name,
        "n_positive": n_pos,
        "n_flagged": n_flag,
        "n_true_positive": tp,
        "precision": tp / n_flag if n_flag else np.nan,
        "recall": tp / n_pos if n_pos else np.nan,
        "positive": MEASURES[name][0],
        "flagged": MEASURES[name][1],
    }


def _missing_found(
    rows: pd.DataFrame, truth: pd.DataFrame, scenes: pd.Index, tolerance_m: float
) -> tuple[int, int, int]:
    """(unlabelled true objects, prediction-only rows, matched pairs), matched per scene."""
    pred = rows[rows["label_state"].astype(object) == _PREDICTION_ONLY]
    missing = truth[~truth_flag(truth["labelled"])]
    pred_rc = finite_positions(pred, what="cleaning_report: cleaned", describe="detect_id")
    truth_rc = finite_positions(missing, what="cleaning_report: truth", describe="detect_id")
    pred_groups = group_rows(scenes.get_indexer(pred["scene_id"].astype(object)), len(scenes))
    truth_groups = group_rows(scenes.get_indexer(missing["scene_id"].astype(object)), len(scenes))
    tp = 0
    for pi, gi in zip(pred_groups, truth_groups, strict=True):
        if len(pi) and len(gi):
            tp += len(match_points(pred_rc[pi], truth_rc[gi], tolerance_m=tolerance_m)[0])
    return len(missing), len(pred), tp


def cleaning_report(
    cleaned: pd.DataFrame,
    truth: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    config: CleaningConfig | None = None,
) -> pd.DataFrame:
    """Precision and recall of cleaning against the synthetic truth, per measure and round.

    Scenes are those of ``labels``; truth rows of other scenes are left out. A label row of
    ``cleaned`` is tied to its true object by ``detect_id``; the label-to-object distance is
    computed from their pixel positions. Every measure counts ``n_positive``,
    ``n_flagged`` and ``n_true_positive`` (flagged positives); ``precision = tp /
    n_flagged`` and ``recall = tp / n_positive`` (NaN when the denominator is 0):

    - ``missing_found``: positive = a true object with no label (``labelled`` False);
      flagged = a ``prediction_only`` row; tp = pairs of the one-to-one matching
      (:func:`match_points`, strictly within ``tolerance_m``) of the prediction-only rows
      against the unlabelled true objects, scene by scene.
    - ``vessel_wrong_flagged`` / ``fishing_wrong_flagged``: over ``confirmed`` rows;
      positive = the label's known value is wrong (``vessel_flipped`` / ``fishing_flipped``);
      flagged = ``vessel_agree`` / ``fishing_agree`` is False (the field is blanked for
      training). Unmatched labels are not checked field by field: they are ignored whole.
    - ``length_wrong_flagged``: over ``confirmed`` rows; positive = the known length is off
      by more than ``length_tolerance_rel`` (``|length_error_rel|``); flagged =
      ``length_agree`` is False.
    - ``position_wrong_flagged``: over label rows; positive = the label lies at or beyond
      ``tolerance_m`` from its true object (or has none), so a perfect detector could not
      confirm it; flagged = ``label_only``.
    - ``correct_kept``: over label rows; positive = a correct label (within ``tolerance_m``,
      neither flag flipped, length within ``length_tolerance_rel`` or blank); flagged =
      ``confirmed`` (its objectness is kept for training).

    Args:
        cleaned: Output of :func:`~xview3_pipeline.core.cleaning.clean_labels`, one or
            several rounds (``cleaning_round``).
        truth: ``synthetic_train_truth`` (:data:`TRUTH_COLUMNS` at least; bool columns may
            be True/False text). Empty (real data): an empty report.
        labels: The labels that were cleaned (their scenes and ``detect_id`` values).
        config: The tolerances used for cleaning (defaults: :class:`CleaningConfig`'s).

    Returns:
        :data:`REPORT_COLUMNS`: one row per round and measure (:data:`MEASURES` order),
        with the definitions of positive and flagged as text.

    Raises:
        ValueError: On a missing column, a repeated truth ``detect_id``, a label row of
            ``cleaned`` whose ``detect_id`` is not in ``labels``, or a position that is not
            finite.
    """
    config = config or CleaningConfig()
    require_columns(cleaned, _CLEANED_NEEDED, what="cleaning_report")
    require_columns(labels, ("scene_id", "detect_id"), what="cleaning_report: labels")
    if len(truth) == 0:
        logger.warning("cleaning_report: no truth table (real data?); the report is empty.")
        return pd.DataFrame({c: pd.Series(dtype=object) for c in REPORT_COLUMNS})
    is_label = cleaned["label_state"].astype(object) != _PREDICTION_ONLY
    foreign = is_label & ~cleaned["detect_id"].isin(labels["detect_id"])
    if foreign.any():
        pos = int(np.flatnonzero(foreign.to_numpy())[0])
        raise ValueError(
            f"cleaning_report: cleaned row {pos} has detect_id "
            f"{cleaned['detect_id'].iloc[pos]!r}, which is not in the labels; pass the labels "
            "that were cleaned."
        )
    scenes = pd.Index(pd.unique(labels["scene_id"].astype(object)))
    truth = _check_truth(truth)
    truth = truth[truth["scene_id"].astype(object).isin(scenes)].reset_index(drop=True)
    status = truth_status(cleaned, truth, config)
    state = cleaned["label_state"].astype(object).to_numpy()
    records = []
    for round_index in sorted(pd.unique(cleaned["cleaning_round"]).tolist()):
        in_round = cleaned["cleaning_round"].to_numpy() == round_index
        n_missing, n_pred, tp = _missing_found(cleaned[in_round], truth, scenes, config.tolerance_m)
        records.append(
            _measure(
                round_index, "missing_found", np.ones(n_missing, bool), np.ones(n_pred, bool), tp
            )
        )
        confirmed = in_round & (state == _CONFIRMED)
        labelled = in_round & (state != _PREDICTION_ONLY)
        for name, wrong, agree in (
            ("vessel_wrong_flagged", "vessel_wrong", "vessel_agree"),
            ("fishing_wrong_flagged", "fishing_wrong", "fishing_agree"),
            ("length_wrong_flagged", "length_wrong", "length_agree"),
        ):
            disagree = ~pd.array(cleaned[agree], dtype="boolean").to_numpy(bool, na_value=True)
            records.append(
                _measure(
                    round_index,
                    name,
                    confirmed & status[wrong].to_numpy(),
                    confirmed & disagree,
                )
            )
        records.append(
            _measure(
                round_index,
                "position_wrong_flagged",
                labelled & status["position_wrong"].to_numpy(),
                in_round & (state == _LABEL_ONLY),
            )
        )
        records.append(
            _measure(
                round_index, "correct_kept", labelled & status["correct"].to_numpy(), confirmed
            )
        )
    report = pd.DataFrame.from_records(records, columns=list(REPORT_COLUMNS))
    for row in report.itertuples(index=False):
        logger.info(
            "Cleaning round %d, %s: precision %.3f, recall %.3f (%d flagged, %d positive).",
            row.cleaning_round,
            row.measure,
            row.precision,
            row.recall,
            row.n_flagged,
            row.n_positive,
        )
    return report
