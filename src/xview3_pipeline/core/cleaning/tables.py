"""Column names of the cleaned label table and the checks shared by the cleaning functions."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import LABEL_COLUMNS
from xview3_pipeline.core.io.labels import ADDED_COLUMNS

__all__ = [
    "AGREE_COLUMNS",
    "CLEANING_COLUMNS",
    "LABEL_STATES",
    "LABEL_TABLE_COLUMNS",
    "PREDICTION_COLUMNS",
    "PREDICTION_SOURCE",
    "finite_positions",
    "require_columns",
]

#: States of a cleaned row: a label matched by a confident prediction, a label no confident
#: prediction matched, a confident prediction no label matched.
LABEL_STATES: tuple[str, ...] = ("confirmed", "label_only", "prediction_only")
#: Agreement of a matched label's field with the prediction (pandas ``boolean``, NA unknown).
AGREE_COLUMNS: tuple[str, ...] = ("vessel_agree", "fishing_agree", "length_agree")
#: The matched (or the prediction-only) candidate's values; NaN on ``label_only`` rows.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "pred_objectness_p",
    "pred_vessel_p",
    "pred_fishing_p",
    "pred_length_m",
)
#: Columns :func:`~xview3_pipeline.core.cleaning.clean_labels` adds to the label columns.
CLEANING_COLUMNS: tuple[str, ...] = (
    "label_state",
    *AGREE_COLUMNS,
    *PREDICTION_COLUMNS,
    "cleaning_round",
)
#: Columns of the ingestion ``labels`` table that cleaning needs.
LABEL_TABLE_COLUMNS: tuple[str, ...] = (*LABEL_COLUMNS, *ADDED_COLUMNS)
#: ``source`` of a row added from a prediction.
PREDICTION_SOURCE = "prediction"

_ROW, _COL = "detect_scene_row", "detect_scene_column"


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    """Raise a ValueError naming the columns of ``columns`` that ``frame`` lacks.

    Args:
        frame: The table.
        columns: The required columns.
        what: The table's name in the message (e.g. ``"clean_labels: labels"``).

    Raises:
        ValueError: If a column is missing; the message lists the missing and required ones.
    """
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}; required are {columns}.")


def finite_positions(frame: pd.DataFrame, *, what: str, describe: str = "") -> np.ndarray:
    """The ``(row, column)`` pixel positions of a table, all checked finite.

    Args:
        frame: A table with ``detect_scene_row`` and ``detect_scene_column``.
        what: The table's name in the message.
        describe: Name of a column (e.g. ``detect_id``) whose value identifies the row in the
            message, besides its 0-based position and scene.

    Returns:
        ``(n, 2)`` float64 ``(row, column)`` pixel positions.

    Raises:
        ValueError: On the first row whose position is missing, not a number or not finite;
            the message names the row, its scene and the values, and counts such rows.
    """
    rc = np.stack(
        [
            pd.to_numeric(frame[_ROW], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
            pd.to_numeric(frame[_COL], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
        ],
        axis=1,
    ).reshape(-1, 2)
    bad = ~np.isfinite(rc).all(axis=1)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])

        def value(column: str) -> object:
            return frame[column].to_numpy(dtype=object)[pos] if column in frame.columns else None

        ident = f", {describe} {value(describe)!r}" if describe in frame.columns else ""
        if "label_file" in frame.columns and "source_row" in frame.columns:
            ident += f", {value('label_file')} row {value('source_row')}"
        raise ValueError(
            f"{what} row {pos} (0-based position{ident}, scene {value('scene_id')!r}) has "
            f"{_ROW}={value(_ROW)!r}, {_COL}={value(_COL)!r}; positions must be finite pixel "
            f"coordinates. {int(bad.sum())} such row(s)."
        )
    return rc
