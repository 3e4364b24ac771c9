"""Rendering a scene plan to the xView3 files, window by window.

The SAR rasters are produced in bands of :data:`BAND_ROWS` rows. Every field (clutter,
land, wind, incidence, swath mask) is an analytic function of the pixel position, objects
are small precomputed sprites, and the point-spread blur reads a halo of :data:`HALO`
rows beyond the band, so the memory used is ``O(BAND_ROWS x width)`` plus a bounded GDAL
block cache (:data:`GDAL_CACHE_MB`) whatever the scene height, and the output does not depend
on it being split into bands (speckle is drawn per row, from a seed derived from the scene,
row and channel, and blurred with the same halo).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window
from scipy.ndimage import gaussian_filter

from xview3_pipeline.core.constants import (
    ANCILLARY_FILES,
    ANCILLARY_PIXEL_M,
    NODATA,
    PIX_TO_M,
    VH_FILE,
    VV_FILE,
)
from xview3_pipeline.core.synthetic import physics
from xview3_pipeline.core.synthetic.scenario import ScenePlan

#: Rows rendered at a time.
BAND_ROWS = 256
#: Extra rows on each side of a band read by the point-spread blur.
HALO = 8
_SUPERSAMPLE = 4
#: GDAL block cache (``GDAL_CACHEMAX``, MiB) while a scene is written.
GDAL_CACHE_MB = 64


@dataclass(frozen=True)
class Sprite:
    """A small patch of linear sigma0 added to both channels at a pixel offset."""

    row0: int
    col0: int
    vv: np.ndarray
    vh: np.ndarray


def _gaussian_patch(
    row: float,
    col: float,
    *,
    sigma_along: float,
    sigma_across: float,
    direction: tuple[float, float],
    radius: int,
) -> tuple[int, int, np.ndarray]:
    """Unit-peak oriented Gaussian integrated over pixels by 4 x 4 supersampling.

    Args:
        row: Centre row (fractional; pixel ``i`` spans ``[i, i + 1)``).
        col: Centre column.
        sigma_along: Standard deviation along ``direction``, pixels.
        sigma_across: Standard deviation across it, pixels.
        direction: Unit vector (d_col, d_row) of the long axis.
        radius: Half size of the patch, pixels.

    Returns:
        Top row, left column and the ``(2 radius + 1)^2`` patch.
    """
    r0, c0 = math.floor(row) - radius, math.floor(col) - radius
    n = 2 * radius + 1
    sub = (np.arange(n * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
    rr, cc = np.meshgrid(r0 + sub - row, c0 + sub - col, indexing="ij")
    along = cc * direction[0] + rr * direction[1]
    across = -cc * direction[1] + rr * direction[0]
    g = np.exp(-0.5 * ((along / sigma_along) ** 2 + (across / sigma_across) ** 2))
    return r0, c0, g.reshape(n, _SUPERSAMPLE, n, _SUPERSAMPLE).mean(axis=(1, 3))


def _peak_gain(sigma_along: float, sigma_across: float, psf_sigma: float) -> float:
    """Amplitude that makes a Gaussian peak at 1 after a point-spread blur of ``psf_sigma``."""
    s2 = psf_sigma**2
    return math.sqrt((sigma_along**2 + s2) * (sigma_across**2 + s2)) / (sigma_along * sigma_across)


def _cross_patch(
    row: float, col: float, tilt_deg: float, radius: int
) -> tuple[int, int, np.ndarray]:
    """Range and azimuth sidelobe cross (unit level at the first sidelobe)."""
    r0, c0 = math.floor(row) - radius, math.floor(col) - radius
    n = 2 * radius + 1
    rr, cc = np.meshgrid(
        np.arange(n) + r0 + 0.5 - row, np.arange(n) + c0 + 0.5 - col, indexing="ij"
    )
    th = math.radians(tilt_deg)
    out = np.zeros((n, n))
    for d_col, d_row in ((math.cos(th), math.sin(th)), (-math.sin(th), math.cos(th))):
        along = cc * d_col + rr * d_row
        perp = -cc * d_row + rr * d_col
        line = np.exp(-0.5 * (perp / 0.5) ** 2) / (1.0 + (along / 2.5) ** 2)
        out += np.where(np.abs(along) > 1.5, line, 0.0)
    return r0, c0, out


def build_sprites(plan: ScenePlan) -> list[Sprite]:
    """Sprites of every object of a scene: targets, sidelobes, azimuth ghosts, land points.

    Brightness is the peak sigma0 after the scene's point-spread blur. Targets brighter
    than +20 dB in VV get a range/azimuth sidelobe cross at ``domain.sidelobe_db`` (+-1.5 dB
    per target); targets brighter than +10 dB get, with probability ``domain.ghost_rate``,
    two azimuth ghosts at ``domain.ghost_db`` (+-1 dB each), displaced by the ambiguity
    distance of their sub-swath and defocused. Ghosts and land scatterers are never
    labelled.
    """
    rng = np.random.default_rng([plan.seed, 1])
    d = plan.domain
    psf = d.psf_sigma_px
    sprites: list[Sprite] = []
    objs = plan.objects
    if len(objs):
        rows, cols = plan.xy_to_pixel(objs["x"].to_numpy(float), objs["y"].to_numpy(float))
        rf = plan.range_fraction(rows, cols)
        ghost_px = plan.ghost_offset_px(rf)
        th = math.radians(plan.tilt_deg)
        az = (-math.sin(th), math.cos(th))
        for i, obj in enumerate(objs.itertuples(index=False)):
            length_px = float(obj.length_m) / PIX_TO_M
            s_along = max(0.29 * length_px, 0.5)
            s_across = max(0.29 * length_px / 6.0, 0.5)
            h = math.radians(float(obj.heading_deg))
            direction = (math.sin(h), -math.cos(h))
            radius = math.ceil(3.0 * s_along) + 1
            r0, c0, g = _gaussian_patch(
                rows[i],
                cols[i],
                sigma_along=s_along,
                sigma_across=s_across,
                direction=direction,
                radius=radius,
            )
            gain = _peak_gain(s_along, s_across, psf)
            vv, vh = float(physics.from_db(obj.vv_db)), float(physics.from_db(obj.vh_db))
            sprites.append(Sprite(r0, c0, g * gain * vv, g * gain * vh))
            if obj.vv_db > 20.0:
                level = 10.0 ** ((d.sidelobe_db + rng.uniform(-1.5, 1.5)) / 10.0)
                r0, c0, cross = _cross_patch(rows[i], cols[i], plan.tilt_deg, radius=40)
                sprites.append(Sprite(r0, c0, cross * vv * level, cross * vh * level))
            if obj.vv_db > 10.0 and rng.random() < d.ghost_rate:
                for sign in (-1.0, 1.0):
                    level = 10.0 ** ((d.ghost_db + rng.uniform(-1.0, 1.0)) / 10.0)
                    gr = rows[i] + sign * ghost_px[i] * az[1]
                    gc = cols[i] + sign * ghost_px[i] * az[0]
                    r0, c0, g = _gaussian_patch(
                        gr, gc, sigma_along=3.0, sigma_across=1.0, direction=az, radius=10
                    )
                    gain = _peak_gain(3.0, 1.0, psf)
                    sprites.append(Sprite(r0, c0, g * gain * vv * level, g * gain * vh * level))
    land_pts = plan.location.land_scatterers
    if len(land_pts):
        rows, cols = plan.xy_to_pixel(land_pts["x"].to_numpy(float), land_pts["y"].to_numpy(float))
        for i, vv_db in enumerate(land_pts["vv_db"].to_numpy(float)):
            r0, c0, g = _gaussian_patch(
                rows[i], cols[i], sigma_along=0.6, sigma_across=0.6, direction=(1.0, 0.0), radius=3
            )
            gain = _peak_gain(0.6, 0.6, psf) * float(physics.from_db(vv_db))
            sprites.append(Sprite(r0, c0, g * gain, g * gain * 0.3))
    h, w = plan.height, plan.width
    return [
        s
        for s in sprites
        if s.row0 < h and s.col0 < w and s.row0 + s.vv.shape[0] > 0 and s.col0 + s.vv.shape[1] > 0
    ]


def _add_sprites(vv: np.ndarray, vh: np.ndarray, row0: int, sprites: list[Sprite]) -> None:
    """Add the sprites that overlap rows ``[row0, row0 + vv.shape[0])`` in place."""
    n_rows, n_cols = vv.shape
    for s in sprites:
        top, left = s.row0 - row0, s.col0
        r_a, r_b = max(top, 0), min(top + s.vv.shape[0], n_rows)
        c_a, c_b = max(left, 0), min(left + s.vv.shape[1], n_cols)
        if r_a >= r_b or c_a >= c_b:
            continue
        sl = (slice(r_a - top, r_b - top), slice(c_a - left, c_b - left))
        vv[r_a:r_b, c_a:c_b] += s.vv[sl]
        vh[r_a:r_b, c_a:c_b] += s.vh[sl]


def _correlated_speckle(plan: ScenePlan, row_start: int, row_stop: int, channel: int) -> np.ndarray:
    """Unit-mean speckle of rows ``[row_start, row_stop)``, correlated over the PSF.

    White Gamma noise is drawn row by row (each row from its own seed, so a band and its
    halo see the same values whatever the banding) and blurred by the scene's point-spread
    (:func:`~xview3_pipeline.core.synthetic.physics.correlated_speckle_looks`). Rows
    within :data:`HALO` of the ends are exact only at the scene's edges; callers keep the
    band's rows.

    Returns:
        float32 array of shape ``(row_stop - row_start, width)``.
    """
    sigma = plan.domain.psf_sigma_px
    looks = physics.correlated_speckle_looks(sigma)
    white = np.stack(
        [
            physics.speckle(
                np.random.default_rng([plan.seed, 2, row, channel]), (plan.width,), looks
            )
            for row in range(row_start, row_stop)
        ]
    )
    return gaussian_filter(white, sigma, mode="nearest")


def render_band(
    plan: ScenePlan, row_start: int, row_stop: int, sprites: list[Sprite]
) -> tuple[np.ndarray, np.ndarray]:
    """Render VV and VH in dB for rows ``[row_start, row_stop)`` of a scene.

    Args:
        plan: The scene.
        row_start: First row.
        row_stop: One past the last row.
        sprites: The scene's sprites (:func:`build_sprites`).

    Returns:
        VV and VH, float32 dB arrays of shape ``(row_stop - row_start, width)`` with
        :data:`NODATA` outside the swath.
    """
    e0, e1 = max(0, row_start - HALO), min(plan.height, row_stop + HALO)
    rows = np.arange(e0, e1, dtype=np.float64)[:, None] + 0.5
    cols = np.arange(plan.width, dtype=np.float64)[None, :] + 0.5
    rows, cols = np.broadcast_arrays(rows, cols)
    x, y = plan.pixel_to_xy(rows, cols)
    rf = plan.range_fraction(rows, cols)
    d = plan.domain
    nesz = physics.from_db(physics.nesz_db(rf, plan.nesz_offsets_db))
    vv, vh = plan.sea_sigma0(x, y, rf)
    land = plan.land(x, y)
    if land.any():
        loc = plan.location
        tex = loc.land_texture(x, y)
        land_vv_db = (
            -9.5
            + d.land_texture_db * (tex + 0.4 * loc.land_detail(x, y))
            - 0.1 * (plan.incidence_deg(rf) - 38.0)
        )
        land_vh_db = land_vv_db - 6.5 + 0.5 * tex
        vv = np.where(land, physics.from_db(land_vv_db), vv)
        vh = np.where(land, physics.from_db(land_vh_db), vh)
    vv = vv + nesz
    vh = vh + nesz
    _add_sprites(vv, vh, e0, sprites)
    keep = slice(row_start - e0, row_stop - e0)
    calibration = float(physics.from_db(d.calibration_offset_db))
    out = []
    for channel, img in enumerate((vv, vh)):
        blurred = gaussian_filter(img, d.psf_sigma_px, mode="nearest")[keep]
        speckle = _correlated_speckle(plan, e0, e1, channel)[keep]
        out.append(physics.to_db(blurred * calibration * speckle))
    valid = plan.valid(rows[keep], cols[keep])
    for db in out:
        db[~valid] = NODATA
    return out[0], out[1]


def _profile(plan: ScenePlan, height: int, width: int, transform: Affine) -> dict:
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "height": height,
        "width": width,
        "crs": plan.location.crs,
        "transform": transform,
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
    }
    if min(height, width) >= 256:
        profile |= {"tiled": True, "blockxsize": 256, "blockysize": 256}
    return profile


def write_sar(plan: ScenePlan, scene_dir: Path) -> None:
    """Write ``VV_dB.tif`` and ``VH_dB.tif`` of a scene band by band (float32 dB, 10 m).

    Scenes larger than 1024 px get nearest-neighbour overviews. Writing and the overview
    pass run under a GDAL block cache of :data:`GDAL_CACHE_MB`: building overviews reads
    the whole raster back, and GDAL's default cache (5 % of RAM) would keep it in memory.
    """
    sprites = build_sprites(plan)
    profile = _profile(plan, plan.height, plan.width, plan.transform)
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),
        rasterio.open(scene_dir / VV_FILE, "w", **profile) as vv_dst,
        rasterio.open(scene_dir / VH_FILE, "w", **profile) as vh_dst,
    ):
        for r0 in range(0, plan.height, BAND_ROWS):
            r1 = min(r0 + BAND_ROWS, plan.height)
            vv, vh = render_band(plan, r0, r1, sprites)
            window = Window(0, r0, plan.width, r1 - r0)
            vv_dst.write(vv, 1, window=window)
            vh_dst.write(vh, 1, window=window)
        factors = [f for f in (2, 4, 8, 16, 32, 64) if max(plan.height, plan.width) / f >= 256]
        if max(plan.height, plan.width) > 1024 and factors:
            for dst in (vv_dst, vh_dst):
                dst.build_overviews(factors, Resampling.nearest)


def write_ancillary(plan: ScenePlan, scene_dir: Path) -> None:
    """Write bathymetry and the OWI rasters on a 500 m grid over the scene's extent.

    * ``bathymetry.tif``: metres, negative at sea (shelf deepening with distance from the
      coast, or 2-4 km deep ocean), positive land elevation; no nodata.
    * ``owiMask.tif``: 0 water, 1 land; nodata outside the swath.
    * ``owiWindSpeed.tif`` (m/s), ``owiWindDirection.tif`` (degrees from north, the
      direction the wind blows from), ``owiWindQuality.tif`` (0 good, 1 medium near the
      coast, 2 low at the swath edge): nodata on land and outside the swath.
    """
    scale = ANCILLARY_PIXEL_M / PIX_TO_M
    h = math.ceil(plan.height / scale)
    w = math.ceil(plan.width / scale)
    transform = plan.transform @ Affine.scale(scale)
    rows = (np.arange(h)[:, None] + 0.5) * scale
    cols = (np.arange(w)[None, :] + 0.5) * scale
    rows, cols = np.broadcast_arrays(rows, cols)
    in_rows, in_cols = np.minimum(rows, plan.height - 0.5), np.minimum(cols, plan.width - 0.5)
    x, y = plan.pixel_to_xy(rows, cols)
    landward = plan.location.coast.landward(x, y)
    land = landward > 0.0
    valid = plan.valid(in_rows, in_cols)
    tex = plan.location.land_texture(x, y)
    distance_km = np.maximum(-landward, 0.0) / 1000.0
    if plan.location.coastal:
        sea_depth = -np.minimum(5.0 + 25.0 * distance_km**0.8, 4000.0)
    else:
        sea_depth = -(2500.0 + 600.0 * tex)
    bathymetry = np.where(land, 5.0 + 0.02 * landward + 15.0 * (tex + 1.0), sea_depth)
    speed, direction = plan.wind(x, y)
    half = scale / 2.0
    corners_valid = np.ones_like(valid)
    for dr, dc in ((-half, -half), (-half, half), (half, -half), (half, half)):
        corners_valid &= plan.valid(
            np.clip(in_rows + dr, 0, plan.height - 0.5), np.clip(in_cols + dc, 0, plan.width - 0.5)
        )
    quality = np.where(landward > -3000.0, 1.0, 0.0)
    quality = np.where(valid & ~corners_valid, 2.0, quality)
    sea_valid = valid & ~land
    layers = {
        "bathymetry": bathymetry,
        "owi_mask": np.where(valid, land.astype(np.float64), NODATA),
        "owi_wind_speed": np.where(sea_valid, speed, NODATA),
        "owi_wind_direction": np.where(sea_valid, direction, NODATA),
        "owi_wind_quality": np.where(sea_valid, quality, NODATA),
    }
    profile = _profile(plan, h, w, transform)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        for key, data in layers.items():
            with rasterio.open(scene_dir / ANCILLARY_FILES[key], "w", **profile) as dst:
                dst.write(data.astype(np.float32), 1)


def coastline_xy(plan: ScenePlan) -> shapely.LineString:
    """The coastline near a scene as a map-coordinate line (long enough for distances)."""
    cx, cy = plan.centre_xy
    coast = plan.location.coast
    reach = max(plan.height, plan.width) * PIX_TO_M * 2.0 + 2.0 * abs(coast.offset_m) + 20e3
    step = 20.0 if plan.location.coastal else 200.0
    return shapely.LineString(coast.polyline(cx, cy, reach, step_m=step))


def shoreline_contours(plan: ScenePlan) -> np.ndarray:
    """Shoreline contours of a scene in the xView3 format.

    Returns:
        A 1-D object array of ``(k, 2)`` float arrays of (row, col) pixel coordinates,
        one per piece of coastline inside the scene, points about one pixel apart; an
        empty object array when the scene has no shore.
    """
    line = coastline_xy(plan)
    coords = np.asarray(line.coords)
    rows, cols = plan.xy_to_pixel(coords[:, 0], coords[:, 1])
    pixel_line = shapely.LineString(np.stack([cols, rows], axis=-1))
    inside = shapely.intersection(pixel_line, shapely.box(0.0, 0.0, plan.width, plan.height))
    pieces = [
        g for g in shapely.get_parts(inside) if isinstance(g, shapely.LineString) and g.length > 0
    ]
    out = np.empty(len(pieces), dtype=object)
    for i, piece in enumerate(pieces):
        pts = np.asarray(shapely.segmentize(piece, 1.0).coords)
        out[i] = np.stack([pts[:, 1], pts[:, 0]], axis=-1)
    return out
