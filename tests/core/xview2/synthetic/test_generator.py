"""The synthetic xBD dataset on disk: layout, label schema, polygons, determinism."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.errors import NotGeoreferencedWarning
from shapely import wkt

from tests.core.xview2.synthetic.conftest import TINY, all_files, tiny_config
from xview3_pipeline.core.errors import DatasetLayoutError
from xview3_pipeline.core.xview2.synthetic import (
    METADATA_KEYS,
    SUBTYPES,
    XVIEW2_SPLITS,
    Misalignment,
    generate_xview2_dataset,
    image_path,
    label_path,
)


def _label(root: Path, row: pd.Series) -> dict:
    return json.loads((root / row["label"]).read_text())


def _roots(tiny) -> dict[str, Path]:
    return {"raw": tiny.raw_root, "truth": tiny.truth_root}


def test_every_split_has_its_pairs_and_test_labels_live_only_in_the_truth_root(tiny):
    manifest = tiny.manifest
    assert set(manifest["split"]) == set(XVIEW2_SPLITS)
    for split in XVIEW2_SPLITS:
        rows = manifest[manifest["split"] == split]
        assert len(rows) == 2 * TINY["pairs_per_split"][split]
        for image_id in rows["image_id"]:
            for phase in ("pre", "post"):
                assert image_path(tiny.raw_root, split, image_id, phase).is_file()
                labels = tiny.truth_root if split == "test" else tiny.raw_root
                assert label_path(labels, split, image_id, phase).is_file()
    assert not (tiny.raw_root / "test" / "labels").exists()
    assert sorted(p.name for p in tiny.truth_root.iterdir()) == [".xview2_synthetic.json", "test"]
    assert set(manifest.loc[manifest["split"] == "test", "label_root"]) == {"truth"}
    names = {p.name for p in (tiny.raw_root / "train" / "images").iterdir()}
    assert all(n.endswith(("_pre_disaster.png", "_post_disaster.png")) for n in names)
    disaster, number = sorted(names)[0].rsplit("_", 3)[:2]
    assert len(number) == 8 and number.isdigit() and "_" not in disaster


def test_images_are_rgb_of_the_configured_size(tiny):
    row = tiny.manifest.iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        src = rasterio.open(tiny.raw_root / row["image"])
    with src:
        assert (src.count, src.height, src.width, src.dtypes[0]) == (3, 128, 128, "uint8")
        assert src.driver == "PNG"


def test_labels_follow_the_xbd_schema(tiny):
    for _, row in tiny.manifest.iterrows():
        doc = _label(_roots(tiny)[row["label_root"]], row)
        assert set(doc) == {"features", "metadata"}
        assert list(doc["metadata"]) == list(METADATA_KEYS)
        meta = doc["metadata"]
        assert meta["disaster"] == row["disaster"] and meta["disaster_type"] == row["disaster_type"]
        assert meta["img_name"] == Path(row["image"]).name
        assert meta["width"] == meta["height"] == 128
        assert meta["capture_date"].endswith(".000Z")
        xy, lng_lat = doc["features"]["xy"], doc["features"]["lng_lat"]
        assert len(xy) == len(lng_lat) == row["n_buildings"]
        for a, b in zip(xy, lng_lat, strict=True):
            assert a["properties"]["uid"] == b["properties"]["uid"]
            assert a["properties"]["feature_type"] == "building"
            if row["phase"] == "pre":
                assert set(a["properties"]) == {"feature_type", "uid"}
            else:
                assert a["properties"]["subtype"] in SUBTYPES
            geom = wkt.loads(a["wkt"])
            assert geom.geom_type == "Polygon" and geom.is_valid
        if row["phase"] == "post":
            counts = pd.Series([f["properties"]["subtype"] for f in xy]).value_counts()
            for subtype in SUBTYPES:
                assert counts.get(subtype, 0) == row[f"n_{subtype}"]


def test_pre_and_post_features_share_uids(tiny):
    for _, pair in tiny.manifest.groupby("image_id"):
        docs = [_label(_roots(tiny)[r["label_root"]], r) for _, r in pair.iterrows()]
        uids = [sorted(f["properties"]["uid"] for f in d["features"]["xy"]) for d in docs]
        assert uids[0] == uids[1] and len(set(uids[0])) == len(uids[0])


def test_polygons_lie_inside_their_image(tiny):
    image = shapely.box(0, 0, 128, 128)
    n = 0
    for _, row in tiny.manifest.iterrows():
        for f in _label(_roots(tiny)[row["label_root"]], row)["features"]["xy"]:
            assert wkt.loads(f["wkt"]).within(image)
            n += 1
    assert n > 0


def test_post_polygons_follow_the_misalignment_and_the_lean(tiny):
    heights = tiny.buildings.set_index(["image_id", "uid"])["height_m"]
    checked = 0
    for image_id, pair in tiny.manifest.groupby("image_id"):
        pre, post = (pair[pair["phase"] == p].iloc[0] for p in ("pre", "post"))
        docs = {r["phase"]: _label(_roots(tiny)[r["label_root"]], r) for _, r in pair.iterrows()}
        post_geoms = {
            f["properties"]["uid"]: wkt.loads(f["wkt"]) for f in docs["post"]["features"]["xy"]
        }
        m = Misalignment(
            post["shift_x_px"], post["shift_y_px"], post["rotation_deg"], post["scale"]
        )
        for f in docs["pre"]["features"]["xy"]:
            h = heights[(image_id, f["properties"]["uid"])]
            ground = shapely.affinity.translate(
                wkt.loads(f["wkt"]), -h * pre["lean_x_px_per_m"], -h * pre["lean_y_px_per_m"]
            )
            roof = shapely.affinity.translate(
                ground, h * post["lean_x_px_per_m"], h * post["lean_y_px_per_m"]
            )
            expected = shapely.get_coordinates(m.apply_to_geometry(roof, 128))
            got = shapely.get_coordinates(post_geoms[f["properties"]["uid"]])
            np.testing.assert_allclose(got, expected, atol=2e-3)
            checked += 1
    assert checked > 0
    post_rows = tiny.manifest[tiny.manifest["phase"] == "post"]
    assert (post_rows[["shift_x_px", "shift_y_px", "rotation_deg"]].abs().sum(axis=1) > 0).all()


def test_the_warp_of_an_image_matches_the_warp_of_its_polygon():
    from rasterio.features import rasterize

    poly = shapely.Polygon([(30, 40), (80, 35), (90, 70), (40, 90)])
    m = Misalignment(shift_x_px=4.5, shift_y_px=-3.2, rotation_deg=2.5, scale=1.03)
    mask = rasterize([(poly, 1)], out_shape=(128, 128)).astype(np.float32)
    warped = m.apply_to_image(mask[..., None])[..., 0] > 0.5
    expected = rasterize([(m.apply_to_geometry(poly, 128), 1)], out_shape=(128, 128)).astype(bool)
    iou = (warped & expected).sum() / (warped | expected).sum()
    assert iou > 0.95
    moved = rasterize([(poly, 1)], out_shape=(128, 128)).astype(bool)
    assert (warped & moved).sum() / (warped | moved).sum() < 0.9


def test_the_same_seed_gives_the_same_files_and_another_seed_other_files(tmp_path, tiny):
    one = generate_xview2_dataset(tiny_config(), tmp_path / "a" / "raw", tmp_path / "a" / "truth")
    assert all_files(one.raw_root) == all_files(tiny.raw_root)
    assert all_files(one.truth_root) == all_files(tiny.truth_root)
    pd.testing.assert_frame_equal(one.manifest, tiny.manifest)
    other = generate_xview2_dataset(
        tiny_config(seed=4), tmp_path / "b" / "raw", tmp_path / "b" / "truth"
    )
    assert all_files(other.raw_root) != all_files(tiny.raw_root)


def test_geotiff_option_writes_the_crs_and_lng_lat_follows_the_geotransform(tmp_path):
    cfg = tiny_config(
        image_format="geotiff", n_events=1, pairs_per_split={"train": 1, "test": 0, "hold": 0}
    )
    out = generate_xview2_dataset(cfg, tmp_path / "raw", tmp_path / "truth")
    for _, row in out.manifest.iterrows():
        assert row["image"].endswith(".tif")
        with rasterio.open(out.raw_root / row["image"]) as src:
            assert src.crs.to_epsg() == row["epsg"] and src.count == 3
            transform = src.transform
        doc = _label(out.raw_root, row)
        assert doc["metadata"]["img_name"] == row["image"].rsplit("/", 1)[-1]
        to_geo = Transformer.from_crs(row["epsg"], 4326, always_xy=True)
        for a, b in zip(doc["features"]["xy"], doc["features"]["lng_lat"], strict=True):
            xy = shapely.get_coordinates(wkt.loads(a["wkt"]))
            east = transform.c + transform.a * xy[:, 0] + transform.b * xy[:, 1]
            north = transform.f + transform.d * xy[:, 0] + transform.e * xy[:, 1]
            lon, lat = to_geo.transform(east, north)
            np.testing.assert_allclose(
                shapely.get_coordinates(wkt.loads(b["wkt"])), np.column_stack([lon, lat]), atol=1e-7
            )


def test_a_non_empty_folder_without_the_marker_is_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "real.png").write_bytes(b"x")
    with pytest.raises(DatasetLayoutError, match=r"no \.xview2_synthetic\.json marker"):
        generate_xview2_dataset(tiny_config(), raw, tmp_path / "truth")
    assert (raw / "real.png").read_bytes() == b"x"
    assert not (tmp_path / "truth").exists()


def test_a_truth_root_inside_the_raw_root_is_refused(tmp_path):
    with pytest.raises(DatasetLayoutError, match="must be separate folders"):
        generate_xview2_dataset(tiny_config(), tmp_path / "raw", tmp_path / "raw" / "truth")
