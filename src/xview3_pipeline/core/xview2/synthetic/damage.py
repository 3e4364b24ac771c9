"""Damage of one tile: a hazard field, a damage class per building, and its appearance.

The hazard is a smooth field over the tile whose shape depends on the disaster type, so
damage is spatially clustered as in real events:

* ``flooding``: low ground under water (an elevation field with a valley below a water
  level); buildings in deep water are damaged more;
* ``wind``: a storm track (a band across the tile) with gusty variation;
* ``fire``: patchy burnt areas; buildings inside mostly destroyed, few partly damaged;
* ``earthquake``: shaking decaying from an epicentre; few but total collapses.

Each building's class comes from the field at its centroid plus its own noise; a small
share is ``un-classified``. The post image then shows the damage of each class in the
manner of its type (water, roof loss and debris, burn scars, collapse to rubble).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter

from xview3_pipeline.core.xview2.synthetic.layout import TileLayout
from xview3_pipeline.core.xview2.synthetic.render import smooth_noise
from xview3_pipeline.core.xview2.synthetic.xbd import SUBTYPES

#: Field thresholds of minor, major and destroyed per disaster type.
_THRESHOLDS = {
    "flooding": (0.45, 0.62, 0.82),
    "wind": (0.35, 0.55, 0.75),
    "fire": (0.44, 0.50, 0.60),
    "earthquake": (0.55, 0.70, 0.80),
}
_WATER = np.array((0.36, 0.32, 0.24))
_MUD = np.array((0.45, 0.38, 0.28))
_CHAR = np.array((0.13, 0.12, 0.11))
_ASH = np.array((0.55, 0.54, 0.52))
_TARP = np.array((0.22, 0.40, 0.66))
_DECKING = np.array((0.66, 0.56, 0.42))
_DEBRIS = np.array([(0.55, 0.45, 0.33), (0.62, 0.60, 0.57), (0.25, 0.23, 0.22), (0.80, 0.78, 0.74)])
_RUBBLE = np.array([(0.62, 0.60, 0.57), (0.50, 0.48, 0.45), (0.70, 0.66, 0.58), (0.35, 0.34, 0.33)])
#: Class codes of the damage raster (index into :data:`SUBTYPES`); -1 is no building.
NO, MINOR, MAJOR, DESTROYED, UNCLASSIFIED = range(5)


def hazard_field(rng: np.random.Generator, size: int, gsd: float, disaster_type: str) -> np.ndarray:
    """The hazard over a tile, in pre (ground) pixel coordinates.

    Args:
        rng: Random generator of the tile.
        size: Side of the tile, pixels.
        gsd: Ground sample distance, metres per pixel.
        disaster_type: One of ``flooding``, ``wind``, ``fire``, ``earthquake``.

    Returns:
        Float32 ``[size, size]`` in ``[0, 1]``; for ``flooding`` and ``fire`` the ground
        is under water or burnt where it exceeds 0.5.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0.0, 2.0 * math.pi)
    along = (xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle)
    across = -(xx - 0.5) * math.sin(angle) + (yy - 0.5) * math.cos(angle)
    if disaster_type == "flooding":
        valley = np.abs(across - rng.uniform(-0.3, 0.3))
        elevation = valley + 0.12 * smooth_noise(rng, size, 150.0 / gsd)
        level = np.quantile(elevation, rng.uniform(0.3, 0.55))
        field = 0.5 + 2.5 * (level - elevation)
    elif disaster_type == "wind":
        width = rng.uniform(0.2, 0.4)
        gust = 0.8 + 0.2 * smooth_noise(rng, size, 80.0 / gsd)
        field = np.exp(-(((across - rng.uniform(-0.3, 0.3)) / width) ** 2)) * gust
    elif disaster_type == "fire":
        patches = smooth_noise(rng, size, 200.0 / gsd) + 1.5 * along
        field = 1.0 / (
            1.0 + np.exp(-3.0 * (patches - np.quantile(patches, rng.uniform(0.35, 0.6))))
        )
    elif disaster_type == "earthquake":
        cx, cy = rng.uniform(-0.2, 1.2, size=2)
        radius = rng.uniform(0.4, 0.8)
        field = 0.95 * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / radius**2))
        field += 0.08 * smooth_noise(rng, size, 100.0 / gsd)
    else:
        raise ValueError(
            f"disaster_type={disaster_type!r}: expected flooding, wind, fire or earthquake."
        )
    return np.clip(field, 0.0, 1.0).astype(np.float32)


def assign_damage(
    rng: np.random.Generator,
    layout: TileLayout,
    field: np.ndarray,
    disaster_type: str,
    unclassified_share: float,
) -> list[str]:
    """Draw the damage subtype of every building of a tile.

    Args:
        rng: Random generator of the tile.
        layout: The tile.
        field: Output of :func:`hazard_field`.
        disaster_type: Type of the event.
        unclassified_share: Probability that a building is ``un-classified``.

    Returns:
        One of :data:`SUBTYPES` per building, in the order of ``layout.buildings``.
    """
    n = len(layout.buildings)
    if n == 0:
        return []
    centres = np.array([b.footprint.centroid.coords[0] for b in layout.buildings])
    cols = np.clip(centres[:, 0].astype(int), 0, layout.size - 1)
    rows = np.clip(centres[:, 1].astype(int), 0, layout.size - 1)
    value = field[rows, cols] + rng.normal(0.0, 0.06, n)
    codes = np.searchsorted(np.asarray(_THRESHOLDS[disaster_type]), value)
    if disaster_type == "fire":
        # Fire mostly spares or razes a house: most partial damage becomes destruction.
        partial = (codes == MINOR) | (codes == MAJOR)
        codes[partial & (rng.random(n) < 0.6)] = DESTROYED
    codes[rng.random(n) < unclassified_share] = UNCLASSIFIED
    return [SUBTYPES[c] for c in codes]


def _speckle(rng: np.random.Generator, n: int, palette: np.ndarray) -> np.ndarray:
    return palette[rng.integers(0, len(palette), n)] * rng.uniform(0.85, 1.15, (n, 1))


def _paint(
    image: np.ndarray,
    mask: np.ndarray,
    colour: np.ndarray,
    rng: np.random.Generator,
    alpha: float = 1.0,
) -> None:
    """Blend a colour (or a palette of speckles, shape ``[k, 3]``) into the masked pixels."""
    n = int(mask.sum())
    if n == 0:
        return
    paint = (
        _speckle(rng, n, colour)
        if colour.ndim == 2
        else colour * (1.0 + 0.05 * rng.standard_normal((n, 1)))
    )
    image[mask] = (1.0 - alpha) * image[mask] + alpha * paint


def apply_damage(
    image: np.ndarray,
    roof_ids: np.ndarray,
    subtypes: list[str],
    *,
    field: np.ndarray,
    disaster_type: str,
    rng: np.random.Generator,
    gsd: float,
) -> np.ndarray:
    """Paint the damage of a tile into its post image (before the post misalignment).

    Args:
        image: Post rendering ``[size, size, 3]`` (modified and returned).
        roof_ids: Roof raster of the post rendering (``k + 1`` on building ``k``).
        subtypes: Output of :func:`assign_damage`.
        field: Output of :func:`hazard_field`.
        disaster_type: Type of the event.
        rng: Random generator of the image.
        gsd: Ground sample distance, metres per pixel.

    Returns:
        The damaged image.
    """
    lut = np.array([-1] + [SUBTYPES.index(s) for s in subtypes], dtype=np.int32)
    lut[lut == UNCLASSIFIED] = NO  # un-classified buildings look undamaged
    code = lut[roof_ids]
    roof = roof_ids > 0
    texture = smooth_noise(rng, image.shape[0], 3.0)
    grain = rng.random(roof_ids.shape)
    near = maximum_filter(code, size=max(3, round(5.0 / gsd) | 1)) * (~roof) + (-1) * roof
    if disaster_type == "flooding":
        water = (field > 0.5) & ~(roof & (code != MAJOR) & (code != DESTROYED))
        _paint(image, water, _WATER, rng)
        _paint(image, roof & (code == MAJOR) & (texture > -0.3), _MUD, rng, alpha=0.6)
        _paint(image, roof & (code == DESTROYED) & (grain < 0.4), _DEBRIS, rng)
    elif disaster_type == "wind":
        _paint(image, roof & (code == MINOR) & (texture > 1.0), np.stack([_TARP, _DECKING]), rng)
        _paint(image, roof & (code == MAJOR) & (texture > 0.0), np.vstack([_DECKING, _DEBRIS]), rng)
        _paint(image, roof & (code == DESTROYED), _DEBRIS, rng)
        _paint(image, (near == MAJOR) & (grain < 0.12), _DEBRIS, rng)
        _paint(image, (near == DESTROYED) & (grain < 0.35), _DEBRIS, rng)
    elif disaster_type == "fire":
        _paint(image, (field > 0.55) & ~roof & (texture > -1.0), _CHAR, rng, alpha=0.85)
        _paint(image, roof & (code == MINOR), _CHAR, rng, alpha=0.25)
        _paint(image, roof & (code == MAJOR) & (texture > 0.0), _CHAR, rng)
        _paint(image, roof & (code == DESTROYED), np.stack([_CHAR, _CHAR, _ASH]), rng)
    else:  # earthquake
        _paint(image, roof & (code == MINOR) & (np.abs(texture) < 0.08), _CHAR, rng, alpha=0.7)
        _paint(image, (near == MINOR) & (grain < 0.08), _RUBBLE, rng)
        _paint(image, roof & (code == MAJOR) & (texture > 0.0), _RUBBLE, rng)
        _paint(image, (near == MAJOR) & (grain < 0.3), _RUBBLE, rng)
        _paint(image, roof & (code == DESTROYED), _RUBBLE, rng)
        _paint(image, (near == DESTROYED) & (grain < 0.7), _RUBBLE, rng)
    return np.clip(image, 0.0, 1.0)
