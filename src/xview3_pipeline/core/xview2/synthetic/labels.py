"""xBD label documents: ``features.xy``, ``features.lng_lat`` and ``metadata``.

``lng_lat`` is ``xy`` carried through the image's geotransform (the tile's UTM grid at
the event's ground sample distance) and projected to WGS84; the post image keeps the
nominal geotransform of its tile, so its misalignment is a georegistration error, as in
real imagery.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Polygon

from xview3_pipeline.core.xview2.synthetic.events import Acquisition, PairPlan
from xview3_pipeline.core.xview2.synthetic.xbd import Phase, image_name

#: Decimals of the pixel and of the degree coordinates in the WKT.
XY_DECIMALS = 4
LNG_LAT_DECIMALS = 8
#: Tiles of an event are this far apart, in tile sides (a gap between neighbours).
TILE_PITCH = 1.05


@lru_cache(maxsize=64)
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, 4326, always_xy=True)


@lru_cache(maxsize=64)
def _from_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, epsg, always_xy=True)


def tile_transform(plan: PairPlan, size: int) -> Affine:
    """Geotransform (pixel corner to UTM metres) of a pair's tile.

    Tile ``(c, r)`` of an event lies ``TILE_PITCH * size * gsd`` metres east per column
    and south per row of the event's centre.
    """
    event = plan.event
    east, north = _from_wgs84(event.epsg).transform(event.lon, event.lat)
    side = TILE_PITCH * size * event.gsd
    col, row = plan.tile
    return Affine(event.gsd, 0.0, east + col * side, 0.0, -event.gsd, north - row * side)


def to_lng_lat(polygons: Sequence[Polygon], transform: Affine, epsg: int) -> list[Polygon]:
    """Polygons in pixel coordinates carried to WGS84 longitude/latitude."""
    geo = _to_wgs84(epsg)
    matrix = np.array(transform.to_gdal()).reshape(2, 3)  # x0, a, b / y0, d, e

    def project(xy: np.ndarray) -> np.ndarray:
        east = matrix[0, 0] + matrix[0, 1] * xy[:, 0] + matrix[0, 2] * xy[:, 1]
        north = matrix[1, 0] + matrix[1, 1] * xy[:, 0] + matrix[1, 2] * xy[:, 1]
        lon, lat = geo.transform(east, north)
        return np.column_stack([lon, lat])

    return list(shapely.transform(np.asarray(polygons, dtype=object), project))


def metadata(
    plan: PairPlan, phase: Phase, acquisition: Acquisition, size: int, suffix: str = ".png"
) -> dict[str, Any]:
    """The ``metadata`` block of one image, with the keys of the real xBD labels.

    ``suffix`` is the image file's (``.png``, or ``.tif`` for GeoTIFF), so ``img_name``
    names the file written.
    """
    event = plan.event
    rng = np.random.default_rng([*plan.seed, 0 if phase == "pre" else 1])
    return {
        "sensor": event.sensor,
        "provider_asset_type": event.sensor.split("_")[0],
        "gsd": event.gsd,
        "capture_date": acquisition.capture_date,
        "off_nadir_angle": acquisition.off_nadir_deg,
        "pan_resolution": round(event.gsd / 4.0, 4),
        "sun_azimuth": acquisition.sun_azimuth_deg,
        "sun_elevation": acquisition.sun_elevation_deg,
        "target_azimuth": acquisition.target_azimuth_deg,
        "disaster": event.name,
        "disaster_type": event.disaster_type,
        "catalog_id": rng.bytes(8).hex().upper(),
        "original_width": size,
        "original_height": size,
        "width": size,
        "height": size,
        "id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "img_name": image_name(plan.image_id, phase, suffix),
    }


def label_document(
    polygons: Sequence[Polygon],
    uids: Sequence[str],
    subtypes: Sequence[str] | None,
    *,
    meta: dict[str, Any],
    transform: Affine,
    epsg: int,
) -> dict[str, Any]:
    """One xBD label file.

    Args:
        polygons: Building polygons in the image's pixel coordinates.
        uids: ``properties.uid`` per polygon.
        subtypes: ``properties.subtype`` per polygon (post labels), or None (pre labels
            carry none).
        meta: Output of :func:`metadata`.
        transform: Geotransform of the image (pixel corner to ``epsg`` metres).
        epsg: EPSG code of the image's CRS.

    Returns:
        ``{"features": {"lng_lat": [...], "xy": [...]}, "metadata": {...}}``; each feature
        is ``{"properties": {"feature_type": "building", ["subtype": ...,] "uid": ...},
        "wkt": "POLYGON ((...))"}``.
    """
    lng_lat = to_lng_lat(polygons, transform, epsg) if len(polygons) else []

    def features(geoms: Sequence[Polygon], decimals: int) -> list[dict[str, Any]]:
        out = []
        for i, geom in enumerate(geoms):
            props: dict[str, Any] = {"feature_type": "building"}
            if subtypes is not None:
                props["subtype"] = subtypes[i]
            props["uid"] = uids[i]
            out.append(
                {
                    "properties": props,
                    "wkt": shapely.to_wkt(geom, rounding_precision=decimals, trim=True),
                }
            )
        return out

    return {
        "features": {
            "lng_lat": features(lng_lat, LNG_LAT_DECIMALS),
            "xy": features(polygons, XY_DECIMALS),
        },
        "metadata": meta,
    }
