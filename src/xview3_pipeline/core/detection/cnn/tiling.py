"""Tile grids over a scene.

Two grids (``coverage``) are available along each axis of a scene of ``L`` pixels, with
tiles of ``T`` pixels and a step ``S <= T``:

* ``"full"`` (default): ``n = ceil((L - T) / S) + 1`` tiles at ``0, S, 2S, ...``; the last
  one is moved back to end at the border (its start ``L - T``, rounded *up* to the output
  stride so that every tile's output grid lines up with the scene's), as torchgeo's
  ``tile_to_chips`` does. Every pixel is covered. A scene smaller than a tile gets one tile
  at 0 that reaches past the border (read as nodata, i.e. zero input, as the seed's padding).
  With an odd ``L`` the last tile reaches one pixel past the border: a tile cannot both
  start on the stride grid and end at an odd border.
* ``"winner"`` (formerly ``"seed"``): the winning solution's grid. The scene is zero-padded to a multiple of ``T`` (``Lp``) and
  toolbelt's ``ImageSlicer`` with ``image_margin=(0, 0, 0, 0)`` takes starts
  ``range(0, Lp - T + 1, S)``, which covers only ``[0, (n - 1) S + T)``: the border
  pixels beyond get no tile (up to 989 rows / 711 columns on the real scenes with
  2048 / 1536), so nothing can be detected there. Kept to reproduce the quirk.

The blending weight of the tiles is in :mod:`~xview3_pipeline.core.detection.cnn.blending`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xview3_pipeline.core.config import resolve_alias

__all__ = [
    "COVERAGES",
    "COVERAGE_ALIASES",
    "TileGrid",
    "tile_starts",
]

#: Tile grid kinds; see the module docstring.
COVERAGES: tuple[str, ...] = ("full", "winner")
#: Old spellings of coverage values (accepted for one release, with a warning).
COVERAGE_ALIASES: dict[str, str] = {"seed": "winner"}


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def tile_starts(
    length: int, tile: int, step: int, coverage: str = "full", align: int = 1
) -> np.ndarray:
    """Start offsets of the tiles along one axis.

    Args:
        length: Scene size ``L`` along the axis, pixels.
        tile: Tile size ``T``, pixels.
        step: Distance between consecutive starts ``S`` (``1 <= S <= T``), pixels.
        coverage: ``"full"`` (last tile flush with the border) or ``"winner"`` (the
            grid over the scene padded to a multiple of ``T``).
        align: Starts are multiples of this (the output stride; ``T`` and ``S`` must be
            multiples of it too).

    Returns:
        ``(n,)`` int64 strictly increasing starts.

    Raises:
        ValueError: On a non-positive size, ``S > T``, misaligned sizes or an unknown
            ``coverage``.
    """
    if length < 1 or tile < 1 or step < 1 or align < 1:
        raise ValueError(
            f"tile_starts: length, tile, step and align must be >= 1, got {length}, {tile}, "
            f"{step}, {align}."
        )
    if step > tile:
        raise ValueError(f"tile_starts: step {step} > tile {tile} would leave gaps.")
    if tile % align or step % align:
        raise ValueError(f"tile_starts: tile {tile} and step {step} must be multiples of {align}.")
    coverage = resolve_alias(coverage, COVERAGE_ALIASES, what="coverage")
    if coverage == "winner":
        padded = _ceil_to(length, tile)
        return np.arange(0, padded - tile + 1, step, dtype=np.int64)
    if coverage != "full":
        raise ValueError(f"tile_starts: coverage must be one of {COVERAGES}, got {coverage!r}.")
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    n = math.ceil((length - tile) / step) + 1
    starts = np.arange(n, dtype=np.int64) * step
    starts[-1] = _ceil_to(length - tile, align)
    return starts


@dataclass(frozen=True)
class TileGrid:
    """The tiles of one scene, by bands (rows of tiles), top to bottom, left to right.

    Attributes:
        height: Scene rows ``H``.
        width: Scene columns ``W``.
        tile: Tile side ``T``, input pixels.
        step: Step ``S``, input pixels.
        coverage: ``"full"`` or ``"winner"``.
        stride: Output stride ``s`` (tiles start on multiples of it).
        row_starts: Start row of each band.
        col_starts: Start column of each tile of a band.
    """

    height: int
    width: int
    tile: int
    step: int
    coverage: str
    stride: int
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]

    @classmethod
    def build(
        cls,
        height: int,
        width: int,
        tile: int,
        step: int,
        *,
        coverage: str = "full",
        stride: int = 2,
    ) -> TileGrid:
        """Build the grid of an ``(H, W)`` scene; see :func:`tile_starts`."""
        coverage = resolve_alias(coverage, COVERAGE_ALIASES, what="coverage")
        rows = tile_starts(height, tile, step, coverage, stride)
        cols = tile_starts(width, tile, step, coverage, stride)
        return cls(
            height=int(height),
            width=int(width),
            tile=int(tile),
            step=int(step),
            coverage=coverage,
            stride=int(stride),
            row_starts=tuple(int(r) for r in rows),
            col_starts=tuple(int(c) for c in cols),
        )

    @property
    def n_bands(self) -> int:
        """Number of rows of tiles."""
        return len(self.row_starts)

    @property
    def n_tiles(self) -> int:
        """Number of tiles."""
        return len(self.row_starts) * len(self.col_starts)

    @property
    def output_shape(self) -> tuple[int, int]:
        """Scene map shape at the output stride, ``(ceil(H / s), ceil(W / s))``."""
        return math.ceil(self.height / self.stride), math.ceil(self.width / self.stride)

    @property
    def read_width(self) -> int:
        """Columns read per band: up to the end of the last tile (may pass ``W``)."""
        return self.col_starts[-1] + self.tile

    @property
    def uncovered_rows(self) -> int:
        """Bottom rows no tile covers (0 for ``"full"``)."""
        return max(0, self.height - (self.row_starts[-1] + self.tile))

    @property
    def uncovered_cols(self) -> int:
        """Right columns no tile covers (0 for ``"full"``)."""
        return max(0, self.width - (self.col_starts[-1] + self.tile))
