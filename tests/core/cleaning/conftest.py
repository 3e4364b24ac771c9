"""Hand-made label, candidate and truth tables for the cleaning tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import CONFIDENCE_LEVELS
from xview3_pipeline.core.detection.contract import CANDIDATE_COLUMNS, CANDIDATE_DTYPES

LABEL_KEYS = ("scene_id", "row", "col", "is_vessel", "is_fishing", "length")


def make_labels(rows: Sequence[tuple[Any, ...]], *, split: str = "train") -> pd.DataFrame:
    """An ingestion-style labels table.

    Args:
        rows: ``(scene_id, row, col, is_vessel, is_fishing, length_m)`` per label; None is
            a blank field. ``detect_id`` is ``<scene_id>_<i>`` (``i`` the position).
        split: Split of every row.
    """
    n = len(rows)
    cols = {k: [r[i] for r in rows] for i, k in enumerate(LABEL_KEYS)}
    length = np.array([np.nan if v is None else v for v in cols["length"]], dtype=float)
    is_vessel = pd.array(cols["is_vessel"], dtype="boolean")
    is_fishing = pd.array(cols["is_fishing"], dtype="boolean")
    dist = np.full(n, 10.0)
    frame = pd.DataFrame(
        {
            "detect_lat": np.linspace(10.0, 10.1, n),
            "detect_lon": np.linspace(20.0, 20.1, n),
            "vessel_length_m": length,
            "source": pd.Series(["ais"] * n, dtype="str"),
            "detect_scene_row": np.asarray(cols["row"], dtype=np.int64),
            "detect_scene_column": np.asarray(cols["col"], dtype=np.int64),
            "is_vessel": is_vessel,
            "is_fishing": is_fishing,
            "distance_from_shore_km": dist,
            "scene_id": pd.Series(cols["scene_id"], dtype="str"),
            "confidence": pd.Categorical(
                ["HIGH"] * n, categories=list(CONFIDENCE_LEVELS), ordered=True
            ),
            "top": np.full(n, np.nan),
            "left": np.full(n, np.nan),
            "bottom": np.full(n, np.nan),
            "right": np.full(n, np.nan),
            "detect_id": pd.Series(
                [f"{s}_{i}" for i, s in enumerate(cols["scene_id"])], dtype="str"
            ),
            "split": pd.Series([split] * n, dtype="str"),
            "label_file": pd.Series([f"{split}.csv"] * n, dtype="str"),
            "source_row": np.arange(n, dtype=np.int64),
            "is_near_shore": dist <= 2.0,
            "vessel_unknown": is_vessel.isna(),
            "fishing_unknown": is_fishing.isna(),
            "length_unknown": np.isnan(length),
        }
    )
    return frame


def make_candidates(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """A candidate table.

    Args:
        rows: ``(scene_id, row, col, objectness_p, vessel_p, fishing_p, length_m)`` each.
    """
    n = len(rows)
    keys = ("scene_id", "detect_scene_row", "detect_scene_column", "objectness_p")
    keys += ("vessel_p", "fishing_p", "vessel_length_m")
    data: dict[str, Any] = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
    data["x"] = [float(c) + 0.5 for c in data["detect_scene_column"]]
    data["y"] = [float(r) + 0.5 for r in data["detect_scene_row"]]
    data["detect_lat"] = np.linspace(11.0, 11.1, n)
    data["detect_lon"] = np.linspace(21.0, 21.1, n)
    data["distance_from_shore_km"] = np.full(n, 1.0)
    frame = pd.DataFrame({c: data[c] for c in CANDIDATE_COLUMNS})
    return frame.astype({c: CANDIDATE_DTYPES[c] for c in CANDIDATE_COLUMNS})


TRUTH_KEYS = (
    "scene_id",
    "detect_scene_row",
    "detect_scene_column",
    "detect_id",
    "labelled",
    "vessel_flipped",
    "fishing_flipped",
    "length_error_rel",
    "position_error_px",
)


def make_truth(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """A ``synthetic_train_truth``-like table (the columns the cleaning reads, plus kind).

    Args:
        rows: ``(scene_id, row, col, detect_id, labelled, vessel_flipped, fishing_flipped,
            length_error_rel, position_error_px)`` per true object.
    """
    frame = pd.DataFrame.from_records(list(rows), columns=list(TRUTH_KEYS))
    frame = frame.astype(
        {
            "detect_scene_row": np.int64,
            "detect_scene_column": np.int64,
            "labelled": bool,
            "vessel_flipped": bool,
            "fishing_flipped": bool,
            "length_error_rel": float,
            "position_error_px": float,
        }
    )
    frame["kind"] = "vessel"
    return frame
