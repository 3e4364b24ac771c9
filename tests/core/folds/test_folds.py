"""Tests of the fold split and the private holdout."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.model_selection import StratifiedGroupKFold

from xview3_pipeline.core.constants import CONFIDENCE_LEVELS
from xview3_pipeline.core.folds import (
    BALANCE_COUNT_COLUMNS,
    FOLD_COLUMNS,
    HOLDOUT_FOLD,
    FoldConfig,
    assign_folds,
    fold_balance,
    plot_fold_balance,
)


def _scenes(
    n_val: int = 40, n_train: int = 30, n_locations: int = 8, seed: int = 0
) -> pd.DataFrame:
    """Scene -> location table with validation and train scenes spread over locations."""
    rng = np.random.default_rng(seed)
    val = pd.DataFrame(
        {
            "scene_id": [f"{k:04d}v" for k in range(n_val)],
            "split": "validation",
            "location_id": [f"loc_{k:03d}" for k in rng.integers(0, n_locations, n_val)],
        }
    )
    train = pd.DataFrame(
        {
            "scene_id": [f"{k:04d}t" for k in range(n_train)],
            "split": "train",
            "location_id": [f"loc_{k % n_locations:03d}" for k in range(n_train)],
        }
    )
    public = pd.DataFrame({"scene_id": ["9999p"], "split": "public", "location_id": "loc_000"})
    return pd.concat([val, train, public], ignore_index=True)


def _labels(scenes: pd.DataFrame, seed: int = 0, unlabelled: tuple[str, ...] = ()) -> pd.DataFrame:
    """Objects with varied per-scene counts of fishing and near-shore objects."""
    rng = np.random.default_rng(seed)
    labelled = scenes[
        scenes["split"].isin(["train", "validation"]) & ~scenes["scene_id"].isin(unlabelled)
    ]
    n_obj = rng.integers(1, 60, len(labelled))
    scene_id = np.repeat(labelled["scene_id"].to_numpy(), n_obj)
    split = np.repeat(labelled["split"].to_numpy(), n_obj)
    p_fish = np.repeat(rng.uniform(0.0, 0.6, len(labelled)), n_obj)
    p_shore = np.repeat(rng.uniform(0.0, 0.8, len(labelled)), n_obj)
    n = len(scene_id)
    is_vessel = pd.array(rng.uniform(size=n) < 0.8, dtype="boolean")
    is_fishing = pd.array(rng.uniform(size=n) < p_fish, dtype="boolean")
    is_vessel[rng.uniform(size=n) < 0.1] = pd.NA
    is_fishing[rng.uniform(size=n) < 0.2] = pd.NA
    return pd.DataFrame(
        {
            "scene_id": scene_id,
            "split": split,
            "is_vessel": is_vessel,
            "is_fishing": is_fishing,
            "is_near_shore": rng.uniform(size=n) < p_shore,
            "confidence": pd.Categorical(
                rng.choice(CONFIDENCE_LEVELS, n), categories=CONFIDENCE_LEVELS, ordered=True
            ),
            "vessel_length_m": rng.uniform(10, 200, n),
        }
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    scenes = _scenes()
    return scenes, _labels(scenes, unlabelled=("0003v", "0012t"))


def _check_partition(folds: pd.DataFrame, n_folds: int) -> None:
    assert tuple(folds.columns) == FOLD_COLUMNS
    assert folds["scene_id"].is_unique
    assert folds["fold"].between(HOLDOUT_FOLD, n_folds - 1).all()
    assert ((folds["fold"] == HOLDOUT_FOLD) == (folds["role"] == "holdout")).all()


def test_default_split_partition_and_holdout(data):
    scenes, labels = data
    folds = assign_folds(labels, scenes, FoldConfig())
    _check_partition(folds, 4)
    train_rows = folds[folds["role"] == "train"]
    holdout = folds[folds["role"] == "holdout"]
    # default: validation is folded, one train scene per location is held out
    assert set(train_rows["split"]) == {"validation"}
    assert set(train_rows["scene_id"]) == set(
        scenes.loc[scenes["split"] == "validation", "scene_id"]
    )
    assert set(train_rows["fold"]) == {0, 1, 2, 3}
    assert (train_rows["sample_weight"] == 1.0).all()
    assert (holdout["split"] == "train").all()
    train_locations = scenes.loc[scenes["split"] == "train", "location_id"]
    assert holdout["location_id"].is_unique
    assert set(holdout["location_id"]) == set(train_locations)
    # "first": smallest train scene id of each location
    expected = scenes[scenes["split"] == "train"].groupby("location_id")["scene_id"].min()
    assert dict(zip(holdout["location_id"], holdout["scene_id"], strict=True)) == expected.to_dict()
    assert (holdout["sample_weight"] == 0.0).all()
    # unlabelled scene is still assigned
    assert "0003v" in set(train_rows["scene_id"])


def test_holdout_never_in_training_folds_with_train_source(data):
    scenes, labels = data
    cfg = FoldConfig(label_sources={"validation": 1.0, "train": 0.25})
    folds = assign_folds(labels, scenes, cfg)
    _check_partition(folds, 4)
    holdout_ids = set(folds.loc[folds["role"] == "holdout", "scene_id"])
    train_split = folds[(folds["split"] == "train") & (folds["role"] == "train")]
    assert holdout_ids.isdisjoint(train_split["scene_id"])
    assert len(holdout_ids) + len(train_split) == (scenes["split"] == "train").sum()
    assert (train_split["sample_weight"] == 0.25).all()
    assert "9999p" not in set(folds["scene_id"])
    assert "0012t" in set(train_split["scene_id"])  # unlabelled train scene


def test_train_cleaned_source_folds_the_train_scenes_as_train(data):
    scenes, labels = data
    raw = assign_folds(labels, scenes, FoldConfig(label_sources={"validation": 1.0, "train": 0.25}))
    cleaned = assign_folds(
        labels, scenes, FoldConfig(label_sources={"validation": 1.0, "train_cleaned": 0.25})
    )
    pd.testing.assert_frame_equal(raw, cleaned)
    assert FoldConfig(label_sources={"train_cleaned": 0.5}).cleaned_train
    assert not FoldConfig(label_sources={"train": 0.5}).cleaned_train


def test_train_and_train_cleaned_together_are_refused():
    with pytest.raises(ValueError, match="both 'train' and 'train_cleaned'") as err:
        FoldConfig.from_dict({"label_sources": {"train": 0.25, "train_cleaned": 0.25}})
    assert "keep one of them" in str(err.value)
    with pytest.raises(ValueError, match="train_cleaned"):  # listed among the accepted keys
        FoldConfig.from_dict({"label_sources": {"train_clean": 0.25}})


def test_adding_train_source_keeps_validation_folds(data):
    scenes, labels = data
    base = assign_folds(labels, scenes, FoldConfig())
    full = assign_folds(
        labels, scenes, FoldConfig(label_sources={"validation": 1.0, "train": 0.25})
    )
    val_base = base[base["split"] == "validation"].reset_index(drop=True)
    val_full = full[full["split"] == "validation"].reset_index(drop=True)
    pd.testing.assert_frame_equal(val_base, val_full)


def test_group_by_location_keeps_locations_in_one_fold(data):
    scenes, labels = data
    cfg = FoldConfig(group_by="location", label_sources={"validation": 1.0, "train": 0.25})
    folds = assign_folds(labels, scenes, cfg)
    _check_partition(folds, 4)
    trained = folds[folds["role"] == "train"]
    per_location = trained.groupby(["split", "location_id"])["fold"].nunique()
    assert (per_location == 1).all()
    assert set(trained.loc[trained["split"] == "validation", "fold"]) == {0, 1, 2, 3}


def test_group_by_scene_mixes_locations(data):
    scenes, labels = data
    folds = assign_folds(labels, scenes, FoldConfig(group_by="scene"))
    trained = folds[folds["role"] == "train"]
    assert (trained.groupby("location_id")["fold"].nunique() > 1).any()


def test_deterministic_and_seed_dependent(data):
    scenes, labels = data
    cfg = FoldConfig(label_sources={"validation": 1.0, "train": 0.5})
    first = assign_folds(labels, scenes, cfg)
    shuffled = assign_folds(
        labels.sample(frac=1.0, random_state=1), scenes.sample(frac=1.0, random_state=2), cfg
    )
    pd.testing.assert_frame_equal(first, shuffled)


def test_seed_changes_assignment_of_tied_scenes():
    # StratifiedGroupKFold's shuffle only reorders groups whose class-count spread ties, so
    # use 48 scenes made of 8 label patterns repeated 6 times
    scenes = _scenes(n_val=48, n_train=0)
    pattern = _labels(scenes.iloc[:8], seed=5)
    pattern["k"] = pattern["scene_id"].str[:4].astype(int)
    labels = pd.concat(
        [pattern.assign(scene_id=(pattern["k"] + 8 * r).map("{:04d}v".format)) for r in range(6)],
        ignore_index=True,
    )
    cfg = FoldConfig(holdout_enabled=False)
    first = assign_folds(labels, scenes, cfg)
    pd.testing.assert_frame_equal(first, assign_folds(labels, scenes, cfg))
    other = assign_folds(labels, scenes, FoldConfig(seed=7, holdout_enabled=False))
    assert not first["fold"].equals(other["fold"])


@pytest.mark.parametrize("stratify_by", [("near_shore",), "winner"])
def test_near_shore_only_reproduces_winner_sgkf(stratify_by: tuple[str, ...] | str):
    scenes = _scenes(n_val=30, n_train=0)
    labels = _labels(scenes)
    cfg = FoldConfig(stratify_by=stratify_by, holdout_enabled=False)
    assert cfg.stratify_by == ("near_shore",)
    folds = assign_folds(labels, scenes, cfg).set_index("scene_id")["fold"]
    # the winner: SGKF over validation.csv rows, y = near shore, groups = scene id
    val = labels[labels["split"] == "validation"]
    sgkf = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=42)
    expected = {}
    for k, (_, test) in enumerate(sgkf.split(val, val["is_near_shore"], val["scene_id"])):
        expected.update(dict.fromkeys(val["scene_id"].iloc[test], k))
    assert folds.to_dict() == expected


def _spread(folds: pd.DataFrame, labels: pd.DataFrame, column: str) -> tuple[float, float]:
    """(max |fold total - mean| / mean, mean) of a flag's per-fold totals."""
    merged = labels.merge(folds[folds["role"] == "train"][["scene_id", "fold"]], on="scene_id")
    totals = merged.groupby("fold")[column].apply(lambda s: s.astype("boolean").fillna(False).sum())
    mean = totals.mean()
    return float((totals - mean).abs().max() / mean), float(mean)


def test_stratification_is_balanced_and_beats_a_bad_split():
    scenes = _scenes(n_val=40, n_train=0, seed=3)
    labels = _labels(scenes, seed=3)
    folds = assign_folds(labels, scenes, FoldConfig(holdout_enabled=False))
    # deliberately bad split: scenes sorted by fishing count, cut into 4 contiguous blocks
    fishing_per_scene = (
        labels.assign(f=labels["is_fishing"].fillna(False).astype(int))
        .groupby("scene_id")["f"]
        .sum()
        .sort_values()
    )
    bad = pd.DataFrame(
        {
            "scene_id": fishing_per_scene.index,
            "fold": np.arange(len(fishing_per_scene)) * 4 // len(fishing_per_scene),
            "role": "train",
        }
    )
    for column in ("is_fishing", "is_near_shore"):
        good_dev, _ = _spread(folds, labels, column)
        bad_dev, _ = _spread(bad, labels, column)
        assert good_dev < 0.15, column
        if column == "is_fishing":
            assert good_dev < bad_dev / 4


def test_holdout_methods_and_count():
    scenes = _scenes(n_val=20, n_train=24, n_locations=4)
    labels = _labels(scenes)
    train_scenes = scenes[scenes["split"] == "train"]

    most = assign_folds(labels, scenes, FoldConfig(holdout_method="most_objects"))
    counts = labels["scene_id"].value_counts()
    for _, row in most[most["role"] == "holdout"].iterrows():
        same_loc = train_scenes.loc[train_scenes["location_id"] == row["location_id"], "scene_id"]
        assert counts.get(row["scene_id"], 0) == counts.reindex(same_loc).fillna(0).max()

    rnd_a = assign_folds(labels, scenes, FoldConfig(holdout_method="random", seed=1))
    rnd_b = assign_folds(labels, scenes, FoldConfig(holdout_method="random", seed=1))
    pd.testing.assert_frame_equal(rnd_a, rnd_b)
    picks = {
        s: set(assign_folds(labels, scenes, FoldConfig(holdout_method="random", seed=s))
               .query("role == 'holdout'")["scene_id"])
        for s in range(5)
    }  # fmt: skip
    assert len({frozenset(p) for p in picks.values()}) > 1

    two = assign_folds(labels, scenes, FoldConfig(holdout_per_location=2))
    assert (two[two["role"] == "holdout"].groupby("location_id").size() == 2).all()

    none = assign_folds(labels, scenes, FoldConfig(holdout_enabled=False))
    assert (none["role"] == "train").all()


def test_holdout_from_validation_split(data):
    scenes, labels = data
    folds = assign_folds(labels, scenes, FoldConfig(holdout_split="validation"))
    _check_partition(folds, 4)
    holdout = folds[folds["role"] == "holdout"]
    assert (holdout["split"] == "validation").all()
    assert holdout["location_id"].is_unique
    n_val = (scenes["split"] == "validation").sum()
    assert (folds["split"] == "validation").sum() == n_val


def test_too_few_groups_error_message():
    scenes = _scenes(n_val=12, n_train=4, n_locations=3)
    labels = _labels(scenes)
    with pytest.raises(ValueError, match="group_by='scene'") as err:
        assign_folds(labels, scenes, FoldConfig(group_by="location"))
    message = str(err.value)
    assert "'validation'" in message and "3 location group" in message
    assert "n_folds=4" in message
    with pytest.raises(ValueError, match="n_folds=4"):
        assign_folds(labels, scenes, FoldConfig(label_sources={"train": 1.0}))  # 4 - 3 holdout


def test_config_from_dict_and_validation():
    cfg = FoldConfig.from_dict(
        {"stratify_by": ["near_shore"], "label_sources": {"validation": 1, "train": 0.25}}
    )
    assert cfg.stratify_by == ("near_shore",)
    assert dict(cfg.label_sources) == {"validation": 1.0, "train": 0.25}
    assert FoldConfig.from_dict(None) == FoldConfig()
    assert hash(FoldConfig()) == hash(FoldConfig.from_dict({}))
    with pytest.raises(ValueError, match="holdout_method") as err:
        FoldConfig.from_dict({"n_fold": 5})
    assert "n_fold" in str(err.value)
    bad = [
        {"n_folds": 1},
        {"n_folds": True},
        {"seed": -1},
        {"group_by": "region"},
        {"stratify_by": "fishing"},
        {"stratify_by": ["length"]},
        {"stratify_by": ["fishing", "fishing"]},
        {"label_sources": {}},
        {"label_sources": {"public": 1.0}},
        {"label_sources": {"train": 0.0}},
        {"label_sources": {"train": float("nan")}},
        {"holdout_split": "public"},
        {"holdout_per_location": 0},
        {"holdout_method": "last"},
        {"holdout_enabled": "yes"},
    ]
    for params in bad:
        with pytest.raises(ValueError, match="FoldConfig"):
            FoldConfig.from_dict(params)


def test_missing_label_column_rejected(data):
    scenes, labels = data
    with pytest.raises(ValueError, match="is_fishing"):
        assign_folds(labels.drop(columns="is_fishing"), scenes, FoldConfig())


def test_fold_balance_counts():
    scenes = pd.DataFrame(
        {
            "scene_id": ["a", "b", "c", "d", "e"],
            "split": ["validation"] * 4 + ["train"],
            "location_id": ["L0", "L0", "L1", "L2", "L1"],
        }
    )
    folds = pd.DataFrame(
        {
            "scene_id": ["a", "b", "c", "d", "e"],
            "split": ["validation"] * 4 + ["train"],
            "location_id": ["L0", "L0", "L1", "L2", "L1"],
            "fold": [0, 0, 1, 1, -1],
            "sample_weight": [1.0, 1.0, 1.0, 1.0, 0.0],
            "role": ["train"] * 4 + ["holdout"],
        }
    )
    labels = pd.DataFrame(
        {
            "scene_id": ["a", "a", "b", "c", "e", "zzz"],
            "is_vessel": pd.array([True, False, None, True, True, True], dtype="boolean"),
            "is_fishing": pd.array([True, None, None, False, True, True], dtype="boolean"),
            "is_near_shore": [True, False, True, False, False, True],
            "confidence": pd.Categorical(
                ["LOW", "HIGH", "LOW", "MEDIUM", "LOW", "LOW"],
                categories=CONFIDENCE_LEVELS,
                ordered=True,
            ),
        }
    )
    balance = fold_balance(folds, labels, scenes)
    assert list(balance["fold"]) == [0, 1, -1]
    assert list(balance["role"]) == ["train", "train", "holdout"]
    b = balance.set_index("fold")
    assert b.loc[0, ["scenes", "locations", "objects"]].tolist() == [2, 1, 3]
    assert b.loc[0, ["vessels", "non_vessels", "fishing", "non_fishing"]].tolist() == [1, 1, 1, 0]
    assert b.loc[0, ["near_shore", "low_confidence"]].tolist() == [2, 2]
    assert b.loc[0, "objects_per_scene"] == pytest.approx(1.5)
    assert b.loc[1, ["scenes", "locations", "objects", "vessels", "non_fishing"]].tolist() == [
        2, 2, 1, 1, 1,
    ]  # fmt: skip
    assert b.loc[1, "objects_per_scene"] == pytest.approx(0.5)
    assert b.loc[-1, ["scenes", "objects", "fishing", "low_confidence"]].tolist() == [1, 1, 1, 1]
    assert b[list(BALANCE_COUNT_COLUMNS)].sum()["objects"] == 5  # "zzz" is not assigned

    fig = plot_fold_balance(balance)
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["fold 0", "fold 1", "holdout"]
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_fold_balance_on_synthetic_split(data):
    scenes, labels = data
    folds = assign_folds(
        labels, scenes, FoldConfig(label_sources={"validation": 1.0, "train": 0.25})
    )
    balance = fold_balance(folds, labels, scenes)
    assert balance["scenes"].sum() == len(folds)
    assert balance["objects"].sum() == labels["scene_id"].isin(folds["scene_id"]).sum()
