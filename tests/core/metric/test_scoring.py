"""Scores from matched pairs: class F1s, length accuracy and the prepared path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.core.metric.conftest import (
    LOCAL_FIXTURES,
    load_case,
    make_gt,
    make_pred,
    rc,
)
from xview3_pipeline.core.metric import (
    COMPONENTS,
    label_from_probabilities,
    prepare,
    score,
    score_thresholds,
)

# --------------------------------------------------------------------------------------
# classification and length
# --------------------------------------------------------------------------------------


def test_vessel_and_fishing_rules() -> None:
    gt = make_gt(
        [
            rc(0, 0) | {"is_vessel": True, "is_fishing": True},  # TP / TP
            rc(0, 100) | {"is_vessel": False, "is_fishing": True},  # GT non-vessel: no fishing
            rc(0, 200) | {"is_vessel": np.nan, "is_fishing": np.nan},  # unknown: skipped
            rc(0, 300) | {"is_vessel": True, "is_fishing": False},  # NaN prediction: wrong
            rc(0, 400) | {"is_vessel": False, "is_fishing": False},  # TN: ignored
        ]
    )
    pred = make_pred(
        [
            rc(0, 1) | {"is_vessel": True, "is_fishing": True},
            rc(0, 101) | {"is_vessel": True, "is_fishing": True},  # vessel FP
            rc(0, 201) | {"is_vessel": True, "is_fishing": True},
            rc(0, 301) | {"is_vessel": np.nan, "is_fishing": np.nan},  # vessel FN, fishing FP
            rc(0, 401) | {"is_vessel": False, "is_fishing": False},
        ]
    )
    result = score(pred, gt)
    assert result.details["vessel"] == result.details["vessel"] | {
        "tp": 1,
        "fp": 1,
        "fn": 1,
        "tn": 1,
    }
    # Fishing on GT vessels only (rows 0 and 3), whatever the predicted is_vessel.
    assert result.details["fishing"] == result.details["fishing"] | {
        "tp": 1,
        "fp": 1,
        "fn": 0,
        "tn": 0,
    }
    assert result.vessel_fscore == pytest.approx(0.5)
    assert result.fishing_fscore == pytest.approx(2 / 3)


def test_length_accuracy_rules() -> None:
    gt = make_gt([rc(0, 0) | {"vessel_length_m": 100.0}, rc(0, 100) | {"vessel_length_m": 600.0}])
    pred = make_pred(
        [rc(0, 0) | {"vessel_length_m": 150.0}, rc(0, 100) | {"vessel_length_m": 900.0}]
    )
    # errors 0.5 and 0 (both capped at 500 m)
    assert score(pred, gt).length_acc == pytest.approx(0.75)
    nan_pred = pred.assign(vessel_length_m=[150.0, np.nan])
    result = score(nan_pred, gt)
    assert np.isnan(result.length_acc) and np.isnan(result.aggregate)
    zero_gt = gt.assign(vessel_length_m=[0.0, 600.0])
    assert score(pred, zero_gt).length_acc == 0.0
    unknown_gt = gt.assign(vessel_length_m=[np.nan, np.nan])
    result = score(pred, unknown_gt)
    assert result.length_acc == 0.0 and result.details["length_pairs"] == 0
    large_error = pred.assign(vessel_length_m=[400.0, 500.0])
    assert score(large_error, gt).length_acc == 0.0  # mean error 1.5 capped at 1


# --------------------------------------------------------------------------------------
# prepared path
# --------------------------------------------------------------------------------------


def _candidates(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case1")
    rng = np.random.default_rng(seed)
    cands = pred.drop(columns=["is_vessel", "is_fishing"]).assign(
        vessel_p=np.round(rng.random(len(pred)), 2),
        fishing_p=np.round(rng.random(len(pred)), 2),
        objectness_p=rng.random(len(pred)),
    )
    cands.loc[cands.index[:3], "vessel_p"] = np.nan
    return cands, gt, root


@pytest.mark.parametrize("fishing_requires_vessel", [False, True])
def test_prepared_scoring_equals_direct_scoring(fishing_requires_vessel: bool) -> None:
    cands, gt, root = _candidates()
    prepared = prepare(cands, gt, shore_root=root)
    thresholds = np.array([0.0, 0.13, 0.3, 0.5, 0.51, 0.77, 1.0])
    grid = prepared.score_grid(
        thresholds, thresholds[::-1], fishing_requires_vessel=fishing_requires_vessel
    )
    agg = score_thresholds(
        prepared, thresholds, thresholds[::-1], fishing_requires_vessel=fishing_requires_vessel
    )
    assert agg.shape == (7, 7)
    np.testing.assert_array_equal(agg, grid["aggregate"])
    for i, vt in enumerate(thresholds):
        for j, ft in enumerate(thresholds[::-1]):
            table = label_from_probabilities(
                cands, vt, ft, fishing_requires_vessel=fishing_requires_vessel
            )
            direct = score(table, gt, shore_root=root)
            single = prepared.score(vt, ft, fishing_requires_vessel=fishing_requires_vessel)
            assert single.as_dict() == direct.as_dict()
            assert single.details["vessel"] == direct.details["vessel"]
            assert single.details["fishing"] == direct.details["fishing"]
            for name in COMPONENTS:
                assert grid[name][i, j] == direct.as_dict()[name], (vt, ft, name)


def test_prepared_objectness_threshold_equals_filtered_table() -> None:
    cands, gt, root = _candidates(1)
    for t in (0.2, 0.6):
        prepared = prepare(cands, gt, shore_root=root, objectness_threshold=t)
        kept = cands[cands["objectness_p"] >= t]
        direct = score(label_from_probabilities(kept, 0.4, 0.6), gt, shore_root=root)
        assert prepared.score(0.4, 0.6).as_dict() == direct.as_dict()
        # Pair rows index the input table.
        assert set(prepared.pair_pred_row) <= set(np.flatnonzero(cands["objectness_p"] >= t))


def test_prepared_with_labels_equals_score() -> None:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case2")
    prepared = prepare(pred, gt, shore_root=root)
    assert prepared.score() == score(pred, gt, shore_root=root)
    with pytest.raises(ValueError, match="vessel_p"):
        prepared.score(0.5, 0.5)
    with pytest.raises(ValueError, match="both"):
        prepared.score(0.5, None)
    cands, gt1, root1 = _candidates()
    with pytest.raises(ValueError, match="no is_vessel"):
        prepare(cands, gt1, shore_root=root1).score()


def test_prepared_scoring_with_no_prediction_left_is_zero() -> None:
    gt = pd.DataFrame(
        {
            "scene_id": ["s1"] * 2,
            "detect_scene_row": [10, 50],
            "detect_scene_column": [10, 50],
            "is_vessel": [True, False],
            "is_fishing": [False, np.nan],
            "vessel_length_m": [30.0, np.nan],
            "distance_from_shore_km": [5.0, 5.0],
            "confidence": ["HIGH", "MEDIUM"],
        }
    )
    cands = pd.DataFrame(
        {
            "scene_id": ["s1"],
            "detect_scene_row": [10],
            "detect_scene_column": [11],
            "objectness_p": [0.2],
            "vessel_p": [0.9],
            "fishing_p": [0.1],
            "vessel_length_m": [28.0],
        }
    )
    result = prepare(cands, gt, objectness_threshold=0.5).score(0.5, 0.5)
    assert result.as_dict()["aggregate"] == 0.0
    assert result.details["loc"]["tp"] == 0


def test_score_grid_with_no_prediction_left_is_zero() -> None:
    gt = pd.DataFrame(
        {
            "scene_id": ["s1"],
            "detect_scene_row": [10],
            "detect_scene_column": [10],
            "is_vessel": [True],
            "is_fishing": [False],
            "vessel_length_m": [30.0],
            "distance_from_shore_km": [5.0],
            "confidence": ["HIGH"],
        }
    )
    cands = pd.DataFrame(
        {
            "scene_id": ["s1"],
            "detect_scene_row": [10],
            "detect_scene_column": [11],
            "objectness_p": [0.2],
            "vessel_p": [0.9],
            "fishing_p": [0.1],
            "vessel_length_m": [28.0],
        }
    )
    grid = score_thresholds(prepare(cands, gt, objectness_threshold=0.5), [0.2, 0.8], [0.5])
    assert grid.shape == (2, 1) and (grid == 0.0).all()
