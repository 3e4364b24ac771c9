"""Whole-scene references of tiled CNN inference (memory ``O(H · W)``; tests only).

Same tiles, blending and decoding as :func:`~xview3_pipeline.core.detection.cnn.run.
predict_scene`, but the maps of the whole scene are accumulated first and decoded in one
piece, as the winner did: the streaming decoder must agree with them exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.detection.bands import BandSource
from xview3_pipeline.core.detection.cnn.blending import N_MAPS, BandAccumulator
from xview3_pipeline.core.detection.cnn.config import InferenceConfig
from xview3_pipeline.core.detection.cnn.decode import TopK, Validity, decode_rows
from xview3_pipeline.core.detection.cnn.run import ModelFn, run_scene
from xview3_pipeline.core.detection.cnn.tiling import TileGrid
from xview3_pipeline.core.detection.georef import add_scene_columns, scene_shoreline
from xview3_pipeline.core.detection.scene import Scene


def coverage_count(grid: TileGrid) -> np.ndarray:
    """``(H, W)`` int32 number of tiles covering each pixel (from the separable 1-D counts)."""

    def counts(length: int, starts: tuple[int, ...]) -> np.ndarray:
        diff = np.zeros(length + 1, dtype=np.int32)
        for s in starts:
            diff[min(s, length)] += 1
            diff[min(s + grid.tile, length)] -= 1
        return np.cumsum(diff)[:length]

    return np.outer(counts(grid.height, grid.row_starts), counts(grid.width, grid.col_starts))


def tile_origins(grid: TileGrid) -> list[tuple[int, int]]:
    """``(row0, col0)`` of every tile, band by band."""
    return [(r, c) for r in grid.row_starts for c in grid.col_starts]


class WholeSceneSink:
    """Accumulates the whole scene's maps, decodes them in one piece."""

    def __init__(
        self, grid: TileGrid, config: InferenceConfig, bands: BandSource, device: torch.device
    ) -> None:
        self.grid, self.config, self.bands = grid, config, bands
        self.out_h, out_w = grid.output_shape
        self.acc = BandAccumulator(self.out_h, self.out_h, out_w, grid.tile // grid.stride)

    def begin_band(self, row0: int) -> None:
        """Nothing to finalise before the end."""

    def end_band(self, row0: int, valid: np.ndarray, width: int) -> None:
        """The whole scene's validity is read at the end."""

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """Blend tile maps into the whole-scene accumulator."""
        self.acc.add(maps.cpu(), out_row, out_cols)

    def maps(self) -> tuple[np.ndarray, np.ndarray]:
        """``(6, h, w)`` blended maps and ``(h, w)`` summed weights."""
        return self.acc.finalised(0, self.out_h).numpy(), self.acc.acc[N_MAPS].numpy().copy()

    def finish(self, scene_id: str) -> pd.DataFrame:
        """Decode the whole map at once."""
        whole = self.bands.read(0, 0, self.grid.height, self.grid.width)
        validity = Validity(lambda r, c: False, self.grid.height, self.grid.width, keep=1)
        validity.add_mask(0, np.isfinite(whole).all(0))
        block = self.acc.finalised(0, self.out_h)
        top = TopK(self.config.max_objects)
        top.add(decode_rows(block, 0, self.out_h, 0, config=self.config, validity=validity))
        return top.frame(scene_id)


class _MapsSink(WholeSceneSink):
    def finish(self, scene_id: str) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        return self.maps()


def accumulate_scene_maps(
    model_fn: ModelFn, scene: Scene, config: InferenceConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Blend the tile outputs of a whole scene into full maps.

    Returns:
        ``(maps, weights)``: ``(6, ceil(H/s), ceil(W/s))`` float32 blended maps (0 where
        no tile contributed) and the summed weights.
    """
    return run_scene(model_fn, scene, config, _MapsSink)[1]


def predict_scene_reference(
    model_fn: ModelFn, scene: Scene, config: InferenceConfig
) -> pd.DataFrame:
    """:func:`~xview3_pipeline.core.detection.cnn.run.predict_scene` on whole-scene maps."""
    stats, frame = run_scene(model_fn, scene, config, WholeSceneSink)
    out = add_scene_columns(frame, scene, scene_shoreline(scene))
    out.attrs["inference"] = stats
    return out
