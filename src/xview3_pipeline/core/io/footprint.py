"""Footprint geometry of a scene: the valid-data polygon, its WGS84 form, size and area.

Used by :func:`~xview3_pipeline.core.io.scenes.read_scene_info` on the decimated grid of a
scene; every function works on small arrays and shapely geometries.
"""

from __future__ import annotations

import math

import numpy as np
import pyproj
import rasterio.features
import rasterio.warp
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

__all__ = ["footprint_in_crs", "linear_unit_factor", "metric_summary", "polygonal", "to_wgs84"]

_WGS84 = "EPSG:4326"


def polygonal(geom: BaseGeometry) -> Polygon | MultiPolygon:
    """Keep the polygonal part of a geometry (after ``make_valid``); empty Polygon if none."""
    if geom.is_empty:
        return Polygon()
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts: list[Polygon] = []
    for part in getattr(geom, "geoms", ()):
        poly = polygonal(part)
        if isinstance(poly, Polygon) and not poly.is_empty:
            parts.append(poly)
        elif isinstance(poly, MultiPolygon):
            parts.extend(poly.geoms)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def footprint_in_crs(valid: np.ndarray, transform: Affine) -> Polygon | MultiPolygon:
    """Polygonise a valid mask (decimated grid) into a simplified valid polygon in CRS units."""
    if not valid.any():
        return Polygon()
    polys = [
        shape(geom)
        for geom, _ in rasterio.features.shapes(
            valid.astype(np.uint8), mask=valid, transform=transform, connectivity=4
        )
    ]
    merged = shapely.union_all(polys)
    tolerance = max(math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e))
    simplified = merged.simplify(tolerance, preserve_topology=True)
    return polygonal(shapely.make_valid(simplified))


def to_wgs84(geom: Polygon | MultiPolygon, crs: CRS) -> Polygon | MultiPolygon:
    """Reproject a footprint to WGS84 lon/lat after densifying its long edges."""
    if geom.is_empty:
        return Polygon()
    minx, miny, maxx, maxy = geom.bounds
    seg = max(maxx - minx, maxy - miny) / 32.0
    if seg > 0:
        geom = shapely.segmentize(geom, seg)
    out = shape(rasterio.warp.transform_geom(crs, _WGS84, mapping(geom)))
    return polygonal(shapely.make_valid(out))


def linear_unit_factor(crs: CRS) -> float | None:
    """Metres per CRS unit for a projected CRS; None for a geographic (or unknown) one."""
    if not crs.is_projected:
        return None
    try:
        return float(crs.linear_units_factor[1])
    except CRSError:
        return None


def metric_summary(
    crs: CRS,
    transform: Affine,
    *,
    width: int,
    height: int,
    footprint_crs: Polygon | MultiPolygon,
    footprint_wgs84: Polygon | MultiPolygon,
) -> tuple[float, float, float, float]:
    """Pixel size (m), footprint area (km²) and centroid (lon, lat) of a scene."""
    factor = linear_unit_factor(crs)
    nan = float("nan")
    if factor is not None:
        px = math.hypot(transform.a, transform.d) * factor
        py = math.hypot(transform.b, transform.e) * factor
        area_km2 = footprint_crs.area * factor**2 / 1e6
        if footprint_crs.is_empty:
            lon, lat = nan, nan
        else:
            centroid = footprint_crs.centroid
            to_wgs84 = pyproj.Transformer.from_crs(
                pyproj.CRS.from_wkt(crs.to_wkt()), _WGS84, always_xy=True
            )
            lon, lat = to_wgs84.transform(centroid.x, centroid.y)
        return (px + py) / 2.0, float(area_km2), float(lon), float(lat)
    # Geographic scene CRS: geodesic measures on the WGS84 ellipsoid.
    geod = pyproj.Geod(ellps="WGS84")
    x0, y0 = transform @ (width / 2.0, height / 2.0)
    x1, y1 = transform @ (width / 2.0 + 1.0, height / 2.0)
    x2, y2 = transform @ (width / 2.0, height / 2.0 + 1.0)
    (x0, x1, x2), (y0, y1, y2) = rasterio.warp.transform(crs, _WGS84, [x0, x1, x2], [y0, y1, y2])
    px = geod.inv(x0, y0, x1, y1)[2]
    py = geod.inv(x0, y0, x2, y2)[2]
    if footprint_wgs84.is_empty:
        return (px + py) / 2.0, 0.0, nan, nan
    area_m2, _ = geod.geometry_area_perimeter(shapely.orient_polygons(footprint_wgs84))
    centroid = footprint_wgs84.centroid
    return (px + py) / 2.0, abs(area_m2) / 1e6, float(centroid.x), float(centroid.y)
