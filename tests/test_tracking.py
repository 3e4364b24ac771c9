"""Experiment tracking and the experiment scoping of the run artefacts.

The metric extraction is tested on small tables; two Kedro runs on tiny data check what a
tracked run writes into a temporary MLflow store, with the sequential runner (the CFAR
evaluation: parameters, metrics, artifacts) and with the project's Dask runner.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pytest

from tests.conftest import REPO, TINY_SYNTHETIC, make_project, run_kedro
from xview3_pipeline.core.constants import COMPONENTS
from xview3_pipeline.report import comparison, comparison_text
from xview3_pipeline.tracking import (
    artifact_folder,
    check_experiment_name,
    cv_metrics,
    flatten_parameters,
    history_metrics,
    output_metrics,
    score_report_metrics,
    table_metrics,
    threshold_metrics,
    tracking_enabled,
)

EXPERIMENTS = {
    "exp_validation_only": {"validation": 1.0},
    "exp_raw_train": {"validation": 1.0, "train": 0.25},
    "exp_cleaned_train": {"validation": 1.0, "train_cleaned": 0.25},
}


def _scores(value: float) -> dict[str, float]:
    return dict.fromkeys(COMPONENTS, value)


def test_tracking_switch() -> None:
    assert tracking_enabled({})
    assert tracking_enabled({"XVIEW3_TRACKING": "1"})
    for off in ("0", "false", "OFF", " no "):
        assert not tracking_enabled({"XVIEW3_TRACKING": off})


def test_experiment_name_is_checked() -> None:
    assert check_experiment_name("exp_raw_train") == "exp_raw_train"
    for bad in ("", "../up", "a b", None, "_hidden"):
        with pytest.raises(ValueError, match=r"Global 'experiment'=.*letters, digits"):
            check_experiment_name(bad)


def test_parameters_are_flattened_for_the_blocks_read() -> None:
    parameters = {
        "folds": {"n_folds": 4, "label_sources": {"validation": 1.0}, "stratify_by": ["a"]},
        "training": {"data": {"crop_size": 64}},
        "raw_root": "data/01_raw/xview3",
    }
    flat = flatten_parameters(parameters, {"folds", "raw_root", "absent"})
    assert flat == {
        "folds.n_folds": "4",
        "folds.label_sources.validation": "1.0",
        "folds.stratify_by": "['a']",
        "raw_root": "data/01_raw/xview3",
    }
    whole = flatten_parameters(parameters, {"training"}, flatten=False)
    assert whole == {"training": "{'data': {'crop_size': 64}}"}
    long = flatten_parameters({"x": "y" * 7000}, {"x"})
    assert len(long["x"]) == 6000


def test_cv_scores_per_fold_pooled_and_mean() -> None:
    table = pd.DataFrame(
        [
            {"fold": "0", "scenes": 2, **_scores(0.2)},
            {"fold": "1", "scenes": 2, **_scores(0.4)},
            {"fold": "all", "scenes": 4, **_scores(0.35)},
        ]
    )
    metrics = cv_metrics("cnn", table)
    assert metrics["cnn.cv.fold_0.aggregate"] == 0.2
    assert metrics["cnn.cv.fold_1.length_acc"] == 0.4
    assert metrics["cnn.cv.pooled.aggregate"] == 0.35
    assert metrics["cnn.cv.mean.aggregate"] == pytest.approx(0.3)
    assert len(metrics) == 4 * len(COMPONENTS)


def test_test_report_overall_and_per_domain() -> None:
    report = {
        "detector": "CircleNet ensemble",
        "scores": _scores(0.5),
        "n_detections": 12,
        "n_truth": 10,
        "by_domain": {"in": {"scores": _scores(0.6), "n_scenes": 3}, "ood": _scores(0.3)},
        "domain_scenes": {"in": ["a", "b", "c"], "ood": ["d", "e"]},
        "true_attributes": {"all": _scores(0.7), "ood": _scores(0.65)},
    }
    metrics = score_report_metrics("cnn", report)
    assert metrics["cnn.test.true_attributes.ood.aggregate"] == 0.65
    assert metrics["cnn.test.true_attributes.all.length_acc"] == 0.7
    assert metrics["cnn.test.aggregate"] == 0.5
    assert metrics["cnn.test.n_truth"] == 10
    assert metrics["cnn.test.in.aggregate"] == 0.6
    assert metrics["cnn.test.ood.vessel_fscore"] == 0.3
    assert metrics["cnn.test.ood.n_scenes"] == 2
    assert score_report_metrics("cfar", {"scores": None}) == {}


def test_thresholds_and_report_tables() -> None:
    thresholds = {"objectness": 0.4, "vessel": 0.5, "fishing": 0.6, "holdout_scores": _scores(0.7)}
    metrics = threshold_metrics("cfar", thresholds)
    assert metrics["cfar.thresholds.fishing"] == 0.6
    assert metrics["cfar.holdout.aggregate"] == 0.7
    assert threshold_metrics("cnn", None) == {}
    table = pd.DataFrame(
        {"detector": ["cnn", "cnn"], "domain": ["in", "ood"], "aggregate": [0.6, math.nan]}
    )
    assert table_metrics("robustness_report", table) == {"robustness_report.cnn.in.aggregate": 0.6}
    named = output_metrics("label_cleaning_report", pd.DataFrame({"measure": ["x"], "recall": [1]}))
    assert named == [("label_cleaning_report.x.recall", 1.0, 0)]
    assert output_metrics("cnn.submission", pd.DataFrame()) == []


def test_the_fishing_model_is_tracked_by_its_rows_and_cross_validation() -> None:
    model = {"fishing": "context", "n_rows": 120, "n_scenes": 9, "fishing_share": 0.25,
             "cv": {"auc_model": 0.86, "auc_network": 0.8}, "coef": [1.0]}  # fmt: skip
    assert dict((k, v) for k, v, _ in output_metrics("cnn.attribute_model", model)) == {
        "cnn.attributes.n_rows": 120.0, "cnn.attributes.n_scenes": 9.0,
        "cnn.attributes.fishing_share": 0.25, "cnn.attributes.cv.auc_model": 0.86,
        "cnn.attributes.cv.auc_network": 0.8,
    }  # fmt: skip
    assert output_metrics("cnn.attribute_model", {"fishing": "network"}) == []


def test_xview2_reports_and_class_weights_are_metrics() -> None:
    report = {"score": 0.3, "localization_f1": 0.5, "n_images": 4, "scored": True, "split": "test"}
    assert dict((k, v) for k, v, _ in output_metrics("xview2_score_report", report)) == {
        "xview2.test.score": 0.3, "xview2.test.localization_f1": 0.5,
    }  # fmt: skip
    baseline = output_metrics("xview2_baseline_score_report", {"score": None, "damage_f1": 0.1})
    assert baseline == [("xview2.baseline.test.damage_f1", 0.1, 0)]
    fit = {
        "weights": [0.5, 1.1, 1.0, 1.0, 1.2],
        "score_before": {"score": 0.1},
        "score_after": {"score": 0.2},
        "method": "nelder-mead",
    }
    metrics = dict((k, v) for k, v, _ in output_metrics("xview2.siamese.class_weights", fit))
    assert metrics["xview2.siamese.class_weight_4"] == 1.2
    assert metrics["xview2.siamese.oof_before.score"] == 0.1
    assert metrics["xview2.siamese.oof_after.score"] == 0.2
    assert len(metrics) == 7


def test_training_history_is_a_series_per_epoch() -> None:
    history = pd.DataFrame(
        {"epoch": [0, 1], "step": [4, 8], "train/total": [2.0, 1.0], "val/aggregate": [0.1, 0.3]}
    )
    series = history_metrics("fold_0", history)
    assert ("fold_0.train/total", 1.0, 1) in series
    assert ("fold_0.val/aggregate", 0.1, 0) in series
    assert not any(key.endswith(".step") for key, _, _ in series)


def test_artifact_folders_drop_the_layer_and_experiment() -> None:
    path = PurePosixPath("data/08_reporting/exp_a/cnn/tuning/grid.png")
    assert artifact_folder(path, "exp_a") == "cnn/tuning"
    thresholds = PurePosixPath("data/06_models/exp_a/thresholds/cnn/best_thresholds.json")
    assert artifact_folder(thresholds, "exp_a") == "thresholds/cnn"
    shared = PurePosixPath("data/08_reporting/label_cleaning/examples")
    assert artifact_folder(shared, "exp_a", folder=True) == "label_cleaning/examples"


@pytest.mark.parametrize("env", [None, *EXPERIMENTS])
def test_environments_scope_the_run_artefacts(env: str | None) -> None:
    from kedro.config import OmegaConfigLoader

    from xview3_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(REPO / "conf"), env=env or "local", **CONFIG_LOADER_ARGS)
    experiment = env or "default"
    assert loader["globals"]["experiment"] == experiment
    parameters = loader["parameters"]
    assert dict(parameters["folds"]["label_sources"]) == EXPERIMENTS.get(env, {"validation": 1.0})
    assert parameters["training"]["work_dir"] == f"data/06_models/{experiment}/training_work"
    assert parameters["tuning_storage"] == f"data/06_models/{experiment}/thresholds/optuna.db"
    catalog = loader["catalog"]
    scoped = [
        ("fold_assignments", "filepath"),
        ("encoded_objects", "path"),
        ("{namespace}.model", "filepath"),
        ("ensemble_model", "filepath"),
        ("{detector}.{set}_candidates", "path"),
        ("{detector}.best_thresholds", "filepath"),
        ("{detector}.submission", "filepath"),
        ("{detector}.test_score_report", "filepath"),
        ("predictions", "filepath"),
    ]
    for name, key in scoped:
        assert f"/{experiment}/" in catalog[name][key], name
    for shared in ("scene_index", "labels", "scene_locations", "ingestion_report"):
        assert (
            "experiment" not in catalog[shared]["filepath"]
            and experiment not in Path(catalog[shared]["filepath"]).parts
        )
    if env == "exp_cleaned_train":
        assert parameters["label_cleaning"]["rounds"] == 1


def test_experiment_pipeline_is_the_default_without_shared_stages() -> None:
    from kedro.framework.project import configure_project, pipelines

    configure_project("xview3_pipeline")
    experiment = {n.name for n in pipelines["experiment"].nodes}
    default = {n.name for n in pipelines["__default__"].nodes}
    shared = {n.name for name in ("ingestion", "locations") for n in pipelines[name].nodes}
    assert experiment == default - shared
    # Alone, as `kedro run --pipelines experiment` loads it, it builds the same stages.
    from kedro.framework.project import find_pipelines

    alone = find_pipelines(raise_errors=True, pipelines_to_find=["experiment"])["experiment"]
    assert {n.name for n in alone.nodes} == experiment
    assert "split_folds_node" in experiment and "cluster_scenes_node" not in experiment


def test_comparison_reads_the_scoped_reports(tmp_path: Path) -> None:
    import json

    for name, aggregate in (("exp_a", 0.5), ("exp_b", 0.6)):
        cnn = tmp_path / name / "cnn"
        cnn.mkdir(parents=True)
        pd.DataFrame(
            [
                {"fold": "0", "aggregate": aggregate - 0.1},
                {"fold": "1", "aggregate": aggregate + 0.1},
                {"fold": "all", "aggregate": aggregate},
            ]
        ).to_csv(cnn / "cv_scores.csv", index=False)
        report = {"scores": _scores(aggregate), "by_domain": {"ood": {"scores": _scores(0.4)}}}
        (cnn / "test_score_report.json").write_text(json.dumps(report))
    cfar = tmp_path / "exp_a" / "cfar"
    cfar.mkdir()
    cfar_report = {"scores": _scores(0.3), "by_domain": {"ood": {"scores": _scores(0.1)}}}
    (cfar / "test_score_report.json").write_text(json.dumps(cfar_report))
    table = comparison(tmp_path, ["exp_a", "exp_b", "never_run"])
    assert table.loc["exp_a", "cv_mean"] == pytest.approx(0.5)
    assert table.loc["exp_b", "test"] == 0.6
    assert table.loc["exp_a", "ood_margin"] == pytest.approx(0.3)
    assert math.isnan(table.loc["exp_b", "ood_margin"]) and table.loc["never_run"].isna().all()
    text = comparison_text(table)
    assert "exp_b" in text and "0.6000" in text and text.splitlines()[-1].strip().endswith("-")


# ---------------------------------------------------------------- tracked Kedro runs


def _runs(project: Path) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project}/data/09_tracking/mlflow.db")
    experiment = client.get_experiment_by_name("xview3_pipeline")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def _artifacts(project: Path, run: Any, folder: str = "") -> set[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project}/data/09_tracking/mlflow.db")
    found: set[str] = set()
    for item in client.list_artifacts(run.info.run_id, folder or None):
        found |= _artifacts(project, run, item.path) if item.is_dir else {item.path}
    return found


@pytest.fixture(scope="module")
def tracked_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny synthetic scenes; the data preparation and the CFAR evaluation, tracked."""
    project = make_project(tmp_path_factory.mktemp("tracking") / "project")
    cwd = Path.cwd()
    os.chdir(project)
    previous = os.environ["XVIEW3_TRACKING"]
    try:
        run_kedro(project, ["synthetic_data"], TINY_SYNTHETIC)
        os.environ["XVIEW3_TRACKING"] = "1"
        params = TINY_SYNTHETIC | {"cfar_tuning": {"optuna": {"n_trials": 4}}}
        run_kedro(project, ["ingestion", "locations", "folds"], params)
        run_kedro(project, ["cfar_baseline"], params)
    finally:
        os.environ["XVIEW3_TRACKING"] = previous
        os.chdir(cwd)
    return project


@pytest.mark.kedro_run
def test_tracked_sequential_run_logs_params_metrics_and_artifacts(tracked_project: Path) -> None:
    runs = _runs(tracked_project)
    assert [r.info.run_name for r in runs] == ["ingestion+locations+folds", "cfar_baseline"]
    assert all(r.info.status == "FINISHED" for r in runs)
    prep, cfar = runs
    assert prep.data.tags["experiment"] == "default" and prep.data.tags["kedro_env"] == "local"
    assert prep.data.params["folds.label_sources.validation"] == "1.0"
    assert prep.data.params["folds.n_folds"] == "4"
    assert {"fold_balance.csv", "fold_balance.png", "ingestion_report.json"} <= _artifacts(
        tracked_project, prep
    )
    assert cfar.data.params["cfar.pfa"] == "1e-07"
    assert cfar.data.params["cfar_tuning.optuna.n_trials"] == "4"
    assert "folds.n_folds" not in cfar.data.params  # only the blocks the run reads
    metrics = cfar.data.metrics
    assert {f"cfar.test.{c}" for c in COMPONENTS} <= set(metrics)
    assert {"cfar.thresholds.objectness", "cfar.holdout.aggregate"} <= set(metrics)
    assert 0.0 <= metrics["cfar.test.aggregate"] <= 1.0
    logged = _artifacts(tracked_project, cfar)
    assert {
        "cfar/test_score_report.json",
        "cfar/test_pr_curve.png",
        "cfar/tuning/trials.csv",
        "thresholds/cfar/best_thresholds.json",
    } <= logged
    assert not any(path.startswith("quicklooks") for path in logged)
    assert not (tracked_project / "mlruns").exists()


@pytest.mark.kedro_run
def test_tracked_dask_run(tracked_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from xview3_pipeline.runners import DaskRunner

    monkeypatch.chdir(tracked_project)
    monkeypatch.setenv("XVIEW3_TRACKING", "1")
    bootstrap_project(tracked_project)
    # The runner's own LocalCluster, started in the project (workers resolve paths there).
    params = TINY_SYNTHETIC | {"folds": {"n_folds": 2}}
    runner = DaskRunner(n_workers=1, dashboard=False)
    with KedroSession.create(project_path=tracked_project, runtime_params=params) as session:
        session.run(pipeline_names=["folds"], runner=runner)
    run = _runs(tracked_project)[-1]
    assert run.info.run_name == "folds" and run.info.status == "FINISHED"
    assert run.data.params["folds.n_folds"] == "2"
    assert {"fold_balance.csv", "fold_balance.png"} <= _artifacts(tracked_project, run)
