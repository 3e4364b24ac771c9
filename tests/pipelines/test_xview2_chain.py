"""The xView2 model pipelines run through Kedro, stage by stage, on tiny synthetic pairs.

``xview2_training``, ``xview2_pseudo_labels``, ``xview2_inference``, ``xview2_tuning``
and ``xview2_submission`` each run as their own ``kedro run`` after the data stages, on
six 64 px train pairs in two folds and two test pairs, one epoch per model.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from xview3_pipeline.core.xview2.metric import SCORE_KEYS, score_directories
from xview3_pipeline.pipeline_registry import XVIEW2_STAGES

#: Tiny data and one-epoch models (conf/local: the namespaces are built from conf/).
TINY = {
    "xview2": {
        "synthetic": {
            "image_size": 64,
            "n_events": 2,
            "pairs_per_split": {"train": 6, "test": 2, "hold": 0},
        },
        "ingestion": {"splits": ["train", "test"]},
        "folds": {"n_folds": 2},
        "training": {
            "data": {"crop_size": 64, "batch_size": 2, "samples_per_epoch": 4},
            "trainer": {"max_epochs": 1},
        },
        "pseudo_labels": {
            "labels": {"threshold": 0.2},
            "overrides": {"trainer": {"max_epochs": 1}},
        },
        "inference": {"tta": "flip"},
        "tuning": {"maxiter": 4, "max_pixels_per_image": 2048},
        "submission": {"examples": 1},
    }
}


@pytest.mark.kedro_run
def test_each_xview2_stage_runs_through_kedro_to_scored_submissions(
    kedro_project: Path, kedro_runner
) -> None:
    (kedro_project / "conf/local/parameters_xview2.yml").write_text(yaml.safe_dump(TINY))
    kedro_runner(kedro_project, ["xview2_synthetic_data"])
    for stage in XVIEW2_STAGES:
        kedro_runner(kedro_project, [stage])

    data = kedro_project / "data"
    for arch in ("siamese", "early_fusion"):
        for k in (0, 1):
            assert list((data / f"06_models/xview2/{arch}/fold_{k}/model.pt").iterdir())
            history = pd.read_csv(
                data / f"08_reporting/xview2/training/{arch}/fold_{k}/history.csv"
            )
            assert "val/score" in history.columns and len(history) == 1
    # Only the ensemble's models are fine-tuned on the pseudo-labels.
    assert (data / "06_models/xview2/siamese/fold_0/pseudo_labels/model.pt").is_dir()
    assert not (data / "06_models/xview2/early_fusion/fold_0/pseudo_labels").exists()
    summary = json.loads((data / "08_reporting/xview2/pseudo_labels.json").read_text())
    assert summary["pairs"] == 2
    assert sum(row["pixels"] for row in summary["labels"]) == 2 * 64 * 64
    pseudo = sorted((data / "07_model_output/xview2/pseudo_labels").glob("*.png"))
    assert len(pseudo) == 2
    # Out-of-fold probabilities cover the six train pairs, test ones the two test pairs.
    probs = data / "07_model_output/xview2/probabilities/siamese"
    assert len(list((probs / "oof").glob("*.npy"))) == 6
    test_files = sorted((probs / "test").glob("*.npy"))
    assert len(test_files) == 2
    p = np.load(test_files[0], allow_pickle=False)
    assert p.shape == (5, 64, 64) and p.dtype == np.float16
    np.testing.assert_allclose(p.astype(np.float32).sum(axis=0), 1.0, atol=5e-3)
    weights = json.loads((data / "07_model_output/xview2/class_weights/siamese.json").read_text())
    assert len(weights["weights"]) == 5 and weights["n_pairs"] == 6
    assert weights["score_after"]["score"] >= weights["score_before"]["score"] - 1e-12

    # The submission is the official layout: the scorer reads it directly.
    submission = data / "07_model_output/xview2/submission/test"
    names = sorted(f.name for f in submission.iterdir())
    assert len(names) == 4 and all(
        n.startswith("test_") and n.endswith("_prediction.png") for n in names
    )
    damage = np.asarray(Image.open(next(submission.glob("test_damage_*"))))
    assert damage.dtype == np.uint8 and damage.max() <= 4
    direct = score_directories(submission, data / "03_primary/xview2/targets/test")
    for name, entry in (("score_report", "xview2_score_report"), ("baseline_score_report", None)):
        report = json.loads((data / f"08_reporting/xview2/{name}.json").read_text())
        assert set(SCORE_KEYS) <= set(report) and report["scored"] is True
        assert report["n_images"] == 2
        assert all(0.0 <= report[k] <= 1.0 + 1e-6 for k in SCORE_KEYS)
        if entry:
            assert report["score"] == pytest.approx(direct["score"], abs=1e-12)
    cm = pd.read_csv(data / "08_reporting/xview2/confusion_matrix.csv", index_col=0)
    assert cm.shape == (5, 5) and int(cm.to_numpy().sum()) == 2 * 64 * 64
    assert (data / "08_reporting/xview2/confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    polygons = gpd.read_file(data / "07_model_output/xview2/building_damage.gpkg")
    assert {"pair_id", "damage", "area_px"} <= set(polygons.columns)
    assert len(list((data / "08_reporting/xview2/examples").glob("*.png"))) == 1


def test_the_chain_and_its_stages_are_registered(kedro_project: Path) -> None:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(kedro_project)
    chain = pipelines["xview2"]
    names = {n.name for n in chain.nodes}
    for arch in ("siamese", "early_fusion"):
        for k in range(2):  # the CPU default: two folds
            assert f"xview2.{arch}.fold_{k}.train_xview2_fold_node" in names
    assert "xview2.siamese.fold_0.fine_tune_xview2_fold_node" in names
    assert not any(n.startswith("xview2.early_fusion.fold_0.fine_tune") for n in names)
    assert {"xview2_score_report", "xview2_baseline_score_report"} <= chain.all_outputs()
    generator = {n.name for n in pipelines["xview2_synthetic_data"].nodes}
    assert generator and not generator & names  # the chain never writes the raw root
