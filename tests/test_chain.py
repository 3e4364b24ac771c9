"""The end of the default run through Kedro on tiny data with a tiny model: training of the
four folds, inference, tuning, submission, the CFAR baseline and predict."""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from tests.conftest import TINY_SYNTHETIC, TINY_TRAINING, make_project, run_kedro
from xview3_pipeline.core.constants import COMPONENTS, SUBMISSION_COLUMNS

TINY = (
    TINY_SYNTHETIC
    | TINY_TRAINING
    | {
        "inference": {"tile_size": 64, "step": 48, "batch_size": 2, "progress": False},
        "tuning": {
            "methods": ["optuna", "grid"],
            "optuna": {"n_trials": 8},
            "grid": {"vessel_fishing_points": 5, "objectness_step": 0.05},
        },
        "cfar_tuning": {"optuna": {"n_trials": 6}},
    }
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny data, folds and four one-epoch fold models, then inference → tuning → submission."""
    project = make_project(tmp_path_factory.mktemp("chain") / "project")
    cwd = Path.cwd()
    os.chdir(project)
    try:
        run_kedro(project, ["synthetic_data"], TINY)
        run_kedro(project, ["ingestion", "locations", "folds", "training"], TINY)
        run_kedro(project, ["inference", "tuning", "submission"], TINY)
    finally:
        os.chdir(cwd)
    return project


def _scenes(project: Path, which: str) -> set[str]:
    folds = pd.read_csv(project / "data/03_primary/fold_assignments.csv", dtype={"scene_id": str})
    manifest = pd.read_csv(project / "data/01_raw/synthetic/manifest.csv", dtype=str)
    if which == "holdout":
        return set(folds.loc[folds["fold"] == -1, "scene_id"])
    if which == "oof":
        return set(folds.loc[folds["fold"] >= 0, "scene_id"])
    return set(manifest.loc[manifest["split"] == "public", "scene_id"])


def test_inference_outputs(project: Path) -> None:
    assert list((project / "data/06_models/ensemble/ensemble.pt2").glob("*/ensemble.pt2"))
    for which in ("holdout", "test", "oof"):
        folder = project / "data/07_model_output/candidates" / which
        assert {p.stem for p in folder.glob("*.parquet")} == _scenes(project, which)
    one = pd.read_parquet(
        next((project / "data/07_model_output/candidates/test").glob("*.parquet"))
    )
    expected = {
        "detect_scene_row",
        "detect_lat",
        "detect_lon",
        "objectness_p",
        "vessel_p",
        "fishing_p",
    }
    assert expected | {"vessel_length_m", "distance_from_shore_km"} <= set(one.columns)
    assert (one["objectness_p"] >= 0.1).all()
    cv = pd.read_csv(project / "data/08_reporting/cv_scores.csv", dtype={"fold": str})
    assert list(cv["fold"]) == ["0", "1", "2", "3", "all"]


def test_tuning_and_submission_outputs(project: Path) -> None:
    versions = sorted(
        (project / "data/06_models/thresholds/best_thresholds.json").glob("*/best_thresholds.json")
    )
    best = json.loads(versions[-1].read_text())
    assert {"objectness", "vessel", "fishing"} <= set(best) and best["method"] == "optuna"
    assert (project / "data/06_models/thresholds/optuna.db").is_file()
    comparison = pd.read_csv(project / "data/08_reporting/tuning/comparison.csv")
    assert set(comparison["method"]) == {"optuna", "grid"}
    submission = pd.read_csv(project / "data/07_model_output/submission.csv")
    assert tuple(submission.columns) == SUBMISSION_COLUMNS
    layer = gpd.read_file(project / "data/07_model_output/detections.gpkg")
    assert len(layer) == len(submission) and layer.crs.to_epsg() == 4326
    report = json.loads((project / "data/08_reporting/test_score_report.json").read_text())
    assert set(report["scores"]) == set(COMPONENTS)
    assert (project / "data/08_reporting/test_pr_curve.png").is_file()


def test_inference_rerun_skips_finished_scenes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    cache = sorted((project / "data/07_model_output/cache").rglob("*.parquet"))
    assert cache
    before = {p: p.stat().st_mtime_ns for p in cache}
    interrupted = cache[0]
    interrupted.unlink()  # as if the run had stopped before this scene
    run_kedro(project, ["inference"], TINY)
    assert interrupted.is_file()
    assert all(p.stat().st_mtime_ns == t for p, t in before.items() if p != interrupted)


def test_cfar_baseline_and_predict(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    run_kedro(project, ["cfar_baseline"], TINY)
    report = json.loads((project / "data/08_reporting/cfar_score_report.json").read_text())
    assert set(report["scores"]) == set(COMPONENTS) and report["detector"] == "CFAR baseline"
    # One tuning method for CFAR: no comparison table, but the grid-style plot of its trials.
    assert not (project / "data/08_reporting/tuning/cfar_comparison.csv").exists()
    assert (project / "data/08_reporting/tuning/cfar_grid.png").is_file()
    public = project / "data/01_raw/xview3/public"
    for method in ("model", "cfar"):
        run_kedro(
            project, ["predict"], TINY | {"predict_root": str(public), "predict_method": method}
        )
        predictions = pd.read_csv(project / "data/07_model_output/predictions/predictions.csv")
        assert tuple(predictions.columns) == SUBMISSION_COLUMNS
        assert set(predictions["scene_id"]) <= _scenes(project, "test")
        geo = gpd.read_file(project / "data/07_model_output/predictions/predictions.gpkg")
        assert len(geo) == len(predictions)
