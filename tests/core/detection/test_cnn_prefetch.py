"""Tile batches read ahead in a thread, packed validity and in-place band finalisation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.core.detection.test_cnn import (
    CentroidModel,
    _many_peaks_scene,
    background,
    config,
    write_sar,
)
from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.data.normalization import build_normalization
from xview3_pipeline.core.data.scene_reader import SceneReader
from xview3_pipeline.core.detection.bands import ArrayBands
from xview3_pipeline.core.detection.cnn import CircleNetEnsemble, TileGrid, predict_scene
from xview3_pipeline.core.detection.cnn.blending import BandAccumulator
from xview3_pipeline.core.detection.cnn.decode import Validity
from xview3_pipeline.core.detection.cnn.prefetch import (
    BandEnd,
    Prefetcher,
    PrefetchError,
    TileBatch,
    tile_batches,
)
from xview3_pipeline.core.types import CircleNetOutputs


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("prefetch-")]


def _whole_band_batches(array: np.ndarray, grid: TileGrid, batch: int) -> list[tuple]:
    """The batches and validity of whole-width bands (how the bands were read before)."""
    normalize = build_normalization("sigmoid")
    source, out = ArrayBands(array), []
    for row0 in grid.row_starts:
        raw = source.read(row0, 0, grid.tile, grid.read_width)
        finite = np.isfinite(raw)
        any_valid = finite.any(axis=(0, 1))
        run = [c for c in grid.col_starts if any_valid[c : c + grid.tile].any()]
        for i in range(0, len(run), batch):
            cols = run[i : i + batch]
            tiles = normalize(np.stack([raw[:, :, c : c + grid.tile] for c in cols]))
            out.append(("batch", row0, tuple(cols), np.nan_to_num(tiles, nan=0.0)))
        out.append(("end", row0, np.packbits(finite.all(0), axis=1), len(run)))
    return out


@pytest.mark.parametrize("chunk_cols", [1, 256, 4096])
def test_column_chunks_give_the_whole_band_batches(chunk_cols: int) -> None:
    rng = np.random.default_rng(3)
    array = rng.normal(-20, 3, (2, 230, 1100)).astype(np.float32)
    array[:, :, 300:520] = np.nan  # whole tiles without a valid pixel are skipped
    array[0, 100:140, 700:900] = np.nan  # valid in VV only: not a detection pixel
    grid = TileGrid.build(230, 1100, 64, 48)
    expected = _whole_band_batches(array, grid, 3)
    got = list(
        tile_batches(
            ArrayBands(array), grid, 3, build_normalization("sigmoid"), chunk_cols=chunk_cols
        )
    )
    assert len(got) == len(expected)
    for item, ref in zip(got, expected, strict=True):
        if ref[0] == "batch":
            assert isinstance(item, TileBatch)
            assert (item.row0, item.cols) == ref[1:3]
            np.testing.assert_array_equal(item.tiles.numpy(), ref[3])
        else:
            assert isinstance(item, BandEnd)
            assert (item.row0, item.n_run, item.n_tiles) == (ref[1], ref[3], len(grid.col_starts))
            np.testing.assert_array_equal(item.valid, ref[2])
    assert sum(isinstance(i, BandEnd) and i.n_run < i.n_tiles for i in got) == grid.n_bands


def test_packed_validity_lookup() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((50, 83)) < 0.5
    validity = Validity(lambda r, c: True, 120, 83, keep=2)
    validity.add_mask(10, mask)
    rows = rng.integers(-5, 125, 2000)
    cols = rng.integers(-5, 90, 2000)
    inside = (rows >= 10) & (rows < 60) & (cols >= 0) & (cols < 83)
    expected = np.zeros(len(rows), dtype=bool)
    expected[inside] = mask[rows[inside] - 10, cols[inside]]
    scene = (rows >= 0) & (rows < 120) & (cols >= 0) & (cols < 83)
    expected[scene & ~inside] = True  # the fallback pixel read
    np.testing.assert_array_equal(validity(rows, cols), expected)


def test_in_place_pop_is_bit_identical_to_finalised() -> None:
    rng = np.random.default_rng(1)
    acc = BandAccumulator(32, 100, 70, 32)
    for col in (0, 20, 38):
        maps = torch.from_numpy(rng.normal(0, 1, (1, 6, 32, 32)).astype(np.float32))
        acc.add(maps, 0, [col])
    reference = acc.finalised(0, 32).clone()
    rest = acc.acc[:, 24:].clone()
    block = acc.pop(24)
    assert torch.equal(block, reference[:, :24])
    assert torch.equal(acc.acc[:, :8], rest) and not acc.acc[:, 8:].any()
    assert acc.base == 24


def test_prefetch_gives_the_synchronous_candidates(tmp_path: Path) -> None:
    scene, _ = _many_peaks_scene(tmp_path)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=True)
    before = len(_prefetch_threads())
    sync = predict_scene(ens, scene, config(prefetch=0))
    for depth in (1, 3):
        threaded = predict_scene(ens, scene, config(prefetch=depth))
        assert threaded.equals(sync)
    assert len(sync) > 200
    assert len(_prefetch_threads()) == before
    stats = sync.attrs["inference"]
    assert {"read_s", "normalise_s", "forward_s", "blend_s", "decode_s", "wait_s"} <= set(stats)


@pytest.mark.parametrize("depth", [0, 2])
def test_read_error_names_the_scene_and_stops_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    scene = write_sar(tmp_path, background(300, 200), name="broken_scene")
    original = SceneReader.read

    def failing_read(self: SceneReader, row0: int, col0: int, h: int, w: int) -> np.ndarray:
        if row0 >= 96:
            raise OSError("TIFFReadEncodedTile() failed")
        return original(self, row0, col0, h, w)

    monkeypatch.setattr(SceneReader, "read", failing_read)
    with pytest.raises(PrefetchError, match=r"Scene broken_scene: .*OSError: TIFFReadEncoded"):
        predict_scene(CircleNetEnsemble([CentroidModel()]), scene, config(prefetch=depth))
    assert not _prefetch_threads()


class _Interrupting(CentroidModel):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        if self.calls == 2:
            raise self.exc
        return super().forward(x)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), ValueError("model failed")])
def test_interrupt_or_model_error_stops_the_thread(tmp_path: Path, exc: BaseException) -> None:
    scene = write_sar(tmp_path, background(400, 400))
    model = _Interrupting(exc)
    with pytest.raises(type(exc)):
        predict_scene(model, scene, config(prefetch=2, batch_size=1))
    assert model.calls == 2
    assert not _prefetch_threads()


def test_prefetcher_holds_at_most_depth_items() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    with Prefetcher(items, 3, "s") as prefetched:
        it = iter(prefetched)
        assert next(it) == 0
        time.sleep(0.3)  # give the thread time to run ahead
        # One taken, three queued, one blocked in put.
        assert len(produced) <= 5
    assert not _prefetch_threads()


def test_nodata_scene_prefetched(tmp_path: Path) -> None:
    vv = background(200, 300)
    vv[:, 150:] = NODATA
    scene = write_sar(tmp_path, vv)
    ens = CircleNetEnsemble([CentroidModel()])
    out = {d: predict_scene(ens, scene, config(prefetch=d)) for d in (0, 2)}
    pd.testing.assert_frame_equal(out[0], out[2])
    assert out[2].attrs["inference"]["tiles_skipped"] > 0


def test_prefetch_parameter_checked() -> None:
    with pytest.raises(ValueError, match=r"inference\.prefetch=-1 must be >= 0"):
        config(prefetch=-1)
