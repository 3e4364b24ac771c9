"""Windowed reads of the VH/VV rasters of xView3 scenes, safe for DataLoader workers.

Scenes are up to ~29k × 31k pixels, so nothing here ever reads a whole raster: every read
is ``DatasetReader.read(1, window=...)`` on the part of the requested window that overlaps
the scene; the rest of the window is NaN.

Worker safety: file handles are opened lazily, on first read *in the current process*.
A reader that crossed a ``fork`` (its recorded pid differs) drops the inherited handles
without closing them (they belong to the parent) and reopens its own; pickling (``spawn``
workers, ``pickle.dumps`` of a dataset) carries only the paths.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.io import DatasetReader
from rasterio.windows import Window

from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.io.ancillary import contour_points as contours_to_points
from xview3_pipeline.core.io.ancillary import load_shoreline_points

__all__ = [
    "CHANNELS",
    "MultiSceneReader",
    "SceneReader",
    "contours_to_points",
    "load_shoreline_points",
]

logger = logging.getLogger(__name__)

#: Channel order of every image read here, as in the seed (``channels: [vh, vv]``).
CHANNELS: tuple[str, str] = ("vh", "vv")


class SceneReader:
    """Windowed reader of one scene's ``[VH, VV]`` rasters (float32 dB, NaN for nodata).

    Args:
        vh_path: ``VH_dB.tif``.
        vv_path: ``VV_dB.tif``.
        nodata: Nodata value converted to NaN in addition to the file's own nodata
            (xView3: −32768).

    Example:
        >>> reader = SceneReader("scene/VH_dB.tif", "scene/VV_dB.tif")  # doctest: +SKIP
        >>> reader.read(-10, -10, 64, 64).shape  # doctest: +SKIP
        (2, 64, 64)
    """

    def __init__(self, vh_path: str | Path, vv_path: str | Path, nodata: float = NODATA) -> None:
        self.paths: tuple[Path, Path] = (Path(vh_path), Path(vv_path))
        self.nodata = float(nodata)
        self._handles: list[DatasetReader] | None = None
        self._pid: int | None = None

    def __repr__(self) -> str:
        return f"SceneReader(vh={self.paths[0]}, vv={self.paths[1]})"

    # -- pickling / lifetime -------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = None
        state["_pid"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __enter__(self) -> SceneReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finaliser
            self.close()

    def close(self) -> None:
        """Close the handles opened by this process (handles inherited by fork are left)."""
        handles, self._handles = self._handles, None
        if handles is not None and self._pid == os.getpid():
            for handle in handles:
                handle.close()
        self._pid = None

    @property
    def is_open(self) -> bool:
        """Whether this process holds open handles."""
        return self._handles is not None and self._pid == os.getpid()

    def _datasets(self) -> list[DatasetReader]:
        if self._handles is not None and self._pid != os.getpid():
            # Inherited through fork: the parent owns these; do not close them here.
            self._handles = None
        if self._handles is None:
            handles = [rasterio.open(path) for path in self.paths]
            shapes = {(h.height, h.width) for h in handles}
            if len(shapes) != 1:
                for handle in handles:
                    handle.close()
                raise ValueError(
                    f"VH and VV rasters differ in shape {sorted(shapes)}: {self.paths}."
                )
            self._handles = handles
            self._pid = os.getpid()
        return self._handles

    # -- reading -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the scene in pixels (opens the files if needed)."""
        handle = self._datasets()[0]
        return handle.height, handle.width

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Read a window of both channels.

        Only the overlap of the window with the scene is read (one windowed read per
        channel); pixels outside the scene, nodata (−32768 and the file's nodata) and
        non-finite values are NaN.

        Args:
            row0: First row of the window (may be negative or beyond the scene).
            col0: First column of the window (may be negative or beyond the scene).
            height: Window rows (> 0).
            width: Window columns (> 0).

        Returns:
            ``(2, height, width)`` float32 backscatter in dB, channels ``[VH, VV]``.

        Raises:
            ValueError: If ``height`` or ``width`` is not positive.
        """
        if height <= 0 or width <= 0:
            raise ValueError(f"Window size must be positive, got {height} x {width}.")
        row0, col0 = int(row0), int(col0)
        out = np.full((len(CHANNELS), height, width), np.nan, dtype=np.float32)
        datasets = self._datasets()
        scene_h, scene_w = datasets[0].height, datasets[0].width
        r0, r1 = max(row0, 0), min(row0 + height, scene_h)
        c0, c1 = max(col0, 0), min(col0 + width, scene_w)
        if r0 >= r1 or c0 >= c1:
            return out
        window = Window(col_off=c0, row_off=r0, width=c1 - c0, height=r1 - r0)
        for channel, dataset in enumerate(datasets):
            data = dataset.read(1, window=window, out_dtype=np.float32)
            invalid = ~np.isfinite(data) | (data == np.float32(self.nodata))
            file_nodata = dataset.nodata
            if file_nodata is not None and math.isfinite(file_nodata):
                invalid |= data == np.float32(file_nodata)
            data[invalid] = np.nan
            out[channel, r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = data
        return out


class MultiSceneReader:
    """Windowed reads from many scenes, keeping at most ``max_open`` scenes open.

    Scenes are opened lazily in each process and closed least-recently-used first, so a
    DataLoader worker never holds more than ``2 · max_open`` file handles.

    Args:
        paths: ``scene_id`` → ``(vh_path, vv_path)``.
        max_open: Scenes kept open at once per process.
        nodata: See :class:`SceneReader`.
    """

    def __init__(
        self,
        paths: Mapping[str, tuple[str | Path, str | Path]],
        max_open: int = 32,
        nodata: float = NODATA,
    ) -> None:
        if max_open < 1:
            raise ValueError(f"max_open must be >= 1, got {max_open}.")
        self.paths = {str(k): (Path(v[0]), Path(v[1])) for k, v in paths.items()}
        self.max_open = int(max_open)
        self.nodata = float(nodata)
        self._readers: OrderedDict[str, SceneReader] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_readers"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finaliser
            self.close()

    def close(self) -> None:
        """Close every scene opened by this process."""
        readers, self._readers = self._readers, OrderedDict()
        for reader in readers.values():
            reader.close()

    def reader(self, scene_id: str) -> SceneReader:
        """The (lazily opened) reader of one scene.

        Raises:
            KeyError: If the scene is unknown.
        """
        if scene_id in self._readers:
            self._readers.move_to_end(scene_id)
            return self._readers[scene_id]
        if scene_id not in self.paths:
            raise KeyError(f"Unknown scene {scene_id!r}; this reader has {len(self.paths)} scenes.")
        while len(self._readers) >= self.max_open:
            _, oldest = self._readers.popitem(last=False)
            oldest.close()
        reader = SceneReader(*self.paths[scene_id], nodata=self.nodata)
        self._readers[scene_id] = reader
        return reader

    def read(self, scene_id: str, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """``(2, height, width)`` float32 dB ``[VH, VV]`` window; see :meth:`SceneReader.read`."""
        return self.reader(scene_id).read(row0, col0, height, width)
