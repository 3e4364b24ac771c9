"""Reading the two tables: nullable and text labels, bad coordinates, missing columns."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from tests.core.metric.conftest import (
    LOCAL_FIXTURES,
    SCENE,
    SCENE_B,
    load_case,
    make_gt,
    make_pred,
    rc,
)
from xview3_pipeline.core.metric import (
    MetricConfig,
    score,
)


def test_pd_na_labels_are_unknown(caplog: pytest.LogCaptureFixture) -> None:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case1")
    nullable = gt.copy()
    for column in ("is_vessel", "is_fishing"):
        nullable[column] = pd.array(
            gt[column].map({True: True, False: False}).tolist(), dtype="boolean"
        )
    nullable["vessel_length_m"] = gt["vessel_length_m"].astype("Float64")
    nullable["confidence"] = pd.Categorical(gt["confidence"], categories=["LOW", "MEDIUM", "HIGH"])
    with caplog.at_level(logging.WARNING):
        result = score(pred, nullable, shore_root=root)
    assert result == score(pred, gt, shore_root=root)
    assert any("pd.NA" in w for w in result.details["warnings"])
    pred_na = pred.copy()
    pred_na["is_vessel"] = pd.array([pd.NA] * len(pred), dtype="boolean")
    all_wrong = score(pred_na, gt, shore_root=root)
    assert all_wrong.vessel_fscore == 0.0
    assert any("Prediction column 'is_vessel'" in w for w in all_wrong.details["warnings"])


def test_text_labels_are_parsed() -> None:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case2")
    text = gt.copy()
    text["is_vessel"] = gt["is_vessel"].map({True: "True", False: "false"}).fillna("")
    assert score(pred, text, shore_root=root) == score(pred, gt, shore_root=root)
    bad = gt.assign(is_vessel="maybe")
    with pytest.raises(ValueError, match="non-boolean"):
        score(pred, bad)


def test_nan_coordinates_raise_with_scene_and_row() -> None:
    gt = make_gt([rc(0, 0), rc(5, 5)])
    pred = make_pred([rc(0, 1), rc(np.nan, 3)])
    with pytest.raises(ValueError, match=rf"prediction table, scene '{SCENE}', row 1"):
        score(pred, gt)
    gt_bad = make_gt([rc(0, 0), rc(5, np.nan)])
    with pytest.raises(ValueError, match=rf"ground-truth table, scene '{SCENE}', row 1"):
        score(make_pred([rc(0, 1)]), gt_bad)
    # A NaN row in a scene that is not scored is ignored, as in the official code.
    elsewhere = make_pred([rc(0, 1), rc(np.nan, 3) | {"scene_id": SCENE_B}])
    assert score(elsewhere, gt).loc_fscore == pytest.approx(2 / 3)


def test_missing_columns_raise() -> None:
    gt = make_gt([rc(0, 0)])
    with pytest.raises(ValueError, match="vessel_length_m"):
        score(make_pred([rc(0, 0)]).drop(columns="vessel_length_m"), gt)
    with pytest.raises(ValueError, match="confidence"):
        score(make_pred([rc(0, 0)]), gt.drop(columns="confidence"))
    assert (
        score(
            make_pred([rc(0, 0)]), gt.drop(columns="confidence"), MetricConfig(score_all=True)
        ).loc_fscore
        == 1
    )
