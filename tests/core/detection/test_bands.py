"""The band iterator: raster bands equal in-memory bands, NaN outside the scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.core.rasters import write_scene
from xview3_pipeline.core.detection import Scene
from xview3_pipeline.core.detection.bands import ArrayBands, SceneBands


def test_scene_bands_equal_array_bands(tmp_path: Path) -> None:
    tiny = write_scene(tmp_path, "train", "s1", height=70, width=90)
    scene = Scene.from_folder(tiny.scene_dir)
    array = np.stack([tiny.vh, tiny.vv]).astype(np.float32)
    array[:, ~tiny.valid] = np.nan
    windows = [(-10, 30), (20, 30), (60, 30)]  # a halo above, the middle, past the bottom
    with SceneBands(scene, gdal_cache_mb=8) as bands:
        assert bands.shape == (70, 90)
        from_rasters = list(bands.bands(windows, 100))  # 10 columns past the right border
    from_memory = list(ArrayBands(array).bands(windows, 100))
    assert [r for r, _ in from_rasters] == [-10, 20, 60]
    for (_, a), (_, b) in zip(from_rasters, from_memory, strict=True):
        assert a.shape == b.shape == (2, 30, 100)
        np.testing.assert_array_equal(a, b)
    assert np.isnan(from_rasters[0][1][:, :10]).all() and np.isnan(from_rasters[2][1][:, 10:]).all()
    with pytest.raises(RuntimeError, match="outside its 'with'"):
        bands.read(0, 0, 1, 1)
