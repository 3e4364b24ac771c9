"""Blending tile outputs: the pyramid weight and the band accumulator.

The blending weight (:func:`pyramid_weight`) is toolbelt's
``compute_pyramid_patch_weight_loss``, evaluated on the tile's *output* grid (the winner's
merger works on the stride-2 maps): ``W = α · De / (Dc + De)``, ``Dc`` the distance from a
pixel centre to the tile centre, ``De`` the distance to the nearest tile edge (toolbelt's
exact form: ``sqrt(d² + 0.25)`` per axis, ``d`` from the pixel centre, minimum over the two
axes), ``α`` normalising the mean weight to 1. It is positive everywhere.

:class:`BandAccumulator` holds ``Σ w · map`` of the six maps and ``Σ w`` for a window of
output rows; rows that no later tile can reach are finalised (sum / weights, 0 where no
tile contributed, the winner's NaN → 0) and shifted out. Finalising works in place (the decoder reads a view of the buffer) and
shifting copies rows without a temporary.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

__all__ = ["MAP_CHANNELS", "BandAccumulator", "pyramid_weight"]

#: Channels of the blended maps, in order.
MAP_CHANNELS: tuple[str, ...] = (
    "objectness",
    "vessel",
    "fishing",
    "length",
    "offset_x",
    "offset_y",
)
N_MAPS = len(MAP_CHANNELS)


@lru_cache(maxsize=8)
def _pyramid_weight_cached(height: int, width: int) -> np.ndarray:
    xc, yc = width * 0.5, height * 0.5
    dcx = np.square(np.arange(width) - xc + 0.5)
    dcy = np.square(np.arange(height) - yc + 0.5)
    dc = np.sqrt(dcy[:, None] + dcx[None, :])
    de_l = np.square(np.arange(width) + 0.5) + 0.25
    de_r = np.square(np.arange(width) - width + 0.5) + 0.25
    de_t = np.square(np.arange(height) + 0.5) + 0.25
    de_b = np.square(np.arange(height) - height + 0.5) + 0.25
    de_x = np.sqrt(np.minimum(de_l, de_r))
    de_y = np.sqrt(np.minimum(de_t, de_b))
    de = np.minimum(de_y[:, None], de_x[None, :])
    ratio = de / (dc + de)
    weight = ratio * (width * height / ratio.sum())
    weight = weight.astype(np.float32)
    weight.setflags(write=False)
    return weight


def pyramid_weight(height: int, width: int | None = None) -> np.ndarray:
    """The winner's (toolbelt's) pyramid blending weight of a tile.

    Args:
        height: Tile rows (at the resolution the weight is applied: the output stride).
        width: Tile columns; ``height`` when ``None``.

    Returns:
        ``(height, width)`` float32 read-only ``α · De / (Dc + De)``, mean 1, positive,
        largest at the centre, symmetric under flips.
    """
    return _pyramid_weight_cached(int(height), int(height if width is None else width))


class BandAccumulator:
    """Weighted sums of the six maps and the weights for ``capacity`` output rows.

    ``acc[:6]`` holds ``Σ w · map``, ``acc[6]`` ``Σ w``, for output rows
    ``[base, base + capacity)``; memory ``7 · capacity · out_w · 4`` B, on ``device``.

    Args:
        capacity: Output rows held (a tile's ``T / s`` for streaming, the scene's for a
            whole-scene accumulation).
        out_h: Scene rows at the output stride.
        out_w: Scene columns at the output stride.
        tile_out: Tile side at the output stride (size of the pyramid weight).
        device: Where the sums live (the model's device: tile maps are added there).
    """

    def __init__(
        self,
        capacity: int,
        out_h: int,
        out_w: int,
        tile_out: int,
        device: torch.device | str = "cpu",
    ) -> None:
        self.acc = torch.zeros(N_MAPS + 1, capacity, out_w, dtype=torch.float32, device=device)
        self.out_h, self.out_w = out_h, out_w
        self.weight = torch.from_numpy(pyramid_weight(tile_out).copy()).to(device)
        self.base = 0

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """Add ``(B, 6, t, t)`` tile maps whose top-left output pixels are given."""
        size = maps.shape[-1]
        nr = min(size, self.out_h - out_row)
        r = out_row - self.base
        if nr <= 0:
            return
        if r < 0 or r + nr > self.acc.shape[1]:
            raise RuntimeError(f"Tile rows {out_row}+{nr} outside the band buffer at {self.base}.")
        for b, col in enumerate(out_cols):
            nc = min(size, self.out_w - col)
            if nc <= 0:
                continue
            w = self.weight[:nr, :nc]
            self.acc[:N_MAPS, r : r + nr, col : col + nc] += maps[b, :, :nr, :nc] * w
            self.acc[N_MAPS, r : r + nr, col : col + nc] += w

    def finalised(self, start: int, stop: int) -> torch.Tensor:
        """``(6, stop - start, w)`` blended maps of buffer rows ``[start, stop)``; 0 unweighted."""
        acc = self.acc[:N_MAPS, start:stop]
        weight = self.acc[N_MAPS : N_MAPS + 1, start:stop]
        covered = weight > 0
        return torch.where(covered, acc / torch.where(covered, weight, 1.0), 0.0)

    def finalise_rows(self, n_rows: int) -> torch.Tensor:
        """Finalise the first ``n_rows`` buffer rows in place; a ``(6, n, w)`` view of them.

        Bit-identical to :meth:`finalised` (``Σ w · map / Σ w``; an uncovered pixel has
        ``Σ w · map = 0`` and is divided by 1). The view is valid until :meth:`shift`.
        """
        n_in = min(n_rows, self.acc.shape[1])
        weight = self.acc[N_MAPS : N_MAPS + 1, :n_in]
        weight.masked_fill_(weight == 0, 1.0)  # every tile weight is > 0
        return self.acc[:N_MAPS, :n_in].div_(weight)

    def shift(self, n_rows: int) -> None:
        """Drop the first ``n_rows`` rows: shift the rest up, zero the freed rows."""
        capacity = self.acc.shape[1]
        n_in = min(n_rows, capacity)
        for dst in range(0, capacity - n_in, n_in):  # non-overlapping row copies
            rows = min(n_in, capacity - n_in - dst)
            self.acc[:, dst : dst + rows] = self.acc[:, dst + n_in : dst + n_in + rows]
        self.acc[:, capacity - n_in :] = 0.0
        self.base += n_rows

    def pop(self, n_rows: int) -> torch.Tensor:
        """Finalise the first ``n_rows`` rows (zeros past the buffer) and shift the rest up."""
        block = self.finalise_rows(n_rows).clone()
        if n_rows > block.shape[1]:
            extra = block.new_zeros(N_MAPS, n_rows - block.shape[1], self.out_w)
            block = torch.cat([block, extra], 1)
        self.shift(n_rows)
        return block
