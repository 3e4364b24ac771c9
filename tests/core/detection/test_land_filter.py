"""Candidates on land left out by the scene's owiMask (core/detection/land_filter.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from affine import Affine

from tests.core.rasters import ORIGIN, write_raster
from xview3_pipeline.core.constants import NODATA, VH_FILE, VV_FILE
from xview3_pipeline.core.detection import Scene
from xview3_pipeline.core.detection.land_filter import drop_on_land


def _scene(tmp_path: Path, *, owi: bool = True) -> Scene:
    h = w = 400
    for name in (VH_FILE, VV_FILE):
        write_raster(tmp_path / name, np.full((h, w), -25.0, np.float32))
    if owi:
        mask = np.zeros((h // 50, w // 50), np.float32)
        mask[:, :2] = 1.0  # land: columns 0-99
        mask[0, -1] = NODATA
        transform = Affine(500.0, 0.0, ORIGIN[0], 0.0, -500.0, ORIGIN[1])
        write_raster(tmp_path / "owiMask.tif", mask, transform=transform)
    return Scene.from_folder(tmp_path, scene_id="a")


def _candidates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "detect_scene_row": [200, 120, 300, 10, 399],
            "detect_scene_column": [50, 130, 300, 390, 99],
            "objectness_p": [0.9, 0.8, 0.7, 0.6, 0.5],
        }
    )


def test_candidates_on_land_cells_are_left_out(tmp_path: Path) -> None:
    kept = drop_on_land(_candidates(), _scene(tmp_path))
    # Columns 0-99 are land; nodata (top right) is sea.
    assert kept["objectness_p"].tolist() == [0.8, 0.7, 0.6]
    assert kept.index.tolist() == [0, 1, 2]


def test_a_buffer_grows_the_land(tmp_path: Path) -> None:
    kept = drop_on_land(_candidates(), _scene(tmp_path), buffer_m=500.0)
    assert kept["objectness_p"].tolist() == [0.7, 0.6]


def test_without_owi_mask_every_candidate_is_kept_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frame = _candidates()
    with caplog.at_level(logging.WARNING):
        assert drop_on_land(frame, _scene(tmp_path, owi=False)) is frame
    assert "Scene a has no owiMask.tif" in caplog.text
