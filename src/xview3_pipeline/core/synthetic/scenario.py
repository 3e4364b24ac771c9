"""What a synthetic dataset contains: revisits of the locations and their objects.

Nothing here touches pixels or files. A :class:`ScenePlan` is one acquisition of a
:class:`~xview3_pipeline.core.synthetic.sites.Location`: a shifted north-up 10 m grid in the
location's UTM zone, a tilted swath with ragged range edges, the scene's draw of the
randomised conditions (:mod:`~xview3_pipeline.core.synthetic.domain`), a wind field, a
clutter texture, a sub-swath noise profile and the objects at sea on that day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from affine import Affine

from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.synthetic import physics
from xview3_pipeline.core.synthetic.config import SyntheticConfig
from xview3_pipeline.core.synthetic.domain import DomainConfig, DomainDraw
from xview3_pipeline.core.synthetic.sites import OBJECT_COLUMNS, Location, plan_locations

__all__ = (
    "OBJECT_COLUMNS",
    "Location",
    "ScenePlan",
    "plan_dataset",
    "plan_locations",
    "plan_scene",
)

_SPLIT_SUFFIX = {"train": "t", "validation": "v", "public": "p"}


@dataclass
class ScenePlan:
    """One acquisition of a location: grid, swath geometry, conditions, wind, noise, objects.

    ``domain`` holds the scene's draw of the randomised conditions; ``ood`` says whether
    it was drawn from the out-of-distribution ranges.
    """

    scene_id: str
    split: str
    location: Location
    revisit: int
    height: int
    width: int
    transform: Affine
    tilt_deg: float
    near_range_left: bool
    swath_width_px: float
    swath_length_px: float
    ragged_left: np.ndarray
    ragged_right: np.ndarray
    wind_speed: float
    wind_from_deg: float
    wind_field: physics.CosineField
    wind_dir_field: physics.CosineField
    clutter_field: physics.CosineField
    nesz_offsets_db: tuple[float, float, float]
    objects: pd.DataFrame
    seed: int
    domain: DomainDraw
    ood: bool = False

    # ----------------------------------------------------------------- geometry
    def pixel_to_xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (m) of fractional pixel positions (row, col; 0.5 = pixel centre)."""
        a, b, c, d, e, f = self.transform[:6]
        return a * cols + b * rows + c, d * cols + e * rows + f

    def xy_to_pixel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel positions (row, col) of map coordinates (m)."""
        inv = ~self.transform
        cols = inv.a * x + inv.b * y + inv.c
        rows = inv.d * x + inv.e * y + inv.f
        return rows, cols

    def swath_coords(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Range (u) and azimuth (v) coordinates in pixels, relative to the scene centre."""
        th = math.radians(self.tilt_deg)
        dc = np.asarray(cols) - self.width / 2.0
        dr = np.asarray(rows) - self.height / 2.0
        return dc * math.cos(th) + dr * math.sin(th), -dc * math.sin(th) + dr * math.cos(th)

    def valid(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether pixel positions lie inside the imaged swath (not nodata)."""
        u, v = self.swath_coords(rows, cols)
        half_w, half_l = self.swath_width_px / 2.0, self.swath_length_px / 2.0
        idx = np.clip(np.round(v + half_l).astype(int), 0, self.ragged_left.size - 1)
        inside_range = (u >= -half_w + self.ragged_left[idx]) & (
            u <= half_w - self.ragged_right[idx]
        )
        in_image = (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        return inside_range & (np.abs(v) <= half_l) & in_image

    def range_fraction(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Position across the swath in [0, 1], near range at 0."""
        u, _ = self.swath_coords(rows, cols)
        frac = (u + self.swath_width_px / 2.0) / self.swath_width_px
        return frac if self.near_range_left else 1.0 - frac

    def look_azimuth_deg(self) -> float:
        """Azimuth (degrees clockwise from north) of the radar look direction (to far range)."""
        th = math.radians(self.tilt_deg)
        east, north = math.cos(th), -math.sin(th)
        az = math.degrees(math.atan2(east, north))
        return (az if self.near_range_left else az + 180.0) % 360.0

    def ghost_offset_px(self, range_fraction: np.ndarray) -> np.ndarray:
        """Azimuth displacement of ambiguities, pixels: 5.0 / 4.7 / 5.9 km in IW1/IW2/IW3."""
        table = np.array([500.0, 470.0, 590.0])
        return table[np.clip((np.asarray(range_fraction) * 3).astype(int), 0, 2)]

    def land(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether map points are on land."""
        return self.location.coast.landward(x, y) > 0.0

    def wind(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wind speed (m/s) and direction it blows from (degrees from north) at map points."""
        speed = self.wind_speed * (1.0 + self.domain.wind_variability * self.wind_field(x, y))
        direction = self.wind_from_deg + 8.0 * self.wind_dir_field(x, y)
        return np.clip(speed, 0.5, 25.0), np.mod(direction, 360.0)

    def incidence_deg(self, range_fraction: np.ndarray) -> np.ndarray:
        """Incidence angle (degrees) at positions across the swath (near range at 0)."""
        d = self.domain
        return physics.incidence_deg(range_fraction, d.incidence_near_deg, d.incidence_far_deg)

    def sea_sigma0(
        self, x: np.ndarray, y: np.ndarray, range_fraction: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """VV and VH sea clutter (linear, before thermal noise) at map points.

        CMOD5.N for VV and the linear wind model for VH, both modulated by the scene's
        clutter texture of ``domain.clutter_texture_db`` (dB standard deviation).

        Args:
            x: Map x (m), any shape.
            y: Map y (m), same shape.
            range_fraction: Position across the swath, same shape.

        Returns:
            Linear VV and VH sigma0, same shape.
        """
        speed, wind_from = self.wind(x, y)
        relative = wind_from - (self.look_azimuth_deg() + 180.0)
        vv = physics.sea_vv(speed, self.incidence_deg(range_fraction), relative)
        vh = physics.sea_vh(speed)
        if self.domain.clutter_texture_db > 0.0:
            texture = physics.from_db(self.domain.clutter_texture_db * self.clutter_field(x, y))
            vv, vh = vv * texture, vh * texture
        return vv, vh

    @property
    def centre_xy(self) -> tuple[float, float]:
        """Map coordinates of the scene centre."""
        x, y = self.pixel_to_xy(np.array(self.height / 2.0), np.array(self.width / 2.0))
        return float(x), float(y)


def _ragged_edge(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """Inset (pixels) of a swath's range edge along azimuth: smooth wander plus blocky steps."""
    v = np.arange(n, dtype=np.float64)
    smooth = np.zeros(n)
    for _ in range(3):
        smooth += np.sin(2 * np.pi * v / rng.uniform(n / 4.0, 2.0 * n) + rng.uniform(0, 2 * np.pi))
    smooth = 0.5 + smooth / 6.0
    block = max(2, n // 60)
    steps = np.repeat(rng.uniform(0.0, 0.25, n // block + 1), block)[:n]
    return amplitude * np.clip(smooth + steps, 0.0, 1.5)


def _sample_sea_points(
    plan: ScenePlan,
    rng: np.random.Generator,
    n: int,
    margin_px: float = 4.0,
    near_coast_bias: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform (optionally coast-biased) map points at sea inside the valid swath."""
    xs: list[np.ndarray] = [np.empty(0)]
    ys: list[np.ndarray] = [np.empty(0)]
    have, tries = 0, 0
    while have < n and tries < 50:
        tries += 1
        m = max(4 * (n - have), 64)
        rows = rng.uniform(margin_px, plan.height - margin_px, m)
        cols = rng.uniform(margin_px, plan.width - margin_px, m)
        x, y = plan.pixel_to_xy(rows, cols)
        ok = plan.valid(rows, cols) & (plan.location.coast.landward(x, y) < -20.0)
        if near_coast_bias:
            dist = -plan.location.coast.landward(x, y)
            ok &= rng.random(m) < 0.35 + 0.65 * np.exp(-np.maximum(dist, 0.0) / 3000.0)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    return x, y


def _sea_fraction(plan: ScenePlan, rng: np.random.Generator) -> float:
    rows = rng.uniform(0, plan.height, 4000)
    cols = rng.uniform(0, plan.width, 4000)
    x, y = plan.pixel_to_xy(rows, cols)
    return float(np.mean(plan.valid(rows, cols) & ~plan.land(x, y)))


def _vessels(plan: ScenePlan, config: SyntheticConfig, rng: np.random.Generator) -> pd.DataFrame:
    lam = config.objects_per_scene * _sea_fraction(plan, rng)
    n_total = int(rng.poisson(lam))
    n_other = int(rng.binomial(n_total, config.non_vessel_share))
    n_vessels = n_total - n_other
    n_fishing = int(rng.binomial(n_vessels, config.fishing_share))
    frames = []

    # Fishing vessels: small, in groups of 1-8 around coast-biased centres.
    fx: list[np.ndarray] = []
    fy: list[np.ndarray] = []
    fh: list[np.ndarray] = []
    remaining = n_fishing
    while remaining > 0:
        size = min(remaining, 1 + int(rng.poisson(3.0)))
        gx, gy = _sample_sea_points(plan, rng, 1, margin_px=20.0, near_coast_bias=True)
        if gx.size == 0:
            break
        spread = rng.uniform(150.0, 600.0)
        x = gx[0] + rng.normal(0.0, spread, size)
        y = gy[0] + rng.normal(0.0, spread, size)
        rows, cols = plan.xy_to_pixel(x, y)
        ok = plan.valid(rows, cols) & (plan.location.coast.landward(x, y) < -20.0)
        fx.append(x[ok])
        fy.append(y[ok])
        fh.append(np.mod(rng.uniform(0, 360) + rng.normal(0, 30.0, int(ok.sum())), 360.0))
        remaining -= size
    if fx:
        x, y = np.concatenate(fx), np.concatenate(fy)
        length = np.exp(rng.normal(np.log(23.0), 0.35, x.size)).clip(8.0, 70.0)
        frames.append(
            pd.DataFrame(
                {
                    "x": x,
                    "y": y,
                    "length_m": length,
                    "heading_deg": np.concatenate(fh),
                    "kind": "fishing",
                    "is_vessel": True,
                    "is_fishing": True,
                }
            )
        )
    # Other vessels: larger, anywhere at sea.
    x, y = _sample_sea_points(plan, rng, n_vessels - n_fishing)
    frames.append(
        pd.DataFrame(
            {
                "x": x,
                "y": y,
                "length_m": np.exp(rng.normal(np.log(80.0), 0.65, x.size)).clip(10.0, 400.0),
                "heading_deg": rng.uniform(0.0, 360.0, x.size),
                "kind": "vessel",
                "is_vessel": True,
                "is_fishing": False,
            }
        )
    )
    # Small non-vessel objects (buoys, rocks, debris).
    x, y = _sample_sea_points(plan, rng, n_other)
    frames.append(
        pd.DataFrame(
            {
                "x": x,
                "y": y,
                "length_m": rng.uniform(10.0, 30.0, x.size),
                "heading_deg": rng.uniform(0.0, 360.0, x.size),
                "kind": "non_vessel",
                "is_vessel": False,
                "is_fishing": False,
            }
        )
    )
    frames = [f for f in frames if len(f)]
    # A scene without objects keeps the columns (objects_per_scene = 0).
    out = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OBJECT_COLUMNS[:7])
    )
    d = plan.domain
    out["vv_db"] = physics.vessel_peak_vv_db(
        out["length_m"].to_numpy(), d.vessel_vv_at_100m_db, d.vessel_vv_slope_db
    ) + rng.normal(0.0, d.vessel_vv_scatter_db, len(out))
    out.loc[out["kind"] == "non_vessel", "vv_db"] -= 6.0
    out["vh_db"] = out["vv_db"] - rng.uniform(7.0, 12.0, len(out))
    return out


def _scene_id(rng: np.random.Generator, split: str) -> str:
    return f"{int(rng.integers(0, 2**62)):016x}"[-16:] + _SPLIT_SUFFIX[split]


def plan_scene(
    config: SyntheticConfig,
    location: Location,
    revisit: int,
    split: str,
    rng: np.random.Generator,
    *,
    domain: DomainConfig | None = None,
    ood: bool = False,
) -> ScenePlan:
    """Draw one acquisition of a location.

    Args:
        config: Generator configuration.
        location: The location imaged.
        revisit: Index of the acquisition at that location.
        split: ``train``, ``validation`` or ``public``.
        rng: Random generator (consumed).
        domain: Ranges of the scene's conditions (default: ``config.domain``).
        ood: Whether ``domain`` is the out-of-distribution one (recorded on the plan).

    Returns:
        The scene plan with its objects (map coordinates).
    """
    h, w = config.height, config.width
    shift = config.footprint_shift
    dx = rng.uniform(-shift, shift) * w * PIX_TO_M
    dy = rng.uniform(-shift, shift) * h * PIX_TO_M
    cx = round((location.centre_x + dx) / PIX_TO_M) * PIX_TO_M
    cy = round((location.centre_y + dy) / PIX_TO_M) * PIX_TO_M
    transform = Affine(PIX_TO_M, 0.0, cx - w / 2 * PIX_TO_M, 0.0, -PIX_TO_M, cy + h / 2 * PIX_TO_M)
    ascending = bool(rng.random() < 0.5)
    tilt = float(rng.uniform(8.0, 13.0)) * (-1.0 if ascending else 1.0)
    th = math.radians(abs(tilt))
    denom = math.cos(2 * th)
    swath_w = (w * math.cos(th) - h * math.sin(th)) / denom
    swath_l = (h * math.cos(th) - w * math.sin(th)) / denom
    n_v = int(swath_l) + 2
    amplitude = min(200.0, 0.04 * w)
    draw = (domain or config.domain).draw(rng)
    plan = ScenePlan(
        scene_id=_scene_id(rng, split),
        split=split,
        location=location,
        revisit=revisit,
        height=h,
        width=w,
        transform=transform,
        tilt_deg=tilt,
        near_range_left=ascending,
        swath_width_px=swath_w * 0.995,
        swath_length_px=swath_l * 0.995,
        ragged_left=_ragged_edge(rng, n_v, amplitude),
        ragged_right=_ragged_edge(rng, n_v, amplitude),
        wind_speed=draw.wind_speed_ms,
        wind_from_deg=float(rng.uniform(0.0, 360.0)),
        wind_field=physics.CosineField(rng, (5e3, 50e3), n_waves=6),
        wind_dir_field=physics.CosineField(rng, (10e3, 50e3), n_waves=4),
        clutter_field=physics.CosineField(rng, (300.0, 3000.0), n_waves=8),
        nesz_offsets_db=tuple(  # type: ignore[arg-type]
            float(v) for v in draw.nesz_db + draw.nesz_seam_db * rng.uniform(-1.0, 1.0, 3)
        ),
        objects=pd.DataFrame(columns=list(OBJECT_COLUMNS)),
        seed=int(rng.integers(0, 2**31)),
        domain=draw,
        ood=ood,
    )
    vessels = _vessels(plan, config, rng)
    infra = location.infrastructure
    plan.objects = pd.concat([infra, vessels], ignore_index=True) if len(infra) else vessels
    plan.objects = plan.objects.astype({"is_vessel": bool, "is_fishing": bool})
    return plan


def plan_dataset(config: SyntheticConfig) -> list[ScenePlan]:
    """Draw every scene of a dataset, deterministically from ``config.seed``.

    The out-of-distribution scenes (``config.ood``) come after all in-distribution ones,
    so adding them changes none of those.

    Args:
        config: Generator configuration.

    Returns:
        Scene plans: in-distribution ones location by location, revisits in order, then
        ``config.ood.scenes_per_location`` ``public`` scenes per location with the
        out-of-distribution ranges (revisit indices following the in-distribution ones).
    """
    rng = np.random.default_rng(config.seed)
    locations = plan_locations(config, rng)
    plans = []
    for location in locations:
        for revisit, split in enumerate(config.revisit_splits):
            plans.append(plan_scene(config, location, revisit, split, rng))
    first = len(config.revisit_splits)
    for location in locations:
        for k in range(config.ood.scenes_per_location):
            plans.append(
                plan_scene(
                    config, location, first + k, "public", rng, domain=config.ood.domain, ood=True
                )
            )
    return plans
