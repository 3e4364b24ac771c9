"""The ``xview2_synthetic_data`` pipeline run through Kedro on tiny parameters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from xview3_pipeline.core.xview2.synthetic import BUILDING_COLUMNS, image_path, label_path

REPO = Path(__file__).resolve().parents[3]
TINY = {
    "xview2": {
        "synthetic": {
            "image_size": 96,
            "n_events": 2,
            "pairs_per_split": {"train": 2, "test": 2, "hold": 2},
        }
    }
}


@pytest.mark.kedro_run
def test_kedro_run_writes_the_xbd_layout_the_truth_and_the_catalog_tables(
    kedro_project, kedro_runner
):
    kedro_runner(kedro_project, ["xview2_synthetic_data"], TINY)
    params = yaml.safe_load((REPO / "conf" / "base" / "parameters_xview2.yml").read_text())
    raw = kedro_project / params["xview2"]["raw_root"]
    truth = kedro_project / params["xview2"]["truth_root"]
    manifest = pd.read_csv(kedro_project / "data/01_raw/xview2_synthetic/manifest.csv")
    assert len(manifest) == 2 * 6
    assert manifest.groupby("split")["image_id"].nunique().to_dict() == {
        "hold": 2, "test": 2, "train": 2,
    }  # fmt: skip
    for _, row in manifest.iterrows():
        assert image_path(raw, row["split"], row["image_id"], row["phase"]).is_file()
        labels = truth if row["split"] == "test" else raw
        assert label_path(labels, row["split"], row["image_id"], row["phase"]).is_file()
    assert not (raw / "test" / "labels").exists()
    assert raw not in truth.parents and truth not in raw.parents
    buildings = pd.read_csv(kedro_project / "data/01_raw/xview2_synthetic/buildings.csv")
    assert tuple(buildings.columns) == BUILDING_COLUMNS
    post = manifest[manifest["phase"] == "post"]
    assert len(buildings) == post["n_buildings"].sum() > 0


def test_catalog_entries_load_empty_when_nothing_was_generated(tmp_path):
    from kedro.io import DataCatalog

    entries = yaml.safe_load((REPO / "conf" / "base" / "catalog_xview2.yml").read_text())
    for name in ("xview2_synthetic_manifest", "xview2_synthetic_buildings"):
        assert entries[name]["filepath"].startswith("data/01_raw/xview2_synthetic/")
    entry = entries["xview2_synthetic_buildings"] | {"filepath": str(tmp_path / "b.csv")}
    empty = DataCatalog.from_config({"b": entry}).load("b")
    assert empty.empty and tuple(empty.columns) == BUILDING_COLUMNS
