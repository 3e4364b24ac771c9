"""Reading and validating the prediction and ground-truth tables of the xView3 scorer.

The official scorer reads CSVs with pandas and crashes on some inputs; this module turns
the two tables into float64 arrays once, with clear errors (missing columns, non-boolean
labels, non-finite coordinates naming scene and row) and logged warnings where the
official code would crash but a defined value exists (``pd.NA`` labels, rows without a
scene id). Labels are 1.0 / 0.0 / NaN (unknown); missing values of every kind (NaN,
None, ``pd.NA``, blank text) become NaN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import (
    FISHING_PROBABILITY_COLUMN,
    SUBMISSION_COLUMNS,
    VESSEL_PROBABILITY_COLUMN,
)
from xview3_pipeline.core.metric.config import MetricConfig

logger = logging.getLogger(__name__)

__all__ = [
    "COL",
    "GT_REQUIRED",
    "PRED_REQUIRED",
    "ROW",
    "GroundTruth",
    "Predictions",
    "at_least",
    "check_finite",
    "float_column",
    "has_pd_na",
    "label_column",
    "label_from_probabilities",
    "record_warning",
    "require_columns",
]

#: Pixel row and column of an object centre.
ROW, COL = SUBMISSION_COLUMNS[0], SUBMISSION_COLUMNS[1]
#: Columns every prediction table needs (labels or probabilities come on top).
PRED_REQUIRED: tuple[str, ...] = (ROW, COL, "scene_id", "vessel_length_m")
#: Columns every ground-truth table needs (the submission columns).
GT_REQUIRED: tuple[str, ...] = tuple(SUBMISSION_COLUMNS)
_SCORED_CONFIDENCE = ("HIGH", "MEDIUM")
_LOW = "LOW"
_BOOL_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0, "": np.nan}
_WARNED_ONCE: set[str] = set()


def record_warning(warnings: list[str], message: str, *, once_key: str | None = None) -> None:
    """Record a warning in ``details`` and log it (once per process for ``once_key``)."""
    warnings.append(message)
    if once_key is None or once_key not in _WARNED_ONCE:
        logger.warning(message)
        if once_key is not None:
            _WARNED_ONCE.add(once_key)


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    """Raise a ValueError naming the ``columns`` that ``frame`` (the ``what`` table) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The {what} table lacks the columns {missing}; it has {list(frame.columns)}."
        )


def float_column(series: pd.Series, what: str) -> np.ndarray:
    """A numeric column as float64, missing values (NaN, None, pd.NA) as NaN."""
    try:
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
    except (TypeError, ValueError):
        pass
    try:
        numeric = pd.to_numeric(series, errors="raise")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The {what} column {series.name!r} is not numeric: {exc}") from exc
    return np.asarray(numeric.to_numpy(dtype=np.float64, na_value=np.nan))


def has_pd_na(series: pd.Series) -> bool:
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


def label_column(series: pd.Series, what: str, *, strict: bool) -> np.ndarray:
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
    return np.asarray(values)


def check_finite(
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
            f"{ROW}={rc[pos, 0]!r}, {COL}={rc[pos, 1]!r}; "
            f"{int(bad.sum())} such row(s) take part in matching. The official scorer fails "
            "on these too."
        )


@dataclass
class Predictions:
    """Prediction columns as arrays (rows kept after the objectness filter).

    Attributes:
        frame: The kept rows of the input table.
        keep_rows: ``(n,)`` positions (0-based) of the kept rows in the input table.
        scene: ``(n,)`` scene ids (object; None/NaN where missing).
        has_scene: ``(n,)`` whether the row has a scene id.
        rc: ``(n, 2)`` float64 (row, column) pixel positions.
        length: ``(n,)`` predicted lengths, metres (NaN where missing).
        is_vessel: ``(n,)`` labels 1.0/0.0/NaN, or None without the column.
        is_fishing: ``(n,)`` labels 1.0/0.0/NaN, or None without the column.
        vessel_probability: ``(n,)`` P(vessel), or None without the column.
        fishing_probability: ``(n,)`` P(fishing), or None without the column.
    """

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
    ) -> Predictions:
        """Read a prediction table.

        Args:
            pred: Predictions (see :func:`~xview3_pipeline.core.metric.prepare`).
            objectness_threshold: Keep only rows with ``objectness_column >=`` this
                (NaN scores dropped); None keeps every row.
            objectness_column: Detection-score column for ``objectness_threshold``.
            warnings: Messages are appended here (and logged).

        Returns:
            The arrays.

        Raises:
            ValueError: On missing columns or non-boolean text labels.
        """
        keep_rows = np.arange(len(pred))
        if objectness_threshold is not None and len(pred):
            require_columns(pred, (objectness_column,), "prediction")
            objectness = float_column(pred[objectness_column], "prediction")
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
        require_columns(pred, PRED_REQUIRED, "prediction")
        has_scene = pred["scene_id"].notna().to_numpy()
        if not has_scene.all():
            record_warning(
                warnings,
                f"{int((~has_scene).sum())} prediction row(s) without scene_id are ignored.",
            )
        for column in ("is_vessel", "is_fishing", "vessel_length_m"):
            if column in pred.columns and has_pd_na(pred[column]):
                record_warning(
                    warnings,
                    f"Prediction column {column!r} holds pd.NA; treated as NaN (a wrong label, "
                    "a NaN length). The official scorer would crash on it.",
                )

        def label(column: str) -> np.ndarray | None:
            if column not in pred.columns:
                return None
            return label_column(pred[column], "prediction", strict=False)

        def probability(column: str) -> np.ndarray | None:
            if column not in pred.columns:
                return None
            return float_column(pred[column], "prediction")

        rc = np.stack(
            [float_column(pred[ROW], "prediction"), float_column(pred[COL], "prediction")],
            axis=1,
        )
        return cls(
            frame=pred,
            keep_rows=keep_rows,
            scene=pred["scene_id"].to_numpy(dtype=object),
            has_scene=has_scene,
            rc=rc,
            length=float_column(pred["vessel_length_m"], "prediction"),
            is_vessel=label("is_vessel"),
            is_fishing=label("is_fishing"),
            vessel_probability=probability(VESSEL_PROBABILITY_COLUMN),
            fishing_probability=probability(FISHING_PROBABILITY_COLUMN),
        )


@dataclass
class GroundTruth:
    """GT columns as arrays, with the confidence and near-shore masks.

    Attributes:
        scene: ``(m,)`` scene ids.
        rc: ``(m, 2)`` float64 (row, column) pixel positions.
        is_vessel: ``(m,)`` labels 1.0/0.0/NaN (unknown).
        is_fishing: ``(m,)`` labels 1.0/0.0/NaN (unknown).
        length: ``(m,)`` lengths, metres (NaN unknown).
        scored: ``(m,)`` rows that are scored (HIGH/MEDIUM; every row with ``score_all``).
        low: ``(m,)`` LOW rows (none with ``score_all``).
        near_shore: ``(m,)`` rows at most ``shore_tolerance_km`` from shore (none when
            the shore term is off).
    """

    scene: np.ndarray
    rc: np.ndarray
    is_vessel: np.ndarray
    is_fishing: np.ndarray
    length: np.ndarray
    scored: np.ndarray
    low: np.ndarray
    near_shore: np.ndarray

    @classmethod
    def read(
        cls, gt: pd.DataFrame, config: MetricConfig, *, shore_enabled: bool, warnings: list[str]
    ) -> GroundTruth:
        """Read a ground-truth table in the official layout.

        Args:
            gt: Labels (see :func:`~xview3_pipeline.core.metric.prepare`).
            config: The scorer switches (``score_all``, ``shore_tolerance_km``).
            shore_enabled: Whether the shore term is computed (``distance_from_shore_km``
                is then required).
            warnings: Messages are appended here (and logged).

        Returns:
            The arrays.

        Raises:
            ValueError: On missing columns or labels other than True, False or blank.
        """
        needed = GT_REQUIRED + (() if config.score_all else ("confidence",))
        needed += ("distance_from_shore_km",) if shore_enabled else ()
        require_columns(gt, needed, "ground-truth")
        for column in ("is_vessel", "is_fishing", "vessel_length_m"):
            if has_pd_na(gt[column]):
                record_warning(
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
        if shore_enabled:
            distance_km = float_column(gt["distance_from_shore_km"], "ground-truth")
            with np.errstate(invalid="ignore"):
                near_shore = distance_km <= config.shore_tolerance_km
        rc = np.stack(
            [float_column(gt[ROW], "ground-truth"), float_column(gt[COL], "ground-truth")],
            axis=1,
        )
        return cls(
            scene=gt["scene_id"].to_numpy(dtype=object),
            rc=rc,
            is_vessel=label_column(gt["is_vessel"], "ground-truth", strict=True),
            is_fishing=label_column(gt["is_fishing"], "ground-truth", strict=True),
            length=float_column(gt["vessel_length_m"], "ground-truth"),
            scored=scored,
            low=low,
            near_shore=near_shore,
        )


def at_least(probability: np.ndarray, threshold: float) -> np.ndarray:
    """``probability >= threshold`` as a bool array; a NaN probability gives False."""
    with np.errstate(invalid="ignore"):
        return np.asarray(probability, dtype=np.float64) >= threshold


def label_from_probabilities(
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
    require_columns(pred, (VESSEL_PROBABILITY_COLUMN, FISHING_PROBABILITY_COLUMN), "prediction")
    out = pred.copy()
    vessel = at_least(float_column(pred[VESSEL_PROBABILITY_COLUMN], "prediction"), vessel_threshold)
    fishing = at_least(
        float_column(pred[FISHING_PROBABILITY_COLUMN], "prediction"), fishing_threshold
    )
    if fishing_requires_vessel:
        fishing &= vessel
    out["is_vessel"] = vessel
    out["is_fishing"] = fishing
    return out
