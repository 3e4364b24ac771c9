"""Planning of the events and image pairs of a synthetic xBD dataset.

An event is a disaster of one type at one place: a town (street blocks of one style), a
ground sample distance, a sensor and the dates of the pre and post acquisitions. Each of
its pairs is a tile of that town; tiles of one event lie side by side on a grid in the
event's UTM zone, so their geographic footprints never overlap.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from xview3_pipeline.core.xview2.synthetic.config import Xview2SyntheticConfig
from xview3_pipeline.core.xview2.synthetic.misalign import Misalignment, draw_misalignment
from xview3_pipeline.core.xview2.synthetic.xbd import XVIEW2_SPLITS

#: Per disaster type: the word in the event name and a (lat, lon) region it is placed in.
_TYPE_STYLE: dict[str, tuple[str, tuple[float, float]]] = {
    "flooding": ("flooding", (38.6, -90.4)),
    "wind": ("hurricane", (30.2, -85.6)),
    "fire": ("wildfire", (38.4, -122.7)),
    "earthquake": ("earthquake", (19.4, -99.1)),
}
_TOWNS = (
    "alderbrook", "bramwell", "cedarford", "dunmore", "elmstead", "fairhaven", "glenrock",
    "harrowgate", "ivybridge", "juniper", "kingsmere", "larkfield", "millbrook", "northvale",
)  # fmt: skip
#: Sensors of the xBD imagery (``metadata.sensor``).
_SENSORS = ("WORLDVIEW02", "WORLDVIEW03_VNIR", "GEOEYE01", "QUICKBIRD02")


@dataclass(frozen=True)
class Acquisition:
    """How one image of a pair was taken.

    Attributes:
        capture_date: UTC time, ``YYYY-MM-DDTHH:MM:SS.000Z`` as in xBD.
        season: ``leaf-on``, ``leaf-off`` or ``transition`` (vegetation state).
        sun_azimuth_deg: Direction of the sun, degrees clockwise from north.
        sun_elevation_deg: Height of the sun above the horizon, degrees.
        off_nadir_deg: Off-nadir angle of the view, degrees.
        target_azimuth_deg: Azimuth from the target to the sensor, degrees clockwise from
            north; roofs lean towards it.
        gain: Per-channel (R, G, B) illumination gain.
        haze: Additive haze (0-1 reflectance units).
    """

    capture_date: str
    season: str
    sun_azimuth_deg: float
    sun_elevation_deg: float
    off_nadir_deg: float
    target_azimuth_deg: float
    gain: tuple[float, float, float]
    haze: float

    def lean_px_per_m(self, gsd: float) -> tuple[float, float]:
        """Displacement of a roof per metre of height, pixels (x right, y down).

        ``tan(off_nadir) / gsd`` towards the target azimuth (north is up, -y).
        """
        mag = math.tan(math.radians(self.off_nadir_deg)) / gsd
        az = math.radians(self.target_azimuth_deg)
        return mag * math.sin(az), -mag * math.cos(az)


@dataclass(frozen=True)
class EventPlan:
    """One disaster.

    Attributes:
        index: Position among the events.
        name: ``metadata.disaster``, e.g. ``millbrook-flooding``.
        disaster_type: One of :data:`~xview3_pipeline.core.xview2.synthetic.xbd.DISASTER_TYPES`.
        lat: Latitude of the centre of its tile grid, degrees.
        lon: Longitude of that centre, degrees.
        epsg: EPSG code of its UTM zone.
        gsd: Ground sample distance, metres per pixel.
        sensor: ``metadata.sensor``.
        event_date: Day of the disaster.
        block_m: Typical street-block side of the town, metres.
        road_m: Road width of the town, metres.
    """

    index: int
    name: str
    disaster_type: str
    lat: float
    lon: float
    epsg: int
    gsd: float
    sensor: str
    event_date: dt.date
    block_m: float
    road_m: float


@dataclass(frozen=True)
class PairPlan:
    """One pre/post pair.

    Attributes:
        event: Its event.
        split: ``train``, ``test`` or ``hold``.
        image_id: ``<disaster>_<8-digit id>``.
        tile: Position of the tile in the event's grid (column, row).
        pre: Acquisition of the pre image.
        post: Acquisition of the post image.
        misalignment: Affine transform from pre to post pixel coordinates.
        seed: Seed of the pair's layout, damage and rendering.
    """

    event: EventPlan
    split: str
    image_id: str
    tile: tuple[int, int]
    pre: Acquisition
    post: Acquisition
    misalignment: Misalignment
    seed: tuple[int, ...]


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS84 UTM zone holding a point (326xx north, 327xx south)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def _season(day: dt.date) -> str:
    if day.month in (5, 6, 7, 8, 9):
        return "leaf-on"
    if day.month in (11, 12, 1, 2, 3):
        return "leaf-off"
    return "transition"


def _acquisition(
    rng: np.random.Generator, day: dt.date, off_nadir: tuple[float, float], lat: float
) -> Acquisition:
    """Draw the geometry and illumination of an image taken around 10:30 local time."""
    declination = 23.44 * math.sin(math.radians(360.0 * (day.timetuple().tm_yday - 81) / 365.0))
    noon_elevation = 90.0 - abs(lat - declination)
    elevation = float(np.clip(noon_elevation - rng.uniform(5.0, 15.0), 15.0, 85.0))
    seconds = int(rng.integers(15 * 3600, 18 * 3600))
    when = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, size=3)
    return Acquisition(
        capture_date=when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        season=_season(day),
        sun_azimuth_deg=round(float(rng.uniform(135.0, 165.0)), 2),
        sun_elevation_deg=round(elevation, 2),
        off_nadir_deg=round(float(rng.uniform(*off_nadir)), 2),
        target_azimuth_deg=round(float(rng.uniform(0.0, 360.0)), 2),
        gain=(float(gain[0]), float(gain[1]), float(gain[2])),
        haze=float(rng.uniform(0.0, 0.06)),
    )


def plan_events(config: Xview2SyntheticConfig) -> list[EventPlan]:
    """Draw the events of a dataset (types cycle over ``config.disaster_types``).

    Args:
        config: Generator configuration.

    Returns:
        ``config.n_events`` events with distinct names.
    """
    rng = np.random.default_rng([config.seed, 0])
    towns = rng.permutation(len(_TOWNS))
    events = []
    for i in range(config.n_events):
        kind = config.disaster_types[i % len(config.disaster_types)]
        word, (lat0, lon0) = _TYPE_STYLE[kind]
        town = _TOWNS[towns[i % len(_TOWNS)]]
        suffix = "" if i < len(_TOWNS) else f"{i // len(_TOWNS) + 1}"
        lat = lat0 + float(rng.uniform(-2.0, 2.0))
        lon = lon0 + float(rng.uniform(-2.0, 2.0))
        block_lo, block_hi = config.block_m
        events.append(
            EventPlan(
                index=i,
                name=f"{town}{suffix}-{word}",
                disaster_type=kind,
                lat=round(lat, 5),
                lon=round(lon, 5),
                epsg=utm_epsg(lat, lon),
                gsd=round(float(rng.uniform(*config.gsd_m)), 4),
                sensor=str(rng.choice(_SENSORS)),
                event_date=dt.date(2016, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1460))),
                block_m=float(rng.uniform(block_lo, (block_lo + block_hi) / 2.0)),
                road_m=float(rng.uniform(*config.road_m)),
            )
        )
    return events


def plan_pairs(config: Xview2SyntheticConfig, events: list[EventPlan]) -> list[PairPlan]:
    """Draw every pair of every split; pair ``k`` of a split belongs to event ``k mod n``.

    The 8-digit ids count the pairs of each event over all splits, as xBD numbers the
    images of a disaster.

    Args:
        config: Generator configuration.
        events: Output of :func:`plan_events`.

    Returns:
        The pairs, split by split in the order of :data:`XVIEW2_SPLITS`.
    """
    counters = [0] * len(events)
    pairs = []
    for s, split in enumerate(XVIEW2_SPLITS):
        for k in range(config.split_pairs()[split]):
            event = events[k % len(events)]
            number = counters[event.index]
            counters[event.index] += 1
            seed = (config.seed, 1, event.index, number)
            rng = np.random.default_rng(seed)
            pre_day = event.event_date - dt.timedelta(days=int(rng.integers(20, 400)))
            post_day = event.event_date + dt.timedelta(days=int(rng.integers(1, 21)))
            side = 8
            pairs.append(
                PairPlan(
                    event=event,
                    split=split,
                    image_id=f"{event.name}_{number:08d}",
                    tile=(number % side, number // side),
                    pre=_acquisition(rng, pre_day, config.off_nadir_deg, event.lat),
                    post=_acquisition(rng, post_day, config.off_nadir_deg, event.lat),
                    misalignment=draw_misalignment(
                        rng,
                        max_shift_px=config.max_shift_px,
                        max_rotation_deg=config.max_rotation_deg,
                        max_scale=config.max_scale,
                    ),
                    seed=(*seed, s),
                )
            )
    return pairs
