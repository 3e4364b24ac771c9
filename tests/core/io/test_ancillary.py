"""The ancillary module: shoreline contours and the owiMask land raster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.transform import array_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject
from scipy.ndimage import distance_transform_edt

from tests.core.rasters import ORIGIN, write_raster
from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.io.ancillary import (
    LandRaster,
    contour_points,
    load_shoreline_file,
    load_shoreline_points,
)

SCENE_TRANSFORM = Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1])
OWI_TRANSFORM = Affine(500.0, 0.0, ORIGIN[0], 0.0, -500.0, ORIGIN[1])


def test_contour_points_accepts_every_stored_form() -> None:
    contours = np.array([np.zeros((3, 2)), np.zeros((0, 2)), np.ones((2, 2))], dtype=object)
    assert contour_points(contours).shape == (5, 2)
    assert contour_points(np.ones((4, 2))).shape == (4, 2)
    assert contour_points(np.ones((2, 3, 2))).shape == (6, 2)  # equal-length, stacked
    assert contour_points(None).shape == contour_points(np.array([], dtype=object)).shape
    assert contour_points([[1.0, 2.0]], dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match=r"expected \(N, 2\)"):
        contour_points(np.ones((4, 3)))
    with pytest.raises(ValueError, match="sequence of contours"):
        contour_points(5)


def test_shoreline_files(tmp_path: Path) -> None:
    path = tmp_path / "a_shoreline.npy"
    np.save(path, np.array([np.array([[1.0, 2.0], [np.nan, 0.0]])], dtype=object))
    shoreline = load_shoreline_file(path, "a")
    assert shoreline is not None and len(shoreline) == 1  # the non-finite point is dropped
    assert load_shoreline_points(path).dtype == np.float32
    assert load_shoreline_file(tmp_path / "missing.npy") is None
    assert load_shoreline_points(None).shape == (0, 2)
    np.save(path, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"a_shoreline\.npy"):
        load_shoreline_file(path)


def _owi(tmp_path: Path) -> tuple[np.ndarray, Path]:
    mask = np.zeros((6, 8), np.float32)
    mask[:, 6:] = 1.0
    mask[0, 5] = 5.0
    mask[5, 0] = NODATA
    return mask, write_raster(tmp_path / "owiMask.tif", mask, transform=OWI_TRANSFORM)


def test_land_raster_on_the_scene_grid(tmp_path: Path) -> None:
    mask, path = _owi(tmp_path)
    kwargs = {
        "scene_shape": (300, 400),
        "scene_transform": SCENE_TRANSFORM,
        "scene_crs": "EPSG:32631",
    }
    native = LandRaster.from_owi_mask(path, **kwargs)
    assert native.cell_px == 50 and native.cell_m == (500.0, 500.0)
    np.testing.assert_array_equal(native.land, np.isin(mask, (1, 5)))
    fine = LandRaster.from_owi_mask(path, cell_px=10, **kwargs)
    np.testing.assert_array_equal(fine.land, np.kron(native.land, np.ones((5, 5), bool)))
    window = fine.window(-5, 20, 400)  # rows above the scene are sea
    assert not window[:5].any() and window[5:, 300:].all() and not window[5:, :250].any()
    np.testing.assert_allclose(
        native.distance_km(np.array([10, 10]), np.array([10, 320])), [2.5, 0.0]
    )  # cell (0, 5) is land (code 5)
    grown = fine.buffered(500.0)
    assert grown.land[:, 25:].all() and not grown.land[12:, :24].any()


def test_land_raster_reprojects_another_crs(tmp_path: Path) -> None:
    mask, path = _owi(tmp_path)
    kwargs = {
        "scene_shape": (300, 400),
        "scene_transform": SCENE_TRANSFORM,
        "scene_crs": "EPSG:32631",
    }
    reference = LandRaster.from_owi_mask(path, cell_px=10, **kwargs)
    # The same mask in the neighbouring UTM zone, on a 100 m grid.
    src = np.kron(mask, np.ones((5, 5), np.float32))
    src_transform = OWI_TRANSFORM @ Affine.scale(0.2)
    dst_transform, width, height = calculate_default_transform(
        "EPSG:32631", "EPSG:32630", 40, 30, *array_bounds(30, 40, src_transform), resolution=100.0
    )
    other = np.zeros((height, width), np.float32)
    reproject(
        src, other, src_transform=src_transform, src_crs="EPSG:32631",
        dst_transform=dst_transform, dst_crs="EPSG:32630", resampling=Resampling.nearest,
    )  # fmt: skip
    moved = write_raster(
        tmp_path / "utm30" / "owiMask.tif", other, transform=dst_transform, crs="EPSG:32630"
    )
    land = LandRaster.from_owi_mask(moved, cell_px=10, **kwargs)
    agree = (land.land == reference.land).mean()
    assert agree > 0.97  # two nearest resamplings only move the coast by a cell
    assert land.land[:, 32:].all() and not land.land[6:, :27].any()


@pytest.mark.parametrize("slab_rows", [1, 3, 8, 1000])
@pytest.mark.parametrize(("buffer_m", "cell_m"), [(500.0, (100.0, 100.0)), (730.0, (97.3, 104.1))])
def test_buffered_land_by_slabs_equals_one_whole_grid_transform(slab_rows, buffer_m, cell_m):
    rng = np.random.default_rng(slab_rows)
    land = rng.random((41, 57)) < 0.01  # sparse land: many slabs see only their halo's land
    land[30:, 40:] = True  # and a coast
    raster = LandRaster(land=land, cell_px=10, cell_m=cell_m)
    expected = distance_transform_edt(~land, sampling=cell_m) <= buffer_m
    grown = raster.buffered(buffer_m, slab_rows=slab_rows)
    np.testing.assert_array_equal(grown.land, expected)
    assert (grown.cell_px, grown.cell_m) == (10, cell_m)
    assert expected.sum() > 3 * land.sum()
