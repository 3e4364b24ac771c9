"""Exact streaming decoding of blended maps: NMS, nodata test and the running top-K.

The 3 × 3 max-pool NMS of a row needs its neighbours, so a finalised block of rows is
decoded together with ``k // 2`` (1) halo rows kept from the previous block, and its last
``k // 2`` rows are held back until the next block arrives (or the scene ends, where
max-pool padding is the scene border as on the whole map). Only rows whose whole 3 × 3
neighbourhood is final are emitted, so every emitted peak and value is bit-identical to
decoding the whole-scene map.

Peaks with objectness ``>= min_objectness`` are read with the shared candidate builder
(:mod:`~xview3_pipeline.core.encoding.candidates`): centre ``((x_idx + dx) · s, (y_idx +
dy) · s)`` (float64), length ``(exp(relu(size)) - 1) · 10`` m, probabilities at the peak.
Peaks whose detection pixel (the truncated centre) is nodata in VV or VH (or outside the
scene) are dropped, *before* the top-K; then a running top-``max_objects`` is kept,
ordered by objectness then ``(y, x)``. NMS runs before the nodata test, so a nodata peak
still suppresses its neighbours.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.detection.cnn.config import InferenceConfig
from xview3_pipeline.core.encoding.candidates import candidate_table, finite_or_zero, peak_values
from xview3_pipeline.core.encoding.functional import heatmap_nms, topk_peaks

__all__ = ["PeakStream", "TopK", "Validity", "decode_rows"]

#: ``(rows, cols) -> (n,)`` bool: the pixels are inside the scene and valid in VV and VH.
ValidityFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

_FIELDS = ("x", "y", "objectness", "vessel", "fishing", "length_m")


class Validity:
    """Whether detection pixels are valid in both VV and VH, from the bands in memory.

    Keeps the masks of the last ``keep`` bands (enough for every emitted row), packed 8
    pixels a byte (:func:`numpy.packbits`, big bit order, along columns); anything else is
    read through ``read_pixel`` (rare: a peak whose offset points far from its cell).

    Args:
        read_pixel: ``(row, col) -> bool`` for one pixel.
        height: Scene rows.
        width: Scene columns.
        keep: Bands remembered.
    """

    def __init__(
        self, read_pixel: Callable[[int, int], bool], height: int, width: int, keep: int = 2
    ) -> None:
        self.read_pixel = read_pixel
        self.height, self.width = height, width
        self.bands: deque[tuple[int, np.ndarray, int]] = deque(maxlen=keep)

    def add_band(self, row0: int, packed: np.ndarray, width: int) -> None:
        """Remember the validity of input rows ``[row0, row0 + rows)``, columns ``[0, width)``.

        Args:
            row0: First row.
            packed: ``(rows, ceil(width / 8))`` uint8, ``np.packbits(valid, axis=1)``.
            width: Columns of the unpacked mask.
        """
        self.bands.append((int(row0), packed, int(width)))

    def add_mask(self, row0: int, valid: np.ndarray) -> None:
        """Remember an unpacked ``(rows, cols)`` bool mask (packed here)."""
        self.add_band(row0, np.packbits(valid, axis=1), valid.shape[1])

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: the pixels are inside the scene and finite in both channels."""
        out = np.zeros(len(rows), dtype=bool)
        todo = (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        for row0, packed, width in self.bands:
            sel = todo & (rows >= row0) & (rows < row0 + packed.shape[0]) & (cols < width)
            c = cols[sel]
            byte = packed[rows[sel] - row0, c >> 3]
            out[sel] = (byte >> (7 - (c & 7)).astype(np.uint8)) & 1
            todo &= ~sel
        for i in np.flatnonzero(todo):  # rare fallback, a handful of 1 x 1 reads
            out[i] = self.read_pixel(int(rows[i]), int(cols[i]))
        return out


def _empty() -> dict[str, np.ndarray]:
    return {k: np.zeros(0, np.float64) for k in _FIELDS}


def _select_peaks(
    nms: torch.Tensor,
    maps: torch.Tensor,
    row0: int,
    config: InferenceConfig,
    validity: ValidityFn,
) -> dict[str, np.ndarray]:
    """Peaks of an NMS'd block with objectness ``>= min_objectness`` at valid pixels.

    Args:
        nms: ``(m, w)`` objectness after NMS (non-peaks 0) of output rows ``[row0, row0 + m)``.
        maps: ``(5, m, w)`` vessel, fishing, length, offset x, offset y of the same rows.
        row0: Scene output row of the block's first row.
        config: ``min_objectness``, ``max_objects``, ``stride``.
        validity: Pixel validity lookup.

    Returns:
        Up to ``max_objects`` valid candidates (the best ones of the block) as float64
        arrays.
    """
    n_peaks = int((nms >= config.min_objectness).sum())
    if n_peaks == 0:
        return _empty()
    k = min(n_peaks, config.max_objects)
    while True:  # on the maps' device; only the k candidate rows come to the host
        scores, index, ys, xs = topk_peaks(nms[None, None], k)
        peaks = peak_values(
            maps[None], index, xs, ys, stride=config.stride, row0=row0, dtype=torch.float64
        )
        x, y = _host(peaks["x"][0]), _host(peaks["y"][0])
        valid = validity(y.astype(np.int64), x.astype(np.int64))  # truncation, as the coder
        if int(valid.sum()) >= config.max_objects or k >= n_peaks:
            break
        k = min(n_peaks, 2 * k)
    out = {"x": x, "y": y, "objectness": _host(scores[0].double())}
    out |= {key: _host(peaks[key][0].double()) for key in ("vessel", "fishing", "length_m")}
    return {key: v[valid] for key, v in out.items()}


def _host(t: torch.Tensor) -> np.ndarray:
    """A small tensor as a host numpy array."""
    return t.cpu().numpy()


def _order(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """Objectness descending, then ``y``, then ``x`` (a total order for ties)."""
    return np.lexsort((c["x"], c["y"], -c["objectness"]))


class TopK:
    """Running top-K of candidates under objectness, then ``(y, x)``."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.best = _empty()

    def add(self, cand: Mapping[str, np.ndarray]) -> None:
        """Merge candidates into the running best ``k``."""
        if len(cand["x"]) == 0:
            return
        merged = {key: np.concatenate([self.best[key], cand[key]]) for key in _FIELDS}
        keep = _order(merged)[: self.k]
        self.best = {key: merged[key][keep] for key in _FIELDS}

    def frame(self, scene_id: str) -> pd.DataFrame:
        """The candidates, best first, as a table with the detection columns."""
        c = {key: v[_order(self.best)] for key, v in self.best.items()}
        return candidate_table(
            np.full(len(c["x"]), scene_id, dtype=object),
            x=c["x"],
            y=c["y"],
            objectness=c["objectness"],
            vessel=c["vessel"],
            fishing=c["fishing"],
            length_m=c["length_m"],
        )


def decode_rows(
    block: torch.Tensor,
    start: int,
    stop: int,
    block_row0: int,
    *,
    config: InferenceConfig,
    validity: ValidityFn,
) -> dict[str, np.ndarray]:
    """NMS over a block of finalised rows, candidates of its rows ``[start, stop)``.

    Args:
        block: ``(6, n, w)`` finalised maps of output rows ``[block_row0, block_row0 + n)``.
        start: First block row to emit; rows above it are halo for the NMS.
        stop: End of the emitted rows; rows below are halo (or none at the scene bottom).
        block_row0: Scene output row of ``block[:, 0]``.
        config: Decoding settings.
        validity: Pixel validity lookup.
    """
    nms = heatmap_nms(finite_or_zero(block[0:1])[None], config.nms_kernel)[0, 0, start:stop]
    maps = finite_or_zero(block[1:, start:stop])
    return _select_peaks(nms, maps, block_row0 + start, config, validity)


#: Output rows decoded at a time (bounds the temporaries of NMS and peak reading).
DECODE_ROWS = 64


class PeakStream:
    """Exact streaming NMS + top-K over finalised row blocks arriving top to bottom.

    A block is decoded ``DECODE_ROWS`` rows at a time, so the temporaries stay
    ``O(DECODE_ROWS · w)`` whatever the block's height.

    Args:
        out_h: Scene rows at the output stride.
        config: Decoding settings.
        validity: Pixel validity lookup.
    """

    def __init__(self, out_h: int, config: InferenceConfig, validity: ValidityFn) -> None:
        self.out_h = out_h
        self.config = config
        self.validity = validity
        self.pad = config.nms_kernel // 2
        self.pending: torch.Tensor | None = None  # finalised rows [p0, f)
        self.p0 = 0  # first row kept (halo)
        self.f = 0  # end of the finalised rows
        self.e = 0  # end of the emitted rows
        self.top = TopK(config.max_objects)

    def push(self, rows: torch.Tensor) -> None:
        """Take the next finalised ``(6, n, w)`` rows and emit what has become final."""
        for start in range(0, rows.shape[1], DECODE_ROWS):
            self._push(rows[:, start : start + DECODE_ROWS])

    def _push(self, rows: torch.Tensor) -> None:
        self.pending = rows if self.pending is None else torch.cat([self.pending, rows], 1)
        self.f += rows.shape[1]
        end = self.f if self.f >= self.out_h else self.f - self.pad
        if end > self.e:
            cand = decode_rows(
                self.pending,
                self.e - self.p0,
                end - self.p0,
                self.p0,
                config=self.config,
                validity=self.validity,
            )
            self.top.add(cand)
            self.e = end
        keep_from = max(0, self.e - self.pad)
        self.pending = self.pending[:, keep_from - self.p0 :].clone()
        self.p0 = keep_from
