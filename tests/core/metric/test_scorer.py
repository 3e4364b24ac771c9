"""Tests of the official xView3 metric (scorer, shoreline test, prepared path, CLI)."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xview3_pipeline.core.constants import SUBMISSION_COLUMNS
from xview3_pipeline.core.errors import InvalidSceneIdError
from xview3_pipeline.core.metric import (
    COMPONENTS,
    MetricConfig,
    MetricResult,
    label_from_probabilities,
    prepare,
    score,
    score_thresholds,
)
from xview3_pipeline.core.metric.shoreline import (
    Shoreline,
    find_shoreline_file,
    load_shoreline,
    load_shorelines,
    near_shore_mask,
    shore_radius_px,
)

REPO = Path(__file__).resolve().parents[3]
LOCAL_FIXTURES = REPO / "tests" / "data" / "xview3_metric"
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "xview3_metric"
CASES = ("case1", "case2")
#: The official flag sets of expected.json (meta.official_flags) as score() options.
VARIANTS: dict[str, dict[str, object]] = {
    "leaderboard": {},
    "no_shoreline": {"shore": False},
    "no_drop_low_detect": {"drop_low_detect": False},
    "plain_distance_matching": {"costly_dist": False},
    "score_all": {"score_all": True},
}
EXPECTED_FLAGS = {
    "leaderboard": "--distance_tolerance 200 --shore_tolerance 2 --shore_root caseN_shoreline "
    "--drop_low_detect --costly_dist",
    "no_shoreline": "--distance_tolerance 200 --shore_tolerance 2 --drop_low_detect --costly_dist",
    "no_drop_low_detect": "--distance_tolerance 200 --shore_tolerance 2 --shore_root "
    "caseN_shoreline --costly_dist",
    "plain_distance_matching": "--distance_tolerance 200 --shore_tolerance 2 --shore_root "
    "caseN_shoreline --drop_low_detect",
    "score_all": "--distance_tolerance 200 --shore_tolerance 2 --shore_root caseN_shoreline "
    "--score_all --costly_dist",
}
SCENE = "0123456789abcdefv"
SCENE_B = "0123456789abcdeft"
SCENE_C = "fedcba9876543210v"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _load_case(root: Path, case: str) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    pred = pd.read_csv(root / f"{case}_pred.csv", index_col=False)
    gt = pd.read_csv(root / f"{case}_gt.csv", index_col=False)
    return pred, gt, root / f"{case}_shoreline"


def _score_variant(root: Path, case: str, variant: str) -> MetricResult:
    pred, gt, shore = _load_case(root, case)
    options = dict(VARIANTS[variant])
    use_shore = options.pop("shore", True)
    return score(pred, gt, MetricConfig.from_dict(options), shore_root=shore if use_shore else None)


def _assert_matches(result: MetricResult, expected: dict[str, float]) -> None:
    assert set(expected) == set(COMPONENTS)
    got = result.as_dict()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9, rel=0), name


def _gt(rows: list[dict[str, object]]) -> pd.DataFrame:
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


def _pred(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"scene_id": SCENE, "is_vessel": True, "is_fishing": False, "vessel_length_m": 50.0}
    return pd.DataFrame([base | r for r in rows])


def _rc(row: float, col: float) -> dict[str, float]:
    return {"detect_scene_row": row, "detect_scene_column": col}


def _reference_module():
    """The loop-based official-style reference implementation of the benchmark."""
    path = REPO / "benchmarks" / "bench_metric.py"
    spec = importlib.util.spec_from_file_location("bench_metric_reference", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------
# fixtures of the official scorer's output
# --------------------------------------------------------------------------------------


def test_variant_options_match_official_flags() -> None:
    expected = json.loads((LOCAL_FIXTURES / "expected.json").read_text())
    assert expected["meta"]["official_flags"] == EXPECTED_FLAGS
    assert set(expected["cases"]["case1"]) >= set(VARIANTS)


def test_local_fixture_copy_is_identical_to_shared() -> None:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixture folder {SHARED_FIXTURES} is missing (outside the repo)")
    for name in ("expected.json", *(f"{c}_{k}.csv" for c in CASES for k in ("gt", "pred"))):
        assert (LOCAL_FIXTURES / name).read_bytes() == (SHARED_FIXTURES / name).read_bytes()


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("case", CASES)
def test_local_fixtures_match_official(case: str, variant: str) -> None:
    expected = json.loads((LOCAL_FIXTURES / "expected.json").read_text())
    _assert_matches(_score_variant(LOCAL_FIXTURES, case, variant), expected["cases"][case][variant])


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("case", CASES)
def test_shared_fixtures_match_official(case: str, variant: str) -> None:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixture folder {SHARED_FIXTURES} is missing (outside the repo)")
    expected = json.loads((SHARED_FIXTURES / "expected.json").read_text())
    _assert_matches(
        _score_variant(SHARED_FIXTURES, case, variant), expected["cases"][case][variant]
    )


@pytest.mark.parametrize("case", CASES)
def test_leaderboard_counts_match_fixture(case: str) -> None:
    expected = json.loads((LOCAL_FIXTURES / "expected.json").read_text())["cases"][case]
    counts = expected["leaderboard_counts_from_independent_impl"]
    details = _score_variant(LOCAL_FIXTURES, case, "leaderboard").details
    for key in ("loc", "shore", "vessel", "fishing"):
        assert {k: details[key][k] for k in counts[key]} == counts[key], key
    assert details["length_pairs"] == counts["length_pairs"]
    features = expected["scene_and_label_features"]
    assert details["n_pred_dropped_low"] == features["dropped_low_preds"]
    per_scene = details["per_scene"].set_index("scene_id")
    for one_sided in features["shore_scene_one_sided"]:
        row = per_scene.loc[one_sided["scene"]]
        assert row["n_gt_near_shore"] == one_sided["near_gt"]
        assert row["n_pred_near_shore"] == one_sided["near_pred"]
        assert not row["shore_counted"]
    assert (per_scene["status"] == "ignored_no_scored_gt").sum() == features["pred_only_scenes"]
    assert (per_scene["status"] == "ignored_no_predictions").sum() == features["gt_only_scenes"]
    assert details["official_would_crash_scenes"] == []
    assert details["warnings"] == []


def test_cli_prints_leaderboard_json(tmp_path: Path) -> None:
    expected = json.loads((LOCAL_FIXTURES / "expected.json").read_text())
    per_scene = tmp_path / "per_scene.csv"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "xview3_pipeline.metric",
            "--pred",
            str(LOCAL_FIXTURES / "case1_pred.csv"),
            "--gt",
            str(LOCAL_FIXTURES / "case1_gt.csv"),
            "--shore-root",
            str(LOCAL_FIXTURES / "case1_shoreline"),
            "--per-scene",
            str(per_scene),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = json.loads(out.stdout)
    assert list(printed) == list(COMPONENTS)
    for name, value in expected["cases"]["case1"]["leaderboard"].items():
        assert printed[name] == pytest.approx(value, abs=1e-9, rel=0)
    assert len(pd.read_csv(per_scene)) == 7


@pytest.mark.parametrize(
    ("flags", "variant"),
    [
        (["--no-drop-low"], "no_drop_low_detect"),
        (["--plain-distance"], "plain_distance_matching"),
        (["--score-all"], "score_all"),
    ],
)
def test_cli_switches(flags: list[str], variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    from xview3_pipeline.metric import main

    expected = json.loads((LOCAL_FIXTURES / "expected.json").read_text())["cases"]["case2"]
    main(
        [
            "--pred",
            str(LOCAL_FIXTURES / "case2_pred.csv"),
            "--gt",
            str(LOCAL_FIXTURES / "case2_gt.csv"),
            "--shore-root",
            str(LOCAL_FIXTURES / "case2_shoreline"),
            *flags,
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    for name, value in expected[variant].items():
        assert printed[name] == pytest.approx(value, abs=1e-9, rel=0)


def test_cli_does_not_import_kedro() -> None:
    code = (
        "import sys, xview3_pipeline.metric\n"
        "print(','.join(m for m in sys.modules if m == 'kedro' or m.startswith('kedro.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------------------
# matching quirks
# --------------------------------------------------------------------------------------


def test_issue9_costly_distance_recovers_obvious_matches() -> None:
    gt = _gt([_rc(100, 100), _rc(200, 200), _rc(300, 300)])
    pred = _pred([_rc(101, 101), _rc(201, 201), _rc(50, 50)])
    costly = score(pred, gt)
    plain = score(pred, gt, MetricConfig(costly_dist=False))
    assert (costly.details["loc"]["tp"], costly.details["loc"]["fp"]) == (2, 1)
    assert costly.loc_fscore == pytest.approx(2 / 3)
    assert plain.details["loc"]["tp"] == 0
    assert plain.loc_fscore == 0.0


def test_low_label_steals_prediction_from_high() -> None:
    gt = _gt([_rc(0, 100) | {"confidence": "LOW"}, _rc(0, 110)])
    pred = _pred([_rc(0, 104), _rc(0, 1000)])
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
    gt = _gt(
        [
            _rc(0, 100) | {"confidence": "LOW"},
            _rc(0, 110),
            _rc(0, 100) | {"scene_id": SCENE_B},
        ]
    )
    pred = _pred([_rc(0, 104), _rc(0, 101) | {"scene_id": SCENE_B}])
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
    gt = _gt([_rc(0, 0) | {"is_vessel": False}, _rc(0, 30) | {"is_vessel": True}])
    pred = _pred([_rc(0, 20) | {"is_vessel": True}, _rc(0, 45) | {"is_vessel": False}])
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
    gt = _gt([_rc(0, 0)])
    assert score(_pred([_rc(0, 20)]), gt).details["loc"]["tp"] == 0
    assert score(_pred([_rc(0, 19.999)]), gt).details["loc"]["tp"] == 1
    assert score(_pred([_rc(12, 16)]), gt).details["loc"]["tp"] == 0  # 3-4-5: 200 m
    assert (
        score(_pred([_rc(0, 20)]), gt, MetricConfig(distance_tolerance_m=200.01)).details["loc"][
            "tp"
        ]
        == 1
    )


def test_unscored_scenes_cost_nothing() -> None:
    gt = _gt(
        [
            _rc(0, 0),
            _rc(0, 0) | {"scene_id": SCENE_B},  # no prediction there: no FN
            _rc(50, 50) | {"scene_id": SCENE_C, "confidence": "LOW"},  # LOW only
        ]
    )
    pred = _pred(
        [
            _rc(0, 1),
            _rc(500, 500) | {"scene_id": SCENE_C},  # scene without HIGH/MEDIUM GT: no FP
            _rc(9, 9) | {"scene_id": "aaaaaaaaaaaaaaaav"},  # scene absent from GT: no FP
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
    gt = _gt(
        [
            _rc(100, 100) | {"distance_from_shore_km": 1.0},
            _rc(150, 300) | {"distance_from_shore_km": 1.5},
            _rc(100, 100) | {"scene_id": SCENE_B, "distance_from_shore_km": 1.0},
            _rc(1000, 100) | {"scene_id": SCENE_C, "distance_from_shore_km": 10.0},
        ]
    )
    pred = _pred(
        [
            _rc(101, 100),  # near, TP
            _rc(200, 50),  # near, FP
            _rc(600, 100) | {"scene_id": SCENE_B},  # far from shore: B is one-sided
            _rc(1000, 101) | {"scene_id": SCENE_C},
            _rc(50, 50) | {"scene_id": SCENE_C},  # near-shore prediction, no near GT
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
    gt = _gt([_rc(100, 100) | {"distance_from_shore_km": 0.0}])
    on_point = score(_pred([_rc(100, 100)]), gt, shore_root=root)
    assert on_point.details["per_scene"].loc[0, "n_pred_near_shore"] == 0
    assert on_point.loc_fscore_shore == 0.0
    off_point = score(_pred([_rc(100, 101)]), gt, shore_root=root)
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
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case1")
    shorelines = load_shorelines(root, gt["scene_id"].unique())
    assert score(pred, gt, shorelines=shorelines) == score(pred, gt, shore_root=root)
    raw = {k: v.points for k, v in shorelines.items()}
    assert score(pred, gt, shorelines=raw) == score(pred, gt, shore_root=root)


# --------------------------------------------------------------------------------------
# classification and length
# --------------------------------------------------------------------------------------


def test_vessel_and_fishing_rules() -> None:
    gt = _gt(
        [
            _rc(0, 0) | {"is_vessel": True, "is_fishing": True},  # TP / TP
            _rc(0, 100) | {"is_vessel": False, "is_fishing": True},  # GT non-vessel: no fishing
            _rc(0, 200) | {"is_vessel": np.nan, "is_fishing": np.nan},  # unknown: skipped
            _rc(0, 300) | {"is_vessel": True, "is_fishing": False},  # NaN prediction: wrong
            _rc(0, 400) | {"is_vessel": False, "is_fishing": False},  # TN: ignored
        ]
    )
    pred = _pred(
        [
            _rc(0, 1) | {"is_vessel": True, "is_fishing": True},
            _rc(0, 101) | {"is_vessel": True, "is_fishing": True},  # vessel FP
            _rc(0, 201) | {"is_vessel": True, "is_fishing": True},
            _rc(0, 301) | {"is_vessel": np.nan, "is_fishing": np.nan},  # vessel FN, fishing FP
            _rc(0, 401) | {"is_vessel": False, "is_fishing": False},
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
    gt = _gt([_rc(0, 0) | {"vessel_length_m": 100.0}, _rc(0, 100) | {"vessel_length_m": 600.0}])
    pred = _pred([_rc(0, 0) | {"vessel_length_m": 150.0}, _rc(0, 100) | {"vessel_length_m": 900.0}])
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


def test_pd_na_labels_are_unknown(caplog: pytest.LogCaptureFixture) -> None:
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case1")
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
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case2")
    text = gt.copy()
    text["is_vessel"] = gt["is_vessel"].map({True: "True", False: "false"}).fillna("")
    assert score(pred, text, shore_root=root) == score(pred, gt, shore_root=root)
    bad = gt.assign(is_vessel="maybe")
    with pytest.raises(ValueError, match="non-boolean"):
        score(pred, bad)


def test_nan_coordinates_raise_with_scene_and_row() -> None:
    gt = _gt([_rc(0, 0), _rc(5, 5)])
    pred = _pred([_rc(0, 1), _rc(np.nan, 3)])
    with pytest.raises(ValueError, match=rf"prediction table, scene '{SCENE}', row 1"):
        score(pred, gt)
    gt_bad = _gt([_rc(0, 0), _rc(5, np.nan)])
    with pytest.raises(ValueError, match=rf"ground-truth table, scene '{SCENE}', row 1"):
        score(_pred([_rc(0, 1)]), gt_bad)
    # A NaN row in a scene that is not scored is ignored, as in the official code.
    elsewhere = _pred([_rc(0, 1), _rc(np.nan, 3) | {"scene_id": SCENE_B}])
    assert score(elsewhere, gt).loc_fscore == pytest.approx(2 / 3)


def test_missing_columns_raise() -> None:
    gt = _gt([_rc(0, 0)])
    with pytest.raises(ValueError, match="vessel_length_m"):
        score(_pred([_rc(0, 0)]).drop(columns="vessel_length_m"), gt)
    with pytest.raises(ValueError, match="confidence"):
        score(_pred([_rc(0, 0)]), gt.drop(columns="confidence"))
    assert (
        score(
            _pred([_rc(0, 0)]), gt.drop(columns="confidence"), MetricConfig(score_all=True)
        ).loc_fscore
        == 1
    )


# --------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------


def _perfect(gt: pd.DataFrame) -> pd.DataFrame:
    scored = gt[gt["confidence"].isin(["HIGH", "MEDIUM"])]
    return scored[list(SUBMISSION_COLUMNS)].reset_index(drop=True)


@pytest.mark.parametrize("case", CASES)
def test_perfect_prediction_scores_one(case: str) -> None:
    _, gt, root = _load_case(LOCAL_FIXTURES, case)
    result = score(_perfect(gt), gt, shore_root=root)
    for name in ("loc_fscore", "vessel_fscore", "fishing_fscore", "length_acc"):
        assert getattr(result, name) == 1.0, name


def test_perfect_prediction_with_consistent_shore_scores_one(tmp_path: Path) -> None:
    root = tmp_path / "shore"
    root.mkdir()
    rng = np.random.default_rng(0)
    np.save(root / f"{SCENE}_shoreline.npy", np.stack([np.zeros(1000), np.arange(1000.0)], 1))
    near = rng.integers(5, 150, (20, 2))
    far = rng.integers(300, 900, (20, 2))
    rc = np.vstack([near, far]).astype(float)
    gt = _gt(
        [
            _rc(r, c)
            | {
                "distance_from_shore_km": r * 10 / 1000,
                "is_vessel": bool(i % 3),
                "is_fishing": bool(i % 2),
                "vessel_length_m": 10.0 + i,
            }
            for i, (r, c) in enumerate(rc)
        ]
    ).drop_duplicates(["detect_scene_row", "detect_scene_column"])
    result = score(_perfect(gt), gt, shore_root=root)
    assert result.as_dict() == dict.fromkeys(COMPONENTS, 1.0)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_permuting_prediction_rows_changes_nothing(variant: str) -> None:
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case1")
    options = dict(VARIANTS[variant])
    shore = root if options.pop("shore", True) else None
    config = MetricConfig.from_dict(options)
    base = score(pred, gt, config, shore_root=shore)
    for seed in range(3):
        shuffled = pred.sample(frac=1.0, random_state=seed)
        got = score(shuffled, gt, config, shore_root=shore)
        assert got.details["loc"] == base.details["loc"]
        assert got.details["vessel"] == base.details["vessel"]
        # Only the summation order of the length errors changes (last-bit differences).
        for name in COMPONENTS:
            assert getattr(got, name) == pytest.approx(getattr(base, name), abs=1e-12, rel=0)


@pytest.mark.parametrize(
    "pred",
    [pd.DataFrame(columns=list(SUBMISSION_COLUMNS)), pd.DataFrame()],
    ids=["header_only", "no_columns"],
)
def test_empty_submission_scores_zero(pred: pd.DataFrame) -> None:
    _, gt, root = _load_case(LOCAL_FIXTURES, "case1")
    result = score(pred, gt, shore_root=root)
    assert result.as_dict() == dict.fromkeys(COMPONENTS, 0.0)
    assert result.details["n_gt_ignored"] == len(gt)


def test_empty_ground_truth_scores_zero() -> None:
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case2")
    assert score(pred, gt.iloc[:0], shore_root=root).as_dict() == dict.fromkeys(COMPONENTS, 0.0)


def test_result_api() -> None:
    result = score(*_load_case(LOCAL_FIXTURES, "case2")[:2])
    assert list(result.as_dict()) == list(COMPONENTS)
    with pytest.raises(AttributeError):
        result.aggregate = 1.0  # type: ignore[misc]
    assert isinstance(result.details["per_scene"], pd.DataFrame)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_loop_reference_on_random_data(seed: int, tmp_path: Path) -> None:
    bench = _reference_module()
    cands, gt = bench.make_holdout(
        tmp_path, n_scenes=3, gt_per_scene=40, pred_per_scene=70, size_px=600, seed=seed
    )
    table = label_from_probabilities(cands, 0.5, 0.4)
    for options, ref_options in [
        ({}, {}),
        ({"drop_low_detect": False}, {"drop_low_detect": False}),
        ({"costly_dist": False}, {"costly": False}),
        ({"score_all": True}, {"score_all": True}),
    ]:
        got = score(table, gt, MetricConfig(**options), shore_root=tmp_path).as_dict()
        ref = bench.reference_score(table, gt, str(tmp_path), **ref_options)
        for name in COMPONENTS:
            assert got[name] == pytest.approx(ref[name], abs=1e-12, rel=0), (options, name)


# --------------------------------------------------------------------------------------
# prepared path
# --------------------------------------------------------------------------------------


def _candidates(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case1")
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
    pred, gt, root = _load_case(LOCAL_FIXTURES, "case2")
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
