"""The CNN detector: tiling, blending, streaming decoding, flip TTA, export, tables."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from affine import Affine
from pyproj import Transformer
from torch import nn
from torch.nn import functional as F

from tests.core.detection.reference import (
    accumulate_scene_maps,
    coverage_count,
    predict_scene_reference,
    tile_origins,
)
from tests.core.rasters import write_raster
from xview3_pipeline.core.config import RenamedOptionWarning
from xview3_pipeline.core.constants import ANCILLARY_FILES, NODATA, VH_FILE, VV_FILE
from xview3_pipeline.core.data.scene_reader import SceneReader
from xview3_pipeline.core.detection import CANDIDATE_COLUMNS, Scene
from xview3_pipeline.core.detection.cnn import (
    CircleNetEnsemble,
    InferenceConfig,
    NonFiniteOutputError,
    TileGrid,
    build_ensemble,
    export_ensemble,
    flip_offset_x,
    load_exported,
    predict_scene,
    pyramid_weight,
    tile_starts,
)
from xview3_pipeline.core.detection.cnn.prefetch import CHUNK_COLS
from xview3_pipeline.core.types import CircleNetOutputs

BACKGROUND_DB = -25.0


# ----------------------------------------------------------------------------------------
# Fake models
# ----------------------------------------------------------------------------------------
class CentroidModel(nn.Module):
    """Finds bright VV pixels: objectness from the 2x2 block maximum, sub-pixel offsets from
    the intensity centroid over a symmetric 6x6 window around each output cell.

    Exactly flip-equivariant (with the corrected offsets) and translation-equivariant for
    even shifts, so a single bright pixel is decoded at exactly its position.
    """

    output_stride = 2

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        self.calls += 1
        j = F.relu(x[:, 1:2] - 0.5) * self.scale  # VV above -20 dB
        m = F.max_pool2d(j, 2, 2)
        h, w = x.shape[-2:]
        cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, w)
        rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, h, 1)
        den = F.avg_pool2d(j, 6, 2, 2)
        safe = den.clamp_min(1e-12)
        gx = torch.arange(w // 2, dtype=x.dtype, device=x.device).view(1, 1, 1, -1)
        gy = torch.arange(h // 2, dtype=x.dtype, device=x.device).view(1, 1, -1, 1)
        has = den > 1e-9
        # Centroids snapped to 1/64 px so that a single pixel gives its exact position.
        cx = torch.round(F.avg_pool2d(j * cols, 6, 2, 2) / safe * 64) / 64
        cy = torch.round(F.avg_pool2d(j * rows, 6, 2, 2) / safe * 64) / 64
        dx = torch.where(has, cx / 2 - gx, 0.25)  # 0.25: fixed point of the flip correction
        dy = torch.where(has, cy / 2 - gy, 0.0)
        return CircleNetOutputs(10 * m - 4, 5 * (m - 0.4), -3 * m, 10 * m, torch.cat([dx, dy], 1))


class ConstantModel(nn.Module):
    """Constant maps whatever the input."""

    output_stride = 2
    VALUES = (0.7, -0.3, 0.2, 1.5, 0.25, 0.6)  # logits x3, length, dx, dy

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        b, _, h, w = x.shape
        maps = [torch.full((b, 1, h // 2, w // 2), v) for v in self.VALUES]
        return CircleNetOutputs(maps[0], maps[1], maps[2], maps[3], torch.cat(maps[4:], 1))


def config(**kw: object) -> InferenceConfig:
    base = {"tile_size": 64, "step": 48, "batch_size": 4, "progress": False, "device": "cpu"}
    return InferenceConfig.from_dict(base | kw)


def write_sar(tmp: Path, vv: np.ndarray, vh: np.ndarray | None = None, name: str = "s1") -> Scene:
    folder = tmp / name
    if vh is None:
        vh = np.where(vv == NODATA, NODATA, np.float32(-30.0)).astype(np.float32)
    write_raster(folder / VV_FILE, vv.astype(np.float32))
    write_raster(folder / VH_FILE, vh.astype(np.float32))
    return Scene.from_folder(folder)


def background(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (BACKGROUND_DB + rng.normal(0, 1, (h, w))).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Tiling
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("h", "w"), [(300, 517), (250, 380), (64, 64), (40, 70), (129, 200)])
def test_full_coverage_every_pixel(h: int, w: int) -> None:
    grid = TileGrid.build(h, w, 128, 96, coverage="full", stride=2)
    assert coverage_count(grid).min() >= 1
    assert grid.uncovered_rows == grid.uncovered_cols == 0
    for starts, length in ((grid.row_starts, h), (grid.col_starts, w)):
        assert all(s % 2 == 0 for s in starts)
        assert list(starts) == sorted(set(starts))
        assert starts[0] == 0
        # inside the scene padded to the stride (or one tile when the scene is smaller)
        assert starts[-1] + 128 <= max(math.ceil(length / 2) * 2, 128)
        assert all(b - a <= 96 for a, b in itertools.pairwise(starts))


def test_winner_coverage_reproduces_uncovered_border() -> None:
    h, w, t, s = 250, 380, 128, 96

    def winner_uncovered(length: int) -> int:
        padded = math.ceil(length / t) * t
        n = (padded - t) // s + 1
        return max(0, length - ((n - 1) * s + t))

    assert winner_uncovered(h) == 26 and winner_uncovered(w) == 60
    grid = TileGrid.build(h, w, t, s, coverage="winner")
    assert (grid.uncovered_rows, grid.uncovered_cols) == (26, 60)
    count = coverage_count(grid)
    assert (count[: h - 26, : w - 60] >= 1).all()
    assert (count == 0).sum() == h * w - (h - 26) * (w - 60)
    # The real-scene case of the facts: 2048 / 1536 tiles.

    def uncovered(length: int, coverage: str) -> int:
        return TileGrid.build(length, 2048, 2048, 1536, coverage=coverage).uncovered_rows

    assert uncovered(29400, "winner") == 0
    assert uncovered(6100, "winner") == 980  # tiles 0, 1536, 3072 of 2048
    assert uncovered(6100, "full") == 0


def test_tile_starts_validation() -> None:
    with pytest.raises(ValueError, match="gaps"):
        tile_starts(100, 32, 48)
    with pytest.raises(ValueError, match="multiples"):
        tile_starts(100, 32, 15, align=2)
    with pytest.raises(ValueError, match="coverage"):
        tile_starts(100, 32, 16, "bogus")
    assert list(tile_starts(517, 128, 96, "full", 2)) == [0, 96, 192, 288, 384, 390]


def test_pyramid_weight_properties() -> None:
    wgt = pyramid_weight(32)
    assert wgt.shape == (32, 32) and wgt.dtype == np.float32
    assert wgt.min() > 0
    assert wgt.mean() == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(wgt, wgt[::-1], rtol=1e-6)
    np.testing.assert_allclose(wgt, wgt[:, ::-1], rtol=1e-6)
    np.testing.assert_allclose(wgt, wgt.T, rtol=1e-6)
    assert wgt[15:17, 15:17].min() == pytest.approx(wgt.max())
    assert wgt[0, 0] == wgt.min()


# ----------------------------------------------------------------------------------------
# Blending
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("h", "w"), [(250, 381), (300, 517)])
def test_constant_model_gives_constant_maps(tmp_path: Path, h: int, w: int) -> None:
    scene = write_sar(tmp_path, background(h, w))
    maps, weights = accumulate_scene_maps(ConstantModel(), scene, config())
    assert maps.shape == (6, math.ceil(h / 2), math.ceil(w / 2))
    assert (weights > 0).all()
    v = ConstantModel.VALUES
    expected = [1 / (1 + math.exp(-v[0])), 1 / (1 + math.exp(-v[1])), 1 / (1 + math.exp(-v[2]))]
    expected += list(v[3:])
    for channel, value in enumerate(expected):
        np.testing.assert_allclose(maps[channel], value, rtol=1e-5, atol=1e-6)


def test_winner_coverage_leaves_zero_maps_on_border(tmp_path: Path) -> None:
    scene = write_sar(tmp_path, background(250, 380))
    cfg = config(tile_size=128, step=96, coverage="winner")
    maps, weights = accumulate_scene_maps(ConstantModel(), scene, cfg)
    grid = TileGrid.build(250, 380, 128, 96, coverage="winner")
    assert (grid.uncovered_rows, grid.uncovered_cols) == (26, 60)
    rows_covered, cols_covered = (250 - 26) // 2, (380 - 60) // 2
    assert (weights[rows_covered:] == 0).all() and (maps[:, rows_covered:] == 0).all()
    assert (weights[:, cols_covered:] == 0).all() and (maps[:, :, cols_covered:] == 0).all()
    assert (weights[:rows_covered, :cols_covered] > 0).all()


# ----------------------------------------------------------------------------------------
# Detection, streaming, nodata
# ----------------------------------------------------------------------------------------
def plant(vv: np.ndarray, rows: list[int], cols: list[int], db: list[float] | float = 5.0) -> None:
    vv[np.asarray(rows), np.asarray(cols)] = db


@pytest.mark.parametrize("flip_tta", [False, True])
def test_peak_near_border_found_where_winner_misses(tmp_path: Path, flip_tta: bool) -> None:
    vv = background(250, 380)
    plant(vv, [247, 60, 3], [377, 101, 2], [5.0, 8.0, 2.0])
    scene = write_sar(tmp_path, vv)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=flip_tta)
    full = predict_scene(ens, scene, config())
    assert list(full.columns) == list(CANDIDATE_COLUMNS)
    got = set(zip(full.detect_scene_row, full.detect_scene_column, strict=True))
    assert got == {(247, 377), (60, 101), (3, 2)}
    np.testing.assert_allclose(
        full.set_index("detect_scene_row").loc[247, ["x", "y"]], [377, 247], atol=1e-4
    )
    winner = predict_scene(ens, scene, config(tile_size=128, step=96, coverage="winner"))
    assert set(zip(winner.detect_scene_row, winner.detect_scene_column, strict=True)) == {
        (60, 101),
        (3, 2),
    }


def _many_peaks_scene(tmp_path: Path) -> tuple[Scene, int]:
    h, w = 300, 517
    vv = background(h, w, seed=1)
    rng = np.random.default_rng(7)
    grid = TileGrid.build(h, w, 64, 48)
    # Peaks on and around every finalisation boundary (input rows r - 3 .. r + 2).
    rows = [r + d for r in grid.row_starts[1:] for d in range(-3, 3) for _ in range(6)]
    rows += list(rng.integers(0, h, 400))
    rows += [h - 1, h - 2, 0, 1]
    cols = list(rng.integers(0, w, len(rows)))
    db = list(rng.uniform(-12.0, 15.0, len(rows)))
    plant(vv, rows, cols, db)
    return write_sar(tmp_path, vv), len(rows)


@pytest.mark.parametrize(
    ("coverage", "max_objects", "batch_size"),
    [("full", 2048, 4), ("full", 37, 3), ("winner", 2048, 1)],
)
def test_band_streaming_equals_whole_scene(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    coverage: str,
    max_objects: int,
    batch_size: int,
) -> None:
    scene, _ = _many_peaks_scene(tmp_path)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=True)
    cfg = config(coverage=coverage, max_objects=max_objects, batch_size=batch_size)
    reads: list[tuple[int, int, int, int]] = []
    original = SceneReader.read

    def counting_read(self: SceneReader, row0: int, col0: int, h: int, w: int) -> np.ndarray:
        reads.append((row0, col0, h, w))
        return original(self, row0, col0, h, w)

    monkeypatch.setattr(SceneReader, "read", counting_read)
    streamed = predict_scene(ens, scene, cfg.replace(prefetch=0))
    grid = TileGrid.build(300, 517, 64, 48, coverage=coverage)
    # Each band read once, in column windows left to right; no fallback pixel reads.
    expected = [
        (r, c, 64, min(CHUNK_COLS, grid.read_width - c))
        for r in grid.row_starts
        for c in range(0, grid.read_width, CHUNK_COLS)
    ]
    assert reads == expected
    reference = predict_scene_reference(ens, scene, cfg)
    assert len(streamed) > (30 if max_objects < 100 else 200)
    assert len(streamed) == len(reference) <= max_objects
    pd.testing.assert_frame_equal(streamed, reference, check_exact=False, rtol=0, atol=1e-5)
    assert streamed.objectness_p.is_monotonic_decreasing


def test_streaming_nms_across_band_boundary(tmp_path: Path) -> None:
    """Two adjacent bright pixels across a band boundary: only the brighter is a peak."""
    vv = background(200, 128)
    grid = TileGrid.build(200, 128, 64, 48)
    r = grid.row_starts[1]  # output row r/2 is the first row finalised with the next band
    plant(vv, [r - 1, r, r - 2], [40, 41, 90], [2.0, 9.0, 6.0])
    scene = write_sar(tmp_path, vv)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=False)
    out = predict_scene(ens, scene, config())

    def p(db: float) -> float:
        j = 1 / (1 + math.exp(-0.18 * (db + 20))) - 0.5
        return 1 / (1 + math.exp(-(10 * j - 4)))

    # The 2 dB pixel's cell is suppressed by the 9 dB one in the next band's first row.
    np.testing.assert_allclose(out.objectness_p, [p(9.0), p(6.0)], rtol=1e-5)
    assert r - 1 < out.y[0] < r and 40 < out.x[0] < 41  # centroid of the two pixels
    pd.testing.assert_frame_equal(out, predict_scene_reference(ens, scene, config()))


def test_nodata_suppression_and_skipped_tiles(tmp_path: Path) -> None:
    h, w = 250, 380
    vv = background(h, w)
    vh = np.full((h, w), -30.0, np.float32)
    vv[:, :200] = NODATA
    vh[:, :200] = NODATA
    vv[:70, :] = NODATA
    vh[:70, :] = NODATA
    plant(vv, [100, 150], [250, 300], [5.0, 6.0])
    vh[150, 300] = NODATA  # VV bright but VH nodata at the detection pixel
    scene = write_sar(tmp_path, vv, vh)
    model = CentroidModel()
    cfg = config(batch_size=1)
    out = predict_scene(CircleNetEnsemble([model], flip_tta=False), scene, cfg)
    assert list(zip(out.detect_scene_row, out.detect_scene_column, strict=True)) == [(100, 250)]
    grid = TileGrid.build(h, w, 64, 48)
    has_data = np.zeros((h + 64, w + 64), bool)
    has_data[:h, :w] = vv != NODATA
    expected = sum(has_data[r : r + 64, c : c + 64].any() for r, c in tile_origins(grid))
    assert 0 < expected < grid.n_tiles
    assert model.calls == expected
    stats = out.attrs["inference"]
    assert stats["tiles_run"] == expected and stats["tiles_skipped"] == grid.n_tiles - expected


# ----------------------------------------------------------------------------------------
# Flip TTA
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stride", [2, 4])
def test_flip_offset_geometry(stride: int) -> None:
    width = 64
    cx = np.random.default_rng(0).uniform(0, width - 1, 1000)
    flipped = width - 1 - cx
    cell_f = np.floor(flipped / stride)
    dx_f = flipped / stride - cell_f
    j = width // stride - 1 - cell_f  # column after flipping the output map back
    decoded = (j + flip_offset_x(torch.from_numpy(dx_f), stride).numpy()) * stride
    np.testing.assert_allclose(decoded, cx, atol=1e-9)
    same_cell = j == np.floor(cx / stride)
    dx = cx / stride - np.floor(cx / stride)
    assert (same_cell == (dx <= 1 - 1 / stride + 1e-12)).all()


def test_flip_equivariant_model_same_with_and_without_tta(tmp_path: Path) -> None:
    x = torch.rand(2, 2, 64, 96)
    x[:, 1] = x[:, 1] * 0.4
    x[0, 1, 10, 21] = 0.99
    x[1, 1, 33, 50] = 0.95
    model = CentroidModel()
    plain = CircleNetEnsemble([model], flip_tta=False)(x)
    tta = CircleNetEnsemble([model], flip_tta=True)(x)
    winner = CircleNetEnsemble([model], flip_tta=True, flip_offset_correction=False)(x)
    for a, b in zip(plain, tta, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(plain[:4], winner[:4], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert (winner[4][:, 0] - plain[4][:, 0]).abs().max() > 0.2

    vv = background(128, 192)
    plant(vv, [40, 61], [100, 101], [5.0, 7.0])  # even and odd column
    scene = write_sar(tmp_path, vv)
    cfg = config(tile_size=128, step=96)
    out_plain = predict_scene(CircleNetEnsemble([model], flip_tta=False), scene, cfg)
    out_tta = predict_scene(CircleNetEnsemble([model], flip_tta=True), scene, cfg)
    out_winner = predict_scene(
        CircleNetEnsemble([model], flip_tta=True, flip_offset_correction=False), scene, cfg
    )
    pd.testing.assert_frame_equal(out_plain, out_tta, check_exact=False, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out_tta.sort_values("y").x, [100, 101], atol=1e-4)
    # Uncorrected flipped offsets bias every x by half a pixel.
    np.testing.assert_allclose(out_winner.sort_values("y").x, [100.5, 100.5], atol=1e-4)
    np.testing.assert_allclose(out_winner.sort_values("y").y, [40, 61], atol=1e-4)


def test_subpixel_object_recovered_with_flip_correction(tmp_path: Path) -> None:
    cy, cx = 60.3, 101.7
    rows, cols = np.indices((128, 128))
    blob = np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * 1.2**2))
    vv = np.float32(BACKGROUND_DB) + np.float32(35.0) * blob.astype(np.float32)
    scene = write_sar(tmp_path, vv)
    cfg = config(tile_size=128, step=128)
    model = CentroidModel()
    fixed = predict_scene(CircleNetEnsemble([model], flip_tta=True), scene, cfg)
    winner = predict_scene(
        CircleNetEnsemble([model], flip_tta=True, flip_offset_correction=False), scene, cfg
    )
    assert len(fixed) == len(winner) == 1
    assert abs(fixed.x[0] - cx) < 0.5 and abs(fixed.y[0] - cy) < 0.5
    assert abs(fixed.x[0] - cx) < abs(winner.x[0] - cx)
    # A single mirrored pass, flipped back and corrected, decodes to the same centre.
    x = torch.from_numpy((1 / (1 + np.exp(-0.18 * (vv + 20))))[None, None].repeat(2, 1))
    x = x.float()
    direct = model(x)
    mirrored = [t.flip(-1) for t in model(x.flip(-1))]
    dx_corrected = flip_offset_x(mirrored[4][:, :1], 2)
    peak = torch.argmax(direct[0][0, 0]).item()
    r, c = divmod(peak, 64)
    assert torch.argmax(mirrored[0][0, 0]).item() == peak
    assert dx_corrected[0, 0, r, c].item() == pytest.approx(direct[4][0, 0, r, c].item(), abs=1e-5)


# ----------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[CircleNetEnsemble, Path]:
    from xview3_pipeline.core.models import build_model

    torch.manual_seed(0)
    ens = CircleNetEnsemble([CentroidModel(), build_model("cpu_small")], flip_tta=True).eval()
    path = export_ensemble(ens, (1, 2, 64, 64), tmp_path_factory.mktemp("exp") / "ens.pt2")
    return ens, path


def test_export_round_trip_identical(exported: tuple[CircleNetEnsemble, Path]) -> None:
    ens, path = exported
    loaded = load_exported(path)
    assert loaded.xview3_meta["input_shape"] == [2, 64, 64]
    assert loaded.xview3_meta["flip_tta"] is True
    x = torch.rand(3, 2, 64, 64)  # another batch size than the example
    with torch.no_grad():
        expected = ens(x)
        got = loaded(x)
    assert len(got) == 5
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    # The graph has no pinned dtypes: it runs under autocast (bf16 on CPU stands in for
    # the fp16 CUDA path).
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = loaded(x)
    torch.testing.assert_close(low[0].float(), expected[0], atol=0.02, rtol=0)


def test_exported_model_runs_scene(
    tmp_path: Path, exported: tuple[CircleNetEnsemble, Path]
) -> None:
    ens, path = exported
    vv = background(100, 121)
    plant(vv, [20, 70, 99], [30, 90, 120], [4.0, 9.0, 12.0])
    scene = write_sar(tmp_path, vv)
    cfg = config()  # channels_last inputs into the exported graph
    loaded = load_exported(path)
    a = predict_scene(loaded, scene, cfg)
    b = predict_scene(ens, scene, cfg)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="tile_size"):
        predict_scene(loaded, scene, cfg.replace(tile_size=128, step=96))


def test_load_refuses_pickled_entries(
    tmp_path: Path, exported: tuple[CircleNetEnsemble, Path]
) -> None:
    _, path = exported
    bad = tmp_path / "bad.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("_weights_config.json"):
                cfg = json.loads(data)
                first = next(iter(cfg["config"]))
                cfg["config"][first]["use_pickle"] = True
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    with pytest.raises(ValueError, match="unpickle"):
        load_exported(bad)


# ----------------------------------------------------------------------------------------
# Table columns
# ----------------------------------------------------------------------------------------
def test_latlon_and_shore_distance(tmp_path: Path) -> None:
    h, w = 250, 380
    vv = background(h, w)
    plant(vv, [247, 60], [377, 101], [5.0, 8.0])
    scene = write_sar(tmp_path, vv)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=False)
    contours = np.array(
        [np.array([[247.0, 377.0], [247.0, 378.0]]), np.array([[0.0, 0.0]])], dtype=object
    )
    shore_file = tmp_path / "s1_shoreline.npy"
    np.save(shore_file, contours, allow_pickle=True)
    with_shore = dataclasses.replace(scene, shoreline_path=shore_file)
    out = predict_scene(ens, with_shore, config()).sort_values("detect_scene_row")
    # lat/lon of the pixel centre through the transform and the CRS
    t = scene.transform
    xs = t.c + t.a * (out.detect_scene_column + 0.5)
    ys = t.f + t.e * (out.detect_scene_row + 0.5)
    lon, lat = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True).transform(xs, ys)
    np.testing.assert_allclose(out.detect_lat, lat, atol=1e-9)
    np.testing.assert_allclose(out.detect_lon, lon, atol=1e-9)
    assert out.detect_lat.between(44, 46).all() and out.detect_lon.between(2, 4).all()
    dist = out.distance_from_shore_km.to_numpy()
    assert dist[1] == pytest.approx(0.0, abs=1e-9)  # on a contour point
    assert dist[0] == pytest.approx(math.hypot(60, 101) * 10 / 1000)

    none = predict_scene(ens, scene, config())
    assert none.distance_from_shore_km.isna().all()

    # owiMask fallback: 500 m cells (50 px), land (1 or 5) in the last column of cells
    mask = np.zeros((5, 8), np.float32)
    mask[:, 7] = 1.0
    mask[0, 7] = 5.0
    mask[4, 0] = NODATA
    t500 = t @ Affine.scale(50)
    owi = tmp_path / "s1" / ANCILLARY_FILES["owi_mask"]
    write_raster(owi, mask, transform=t500)
    via_owi = predict_scene(ens, scene, config()).sort_values("detect_scene_row")
    np.testing.assert_allclose(via_owi.distance_from_shore_km, [2.5, 0.0])  # cells (1,2) and (4,7)


def test_predict_scene_on_synthetic_scene(tmp_path: Path) -> None:
    from xview3_pipeline.core.io.ancillary import find_shoreline_file
    from xview3_pipeline.core.io.scenes import discover_scenes
    from xview3_pipeline.core.models import build_model
    from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset

    root = tmp_path / "raw"
    generate_dataset(
        SyntheticConfig(n_locations=1, revisit_splits=("validation",), height=256, width=320), root
    )
    (ref,) = discover_scenes(root)
    torch.manual_seed(0)
    cfg = config(tile_size=128, step=96, min_objectness=0.3)
    ens = build_ensemble([build_model("cpu_small")], cfg)
    shore = find_shoreline_file(root / "shoreline", ref.scene_id)
    assert shore is not None
    scene = Scene.from_folder(ref.scene_dir, shoreline_path=shore, split=ref.split)
    out = predict_scene(ens, scene, cfg)
    assert list(out.columns) == list(CANDIDATE_COLUMNS)
    assert out.detect_scene_row.dtype == np.int64 and out.detect_scene_column.dtype == np.int64
    assert (out.scene_id == ref.scene_id).all()
    assert out.attrs["inference"]["tiles"] == 9


def test_inference_config() -> None:
    cfg = InferenceConfig.from_dict({"tile_size": 256, "step": 192})
    assert cfg.coverage == "full" and cfg.min_objectness == 0.1 and cfg.max_objects == 2048
    winner = InferenceConfig.winner()
    assert (winner.tile_size, winner.step, winner.coverage, winner.flip_offset_correction) == (
        2048,
        1536,
        "winner",
        False,
    )
    assert winner.min_objectness == 0.3
    with pytest.warns(RenamedOptionWarning, match="winner"):
        assert InferenceConfig.seed() == winner
    with pytest.warns(RenamedOptionWarning, match=r"inference\.coverage"):
        assert InferenceConfig.from_dict({"coverage": "seed"}).coverage == "winner"
    assert config().resolve_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="Unknown"):
        InferenceConfig.from_dict({"tile": 3})
    for bad in (
        {"step": 600},
        {"step": 33},
        {"step": 0},
        {"step": -2},
        {"tile_size": 48, "step": 48},
        {"coverage": "x"},
        {"min_objectness": 0.0},
        {"amp_dtype": "int8"},
    ):
        with pytest.raises(ValueError):
            InferenceConfig.from_dict(bad)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"tile_size": 500, "step": 250},
            r"inference\.tile_size=500: expected a positive multiple of 32 .*e\.g\. 480 or 512",
        ),
        ({"step": 0}, r"inference\.step=0 must be .* in \(0, tile_size\] \(tile_size=512\)"),
        ({"step": 640}, r"inference\.step=640 must be .* in \(0, tile_size\]"),
    ],
)
def test_inference_config_messages_name_the_parameter(params: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InferenceConfig.from_dict(params)


class NanModel(ConstantModel):
    """Constant maps with NaN objectness in the tiles that start at column 0."""

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        out = super().forward(x)
        objectness = out.objectness.clone()
        objectness[0, 0, 3, 4] = float("nan")
        return out._replace(objectness=objectness)


def test_non_finite_model_output_is_an_error_naming_scene_and_tile(tmp_path: Path) -> None:
    scene = write_sar(tmp_path, background(100, 121), name="nan_scene")
    with pytest.raises(
        NonFiniteOutputError, match=r"Scene nan_scene: .*rows 0-64, columns 0-64.*objectness"
    ):
        predict_scene(NanModel(), scene, config())


def test_measured_lengths_replace_the_networks(tmp_path: Path) -> None:
    """``length.source: measured`` gives the extent of the blob, ``cnn`` the regression."""
    rng = np.random.default_rng(0)
    vv = background(192, 192)
    vh = (-30.0 + 10 * np.log10(rng.gamma(4.4, 1 / 4.4, (192, 192)))).astype(np.float32)
    vv[96, 90:102] = -5.0  # a 12-pixel (120 m) target along the columns
    vh[96, 90:102] = -10.0
    scene = write_sar(tmp_path, vv, vh)
    ens = build_ensemble([CentroidModel()], config())
    learned = predict_scene(ens, scene, config(min_objectness=0.5))
    measured = predict_scene(
        ens, scene, config(min_objectness=0.5, length={"source": "measured", "search_px": 6})
    )
    assert len(learned) == len(measured) > 0
    pd.testing.assert_frame_equal(
        learned.drop(columns="vessel_length_m"), measured.drop(columns="vessel_length_m")
    )
    near = (measured.detect_scene_row - 96).abs() <= 2
    assert near.any()
    np.testing.assert_allclose(measured.loc[near, "vessel_length_m"], 120.0, rtol=0.1)
    assert not np.allclose(learned.loc[near, "vessel_length_m"], 120.0, rtol=0.1)
    assert "length_s" in measured.attrs["inference"]


def test_length_settings_enter_the_fingerprint_only_when_used() -> None:
    from xview3_pipeline.core.detection.cnn import CnnDetector

    ens = build_ensemble([ConstantModel()], config())

    def fingerprint(**length: object) -> str:
        return CnnDetector(ens, config(length=length)).fingerprint()

    assert fingerprint() == fingerprint(pfa=1e-5)  # source cnn: not used
    assert fingerprint(source="measured") != fingerprint()
    assert fingerprint(source="measured") != fingerprint(source="measured", pfa=1e-5)
    with pytest.raises(ValueError, match=r"inference\.length\.source"):
        config(length={"source": "cfar"})
    with pytest.raises(ValueError, match=r"Unknown inference\.length key"):
        config(length={"sources": "cnn"})


def test_land_filter_leaves_out_candidates_on_land(tmp_path: Path) -> None:
    vv = background(192, 192)
    vv[40, 40] = vv[150, 150] = 0.0  # one target on land (left), one at sea
    scene = write_sar(tmp_path, vv)
    owi = np.zeros((4, 4), np.float32)
    owi[:, 0] = 1.0  # land: columns 0-49
    write_raster(
        scene.vv_path.parent / "owiMask.tif",
        owi,
        transform=Affine(500.0, 0.0, 500_000.0, 0.0, -500.0, 5_000_000.0),
    )
    scene = Scene.from_folder(scene.vv_path.parent)
    ens = build_ensemble([CentroidModel()], config())
    kept = predict_scene(ens, scene, config(min_objectness=0.5))
    filtered = predict_scene(ens, scene, config(min_objectness=0.5, land_filter=True))
    assert {(40, 40), (150, 150)} <= set(
        zip(kept.detect_scene_row, kept.detect_scene_column, strict=True)
    )
    assert (filtered.detect_scene_column >= 50).all()
    assert (150, 150) in set(
        zip(filtered.detect_scene_row, filtered.detect_scene_column, strict=True)
    )
    assert filtered.attrs["inference"]["on_land"] == len(kept) - len(filtered) > 0
