"""The ``xview2_folds`` pipeline run through Kedro on a tiny pair index."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CLASSES = ("no_damage", "minor_damage", "major_damage", "destroyed", "un_classified")


def _pair_index() -> pd.DataFrame:
    """12 train pairs of 3 events, 2 unlabelled test pairs; ids with leading zeros."""
    rows = []
    for i in range(14):
        split = "train" if i < 12 else "test"
        event = f"event-{i % 3}"
        pair_id = f"{event}_{i:08d}"
        counts = [0] * 5 if split == "test" else [(i + c) % 3 for c in range(5)]
        rows.append(
            {
                "pair_id": pair_id,
                "split": split,
                "disaster": event,
                "disaster_type": "flooding",
                "pre_image": f"{split}/images/{pair_id}_pre_disaster.png",
                "post_image": f"{split}/images/{pair_id}_post_disaster.png",
                "pre_label": "" if split == "test" else f"{split}/labels/{pair_id}_pre.json",
                "post_label": "" if split == "test" else f"{split}/labels/{pair_id}_post.json",
                "height": 96,
                "width": 96,
                "n_buildings": sum(counts),
                **{f"n_{c}": n for c, n in zip(CLASSES, counts, strict=True)},
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.kedro_run
def test_kedro_run_writes_fold_table_balance_and_plot(kedro_project, kedro_runner):
    catalog = yaml.safe_load((REPO / "conf" / "base" / "catalog_xview2.yml").read_text())
    index = _pair_index()
    source = kedro_project / catalog["xview2_pair_index"]["filepath"]
    source.parent.mkdir(parents=True)
    index.to_parquet(source, index=False)

    kedro_runner(kedro_project, ["xview2_folds"], {"xview2": {"folds": {"n_folds": 3}}})

    folds = pd.read_csv(
        kedro_project / catalog["xview2_fold_assignments"]["filepath"], dtype={"pair_id": str}
    )
    train = index[index["split"] == "train"]
    assert len(folds) == 2 * len(train)
    assert set(folds["pair_id"]) == set(train["pair_id"])  # test pairs get no fold
    assert (folds.groupby("pair_id")["fold"].nunique() == 1).all()
    assert sorted(folds["fold"].unique()) == [0, 1, 2]
    balance = pd.read_csv(kedro_project / catalog["xview2_fold_balance"]["filepath"])
    assert balance["fold"].tolist() == [0, 1, 2]
    assert balance["pairs"].sum() == len(train)
    assert balance["images"].sum() == len(folds)
    assert balance["buildings"].sum() == train["n_buildings"].sum()
    plot = kedro_project / catalog["xview2_fold_balance_plot"]["filepath"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for entry in ("xview2_fold_assignments", "xview2_fold_balance", "xview2_fold_balance_plot"):
        assert "/xview2/" in catalog[entry]["filepath"]


def test_pipeline_reads_the_pair_index_and_the_fold_parameters():
    from xview3_pipeline.pipelines.xview2_folds import create_pipeline

    pipeline = create_pipeline()
    assert pipeline.inputs() == {"xview2_pair_index", "params:xview2.folds"}
    assert pipeline.outputs() == {"xview2_fold_balance", "xview2_fold_balance_plot"}
    params = yaml.safe_load((REPO / "conf" / "base" / "parameters_xview2.yml").read_text())
    assert params["xview2"]["folds"] == {
        "n_folds": 2, "seed": 42, "shuffle": True, "group_by": "image", "splits": ["train"],
    }  # fmt: skip
