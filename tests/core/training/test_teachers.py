"""Teachers of the label cleaning: their parameters, fold sources and out-of-fold scenes."""

from __future__ import annotations

import pandas as pd
import pytest

from xview3_pipeline.core.cleaning import CleaningConfig
from xview3_pipeline.core.training.teachers import (
    LabelCleaningConfig,
    merge_overrides,
    out_of_fold_teachers,
    scenes_to_clean,
)


def test_overrides_merge_key_by_key_without_touching_the_block():
    block = {"trainer": {"max_epochs": 6, "seed": 42}, "data": {"crop_size": 256}}
    merged = merge_overrides(block, {"trainer": {"max_epochs": 2}, "work_dir": "w"})
    assert merged == {"trainer": {"max_epochs": 2, "seed": 42}, "data": {"crop_size": 256}, "work_dir": "w"}  # fmt: skip
    assert block["trainer"]["max_epochs"] == 6
    assert merge_overrides(block, None) == block


def test_config_defaults_and_round_sources():
    config = LabelCleaningConfig.from_params(None)
    assert config.rounds == 1 and dict(config.teacher_sources) == {"validation": 1.0}
    assert config.cleaning_config() == CleaningConfig()
    two = LabelCleaningConfig.from_params({"rounds": 2, "cleaned_weight": 0.5})
    assert two.teacher_sources_of(1) == {"validation": 1.0}
    assert two.teacher_sources_of(2) == {"validation": 1.0, "train_cleaned": 0.5}
    folds = two.teacher_folds(
        {"n_folds": 2, "label_sources": {"validation": 1.0, "train": 0.25}}, 2
    )
    assert folds.n_folds == 2 and dict(folds.label_sources) == two.teacher_sources_of(2)
    with pytest.raises(ValueError, match="not one of the 2 label-cleaning round"):
        two.teacher_sources_of(3)
    training = two.teacher_training_block({"trainer": {"max_epochs": 6}})
    assert training == {"trainer": {"max_epochs": 6}}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rounds": 0}, "rounds must be an integer >= 1"),
        ({"rounds": True}, "rounds must be an integer >= 1"),
        ({"cleaned_weight": 0}, "cleaned_weight must be a finite weight > 0"),
        ({"teacher_sources": {"train_cleaned": 1.0}}, "must not name 'train_cleaned'"),
        ({"teacher_sources": {"public": 1.0}}, "label_sources key"),
        ({"cleaning": {"objectness_treshold": 0.5}}, "objectness_treshold"),
        ({"teacher_training": [1]}, "teacher_training must be a mapping"),
        ({"round": 2}, "Unknown label_cleaning key"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(params, message):
    with pytest.raises(ValueError, match=message):
        LabelCleaningConfig.from_params(params)


def test_raw_train_teachers_cannot_add_cleaned_labels_in_later_rounds():
    config = LabelCleaningConfig.from_params(
        {"rounds": 2, "teacher_sources": {"validation": 1.0, "train": 0.25}}
    )
    assert config.teacher_sources_of(1) == {"validation": 1.0, "train": 0.25}
    with pytest.raises(ValueError, match="both 'train' and 'train_cleaned'"):
        config.teacher_sources_of(2)


SCENES = pd.DataFrame(
    {"scene_id": ["v1", "t1", "t2", "t3", "h1", "p1"],
     "split": ["validation", "train", "train", "train", "train", "public"]}
)  # fmt: skip


def test_train_scenes_outside_the_holdout_are_cleaned():
    folds = pd.DataFrame({"scene_id": ["v1", "h1"], "fold": [0, -1], "sample_weight": [1.0, 0.0]})
    assert scenes_to_clean(SCENES, folds)["scene_id"].tolist() == ["t1", "t2", "t3"]


def test_each_scene_goes_to_the_teachers_that_never_saw_it():
    # Round 1: validation-only teachers never saw a train scene: all predict every one.
    validation_only = pd.DataFrame(
        {"scene_id": ["v1", "v2", "h1"], "fold": [0, 1, -1], "sample_weight": [1.0, 1.0, 0.0]}
    )
    assert out_of_fold_teachers(validation_only, ["t2", "t1"], 2) == {(0, 1): ["t1", "t2"]}
    # Later rounds: a train scene of fold j was seen by every teacher but teacher j.
    with_train = pd.concat(
        [
            validation_only,
            pd.DataFrame({"scene_id": ["t1", "t2"], "fold": [1, 0], "sample_weight": 0.25}),
        ]
    )
    groups = out_of_fold_teachers(with_train, ["t1", "t2", "t3"], 2)
    assert groups == {(0,): ["t2"], (0, 1): ["t3"], (1,): ["t1"]}
    with pytest.raises(ValueError, match="fold 1 of the teachers' fold table, but there are 1"):
        out_of_fold_teachers(with_train, ["t1"], 1)
