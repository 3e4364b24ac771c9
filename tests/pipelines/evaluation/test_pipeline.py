"""The evaluation template: its namespaces and old names, and its detection step on an
in-memory catalog with a fake detector (failing scene, empty scene, all-or-nothing)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import DatasetError
from kedro.runner import SequentialRunner

from xview3_pipeline.core.constants import SUBMISSION_COLUMNS
from xview3_pipeline.core.detection import CANDIDATE_COLUMNS, Scene, empty_candidates
from xview3_pipeline.datasets import CandidateSetDataset
from xview3_pipeline.pipelines.evaluation.nodes import make_submission
from xview3_pipeline.pipelines.evaluation.pipeline import (
    DETECT,
    create_pipeline,
    evaluation_steps,
    evaluation_template,
)
from xview3_pipeline.pipelines.structure import fold_namespaces


def _names(pipeline: object) -> set[str]:
    return {n.name for n in pipeline.nodes}  # type: ignore[attr-defined]


def test_one_template_in_two_namespaces() -> None:
    full = create_pipeline()
    template = _names(evaluation_template())
    for detector in ("cnn", "cfar"):
        assert {f"{detector}.{name}" for name in template} <= _names(full)
    assert "cnn.detect_out_of_fold_node" in _names(full)
    assert not any(name.startswith("cfar.") and "out_of_fold" in name for name in _names(full))
    outputs = full.all_outputs()
    for detector in ("cnn", "cfar"):
        assert {f"{detector}.best_thresholds", f"{detector}.test_score_report"} <= outputs
    assert {f"{ns}.model" for ns in fold_namespaces()} <= full.inputs()
    assert not {"cfar_best_thresholds", "best_thresholds", "test_candidates"} & outputs


def test_old_pipeline_names_are_steps_of_the_template() -> None:
    from kedro.framework.project import configure_project, pipelines

    configure_project("xview3_pipeline")
    full = _names(pipelines["evaluation"])
    steps = {name: _names(pipelines[name]) for name in ("inference", "tuning", "submission")}
    assert steps["inference"] == _names(evaluation_steps("cnn", DETECT))
    assert "export_ensemble_node" in steps["inference"]
    assert steps["tuning"] == {"cnn.tune_thresholds_node"}
    assert steps["submission"] == {"cnn.make_submission_node", "cnn.report_test_scores_node"}
    assert _names(pipelines["cfar_baseline"]) == {n for n in full if n.startswith("cfar.")}
    # the comparison after both detectors is a step of its own
    assert _names(pipelines["robustness"]) == {"robustness_report_node"}
    assert pipelines["robustness"].inputs() == {"cnn.test_score_report", "cfar.test_score_report"}
    steps["robustness"] = _names(pipelines["robustness"])
    assert set().union(*steps.values()) | _names(pipelines["cfar_baseline"]) == full
    default = _names(pipelines["__default__"])
    assert full <= default and "ingestion.index_scenes_node" in default
    assert {"cnn.report_test_scores_node", "cfar.report_test_scores_node"} <= default


class FakeDetector:
    """Fails on scene ``bad``, finds nothing on ``sea``, one candidate elsewhere."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def fingerprint(self) -> str:
        return "c" * 64

    def detect(self, scene: Scene) -> pd.DataFrame:
        self.calls.append(scene.scene_id)
        if scene.scene_id == "bad":
            raise OSError(f"{scene.vh_path}: truncated")
        if scene.scene_id == "sea":
            return pd.DataFrame()  # a detector that forgets the columns when empty
        row = empty_candidates().reindex([0])
        row[["detect_scene_row", "detect_scene_column"]] = 5
        row[["objectness_p", "vessel_p", "fishing_p"]] = 0.9
        row["scene_id"] = scene.scene_id
        return row


def _catalog(tmp_path: Path, detector: FakeDetector, on_scene_error: str) -> DataCatalog:
    ids = ["good", "bad", "sea", "held"]
    index = pd.DataFrame(
        {
            "scene_id": ids,
            "vh_path": [f"public/{s}/VH_dB.tif" for s in ids],
            "vv_path": [f"public/{s}/VV_dB.tif" for s in ids],
            "height": 64,
            "width": 64,
            "split": ["public", "public", "public", "train"],
        }
    )
    catalog = DataCatalog(
        {
            f"{which}_candidates": CandidateSetDataset(path=str(tmp_path / which))
            for which in ("holdout", "test")
        }
    )
    catalog["failed_scenes"] = MemoryDataset()
    catalog["detector"] = MemoryDataset(detector, copy_mode="assign")
    catalog["scene_index"] = index
    catalog["fold_assignments"] = pd.DataFrame({"scene_id": ["held"], "fold": [-1]})
    catalog["params:raw_root"] = str(tmp_path / "raw")
    catalog["params:detection"] = {"on_scene_error": on_scene_error}
    catalog["params:executor"] = "local"
    catalog["params:dask"] = {}
    return catalog


def _detection() -> object:
    return evaluation_template().only_nodes_with_tags(DETECT)


def test_detection_isolates_a_failing_scene(tmp_path: Path) -> None:
    detector = FakeDetector()
    catalog = _catalog(tmp_path, detector, "continue")
    SequentialRunner().run(_detection(), catalog)
    failed = catalog.load("failed_scenes")
    assert list(failed[["set", "scene_id"]].itertuples(index=False, name=None)) == [("test", "bad")]
    assert failed["source"].iloc[0] == str(tmp_path / "raw/public/bad")
    assert "truncated" in failed["error"].iloc[0]
    test = catalog.load("test_candidates")
    assert list(test) == ["good", "sea"] and list(test.failed) == ["bad"]
    assert list(test["sea"]().columns) == list(CANDIDATE_COLUMNS)
    # a rerun retries only the failed scene
    detector.calls.clear()
    SequentialRunner().run(_detection(), catalog)
    assert detector.calls == ["bad"]


def test_raise_publishes_nothing(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, FakeDetector(), "raise")
    with pytest.raises(DatasetError, match=r"scene bad .*truncated"):
        SequentialRunner().run(_detection(), catalog)
    assert not (tmp_path / "test" / "manifest.json").exists()


def test_submission_of_an_empty_sea_has_the_columns(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, FakeDetector(), "continue")
    SequentialRunner().run(_detection(), catalog)
    test = catalog.load("test_candidates")
    sea_only = type(test)(files={"sea": test.files["sea"]})
    index = pd.DataFrame({"scene_id": ["sea"], "split": ["public"]})
    submission, layer, _, detections = make_submission(
        sea_only, {"objectness": 0.5, "vessel": 0.5, "fishing": 0.5}, index
    )
    assert submission.empty and tuple(submission.columns) == SUBMISSION_COLUMNS
    assert layer.empty and detections.empty
    with pytest.raises(ValueError, match="No tuned thresholds"):
        make_submission(sea_only, None, index)
