"""The close-to-shore term: shoreline files, the near-shore test and one-sided scenes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.core.metric.conftest import (
    LOCAL_FIXTURES,
    SCENE,
    SCENE_B,
    SCENE_C,
    load_case,
    make_gt,
    make_pred,
    rc,
)
from xview3_pipeline.core.errors import InvalidSceneIdError
from xview3_pipeline.core.metric import (
    MetricConfig,
    score,
)
from xview3_pipeline.core.metric.shoreline import (
    Shoreline,
    find_shoreline_file,
    load_shoreline,
    load_shorelines,
    near_shore_mask,
    shore_radius_px,
)

# --------------------------------------------------------------------------------------
# shore
# --------------------------------------------------------------------------------------


def test_near_shore_mask_kdtree_semantics() -> None:
    radius = shore_radius_px(2.0, 200.0)
    assert radius == pytest.approx(220.0)
    one_point = np.array([[0.0, 0.0]])
    points = np.array([[0.0, 0.0], [0.0, 220.0], [132.0, 176.0], [0.0, 220.5], [1e-3, 0.0]])
    assert near_shore_mask(points, one_point, radius).tolist() == [False, True, True, False, True]
    two_points = np.array([[0.0, 0.0], [0.0, 5.0]])
    assert near_shore_mask(points[:1], two_points, radius).tolist() == [True]
    assert near_shore_mask(points, np.zeros((0, 2)), radius).tolist() == [False] * 5


def test_near_shore_mask_matches_sparse_distance_matrix() -> None:
    from scipy.spatial import KDTree

    rng = np.random.default_rng(3)
    for _ in range(30):
        contour = rng.integers(0, 400, (rng.integers(1, 60), 2)).astype(float)
        pts = np.vstack(
            [rng.integers(0, 400, (40, 2)), contour[:3], contour[:3] + np.array([220.0, 0.0])]
        ).astype(float)
        dense = KDTree(contour).sparse_distance_matrix(KDTree(pts), 220.0, p=2).toarray()
        dense[dense == 0] = 9999999
        official = np.min(dense, axis=0) != 9999999
        assert np.array_equal(near_shore_mask(pts, contour, 220.0), official)


def _shore_case(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Scene A: two-sided; B: near-shore GT only; C: near-shore predictions only."""
    root = tmp_path / "shore"
    root.mkdir()
    coast = np.stack([np.zeros(400), np.arange(400.0)], axis=1)  # row 0, cols 0..399
    for scene in (SCENE, SCENE_B, SCENE_C):
        np.save(root / f"{scene}_shoreline.npy", coast)
    gt = make_gt(
        [
            rc(100, 100) | {"distance_from_shore_km": 1.0},
            rc(150, 300) | {"distance_from_shore_km": 1.5},
            rc(100, 100) | {"scene_id": SCENE_B, "distance_from_shore_km": 1.0},
            rc(1000, 100) | {"scene_id": SCENE_C, "distance_from_shore_km": 10.0},
        ]
    )
    pred = make_pred(
        [
            rc(101, 100),  # near, TP
            rc(200, 50),  # near, FP
            rc(600, 100) | {"scene_id": SCENE_B},  # far from shore: B is one-sided
            rc(1000, 101) | {"scene_id": SCENE_C},
            rc(50, 50) | {"scene_id": SCENE_C},  # near-shore prediction, no near GT
        ]
    )
    return pred, gt, root


def test_one_sided_shore_scenes_contribute_nothing(tmp_path: Path) -> None:
    pred, gt, root = _shore_case(tmp_path)
    result = score(pred, gt, shore_root=root)
    assert result.details["shore"] == result.details["shore"] | {"tp": 1, "fp": 1, "fn": 1}
    assert result.loc_fscore_shore == pytest.approx(0.5)
    per_scene = result.details["per_scene"].set_index("scene_id")
    assert per_scene["shore_counted"].to_dict() == {SCENE: True, SCENE_B: False, SCENE_C: False}
    assert per_scene.loc[SCENE_B, "n_gt_near_shore"] == 1
    assert per_scene.loc[SCENE_C, "n_pred_near_shore"] == 1
    # Only scene A scored alone gives the same shore F1.
    alone = score(pred[pred.scene_id == SCENE], gt[gt.scene_id == SCENE], shore_root=root)
    assert alone.loc_fscore_shore == result.loc_fscore_shore
    # Shore off: tolerance 0 or no shoreline source.
    assert (
        score(pred, gt, MetricConfig(shore_tolerance_km=0), shore_root=root).loc_fscore_shore == 0.0
    )
    assert score(pred, gt).loc_fscore_shore == 0.0


def test_prediction_on_a_single_contour_point_is_not_near_shore(tmp_path: Path) -> None:
    root = tmp_path / "shore"
    root.mkdir()
    np.save(root / f"{SCENE}_shoreline.npy", np.array([[100.0, 100.0]]))
    gt = make_gt([rc(100, 100) | {"distance_from_shore_km": 0.0}])
    on_point = score(make_pred([rc(100, 100)]), gt, shore_root=root)
    assert on_point.details["per_scene"].loc[0, "n_pred_near_shore"] == 0
    assert on_point.loc_fscore_shore == 0.0
    off_point = score(make_pred([rc(100, 101)]), gt, shore_root=root)
    assert off_point.loc_fscore_shore == 1.0


def test_missing_shoreline_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pred, gt, root = _shore_case(tmp_path)
    (root / f"{SCENE_C}_shoreline.npy").unlink()
    with caplog.at_level(logging.WARNING):
        result = score(pred, gt, shore_root=root)
    assert result.details["missing_shoreline_scenes"] == [SCENE_C]
    assert "FileNotFoundError" in caplog.text
    # Without a file, scene C has no near-shore prediction: nothing changes here.
    assert result.loc_fscore_shore == pytest.approx(0.5)


def test_shoreline_files_in_split_subfolders_and_object_arrays(tmp_path: Path) -> None:
    root = tmp_path / "shoreline"
    (root / "validation").mkdir(parents=True)
    (root / "public").mkdir()
    contours = np.empty(2, dtype=object)
    contours[0] = np.array([[0.0, 0.0], [0.0, 1.0]])
    contours[1] = np.array([[5.0, 5.0]])
    np.save(root / "validation" / f"{SCENE}_shoreline.npy", contours, allow_pickle=True)
    np.save(root / "public" / f"{SCENE_B}_shoreline.npy", np.empty(0, dtype=object))
    assert find_shoreline_file(root, SCENE) == root / "validation" / f"{SCENE}_shoreline.npy"
    shore = load_shoreline(root, SCENE)
    assert isinstance(shore, Shoreline)
    assert shore.points.shape == (3, 2)
    empty = load_shoreline(root, SCENE_B)
    assert empty is not None and len(empty) == 0 and empty.tree is None
    assert load_shoreline(root, SCENE_C) is None
    assert set(load_shorelines(root, [SCENE, SCENE_B, SCENE_C])) == {SCENE, SCENE_B}
    with pytest.raises(InvalidSceneIdError):
        find_shoreline_file(root, "../etc/passwd")


def test_preloaded_shorelines_equal_shore_root() -> None:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case1")
    shorelines = load_shorelines(root, gt["scene_id"].unique())
    assert score(pred, gt, shorelines=shorelines) == score(pred, gt, shore_root=root)
    raw = {k: v.points for k, v in shorelines.items()}
    assert score(pred, gt, shorelines=raw) == score(pred, gt, shore_root=root)
