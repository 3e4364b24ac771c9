"""Pair index, label validation and target masks of an xBD raw root."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from xview3_pipeline.core.errors import (
    DatasetLayoutError,
    LabelValidationError,
    SceneGeometryError,
)
from xview3_pipeline.core.xview2.ingestion import (
    PAIR_INDEX_COLUMNS,
    build_pair_index,
    index_pairs,
    ingestion_report,
)
from xview3_pipeline.core.xview2.masks import mask_id, rasterize_pair, write_target_masks
from xview3_pipeline.core.xview2.metric import read_mask, score_directories
from xview3_pipeline.core.xview2.synthetic import (
    GeneratedXview2Dataset,
    Xview2SyntheticConfig,
    generate_xview2_dataset,
)
from xview3_pipeline.core.xview2.synthetic.generator import write_image

#: One pair per split of 128 px: enough buildings that test and hold each hold all four
#: damage classes (a perfect score needs every class in the targets).
TINY = {
    "image_size": 128,
    "n_events": 2,
    "pairs_per_split": {"train": 1, "test": 1, "hold": 1},
    "unclassified_share": 0.3,
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedXview2Dataset:
    root = tmp_path_factory.mktemp("xbd")
    config = Xview2SyntheticConfig.from_dict(TINY)
    return generate_xview2_dataset(config, root / "raw", root / "truth")


@pytest.fixture
def raw(generated: GeneratedXview2Dataset, tmp_path: Path) -> Path:
    """A private copy of the generated raw root, free to break."""
    copy = tmp_path / "raw"
    shutil.copytree(generated.raw_root, copy)
    return copy


def _train_post(raw: Path) -> Path:
    return sorted((raw / "train" / "labels").glob("*_post_disaster.json"))[0]


def _set_feature(path: Path, **changes: Any) -> str:
    """Change feature 0 of a label file; returns its uid."""
    doc = json.loads(path.read_text())
    feature = doc["features"]["xy"][0]
    for key, value in changes.items():
        if key == "subtype":
            feature["properties"]["subtype"] = value
        else:
            feature[key] = value
    path.write_text(json.dumps(doc))
    return str(feature["properties"]["uid"])


def test_index_matches_the_generated_manifest(generated: GeneratedXview2Dataset) -> None:
    result = index_pairs(generated.raw_root, truth_root=generated.truth_root)
    index = result.index
    assert tuple(index.columns) == PAIR_INDEX_COLUMNS
    assert result.rejects.empty
    post = generated.manifest[generated.manifest["phase"] == "post"].set_index("image_id")
    assert sorted(index["pair_id"]) == sorted(post.index)
    for row in index.itertuples():
        truth = post.loc[row.pair_id]
        assert (row.split, row.disaster, row.height, row.width) == (
            truth["split"], truth["disaster"], 128, 128,
        )  # fmt: skip
        assert (generated.raw_root / row.pre_image).is_file()
        if row.split == "test":  # labels withheld in the truth root
            assert (row.pre_label, row.post_label, row.disaster_type, row.n_buildings) == (
                "", "", "", 0,
            )  # fmt: skip
            continue
        assert (generated.raw_root / row.post_label).is_file()
        assert row.disaster_type == truth["disaster_type"]
        assert row.n_buildings == truth["n_buildings"]
        assert row.n_un_classified == truth["n_un-classified"]
        assert row.n_major_damage == truth["n_major-damage"]
    report = ingestion_report(index, result.rejects)
    assert report["pairs"] == 3 and report["per_split"]["test"]["labelled_pairs"] == 0
    assert sum(report["per_damage_class"].values()) == index["n_buildings"].sum() > 0
    assert set(report["per_event"]) == set(index["disaster"])
    assert build_pair_index(generated.raw_root, splits=("hold",))["split"].tolist() == ["hold"]


def test_post_without_pre_and_pre_without_post(raw: Path) -> None:
    pre = sorted((raw / "train" / "images").glob("*_pre_disaster.png"))[0]
    pre.unlink()
    with pytest.raises(DatasetLayoutError, match=rf"Post image .*has no pre image.*{pre.name}"):
        build_pair_index(raw)
    post = sorted((raw / "hold" / "labels").glob("*_post_disaster.json"))[0]
    shutil.rmtree(raw / "train")
    post.unlink()
    with pytest.raises(DatasetLayoutError, match=rf"Pre label .*has no post label.*{post.name}"):
        build_pair_index(raw)


def test_sizes_that_differ(raw: Path) -> None:
    post = sorted((raw / "hold" / "images").glob("*_post_disaster.png"))[0]
    write_image(post, np.zeros((128, 130, 3), np.uint8))
    with pytest.raises(SceneGeometryError, match=rf"{post.name} is 128x130 px"):
        build_pair_index(raw)


def test_unknown_content_of_a_split_folder(raw: Path) -> None:
    (raw / "train" / "masks").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"Unexpected folder .*train/masks"):
        build_pair_index(raw)
    (raw / "train" / "masks").rmdir()
    (raw / "hold" / "images" / "notes.txt").write_text("x")
    with pytest.raises(DatasetLayoutError, match=r"notes\.txt"):
        build_pair_index(raw)


def test_malformed_json_stops_and_names_the_file(raw: Path) -> None:
    label = _train_post(raw)
    label.write_text('{"features": {"xy": [')
    with pytest.raises(LabelValidationError, match=rf"{label.name} is not valid JSON.*line 1"):
        build_pair_index(raw)
    label.write_text('{"features": {"lng_lat": []}}')
    with pytest.raises(
        LabelValidationError, match=rf"{label.name}: expected a list at features\.xy"
    ):
        build_pair_index(raw)


@pytest.mark.parametrize(
    ("change", "value", "reason"),
    [
        ({"wkt": "POLYGON ((1 1, 5 1, 5"}, "POLYGON ((1 1, 5 1, 5", "malformed_wkt"),
        ({"wkt": "POINT (3 3)"}, "POINT (3 3)", "malformed_wkt"),
        ({"subtype": "totaled"}, "totaled", "unknown_subtype"),
        (
            {"wkt": "POLYGON ((120 120, 131 120, 131 131, 120 120))"},
            "bounds (120, 120, 131, 131)",
            "outside_image",
        ),
    ],
)
def test_bad_features_are_rejects_and_strict_mode_raises(
    raw: Path, change: dict[str, str], value: str, reason: str
) -> None:
    label = _train_post(raw)
    n_before = build_pair_index(raw).set_index("pair_id")["n_buildings"]
    uid = _set_feature(label, **change)
    with pytest.raises(LabelValidationError, match=rf"{label.name} features\.xy\[0\].*{reason}"):
        index_pairs(raw)
    result = index_pairs(raw, strict=False)
    [reject] = result.rejects.to_dict("records")
    assert reject["file"] == f"train/labels/{label.name}"
    assert (reject["feature"], reject["uid"], reject["value"]) == (0, uid, value)
    assert reject["reason"].startswith(reason) and reject["phase"] == "post"
    pair_id = reject["pair_id"]
    assert result.index.set_index("pair_id")["n_buildings"][pair_id] == n_before[pair_id] - 1
    assert ingestion_report(result.index, result.rejects)["reject_reasons"] == {reason: 1}


def test_a_polygon_within_the_tolerance_is_kept(raw: Path) -> None:
    _set_feature(_train_post(raw), wkt="POLYGON ((120 120, 128.9 120, 128.9 128.9, 120 120))")
    assert index_pairs(raw).rejects.empty
    with pytest.raises(LabelValidationError, match="outside_image"):
        index_pairs(raw, tolerance_px=0.5)


def _doc(*features: tuple[str, str]) -> dict[str, Any]:
    return {
        "features": {
            "xy": [
                {"properties": {"feature_type": "building", "subtype": s, "uid": str(i)}, "wkt": w}
                for i, (w, s) in enumerate(features)
            ]
        }
    }


def test_rasterize_counts_values_unclassified_and_overlap_order() -> None:
    square = "POLYGON ((2 2, 12 2, 12 12, 2 12, 2 2))"  # 10 x 10 pixel centres
    overlap = "POLYGON ((7 2, 17 2, 17 12, 7 12, 7 2))"  # half over the square
    strip = "POLYGON ((0 20, 4 20, 4 21, 0 21, 0 20))"
    loc, dmg = rasterize_pair(
        _doc((square, "destroyed"), (overlap, "minor-damage"), (strip, "un-classified")), 32, 24
    )
    assert loc.shape == dmg.shape == (32, 24) and loc.dtype == dmg.dtype == np.uint8
    assert dict(zip(*np.unique(dmg, return_counts=True), strict=True)) == {
        0: 32 * 24 - 150 - 4, 1: 4, 2: 100, 4: 50,
    }  # fmt: skip
    assert (dmg[2:12, 2:7] == 4).all() and (dmg[2:12, 7:17] == 2).all()  # later over earlier
    assert (dmg[20, 0:4] == 1).all()  # un-classified counts as no damage
    np.testing.assert_array_equal(loc, (dmg > 0).astype(np.uint8))
    loc, dmg = rasterize_pair(_doc((overlap, "minor-damage"), (square, "major-damage")), 32, 24)
    assert (dmg[2:12, 2:12] == 3).all() and (dmg[2:12, 12:17] == 2).all()
    empty_loc, _ = rasterize_pair(_doc(), 8, 8)
    assert not empty_loc.any()


def test_rasterize_leaves_out_bad_features(tmp_path: Path) -> None:
    path = tmp_path / "x_00000001_post_disaster.json"
    path.write_text(json.dumps(_doc(("POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0))", "flattened"))))
    _, dmg = rasterize_pair(path, 8, 8)
    assert not dmg.any()


def test_masks_match_the_labels_and_score_perfectly(
    generated: GeneratedXview2Dataset, tmp_path: Path
) -> None:
    index = build_pair_index(generated.raw_root)
    folder = tmp_path / "targets"
    (folder / "stale").mkdir(parents=True)  # the whole folder is replaced
    written = write_target_masks(index, generated.raw_root, folder, generated.truth_root)
    assert len(written) == 2 * len(index) and not (folder / "stale").exists()
    assert not list(tmp_path.glob(".targets*"))
    hold = index[index["split"] == "hold"].iloc[0]
    damage = read_mask(folder / "hold" / f"hold_damage_{mask_id(hold.pair_id)}_target.png")
    assert set(np.unique(damage)) <= {0, 1, 2, 3, 4} and damage.any()
    assert set(np.unique(damage)) == {0, 1, 2, 3, 4}
    assert np.count_nonzero(damage == 4) > 0 and hold.n_destroyed > 0
    for split in ("test", "hold"):
        pred = tmp_path / f"pred_{split}"
        pred.mkdir()
        for path in (folder / split).glob("*_target.png"):
            Image.open(path).save(pred / path.name.replace("_target", "_prediction"))
        assert score_directories(pred, folder / split)["score"] == pytest.approx(1 + 7e-7, abs=1e-9)
    without_truth = write_target_masks(index, generated.raw_root, tmp_path / "t2")
    assert not any("/test/" in p.as_posix() for p in without_truth)
