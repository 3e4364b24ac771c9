"""Scene sizes of the synthetic generator: non-square scenes, full size, bounded memory."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import rasterio
import rasterio.env

from xview3_pipeline.core import constants
from xview3_pipeline.core.io import layout
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset, render
from xview3_pipeline.core.synthetic.render import build_sprites, render_band
from xview3_pipeline.core.synthetic.scenario import plan_dataset

#: One coastal scene, as the full-scene benchmark asks for it.
ONE_SCENE = {"n_locations": 1, "coastal_fraction": 1.0, "revisit_splits": ["public"]}


@pytest.mark.parametrize(("height", "width"), [(96, 224), (224, 96)])
def test_one_non_square_scene_from_the_parameters(tmp_path, height, width):
    """Rows are the height and columns the width in every file the generator writes."""
    config = SyntheticConfig.from_dict(ONE_SCENE | {"height": height, "width": width, "seed": 9})
    done = generate_dataset(config, tmp_path / "raw")
    (row,) = done.manifest.itertuples()
    assert (row.split, row.height, row.width) == ("public", height, width)
    folder = layout.scene_dir(done.root, row.split, row.scene_id)
    for name in (constants.VV_FILE, constants.VH_FILE):
        with rasterio.open(folder / name) as src:
            assert (src.height, src.width) == (height, width)
            data = src.read(1)
            assert 0.2 < np.mean(data != constants.NODATA) < 0.95
    for name in constants.ANCILLARY_FILES.values():
        with rasterio.open(folder / name) as src:
            assert (src.height, src.width) == (math.ceil(height / 50), math.ceil(width / 50))
    shore = np.load(layout.shoreline_file(done.root, row.split, row.scene_id), allow_pickle=True)
    assert len(shore) > 0  # seed 9 puts the coast through both scenes
    for piece in shore:
        assert 0.0 <= piece[:, 0].min() and piece[:, 0].max() <= height
        assert 0.0 <= piece[:, 1].min() and piece[:, 1].max() <= width
    truth = done.test_truth
    assert truth["detect_scene_row"].between(0, height - 1).all()
    assert truth["detect_scene_column"].between(0, width - 1).all()


def test_a_full_size_scene_is_planned_and_rendered_by_bands():
    """A 24,400 × 29,400 scene is planned from the parameters; one band renders alone."""
    config = SyntheticConfig.from_dict(ONE_SCENE | {"height": 24_400, "width": 29_400})
    (plan,) = plan_dataset(config)
    assert (plan.height, plan.width) == (24_400, 29_400)
    assert 0.6 * 29_400 < plan.swath_width_px < 29_400
    assert 0.6 * 24_400 < plan.swath_length_px < 24_400
    assert len(plan.objects) > 0
    vv, vh = render_band(plan, 12_000, 12_008, build_sprites(plan))
    assert vv.shape == vh.shape == (8, 29_400)
    assert vv.dtype == np.float32
    assert np.any(vv != constants.NODATA)


def _generation_peak_bytes(tmp_path, height: int, width: int) -> int:
    config = SyntheticConfig.from_dict(ONE_SCENE | {"height": height, "width": width, "seed": 5})
    tracemalloc.start()
    try:
        generate_dataset(config, tmp_path / f"raw_{height}")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_generation_memory_does_not_grow_with_the_height(tmp_path):
    """Three times the rows (several bands) costs no more numpy memory than one band."""
    short = _generation_peak_bytes(tmp_path, 320, 320)
    tall = _generation_peak_bytes(tmp_path, 960, 320)
    assert tall < 1.25 * short, (short, tall)


@pytest.mark.parametrize(("height", "width"), [(64, 200), (400, 100)])
def test_too_elongated_scenes_are_rejected(tmp_path, height, width):
    with pytest.raises(ValueError, match=rf"height={height} and width={width}.*at most 3 times"):
        SyntheticConfig.from_dict({"height": height, "width": width})
    with pytest.raises(ValueError, match="at most 3 times"):
        generate_dataset(SyntheticConfig(height=height, width=width), tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_scenes_are_written_by_bands_under_a_bounded_gdal_cache(tmp_path, monkeypatch):
    """Each band is at most BAND_ROWS rows; GDAL may not cache the raster while it is written."""
    calls: list[tuple[int, int, str]] = []
    real_render = render.render_band

    def spy(plan, row_start, row_stop, sprites):
        calls.append((row_start, row_stop, str(rasterio.env.getenv().get("GDAL_CACHEMAX"))))
        return real_render(plan, row_start, row_stop, sprites)

    monkeypatch.setattr(render, "render_band", spy)
    config = SyntheticConfig.from_dict(ONE_SCENE | {"height": 600, "width": 200, "seed": 1})
    generate_dataset(config, tmp_path / "raw")
    assert [(a, b) for a, b, _ in calls] == [(0, 256), (256, 512), (512, 600)]
    assert {cache for _, _, cache in calls} == {str(render.GDAL_CACHE_MB)}
    assert render.GDAL_CACHE_MB <= 256
