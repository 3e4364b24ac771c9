"""The ``xview2_ingestion`` pipeline run through Kedro on a tiny synthetic dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image

from xview3_pipeline.core.errors import LabelValidationError
from xview3_pipeline.core.xview2.ingestion import PAIR_INDEX_COLUMNS
from xview3_pipeline.core.xview2.masks import mask_id
from xview3_pipeline.core.xview2.metric import score_directories

REPO = Path(__file__).resolve().parents[3]
#: One 128 px pair per split: test and hold each hold all four damage classes.
TINY = {
    "xview2": {
        "synthetic": {
            "image_size": 128,
            "n_events": 2,
            "pairs_per_split": {"train": 1, "test": 1, "hold": 1},
        }
    }
}
TARGETS = Path("data/03_primary/xview2/targets")


@pytest.mark.kedro_run
def test_kedro_run_indexes_validates_and_writes_scorable_masks(
    kedro_project: Path, kedro_runner, tmp_path: Path
) -> None:
    kedro_runner(kedro_project, ["xview2_synthetic_data"], TINY)
    kedro_runner(kedro_project, ["xview2_ingestion"], TINY)
    index = pd.read_parquet(kedro_project / "data/02_intermediate/xview2/pair_index.parquet")
    assert tuple(index.columns) == PAIR_INDEX_COLUMNS
    manifest = pd.read_csv(kedro_project / "data/01_raw/xview2_synthetic/manifest.csv")
    post = manifest[manifest["phase"] == "post"].set_index("image_id")
    assert sorted(index["pair_id"]) == sorted(post.index)
    labelled = index[index["split"] != "test"].set_index("pair_id")
    assert (labelled["n_buildings"] == post.loc[labelled.index, "n_buildings"]).all()
    rejects = pd.read_csv(kedro_project / "data/02_intermediate/xview2/label_rejects.csv")
    assert rejects.empty and "reason" in rejects.columns
    report = json.loads(
        (kedro_project / "data/08_reporting/xview2/ingestion_report.json").read_text()
    )
    assert report["pairs"] == 3 and report["rejected_features"] == 0
    assert report["per_damage_class"]["no-damage"] == labelled["n_no_damage"].sum()
    targets = kedro_project / TARGETS
    for row in index.itertuples():
        for kind in ("localization", "damage"):
            name = f"{row.split}_{kind}_{mask_id(row.pair_id)}_target.png"
            assert (targets / row.split / name).is_file()  # test masks from the truth root
    for split in ("test", "hold"):
        pred = tmp_path / split
        pred.mkdir()
        for path in (targets / split).glob("*_target.png"):
            shutil.copy(path, pred / path.name.replace("_target", "_prediction"))
            assert Image.open(path).mode == "L"
        score = score_directories(pred, targets / split)["score"]
        assert score == pytest.approx(1 + 7e-7, abs=1e-9)


@pytest.mark.kedro_run
def test_a_bad_feature_stops_a_strict_run_and_is_rejected_otherwise(
    kedro_project: Path, kedro_runner
) -> None:
    kedro_runner(kedro_project, ["xview2_synthetic_data"], TINY)
    raw = kedro_project / "data/01_raw/xview2"
    label = sorted((raw / "hold" / "labels").glob("*_post_disaster.json"))[0]
    doc = json.loads(label.read_text())
    doc["features"]["xy"][0]["properties"]["subtype"] = "gone"
    label.write_text(json.dumps(doc))
    with pytest.raises(LabelValidationError, match=rf"{label.name}.*'gone'.*unknown_subtype"):
        kedro_runner(kedro_project, ["xview2_ingestion"], TINY)
    assert not (kedro_project / TARGETS).exists()
    lenient = {"xview2": {**TINY["xview2"], "ingestion": {"strict": False}}}
    kedro_runner(kedro_project, ["xview2_ingestion"], lenient)
    rejects = pd.read_csv(kedro_project / "data/02_intermediate/xview2/label_rejects.csv")
    assert rejects[["file", "feature", "value"]].values.tolist() == [
        [f"hold/labels/{label.name}", 0, "gone"]
    ]


def _conf(name: str) -> dict[str, Any]:
    values = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "base" / name))
    assert isinstance(values, dict)
    return {str(k): v for k, v in values.items()}


def test_catalog_entries_and_parameters() -> None:
    entries = _conf("catalog_xview2.yml")
    assert entries["xview2_pair_index"]["filepath"].startswith("data/02_intermediate/xview2/")
    assert entries["xview2_target_masks"]["path"] == TARGETS.as_posix()
    params = _conf("parameters_xview2.yml")
    assert set(params["xview2"]["ingestion"]) == {"splits", "strict", "outside_tolerance_px"}
