"""Rendering a tile to an RGB image: ground, trees, roads, shadows, walls and roofs.

Colours are reflectances in ``[0, 1]`` (sRGB-like). Polygons are burnt with
``rasterio.features.rasterize`` in pixel coordinates (identity transform); every other
step is a vectorised numpy operation on the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from rasterio.features import rasterize
from scipy.ndimage import distance_transform_edt, gaussian_filter, zoom
from shapely import affinity
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from xview3_pipeline.core.xview2.synthetic.events import Acquisition
from xview3_pipeline.core.xview2.synthetic.layout import N_RESIDENTIAL_ROOFS, TileLayout

_GROUND = {  # (grass, soil) per season
    "leaf-on": ((0.33, 0.42, 0.24), (0.50, 0.44, 0.35)),
    "transition": ((0.40, 0.43, 0.30), (0.52, 0.46, 0.37)),
    "leaf-off": ((0.48, 0.45, 0.36), (0.55, 0.50, 0.42)),
}
_CANOPY = {
    "leaf-on": (0.15, 0.25, 0.12),
    "transition": (0.26, 0.30, 0.18),
    "leaf-off": (0.36, 0.32, 0.27),
}
_ROAD = np.array((0.38, 0.38, 0.39))
#: Roof colours: residential (dark shingle, brown, red tile, light grey, tan), then
#: commercial (white membrane, grey metal).
ROOF_COLOURS = np.array(
    [
        (0.30, 0.30, 0.32),
        (0.42, 0.31, 0.25),
        (0.58, 0.32, 0.25),
        (0.62, 0.62, 0.60),
        (0.62, 0.55, 0.45),
        (0.78, 0.79, 0.80),
        (0.55, 0.57, 0.58),
    ]
)


def smooth_noise(rng: np.random.Generator, size: int, scale_px: float) -> np.ndarray:
    """Zero-mean, unit-variance noise with features of about ``scale_px`` pixels.

    Args:
        rng: Random generator.
        size: Side of the square field, pixels.
        scale_px: Feature size, pixels.

    Returns:
        Float32 array ``[size, size]``.
    """
    coarse = max(2, math.ceil(size / scale_px) + 2)
    field = zoom(rng.standard_normal((coarse, coarse)), size / (coarse - 2), order=1)
    field = field[:size, :size]
    return ((field - field.mean()) / (field.std() + 1e-6)).astype(np.float32)


def _geojson(geometry: BaseGeometry) -> object:
    """A GeoJSON mapping of a hole-free polygon built from its coordinate array (fast)."""
    if isinstance(geometry, Polygon) and not geometry.interiors:
        return {"type": "Polygon", "coordinates": [shapely.get_coordinates(geometry).tolist()]}
    return geometry


def burn(
    geometries: Sequence[BaseGeometry], size: int, values: Sequence[int] | None = None
) -> np.ndarray:
    """Rasterise polygons in pixel coordinates with ``rasterio.features.rasterize``.

    Args:
        geometries: Shapely polygons (x = column, y = row).
        size: Side of the raster, pixels.
        values: Value burnt per geometry (default 1); later geometries win.

    Returns:
        Int32 array ``[size, size]``, 0 where nothing was burnt.
    """
    vals = [1] * len(geometries) if values is None else list(values)
    shapes = [(_geojson(g), v) for g, v in zip(geometries, vals, strict=True) if not g.is_empty]
    if not shapes:
        return np.zeros((size, size), dtype=np.int32)
    return rasterize(shapes, out_shape=(size, size), fill=0, dtype="int32")


def crowns(trees: np.ndarray, size: int) -> np.ndarray:
    """Mask of the tree crowns ``[size, size]`` (bool): pixels nearer a tree centre than its radius."""
    if len(trees) == 0:
        return np.zeros((size, size), dtype=bool)
    seeds = np.ones((size, size), dtype=bool)
    ids = np.full((size, size), -1, dtype=np.int64)
    cols = np.clip(trees[:, 0].astype(int), 0, size - 1)
    rows = np.clip(trees[:, 1].astype(int), 0, size - 1)
    seeds[rows, cols] = False
    ids[rows, cols] = np.arange(len(trees))
    distance, (near_r, near_c) = distance_transform_edt(seeds, return_indices=True)
    return distance < trees[ids[near_r, near_c], 2]


def leaned_footprints(layout: TileLayout, lean_px_per_m: tuple[float, float]) -> list[Polygon]:
    """Roof outlines seen off nadir: each footprint moved by its height times the lean."""
    dx, dy = lean_px_per_m
    return [
        affinity.translate(b.footprint, b.height_m * dx, b.height_m * dy) for b in layout.buildings
    ]


def render_tile(
    layout: TileLayout,
    acquisition: Acquisition,
    rng: np.random.Generator,
    roofs: Sequence[Polygon],
) -> tuple[np.ndarray, np.ndarray]:
    """Render one tile before any damage and before the illumination of the sensor.

    Args:
        layout: What stands in the tile.
        acquisition: Season and sun of the image.
        rng: Random generator of the image.
        roofs: Roof outline of each building as seen by the sensor (see
            :func:`leaned_footprints`), in the order of ``layout.buildings``.

    Returns:
        The image ``[size, size, 3]`` float32 in ``[0, 1]`` and the roof raster
        ``[size, size]`` int32 (``k + 1`` on the roof of building ``k``, 0 elsewhere).
    """
    size, gsd = layout.size, layout.gsd
    grass, soil = (np.array(c) for c in _GROUND[acquisition.season])
    mix = np.clip(0.5 + 0.35 * smooth_noise(rng, size, 60.0 / gsd), 0.0, 1.0)[..., None]
    image = grass * (1.0 - mix) + soil * mix
    image *= 1.0 + 0.06 * smooth_noise(rng, size, 4.0)[..., None]

    trees = crowns(layout.trees, size)
    canopy = np.array(_CANOPY[acquisition.season])
    image[trees] = canopy * (1.0 + 0.15 * rng.standard_normal((int(trees.sum()), 1)))
    road = burn([layout.roads], size).astype(bool)
    image[road] = _ROAD * (1.0 + 0.04 * rng.standard_normal((int(road.sum()), 1)))

    # Shadows fall from the ground footprint away from the sun.
    away = math.radians(acquisition.sun_azimuth_deg + 180.0)
    reach = 1.0 / math.tan(math.radians(acquisition.sun_elevation_deg)) / gsd
    shadows = [
        shapely.convex_hull(
            shapely.union(
                b.footprint,
                affinity.translate(
                    b.footprint,
                    b.height_m * reach * math.sin(away),
                    -b.height_m * reach * math.cos(away),
                ),
            )
        )
        for b in layout.buildings
    ]
    image[burn(shadows, size).astype(bool)] *= 0.5
    # Walls between the ground footprint and the leaning roof, then the roofs.
    walls = [
        shapely.convex_hull(shapely.union(b.footprint, roof))
        for b, roof in zip(layout.buildings, roofs, strict=True)
    ]
    ids = np.arange(1, len(roofs) + 1)
    wall_ids = burn(walls, size, list(ids))
    roof_ids = burn(list(roofs), size, list(ids))
    colours = np.vstack([np.zeros((1, 3)), ROOF_COLOURS[[b.roof for b in layout.buildings]]])
    if len(layout.buildings):
        colours[1:] *= rng.uniform(0.85, 1.15, size=(len(layout.buildings), 1))
    walled = (wall_ids > 0) & (roof_ids == 0)
    image[walled] = colours[wall_ids[walled]] * 0.6
    image = _roofs(image, roof_ids, colours, layout=layout, roofs=roofs, acquisition=acquisition)
    return np.clip(image, 0.0, 1.0).astype(np.float32), roof_ids


def _roofs(
    image: np.ndarray,
    roof_ids: np.ndarray,
    colours: np.ndarray,
    *,
    layout: TileLayout,
    roofs: Sequence[Polygon],
    acquisition: Acquisition,
) -> np.ndarray:
    """Paint the roofs; pitched roofs have a lit and a shaded side of their ridge."""
    rows, cols = np.nonzero(roof_ids)
    if rows.size == 0:
        return image
    k = roof_ids[rows, cols]
    centres = np.array([[0.0, 0.0]] + [list(r.centroid.coords[0]) for r in roofs])
    axes = np.radians([0.0] + [b.axis_deg for b in layout.buildings])
    pitched = np.array([False] + [b.roof < N_RESIDENTIAL_ROOFS for b in layout.buildings])
    # Signed distance across the ridge: which side of the roof a pixel is on.
    side = -(cols + 0.5 - centres[k, 0]) * np.sin(axes[k]) + (rows + 0.5 - centres[k, 1]) * np.cos(
        axes[k]
    )
    sun = math.radians(acquisition.sun_azimuth_deg)
    facing = np.sign(side) * np.sign(
        np.cos(axes[k]) * math.cos(sun) + np.sin(axes[k]) * math.sin(sun) + 1e-9
    )
    shade = np.where(pitched[k], 1.0 + 0.12 * facing, 1.0)
    image[rows, cols] = colours[k] * shade[:, None]
    return image


def finish(image: np.ndarray, acquisition: Acquisition, rng: np.random.Generator) -> np.ndarray:
    """Apply the sensor: illumination gain, haze, a slight blur and noise.

    Args:
        image: ``[H, W, 3]`` reflectances.
        acquisition: Gain and haze of the image.
        rng: Random generator of the image.

    Returns:
        ``[H, W, 3]`` uint8.
    """
    out = image * np.asarray(acquisition.gain, dtype=np.float32) + acquisition.haze
    out = gaussian_filter(out, sigma=(0.6, 0.6, 0.0))
    out += rng.normal(0.0, 0.012, size=out.shape).astype(np.float32)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
