"""Where synthetic scenes are: the locations and everything fixed in space.

A :class:`Location` holds everything that is fixed in space (UTM zone, coastline, land
texture, fixed infrastructure, bright land scatterers), so revisits of one location see the
same coast and the same turbines in the same places. Nothing here touches pixels or files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.synthetic import physics
from xview3_pipeline.core.synthetic.config import SyntheticConfig

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
