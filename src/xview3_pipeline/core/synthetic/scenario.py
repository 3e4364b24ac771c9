"""What a synthetic dataset contains: locations, revisits and objects, in map coordinates.

Nothing here touches pixels or files. A :class:`Location` holds everything that is fixed
in space (UTM zone, coastline, land texture, fixed infrastructure, bright land
scatterers), so revisits of one location see the same coast and the same turbines in
the same places. A :class:`ScenePlan` is one acquisition: a shifted north-up 10 m grid
in the location's UTM zone, a tilted swath with ragged range edges, a wind field, a
sub-swath noise profile and the objects at sea on that day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS, Transformer

from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.synthetic import physics
from xview3_pipeline.core.synthetic.config import SyntheticConfig

_SPLIT_SUFFIX = {"train": "t", "validation": "v", "public": "p"}
#: Columns of an object table (one row per object in a scene, map coordinates).
OBJECT_COLUMNS = (
    "x",
    "y",
    "length_m",
    "heading_deg",
    "kind",
    "is_vessel",
    "is_fishing",
    "vv_db",
    "vh_db",
)


@dataclass(frozen=True)
class Coast:
    """A wavy coastline: land where ``(p - o) . n - offset - f(t) > 0``.

    ``n`` is the unit normal pointing inland, ``t = (p - o) . tau`` the coordinate along
    the coast and ``f(t) = sum_k a_k sin(2 pi t / lambda_k + phi_k)``. An open-sea
    location has its coast far outside every scene (tens of km), so it has no land but
    still a finite distance from shore.
    """

    origin_x: float
    origin_y: float
    angle_rad: float
    offset_m: float
    amplitudes_m: tuple[float, ...]
    wavelengths_m: tuple[float, ...]
    phases: tuple[float, ...]

    def _frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = np.asarray(x) - self.origin_x, np.asarray(y) - self.origin_y
        nx, ny = math.cos(self.angle_rad), math.sin(self.angle_rad)
        return dx * nx + dy * ny, -dx * ny + dy * nx

    def _wiggle(self, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t, dtype=np.float64)
        for a, lam, ph in zip(self.amplitudes_m, self.wavelengths_m, self.phases, strict=True):
            out += a * np.sin(2.0 * np.pi * t / lam + ph)
        return out

    def landward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed landward offset (m) of map points from the coastline; > 0 on land.

        It equals the distance to the coast only where the coast is locally straight;
        use :meth:`polyline` with shapely for true distances.
        """
        s, t = self._frame(x, y)
        return s - self.offset_m - self._wiggle(t)

    def polyline(
        self, centre_x: float, centre_y: float, half_length_m: float, step_m: float = 20.0
    ) -> np.ndarray:
        """Points of the coastline near a map point, shape ``(N, 2)`` of (x, y) metres."""
        _, t0 = self._frame(np.array(centre_x), np.array(centre_y))
        t = float(t0) + np.arange(-half_length_m, half_length_m + step_m, step_m)
        s = self.offset_m + self._wiggle(t)
        nx, ny = math.cos(self.angle_rad), math.sin(self.angle_rad)
        x = self.origin_x + s * nx - t * ny
        y = self.origin_y + s * ny + t * nx
        return np.stack([x, y], axis=-1)


@dataclass
class Location:
    """A geographic location imaged several times."""

    location_id: str
    name: str
    lat: float
    lon: float
    epsg: int
    centre_x: float
    centre_y: float
    coastal: bool
    coast: Coast
    land_texture: physics.CosineField
    land_detail: physics.CosineField
    infrastructure: pd.DataFrame
    land_scatterers: pd.DataFrame

    @property
    def crs(self) -> CRS:
        """The location's UTM CRS."""
        return CRS.from_epsg(self.epsg)


@dataclass
class ScenePlan:
    """One acquisition of a location: grid, swath geometry, wind, noise and objects."""

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
    nesz_offsets_db: tuple[float, float, float]
    objects: pd.DataFrame
    seed: int

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
        speed = self.wind_speed * (1.0 + 0.12 * self.wind_field(x, y))
        direction = self.wind_from_deg + 8.0 * self.wind_dir_field(x, y)
        return np.clip(speed, 0.5, 25.0), np.mod(direction, 360.0)

    @property
    def centre_xy(self) -> tuple[float, float]:
        """Map coordinates of the scene centre."""
        x, y = self.pixel_to_xy(np.array(self.height / 2.0), np.array(self.width / 2.0))
        return float(x), float(y)


# --------------------------------------------------------------------------- planning
def _utm_epsg(lat: float, lon: float) -> int:
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


#: Real maritime sites (name, lat, lon, coastal) in the regions xView3 covers: European
#: and West African waters. Coastal sites get a synthetic coastline through their scenes.
SITES: tuple[tuple[str, float, float, bool], ...] = (
    ("Adriatic Sea, off Ancona", 43.70, 13.60, True),
    ("Bay of Biscay, off Brittany", 47.60, -3.60, True),
    ("Gulf of Guinea, off Ghana", 5.05, -1.10, True),
    ("Senegal, off Dakar", 14.70, -17.55, True),
    ("Strait of Gibraltar", 36.00, -5.45, True),
    ("Namibia, off Walvis Bay", -22.95, 14.40, True),
    ("Norwegian coast, off Bergen", 60.40, 4.90, True),
    ("North Sea, Dogger Bank", 54.75, 2.30, False),
    ("Atlantic, west of Mauritania", 19.50, -19.20, False),
    ("Atlantic, Azores plateau", 38.50, -30.00, False),
    ("Ionian Sea", 37.50, 18.50, False),
    ("Gulf of Guinea, open sea", 1.50, 3.00, False),
)


def _pick_sites(
    rng: np.random.Generator, n: int, coastal_fraction: float
) -> list[tuple[str, float, float, bool]]:
    coastal = [s for s in SITES if s[3]]
    open_sea = [s for s in SITES if not s[3]]
    n_coastal = round(coastal_fraction * n)
    if n >= 2:
        n_coastal = min(max(n_coastal, 1), n - 1)
    n_open = n - n_coastal
    if n_coastal > len(coastal) or n_open > len(open_sea):
        raise ValueError(
            f"{n} locations with coastal_fraction {coastal_fraction} need {n_coastal} coastal and "
            f"{n_open} open-sea sites; {len(coastal)} and {len(open_sea)} are available."
        )
    picked_c = [coastal[i] for i in rng.permutation(len(coastal))[:n_coastal]]
    picked_o = [open_sea[i] for i in rng.permutation(len(open_sea))[:n_open]]
    return picked_c + picked_o


def _make_coast(rng: np.random.Generator, cx: float, cy: float, coastal: bool) -> Coast:
    n_harm = 3
    return Coast(
        origin_x=cx,
        origin_y=cy,
        angle_rad=float(rng.uniform(0.0, 2.0 * np.pi)),
        offset_m=float(rng.uniform(500.0, 2000.0)) if coastal else float(rng.uniform(40e3, 150e3)),
        amplitudes_m=tuple(float(a) for a in rng.uniform(150.0, 900.0, n_harm)),
        wavelengths_m=tuple(float(w) for w in rng.uniform(2500.0, 15000.0, n_harm)),
        phases=tuple(float(p) for p in rng.uniform(0.0, 2.0 * np.pi, n_harm)),
    )


def _infrastructure(
    rng: np.random.Generator, coast: Coast, cx: float, cy: float, probability: float
) -> pd.DataFrame:
    if rng.random() >= probability:
        return pd.DataFrame(columns=list(OBJECT_COLUMNS))
    if rng.random() < 0.6:
        # A wind farm: a regular grid of turbines, 500-900 m apart, at sea near the centre.
        rows, cols = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        spacing = float(rng.uniform(500.0, 900.0))
        angle = float(rng.uniform(0.0, np.pi))
        gx, gy = np.meshgrid(
            (np.arange(cols) - (cols - 1) / 2) * spacing,
            (np.arange(rows) - (rows - 1) / 2) * spacing,
        )
        ox, oy = rng.uniform(-1500.0, 1500.0, 2)
        x = cx + ox + gx.ravel() * math.cos(angle) - gy.ravel() * math.sin(angle)
        y = cy + oy + gx.ravel() * math.sin(angle) + gy.ravel() * math.cos(angle)
        kind, length = "turbine", rng.normal(25.0, 4.0, x.size).clip(15.0, 40.0)
        vv = rng.uniform(8.0, 16.0, x.size)
    else:
        k = int(rng.integers(1, 4))
        x = cx + rng.uniform(-2500.0, 2500.0, k)
        y = cy + rng.uniform(-2500.0, 2500.0, k)
        kind, length = "platform", rng.uniform(40.0, 80.0, k)
        vv = rng.uniform(18.0, 28.0, k)
    keep = coast.landward(x, y) < -300.0
    n = int(keep.sum())
    return pd.DataFrame(
        {
            "x": x[keep],
            "y": y[keep],
            "length_m": np.asarray(length)[keep],
            "heading_deg": rng.uniform(0.0, 180.0, n),
            "kind": kind,
            "is_vessel": False,
            "is_fishing": False,
            "vv_db": vv[keep],
            "vh_db": vv[keep] - rng.uniform(4.0, 8.0, n),
        }
    )


def _land_scatterers(
    rng: np.random.Generator, coast: Coast, cx: float, cy: float, coastal: bool
) -> pd.DataFrame:
    """Bright point scatterers on land near the coast (ports, towns); never labelled."""
    if not coastal:
        return pd.DataFrame(columns=["x", "y", "vv_db"])
    pts = coast.polyline(cx, cy, 8000.0, step_m=50.0)
    idx = rng.choice(len(pts), size=int(rng.integers(8, 25)), replace=False)
    nx, ny = math.cos(coast.angle_rad), math.sin(coast.angle_rad)
    inland = rng.uniform(100.0, 1500.0, idx.size)
    x = pts[idx, 0] + inland * nx + rng.normal(0, 100.0, idx.size)
    y = pts[idx, 1] + inland * ny + rng.normal(0, 100.0, idx.size)
    keep = coast.landward(x, y) > 50.0
    return pd.DataFrame(
        {"x": x[keep], "y": y[keep], "vv_db": rng.uniform(0.0, 15.0, int(keep.sum()))}
    )


def plan_locations(config: SyntheticConfig, rng: np.random.Generator) -> list[Location]:
    """Draw the locations of a dataset.

    Args:
        config: Generator configuration.
        rng: Random generator (consumed).

    Returns:
        ``config.n_locations`` locations at distinct real maritime sites.

    Raises:
        ValueError: If more coastal or open-sea locations are asked for than there are sites.
    """
    sites = _pick_sites(rng, config.n_locations, config.coastal_fraction)
    locations = []
    for i, (name, site_lat, site_lon, coastal) in enumerate(sites):
        # Jitter each site by up to ~20 km so that seeds give different places.
        lat = site_lat + float(rng.uniform(-0.2, 0.2))
        lon = site_lon + float(rng.uniform(-0.2, 0.2))
        epsg = _utm_epsg(lat, lon)
        to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
        cx, cy = to_utm.transform(lon, lat)
        cx, cy = round(cx / PIX_TO_M) * PIX_TO_M, round(cy / PIX_TO_M) * PIX_TO_M
        coast = _make_coast(rng, cx, cy, coastal)
        locations.append(
            Location(
                location_id=f"L{i:02d}",
                lat=lat,
                lon=lon,
                epsg=epsg,
                centre_x=cx,
                centre_y=cy,
                coastal=coastal,
                name=name,
                coast=coast,
                land_texture=physics.CosineField(rng, (400.0, 4000.0)),
                land_detail=physics.CosineField(rng, (40.0, 300.0)),
                infrastructure=_infrastructure(
                    rng, coast, cx, cy, config.infrastructure_probability
                ),
                land_scatterers=_land_scatterers(rng, coast, cx, cy, coastal),
            )
        )
    return locations


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
    out = pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else pd.DataFrame()
    out["vv_db"] = physics.vessel_peak_vv_db(out["length_m"].to_numpy()) + rng.normal(
        0.0, 2.5, len(out)
    )
    out.loc[out["kind"] == "non_vessel", "vv_db"] -= 6.0
    out["vh_db"] = out["vv_db"] - rng.uniform(7.0, 12.0, len(out))
    return out


def _scene_id(rng: np.random.Generator, split: str) -> str:
    return f"{int(rng.integers(0, 2**62)):016x}"[-16:] + _SPLIT_SUFFIX[split]


def plan_scene(
    config: SyntheticConfig, location: Location, revisit: int, split: str, rng: np.random.Generator
) -> ScenePlan:
    """Draw one acquisition of a location.

    Args:
        config: Generator configuration.
        location: The location imaged.
        revisit: Index of the acquisition at that location.
        split: ``train``, ``validation`` or ``public``.
        rng: Random generator (consumed).

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
        wind_speed=float(rng.uniform(*config.wind_speed_range)),
        wind_from_deg=float(rng.uniform(0.0, 360.0)),
        wind_field=physics.CosineField(rng, (5e3, 50e3), n_waves=6),
        wind_dir_field=physics.CosineField(rng, (10e3, 50e3), n_waves=4),
        nesz_offsets_db=tuple(float(v) for v in -28.0 + rng.uniform(-1.0, 1.0, 3)),  # type: ignore[arg-type]
        objects=pd.DataFrame(columns=list(OBJECT_COLUMNS)),
        seed=int(rng.integers(0, 2**31)),
    )
    vessels = _vessels(plan, config, rng)
    infra = location.infrastructure
    plan.objects = pd.concat([infra, vessels], ignore_index=True) if len(infra) else vessels
    plan.objects = plan.objects.astype({"is_vessel": bool, "is_fishing": bool})
    return plan


def plan_dataset(config: SyntheticConfig) -> list[ScenePlan]:
    """Draw every scene of a dataset, deterministically from ``config.seed``.

    Args:
        config: Generator configuration.

    Returns:
        Scene plans, location by location, revisits in order.
    """
    rng = np.random.default_rng(config.seed)
    locations = plan_locations(config, rng)
    plans = []
    for location in locations:
        for revisit, split in enumerate(config.revisit_splits):
            plans.append(plan_scene(config, location, revisit, split, rng))
    return plans
