"""Geographic columns of a candidate table: position and distance from shore.

* ``detect_lat`` / ``detect_lon``: the centre of the detection pixel
  ``(detect_scene_row + 0.5, detect_scene_column + 0.5)`` through the scene's affine
  transform, then from the scene CRS to WGS84 with pyproj (the synthetic labels use the
  same convention).
* ``distance_from_shore_km``: with a shoreline that has points, the KD-tree distance from
  the detection pixel ``(row, col)`` to the nearest contour point, × 10 m / 1000.
  Otherwise, with an ``owiMask.tif``, the distance from the detection's cell to the
  nearest land cell of the :class:`~xview3_pipeline.core.io.ancillary.LandRaster` (the
  mask's own 500 m cells reprojected onto the scene grid): about ±0.35 km. Otherwise (or
  when there is no shore / land at all) NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS, Transformer

from xview3_pipeline.core.detection.contract import CANDIDATE_COLUMNS
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.io.ancillary import (
    LandRaster,
    Shoreline,
    load_shoreline_file,
    shoreline_distance_km,
)

__all__ = ["add_scene_columns", "pixel_to_latlon", "scene_shoreline"]


def scene_shoreline(scene: Scene) -> Shoreline | None:
    """The scene's shoreline, or ``None`` when it has no shoreline file."""
    return load_shoreline_file(scene.shoreline_path, scene.scene_id)


def pixel_to_latlon(
    rows: np.ndarray, cols: np.ndarray, transform: Affine, crs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 latitude and longitude of pixel centres.

    Args:
        rows: ``(n,)`` integer pixel rows.
        cols: ``(n,)`` integer pixel columns.
        transform: Scene affine transform (pixel → CRS coordinates).
        crs: Scene CRS (anything pyproj accepts); ``None`` gives NaN.

    Returns:
        ``(lat, lon)``, ``(n,)`` float64 degrees.
    """
    r = np.asarray(rows, dtype=np.float64) + 0.5
    c = np.asarray(cols, dtype=np.float64) + 0.5
    t = Affine(*tuple(transform)[:6])
    x, y = t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f
    if crs is None or crs == "":
        nan = np.full(x.shape, np.nan)
        return nan, nan.copy()
    to_wgs = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def add_scene_columns(
    frame: pd.DataFrame, scene: Scene, shoreline: Shoreline | None = None
) -> pd.DataFrame:
    """Add ``detect_lat``, ``detect_lon`` and ``distance_from_shore_km`` to detections.

    Args:
        frame: Rows with the detection columns (extra columns are dropped).
        scene: The scene (transform, CRS, ``owiMask.tif``).
        shoreline: The scene's shoreline; used when it has points, else the owiMask.

    Returns:
        A new frame with :data:`~xview3_pipeline.core.detection.contract.CANDIDATE_COLUMNS`.
    """
    out = frame.copy()
    rows = out["detect_scene_row"].to_numpy(np.int64)
    cols = out["detect_scene_column"].to_numpy(np.int64)
    if len(out):
        out["detect_lat"], out["detect_lon"] = pixel_to_latlon(
            rows, cols, scene.transform, scene.crs
        )
    else:
        out["detect_lat"] = np.nan
        out["detect_lon"] = np.nan
    owi = scene.owi_mask_path
    if shoreline is not None and len(shoreline) > 0:
        distance = shoreline_distance_km(rows, cols, shoreline)
    elif owi is not None and len(out):
        land = LandRaster.from_owi_mask(
            owi,
            scene_shape=(scene.height, scene.width),
            scene_transform=scene.transform,
            scene_crs=scene.crs,
        )
        distance = land.distance_km(rows, cols)
    else:
        distance = np.full(len(out), np.nan)
    out["distance_from_shore_km"] = np.asarray(distance, dtype=np.float64)
    out["detect_lat"] = out["detect_lat"].astype(np.float64)
    out["detect_lon"] = out["detect_lon"].astype(np.float64)
    return out[list(CANDIDATE_COLUMNS)]
