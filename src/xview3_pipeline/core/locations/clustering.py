"""Automatic clustering of scenes into locations (the winner sorted thumbnails by hand).

Two scenes belong to one location when

* their valid-data footprints overlap by at least ``min_overlap_fraction`` of the smaller
  footprint's area, **or**
* their centroids lie within ``max_centroid_distance_km`` (great-circle distance).

A location is a connected component of the graph whose nodes are scenes and whose edges are
the pairs above (single linkage over both rules).

Why a graph and not DBSCAN: DBSCAN with ``min_samples=1`` is exactly single linkage on one
distance, here the centroid distance, and cannot use footprint overlap. Both rules are
needed. Sentinel-1 scenes are up to ~300 km wide: two acquisitions of one place from
different orbits have centroids far apart (more than any sensible distance threshold) but
footprints that overlap heavily. Conversely, consecutive frames of one pass share only a
thin strip, so "any overlap" would chain a whole orbit along a coast into one location; the
overlap *fraction* of the smaller footprint tells a revisit (large fraction) from an
adjacent frame (a few percent). The centroid rule merges small or clipped footprints of one
place that do not overlap at all.

Implementation (no O(n²) Python loop):

* Footprints are segmentized (0.1° steps) and reprojected to EPSG:6933 (WGS 84 / NSIDC
  EASE-Grid 2.0 global, cylindrical *equal-area*). An equal-area map preserves the area of
  every region, intersections included, so the overlap fraction is exact up to edge
  densification and needs no per-pair UTM zone; shapes are distorted at high latitude but
  only areas are used. Antimeridian-crossing footprints are not handled.
* Candidate pairs come from a shapely ``STRtree`` query (``predicate="intersects"``);
  intersection areas are computed with vectorised ``shapely.intersection``/``shapely.area``.
* Centroid pairs come from ``sklearn.neighbors.BallTree(metric="haversine").query_radius``.
* ``scipy.sparse.csgraph.connected_components`` gives the components.

Scenes with an empty footprint use only the centroid rule; a scene with neither a
footprint nor a centroid becomes its own location (logged as a warning). A missing centroid
is filled from the footprint's (equal-area) centroid.

Location ids are ``"loc_000"``, ``"loc_001"``, ... numbered in the order of the smallest
scene id of each location, so they do not depend on the row order of the input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import BallTree

from xview3_pipeline.core.config import check_keys

logger = logging.getLogger(__name__)

#: Mean Earth radius in km (IUGG), for the haversine distance.
EARTH_RADIUS_KM: float = 6371.0088
#: Equal-area CRS used for footprint areas and intersections.
EQUAL_AREA_CRS: str = "EPSG:6933"
#: Densification step of footprint edges before reprojection, in degrees.
_SEGMENTIZE_DEG: float = 0.1

LOCATION_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "split",
    "location_id",
    "centroid_lon",
    "centroid_lat",
    "n_scenes_in_location",
)
_REQUIRED_COLUMNS: tuple[str, ...] = ("scene_id", "split", "centroid_lon", "centroid_lat")


@dataclass(frozen=True)
class LocationConfig:
    """Parameters of the location clustering.

    Attributes:
        max_centroid_distance_km: Scenes whose centroids are at most this far apart
            (great-circle distance, km) are in one location. ``0`` merges only identical
            centroids.
        min_overlap_fraction: Scenes whose footprints intersect by at least this fraction
            of the smaller footprint's area (unitless, in [0, 1]) are in one location. The
            intersection area must also be positive, so touching footprints never merge.
    """

    max_centroid_distance_km: float = 50.0
    min_overlap_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("max_centroid_distance_km", "min_overlap_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"LocationConfig.{name} must be a number, got {value!r}.")
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"LocationConfig.{name} must be finite and non-negative, got {value!r}."
                )
            object.__setattr__(self, name, float(value))
        if self.min_overlap_fraction > 1:
            raise ValueError(
                "LocationConfig.min_overlap_fraction must be in [0, 1], "
                f"got {self.min_overlap_fraction!r}."
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> LocationConfig:
        """Build a config from a parameters mapping (e.g. Kedro ``params:locations``).

        Args:
            d: Keys are field names; missing keys take their defaults. ``None`` means all
                defaults.

        Returns:
            The validated config.

        Raises:
            ValueError: On unknown keys (the message lists the valid ones) or invalid values.
        """
        return cls(**check_keys(cls, d, what="location parameter"))


def validate_scene_index(scene_index: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check columns and unique ids; return a copy in EPSG:4326 sorted by scene id.

    Raises:
        TypeError: If ``scene_index`` is not a GeoDataFrame.
        ValueError: On missing columns or duplicate scene ids.
    """
    if not isinstance(scene_index, gpd.GeoDataFrame):
        raise TypeError(f"scene_index must be a GeoDataFrame, got {type(scene_index).__name__}.")
    missing = [c for c in _REQUIRED_COLUMNS if c not in scene_index.columns]
    if missing:
        raise ValueError(
            f"scene_index lacks column(s) {missing}; it has {list(scene_index.columns)}."
        )
    dup = scene_index["scene_id"][scene_index["scene_id"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"scene_index has duplicate scene ids: {sorted(map(str, dup))[:10]}.")
    gdf = scene_index.copy()
    if gdf.crs is None:
        logger.warning("scene_index has no CRS; assuming EPSG:4326 (lon/lat degrees).")
        gdf = gdf.set_crs("EPSG:4326")
    elif not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    gdf["scene_id"] = gdf["scene_id"].astype(str)
    return gdf.sort_values("scene_id", kind="mergesort").reset_index(drop=True)


def _footprints_equal_area(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Valid, densified footprints in the equal-area CRS (empty/None become empty)."""
    arr = np.asarray(geoms.values, dtype=object)
    arr = np.where(pd.isna(arr), shapely.Polygon(), arr)
    arr = shapely.make_valid(arr)
    arr = shapely.segmentize(arr, _SEGMENTIZE_DEG)
    return gpd.GeoSeries(arr, crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)


def _overlap_edges(geoms: np.ndarray, min_overlap_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of footprints overlapping by the required fraction.

    Args:
        geoms: Footprints in an equal-area CRS (metres); empty ones are skipped.
        min_overlap_fraction: Minimum intersection area / smaller area (unitless).

    Returns:
        Two integer index arrays of equal length.
    """
    areas = shapely.area(geoms)
    usable = np.flatnonzero(~shapely.is_empty(geoms) & (areas > 0))
    if len(usable) < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    tree = shapely.STRtree(geoms[usable])
    left, right = tree.query(geoms[usable], predicate="intersects")
    keep = left < right
    i, j = usable[left[keep]], usable[right[keep]]
    inter = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    smaller = np.minimum(areas[i], areas[j])
    ok = (inter > 0) & (inter >= min_overlap_fraction * smaller)
    return i[ok], j[ok]


def _centroid_edges(
    lon_deg: np.ndarray, lat_deg: np.ndarray, max_distance_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i != j``, of finite centroids within ``max_distance_km``.

    Args:
        lon_deg: Centroid longitudes in degrees (NaN skipped).
        lat_deg: Centroid latitudes in degrees (NaN skipped).
        max_distance_km: Great-circle distance threshold in km.

    Returns:
        Two integer index arrays of equal length.
    """
    usable = np.flatnonzero(np.isfinite(lon_deg) & np.isfinite(lat_deg))
    if len(usable) < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    coords = np.radians(np.column_stack([lat_deg[usable], lon_deg[usable]]))
    tree = BallTree(coords, metric="haversine")
    neighbours = tree.query_radius(coords, r=max_distance_km / EARTH_RADIUS_KM)
    counts = np.fromiter((len(n) for n in neighbours), dtype=np.intp, count=len(neighbours))
    src = np.repeat(np.arange(len(usable)), counts)
    dst = np.concatenate(neighbours).astype(np.intp) if counts.sum() else src[:0]
    keep = src != dst
    return usable[src[keep]], usable[dst[keep]]


def cluster_locations(
    scene_index: gpd.GeoDataFrame, config: LocationConfig | None = None
) -> pd.DataFrame:
    """Group scenes into locations by footprint overlap or centroid proximity.

    Args:
        scene_index: One row per scene, EPSG:4326 (reprojected if not; assumed if no CRS),
            with ``scene_id``, ``split``, ``centroid_lon``/``centroid_lat`` (degrees) and a
            footprint geometry (may be empty or missing).
        config: Clustering parameters; defaults if ``None``.

    Returns:
        One row per scene, sorted by ``scene_id``, with columns ``scene_id``, ``split``,
        ``location_id`` (``"loc_000"``..., numbered by the smallest scene id of each
        location), ``centroid_lon``/``centroid_lat`` (the scene's own centroid in degrees,
        filled from the footprint where missing) and ``n_scenes_in_location``.

    Raises:
        TypeError: If ``scene_index`` is not a GeoDataFrame.
        ValueError: On missing columns or duplicate scene ids.
    """
    config = config or LocationConfig()
    gdf = validate_scene_index(scene_index)
    n = len(gdf)
    if n == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LOCATION_COLUMNS}).astype(
            {"centroid_lon": float, "centroid_lat": float, "n_scenes_in_location": int}
        )

    projected = _footprints_equal_area(gdf.geometry)
    geoms = np.asarray(projected.values, dtype=object)
    lon = pd.to_numeric(gdf["centroid_lon"], errors="coerce").to_numpy(dtype=float, copy=True)
    lat = pd.to_numeric(gdf["centroid_lat"], errors="coerce").to_numpy(dtype=float, copy=True)

    # Fill missing centroids from the footprint's equal-area centroid.
    no_centroid = ~(np.isfinite(lon) & np.isfinite(lat))
    fillable = no_centroid & ~shapely.is_empty(geoms)
    if fillable.any():
        filled = gpd.GeoSeries(shapely.centroid(geoms[fillable]), crs=EQUAL_AREA_CRS).to_crs(
            "EPSG:4326"
        )
        lon[fillable] = filled.x.to_numpy()
        lat[fillable] = filled.y.to_numpy()
        logger.info("Filled %d missing centroid(s) from footprints.", int(fillable.sum()))
    isolated = no_centroid & ~fillable
    if isolated.any():
        logger.warning(
            "%d scene(s) have neither a footprint nor a centroid and become their own location: %s",
            int(isolated.sum()),
            gdf["scene_id"].to_numpy()[isolated].tolist(),
        )

    oi, oj = _overlap_edges(geoms, config.min_overlap_fraction)
    ci, cj = _centroid_edges(lon, lat, config.max_centroid_distance_km)
    logger.info(
        "Location graph: %d scenes, %d overlap edges, %d centroid edges.", n, len(oi), len(ci) // 2
    )
    rows = np.concatenate([oi, ci])
    cols = np.concatenate([oj, cj])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)

    # Rows are sorted by scene id, so the first row of each component carries its smallest
    # scene id: renumber components in order of first appearance.
    _, first_idx, inverse = np.unique(component, return_index=True, return_inverse=True)
    rank = np.empty(len(first_idx), dtype=np.intp)
    rank[np.argsort(first_idx, kind="stable")] = np.arange(len(first_idx))
    location_num = rank[inverse]
    sizes = np.bincount(location_num)

    out = pd.DataFrame(
        {
            "scene_id": gdf["scene_id"].to_numpy(),
            "split": gdf["split"].astype(str).to_numpy(),
            "location_id": [f"loc_{k:03d}" for k in location_num],
            "centroid_lon": lon,
            "centroid_lat": lat,
            "n_scenes_in_location": sizes[location_num].astype(int),
        }
    )
    logger.info("Clustered %d scenes into %d locations.", n, len(sizes))
    return out
