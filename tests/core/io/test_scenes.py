"""Scene discovery, bounded scene summaries and the scene index."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import rasterio.env
from affine import Affine

from tests.core.rasters import ORIGIN, write_raster, write_scene
from xview3_pipeline.core import ingestion
from xview3_pipeline.core.constants import ANCILLARY_FILES, VH_FILE, VV_FILE
from xview3_pipeline.core.errors import (
    DatasetLayoutError,
    InvalidSceneIdError,
    RasterReadError,
    SceneGeometryError,
    SceneNotFoundError,
)
from xview3_pipeline.core.io import scenes
from xview3_pipeline.core.io.layout import resolve_scene_paths
from xview3_pipeline.core.io.scene import Scene
from xview3_pipeline.core.io.scenes import discover_scenes, read_scene_info


def _ref(root: Path, split: str, scene_id: str) -> Scene:
    """The discovered scene ``split/scene_id`` of ``root``; a located one when not a folder."""
    found = {s.scene_id: s for s in discover_scenes(root, splits=(split,))}
    return found.get(scene_id) or Scene.locate(root / split / scene_id, split=split)


# --- discovery --------------------------------------------------------------------------


def test_discover_sorted_skips_missing_splits_and_files(tmp_path):
    write_scene(tmp_path, "validation", "bbbv")
    write_scene(tmp_path, "train", "zzzt")
    write_scene(tmp_path, "train", "aaat")
    (tmp_path / "train" / "notes.txt").write_text("not a scene")
    refs = discover_scenes(tmp_path)
    assert [(r.split, r.scene_id) for r in refs] == [
        ("train", "aaat"),
        ("train", "zzzt"),
        ("validation", "bbbv"),
    ]
    assert refs[0].scene_dir == (tmp_path / "train" / "aaat").absolute()
    assert discover_scenes(tmp_path, splits=("validation",))[0].scene_id == "bbbv"


def test_discover_missing_root_names_path_and_layout(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere") as info:
        discover_scenes(missing)
    assert isinstance(info.value, DatasetLayoutError)
    assert "<split>/<scene_id>" in str(info.value)


def test_discover_root_is_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        discover_scenes(path)


@pytest.mark.parametrize("name", ["bad name", "a.b", "-leading"])
def test_discover_rejects_folder_not_plain_id(tmp_path, name):
    write_scene(tmp_path, "train", "goodt")
    (tmp_path / "train" / name).mkdir()
    with pytest.raises(
        InvalidSceneIdError, match=re.escape(f"(scene folder {tmp_path / 'train' / name})")
    ):
        discover_scenes(tmp_path)


def test_discover_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="Unknown split"):
        discover_scenes(tmp_path, splits=("test",))


def test_discover_locates_scenes_without_opening_rasters(tmp_path):
    good = write_scene(tmp_path, "train", "goodt", height=48, width=64, shoreline=True)
    junk = write_scene(tmp_path, "train", "junkt", ancillary=())
    (junk.scene_dir / VH_FILE).write_bytes(b"not a tiff" * 10)
    (junk.scene_dir / VV_FILE).unlink()
    found, broken = discover_scenes(tmp_path)  # a corrupt or missing raster is not read here
    assert found.shape is None and found.split == "train"
    assert found.shoreline_path == tmp_path / "shoreline" / "train" / "goodt_shoreline.npy"
    assert (found.height, found.width) == (48, 64)  # read lazily from the VH header
    assert found == Scene.from_folder(
        good.scene_dir, shoreline_path=found.shoreline_path, split="train"
    )
    assert broken.shoreline_path is None and broken.vv_path == junk.scene_dir / VV_FILE
    with pytest.raises(FileNotFoundError, match=re.escape(f"{junk.scene_dir} lacks ['VV_dB.tif']")):
        broken.checked()
    assert found.checked().shape == (48, 64)


def test_discover_prediction_scenes_flat_folder_and_shorelines(tmp_path):
    write_scene(tmp_path / "split", "public", "onep", shoreline=True)
    flat = tmp_path / "flat"
    write_scene(tmp_path, "flat", "flatp")  # tmp_path/flat/flatp: a flat folder of scenes
    (flat / "notes").mkdir()  # no rasters: skipped
    (flat / "shoreline").mkdir()
    (flat / "shoreline" / "flatp_shoreline.npy").write_bytes(b"")
    (only,) = scenes.discover_prediction_scenes(flat)
    assert (only.scene_id, only.split) == ("flatp", "public")
    assert only.shoreline_path == flat / "shoreline" / "flatp_shoreline.npy"
    (split_scene,) = scenes.discover_prediction_scenes(tmp_path / "split")
    assert split_scene.shoreline_path == (
        tmp_path / "split" / "shoreline" / "public" / "onep_shoreline.npy"
    )
    with pytest.raises(DatasetLayoutError, match="No scene under"):
        scenes.discover_prediction_scenes(flat / "notes")


# --- read_scene_info: happy paths -------------------------------------------------------


def test_scene_info_exact_on_small_scene(tmp_path):
    scene = write_scene(tmp_path, "train", "s1t", height=48, width=64, triangle=20, shoreline=True)
    info = read_scene_info(_ref(tmp_path, "train", "s1t"))

    shape = (info.scene.width, info.scene.height, info.decimation, info.decimated_shape)
    assert shape == (64, 48, 1, (48, 64))
    assert info.crs == "EPSG:32631"
    assert info.transform == (10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1])
    assert info.pixel_size_m == pytest.approx(10.0)

    valid = scene.valid
    for stats, arr in ((info.vv, scene.vv), (info.vh, scene.vh)):
        data = arr[valid].astype(np.float64)
        assert stats.mean == pytest.approx(data.mean(), rel=1e-12)
        assert stats.std == pytest.approx(data.std(), rel=1e-12)
        assert stats.min == data.min()
        assert stats.max == data.max()
        assert stats.valid_count == valid.sum()
    assert info.nodata_fraction == pytest.approx(1.0 - valid.mean())

    # Footprint area close to the area of the valid pixels (100 m² each).
    assert info.footprint_area_km2 == pytest.approx(valid.sum() * 100 / 1e6, rel=0.03)
    assert info.footprint.is_valid and not info.footprint.is_empty
    minx, miny, maxx, maxy = info.footprint.bounds
    to_ll = pyproj.Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    lon0, lat0 = to_ll.transform(ORIGIN[0], ORIGIN[1])
    lon1, lat1 = to_ll.transform(ORIGIN[0] + 640, ORIGIN[1] - 480)
    assert lon0 - 1e-4 <= minx < maxx <= lon1 + 1e-4
    assert lat1 - 1e-4 <= miny < maxy <= lat0 + 1e-4

    # Centroid: the valid-pixel centroid in UTM, then projected.
    rows, cols = np.nonzero(valid)
    cx = ORIGIN[0] + 10 * (cols.mean() + 0.5)
    cy = ORIGIN[1] - 10 * (rows.mean() + 0.5)
    exp_lon, exp_lat = to_ll.transform(cx, cy)
    assert info.centroid_lon == pytest.approx(exp_lon, abs=2e-4)
    assert info.centroid_lat == pytest.approx(exp_lat, abs=2e-4)

    assert info.ancillary_missing == ()
    assert set(info.ancillary_present) == set(ANCILLARY_FILES)
    assert info.scene.shoreline_path == tmp_path / "shoreline" / "train" / "s1t_shoreline.npy"


def test_scene_info_decimated_read_is_bounded(tmp_path, monkeypatch):
    scene = write_scene(tmp_path, "train", "bigt", height=200, width=300, triangle=120)
    shapes: list[tuple[int, int]] = []
    real_read = scenes._read_decimated

    def spy(src, out_shape):
        arr = real_read(src, out_shape)
        shapes.append(arr.shape)
        return arr

    monkeypatch.setattr(scenes, "_read_decimated", spy)
    info = read_scene_info(_ref(tmp_path, "train", "bigt"), max_side=64)

    assert info.decimation == 5
    assert info.decimated_shape == (40, 60)
    assert shapes == [(40, 60), (40, 60)]
    assert max(max(s) for s in shapes) <= 64
    assert (info.scene.width, info.scene.height) == (300, 200)
    valid = scene.valid
    assert info.vv.mean == pytest.approx(scene.vv[valid].mean(), abs=0.5)
    assert info.vh.std == pytest.approx(scene.vh[valid].std(), rel=0.15)
    assert info.nodata_fraction == pytest.approx(1.0 - valid.mean(), abs=0.03)
    assert info.footprint_area_km2 == pytest.approx(valid.sum() * 100 / 1e6, rel=0.05)
    assert info.pixel_size_m == pytest.approx(10.0)


def test_scene_info_reads_under_a_bounded_gdal_cache(tmp_path, monkeypatch):
    """Decimated reads decode every block of a file without overviews; GDAL keeps few."""
    write_scene(tmp_path, "train", "cachet", height=200, width=300, triangle=120)
    caches: list[str] = []
    real_read = scenes._read_decimated

    def spy(src, out_shape):
        caches.append(str(rasterio.env.getenv().get("GDAL_CACHEMAX")))
        return real_read(src, out_shape)

    monkeypatch.setattr(scenes, "_read_decimated", spy)
    read_scene_info(_ref(tmp_path, "train", "cachet"), max_side=64)
    assert caches == [str(scenes.GDAL_CACHE_MB)] * 2
    assert scenes.GDAL_CACHE_MB <= 256


def test_scene_info_own_nodata_and_nonfinite_are_invalid(tmp_path):
    scene = write_scene(tmp_path, "train", "ndt", triangle=0, ancillary=())
    vv = scene.vv.copy()
    vv[0, :10] = np.nan
    vv[1, :5] = -9999.0
    write_raster(scene.scene_dir / VV_FILE, vv, transform=scene.transform, nodata=-9999.0)
    info = read_scene_info(_ref(tmp_path, "train", "ndt"))
    assert info.vv.valid_count == vv.size - 15
    assert info.vh.valid_count == vv.size
    assert info.nodata_fraction == pytest.approx(15 / vv.size)
    assert math.isfinite(info.vv.mean)
    assert set(info.ancillary_missing) == set(ANCILLARY_FILES)
    assert info.scene.shoreline_path is None


def test_scene_info_all_nodata_gives_empty_footprint_and_warning(tmp_path, caplog):
    write_scene(tmp_path, "public", "emptyp", height=32, width=32, triangle=1000)
    with caplog.at_level(logging.WARNING, logger="xview3_pipeline.core.io.scenes"):
        info = read_scene_info(_ref(tmp_path, "public", "emptyp"))
    assert info.footprint.is_empty
    assert info.footprint_area_km2 == 0.0
    assert math.isnan(info.vv.mean) and math.isnan(info.vh.max)
    assert math.isnan(info.centroid_lon)
    assert info.nodata_fraction == 1.0
    assert "emptyp" in caplog.text and "no pixel valid" in caplog.text


def test_scene_info_geographic_crs(tmp_path):
    write_scene(
        tmp_path,
        "train",
        "geot",
        height=40,
        width=40,
        pixel=0.0001,
        crs="EPSG:4326",
        origin=(3.0, 45.0),
        triangle=0,
    )
    info = read_scene_info(_ref(tmp_path, "train", "geot"))
    # 0.0001° is about 11.1 m north-south and 7.9 m east-west at 45°N.
    assert 8.0 < info.pixel_size_m < 11.0
    assert info.footprint_area_km2 == pytest.approx(40 * 40 * 7.87 * 11.12 / 1e6, rel=0.03)
    assert info.centroid_lon == pytest.approx(3.002, abs=1e-6)
    assert info.centroid_lat == pytest.approx(44.998, abs=1e-6)


# --- read_scene_info: bad inputs ---------------------------------------------------------


@pytest.mark.parametrize("missing", [VV_FILE, VH_FILE])
def test_scene_info_missing_sar_file(tmp_path, missing):
    scene = write_scene(tmp_path, "train", "misst", ancillary=())
    (scene.scene_dir / missing).unlink()
    with pytest.raises(SceneNotFoundError, match="without SAR files") as info:
        read_scene_info(_ref(tmp_path, "train", "misst"))
    assert str(scene.scene_dir) in str(info.value)
    assert missing in str(info.value)


def test_scene_info_missing_folder(tmp_path):
    with pytest.raises(SceneNotFoundError, match="goneT"):
        read_scene_info(_ref(tmp_path, "train", "goneT"))


def test_scene_info_garbage_tif(tmp_path):
    scene = write_scene(tmp_path, "train", "junkt", ancillary=())
    (scene.scene_dir / VH_FILE).write_bytes(b"this is not a tiff at all" * 10)
    with pytest.raises(RasterReadError, match=re.escape(f"junkt/{VH_FILE}")):
        read_scene_info(_ref(tmp_path, "train", "junkt"))


def test_scene_info_truncated_tif(tmp_path):
    scene = write_scene(tmp_path, "train", "trunct", height=128, width=128, ancillary=())
    path = scene.scene_dir / VV_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RasterReadError, match=re.escape(f"trunct/{VV_FILE}")):
        read_scene_info(_ref(tmp_path, "train", "trunct"))


def test_scene_info_shape_mismatch(tmp_path):
    scene = write_scene(tmp_path, "train", "shapet", height=48, width=64, ancillary=())
    write_raster(scene.scene_dir / VH_FILE, np.zeros((40, 64), np.float32))
    with pytest.raises(SceneGeometryError, match="shape mismatch") as info:
        read_scene_info(_ref(tmp_path, "train", "shapet"))
    msg = str(info.value)
    assert VV_FILE in msg and VH_FILE in msg and "48x64" in msg and "40x64" in msg


def test_scene_info_transform_mismatch(tmp_path):
    scene = write_scene(tmp_path, "train", "transt", ancillary=())
    shifted = Affine(10.0, 0.0, ORIGIN[0] + 30.0, 0.0, -10.0, ORIGIN[1])
    write_raster(scene.scene_dir / VH_FILE, scene.vh, transform=shifted)
    with pytest.raises(SceneGeometryError, match="transform mismatch") as info:
        read_scene_info(_ref(tmp_path, "train", "transt"))
    msg = str(info.value)
    assert VV_FILE in msg and VH_FILE in msg and "500030.0" in msg and "500000.0" in msg


def test_scene_info_crs_mismatch(tmp_path):
    scene = write_scene(tmp_path, "train", "crst", ancillary=())
    write_raster(scene.scene_dir / VH_FILE, scene.vh, transform=scene.transform, crs="EPSG:32632")
    with pytest.raises(SceneGeometryError, match=r"CRS mismatch.*EPSG:32631.*EPSG:32632"):
        read_scene_info(_ref(tmp_path, "train", "crst"))


def test_scene_info_no_crs(tmp_path):
    scene = write_scene(tmp_path, "train", "nocrst", ancillary=())
    write_raster(scene.scene_dir / VV_FILE, scene.vv, transform=scene.transform, crs=None)
    with pytest.raises(SceneGeometryError, match=re.escape(f"nocrst/{VV_FILE} has no CRS")):
        read_scene_info(_ref(tmp_path, "train", "nocrst"))


def test_scene_info_rejects_unsafe_ref(tmp_path):
    with pytest.raises(InvalidSceneIdError):
        Scene.locate(tmp_path / "train" / "x", scene_id="../evil", split="train")


# --- scene index ------------------------------------------------------------------------


def test_build_scene_index_and_parquet_round_trip(tmp_path):
    raw = tmp_path / "raw"
    a = write_scene(raw, "train", "aaat", seed=1, shoreline=True)
    write_scene(raw, "validation", "bbbv", seed=2, ancillary=("bathymetry", "owi_mask"))
    write_scene(raw, "public", "cccp", seed=3, height=32, width=40)

    gdf = ingestion.build_scene_index(raw)
    assert list(gdf.columns) == [*ingestion.SCENE_INDEX_COLUMNS, "geometry"]
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf["scene_id"]) == ["aaat", "bbbv", "cccp"]
    assert list(gdf["split"]) == ["train", "validation", "public"]
    row = gdf.iloc[0]
    # Paths are stored relative to the raw root, so a moved project reads its own scenes.
    assert row["vv_path"] == f"train/aaat/{VV_FILE}"
    assert row["vh_path"] == f"train/aaat/{VH_FILE}" and row["scene_dir"] == "train/aaat"
    assert row["shoreline_path"] == "shoreline/train/aaat_shoreline.npy"
    resolved = resolve_scene_paths(gdf, raw).iloc[0]
    assert resolved["vv_path"] == (raw / "train" / "aaat" / VV_FILE).as_posix()
    assert Path(resolved["shoreline_path"]).is_file()
    assert resolve_scene_paths(gdf, raw).iloc[1]["shoreline_path"] is None
    assert row["transform"] == [10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1]]
    assert row["vv_mean"] == pytest.approx(a.vv[a.valid].astype(np.float64).mean())
    assert row["ancillary_missing"] == ""
    assert gdf.iloc[1]["ancillary_missing"] == "owi_wind_speed,owi_wind_direction,owi_wind_quality"
    assert gdf.iloc[1]["shoreline_path"] is None
    assert gdf["width"].dtype == np.int64 and gdf["decimation"].dtype == np.int64
    assert gdf.geometry.is_valid.all()
    assert not gdf.geometry.is_empty.any()
    assert (gdf["footprint_area_km2"] > 0).all()

    path = tmp_path / "index.parquet"
    gdf.to_parquet(path)
    back = gpd.read_parquet(path)
    assert back.crs.to_epsg() == 4326
    assert list(back.columns) == list(gdf.columns)
    assert back.geometry.geom_equals_exact(gdf.geometry, tolerance=1e-12).all()
    assert list(back.iloc[0]["transform"]) == row["transform"]
    assert back["vv_std"].tolist() == gdf["vv_std"].tolist()
    assert back.iloc[0]["shoreline_path"] == row["shoreline_path"]
    assert back["shoreline_path"].isna().tolist() == [False, True, True]


def test_build_scene_index_zero_scenes(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(
        DatasetLayoutError, match=re.escape(f"No scene folder found under raw root {tmp_path}")
    ):
        ingestion.build_scene_index(tmp_path)


def test_build_scene_index_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        ingestion.build_scene_index(tmp_path / "absent")


def test_build_scene_index_empty_footprint_round_trip(tmp_path):
    write_scene(tmp_path, "train", "deadt", height=32, width=32, triangle=1000, ancillary=())
    gdf = ingestion.build_scene_index(tmp_path)
    assert gdf.geometry.iloc[0].is_empty
    gdf.to_parquet(tmp_path / "i.parquet")
    back = gpd.read_parquet(tmp_path / "i.parquet")
    assert back.geometry.iloc[0].is_empty
    assert math.isnan(back["vv_mean"].iloc[0])
    assert back["nodata_fraction"].iloc[0] == 1.0
