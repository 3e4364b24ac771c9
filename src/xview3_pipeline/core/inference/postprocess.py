"""Per-scene candidate table: geographic position and distance from shore of detections.

* ``detect_lat`` / ``detect_lon``: the centre of the detection pixel
  ``(detect_scene_row + 0.5, detect_scene_column + 0.5)`` through the scene's affine
  transform, then from the scene CRS to WGS84 with pyproj (the synthetic labels use the
  same convention).
* ``distance_from_shore_km``: with a shoreline (:class:`~xview3_pipeline.core.metric.
  shoreline.Shoreline` with points), the KD-tree distance from the detection pixel
  ``(row, col)`` to the nearest contour point, × 10 m / 1000. Otherwise, with an
  ``owiMask.tif`` (500 m grid), the Euclidean distance from the detection's mask cell to the
  nearest land cell (values 1 or 5), by ``scipy.ndimage.distance_transform_edt`` over the
  small mask: a cell-centre approximation, about ±0.35 km. Otherwise (or when there is no
  shore / land at all) NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from pyproj import CRS, Transformer
from scipy.ndimage import distance_transform_edt

from xview3_pipeline.core.constants import ANCILLARY_PIXEL_M, PIX_TO_M
from xview3_pipeline.core.encoding.candidates import DETECTION_COLUMNS
from xview3_pipeline.core.metric.shoreline import Shoreline

__all__ = [
    "CANDIDATE_COLUMNS",
    "OWI_LAND_VALUES",
    "add_scene_columns",
    "owi_land_distance_km",
    "pixel_to_latlon",
    "shoreline_distance_km",
]

logger = logging.getLogger(__name__)

#: Columns of a per-scene candidate table, in order.
CANDIDATE_COLUMNS: tuple[str, ...] = (
    *DETECTION_COLUMNS[:5],
    "detect_lat",
    "detect_lon",
    *DETECTION_COLUMNS[5:],
    "distance_from_shore_km",
)
#: ``owiMask`` values counted as land (Sentinel-1 OWI: 1 land, 5 land in the L2 masks).
OWI_LAND_VALUES: tuple[int, ...] = (1, 5)


def _to_crs(crs: Any) -> CRS | None:
    if crs is None or crs == "":
        return None
    return CRS.from_user_input(crs)


def _pixel_centres_xy(
    rows: np.ndarray, cols: np.ndarray, transform: Affine
) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rows, dtype=np.float64) + 0.5
    c = np.asarray(cols, dtype=np.float64) + 0.5
    t = Affine(*tuple(transform)[:6])
    return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f


def pixel_to_latlon(
    rows: np.ndarray, cols: np.ndarray, transform: Affine, crs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 latitude and longitude of pixel centres.

    Args:
        rows: ``(n,)`` integer pixel rows.
        cols: ``(n,)`` integer pixel columns.
        transform: Scene affine transform (pixel → CRS coordinates).
        crs: Scene CRS (anything pyproj accepts, e.g. a rasterio CRS or ``"EPSG:32631"``);
            ``None`` gives NaN.

    Returns:
        ``(lat, lon)``, ``(n,)`` float64 degrees.
    """
    x, y = _pixel_centres_xy(rows, cols, transform)
    src = _to_crs(crs)
    if src is None:
        nan = np.full(x.shape, np.nan)
        return nan, nan.copy()
    to_wgs = Transformer.from_crs(src, CRS.from_epsg(4326), always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def shoreline_distance_km(rows: np.ndarray, cols: np.ndarray, shoreline: Shoreline) -> np.ndarray:
    """Distance from pixels to the nearest shoreline contour point, km.

    Args:
        rows: ``(n,)`` pixel rows.
        cols: ``(n,)`` pixel columns.
        shoreline: The scene's contours.

    Returns:
        ``(n,)`` float64 ``d_px · 10 / 1000``; NaN when the shoreline has no points.
    """
    points = np.column_stack([np.asarray(rows, np.float64), np.asarray(cols, np.float64)])
    tree = shoreline.tree
    if tree is None or len(points) == 0:
        return np.full(len(points), np.nan)
    distance, _ = tree.query(points)
    return np.asarray(distance, dtype=np.float64) * PIX_TO_M / 1000.0


def owi_land_distance_km(
    rows: np.ndarray,
    cols: np.ndarray,
    owi_mask_path: str | Path,
    scene_transform: Affine,
    *,
    scene_crs: Any = None,
    land_values: Sequence[int] = OWI_LAND_VALUES,
) -> np.ndarray:
    """Distance from pixels to the nearest land cell of an ``owiMask`` raster, km.

    Args:
        rows: ``(n,)`` scene pixel rows.
        cols: ``(n,)`` scene pixel columns.
        owi_mask_path: ``owiMask.tif`` (500 m grid; nodata is not land).
        scene_transform: Scene affine transform.
        scene_crs: Scene CRS; pixel centres are reprojected when the mask's CRS differs.
        land_values: Mask values counted as land.

    Returns:
        ``(n,)`` float64 km from the detection's mask cell centre to the nearest land cell
        centre (0 on land); positions outside the mask use the nearest border cell; NaN
        when the mask has no land.
    """
    with rasterio.open(owi_mask_path) as src:
        mask = src.read(1)
        mask_transform = src.transform
        mask_crs = _to_crs(src.crs) if src.crs else None
    land = np.isin(mask, np.asarray(land_values, dtype=mask.dtype))
    n = len(np.atleast_1d(rows))
    if not land.any() or n == 0:
        return np.full(n, np.nan)
    x, y = _pixel_centres_xy(rows, cols, scene_transform)
    src_crs = _to_crs(scene_crs)
    if mask_crs is not None and src_crs is not None and mask_crs != src_crs:
        x, y = Transformer.from_crs(src_crs, mask_crs, always_xy=True).transform(x, y)
    inv = ~mask_transform
    mcol = np.floor(inv.a * x + inv.b * y + inv.c).astype(np.int64)
    mrow = np.floor(inv.d * x + inv.e * y + inv.f).astype(np.int64)
    mrow = np.clip(mrow, 0, mask.shape[0] - 1)
    mcol = np.clip(mcol, 0, mask.shape[1] - 1)
    crs_for_units = mask_crs or src_crs
    if crs_for_units is not None and crs_for_units.is_projected:
        unit_m = float(crs_for_units.axis_info[0].unit_conversion_factor)
        sampling = (abs(mask_transform.e) * unit_m, abs(mask_transform.a) * unit_m)
    else:
        sampling = (ANCILLARY_PIXEL_M, ANCILLARY_PIXEL_M)
    distance_m = distance_transform_edt(~land, sampling=sampling)
    return np.asarray(distance_m[mrow, mcol], dtype=np.float64) / 1000.0


def add_scene_columns(
    frame: pd.DataFrame,
    *,
    transform: Affine | None,
    crs: Any,
    shoreline: Shoreline | None = None,
    owi_mask_path: str | Path | None = None,
) -> pd.DataFrame:
    """Add ``detect_lat``, ``detect_lon`` and ``distance_from_shore_km`` to detections.

    Args:
        frame: Rows with :data:`~xview3_pipeline.core.encoding.coder.DETECTION_COLUMNS`.
        transform: Scene affine transform (``None``: NaN coordinates).
        crs: Scene CRS.
        shoreline: The scene's shoreline; used when it has points.
        owi_mask_path: ``owiMask.tif`` of the scene; used without a usable shoreline.

    Returns:
        A new frame with :data:`CANDIDATE_COLUMNS`, in that order.
    """
    out = frame.copy()
    rows = out["detect_scene_row"].to_numpy(np.int64)
    cols = out["detect_scene_column"].to_numpy(np.int64)
    if transform is not None and len(out):
        out["detect_lat"], out["detect_lon"] = pixel_to_latlon(rows, cols, transform, crs)
    else:
        out["detect_lat"] = np.nan
        out["detect_lon"] = np.nan
    if shoreline is not None and len(shoreline) > 0:
        distance = shoreline_distance_km(rows, cols, shoreline)
    elif owi_mask_path is not None and Path(owi_mask_path).is_file() and transform is not None:
        distance = owi_land_distance_km(rows, cols, owi_mask_path, transform, scene_crs=crs)
    else:
        distance = np.full(len(out), np.nan)
    out["distance_from_shore_km"] = np.asarray(distance, dtype=np.float64)
    out["detect_lat"] = out["detect_lat"].astype(np.float64)
    out["detect_lon"] = out["detect_lon"].astype(np.float64)
    return out[list(CANDIDATE_COLUMNS)]
