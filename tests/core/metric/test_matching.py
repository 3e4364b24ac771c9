"""The matching rules of the official scorer: costly distance, LOW drop, tolerance."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.core.metric.conftest import (
    SCENE,
    SCENE_B,
    SCENE_C,
    make_gt,
    make_pred,
    rc,
)
from xview3_pipeline.core.metric import (
    MetricConfig,
    match_by_scene,
    score,
)

# --------------------------------------------------------------------------------------
# matching quirks
# --------------------------------------------------------------------------------------


def test_issue9_costly_distance_recovers_obvious_matches() -> None:
    gt = make_gt([rc(100, 100), rc(200, 200), rc(300, 300)])
    pred = make_pred([rc(101, 101), rc(201, 201), rc(50, 50)])
    costly = score(pred, gt)
    plain = score(pred, gt, MetricConfig(costly_dist=False))
    assert (costly.details["loc"]["tp"], costly.details["loc"]["fp"]) == (2, 1)
    assert costly.loc_fscore == pytest.approx(2 / 3)
    assert plain.details["loc"]["tp"] == 0
    assert plain.loc_fscore == 0.0


def test_low_label_steals_prediction_from_high() -> None:
    gt = make_gt([rc(0, 100) | {"confidence": "LOW"}, rc(0, 110)])
    pred = make_pred([rc(0, 104), rc(0, 1000)])
    result = score(pred, gt)
    assert result.loc_fscore == 0.0
    assert result.details["loc"] == result.details["loc"] | {"tp": 0, "fp": 1, "fn": 1}
    assert result.details["n_pred_dropped_low"] == 1
    # Without the LOW drop the prediction at 104 matches the HIGH label.
    assert score(pred, gt, MetricConfig(drop_low_detect=False)).details["loc"]["tp"] == 1
    # score_all: every level counts, nothing is dropped.
    assert score(pred, gt, MetricConfig(score_all=True)).details["loc"]["tp"] == 1


def test_scene_without_predictions_after_low_drop_is_all_fn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gt = make_gt(
        [
            rc(0, 100) | {"confidence": "LOW"},
            rc(0, 110),
            rc(0, 100) | {"scene_id": SCENE_B},
        ]
    )
    pred = make_pred([rc(0, 104), rc(0, 101) | {"scene_id": SCENE_B}])
    with caplog.at_level(logging.WARNING):
        result = score(pred, gt)
    assert result.details["official_would_crash_scenes"] == [SCENE]
    assert result.details["loc"] == result.details["loc"] | {"tp": 1, "fp": 0, "fn": 1}
    assert result.loc_fscore == pytest.approx(2 / 3)
    assert "crashes" in caplog.text
    status = result.details["per_scene"].set_index("scene_id")["status"]
    assert status[SCENE] == "official_would_crash"


def test_exact_tolerance_is_not_a_match_but_takes_the_slot() -> None:
    # G1 at col 0, P1 at 20 (exactly 200 m), G2 at 30, P2 at 45. The finite 200 m cost makes
    # the optimum (P1-G1, P2-G2); only P2-G2 is a TP.
    gt = make_gt([rc(0, 0) | {"is_vessel": False}, rc(0, 30) | {"is_vessel": True}])
    pred = make_pred([rc(0, 20) | {"is_vessel": True}, rc(0, 45) | {"is_vessel": False}])
    result = score(pred, gt)
    assert result.details["loc"] == result.details["loc"] | {"tp": 1, "fp": 1, "fn": 1}
    assert result.details["vessel"] == result.details["vessel"] | {"tp": 0, "fn": 1}
    assert result.vessel_fscore == 0.0
    # One pixel further (210 m) the pair is costly and the optimum becomes P1-G2.
    moved = gt.copy()
    moved.loc[0, "detect_scene_column"] = -1
    result = score(pred, moved)
    assert result.details["loc"]["tp"] == 1
    assert result.vessel_fscore == 1.0


def test_single_pair_boundary() -> None:
    gt = make_gt([rc(0, 0)])
    assert score(make_pred([rc(0, 20)]), gt).details["loc"]["tp"] == 0
    assert score(make_pred([rc(0, 19.999)]), gt).details["loc"]["tp"] == 1
    assert score(make_pred([rc(12, 16)]), gt).details["loc"]["tp"] == 0  # 3-4-5: 200 m
    assert (
        score(make_pred([rc(0, 20)]), gt, MetricConfig(distance_tolerance_m=200.01)).details["loc"][
            "tp"
        ]
        == 1
    )


def test_unscored_scenes_cost_nothing() -> None:
    gt = make_gt(
        [
            rc(0, 0),
            rc(0, 0) | {"scene_id": SCENE_B},  # no prediction there: no FN
            rc(50, 50) | {"scene_id": SCENE_C, "confidence": "LOW"},  # LOW only
        ]
    )
    pred = make_pred(
        [
            rc(0, 1),
            rc(500, 500) | {"scene_id": SCENE_C},  # scene without HIGH/MEDIUM GT: no FP
            rc(9, 9) | {"scene_id": "aaaaaaaaaaaaaaaav"},  # scene absent from GT: no FP
        ]
    )
    result = score(pred, gt)
    assert result.details["loc"] == result.details["loc"] | {"tp": 1, "fp": 0, "fn": 0}
    assert result.loc_fscore == 1.0
    status = result.details["per_scene"].set_index("scene_id")["status"].to_dict()
    assert status == {
        SCENE: "scored",
        SCENE_C: "ignored_no_scored_gt",
        "aaaaaaaaaaaaaaaav": "ignored_no_scored_gt",
        SCENE_B: "ignored_no_predictions",
    }
    assert result.details["n_pred_ignored"] == 2
    assert result.details["n_gt_ignored"] == 2


def test_match_by_scene_matches_within_each_scene_only() -> None:
    # Scene b's prediction sits on scene a's truth: it must not match across scenes.
    pred_scenes = np.array(["b", "a", "a", "b"])
    pred_rc = np.array([[0.0, 0.0], [0.0, 1.0], [50.0, 50.0], [40.0, 40.0]])
    gt_scenes = np.array(["a", "a", "b", "c"])
    gt_rc = np.array([[0.0, 0.0], [50.0, 52.0], [40.0, 41.0], [0.0, 0.0]])
    pred_i, gt_i = match_by_scene(pred_scenes, pred_rc, gt_scenes, gt_rc)
    assert sorted(zip(pred_i.tolist(), gt_i.tolist(), strict=True)) == [(1, 0), (2, 1), (3, 2)]
    empty = match_by_scene(pred_scenes[:0], pred_rc[:0], gt_scenes, gt_rc)
    assert [len(a) for a in empty] == [0, 0]
