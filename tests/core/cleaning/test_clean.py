"""Cleaned label states, agreements and training labels on hand-made tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.core.cleaning.conftest import make_candidates, make_labels
from xview3_pipeline.core.cleaning import (
    CLEANING_COLUMNS,
    CleaningConfig,
    clean_labels,
    training_labels,
)
from xview3_pipeline.core.constants import DISTANCE_TOLERANCE_M

CONFIG = CleaningConfig()


def _row(cleaned: pd.DataFrame, detect_id: str) -> pd.Series:
    rows = cleaned[cleaned["detect_id"] == detect_id]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture
def mixed() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One scene with each case: matched, wrong vessel flag, jittered, far, missed object."""
    labels = make_labels(
        [
            ("s1", 100, 100, True, False, 50.0),  # s1_0 matched, all fields agree
            ("s1", 300, 300, True, False, 40.0),  # s1_1 prediction says not a vessel
            ("s1", 500, 500, True, True, 20.0),  # s1_2 prediction 19 px away (190 m)
            ("s1", 900, 900, False, None, None),  # s1_3 far from any prediction
        ]
    )
    candidates = make_candidates(
        [
            ("s1", 101, 100, 0.9, 0.9, 0.2, 55.0),
            ("s1", 300, 301, 0.8, 0.1, 0.2, 41.0),
            ("s1", 519, 500, 0.7, 0.8, 0.9, 21.0),
            ("s1", 700, 100, 0.95, 0.7, 0.6, 30.0),  # an object nobody labelled
            ("s1", 902, 902, 0.3, 0.2, 0.1, 10.0),  # not confident: takes no part
        ]
    )
    return labels, candidates


def test_states_of_constructed_cases(mixed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    labels, candidates = mixed
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert cleaned["label_state"].tolist() == [
        "confirmed",
        "confirmed",
        "confirmed",
        "label_only",
        "prediction_only",
    ]
    matched = _row(cleaned, "s1_0")
    assert (matched["vessel_agree"], matched["fishing_agree"], matched["length_agree"]) == (
        True,
        True,
        True,
    )
    assert matched["pred_objectness_p"] == pytest.approx(0.9)
    assert matched["pred_length_m"] == pytest.approx(55.0)
    # s1_1: the label says vessel, the prediction says not; its other fields agree.
    assert cleaned["vessel_agree"].tolist() == [True, False, True, pd.NA, pd.NA]
    assert cleaned["fishing_agree"].tolist() == [True, True, True, pd.NA, pd.NA]
    assert cleaned["length_agree"].tolist() == [True, True, True, pd.NA, pd.NA]
    jittered = _row(cleaned, "s1_2")
    assert jittered["label_state"] == "confirmed"
    assert jittered["pred_vessel_p"] == pytest.approx(0.8)
    far = _row(cleaned, "s1_3")
    assert far["label_state"] == "label_only"
    assert far[["vessel_agree", "fishing_agree", "length_agree"]].isna().all()
    assert np.isnan(far[["pred_objectness_p", "pred_length_m"]].to_numpy(float)).all()
    assert (cleaned["cleaning_round"] == 1).all()


def test_prediction_only_row(mixed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    labels, candidates = mixed
    cleaned = clean_labels(labels, candidates, CONFIG, round_index=2)
    found = _row(cleaned, "s1_pred_0")
    assert found["label_state"] == "prediction_only"
    assert (found["detect_scene_row"], found["detect_scene_column"]) == (700, 100)
    assert found["detect_lat"] == pytest.approx(candidates.at[3, "detect_lat"])
    assert found["source"] == "prediction"
    assert found["split"] == "train"
    assert found["confidence"] == "LOW"
    assert found["source_row"] == -1
    assert bool(found["is_near_shore"])  # the candidate's 1 km from shore
    assert pd.isna(found["is_vessel"]) and pd.isna(found["is_fishing"])
    assert np.isnan(found["vessel_length_m"])
    assert found[["vessel_unknown", "fishing_unknown", "length_unknown"]].all()
    assert found[["vessel_agree", "fishing_agree", "length_agree"]].isna().all()
    assert found["pred_objectness_p"] == pytest.approx(0.95)
    assert found["cleaning_round"] == 2


def test_columns_and_dtypes_kept(mixed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    labels, candidates = mixed
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert list(cleaned.columns) == [*labels.columns, *CLEANING_COLUMNS]
    assert cleaned.dtypes[list(labels.columns)].equals(labels.dtypes)
    for name in ("vessel_agree", "fishing_agree", "length_agree"):
        assert cleaned[name].dtype == "boolean"
    assert cleaned["cleaning_round"].dtype == np.int64
    pd.testing.assert_frame_equal(cleaned.iloc[: len(labels)][labels.columns], labels)


def test_tolerance_is_strict() -> None:
    # 20 px at 10 m/px is exactly the 200 m tolerance: no match (as the official scorer).
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s1", 500, 500, True, False, 10.0)])
    candidates = make_candidates(
        [("s1", 120, 100, 0.9, 0.9, 0.1, 10.0), ("s1", 500, 519, 0.9, 0.9, 0.1, 10.0)]
    )
    cleaned = clean_labels(labels, candidates, CleaningConfig(tolerance_m=DISTANCE_TOLERANCE_M))
    assert cleaned["label_state"].tolist() == [
        "label_only",
        "confirmed",
        "prediction_only",
    ]
    wider = clean_labels(labels, candidates, CleaningConfig(tolerance_m=201.0))
    assert wider["label_state"].tolist() == ["confirmed", "confirmed"]


def test_matching_is_one_to_one() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s1", 104, 100, True, False, 10.0)])
    candidates = make_candidates([("s1", 103, 100, 0.9, 0.9, 0.1, 10.0)])
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert cleaned["label_state"].tolist() == ["label_only", "confirmed"]


def test_objectness_threshold_is_inclusive() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s1", 300, 300, True, False, 10.0)])
    candidates = make_candidates(
        [("s1", 100, 100, 0.5, 0.9, 0.1, 10.0), ("s1", 300, 300, 0.49, 0.9, 0.1, 10.0)]
    )
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert cleaned["label_state"].tolist() == ["confirmed", "label_only"]
    high = clean_labels(labels, candidates, CleaningConfig(objectness_threshold=0.6))
    assert high["label_state"].tolist() == ["label_only", "label_only"]


def test_agreement_rules() -> None:
    labels = make_labels(
        [
            ("s1", 100, 100, False, False, 100.0),  # length 130 m: +30 %, agrees
            ("s1", 300, 300, True, True, 100.0),  # length 131 m: disagrees
            ("s1", 500, 500, None, None, None),  # unknown fields: NA
            ("s1", 700, 700, True, False, 100.0),  # NaN prediction values: NA
        ]
    )
    candidates = make_candidates(
        [
            ("s1", 100, 100, 0.9, 0.5, 0.49, 130.0),
            ("s1", 300, 300, 0.9, 0.5, 0.5, 131.0),
            ("s1", 500, 500, 0.9, 0.5, 0.5, 131.0),
            ("s1", 700, 700, 0.9, np.nan, np.nan, np.nan),
        ]
    )
    cleaned = clean_labels(labels, candidates, CONFIG)
    # vessel_p 0.5 >= 0.5 says vessel: disagrees with False, agrees with True.
    assert cleaned["vessel_agree"].tolist() == [False, True, pd.NA, pd.NA]
    assert cleaned["fishing_agree"].tolist() == [True, True, pd.NA, pd.NA]
    assert cleaned["length_agree"].tolist() == [True, False, pd.NA, pd.NA]
    strict = clean_labels(labels, candidates, CleaningConfig(vessel_threshold=0.6))
    assert strict["vessel_agree"].tolist()[:2] == [True, False]


def test_length_zero_agrees_only_with_zero() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 0.0), ("s1", 300, 300, True, False, 0.0)])
    candidates = make_candidates(
        [("s1", 100, 100, 0.9, 0.9, 0.1, 0.0), ("s1", 300, 300, 0.9, 0.9, 0.1, 1.0)]
    )
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert cleaned["length_agree"].tolist() == [True, False]


def test_scene_without_candidates_and_without_labels() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s2", 50, 50, True, True, 12.0)])
    candidates = make_candidates(
        [("s1", 100, 100, 0.9, 0.9, 0.1, 10.0), ("s3", 60, 60, 0.9, 0.9, 0.1, 10.0)]
    )
    cleaned = clean_labels(labels, candidates, CONFIG, scene_splits={"s3": "train"})
    assert cleaned["label_state"].tolist() == ["confirmed", "label_only", "prediction_only"]
    found = cleaned.iloc[2]
    assert (found["scene_id"], found["detect_id"], found["split"]) == ("s3", "s3_pred_0", "train")


def test_prediction_ids_count_within_each_scene() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s2", 100, 100, True, False, 9.0)])
    candidates = make_candidates(
        [
            ("s2", 400, 400, 0.9, 0.9, 0.1, 10.0),
            ("s1", 400, 400, 0.9, 0.9, 0.1, 10.0),
            ("s2", 600, 600, 0.9, 0.9, 0.1, 10.0),
        ]
    )
    cleaned = clean_labels(labels, candidates, CONFIG)
    added = cleaned[cleaned["label_state"] == "prediction_only"]
    assert added["detect_id"].tolist() == ["s1_pred_0", "s2_pred_0", "s2_pred_1"]
    assert added["detect_scene_row"].tolist() == [400, 400, 600]


def test_empty_inputs() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0)])
    cleaned = clean_labels(labels, make_candidates([]), CONFIG)
    assert cleaned["label_state"].tolist() == ["label_only"]
    nothing = clean_labels(labels.iloc[:0], make_candidates([]), CONFIG)
    assert len(nothing) == 0
    assert list(nothing.columns) == [*labels.columns, *CLEANING_COLUMNS]
    assert len(training_labels(nothing)) == 0


def test_unknown_scene_ids_are_refused() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0)])
    candidates = make_candidates([("elsewhere", 100, 100, 0.9, 0.9, 0.1, 10.0)])
    with pytest.raises(ValueError, match=r"candidates has 1 row\(s\).*'elsewhere'.*row 0.*'s1'"):
        clean_labels(labels, candidates, CONFIG)


def test_nan_label_position_names_row_and_value() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s1", 300, 300, True, False, 1.0)])
    labels["detect_scene_row"] = labels["detect_scene_row"].astype(float)
    labels.loc[1, "detect_scene_row"] = np.nan
    with pytest.raises(
        ValueError, match=r"labels row 1 .*detect_id 's1_1'.*'s1'.*detect_scene_row=nan"
    ):
        clean_labels(labels, make_candidates([]), CONFIG)


def test_nan_candidate_position_and_objectness_are_refused() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0)])
    candidates = make_candidates(
        [("s1", 100, 100, 0.9, 0.9, 0.1, 10.0), ("s1", 300, 300, 0.1, 0.9, 0.1, 10.0)]
    ).astype({"detect_scene_column": float})
    candidates.loc[1, "detect_scene_column"] = np.inf
    with pytest.raises(ValueError, match=r"candidates row 1 .*detect_scene_column=inf"):
        clean_labels(labels, candidates, CONFIG)
    candidates.loc[1, "detect_scene_column"] = 300.0
    candidates.loc[0, "objectness_p"] = np.nan
    with pytest.raises(ValueError, match=r"candidates row 0 .*objectness_p=nan.*\[0, 1\]"):
        clean_labels(labels, candidates, CONFIG)


def test_bad_inputs_are_refused() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0)])
    candidates = make_candidates([])
    with pytest.raises(ValueError, match=r"labels lacks columns \['split'\]"):
        clean_labels(labels.drop(columns="split"), candidates, CONFIG)
    with pytest.raises(ValueError, match=r"candidates lacks columns \['fishing_p'\]"):
        clean_labels(labels, candidates.drop(columns="fishing_p"), CONFIG)
    cleaned = clean_labels(labels, candidates, CONFIG)
    with pytest.raises(ValueError, match="already have cleaning columns"):
        clean_labels(cleaned, candidates, CONFIG)
    with pytest.raises(ValueError, match="round_index must be >= 1, got 0"):
        clean_labels(labels, candidates, CONFIG, round_index=0)
    with pytest.raises(ValueError, match="scene_splits gives scene 's1' the split 'validation'"):
        clean_labels(labels, candidates, CONFIG, scene_splits={"s1": "validation"})


def test_training_labels(mixed: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    labels, candidates = mixed
    cleaned = clean_labels(labels, candidates, CONFIG)
    train = training_labels(cleaned)
    assert list(train.columns) == [*labels.columns, "ignore"]
    assert train.dtypes[list(labels.columns)].equals(labels.dtypes)
    assert train["ignore"].dtype == bool
    assert train["ignore"].tolist() == [False, False, False, True, True]
    # The wrong vessel flag is blanked, the agreeing fields are kept.
    wrong = train.iloc[1]
    assert pd.isna(wrong["is_vessel"]) and bool(wrong["vessel_unknown"])
    assert not wrong["is_fishing"] and not wrong["fishing_unknown"]
    assert wrong["vessel_length_m"] == 40.0 and not wrong["length_unknown"]
    # Confirmed rows that agree, and ignored rows, keep their values.
    pd.testing.assert_frame_equal(
        train.iloc[[0, 2, 3]][labels.columns].reset_index(drop=True),
        labels.iloc[[0, 2, 3]].reset_index(drop=True),
    )


def test_training_labels_blanks_length_and_fishing() -> None:
    labels = make_labels([("s1", 100, 100, True, True, 100.0)])
    candidates = make_candidates([("s1", 100, 100, 0.9, 0.9, 0.1, 200.0)])
    train = training_labels(clean_labels(labels, candidates, CONFIG))
    row = train.iloc[0]
    assert bool(row["is_vessel"]) and not row["vessel_unknown"]
    assert pd.isna(row["is_fishing"]) and row["fishing_unknown"]
    assert np.isnan(row["vessel_length_m"]) and row["length_unknown"]
    assert not row["ignore"]


def test_training_labels_refuses_mixed_rounds_and_states() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0)])
    one = clean_labels(labels, make_candidates([]), CONFIG)
    two = clean_labels(labels, make_candidates([]), CONFIG, round_index=2)
    with pytest.raises(ValueError, match=r"rounds \[1, 2\]"):
        training_labels(pd.concat([one, two], ignore_index=True))
    one.loc[0, "label_state"] = "maybe"
    with pytest.raises(ValueError, match="row 0 has label_state 'maybe'"):
        training_labels(one)


def test_config_from_params() -> None:
    config = CleaningConfig.from_params({"objectness_threshold": 1, "tolerance_m": 150})
    assert config.objectness_threshold == 1.0 and isinstance(config.tolerance_m, float)
    assert CleaningConfig.from_params(None) == CleaningConfig()
    assert CleaningConfig().tolerance_m == DISTANCE_TOLERANCE_M
    with pytest.raises(ValueError, match=r"Unknown label_cleaning.cleaning key\(s\) \['radius'\]"):
        CleaningConfig.from_params({"radius": 3})
    with pytest.raises(ValueError, match=r"vessel_threshold must be in \[0, 1\], got 1.5"):
        CleaningConfig(vessel_threshold=1.5)
    with pytest.raises(ValueError, match="tolerance_m must be a finite distance"):
        CleaningConfig(tolerance_m=0)
    with pytest.raises(ValueError, match="length_tolerance_rel must be finite and >= 0"):
        CleaningConfig(length_tolerance_rel=-0.1)
    with pytest.raises(TypeError, match="must be a number, got True"):
        CleaningConfig(fishing_threshold=True)


def test_extra_columns_and_index() -> None:
    labels = make_labels([("s1", 100, 100, True, False, 10.0), ("s1", 300, 300, True, False, 9.0)])
    labels["note"] = pd.Series(["a", "b"], dtype="str")
    labels["count"] = np.array([3, 4], dtype=np.int64)
    labels.index = pd.Index([10, 5])
    candidates = make_candidates([("s1", 600, 600, 0.9, 0.9, 0.1, 10.0)])
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert cleaned.index.equals(pd.RangeIndex(3))
    assert cleaned["note"].dtype == labels["note"].dtype
    assert cleaned["count"].dtype == np.int64
    assert cleaned["note"].tolist()[:2] == ["a", "b"] and pd.isna(cleaned.at[2, "note"])
    assert cleaned["count"].tolist() == [3, 4, -1]
    assert cleaned["detect_id"].tolist() == ["s1_0", "s1_1", "s1_pred_0"]


def test_scene_of_several_splits_is_refused() -> None:
    labels = pd.concat(
        [
            make_labels([("s1", 100, 100, True, False, 10.0)]),
            make_labels([("s1", 300, 300, True, False, 9.0)], split="validation"),
        ],
        ignore_index=True,
    )
    with pytest.raises(ValueError, match=r"scene 's1' has labels of several splits"):
        clean_labels(labels, make_candidates([]), CONFIG)


def test_cleaned_table_round_trips_through_parquet(
    tmp_path: Path, mixed: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    labels, candidates = mixed
    cleaned = clean_labels(labels, candidates, CONFIG)
    cleaned.to_parquet(tmp_path / "cleaned.parquet")
    back = pd.read_parquet(tmp_path / "cleaned.parquet")
    pd.testing.assert_frame_equal(back, cleaned)
    pd.testing.assert_frame_equal(training_labels(back), training_labels(cleaned))
