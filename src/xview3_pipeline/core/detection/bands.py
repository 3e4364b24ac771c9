"""The one band iterator over a scene: windowed reads of whole-width row bands.

CNN tiling (a band per row of tiles, ``T`` rows) and CFAR (``band_rows`` rows plus a halo
of the background radius) both walk a scene top to bottom in bands of rows, each read once
through rasterio windows (:class:`~xview3_pipeline.core.data.scene_reader.SceneReader`:
``[VH, VV]`` float32 dB, NaN for nodata and outside the scene) under a bounded GDAL block
cache. :class:`ArrayBands` serves the same bands from an in-memory array (tests, small
scenes, notebooks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from typing import Protocol

import numpy as np
import rasterio

from xview3_pipeline.core.data.scene_reader import SceneReader
from xview3_pipeline.core.detection.scene import Scene

__all__ = ["ArrayBands", "BandSource", "SceneBands"]

logger = logging.getLogger(__name__)

#: A band to read: ``(first row, rows)``; rows outside the scene are NaN.
Window = tuple[int, int]


class BandSource(Protocol):
    """Bands of ``(C, rows, width)`` float32 dB with NaN for nodata and outside the scene."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the scene, pixels."""
        ...

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """``(C, height, width)`` window (any position)."""
        ...

    def bands(self, windows: Iterable[Window], width: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(row0, (C, rows, width) band)`` of each window, in order."""
        ...


class SceneBands:
    """Bands of a scene's rasters, read through windows under a bounded GDAL cache.

    Use as a context manager: the rasters are open (and ``GDAL_CACHEMAX`` is
    ``gdal_cache_mb``) inside the ``with`` block. Reads are serialised by a lock, so a
    background thread may read ahead while the caller reads a pixel now and then (GDAL
    handles are not safe for concurrent use).

    Args:
        scene: The scene.
        gdal_cache_mb: GDAL block cache, MiB. Each band is read once, so caching buys
            little, and GDAL's default (5 % of RAM) would keep decoded blocks of the whole
            scene.
    """

    def __init__(self, scene: Scene, *, gdal_cache_mb: int = 64) -> None:
        self.scene = scene
        self.gdal_cache_mb = int(gdal_cache_mb)
        self._stack: ExitStack | None = None
        self._reader: SceneReader | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> SceneBands:
        stack = ExitStack()
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=self.gdal_cache_mb))
        self._reader = stack.enter_context(SceneReader(self.scene.vh_path, self.scene.vv_path))
        self._stack = stack
        shape = self._reader.shape
        if shape != (self.scene.height, self.scene.width):
            logger.warning(
                "Scene %s: rasters are %d x %d, not the %d x %d of its handle; using the rasters.",
                self.scene.scene_id, *shape, self.scene.height, self.scene.width,
            )  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        stack, self._stack, self._reader = self._stack, None, None
        if stack is not None:
            stack.close()

    @property
    def reader(self) -> SceneReader:
        """The open reader (inside the ``with`` block only)."""
        if self._reader is None:
            raise RuntimeError(f"SceneBands of {self.scene.scene_id} used outside its 'with'.")
        return self._reader

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the rasters, pixels."""
        return self.reader.shape

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """``(2, height, width)`` ``[VH, VV]`` window (see :meth:`SceneReader.read`)."""
        with self._lock:
            return self.reader.read(row0, col0, height, width)

    def bands(self, windows: Iterable[Window], width: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(row0, (2, rows, width) band)`` of each window, columns ``[0, width)``."""
        for row0, n_rows in windows:
            yield row0, self.read(row0, 0, n_rows, width)


class ArrayBands:
    """The bands of an in-memory ``(C, H, W)`` dB array (NaN for nodata), NaN outside it."""

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim != 3:
            raise ValueError(f"ArrayBands needs a (C, H, W) array, got shape {array.shape}.")
        self.array = array

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the array."""
        return int(self.array.shape[1]), int(self.array.shape[2])

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """``(C, height, width)`` window, NaN outside the array."""
        channels, full_h, full_w = self.array.shape
        out = np.full((channels, height, width), np.nan, dtype=np.float32)
        r0, r1 = max(row0, 0), min(row0 + height, full_h)
        c0, c1 = max(col0, 0), min(col0 + width, full_w)
        if r0 < r1 and c0 < c1:
            out[:, r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = self.array[:, r0:r1, c0:c1]
        return out

    def bands(self, windows: Iterable[Window], width: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(row0, (C, rows, width) band)`` of each window."""
        for row0, n_rows in windows:
            yield row0, self.read(row0, 0, n_rows, width)
