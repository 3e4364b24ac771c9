"""Street blocks, building footprints and trees of one tile, as shapely polygons.

A town is a grid of straight roads at one angle. The blocks between them are
residential (two rows of lots back to back, one house per lot, a rectangle or an
L-shape set back from the street), commercial (one to three large flat-roofed halls) or
parks (trees only). Sizes are drawn in metres and converted with the event's ground
sample distance, so a house is about 8-18 m wide whatever the resolution.
"""

from __future__ import annotations

import itertools
import math
import uuid
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon, box
from shapely.geometry.base import BaseGeometry

#: Roof palettes: indices below this are residential, the others commercial.
N_RESIDENTIAL_ROOFS = 5
N_ROOFS = 7
#: Tallest building the layout draws, metres (bounds the off-nadir lean).
MAX_HEIGHT_M = 20.0


@dataclass(frozen=True)
class Building:
    """One building of a tile.

    Attributes:
        uid: ``properties.uid`` of its pre and post features (a UUID string).
        footprint: Ground footprint in pre pixel coordinates (x = column, y = row).
        height_m: Height of its roof above the ground, metres.
        roof: Roof palette index (< :data:`N_RESIDENTIAL_ROOFS`: pitched residential roof).
        axis_deg: Direction of its long axis (the ridge), degrees in pixel coordinates.
    """

    uid: str
    footprint: Polygon
    height_m: float
    roof: int
    axis_deg: float


@dataclass(frozen=True)
class TileLayout:
    """Everything that stands in one tile, in pre pixel coordinates.

    Attributes:
        size: Side of the tile, pixels.
        gsd: Ground sample distance, metres per pixel.
        buildings: Buildings entirely inside the tile, at least the margin from its edge.
        roads: Union of the road surfaces, clipped to the tile.
        trees: Tree crowns, ``[N, 3]``: centre x, centre y and radius, pixels.
    """

    size: int
    gsd: float
    buildings: tuple[Building, ...]
    roads: BaseGeometry
    trees: np.ndarray


def _uid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _house(
    rng: np.random.Generator, u0: float, lot_w: float, *, front: float, depth: float, sign: float
) -> Polygon | None:
    """A house on a lot ``[u0, u0 + lot_w]`` whose street edge is at ``v = front``.

    ``sign`` is +1 when the lot extends towards +v from the street, -1 otherwise.
    """
    width = lot_w * rng.uniform(0.55, 0.8)
    deep = min(depth * rng.uniform(0.45, 0.7), 22.0)
    setback = min(rng.uniform(3.0, 7.0), depth - deep - 1.0)
    if deep < 6.0 or setback < 0.5:
        return None
    cu = u0 + lot_w / 2.0 + rng.uniform(-0.25, 0.25) * (lot_w - width)
    v_near, v_far = front + sign * setback, front + sign * (setback + deep)
    shape = box(cu - width / 2, min(v_near, v_far), cu + width / 2, max(v_near, v_far))
    if rng.random() < 0.3:
        wing_w = width * rng.uniform(0.35, 0.5)
        extra = deep * rng.uniform(0.3, 0.6)
        end = cu - width / 2 if rng.random() < 0.5 else cu + width / 2 - wing_w
        v_back = v_far + sign * min(extra, depth - setback - deep - 0.5)
        wing = box(end, min(v_far, v_back), end + wing_w, max(v_far, v_back))
        if wing.area > 1.0:
            merged = shape.union(wing)
            if isinstance(merged, Polygon):
                shape = merged
    return shape


def _residential_block(
    rng: np.random.Generator, ua: float, ub: float, va: float, vb: float, *, occupancy: float
) -> list[tuple[Polygon, float, int]]:
    houses = []
    depth = (vb - va) / 2.0
    for front, sign in ((va, 1.0), (vb, -1.0)):
        u = ua + rng.uniform(0.0, 4.0)
        while True:
            lot_w = rng.uniform(12.0, 22.0)
            if u + lot_w > ub:
                break
            if rng.random() < occupancy:
                shape = _house(rng, u, lot_w, front=front, depth=depth, sign=sign)
                if shape is not None:
                    roof = int(rng.integers(0, N_RESIDENTIAL_ROOFS))
                    houses.append((shape, float(rng.uniform(3.0, 8.0)), roof))
            u += lot_w
    return houses


def _commercial_block(
    rng: np.random.Generator, ua: float, ub: float, va: float, vb: float
) -> list[tuple[Polygon, float, int]]:
    halls = []
    n = int(rng.integers(1, 4))
    edges = np.linspace(ua, ub, n + 1)
    for a, b in itertools.pairwise(edges):
        inset = rng.uniform(4.0, 10.0, size=4)
        shape = box(a + inset[0], va + inset[1], b - inset[2], vb - inset[3])
        if shape.is_valid and shape.area > 100.0:
            roof = int(rng.integers(N_RESIDENTIAL_ROOFS, N_ROOFS))
            halls.append((shape, float(rng.uniform(6.0, MAX_HEIGHT_M)), roof))
    return halls


def _trees(
    rng: np.random.Generator, ua: float, ub: float, va: float, vb: float, *, per_m2: float
) -> tuple[np.ndarray, np.ndarray]:
    n = rng.poisson(per_m2 * (ub - ua) * (vb - va))
    centres = np.column_stack([rng.uniform(ua, ub, n), rng.uniform(va, vb, n)])
    return centres, rng.uniform(2.0, 5.0, n)


def _rotation_about(deg: float, cx: float, cy: float) -> np.ndarray:
    """3 x 3 matrix of a rotation by ``deg`` degrees about ``(cx, cy)``."""
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1.0]])


def _shapely_params(m: np.ndarray) -> list[float]:
    """``[a, b, d, e, xoff, yoff]`` of a 3 x 3 affine matrix, for shapely."""
    return [m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[0, 2], m[1, 2]]


def plan_layout(
    rng: np.random.Generator,
    *,
    size: int,
    gsd: float,
    block_m: float,
    road_m: float,
    occupancy: float,
    margin_px: float,
) -> TileLayout:
    """Draw the roads, buildings and trees of one tile.

    Args:
        rng: Random generator of the tile.
        size: Side of the tile, pixels.
        gsd: Ground sample distance, metres per pixel.
        block_m: Short side of a street block (road centre to road centre), metres; the
            long side is 1.5-2.5 times longer.
        road_m: Road width, metres.
        occupancy: Probability that a residential lot holds a house.
        margin_px: Buildings closer than this to the tile edge are dropped (so that the
            misaligned and leaning post polygons stay inside the image).

    Returns:
        The layout in pre pixel coordinates.
    """
    angle = rng.uniform(0.0, 90.0)
    depth = block_m
    length = block_m * rng.uniform(1.5, 2.5)
    reach = size * gsd / math.sqrt(2.0) + length
    u_start, v_start = rng.uniform(0.0, length), rng.uniform(0.0, depth)
    us = u_start + length * np.arange(
        math.floor(-reach / length) - 1, math.ceil(reach / length) + 1
    )
    vs = v_start + depth * np.arange(math.floor(-reach / depth) - 1, math.ceil(reach / depth) + 1)
    lines = [LineString([(u, -reach), (u, reach)]) for u in us]
    lines += [LineString([(-reach, v), (reach, v)]) for v in vs]
    roads_m = shapely.union_all(shapely.buffer(lines, road_m / 2.0, cap_style="flat"))

    theta = math.radians(angle)
    cos, sin = math.cos(theta) / gsd, math.sin(theta) / gsd
    to_px = np.array([[cos, -sin, size / 2.0], [sin, cos, size / 2.0], [0.0, 0.0, 1.0]])
    reach_px = math.hypot(length, depth) / 2.0 / gsd

    shapes: list[tuple[Polygon, float, int]] = []
    crowns: list[np.ndarray] = []
    radii: list[np.ndarray] = []
    half = road_m / 2.0 + 1.5  # road half-width plus a pavement
    for ua, ub in zip(us[:-1] + half, us[1:] - half, strict=True):
        for va, vb in zip(vs[:-1] + half, vs[1:] - half, strict=True):
            centre = to_px[:2, :2] @ np.array([(ua + ub) / 2.0, (va + vb) / 2.0]) + size / 2.0
            if np.any(centre < -reach_px) or np.any(centre > size + reach_px):
                continue
            kind = rng.random()
            if kind < 0.08:
                c, r = _trees(rng, ua, ub, va, vb, per_m2=1 / 60.0)
            elif kind < 0.25:
                shapes += _commercial_block(rng, ua, ub, va, vb)
                c, r = _trees(rng, ua, ub, va, vb, per_m2=1 / 2000.0)
            else:
                shapes += _residential_block(rng, ua, ub, va, vb, occupancy=occupancy)
                c, r = _trees(rng, ua, ub, va, vb, per_m2=1 / 250.0)
            crowns.append(c)
            radii.append(r)

    inner = box(margin_px, margin_px, size - margin_px, size - margin_px)
    buildings = []
    for shape, height, roof in shapes:
        jitter = rng.uniform(-3.0, 3.0)
        minx, miny, maxx, maxy = shape.bounds
        matrix = to_px @ _rotation_about(jitter, (minx + maxx) / 2.0, (miny + maxy) / 2.0)
        footprint = affinity.affine_transform(shape, _shapely_params(matrix))
        if footprint.within(inner):
            axis = angle + jitter + (90.0 if maxy - miny > maxx - minx else 0.0)
            buildings.append(Building(_uid(rng), footprint, round(height, 2), roof, axis))
    tile = box(0, 0, size, size)
    roads = affinity.affine_transform(roads_m, _shapely_params(to_px)).intersection(tile)
    centres = np.concatenate(crowns) if crowns else np.zeros((0, 2))
    rad = np.concatenate(radii) if radii else np.zeros(0)
    px = centres @ np.array([[cos, sin], [-sin, cos]]) + size / 2.0
    keep = np.all((px > -10) & (px < size + 10), axis=1)
    trees = np.column_stack([px[keep], rad[keep] / gsd])
    return TileLayout(size=size, gsd=gsd, buildings=tuple(buildings), roads=roads, trees=trees)
