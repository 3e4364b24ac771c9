"""Row checks of the official label columns, vectorised over all rows of all files.

:func:`check_rows` runs every check of :func:`xview3_pipeline.core.io.labels.validate_labels`
on stripped text and returns each problem with its row position and column, plus the parsed
numeric and boolean columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import CONFIDENCE_LEVELS
from xview3_pipeline.core.errors import InvalidSceneIdError
from xview3_pipeline.core.io import layout

#: Boolean label columns.
BOOL_COLUMNS: tuple[str, ...] = ("is_vessel", "is_fishing")

_BOOL_TEXT: dict[str, bool] = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
}


def _parse_float(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse stripped text as float64: (values with NaN for blank/bad, blank mask, bad mask)."""
    blank = text == ""
    values = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
    bad = ~blank & values.isna()
    return values, blank, bad


def _is_plain_id(value: str) -> bool:
    try:
        layout.validate_scene_id(value)
    except InvalidSceneIdError:
        return False
    return True


class RowProblems:
    """Accumulates (row position, column, problem) triples from vectorised masks."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: pd.Series | np.ndarray, column: str, problem: str | pd.Series) -> None:
        """Record ``problem`` (one text, or one per row) in ``column`` for the rows of ``mask``."""
        mask_arr = np.asarray(mask, dtype=bool)
        pos = np.flatnonzero(mask_arr)
        if pos.size == 0:
            return
        if isinstance(problem, pd.Series):
            descr = problem.to_numpy(dtype=object)[pos]
        else:
            descr = np.full(pos.size, problem, dtype=object)
        self.parts.append(
            pd.DataFrame({"pos": pos, "order": len(self.parts), "column": column, "problem": descr})
        )

    def table(self) -> pd.DataFrame:
        """Columns ``pos``, ``order``, ``column``, ``problem``, sorted by row then check order."""
        if not self.parts:
            return pd.DataFrame(
                {
                    "pos": pd.Series(dtype="int64"),
                    "order": pd.Series(dtype="int64"),
                    "column": pd.Series(dtype=object),
                    "problem": pd.Series(dtype=object),
                }
            )
        table = pd.concat(self.parts, ignore_index=True)
        return table.sort_values(["pos", "order"], kind="stable").reset_index(drop=True)


def _check_scene_ids(
    text: pd.DataFrame, scenes: pd.DataFrame, problems: RowProblems
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Scene id: a plain identifier (checked once per distinct value), then a known scene.

    Returns:
        The width and height of each row's scene (NaN when unknown) and the known mask.
    """
    scene_id = text["scene_id"]
    uniq = pd.unique(scene_id.to_numpy(dtype=object))
    bad_ids = [v for v in uniq if not _is_plain_id(v)]
    invalid_id = scene_id.isin(bad_ids)
    problems.add(
        invalid_id,
        "scene_id",
        "invalid scene id: expected a plain identifier of letters, digits, '_' and '-' "
        "(no path separators, no '..')",
    )
    keyed = text[["split", "scene_id"]].merge(
        scenes, on=["split", "scene_id"], how="left", validate="many_to_one"
    )
    width = pd.Series(keyed["width"].to_numpy(), index=text.index)
    height = pd.Series(keyed["height"].to_numpy(), index=text.index)
    known = width.notna()
    problems.add(
        ~invalid_id & ~known,
        "scene_id",
        "unknown scene: no scene folder with this id in split '" + text["split"] + "'",
    )
    return width, height, known


def _check_pixels(
    text: pd.DataFrame,
    problems: RowProblems,
    parsed: dict[str, pd.Series],
    size: tuple[pd.Series, pd.Series, pd.Series],
) -> None:
    """Pixel position: integral, inside the scene (``size`` = width, height, known)."""
    width, height, known = size
    for col, dim, limit in (
        ("detect_scene_row", "height", height),
        ("detect_scene_column", "width", width),
    ):
        values, blank, bad = _parse_float(text[col])
        problems.add(blank, col, "missing value: expected an integer pixel index")
        problems.add(bad, col, "not a number: expected an integer pixel index")
        nonfinite = ~blank & ~bad & ~np.isfinite(values)
        problems.add(nonfinite, col, "not finite: expected an integer pixel index")
        finite = np.isfinite(values)
        nonint = finite & (values != np.floor(values))
        problems.add(nonint, col, "not an integer: expected an integer pixel index")
        integral = finite & ~nonint
        outside = integral & known & ~((values >= 0) & (values < limit))
        limit_text = limit.astype("Int64").astype(str)
        problems.add(
            outside,
            col,
            f"outside the scene: expected 0 <= value < {dim} " + limit_text,
        )
        parsed[col] = values


def _check_coordinates(
    text: pd.DataFrame, problems: RowProblems, parsed: dict[str, pd.Series]
) -> None:
    """Latitude and longitude: present, numeric, within +-90 and +-180 degrees."""
    for col, bound in (("detect_lat", 90.0), ("detect_lon", 180.0)):
        values, blank, bad = _parse_float(text[col])
        problems.add(blank, col, "missing value: expected a coordinate in degrees")
        problems.add(bad, col, "not a number: expected a coordinate in degrees")
        out = ~blank & ~bad & ~(values.abs() <= bound)
        problems.add(out, col, f"out of range: expected |value| <= {bound:g} degrees")
        parsed[col] = values


def _check_ids_and_classes(
    text: pd.DataFrame, problems: RowProblems, parsed: dict[str, pd.Series]
) -> None:
    """Detection id (present, unique over all files), confidence and the booleans."""
    det = text["detect_id"]
    det_blank = det == ""
    problems.add(det_blank, "detect_id", "missing value: expected a unique detection id")
    dup = ~det_blank & det.duplicated(keep="first")
    problems.add(dup, "detect_id", "duplicate detect_id (already used by an earlier row)")

    conf_ok = text["confidence"].isin(list(CONFIDENCE_LEVELS))
    problems.add(
        ~conf_ok, "confidence", f"invalid confidence: expected one of {list(CONFIDENCE_LEVELS)}"
    )

    for col in BOOL_COLUMNS:
        lowered = text[col].str.lower()
        ok = (text[col] == "") | lowered.isin(list(_BOOL_TEXT))
        problems.add(~ok, col, "invalid boolean: expected True, False or blank")
        parsed[col] = lowered.map(_BOOL_TEXT).astype("boolean")


def _check_measures(
    text: pd.DataFrame, problems: RowProblems, parsed: dict[str, pd.Series]
) -> None:
    """Length (blank or finite and >= 0) and the other numeric columns (blank or numeric)."""
    values, blank, bad = _parse_float(text["vessel_length_m"])
    problems.add(bad, "vessel_length_m", "not a number: expected a length in metres or blank")
    nonfinite = ~blank & ~bad & ~np.isfinite(values)
    problems.add(nonfinite, "vessel_length_m", "not finite: expected a length in metres or blank")
    negative = np.isfinite(values) & (values < 0)
    problems.add(negative, "vessel_length_m", "negative length: expected a length >= 0 m")
    parsed["vessel_length_m"] = values

    for col in ("distance_from_shore_km", "top", "left", "bottom", "right"):
        values, _, bad = _parse_float(text[col])
        problems.add(bad, col, "not a number: expected a number or blank")
        parsed[col] = values


def check_rows(
    text: pd.DataFrame, scenes: pd.DataFrame
) -> tuple[RowProblems, dict[str, pd.Series]]:
    """Run every row check on stripped text.

    Args:
        text: Label rows as stripped strings (official columns plus ``split``), index
            ``0..n-1``.
        scenes: Scene table with text ``scene_id``/``split`` and float ``width``/``height``,
            unique per (split, scene id).

    Returns:
        The problems and the parsed columns (float64 coordinates, pixel indices, length and
        measures; nullable booleans).
    """
    problems = RowProblems(len(text))
    parsed: dict[str, pd.Series] = {}
    size = _check_scene_ids(text, scenes, problems)
    _check_pixels(text, problems, parsed, size)
    _check_coordinates(text, problems, parsed)
    _check_ids_and_classes(text, problems, parsed)
    _check_measures(text, problems, parsed)
    return problems, parsed
