"""Training labels of the folded train scenes taken from the cleaned table (``train_cleaned``)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from xview3_pipeline.core.training.labels import cleaned_scene_ids, with_cleaned_train_labels
from xview3_pipeline.core.training.train import select_fold

FOLDS = pd.DataFrame(
    {
        "scene_id": ["v1", "v2", "t1", "t2", "h1"],
        "split": ["validation", "validation", "train", "train", "train"],
        "location_id": ["a", "b", "a", "b", "a"],
        "fold": [0, 1, 1, 0, -1],
        "sample_weight": [1.0, 1.0, 0.25, 0.25, 0.0],
        "role": ["train", "train", "train", "train", "holdout"],
    }
)


def _labels(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """Label rows ``(scene_id, detect_id)`` with the columns the trainer reads."""
    n = len(rows)
    return pd.DataFrame(
        {
            "scene_id": [s for s, _ in rows],
            "detect_id": [d for _, d in rows],
            "detect_scene_row": [10] * n,
            "detect_scene_column": [20] * n,
            "is_vessel": pd.array([True] * n, dtype="boolean"),
            "is_fishing": pd.array([False] * n, dtype="boolean"),
            "vessel_length_m": [50.0] * n,
            "confidence": pd.Categorical(["HIGH"] * n, categories=["LOW", "MEDIUM", "HIGH"]),
            "is_near_shore": [False] * n,
        }
    )


RAW = _labels([("v1", "v1a"), ("v2", "v2a"), ("t1", "raw1"), ("t2", "raw2"), ("h1", "rawh")])


def _cleaned() -> pd.DataFrame:
    cleaned = _labels([("t1", "raw1"), ("t1", "t1_pred_0"), ("t2", "raw2")])
    cleaned["confidence"] = ["HIGH", "LOW", "MEDIUM"]
    cleaned["ignore"] = [False, True, True]
    return cleaned


def test_cleaned_scenes_are_the_folded_train_scenes():
    assert cleaned_scene_ids(FOLDS) == ["t1", "t2"]  # the holdout keeps its raw labels


def test_folded_train_scenes_take_the_cleaned_rows():
    table = with_cleaned_train_labels(RAW, _cleaned(), FOLDS)
    by_scene = table.groupby("scene_id")["detect_id"].apply(sorted).to_dict()
    assert by_scene == {
        "v1": ["v1a"],
        "v2": ["v2a"],
        "h1": ["rawh"],
        "t1": ["raw1", "t1_pred_0"],
        "t2": ["raw2"],
    }
    assert table["ignore"].dtype == bool
    assert table.set_index("detect_id")["ignore"].to_dict() == {
        "v1a": False, "v2a": False, "rawh": False, "raw1": False, "t1_pred_0": True, "raw2": True,
    }  # fmt: skip


def test_a_train_scene_without_cleaned_rows_trains_as_background(caplog):
    cleaned = _cleaned()
    with caplog.at_level(logging.WARNING):
        table = with_cleaned_train_labels(RAW, cleaned[cleaned["scene_id"] == "t1"], FOLDS)
    assert "t2" not in set(table["scene_id"]) and "train as background" in caplog.text


def test_cleaned_labels_of_other_scenes_or_without_ignore_are_refused():
    other = _cleaned().assign(scene_id="elsewhere")
    with pytest.raises(ValueError, match="no row of the 2 train scene"):
        with_cleaned_train_labels(RAW, other, FOLDS)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['ignore'\]"):
        with_cleaned_train_labels(RAW, _cleaned().drop(columns="ignore"), FOLDS)


def test_ignore_rows_enter_the_validation_truth_as_low():
    labels = with_cleaned_train_labels(RAW, _cleaned(), FOLDS)
    scenes = FOLDS[["scene_id"]].assign(vh_path="", vv_path="", width=64, height=64)
    data = select_fold(scenes, FOLDS, labels, 0, {})
    truth = data.val_truth.set_index("detect_id")["confidence"].to_dict()
    assert truth == {"v1a": "HIGH", "raw2": "LOW"}
    assert set(data.train_scenes["scene_id"]) == {"v2", "t1"}
