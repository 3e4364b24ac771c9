"""Tile batches of a scene, read and normalised ahead of the model in a background thread.

:func:`tile_batches` walks a :class:`~xview3_pipeline.core.detection.cnn.tiling.TileGrid`
band by band and yields, in order, each batch of ``batch_size`` tiles that hold at least
one valid pixel (:class:`TileBatch`, normalised, NaN → 0) and, after the last batch of a
band, its pixel validity (:class:`BandEnd`). A band is read in column chunks of
``chunk_cols`` (a multiple of 256, GDAL's block width in the synthetic scenes) through a
sliding buffer of at most ``T + chunk_cols`` columns, so nothing here grows with the scene
width except the band's validity, kept packed (1 bit per pixel). Batches are formed
exactly as from a whole-width band (consecutive valid tiles, left to right), so the model
sees the same batches.

:class:`Prefetcher` runs that iterator in a daemon thread (rasterio and numpy release the
GIL) and hands its items over through a bounded queue of ``depth`` items: the next
batches are read while the model runs. An exception in the thread is raised in the caller
with the scene named; leaving the ``with`` block (normally, on an exception or on
``KeyboardInterrupt``) stops the thread and joins it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

import numpy as np
import torch

from xview3_pipeline.core.detection.bands import BandSource
from xview3_pipeline.core.detection.cnn.tiling import TileGrid

__all__ = ["BandEnd", "PrefetchError", "Prefetcher", "TileBatch", "tile_batches"]

logger = logging.getLogger(__name__)

#: Default columns read per window of a band.
CHUNK_COLS = 2048
#: ``(B, 2, T, T)`` dB tiles → normalised tiles (same shape, NaN allowed).
Normalizer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TileBatch:
    """A batch of normalised tiles of one band.

    Attributes:
        row0: First input row of the band.
        cols: First input column of each tile.
        tiles: ``(B, 2, T, T)`` float32 normalised tiles, NaN set to 0 (a pinned CPU
            tensor when prepared for CUDA).
    """

    row0: int
    cols: tuple[int, ...]
    tiles: torch.Tensor


@dataclass(frozen=True)
class BandEnd:
    """The end of a band: its pixel validity and tile counts.

    Attributes:
        row0: First input row of the band.
        valid: ``(T, ceil(width / 8))`` uint8, :func:`numpy.packbits` (big bit order)
            along columns of "finite in VH and VV".
        width: Columns of the band (the grid's read width).
        n_tiles: Tiles of the band.
        n_run: Tiles with at least one valid pixel (the others are skipped).
    """

    row0: int
    valid: np.ndarray
    width: int
    n_tiles: int
    n_run: int


class PrefetchError(RuntimeError):
    """Reading or normalising tiles failed (the scene named; the cause chained)."""


def _chunk_cols(tile: int, chunk_cols: int) -> int:
    return -(-max(int(chunk_cols), tile) // 256) * 256


class _BandReader:
    """Sliding column buffer over one band: tiles ``[c, c + T)`` for increasing ``c``."""

    def __init__(self, source: BandSource, row0: int, rows: int, width: int, chunk: int):
        self.source, self.row0, self.rows, self.width, self.chunk = (
            source, row0, rows, width, chunk,
        )  # fmt: skip
        self.valid = np.zeros((rows, -(-width // 8)), dtype=np.uint8)
        self.buf = np.zeros((0, rows, 0), dtype=np.float32)
        self.any_valid = np.zeros(0, dtype=bool)
        self.buf0 = 0  # first column held
        self.read_to = 0  # end of the columns read
        self.read_s = 0.0

    def _read_next(self) -> None:
        t0 = time.perf_counter()
        col0, n = self.read_to, min(self.chunk, self.width - self.read_to)
        block = self.source.read(self.row0, col0, self.rows, n)
        finite = np.isfinite(block)
        # col0 is a multiple of 8 (chunks are multiples of 256): whole bytes.
        packed = np.packbits(finite.all(axis=0), axis=1)
        self.valid[:, col0 // 8 : col0 // 8 + packed.shape[1]] = packed
        self.buf = block if self.buf.shape[2] == 0 else np.concatenate([self.buf, block], 2)
        self.any_valid = np.concatenate([self.any_valid, finite.any(axis=(0, 1))])
        self.read_to += n
        self.read_s += time.perf_counter() - t0

    def tile(self, col: int, size: int) -> np.ndarray | None:
        """``(2, T, T)`` view of the tile at ``col``, ``None`` if it has no valid pixel."""
        if col > self.buf0:  # columns left of col are never needed again
            drop = min(col, self.read_to) - self.buf0
            self.buf, self.any_valid = self.buf[:, :, drop:], self.any_valid[drop:]
            self.buf0 += drop
        while self.read_to < col + size:
            self._read_next()
        i = col - self.buf0
        if not self.any_valid[i : i + size].any():
            return None
        return self.buf[:, :, i : i + size]


def _prepare(tiles: list[np.ndarray], normalize: Normalizer, pin: bool) -> torch.Tensor:
    """Normalise a stack of tiles, NaN → 0 (the winner), as a (pinned) float32 tensor."""
    out = normalize(np.stack(tiles))
    out = np.where(np.isfinite(out), out, np.float32(0.0)).astype(np.float32)
    tensor = torch.from_numpy(out)
    return tensor.pin_memory() if pin else tensor


def tile_batches(
    source: BandSource,
    grid: TileGrid,
    batch_size: int,
    normalize: Normalizer,
    *,
    pin_memory: bool = False,
    chunk_cols: int = CHUNK_COLS,
    timings: dict[str, float] | None = None,
) -> Iterator[TileBatch | BandEnd]:
    """Batches of valid tiles and band ends of a scene, top to bottom (see the module doc).

    Args:
        source: The scene's bands (read through ``read`` windows).
        grid: The tile grid.
        batch_size: Tiles per batch.
        normalize: dB → model input, on ``(B, 2, T, T)`` arrays.
        pin_memory: Put the batches in pinned memory (for CUDA).
        chunk_cols: Columns per read (rounded up to a multiple of 256 and to ``T``).
        timings: Adds ``read_s`` and ``normalise_s`` (seconds) to it when given.

    Yields:
        :class:`TileBatch` and, after each band's last batch, its :class:`BandEnd`.
    """
    size, chunk = grid.tile, _chunk_cols(grid.tile, chunk_cols)
    for row0 in grid.row_starts:
        band = _BandReader(source, row0, size, grid.read_width, chunk)
        cols: list[int] = []
        tiles: list[np.ndarray] = []
        n_run = 0
        for col in grid.col_starts:
            tile = band.tile(col, size)
            if tile is None:
                continue
            cols.append(col)
            tiles.append(tile)
            n_run += 1
            if len(cols) == batch_size or col == grid.col_starts[-1]:
                t0 = time.perf_counter()
                batch = TileBatch(row0, tuple(cols), _prepare(tiles, normalize, pin_memory))
                if timings is not None:
                    timings["normalise_s"] = timings.get("normalise_s", 0.0) + (
                        time.perf_counter() - t0
                    )
                yield batch
                cols, tiles = [], []
        while band.read_to < grid.read_width:  # the validity of every column
            band._read_next()
        if timings is not None:
            timings["read_s"] = timings.get("read_s", 0.0) + band.read_s
        yield BandEnd(row0, band.valid, grid.read_width, len(grid.col_starts), n_run)


_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetcher:
    """Runs an iterator in a background thread, ``depth`` items ahead of the caller.

    Use as a context manager; iterate the object inside the ``with`` block. ``depth=0``
    iterates in the caller's thread (no thread at all).

    Args:
        make_items: Builds the iterator (called in the thread).
        depth: Items held ready (the queue bound); 0 for no thread.
        scene_id: Named in errors.
    """

    def __init__(
        self, make_items: Callable[[], Iterator[object]], depth: int, scene_id: str
    ) -> None:
        self.make_items, self.depth, self.scene_id = make_items, int(depth), scene_id
        self.wait_s = 0.0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, self.depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Prefetcher:
        if self.depth > 0:
            self._thread = threading.Thread(
                target=self._produce, name=f"prefetch-{self.scene_id}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread (it is waiting on the queue or finishing a read) and join it."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        while thread.is_alive():
            try:  # unblock a pending put
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self.make_items():
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller, which raises it
            self._put(_Failure(exc))
            return
        self._put(_DONE)

    def _error(self, exc: Exception) -> PrefetchError:
        where = "in the prefetch thread" if self.depth else "while reading"
        return PrefetchError(
            f"Scene {self.scene_id}: reading and normalising the next tiles failed {where}: "
            f"{type(exc).__name__}: {exc}"
        )

    def _inline(self) -> Iterator[object]:
        items = self.make_items()
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except Exception as exc:
                raise self._error(exc) from exc
            yield item

    def __iter__(self) -> Iterator[object]:
        if self.depth == 0:
            yield from self._inline()
            return
        if self._thread is None:
            raise RuntimeError("Prefetcher iterated outside its 'with' block.")
        while True:
            t0 = time.perf_counter()
            item = self._queue.get()
            self.wait_s += time.perf_counter() - t0
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                if not isinstance(item.exc, Exception):  # SystemExit and the like
                    raise item.exc
                raise self._error(item.exc) from item.exc
            yield item
