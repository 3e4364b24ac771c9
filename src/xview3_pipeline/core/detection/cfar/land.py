"""Land masks of the CFAR test: the buffered ``owiMask`` or a buffer around the shoreline."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence

import numpy as np

from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.io.ancillary import LandRaster, Shoreline

__all__ = ["LandMaskFn", "owi_land_mask", "owi_land_raster", "shoreline_land_mask"]

logger = logging.getLogger(__name__)

#: ``mask(row0, n_rows, width)`` → ``(n_rows, width)`` bool land (True = excluded).
LandMaskFn = Callable[[int, int, int], np.ndarray]
#: Cell size (pixels) of the coarse pass of the shoreline-distance mask.
_SHORE_CELL_PX = 32


def owi_land_mask(
    scene: Scene,
    *,
    buffer_m: float,
    land_codes: Sequence[int] = (1, 5),
    fine_cell_m: float = 100.0,
) -> LandMaskFn | None:
    """Land mask from the scene's ``owiMask``, buffered, on the scene grid.

    The land cells (``land_codes``) are reprojected (nearest) onto scene-aligned cells of
    about ``fine_cell_m`` (:class:`~xview3_pipeline.core.io.ancillary.LandRaster`), grown
    by ``buffer_m`` with a Euclidean distance transform on that small grid, and read at
    each scene pixel. Nodata and pixels outside the ``owiMask`` extent are sea; a mask in
    another CRS is reprojected.

    Args:
        scene: The scene (its ``owiMask.tif``, transform and CRS).
        buffer_m: Buffer around land, metres.
        land_codes: Codes counted as land.
        fine_cell_m: Cell size of the buffered mask, metres (buffer resolution).

    Returns:
        A function ``(row0, n_rows, width) → (n_rows, width)`` bool, or None when the
        scene has no ``owiMask.tif``.
    """
    land = owi_land_raster(scene, buffer_m=buffer_m, land_codes=land_codes, fine_cell_m=fine_cell_m)
    return None if land is None else land.window


def owi_land_raster(
    scene: Scene,
    *,
    buffer_m: float,
    land_codes: Sequence[int] = (1, 5),
    fine_cell_m: float = 100.0,
) -> LandRaster | None:
    """The buffered land cells of :func:`owi_land_mask` (same arguments), or None.

    Returns:
        The :class:`~xview3_pipeline.core.io.ancillary.LandRaster` (``window`` for bands,
        ``at`` for points), or None when the scene has no ``owiMask.tif``.
    """
    path = scene.owi_mask_path
    if path is None:
        return None
    transform = scene.transform
    pixel_m = math.hypot(transform.a, transform.d) or PIX_TO_M
    land = LandRaster.from_owi_mask(
        path,
        scene_shape=(scene.height, scene.width),
        scene_transform=transform,
        scene_crs=scene.crs,
        cell_px=max(1, round(fine_cell_m / pixel_m)),
        land_codes=land_codes,
    )
    logger.debug("owiMask %s: %d land cells, buffer %.0f m", path, int(land.land.sum()), buffer_m)
    return land.buffered(buffer_m)


def shoreline_land_mask(shoreline: Shoreline, buffer_m: float) -> LandMaskFn:
    """Mask of the pixels within ``buffer_m`` of a shoreline contour point.

    Contours are lines, so this cannot tell land from sea: land farther than the buffer
    from the coastline stays unmasked (and may give false alarms). Pixels are tested at
    their integer (row, col) position, as the metric tests predictions. A coarse pass on
    32 px cells decides whole cells from the KD-tree distance of their centre; only cells
    straddling the buffer edge are tested pixel by pixel.

    Args:
        shoreline: The scene's contours.
        buffer_m: Buffer, metres.

    Returns:
        A function ``(row0, n_rows, width) → (n_rows, width)`` bool.
    """
    tree = shoreline.tree
    radius = buffer_m / PIX_TO_M
    cell = _SHORE_CELL_PX

    def mask(row0: int, n_rows: int, width: int) -> np.ndarray:
        out = np.zeros((n_rows, width), dtype=bool)
        if tree is None or radius <= 0:
            return out
        n_cr, n_cc = -(-n_rows // cell), -(-width // cell)
        half_diag = (cell - 1) / 2 * math.sqrt(2.0)
        cr, cc = np.meshgrid(np.arange(n_cr), np.arange(n_cc), indexing="ij")
        centres = np.stack(
            [row0 + cr.ravel() * cell + (cell - 1) / 2, cc.ravel() * cell + (cell - 1) / 2],
            axis=1,
        )
        dist, _ = tree.query(centres, distance_upper_bound=radius + half_diag)
        full = (dist + half_diag <= radius).reshape(n_cr, n_cc)
        partial = (np.isfinite(dist) & ~(dist + half_diag <= radius)).reshape(n_cr, n_cc)
        out[:] = np.repeat(np.repeat(full, cell, 0), cell, 1)[:n_rows, :width]
        for i, j in zip(*np.nonzero(partial), strict=True):
            r0, c0 = i * cell, j * cell
            r1, c1 = min(r0 + cell, n_rows), min(c0 + cell, width)
            rr, cc2 = np.mgrid[r0:r1, c0:c1]
            pts = np.stack([(rr + row0).ravel(), cc2.ravel()], axis=1).astype(np.float64)
            d, _ = tree.query(pts, distance_upper_bound=radius * (1 + 1e-12) + 1e-9)
            out[r0:r1, c0:c1] = (d <= radius).reshape(r1 - r0, c1 - c0)
        return out

    return mask
