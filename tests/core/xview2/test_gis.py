"""Damage polygons for GIS users: pixel and map coordinates, GeoPackage round trip."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from kedro_datasets.geopandas import GenericDataset
from rasterio.crs import CRS

from xview3_pipeline.core.errors import RasterReadError
from xview3_pipeline.core.xview2 import XView2MaskError
from xview3_pipeline.core.xview2.gis import (
    POLYGON_COLUMNS,
    collect_polygons,
    damage_polygons,
    georeference,
    pair_georeferences,
)
from xview3_pipeline.core.xview2.ingestion import index_pairs
from xview3_pipeline.core.xview2.masks import iter_target_masks
from xview3_pipeline.core.xview2.synthetic import Xview2SyntheticConfig, generate_xview2_dataset
from xview3_pipeline.core.xview2.synthetic.generator import write_image

UTM = Affine(0.5, 0.0, 500_000.0, 0.0, -0.5, 4_000_000.0)


def two_blobs() -> np.ndarray:
    """A 3 x 4 minor-damage block (rows 1-3, cols 2-5) and an L of destroyed (5 px)."""
    mask = np.zeros((10, 12), dtype=np.uint8)
    mask[1:4, 2:6] = 2
    mask[6:9, 8] = 4
    mask[8, 9:11] = 4
    return mask


def test_two_blobs_in_pixel_coordinates() -> None:
    layer = damage_polygons(two_blobs(), "palu-tsunami_00000181")
    assert list(layer.columns) == [*POLYGON_COLUMNS, "geometry"]
    assert layer.crs is None
    assert layer["pair_id"].tolist() == ["palu-tsunami_00000181"] * 2
    assert layer["damage"].tolist() == [2, 4]
    assert layer["damage_name"].tolist() == ["minor_damage", "destroyed"]
    assert layer["area_px"].tolist() == [12, 5]
    assert layer["damage"].dtype == np.int64
    assert layer.geometry.iloc[0].bounds == (2.0, 1.0, 6.0, 4.0)  # x = column, y = row
    assert layer.geometry.iloc[1].bounds == (8.0, 6.0, 11.0, 9.0)
    assert layer.geometry.is_valid.all()


def test_two_blobs_through_a_transform() -> None:
    layer = damage_polygons(two_blobs(), "a_1", UTM, "EPSG:32633")
    assert layer.crs == CRS.from_epsg(32633)
    assert layer.geometry.iloc[0].bounds == (500_001.0, 3_999_998.0, 500_003.0, 3_999_999.5)
    assert layer["area_px"].tolist() == [12, 5]
    assert layer.geometry.iloc[0].area == pytest.approx(12 * 0.25)
    sheared = Affine(1.0, 0.5, 10.0, 0.25, -1.0, 20.0)
    pixel = damage_polygons(two_blobs(), "a_1").geometry.iloc[1]
    mapped = damage_polygons(two_blobs(), "a_1", sheared).geometry.iloc[1]
    expected = [sheared @ xy for xy in pixel.exterior.coords]
    assert np.allclose(mapped.exterior.coords, expected)


def test_regions_holes_and_connectivity() -> None:
    ring = np.zeros((5, 5), dtype=np.uint8)
    ring[0:3, 0:3] = 1
    ring[1, 1] = 0
    ring[3, 3] = 1  # touches the ring only diagonally
    four = damage_polygons(ring, "p")
    assert four["area_px"].tolist() == [8, 1]
    assert len(four.geometry.iloc[0].interiors) == 1
    eight = damage_polygons(ring, "p", connectivity=8)
    assert eight["area_px"].tolist() == [9]
    same_class_apart = np.array([[3, 0, 3]], dtype=np.uint8)
    assert len(damage_polygons(same_class_apart, "p")) == 2
    empty = damage_polygons(np.zeros((4, 4), np.uint8), "p")
    assert empty.empty
    assert list(empty.columns) == [*POLYGON_COLUMNS, "geometry"]


def test_polygon_errors() -> None:
    with pytest.raises(ValueError, match=r"CRS .* without a transform"):
        damage_polygons(two_blobs(), "p", crs="EPSG:32633")
    with pytest.raises(XView2MaskError, match="pair 'q'"):
        damage_polygons(np.full((3, 3), 5, np.uint8), "q")
    with pytest.raises(ValueError, match="connectivity=6"):
        damage_polygons(two_blobs(), "p", connectivity=6)


def write_pair_images(folder: Path) -> dict[str, Path]:
    rgb = np.zeros((10, 12, 3), dtype=np.uint8)
    paths = {"png": folder / "a.png", "tif33": folder / "b.tif", "tif34": folder / "c.tif"}
    write_image(paths["png"], rgb)
    write_image(paths["tif33"], rgb, UTM, 32633)
    write_image(paths["tif34"], rgb, UTM, 32634)
    return paths


def test_georeference_png_and_geotiff(tmp_path: Path) -> None:
    paths = write_pair_images(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert georeference(paths["png"]) == (None, None)
    transform, crs = georeference(paths["tif33"])
    assert transform == UTM
    assert crs == CRS.from_epsg(32633)
    with pytest.raises(FileNotFoundError, match=r"missing\.tif"):
        georeference(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a raster")
    with pytest.raises(RasterReadError, match=r"junk\.tif"):
        georeference(tmp_path / "junk.tif")


def test_collect_polygons_one_coordinate_system(tmp_path: Path) -> None:
    paths = write_pair_images(tmp_path)
    refs = {name: georeference(path) for name, path in paths.items()}
    mask = two_blobs()
    pixels = collect_polygons({"png": mask, "png2": lambda: mask}, refs, crs="EPSG:4326")
    assert pixels.crs is None
    assert pixels["pair_id"].tolist() == ["png", "png", "png2", "png2"]
    assert pixels.index.tolist() == [0, 1, 2, 3]
    same = collect_polygons(
        {"tif33": mask, "empty": np.zeros_like(mask)}, {**refs, "empty": refs["tif33"]}
    )
    assert same.crs == CRS.from_epsg(32633)
    assert len(same) == 2
    mixed_zones = collect_polygons({"tif33": mask, "tif34": mask}, refs)
    assert mixed_zones.crs == CRS.from_epsg(4326)
    lon = mixed_zones.bounds["minx"].to_numpy()
    assert lon[:2] == pytest.approx([15.0, 15.0], abs=0.01)  # zone 33: 15 E
    assert lon[2:] == pytest.approx([21.0, 21.0], abs=0.01)  # zone 34: 21 E
    forced = collect_polygons({"tif33": mask, "tif34": mask}, refs, crs="EPSG:32634")
    assert forced.crs == CRS.from_epsg(32634)
    with pytest.raises(ValueError, match="cannot mix map and pixel"):
        collect_polygons({"png": mask, "tif33": mask}, refs)
    assert collect_polygons({}).empty


def test_geopackage_round_trip_through_the_catalog_dataset(tmp_path: Path) -> None:
    paths = write_pair_images(tmp_path)
    refs = {name: georeference(path) for name, path in paths.items()}
    for name, masks in (("pixels", {"png": two_blobs()}), ("utm", {"tif33": two_blobs()})):
        layer = collect_polygons(masks, refs)
        dataset = GenericDataset(
            filepath=str(tmp_path / f"{name}.gpkg"), save_args={"driver": "GPKG"}
        )
        dataset.save(layer)
        back = dataset.load()
        assert back[list(POLYGON_COLUMNS)].equals(layer[list(POLYGON_COLUMNS)])
        assert back.geometry.geom_equals(layer.geometry).all()
        assert (back.crs is None) == (layer.crs is None)
        if layer.crs is not None:
            assert CRS.from_user_input(back.crs) == CRS.from_user_input(layer.crs)
    plain = gpd.read_file(tmp_path / "utm.gpkg")
    assert plain["damage_name"].tolist() == ["minor_damage", "destroyed"]


@pytest.mark.filterwarnings("ignore:You are attempting to write an empty DataFrame")
def test_an_empty_layer_saves_as_a_geopackage(tmp_path: Path) -> None:
    layer = collect_polygons({"a": np.zeros((4, 4), np.uint8)}, {"a": (UTM, "EPSG:32633")})
    dataset = GenericDataset(filepath=str(tmp_path / "empty.gpkg"), save_args={"driver": "GPKG"})
    dataset.save(layer)
    back = dataset.load()
    assert back.empty
    assert CRS.from_user_input(back.crs) == CRS.from_epsg(32633)


def test_synthetic_geotiff_polygons_land_on_the_labels(tmp_path: Path) -> None:
    config = Xview2SyntheticConfig.from_dict(
        {
            "seed": 3, "image_size": 256, "n_events": 2, "disaster_types": ["flooding", "wind"],
            "pairs_per_split": {"train": 1, "test": 2, "hold": 1}, "gsd_m": [0.6, 0.8],
            "image_format": "geotiff",
        }
    )  # fmt: skip
    data = generate_xview2_dataset(config, tmp_path / "raw", tmp_path / "truth")
    index = index_pairs(data.raw_root, truth_root=data.truth_root).index
    test = index[index["split"] == "test"]
    damage = {
        name.split("_", 2)[2].removesuffix("_target"): load
        for name, kind, load in iter_target_masks(test, data.raw_root, data.truth_root)
        if kind == "damage"
    }
    refs = pair_georeferences(test, data.raw_root)
    assert all(crs is not None and crs.is_projected for _, crs in refs.values())
    by_mask_id = {pair_id.replace("_", "-"): ref for pair_id, ref in refs.items()}
    layer = collect_polygons(damage, by_mask_id, crs="EPSG:4326")
    assert len(layer) > 0
    for pair_id in test["pair_id"]:
        label = tmp_path / "truth" / "test" / "labels" / f"{pair_id}_post_disaster.json"
        features = json.loads(label.read_text())["features"]["lng_lat"]
        truth = shapely.union_all([shapely.from_wkt(f["wkt"]) for f in features])
        ours = shapely.union_all(layer.geometry[layer["pair_id"] == pair_id.replace("_", "-")])
        if truth.is_empty:
            assert ours.is_empty
            continue
        iou = shapely.intersection(truth, ours).area / shapely.union(truth, ours).area
        assert iou > 0.8, (pair_id, iou)
