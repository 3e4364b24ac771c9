"""Precision and recall of cleaning against hand-made truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.core.cleaning.conftest import make_candidates, make_labels, make_truth
from xview3_pipeline.core.cleaning import (
    MEASURES,
    REPORT_COLUMNS,
    CleaningConfig,
    clean_labels,
    cleaning_report,
    truth_status,
)

CONFIG = CleaningConfig()
NAN = float("nan")


@pytest.fixture
def case() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Labels, candidates and truth with one instance of every outcome."""
    labels = make_labels(
        [
            ("s1", 100, 100, True, False, 50.0),  # s1_0 right, confirmed
            ("s1", 300, 300, True, False, 40.0),  # s1_1 vessel flipped, flagged
            ("s1", 500, 500, True, True, 30.0),  # s1_2 fishing flipped, not flagged
            ("s1", 900, 900, True, False, 20.0),  # s1_3 moved 50 px from its object
            ("s1", 1200, 1200, True, False, 60.0),  # s1_4 right, but nothing predicted
            ("s1", 1500, 1500, True, False, 80.0),  # s1_5 length 50 % off, vessel right
        ]
    )
    candidates = make_candidates(
        [
            ("s1", 100, 100, 0.9, 0.9, 0.1, 52.0),
            ("s1", 300, 300, 0.9, 0.1, 0.1, 41.0),
            ("s1", 500, 500, 0.9, 0.9, 0.9, 31.0),
            ("s1", 900, 950, 0.9, 0.9, 0.1, 20.0),  # on s1_3's true object
            ("s1", 1500, 1500, 0.9, 0.1, 0.1, 150.0),  # vessel and length disagree
            ("s1", 702, 100, 0.9, 0.9, 0.1, 20.0),  # an unlabelled object, found
        ]
    )
    truth = make_truth(
        [
            ("s1", 100, 100, "s1_0", True, False, False, 0.0, 0.0),
            ("s1", 300, 300, "s1_1", True, True, False, 0.0, 0.0),
            ("s1", 500, 500, "s1_2", True, False, True, 0.0, 0.0),
            ("s1", 900, 950, "s1_3", True, False, False, 0.0, 50.0),
            ("s1", 1200, 1200, "s1_4", True, False, False, 0.0, 0.0),
            ("s1", 1500, 1500, "s1_5", True, False, False, -0.5, 0.0),
            ("s1", 700, 100, "s1_t6", False, False, False, NAN, NAN),
            ("s1", 1800, 1800, "s1_t7", False, False, False, NAN, NAN),
            ("s9", 100, 100, "s9_t0", False, False, False, NAN, NAN),  # not being cleaned
        ]
    )
    return labels, candidates, truth


EXPECTED = {  # measure: (n_positive, n_flagged, n_true_positive)
    "missing_found": (2, 2, 1),
    "vessel_wrong_flagged": (1, 2, 1),
    "fishing_wrong_flagged": (1, 0, 0),
    "length_wrong_flagged": (1, 1, 1),
    "position_wrong_flagged": (1, 2, 1),
    "correct_kept": (2, 4, 1),
}


def _counts(report: pd.DataFrame) -> dict[str, tuple[int, int, int]]:
    return {
        r.measure: (r.n_positive, r.n_flagged, r.n_true_positive)
        for r in report.itertuples(index=False)
    }


def test_counts_precision_and_recall(case: tuple[pd.DataFrame, ...]) -> None:
    labels, candidates, truth = case
    cleaned = clean_labels(labels, candidates, CONFIG)
    assert cleaned["label_state"].tolist() == [
        *["confirmed"] * 3,
        "label_only",
        "label_only",
        "confirmed",
        "prediction_only",
        "prediction_only",
    ]
    report = cleaning_report(cleaned, truth, labels)
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert report["measure"].tolist() == list(MEASURES)
    assert _counts(report) == EXPECTED
    by = report.set_index("measure")
    assert by.loc["missing_found", ["precision", "recall"]].tolist() == [0.5, 0.5]
    assert by.loc["vessel_wrong_flagged", ["precision", "recall"]].tolist() == [0.5, 1.0]
    assert np.isnan(by.loc["fishing_wrong_flagged", "precision"])
    assert by.loc["fishing_wrong_flagged", "recall"] == 0.0
    assert by.loc["correct_kept", ["precision", "recall"]].tolist() == [0.25, 0.5]
    assert (report["cleaning_round"] == 1).all()
    assert by.loc["missing_found", "flagged"].startswith("a prediction_only row")


def test_rounds_are_reported_separately(case: tuple[pd.DataFrame, ...]) -> None:
    labels, candidates, truth = case
    one = clean_labels(labels, candidates, CONFIG)
    # Round 2 also finds the second unlabelled object and confirms s1_4.
    more = pd.concat(
        [
            candidates,
            make_candidates(
                [("s1", 1800, 1801, 0.9, 0.9, 0.1, 9.0), ("s1", 1200, 1200, 0.9, 0.9, 0.1, 60.0)]
            ),
        ],
        ignore_index=True,
    )
    two = clean_labels(labels, more, CONFIG, round_index=2)
    report = cleaning_report(pd.concat([one, two], ignore_index=True), truth, labels)
    assert report["cleaning_round"].tolist() == [1] * 6 + [2] * 6
    second = _counts(report[report["cleaning_round"] == 2])
    assert second["missing_found"] == (2, 3, 2)
    assert second["correct_kept"] == (2, 5, 2)
    assert _counts(report[report["cleaning_round"] == 1]) == EXPECTED


def test_text_flags_and_missing_truth_rows(case: tuple[pd.DataFrame, ...]) -> None:
    labels, candidates, truth = case
    cleaned = clean_labels(labels, candidates, CONFIG)
    as_text = truth.astype({c: str for c in ("labelled", "vessel_flipped", "fishing_flipped")})
    assert _counts(cleaning_report(cleaned, as_text, labels)) == EXPECTED
    # A label with no true object is a position error, never a correct label.
    status = truth_status(cleaned, truth[truth["detect_id"] != "s1_4"])
    assert not status.loc[4, "has_truth"]
    assert status.loc[4, "position_wrong"] and not status.loc[4, "correct"]
    assert status.loc[3, "position_error_m"] == pytest.approx(500.0)
    assert np.isnan(status.loc[6, "position_error_m"])  # a prediction row


def test_empty_truth_gives_an_empty_report(case: tuple[pd.DataFrame, ...]) -> None:
    labels, candidates, truth = case
    cleaned = clean_labels(labels, candidates, CONFIG)
    report = cleaning_report(cleaned, truth.iloc[:0], labels)
    assert len(report) == 0 and list(report.columns) == list(REPORT_COLUMNS)


def test_bad_report_inputs(case: tuple[pd.DataFrame, ...]) -> None:
    labels, candidates, truth = case
    cleaned = clean_labels(labels, candidates, CONFIG)
    with pytest.raises(ValueError, match=r"cleaned row 0 has detect_id 's1_0', which is not"):
        cleaning_report(cleaned, truth, labels.iloc[1:])
    doubled = pd.concat([truth, truth.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"truth row 9 repeats detect_id 's1_0'"):
        cleaning_report(cleaned, doubled, labels)
    with pytest.raises(ValueError, match=r"truth lacks columns \['labelled'\]"):
        cleaning_report(cleaned, truth.drop(columns="labelled"), labels)
    broken = truth.astype({"detect_scene_row": float})
    broken.loc[6, "detect_scene_row"] = np.nan
    with pytest.raises(ValueError, match=r"truth row 6 .*'s1_t6'.*detect_scene_row=nan"):
        cleaning_report(cleaned, broken, labels)
