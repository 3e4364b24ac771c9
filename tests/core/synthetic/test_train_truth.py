"""The truth of the train scenes and the noise record of their labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xview3_pipeline.core.io import layout
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset
from xview3_pipeline.core.synthetic.labels import NOISE_COLUMNS, TRAIN_TRUTH_COLUMNS

#: Two small train scenes with strong label noise, so every kind of error occurs.
NOISY = SyntheticConfig.from_dict(
    {
        "seed": 11,
        "n_locations": 1,
        "coastal_fraction": 1.0,
        "revisit_splits": ["train", "train", "validation"],
        "height": 160,
        "width": 160,
        "objects_per_scene": 80,
        "label_noise": {
            "train": {
                "miss_small": 0.3,
                "miss_large": 0.3,
                "flip_vessel": 0.3,
                "flip_fishing": 0.3,
                "jitter_px": 2.0,
                "nan_vessel": 0.1,
                "nan_fishing": 0.2,
                "nan_length": 0.3,
                "length_error": 0.2,
            }
        },
    }
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return generate_dataset(NOISY, tmp_path_factory.mktemp("truth") / "raw")


@pytest.fixture(scope="module")
def joined(generated) -> pd.DataFrame:
    """Labelled truth rows joined to their train.csv row (suffix ``_label``)."""
    csv = pd.read_csv(layout.label_file(generated.root, "train"))
    truth = generated.train_truth
    return truth[truth["labelled"]].merge(
        csv, on="detect_id", how="outer", suffixes=("", "_label"), validate="1:1", indicator=True
    )


def test_one_truth_row_per_object_of_every_train_scene(generated):
    truth, manifest = generated.train_truth, generated.manifest
    assert tuple(truth.columns) == TRAIN_TRUTH_COLUMNS
    train = manifest[manifest["split"] == "train"]
    assert set(truth["scene_id"]) == set(train["scene_id"])
    counts = truth.groupby("scene_id").size()
    for row in train.itertuples():
        assert counts[row.scene_id] == row.n_objects
        assert truth.loc[truth["scene_id"] == row.scene_id, "labelled"].sum() == row.n_labels
    assert truth["detect_id"].is_unique
    assert truth["kind"].notna().all() and truth["contrast_db"].notna().all()
    # True values are never blank.
    assert truth["is_vessel"].map(type).eq(bool).all()
    assert truth["vessel_length_m"].notna().all()


def test_labels_have_the_detect_id_of_their_truth_row(generated, joined):
    """Every train.csv row has a labelled truth row, and unlabelled objects have no row."""
    assert (joined["_merge"] == "both").all()
    csv = pd.read_csv(layout.label_file(generated.root, "train"))
    unlabelled = generated.train_truth.loc[~generated.train_truth["labelled"], "detect_id"]
    assert len(unlabelled) > 0
    assert not set(unlabelled) & set(csv["detect_id"])


@pytest.mark.parametrize(
    ("field", "flipped", "blank"),
    [
        ("is_vessel", "vessel_flipped", "vessel_blank"),
        ("is_fishing", "fishing_flipped", "fishing_blank"),
    ],
)
def test_flipped_and_blank_fields_match_the_label_file(joined, field, flipped, blank):
    label = joined[f"{field}_label"]
    assert (label.isna().to_numpy() == joined[blank].to_numpy()).all()
    known = joined[~joined[blank]]
    differs = (
        known[f"{field}_label"].astype(bool).to_numpy() != known[field].astype(bool).to_numpy()
    )
    assert (differs == known[flipped].to_numpy()).all()
    assert known[flipped].sum() >= 3  # strong noise: the check is not vacuous
    assert not joined.loc[joined[blank], flipped].any()


def test_position_and_length_errors_match_the_label_file(joined):
    d = np.hypot(
        joined["detect_scene_row_label"] - joined["detect_scene_row"],
        joined["detect_scene_column_label"] - joined["detect_scene_column"],
    )
    np.testing.assert_allclose(joined["position_error_px"], d)
    assert (joined["position_error_px"] > 0).any()
    blank = joined["length_blank"].to_numpy()
    assert (joined["vessel_length_m_label"].isna().to_numpy() == blank).all()
    assert joined.loc[blank, "length_error_rel"].isna().all()
    known = joined[~blank]
    rel = (known["vessel_length_m_label"] - known["vessel_length_m"]) / known["vessel_length_m"]
    np.testing.assert_allclose(known["length_error_rel"], rel, atol=1e-9)


def test_unlabelled_objects_carry_no_error(generated):
    unlabelled = generated.train_truth[~generated.train_truth["labelled"]]
    flags = ["vessel_flipped", "fishing_flipped", "vessel_blank", "fishing_blank", "length_blank"]
    assert not unlabelled[flags].to_numpy().any()
    assert unlabelled[["position_error_px", "length_error_rel"]].isna().all().all()


def test_train_truth_is_deterministic_and_empty_without_train_scenes(generated, tmp_path):
    again = generate_dataset(NOISY, tmp_path / "raw")
    pd.testing.assert_frame_equal(again.train_truth, generated.train_truth)
    none = generate_dataset(
        SyntheticConfig(seed=3, n_locations=1, revisit_splits=("validation",), height=64, width=64),
        tmp_path / "raw_val",
    )
    assert none.train_truth.empty
    assert tuple(none.train_truth.columns) == TRAIN_TRUTH_COLUMNS
    assert set(NOISE_COLUMNS) <= set(none.train_truth.columns)
