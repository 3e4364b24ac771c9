"""The ``synthetic_data`` pipeline: its generation node on an in-memory catalog, and the
catalog entries of the truth tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from xview3_pipeline.core.io import layout
from xview3_pipeline.core.synthetic.labels import TRAIN_TRUTH_COLUMNS
from xview3_pipeline.pipelines.synthetic_data.pipeline import create_pipeline

REPO = Path(__file__).resolve().parents[3]
TINY = {
    "seed": 4,
    "n_locations": 1,
    "revisit_splits": ["validation", "train", "train", "public"],
    "height": 96,
    "width": 96,
    "objects_per_scene": 30,
}


def _run_generation(raw_root: Path, parameters: dict) -> dict[str, pd.DataFrame]:
    pipeline = create_pipeline().only_nodes("generate_synthetic_dataset_node")
    catalog = DataCatalog(
        {
            "params:raw_root": MemoryDataset(str(raw_root)),
            "params:synthetic_data.generator": MemoryDataset(parameters),
        }
    )
    outputs = ("synthetic_manifest", "synthetic_test_truth", "synthetic_train_truth")
    for name in outputs:
        catalog[name] = MemoryDataset()
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in outputs}


def test_generation_node_returns_manifest_and_both_truth_tables(tmp_path):
    out = _run_generation(tmp_path / "raw", TINY)
    manifest, train_truth = out["synthetic_manifest"], out["synthetic_train_truth"]
    assert list(manifest["split"]) == TINY["revisit_splits"]
    assert tuple(train_truth.columns) == TRAIN_TRUTH_COLUMNS
    train_ids = set(manifest.loc[manifest["split"] == "train", "scene_id"])
    assert set(train_truth["scene_id"]) == train_ids
    csv = pd.read_csv(layout.label_file(tmp_path / "raw", "train"))
    labelled = train_truth.loc[train_truth["labelled"], "detect_id"]
    assert sorted(labelled) == sorted(csv["detect_id"])
    assert set(out["synthetic_test_truth"]["scene_id"]) == set(
        manifest.loc[manifest["split"] == "public", "scene_id"]
    )


def test_train_truth_entry_is_outside_the_raw_root_and_loads_empty_when_absent(tmp_path):
    entries = yaml.safe_load((REPO / "conf" / "base" / "catalog.yml").read_text())
    entry = entries["synthetic_train_truth"]
    test_entry = entries["synthetic_test_truth"]
    assert Path(entry["filepath"]).parent == Path(test_entry["filepath"]).parent
    assert Path(entry["filepath"]).name == "train_truth.csv"
    assert tuple(entry["dataset"]["columns"]) == TRAIN_TRUTH_COLUMNS
    entry = entry | {"filepath": str(tmp_path / "train_truth.csv")}
    catalog = DataCatalog.from_config({"synthetic_train_truth": entry})
    empty = catalog.load("synthetic_train_truth")
    assert empty.empty and tuple(empty.columns) == TRAIN_TRUTH_COLUMNS
    out = _run_generation(tmp_path / "raw", TINY)
    catalog.save("synthetic_train_truth", out["synthetic_train_truth"])
    loaded = catalog.load("synthetic_train_truth")
    assert len(loaded) == len(out["synthetic_train_truth"])
    assert loaded["labelled"].dtype == bool
    assert loaded["detect_id"].equals(out["synthetic_train_truth"]["detect_id"])
