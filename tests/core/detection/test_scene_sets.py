"""The scene sets of the evaluation (core/detection/scene_sets.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from xview3_pipeline.core.detection.scene_sets import select_scenes

INDEX = pd.DataFrame(
    {
        "scene_id": ["v1", "v2", "t1", "t2", "t3", "p1"],
        "split": ["validation", "validation", "train", "train", "train", "public"],
    }
)
FOLDS = pd.DataFrame({"scene_id": ["v1", "v2", "t1", "t3"], "fold": [0, 1, -1, 1]})


@pytest.mark.parametrize(
    ("which", "fold", "expected"),
    [
        ("holdout", None, ["t1"]),
        ("test", None, ["p1"]),
        ("oof", 1, ["t3", "v2"]),
        # train scenes that are neither in a fold nor the holdout
        ("attribute", None, ["t2"]),
    ],
)
def test_each_set_selects_its_scenes(which: str, fold: int | None, expected: list[str]) -> None:
    assert select_scenes(INDEX, FOLDS, which, fold)["scene_id"].tolist() == expected


def test_an_unknown_set_is_named() -> None:
    with pytest.raises(ValueError, match="Unknown scene set 'train'"):
        select_scenes(INDEX, FOLDS, "train")
