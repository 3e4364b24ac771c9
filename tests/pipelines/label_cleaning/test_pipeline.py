"""``label_cleaning`` through Kedro: two rounds of two one-epoch teachers on tiny scenes,
then the fold models trained on the cleaned train labels (``train_cleaned``).

The structure (2 folds, 2 rounds, the label sources) is in ``conf/local``, where the
registry reads it. One
test function on purpose: the run is shared by every check (see ``tests/test_three_folds.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import TINY_SYNTHETIC, TINY_TRAINING, make_project, run_kedro
from xview3_pipeline.core.cleaning import CLEANING_COLUMNS, REPORT_COLUMNS
from xview3_pipeline.datasets import CandidateSetDataset

#: Two validation and two train scenes per location: one train scene per location is the
#: holdout, the other is cleaned.
SYNTHETIC = {
    "synthetic_data": {
        **TINY_SYNTHETIC["synthetic_data"],
        "generator": {
            **TINY_SYNTHETIC["synthetic_data"]["generator"],
            "revisit_splits": ["validation", "validation", "train", "train", "public"],
        },
    }
}
#: The structure, read when the pipelines are built.
STRUCTURE = {
    "folds": {"n_folds": 2, "label_sources": {"validation": 1.0, "train_cleaned": 0.25}},
    "label_cleaning": {
        "rounds": 2,
        "teacher_training": {"trainer": {"max_epochs": 1}},
        # One-epoch teachers are unsure: a low bar gives every label state something.
        "cleaning": {"objectness_threshold": 0.1},
        "examples": {"per_state": 1, "crop_size": 32},
    },
}
RUN = SYNTHETIC | TINY_TRAINING | {"inference": {"tile_size": 64, "step": 48, "batch_size": 2, "progress": False}}  # fmt: skip
PRIMARY = Path("data/03_primary/default")


def _run(project: Path) -> None:
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump(STRUCTURE))
    run_kedro(project, ["synthetic_data"], RUN)
    run_kedro(project, ["ingestion", "locations", "folds", "label_cleaning", "training"], RUN)


def _train_scenes(project: Path) -> set[str]:
    folds = pd.read_csv(
        project / PRIMARY / "label_cleaning/round_1/fold_assignments.csv", dtype={"scene_id": str}
    )
    index = pd.read_parquet(project / "data/02_intermediate/scene_index.parquet")
    holdout = set(folds.loc[folds["fold"] == -1, "scene_id"])
    return set(index.loc[index["split"] == "train", "scene_id"].astype(str)) - holdout


def _check_rounds(project: Path, train: set[str]) -> None:
    labels = pd.read_parquet(project / "data/02_intermediate/labels.parquet")
    for r in (1, 2):
        candidates = CandidateSetDataset(
            path=str(
                project / f"data/07_model_output/default/candidates/label_cleaning/round_{r}/train"
            )
        ).load()
        assert set(candidates) == train
        cleaned = pd.read_parquet(
            project / PRIMARY / f"label_cleaning/round_{r}/cleaned_labels.parquet"
        )
        assert set(CLEANING_COLUMNS) <= set(cleaned.columns)
        assert set(labels.columns) <= set(cleaned.columns)
        assert set(cleaned["scene_id"].astype(str)) <= train
        assert (cleaned["cleaning_round"] == r).all()
        assert set(cleaned["label_state"]) <= {"confirmed", "label_only", "prediction_only"}
        # Every raw label row of the cleaned scenes is in the table, once.
        raw = labels[labels["scene_id"].astype(str).isin(train)]
        kept = cleaned[cleaned["label_state"] != "prediction_only"]
        assert sorted(kept["detect_id"]) == sorted(raw["detect_id"])
    final = pd.read_parquet(project / PRIMARY / "train_cleaned_labels.parquet")
    assert final["ignore"].dtype == bool and set(labels.columns) <= set(final.columns)
    assert set(final["scene_id"].astype(str)) <= train


def _check_round_two_reads_round_one(project: Path, train: set[str]) -> None:
    assert (project / PRIMARY / "label_cleaning/round_1/train_cleaned_labels.parquet").is_file()
    folds = pd.read_csv(
        project / PRIMARY / "label_cleaning/round_2/fold_assignments.csv", dtype={"scene_id": str}
    )
    folded = folds[(folds["split"] == "train") & (folds["fold"] >= 0)]
    assert set(folded["scene_id"]) == train and (folded["sample_weight"] == 0.25).all()
    for r, expect_train in ((1, False), (2, True)):
        for k in (0, 1):
            (path,) = (
                project / f"data/06_models/default/label_cleaning/round_{r}/fold_{k}/model.pt"
            ).glob("*/model.pt")
            meta = torch.load(path, weights_only=True)["metadata"]
            assert meta["run"].startswith(f"label_cleaning/round_{r}/")
            assert bool(set(meta["train_scenes"]) & train) is expect_train


def _check_training_on_cleaned_labels(project: Path, train: set[str]) -> None:
    for k in (0, 1):
        (path,) = (project / f"data/06_models/default/fold_{k}/model.pt").glob("*/model.pt")
        meta = torch.load(path, weights_only=True)["metadata"]
        assert meta["run"] == f"cpu_small/fold_{k}"
        assert len(set(meta["train_scenes"]) & train) == 1  # the other fold's train scene


def _check_report_and_examples(project: Path) -> None:
    report = pd.read_csv(project / "data/08_reporting/default/label_cleaning/report.csv")
    assert list(report.columns) == list(REPORT_COLUMNS)
    assert sorted(set(report["cleaning_round"])) == [1, 2]  # synthetic data has its truth
    assert set(report["measure"]) >= {"missing_found", "correct_kept"}
    examples = sorted((project / "data/08_reporting/default/label_cleaning/examples").glob("*.png"))
    assert examples and all(p.stat().st_size > 0 for p in examples)


@pytest.mark.kedro_run
def test_two_rounds_of_label_cleaning_through_kedro(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    cwd = Path.cwd()
    os.chdir(project)
    try:
        _run(project)
        train = _train_scenes(project)
        assert len(train) == 2
        _check_rounds(project, train)
        _check_round_two_reads_round_one(project, train)
        _check_training_on_cleaned_labels(project, train)
        _check_report_and_examples(project)
    finally:
        os.chdir(cwd)
