"""Reading and validating the official xView3 label CSVs (``train.csv``, ``validation.csv``).

Label files are read as text so that every bad value can be reported with its file, row,
column and value instead of being silently coerced. :func:`validate_labels` checks all rows
with vectorised pandas operations and returns typed, normalised labels (strict mode raises on
the first problems instead).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import (
    CONFIDENCE_LEVELS,
    LABEL_COLUMNS,
    LABEL_FILES,
    NEAR_SHORE_KM,
    SPLITS,
)
from xview3_pipeline.core.errors import LabelValidationError
from xview3_pipeline.core.io.label_rows import BOOL_COLUMNS, check_rows

logger = logging.getLogger(__name__)

#: Columns added to the normalised labels, after the official and any extra columns.
ADDED_COLUMNS: tuple[str, ...] = (
    "split",
    "label_file",
    "source_row",
    "is_near_shore",
    "vessel_unknown",
    "fishing_unknown",
    "length_unknown",
)
#: Columns added to the rejected rows, after the original (text) columns.
REJECT_COLUMNS: tuple[str, ...] = ("split", "label_file", "source_row", "reason")

_FLOAT_COLUMNS = (
    "detect_lat",
    "detect_lon",
    "vessel_length_m",
    "distance_from_shore_km",
    "top",
    "left",
    "bottom",
    "right",
)
_INT_COLUMNS = ("detect_scene_row", "detect_scene_column")
_MAX_REPORTED = 10


@dataclass(frozen=True)
class LabelValidationResult:
    """Outcome of label validation.

    Attributes:
        labels: Valid rows, typed and normalised (official columns, extra columns, then
            ``ADDED_COLUMNS``).
        rejects: Invalid rows (lenient mode), with their original text values and the
            columns ``REJECT_COLUMNS``; always empty in strict mode.
    """

    labels: pd.DataFrame
    rejects: pd.DataFrame


def _confidence_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype(categories=list(CONFIDENCE_LEVELS), ordered=True)


def read_label_file(path: str | Path) -> pd.DataFrame:
    """Read an official label CSV as text.

    Every cell is read as a string (blank cells as ``""``; nothing is converted to NaN), so
    that :func:`validate_labels` can report bad values verbatim. Extra columns are kept.

    Args:
        path: The CSV file.

    Returns:
        One row per label, every column of dtype ``str``; ``attrs["label_file"]`` holds the
        file name.

    Raises:
        FileNotFoundError: If the file does not exist.
        LabelValidationError: If the file is empty, not parseable, or lacks official columns.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Label file {path} does not exist; expected an official xView3 label CSV with "
            f"columns {list(LABEL_COLUMNS)}."
        )
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError as exc:
        raise LabelValidationError(
            f"Label file {path} is empty; expected a header with columns {list(LABEL_COLUMNS)}."
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise LabelValidationError(f"Label file {path} is not a readable CSV: {exc}") from exc
    missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
    if missing:
        raise LabelValidationError(
            f"Label file {path} lacks the official columns {missing}; "
            f"expected all of {list(LABEL_COLUMNS)}."
        )
    frame.attrs["label_file"] = path.name
    logger.info("Read %d label rows from %s.", len(frame), path)
    return frame


def _as_text(series: pd.Series) -> pd.Series:
    """Any column as Python strings, missing values as ``""``."""
    obj = series.astype(object)
    return obj.where(series.notna().to_numpy(), "").astype(str)


def _scenes_table(scenes: pd.DataFrame) -> pd.DataFrame:
    needed = ["scene_id", "split", "width", "height"]
    missing = [c for c in needed if c not in scenes.columns]
    if missing:
        raise ValueError(f"Scene table lacks columns {missing}; expected {needed}.")
    table = pd.DataFrame(
        {
            "scene_id": _as_text(scenes["scene_id"]).to_numpy(),
            "split": _as_text(scenes["split"]).to_numpy(),
            "width": pd.to_numeric(scenes["width"]).to_numpy(dtype="float64"),
            "height": pd.to_numeric(scenes["height"]).to_numpy(dtype="float64"),
        }
    )
    return table.drop_duplicates(["split", "scene_id"], keep="first")


def _combine(
    frames: Mapping[str, pd.DataFrame], label_files: Mapping[str, str] | None
) -> tuple[pd.DataFrame, list[str]]:
    """Concatenate the frames as text, in split order, with split/label_file/source_row."""
    unknown = [s for s in frames if s not in SPLITS]
    if unknown:
        raise ValueError(f"Unknown label splits {unknown}; expected some of {list(SPLITS)}.")
    parts: list[pd.DataFrame] = []
    extras: list[str] = []
    for split in SPLITS:
        if split not in frames:
            continue
        frame = frames[split]
        name = (label_files or {}).get(split) or frame.attrs.get("label_file")
        name = str(name or LABEL_FILES.get(split, f"{split}.csv"))
        missing = [c for c in LABEL_COLUMNS if c not in frame.columns]
        if missing:
            raise LabelValidationError(
                f"Labels of {name} lack the official columns {missing}; "
                f"expected all of {list(LABEL_COLUMNS)}."
            )
        reserved = [c for c in frame.columns if c in ADDED_COLUMNS or c == "reason"]
        if reserved:
            logger.warning(
                "Labels of %s already have the derived columns %s; they are recomputed.",
                name,
                reserved,
            )
        text = pd.DataFrame(
            {
                str(c): _as_text(frame[c]).to_numpy(dtype=object)
                for c in frame.columns
                if c not in reserved
            },
            index=pd.RangeIndex(len(frame)),
        )
        extras.extend(c for c in text.columns if c not in LABEL_COLUMNS and c not in extras)
        text["split"] = split
        text["label_file"] = name
        text["source_row"] = np.arange(len(frame), dtype=np.int64)
        parts.append(text)
    if not parts:
        combined = pd.DataFrame({c: pd.Series(dtype=object) for c in LABEL_COLUMNS})
        combined["split"] = pd.Series(dtype=object)
        combined["label_file"] = pd.Series(dtype=object)
        combined["source_row"] = pd.Series(dtype="int64")
        return combined, extras
    combined = pd.concat(parts, ignore_index=True)
    for col in extras:
        combined[col] = combined[col].fillna("")
    return combined, extras


def _format_problems(table: pd.DataFrame, text: pd.DataFrame, raw: pd.DataFrame) -> str:
    n_rows = table["pos"].nunique()
    lines = [
        f"Invalid labels: {len(table)} problem(s) in {n_rows} row(s) "
        f"(row = 0-based data row, line = CSV line number). First problems:"
    ]
    for rec in table.head(_MAX_REPORTED).itertuples(index=False):
        row = text.loc[rec.pos]
        value = raw.at[rec.pos, rec.column]
        lines.append(
            f"  {row['label_file']} row {row['source_row']} (line {row['source_row'] + 2}), "
            f"column {rec.column}, value {value!r}: {rec.problem}"
        )
    if len(table) > _MAX_REPORTED:
        lines.append(f"  ... and {len(table) - _MAX_REPORTED} more problem(s).")
    lines.append("Fix the rows, or validate with strict=False to set invalid rows aside.")
    return "\n".join(lines)


def _str_column(values: pd.Series, index: pd.Index) -> pd.Series:
    return pd.Series(values.to_numpy(dtype=object), index=index, dtype="str")


def _typed_labels(
    text: pd.DataFrame, parsed: dict[str, pd.Series], extras: list[str], near_shore_km: float
) -> pd.DataFrame:
    """Build the normalised frame from stripped text and parsed columns (valid rows only)."""
    out = pd.DataFrame(index=pd.RangeIndex(len(text)))
    for col in LABEL_COLUMNS:
        if col in _FLOAT_COLUMNS:
            out[col] = parsed[col].to_numpy(dtype="float64")
        elif col in _INT_COLUMNS:
            out[col] = parsed[col].to_numpy(dtype="float64").astype("int64")
        elif col in BOOL_COLUMNS:
            out[col] = pd.array(parsed[col].to_numpy(), dtype="boolean")
        elif col == "confidence":
            out[col] = pd.Categorical(text[col].to_numpy(dtype=object), dtype=_confidence_dtype())
        else:
            out[col] = _str_column(text[col], out.index)
    for col in extras:
        out[col] = _str_column(text[col], out.index)
    out["split"] = _str_column(text["split"], out.index)
    out["label_file"] = _str_column(text["label_file"], out.index)
    out["source_row"] = text["source_row"].to_numpy(dtype="int64")
    dist = out["distance_from_shore_km"]
    out["is_near_shore"] = (dist <= near_shore_km).fillna(False).astype(bool)
    out["vessel_unknown"] = out["is_vessel"].isna().to_numpy(dtype=bool)
    out["fishing_unknown"] = out["is_fishing"].isna().to_numpy(dtype=bool)
    out["length_unknown"] = out["vessel_length_m"].isna().to_numpy(dtype=bool)
    return out


def validate_labels(
    frames: Mapping[str, pd.DataFrame],
    scenes: pd.DataFrame,
    *,
    strict: bool = True,
    near_shore_km: float = NEAR_SHORE_KM,
    label_files: Mapping[str, str] | None = None,
) -> LabelValidationResult:
    """Validate label rows against the scenes and normalise their types.

    Every row is checked (vectorised) for: a plain, known scene id (path-like ids are
    reported and never joined to a path); integral ``detect_scene_row``/``detect_scene_column``
    inside the scene (``0 <= row < height``, ``0 <= column < width``); finite
    ``|detect_lat| <= 90`` and ``|detect_lon| <= 180``; a present, unique ``detect_id`` (every
    occurrence after the first, over all files, in split order); ``confidence`` in
    ``CONFIDENCE_LEVELS``; ``is_vessel``/``is_fishing`` in True/False/blank (also
    ``true``/``false``/``1``/``0``/``1.0``/``0.0``); ``vessel_length_m`` blank or a finite
    number >= 0; ``distance_from_shore_km``, ``top``, ``left``, ``bottom``, ``right`` blank or
    numeric. Values are stripped of surrounding whitespace before the checks.

    Args:
        frames: Label frames by split (``"train"``, ``"validation"``; ``"public"`` allowed),
            as read by :func:`read_label_file` (typed frames are converted to text first).
        scenes: Scene table with columns ``scene_id``, ``split``, ``width``, ``height``
            (pixels), e.g. the scene index.
        strict: Raise on any problem (default); otherwise set invalid rows aside.
        near_shore_km: Threshold (km) of the ``is_near_shore`` flag (``<=``; NaN is False).
        label_files: File name of each split for messages and the ``label_file`` column;
            defaults to ``frame.attrs["label_file"]`` or ``train.csv``/``validation.csv``.

    Returns:
        The normalised valid labels (train rows then validation rows, in file order) and the
        rejected rows with a ``reason`` per row (problems joined with ``"; "``).

    Raises:
        LabelValidationError: In strict mode, if any row is invalid: the message names the
            file, the 0-based row and the CSV line (row + 2), the column, the value and the
            problem for the first 10 problems, and the total count. Also, in both modes, if a
            frame lacks official columns.
        ValueError: If ``scenes`` lacks columns or a split is unknown.
    """
    raw, extras = _combine(frames, label_files)
    text = raw.copy()
    for col in [*LABEL_COLUMNS, *extras]:
        text[col] = raw[col].astype(str).str.strip()
    problems, parsed = check_rows(text, _scenes_table(scenes))
    table = problems.table()

    if len(table) and strict:
        raise LabelValidationError(_format_problems(table, text, raw))

    bad_pos = table["pos"].unique()
    bad = np.zeros(len(text), dtype=bool)
    bad[bad_pos] = True
    good = ~bad

    good_text = text.loc[good].reset_index(drop=True)
    good_parsed = {k: v.loc[good].reset_index(drop=True) for k, v in parsed.items()}
    labels = _typed_labels(good_text, good_parsed, extras, near_shore_km)

    reasons = (
        (table["column"] + ": " + table["problem"]).groupby(table["pos"], sort=True).agg("; ".join)
    )
    rejects = raw.loc[bad, [*LABEL_COLUMNS, *extras, "split", "label_file", "source_row"]].copy()
    rejects["reason"] = reasons.reindex(rejects.index).to_numpy(dtype=object)
    rejects = rejects.reset_index(drop=True)
    for col in rejects.columns:
        rejects[col] = rejects[col].astype("int64" if col == "source_row" else "str")

    if len(rejects):
        logger.warning(
            "Rejected %d of %d label rows (%d problems); see the rejects table.",
            len(rejects),
            len(text),
            len(table),
        )
    logger.info("Validated %d label rows (%d kept).", len(text), len(labels))
    return LabelValidationResult(labels=labels, rejects=rejects)
