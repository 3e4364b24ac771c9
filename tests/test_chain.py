"""The end of the default run through Kedro on tiny data with a tiny model: training of all
folds, the evaluation of both detectors (``inference``, ``tuning``, ``submission`` and
``cfar_baseline`` are its steps), predict, and inference killed with SIGKILL and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from tests.conftest import TINY_SYNTHETIC, TINY_TRAINING, make_project, run_kedro
from xview3_pipeline.core.constants import COMPONENTS, SUBMISSION_COLUMNS
from xview3_pipeline.core.detection import CANDIDATE_COLUMNS
from xview3_pipeline.core.detection.attributes import FishingModel
from xview3_pipeline.datasets import CandidateSetDataset
from xview3_pipeline.pipelines.structure import fold_namespaces
from xview3_pipeline.report import summary

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
        # Few labelled candidates in tiny scenes: fit the fishing model anyway.
        "attributes": {"min_rows": 5, "match_objectness": 0.1, "cv_folds": 2},
    }
)
CANDIDATES = Path("data/07_model_output/default/candidates")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny data, folds and one-epoch fold models, then inference → tuning → submission."""
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
    folds = pd.read_csv(
        project / "data/03_primary/default/fold_assignments.csv", dtype={"scene_id": str}
    )
    manifest = pd.read_csv(project / "data/01_raw/synthetic/manifest.csv", dtype=str)
    if which == "holdout":
        return set(folds.loc[folds["fold"] == -1, "scene_id"])
    if which == "oof":
        return set(folds.loc[folds["fold"] >= 0, "scene_id"])
    return set(manifest.loc[manifest["split"] == "public", "scene_id"])


def _candidate_set(project: Path, detector: str, which: str) -> CandidateSetDataset:
    return CandidateSetDataset(path=str(project / CANDIDATES / detector / which))


def test_inference_outputs(project: Path) -> None:
    assert list((project / "data/06_models/default/ensemble/ensemble.pt2").glob("*/ensemble.pt2"))
    for which in ("holdout", "test", "oof"):
        published = _candidate_set(project, "cnn", which).load()
        assert set(published) == _scenes(project, which) and not published.failed
    one = _candidate_set(project, "cnn", "test").load()
    frame = one[next(iter(one))]()
    assert set(CANDIDATE_COLUMNS) <= set(frame.columns)
    assert (frame["objectness_p"] >= 0.1).all()
    # each fold's validation scenes come from that fold's own model: one fingerprint per fold
    oof = _candidate_set(project, "cnn", "oof").load()
    folds = pd.read_csv(
        project / "data/03_primary/default/fold_assignments.csv", dtype={"scene_id": str}
    )
    for _, scenes in folds[folds["fold"] >= 0].groupby("fold"):
        assert len({oof.fingerprints[s] for s in scenes["scene_id"]}) == 1
    cv = pd.read_csv(project / "data/08_reporting/default/cnn/cv_scores.csv", dtype={"fold": str})
    assert list(cv["fold"]) == [*(str(k) for k in range(len(fold_namespaces()))), "all"]
    failed = pd.read_csv(project / "data/08_reporting/default/cnn/failed_scenes.csv")
    assert list(failed.columns) == ["set", "scene_id", "source", "error"] and failed.empty


def test_the_fishing_model_is_fitted_out_of_sample_and_rescores_the_candidates(
    project: Path,
) -> None:
    [path] = (project / "data/06_models/default/attributes/cnn").glob("*/*/fishing_model.json")
    model = FishingModel.from_dict(json.loads(path.read_text()))
    assert model is not None
    # The train scenes are the holdout here: the model is fitted on the fold scenes alone.
    assert not list((project / CANDIDATES / "cnn/attribute").glob("*/*.parquet"))
    assert model.n_scenes <= len(_scenes(project, "oof")) and model.n_rows >= 5
    assert {"auc_model", "auc_network"} <= set(model.cv)
    for which in ("holdout", "test"):
        published = _candidate_set(project, "cnn", which).load()
        frame = published[sorted(published)[0]]()
        np.testing.assert_allclose(frame["fishing_p"], model.predict(frame))
    oof = _candidate_set(project, "cnn", "oof").load()
    frame = oof[sorted(oof)[0]]()  # the fold models' own heads, not rescored
    assert not np.allclose(frame["fishing_p"], model.predict(frame))


def test_tuning_and_submission_outputs(project: Path) -> None:
    thresholds = project / "data/06_models/default/thresholds/cnn/best_thresholds.json"
    best = json.loads(sorted(thresholds.glob("*/best_thresholds.json"))[-1].read_text())
    assert {"objectness", "vessel", "fishing"} <= set(best) and best["method"] == "optuna"
    assert (project / "data/06_models/default/thresholds/optuna.db").is_file()
    comparison = pd.read_csv(project / "data/08_reporting/default/cnn/tuning/comparison.csv")
    assert set(comparison["method"]) == {"optuna", "grid"}
    submission = pd.read_csv(project / "data/07_model_output/default/cnn/submission.csv")
    assert tuple(submission.columns) == SUBMISSION_COLUMNS
    layer = gpd.read_file(project / "data/07_model_output/default/cnn/detections.gpkg")
    assert len(layer) == len(submission) and layer.crs.to_epsg() == 4326
    report = json.loads(
        (project / "data/08_reporting/default/cnn/test_score_report.json").read_text()
    )
    assert set(report["scores"]) == set(COMPONENTS) and report["failed_scenes"] == []
    assert (project / "data/08_reporting/default/cnn/test_pr_curve.png").is_file()


def test_cfar_baseline_predict_and_report(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    run_kedro(project, ["cfar_baseline"], TINY)
    report = json.loads(
        (project / "data/08_reporting/default/cfar/test_score_report.json").read_text()
    )
    assert set(report["scores"]) == set(COMPONENTS) and report["detector"] == "CFAR baseline"
    assert (project / "data/06_models/default/thresholds/cfar/best_thresholds.json").is_dir()
    # one tuning method for CFAR: no comparison table, but the grid-style plot of its trials
    assert not (project / "data/08_reporting/default/cfar/tuning/comparison.csv").exists()
    assert (project / "data/08_reporting/default/cfar/tuning/grid.png").is_file()
    table = summary(project / "data/08_reporting/default")
    assert "CircleNet ensemble" in table and "CFAR baseline" in table
    assert all(component in table for component in COMPONENTS) and "missing" not in table
    public = project / "data/01_raw/xview3/public"
    run_kedro(project, ["predict"], TINY | {"predict_root": str(public)})
    predictions = pd.read_csv(project / "data/07_model_output/default/predictions/predictions.csv")
    assert tuple(predictions.columns) == SUBMISSION_COLUMNS
    assert set(predictions["scene_id"]) <= _scenes(project, "test")
    geo = gpd.read_file(project / "data/07_model_output/default/predictions/predictions.gpkg")
    assert len(geo) == len(predictions)


_DRIVER = """
import json, sys, time
from pathlib import Path

from xview3_pipeline.core.detection import cnn

detect, calls = cnn.CnnDetector.detect, []


def slow_after_first(self, scene):
    # the first scene runs at full speed; the second waits, so the kill lands after the
    # first scene was saved and before the set is complete
    if calls:
        time.sleep(60)
    calls.append(scene.scene_id)
    return detect(self, scene)


cnn.CnnDetector.detect = slow_after_first

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

project = Path(sys.argv[1])
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params=json.loads(sys.argv[2])) as s:
    s.run(pipeline_names=["inference"], node_names=json.loads(sys.argv[3]))
"""
OOF_NODES = ["cnn.build_fold_detectors_node", "cnn.detect_out_of_fold_node"]


def _run_nodes(project: Path, params: dict[str, Any], nodes: list[str]) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=["inference"], node_names=nodes)


def _wait_for_new_scene(folder: Path, old: set[str], process: subprocess.Popen) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        new = [p for p in folder.glob("*/*.parquet") if p.parent.name not in old]
        if new:
            return new[0]
        if process.poll() is not None:
            raise AssertionError(f"driver ended early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no scene was saved in time")


def test_inference_killed_after_first_scene_resumes(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(project)
    folder = project / CANDIDATES / "cnn" / "oof"
    manifest_before = (folder / "manifest.json").read_text()
    old = {p.name for p in folder.iterdir() if p.is_dir()}
    # other settings, other fingerprints: a new set that the kill interrupts
    params = TINY | {"inference": {**TINY["inference"], "min_objectness": 0.12}}
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    process = subprocess.Popen(
        [sys.executable, str(driver), str(project), json.dumps(params), json.dumps(OOF_NODES)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first = _wait_for_new_scene(folder, old, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    # the consumer still sees the previous complete set, never the killed run's one scene
    assert (folder / "manifest.json").read_text() == manifest_before
    assert set(_candidate_set(project, "cnn", "oof").load()) == _scenes(project, "oof")
    saved = {
        p: p.stat().st_mtime_ns for p in folder.glob("*/*.parquet") if p.parent.name not in old
    }
    assert first in saved and len(saved) < len(_scenes(project, "oof"))

    _run_nodes(project, params, OOF_NODES)
    assert all(p.stat().st_mtime_ns == t for p, t in saved.items())  # finished scenes skipped
    resumed = _candidate_set(project, "cnn", "oof").load()
    assert set(resumed) == _scenes(project, "oof")
    assert not {fp[:16] for fp in resumed.fingerprints.values()} & old
    assert not any((folder / name).exists() for name in old)  # the earlier set is pruned
    frames = {s: resumed[s]() for s in resumed}

    # an uninterrupted run of the same settings gives the same candidates
    (folder / "manifest.json").rename(tmp_path / "manifest.json")
    for sub in [p for p in folder.iterdir() if p.is_dir()]:
        sub.rename(tmp_path / sub.name)
    _run_nodes(project, params, OOF_NODES)
    fresh = _candidate_set(project, "cnn", "oof").load()
    assert set(fresh) == set(frames)
    for scene_id, frame in frames.items():
        pd.testing.assert_frame_equal(fresh[scene_id](), frame)
