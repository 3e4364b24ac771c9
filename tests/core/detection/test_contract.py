"""The detection contract: the scene handle, the candidate table and both detectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from torch import nn
from torch.nn import functional as F

from tests.core.rasters import write_raster, write_scene
from xview3_pipeline.core.constants import VH_FILE, VV_FILE
from xview3_pipeline.core.detection import (
    CANDIDATE_COLUMNS,
    CfarDetector,
    CnnDetector,
    Detector,
    Scene,
    empty_candidates,
)
from xview3_pipeline.core.detection.cfar import CfarConfig, detect_scene
from xview3_pipeline.core.detection.cnn import InferenceConfig, predict_scene
from xview3_pipeline.core.detection.georef import add_scene_columns
from xview3_pipeline.core.io.ancillary import load_shoreline_file
from xview3_pipeline.core.types import CircleNetOutputs

SMALL = {"tile_size": 64, "step": 32, "batch_size": 2, "progress": False, "device": "cpu"}


class BrightModel(nn.Module):
    """Objectness where VV is bright, constant class maps and centred offsets (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(8.0))

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        logit = F.max_pool2d(x[:, 1:2], 2, 2) * self.gain - 4.0
        zeros = torch.zeros_like(logit)
        return CircleNetOutputs(
            logit, zeros, zeros, zeros + 1.0, torch.cat([zeros, zeros], 1) + 0.5
        )


def _bright_scene(root: Path, scene_id: str = "s1", *, shoreline: bool = True) -> Path:
    """A 96 x 128 scene with three bright pixels in VV (and VH)."""
    scene = write_scene(root, "train", scene_id, height=96, width=128, shoreline=shoreline)
    vv, vh = scene.vv.copy(), scene.vh.copy()
    for r, c in [(40, 40), (60, 100), (80, 20)]:
        vv[r, c], vh[r, c] = 10.0, 5.0
    write_raster(scene.scene_dir / VV_FILE, vv, transform=scene.transform)
    write_raster(scene.scene_dir / VH_FILE, vh, transform=scene.transform)
    return scene.scene_dir


def _row(scene_dir: Path, root: Path, *, relative: bool) -> dict[str, object]:
    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix() if relative else path.as_posix()

    shore = root / "shoreline" / "train" / f"{scene_dir.name}_shoreline.npy"
    return {
        "scene_id": scene_dir.name,
        "split": "train",
        "scene_dir": rel(scene_dir),
        "vh_path": rel(scene_dir / VH_FILE),
        "vv_path": rel(scene_dir / VV_FILE),
        "height": 96,
        "width": 128,
        "shoreline_path": rel(shore) if shore.is_file() else None,
    }


@pytest.mark.parametrize("relative", [True, False])
def test_scene_from_index_row_resolves_paths(tmp_path: Path, relative: bool) -> None:
    scene_dir = _bright_scene(tmp_path)
    row = _row(scene_dir, tmp_path, relative=relative)
    frame = pd.DataFrame([row])
    from_tuple = Scene.from_index_row(next(frame.itertuples(index=False)), tmp_path)
    from_mapping = Scene.from_index_row(row, tmp_path)
    assert from_tuple == from_mapping
    assert from_tuple.vh_path == scene_dir / VH_FILE
    assert from_tuple.ancillary_dir == scene_dir
    assert from_tuple.shoreline_path == tmp_path / "shoreline" / "train" / "s1_shoreline.npy"
    assert from_tuple.owi_mask_path == scene_dir / "owiMask.tif"
    with rasterio.open(scene_dir / VH_FILE) as src:
        assert from_tuple.transform == src.transform
        assert from_tuple.crs == src.crs


def test_scene_from_index_row_finds_the_shoreline_and_names_missing_columns(
    tmp_path: Path,
) -> None:
    scene_dir = _bright_scene(tmp_path)
    row = _row(scene_dir, tmp_path, relative=True) | {"shoreline_path": float("nan")}
    scene = Scene.from_index_row(row, tmp_path)
    assert scene.shoreline_path == tmp_path / "shoreline" / "train" / "s1_shoreline.npy"
    with pytest.raises(ValueError, match=r"lacks \['vv_path'\]"):
        Scene.from_index_row({k: v for k, v in row.items() if k != "vv_path"}, tmp_path)


def test_scene_from_folder(tmp_path: Path) -> None:
    scene_dir = _bright_scene(tmp_path, shoreline=False)
    scene = Scene.from_folder(scene_dir)
    assert (scene.scene_id, scene.height, scene.width) == ("s1", 96, 128)
    assert scene.shoreline_path is None and scene.ancillary_dir == scene_dir
    with pytest.raises(FileNotFoundError, match=r"VH_dB\.tif"):
        Scene.from_folder(tmp_path)


def test_empty_candidates_has_the_columns_and_dtypes() -> None:
    frame = empty_candidates()
    assert tuple(frame.columns) == CANDIDATE_COLUMNS and len(frame) == 0
    assert frame["detect_scene_row"].dtype == np.int64
    assert frame["objectness_p"].dtype == np.float64


def test_cnn_detector_equals_predict_scene(tmp_path: Path) -> None:
    scene_dir = _bright_scene(tmp_path)
    model = BrightModel()
    config = InferenceConfig.from_dict(SMALL)
    detector = CnnDetector(model, config)
    assert isinstance(detector, Detector) and detector.name == "cnn"
    scene = Scene.from_index_row(_row(scene_dir, tmp_path, relative=True), tmp_path)
    got = detector.detect(scene)
    expected = predict_scene(model, scene, config)
    assert tuple(got.columns) == CANDIDATE_COLUMNS
    assert len(got) >= 3
    pd.testing.assert_frame_equal(got, expected)


def test_fingerprints_follow_weights_and_settings() -> None:
    model = BrightModel()
    config = InferenceConfig.from_dict(SMALL)
    base = CnnDetector(model, config).fingerprint()
    assert CnnDetector(model, config.replace(progress=True)).fingerprint() == base
    assert CnnDetector(model, config.replace(min_objectness=0.2)).fingerprint() != base
    other = BrightModel()
    with torch.no_grad():
        other.gain.fill_(9.0)
    assert CnnDetector(other, config).fingerprint() != base
    cfar = CfarDetector(CfarConfig())
    assert cfar.fingerprint() == CfarDetector(CfarConfig()).fingerprint()
    assert cfar.fingerprint() != CfarDetector(CfarConfig(pfa=1e-6)).fingerprint()


def test_cfar_detector_equals_detect_scene(tmp_path: Path) -> None:
    scene_dir = _bright_scene(tmp_path)
    config = CfarConfig.from_dict({"band_rows": 32})
    detector = CfarDetector(config)
    assert isinstance(detector, Detector) and detector.name == "cfar"
    scene = Scene.from_folder(scene_dir)
    got = detector.detect(scene)
    shoreline = load_shoreline_file(scene.shoreline_path)
    expected = add_scene_columns(detect_scene(scene, config, shoreline=shoreline), scene, shoreline)
    assert tuple(got.columns) == CANDIDATE_COLUMNS and len(got) >= 1
    pd.testing.assert_frame_equal(got, expected)
