"""Folds of xView2 image pairs: the winner's multilabel stratification and event grouping."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from xview3_pipeline.core.xview2.folds import (
    ASSIGNMENT_COLUMNS,
    BALANCE_COLUMNS,
    Xview2FoldConfig,
    assign_folds,
    damage_presence,
    fold_balance,
    plot_fold_balance,
)

CLASSES = ("no_damage", "minor_damage", "major_damage", "destroyed", "un_classified")
#: Building counts per class (order of CLASSES) of pairs showing exactly one class.
ONE_CLASS = {
    "no_damage": (3, 0, 0, 0, 0),
    "un_classified": (0, 0, 0, 0, 2),  # presence counts as no_damage
    "minor_damage": (0, 1, 0, 0, 0),
    "major_damage": (0, 0, 4, 0, 0),
    "destroyed": (0, 0, 0, 2, 0),
}


def pair_index(pairs: Sequence[tuple[str, tuple[int, ...]]], split: str = "train") -> pd.DataFrame:
    """A pair index of the ingestion's columns: one row per (event, class counts)."""
    rows = []
    for i, (event, counts) in enumerate(pairs):
        pair_id = f"{event}_{i:08d}"
        rows.append(
            {
                "pair_id": pair_id,
                "split": split,
                "disaster": event,
                "disaster_type": "wind",
                "pre_image": f"{split}/images/{pair_id}_pre_disaster.png",
                "post_image": f"{split}/images/{pair_id}_post_disaster.png",
                "pre_label": f"{split}/labels/{pair_id}_pre_disaster.json",
                "post_label": f"{split}/labels/{pair_id}_post_disaster.json",
                "height": 64,
                "width": 64,
                "n_buildings": sum(counts),
                **{f"n_{c}": n for c, n in zip(CLASSES, counts, strict=True)},
            }
        )
    return pd.DataFrame(rows)


def balanced_index() -> pd.DataFrame:
    """20 pairs of 2 events; each of the 4 damage classes shows in exactly 5 pairs.

    Two of the five ``no_damage`` pairs hold only un-classified buildings. Five folds
    can each get one pair of every class.
    """
    kinds = ["no_damage"] * 3 + ["un_classified"] * 2
    pairs = [(f"event{k % 2}", ONE_CLASS[kinds[k]]) for k in range(5)]
    for name in ("minor_damage", "major_damage", "destroyed"):
        pairs += [(f"event{k % 2}", ONE_CLASS[name]) for k in range(5)]
    return pair_index(pairs)


def events_index(n_events: int = 5) -> pd.DataFrame:
    """``n_events`` events of the same 4 pairs (one per damage class)."""
    return pair_index(
        [
            (f"event{e}", ONE_CLASS[name])
            for e in range(n_events)
            for name in ("no_damage", "minor_damage", "major_damage", "destroyed")
        ]
    )


def test_every_pair_is_in_one_fold_and_its_pre_image_in_the_post_images_fold():
    index = balanced_index()
    folds = assign_folds(index)
    assert tuple(folds.columns) == ASSIGNMENT_COLUMNS
    assert len(folds) == 2 * len(index)
    assert set(folds["image"]) == set(index["pre_image"]) | set(index["post_image"])
    kinds = folds.groupby("pair_id")["kind"].apply(lambda k: tuple(sorted(k)))
    assert set(kinds) == {("post", "pre")}
    assert (folds.groupby("pair_id")["fold"].nunique() == 1).all()
    assert set(folds["fold"]) == set(range(5))
    post = folds[folds["kind"] == "post"].set_index("image")
    assert post.loc[index["post_image"], "pair_id"].tolist() == index["pair_id"].tolist()


@pytest.mark.parametrize("seed", [0, 7, 42])
def test_damage_class_presence_is_perfectly_balanced_when_it_can_be(seed: int):
    index = balanced_index()
    balance = fold_balance(assign_folds(index, Xview2FoldConfig(seed=seed)), index)
    assert tuple(balance.columns) == ("fold", *BALANCE_COLUMNS)
    assert balance["fold"].tolist() == [0, 1, 2, 3, 4]
    for name in ("no_damage", "minor_damage", "major_damage", "destroyed"):
        assert balance[f"images_with_{name}"].tolist() == [1] * 5, name
    assert balance["pairs"].tolist() == [4] * 5
    assert balance["images"].tolist() == [8] * 5
    assert balance["buildings"].sum() == index["n_buildings"].sum()


def test_un_classified_buildings_count_as_no_damage():
    index = pair_index([("e", ONE_CLASS["un_classified"]), ("e", (0, 0, 0, 1, 3))])
    presence = damage_presence(index)
    assert presence.columns.tolist() == ["no_damage", "minor_damage", "major_damage", "destroyed"]
    assert presence.to_numpy().tolist() == [[True, False, False, False], [True, False, False, True]]


def test_event_grouping_puts_every_event_in_exactly_one_fold():
    index = events_index(5)
    folds = assign_folds(index, Xview2FoldConfig(group_by="event"))
    assert (folds.groupby("disaster")["fold"].nunique() == 1).all()
    assert sorted(folds.groupby("disaster")["fold"].first()) == [0, 1, 2, 3, 4]
    balance = fold_balance(folds, index)
    assert balance["events"].tolist() == [1] * 5
    assert (balance[[f"images_with_{c}" for c in CLASSES[:4]]] == 1).all().all()

    uneven = pair_index(
        [(f"event{e}", ONE_CLASS["destroyed"]) for e in range(7) for _ in range(e + 1)]
    )
    folds = assign_folds(uneven, Xview2FoldConfig(group_by="event", n_folds=3, seed=3))
    assert (folds.groupby("disaster")["fold"].nunique() == 1).all()
    assert set(folds["fold"]) == {0, 1, 2}


def test_folds_depend_on_the_seed_only_not_on_row_order_or_global_random_state():
    index = events_index(6)
    shuffled = index.sample(frac=1.0, random_state=1)
    for config in (Xview2FoldConfig(seed=5), Xview2FoldConfig(shuffle=False)):
        np.random.seed(0)
        first = assign_folds(index, config)
        np.random.seed(1)
        pd.testing.assert_frame_equal(assign_folds(shuffled, config), first)
    by_seed = {s: assign_folds(index, Xview2FoldConfig(seed=s))["fold"].tolist() for s in range(4)}
    assert len({tuple(v) for v in by_seed.values()}) > 1


def test_only_the_configured_splits_get_folds():
    index = pd.concat(
        [balanced_index(), pair_index([("event0", ONE_CLASS["destroyed"])] * 5, split="hold")],
        ignore_index=True,
    )
    index.loc[len(index) - 5 :, "pair_id"] = [f"event0_hold{i}" for i in range(5)]
    assert set(assign_folds(index)["split"]) == {"train"}
    both = assign_folds(index, Xview2FoldConfig(splits=("train", "hold")))
    assert set(both["split"]) == {"train", "hold"}
    assert both["pair_id"].nunique() == 25


def test_a_missing_image_has_no_row_but_its_pair_keeps_a_fold():
    index = balanced_index()
    index.loc[0, "pre_image"] = np.nan  # how an empty CSV cell loads
    index.loc[1, "pre_image"] = ""
    folds = assign_folds(index)
    assert len(folds) == 2 * len(index) - 2
    assert set(folds["pair_id"]) == set(index["pair_id"])
    assert fold_balance(folds, index)["images"].sum() == 2 * len(index) - 2


def test_balance_plot_has_three_panels():
    index = balanced_index()
    fig = plot_fold_balance(fold_balance(assign_folds(index), index))
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == [
        "Per-fold post images with each damage class",
        "Per-fold buildings",
        "Per-fold pairs, images and events",
    ]


def test_fewer_pairs_or_events_than_folds_are_refused():
    with pytest.raises(ValueError, match=r"has 4 pair\(s\) in split\(s\) \['train'\], fewer than"):
        assign_folds(events_index(1))
    with pytest.raises(ValueError, match=r"has 4 event\(s\).*fewer than n_folds=5"):
        assign_folds(events_index(4), Xview2FoldConfig(group_by="event"))
    with pytest.raises(ValueError, match=r"has 0 pair\(s\)"):
        assign_folds(balanced_index(), Xview2FoldConfig(splits=("test",)))


def test_bad_pair_index_errors_name_the_pair_and_value():
    index = balanced_index()
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['n_destroyed'\]"):
        assign_folds(index.drop(columns="n_destroyed"))
    with pytest.raises(ValueError, match=r"duplicate pair_id\(s\): \['event0_00000000'\]"):
        assign_folds(pd.concat([index, index.iloc[:1]], ignore_index=True))
    bad = index.copy()
    bad.loc[3, "n_minor_damage"] = -2
    with pytest.raises(ValueError, match=r"pair 'event1_00000003' has n_minor_damage=-2"):
        assign_folds(bad)
    bad = index.astype({"n_major_damage": object})
    bad.loc[2, "n_major_damage"] = "many"
    with pytest.raises(ValueError, match=r"n_major_damage='many'; expected a count"):
        assign_folds(bad)
    bad = index.copy()
    bad.loc[4, ["pre_image", "post_image"]] = ""
    with pytest.raises(ValueError, match=r"\['event0_00000004'\] have neither"):
        assign_folds(bad)
    folds = assign_folds(index)
    with pytest.raises(ValueError, match="absent from xview2_pair_index"):
        fold_balance(folds, index.iloc[1:])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_folds": 1}, r"n_folds must be an integer >= 2, got 1"),
        ({"n_folds": True}, r"n_folds must be an integer >= 2, got True"),
        ({"seed": -1}, r"seed must be an integer >= 0"),
        ({"shuffle": "yes"}, r"shuffle must be a bool"),
        ({"group_by": "scene"}, r"group_by must be one of \['image', 'event'\], got 'scene'"),
        ({"splits": "train"}, r"splits must be a non-empty list.*write e.g. \['train'\]"),
        ({"splits": []}, r"splits must be a non-empty list"),
        ({"splits": ["val"]}, r"unknown split\(s\) \['val'\]"),
        ({"splits": ["train", "train"]}, r"duplicates"),
        ({"folds": 5}, r"Unknown xview2.folds parameter key\(s\) \['folds'\]"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(values: dict, message: str):
    with pytest.raises(ValueError, match=message):
        Xview2FoldConfig.from_dict(values)


def test_configuration_defaults_are_the_winners():
    config = Xview2FoldConfig.from_dict(None)
    assert (config.n_folds, config.seed, config.shuffle) == (5, 42, True)
    assert (config.group_by, config.splits) == ("image", ("train",))
    assert Xview2FoldConfig.from_dict({"splits": ["hold", "train"]}).splits == ("hold", "train")
