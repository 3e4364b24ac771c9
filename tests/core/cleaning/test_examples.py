"""Example windows, windowed crops and the drawn figures of cleaned labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tests.core.cleaning.conftest import make_candidates, make_labels, make_truth
from tests.core.rasters import write_scene
from xview3_pipeline.core.cleaning import (
    EXAMPLE_COLUMNS,
    CleaningConfig,
    clean_labels,
    cleaning_examples,
    read_example_crops,
    scene_cleaning_examples,
    select_examples,
    truth_object_status,
)

NAN = float("nan")


@pytest.fixture
def cleaned() -> pd.DataFrame:
    labels = make_labels(
        [
            ("s1", 20, 20, True, False, 50.0),
            ("s1", 30, 40, True, False, 40.0),
            ("s1", 60, 10, True, True, 30.0),
        ]
    )
    candidates = make_candidates(
        [("s1", 20, 21, 0.9, 0.9, 0.1, 52.0), ("s1", 40, 40, 0.9, 0.1, 0.1, 41.0)]
    )
    return clean_labels(labels, candidates, CleaningConfig(tolerance_m=50.0))


def test_select_examples(cleaned: pd.DataFrame) -> None:
    windows = select_examples(cleaned, per_state=2, crop_size=16)
    assert list(windows.columns) == list(EXAMPLE_COLUMNS)
    assert sorted(windows["example"]) == [
        "confirmed_0",
        "label_only_0",
        "label_only_1",
        "prediction_only_0",
    ]
    found = windows.set_index("example").loc["prediction_only_0"]
    assert (found["detect_id"], found["row0"], found["col0"], found["size"]) == (
        "s1_pred_0",
        32,
        32,
        16,
    )
    assert windows.equals(select_examples(cleaned, per_state=2, crop_size=16))
    assert (windows["centre"] + "_" == windows["example"].str[:-1]).all()
    with pytest.raises(ValueError, match="cleaning_round 3 is not in the table"):
        select_examples(cleaned, cleaning_round=3)
    with pytest.raises(ValueError, match="crop_size >= 8"):
        select_examples(cleaned, crop_size=4)


def test_select_examples_around_mislabelled_truth(cleaned: pd.DataFrame) -> None:
    truth = make_truth(
        [
            ("s1", 20, 20, "s1_0", True, False, False, 0.0, 0.0),
            ("s1", 30, 40, "s1_1", True, True, False, 0.0, 0.0),
            ("s1", 45, 44, "s1_t2", False, False, False, NAN, NAN),
            ("s9", 45, 44, "s9_t0", False, False, False, NAN, NAN),  # not cleaned
        ]
    )
    windows = select_examples(cleaned, truth, per_state=3, crop_size=10).set_index("example")
    assert windows.index[-2:].tolist() == ["truth_label_wrong_0", "truth_unlabelled_0"]
    wrong, missing = windows.loc["truth_label_wrong_0"], windows.loc["truth_unlabelled_0"]
    assert (wrong["detect_id"], wrong["row0"], wrong["col0"]) == ("s1_1", 25, 35)
    assert (missing["detect_id"], missing["scene_id"], missing["centre"]) == (
        "s1_t2",
        "s1",
        "truth_unlabelled",
    )
    assert len(select_examples(cleaned, truth.iloc[:0])) == len(select_examples(cleaned))


def test_read_example_crops_reads_windows(tmp_path: Path, cleaned: pd.DataFrame) -> None:
    scene = write_scene(tmp_path, "train", "s1", height=48, width=64, triangle=0)
    index = pd.DataFrame(
        {
            "scene_id": ["s1"],
            "vh_path": ["train/s1/VH_dB.tif"],
            "vv_path": ["train/s1/VV_dB.tif"],
            "height": [48],
            "width": [64],
            "split": ["train"],
        }
    )
    windows = select_examples(cleaned, per_state=1, crop_size=16)
    crops = read_example_crops(windows, index, str(tmp_path))
    assert set(crops) == set(windows["example"])
    for w in windows.itertuples(index=False):
        crop = crops[w.example]
        assert crop.shape == (16, 16) and crop.dtype == np.float32
        r0, c0 = max(w.row0, 0), max(w.col0, 0)
        r1, c1 = min(w.row0 + 16, 48), min(w.col0 + 16, 64)
        inside = crop[r0 - w.row0 : r1 - w.row0, c0 - w.col0 : c1 - w.col0]
        np.testing.assert_array_equal(inside, scene.vv[r0:r1, c0:c1])
        assert np.isnan(crop).sum() == 256 - inside.size  # outside the scene
    with pytest.raises(ValueError, match=r"scenes \['s1'\] are not in the scene index"):
        read_example_crops(windows, index.iloc[:0], str(tmp_path))
    figures = scene_cleaning_examples(cleaned, None, index, str(tmp_path), crop_size=16)
    assert sorted(figures) == sorted(select_examples(cleaned, crop_size=16)["example"])
    assert scene_cleaning_examples(cleaned.iloc[:0], None, index, str(tmp_path)) == {}


def test_truth_object_status() -> None:
    truth = make_truth(
        [
            ("s1", 20, 20, "s1_0", True, False, False, 0.1, 1.0),
            ("s1", 30, 40, "s1_1", True, True, False, 0.0, 0.0),
            ("s1", 60, 10, "s1_2", True, False, False, 0.0, 20.0),  # 200 m away
            ("s1", 60, 10, "s1_3", True, False, False, 0.31, 0.0),
            ("s1", 5, 5, "s1_t4", False, False, False, NAN, NAN),
        ]
    )
    status = truth_object_status(truth)
    assert status.tolist() == [
        "label_right",
        "label_wrong",
        "label_wrong",
        "label_wrong",
        "unlabelled",
    ]


def _legend(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.legends[0].get_texts()]


def test_cleaning_examples_draws_states_and_truth(cleaned: pd.DataFrame) -> None:
    truth = make_truth(
        [
            ("s1", 20, 20, "s1_0", True, False, False, 0.0, 0.0),
            ("s1", 40, 40, "s1_t1", False, False, False, NAN, NAN),
            ("s1", 30, 40, "s1_1", True, True, False, 0.0, 0.0),
        ]
    )
    windows = pd.DataFrame(
        [
            {
                "example": "wide",
                "cleaning_round": 1,
                "centre": "confirmed",
                "detect_id": "s1_0",
                "scene_id": "s1",
                "row0": 0,
                "col0": 0,
                "size": 64,
            },
            {
                "example": "corner",
                "cleaning_round": 1,
                "centre": "confirmed",
                "detect_id": "s1_0",
                "scene_id": "s1",
                "row0": 12,
                "col0": 12,
                "size": 16,
            },
        ]
    )
    crop = np.full((64, 64), -20.0, dtype=np.float32)
    crop[:4] = np.nan
    crops = {"wide": crop, "corner": crop[:16, :16]}
    figures = cleaning_examples(windows, crops, cleaned, truth)
    assert list(figures) == ["wide", "corner"]
    assert _legend(figures["wide"]) == [
        "confirmed (1)",
        "label only (2)",
        "prediction only (1)",
        "truth: label right (1)",
        "truth: label wrong (1)",
        "truth: unlabelled (1)",
    ]
    assert _legend(figures["corner"])[:4] == [
        "confirmed (1)",
        "label only (0)",
        "prediction only (0)",
        "truth: label right (1)",
    ]
    without = cleaning_examples(windows, crops, cleaned)
    assert len(_legend(without["wide"])) == 3
    confirmed = without["wide"].axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(np.asarray(confirmed), [[20.5, 20.5]])  # (x, y) of s1_0
    in_corner = without["corner"].axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(np.asarray(in_corner), [[8.5, 8.5]])  # window at (12, 12)
    with pytest.raises(ValueError, match=r"example 'corner' needs a \(16, 16\) crop"):
        cleaning_examples(windows, {"wide": crop, "corner": crop}, cleaned)
