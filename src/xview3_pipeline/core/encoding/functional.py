"""Pure maths of CircleNet target encoding and decoding.

Encoding helpers work on numpy maps of one image, ``(h, w)`` at output stride ``s``, and
paint many objects at once: every painter builds the ``(N, k, k)`` kernel footprints of all
objects, drops what falls outside the map, and merges with ``np.maximum.at`` (unbuffered,
so overlapping footprints merge correctly whatever their order). The only order-dependent
write, :func:`write_at_cells`, is last-writer-wins by construction.

Decoding helpers are torch, batched ``(B, C, h, w)``, device-agnostic, in the style of
CenterNet's ``_nms`` / ``_topk`` / ``_transpose_and_gather_feat``, with integer index
arithmetic (``//``) instead of float truncation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from xview3_pipeline.core.constants import PIX_TO_M

__all__ = [
    "disc_mask",
    "draw_discs",
    "draw_gaussians",
    "gather_features",
    "gaussian_kernel",
    "heatmap_nms",
    "length_from_log",
    "length_to_log",
    "paint_kernels_max",
    "topk_peaks",
    "write_at_cells",
]


def gaussian_kernel(radius: int, sigma: float | None = None) -> np.ndarray:
    """The CenterNet ("umich") Gaussian kernel of a fixed radius.

    Args:
        radius: Kernel radius ``r`` in output pixels; the kernel is ``(2r + 1, 2r + 1)``.
        sigma: Standard deviation in output pixels; ``(2r + 1) / 6`` when ``None``
            (``7 / 6`` for ``r = 3``, as the winner's code).

    Returns:
        ``(2r + 1, 2r + 1)`` float32 ``exp(-(dx² + dy²) / (2σ²))``, exactly 1.0 at the
        centre; values below ``eps * max`` are set to 0 (as the winner's code).
    """
    if radius < 0:
        raise ValueError(f"gaussian_kernel: radius must be >= 0, got {radius}.")
    diameter = 2 * radius + 1
    sigma = diameter / 6.0 if sigma is None else float(sigma)
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(d[None, :] ** 2 + d[:, None] ** 2) / (2.0 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0.0
    return kernel.astype(np.float32)


def disc_mask(radius: int) -> np.ndarray:
    """The filled disc ``dx² + dy² <= r²``.

    Args:
        radius: Disc radius ``r`` in output pixels.

    Returns:
        ``(2r + 1, 2r + 1)`` bool; 5 pixels for ``r = 1``, 13 for ``r = 2``, 29 for ``r = 3``.
    """
    if radius < 0:
        raise ValueError(f"disc_mask: radius must be >= 0, got {radius}.")
    d = np.arange(-radius, radius + 1)
    return (d[None, :] ** 2 + d[:, None] ** 2) <= radius * radius


def paint_kernels_max(
    target: np.ndarray,
    cells: np.ndarray,
    kernel: np.ndarray,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Merge ``kernel * scale[i]`` centred on each cell into ``target`` by maximum, in place.

    Footprints are clipped at the map edges; cells outside the map still paint the part
    of their footprint that overlaps it.

    Args:
        target: ``(h, w)`` float map, modified in place.
        cells: ``(N, 2)`` integer ``(x, y)`` kernel centres in map pixels.
        kernel: ``(k, k)`` kernel with odd ``k`` (float, or bool for a mask).
        scale: ``(N,)`` per-object factor; 1 when ``None``.

    Returns:
        ``target`` (the same array).
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    if len(cells) == 0:
        return target
    k = kernel.shape[0]
    if kernel.shape != (k, k) or k % 2 != 1:
        raise ValueError(f"paint_kernels_max: kernel must be square and odd, got {kernel.shape}.")
    radius = k // 2
    height, width = target.shape
    d = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(d, d, indexing="ij")
    values = kernel.astype(target.dtype, copy=False).reshape(1, -1)
    if scale is not None:
        values = values * np.asarray(scale, dtype=target.dtype).reshape(-1, 1)
    values = np.broadcast_to(values, (len(cells), k * k))
    xs = cells[:, 0:1] + dx.reshape(1, -1)
    ys = cells[:, 1:2] + dy.reshape(1, -1)
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    if not target.flags.c_contiguous:
        raise ValueError("paint_kernels_max: target must be C-contiguous (it is painted in place).")
    np.maximum.at(target.reshape(-1), ys[inside] * width + xs[inside], values[inside])
    return target


def draw_gaussians(heatmap: np.ndarray, cells: np.ndarray, radius: int) -> np.ndarray:
    """Draw fixed-radius Gaussians (peak 1) at ``cells``, merged by maximum, in place.

    Args:
        heatmap: ``(h, w)`` float32 objectness map at output stride.
        cells: ``(N, 2)`` integer ``(x, y)`` peak positions in map pixels.
        radius: Kernel radius in map pixels (:func:`gaussian_kernel`).

    Returns:
        ``heatmap``.
    """
    return paint_kernels_max(heatmap, cells, gaussian_kernel(radius))


def draw_discs(
    target: np.ndarray, cells: np.ndarray, radius: int, values: np.ndarray | float
) -> np.ndarray:
    """Paint filled discs ``dx² + dy² <= r²`` of per-object values, merged by maximum, in place.

    Values must be non-negative: outside the disc the footprint is 0, and ``max(·, 0)`` is
    a no-op only for non-negative maps.

    Args:
        target: ``(h, w)`` float32 map at output stride.
        cells: ``(N, 2)`` integer ``(x, y)`` disc centres in map pixels.
        radius: Disc radius in map pixels.
        values: ``(N,)`` value of each disc, or one value for all.

    Returns:
        ``target``.
    """
    cells = np.asarray(cells).reshape(-1, 2)
    scale = np.broadcast_to(np.asarray(values, dtype=target.dtype), (len(cells),))
    return paint_kernels_max(target, cells, disc_mask(radius), scale)


def write_at_cells(target: np.ndarray, cells: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Write per-object vectors at single cells, last writer wins, in place.

    Objects are taken in array order; when several share a cell, the last one's value is
    kept (explicitly, not relying on numpy's unspecified duplicate fancy assignment).

    Args:
        target: ``(C, h, w)`` map.
        cells: ``(N, 2)`` integer ``(x, y)`` cells inside the map.
        values: ``(N, C)`` values.

    Returns:
        ``target``.
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    if len(cells) == 0:
        return target
    if not target.flags.c_contiguous:
        raise ValueError("write_at_cells: target must be C-contiguous (it is written in place).")
    width = target.shape[2]
    flat_index = cells[:, 1] * width + cells[:, 0]
    # np.unique returns the first occurrence; on the reversed array that is the last writer.
    _, first_in_reversed = np.unique(flat_index[::-1], return_index=True)
    last = len(flat_index) - 1 - first_in_reversed
    target.reshape(target.shape[0], -1)[:, flat_index[last]] = np.asarray(values)[last].T
    return target


def length_to_log(length_px: np.ndarray) -> np.ndarray:
    """Length target ``log(1 + length_px)``; NaN (unknown) becomes 0.

    Args:
        length_px: ``(N,)`` length in input pixels (metres / 10), NaN when unknown.

    Returns:
        ``(N,)`` float32.
    """
    out = np.log1p(np.asarray(length_px, dtype=np.float32))
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def length_from_log(size: torch.Tensor, pix_to_m: float = PIX_TO_M) -> torch.Tensor:
    """Invert the length encoding: ``(exp(relu(size)) - 1) * pix_to_m``, metres."""
    return torch.expm1(F.relu(size)) * pix_to_m


def heatmap_nms(heatmap: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """CenterNet max-pool NMS: keep pixels equal to their ``kernel × kernel`` maximum.

    Ties survive (two equal adjacent peaks are both kept), as in CenterNet.

    Args:
        heatmap: ``(B, 1, h, w)`` scores.
        kernel: Odd pooling window.

    Returns:
        ``(B, 1, h, w)`` scores with non-maxima set to 0.
    """
    pad = (kernel - 1) // 2
    hmax = F.max_pool2d(heatmap, (kernel, kernel), stride=1, padding=pad)
    keep = (hmax == heatmap).to(heatmap.dtype)
    return heatmap * keep


def topk_peaks(
    scores: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` pixels of a single-channel score map per image.

    Args:
        scores: ``(B, 1, h, w)`` scores (after NMS).
        k: Number of peaks; clipped to ``h * w``.

    Returns:
        ``(values, flat_index, ys, xs)``, each ``(B, K)`` with ``K = min(k, h * w)``, sorted
        by descending score; indices are int64 map pixels.
    """
    batch, _, _, width = scores.shape
    flat = scores.reshape(batch, -1)
    k = min(int(k), flat.shape[1])
    values, index = torch.topk(flat, k, dim=1)
    return values, index, index // width, index % width


def gather_features(features: torch.Tensor, flat_index: torch.Tensor) -> torch.Tensor:
    """Read feature vectors at flat pixel indices.

    Args:
        features: ``(B, C, h, w)``.
        flat_index: ``(B, K)`` int64 indices into ``h * w``.

    Returns:
        ``(B, K, C)``.
    """
    batch, channels = features.shape[:2]
    flat = features.reshape(batch, channels, -1)
    index = flat_index.unsqueeze(1).expand(batch, channels, flat_index.shape[1])
    return flat.gather(2, index).transpose(1, 2)
