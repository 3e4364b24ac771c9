"""The official xView3 scorer against the official fixtures, its properties and CLI."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.core.metric.conftest import (
    CASES,
    LOCAL_FIXTURES,
    REPO,
    SCENE,
    SHARED_FIXTURES,
    VARIANTS,
    load_case,
    make_gt,
    rc,
)
from xview3_pipeline.core.constants import SUBMISSION_COLUMNS
from xview3_pipeline.core.metric import (
    COMPONENTS,
    MetricConfig,
    MetricResult,
    label_from_probabilities,
    score,
)

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


def _score_variant(root: Path, case: str, variant: str) -> MetricResult:
    pred, gt, shore = load_case(root, case)
    options = dict(VARIANTS[variant])
    use_shore = options.pop("shore", True)
    return score(pred, gt, MetricConfig.from_dict(options), shore_root=shore if use_shore else None)


def _assert_matches(result: MetricResult, expected: dict[str, float]) -> None:
    assert set(expected) == set(COMPONENTS)
    got = result.as_dict()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9, rel=0), name


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
# properties
# --------------------------------------------------------------------------------------


def _perfect(gt: pd.DataFrame) -> pd.DataFrame:
    scored = gt[gt["confidence"].isin(["HIGH", "MEDIUM"])]
    return scored[list(SUBMISSION_COLUMNS)].reset_index(drop=True)


@pytest.mark.parametrize("case", CASES)
def test_perfect_prediction_scores_one(case: str) -> None:
    _, gt, root = load_case(LOCAL_FIXTURES, case)
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
    positions = np.vstack([near, far]).astype(float)
    gt = make_gt(
        [
            rc(r, c)
            | {
                "distance_from_shore_km": r * 10 / 1000,
                "is_vessel": bool(i % 3),
                "is_fishing": bool(i % 2),
                "vessel_length_m": 10.0 + i,
            }
            for i, (r, c) in enumerate(positions)
        ]
    ).drop_duplicates(["detect_scene_row", "detect_scene_column"])
    result = score(_perfect(gt), gt, shore_root=root)
    assert result.as_dict() == dict.fromkeys(COMPONENTS, 1.0)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_permuting_prediction_rows_changes_nothing(variant: str) -> None:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case1")
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
    _, gt, root = load_case(LOCAL_FIXTURES, "case1")
    result = score(pred, gt, shore_root=root)
    assert result.as_dict() == dict.fromkeys(COMPONENTS, 0.0)
    assert result.details["n_gt_ignored"] == len(gt)


def test_empty_ground_truth_scores_zero() -> None:
    pred, gt, root = load_case(LOCAL_FIXTURES, "case2")
    assert score(pred, gt.iloc[:0], shore_root=root).as_dict() == dict.fromkeys(COMPONENTS, 0.0)


def test_result_api() -> None:
    result = score(*load_case(LOCAL_FIXTURES, "case2")[:2])
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
