"""Fixtures of the official scorer's output and builders of tiny label tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[3]
LOCAL_FIXTURES = REPO / "tests" / "data" / "xview3_metric"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "xview3_metric"
CASES = ("case1", "case2")
#: The official flag sets of expected.json (meta.official_flags) as MetricConfig fields
#: (``shore: False``: no shoreline folder).
VARIANTS: dict[str, dict[str, object]] = {
    "leaderboard": {},
    "no_shoreline": {"shore": False},
    "no_drop_low_detect": {"drop_low_detect": False},
    "plain_distance_matching": {"costly_dist": False},
    "score_all": {"score_all": True},
}
SCENE = "0123456789abcdefv"
SCENE_B = "0123456789abcdeft"
SCENE_C = "fedcba9876543210v"


def load_case(root: Path, case: str) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Predictions, labels and shoreline folder of one fixture case."""
    pred = pd.read_csv(root / f"{case}_pred.csv", index_col=False)
    gt = pd.read_csv(root / f"{case}_gt.csv", index_col=False)
    return pred, gt, root / f"{case}_shoreline"


def make_gt(rows: list[dict[str, object]]) -> pd.DataFrame:
    """GT rows with defaults (HIGH, vessel, non-fishing, 50 m, far from shore)."""
    base = {
        "scene_id": SCENE,
        "is_vessel": True,
        "is_fishing": False,
        "vessel_length_m": 50.0,
        "distance_from_shore_km": 50.0,
        "confidence": "HIGH",
    }
    return pd.DataFrame([base | r for r in rows])


def make_pred(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Prediction rows with defaults (vessel, non-fishing, 50 m)."""
    base = {"scene_id": SCENE, "is_vessel": True, "is_fishing": False, "vessel_length_m": 50.0}
    return pd.DataFrame([base | r for r in rows])


def rc(row: float, col: float) -> dict[str, float]:
    """A (row, column) pixel position as label columns."""
    return {"detect_scene_row": row, "detect_scene_column": col}
