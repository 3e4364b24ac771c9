"""Predicted damage as polygons for GIS users (a GeoPackage layer through the catalog).

:func:`damage_polygons` turns a damage mask into one polygon per connected region of one
class (:func:`rasterio.features.shapes`, pixel edges, 4-connectivity by default). Without
a geotransform the coordinates are pixels (x = column, y = row, origin at the top-left
corner of the image); with one they are the image CRS's. xBD PNGs carry no CRS; GeoTIFFs
(real imagery, or the synthetic generator's ``image_format: geotiff``) do, and
:func:`georeference` reads it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.features import shapes

from xview3_pipeline.core.errors import RasterReadError
from xview3_pipeline.core.xview2.metric import DAMAGE_CLASSES
from xview3_pipeline.core.xview2.reports import MaskLike, as_mask

__all__ = [
    "DEFAULT_LAYER_CRS",
    "POLYGON_COLUMNS",
    "collect_polygons",
    "damage_polygons",
    "georeference",
    "pair_georeferences",
]

logger = logging.getLogger(__name__)

#: Columns of a polygon layer (besides ``geometry``).
POLYGON_COLUMNS: Final[tuple[str, ...]] = ("pair_id", "damage", "damage_name", "area_px")
#: CRS of a layer whose pairs lie in different CRSs (one layer has one CRS).
DEFAULT_LAYER_CRS: Final[str] = "EPSG:4326"

Georef = tuple[Affine | None, CRS | None]


def georeference(path: str | Path) -> Georef:
    """The geotransform and CRS of an image, or ``(None, None)`` without a CRS.

    Args:
        path: A GeoTIFF, or a PNG (xBD PNGs have no CRS; rasterio's
            ``NotGeoreferencedWarning`` is silenced).

    Returns:
        ``(transform, crs)`` (pixel corner to CRS coordinates), or ``(None, None)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RasterReadError: ``path`` is not a readable raster.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image {path} does not exist.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                transform, crs = src.transform, src.crs
    except RasterioIOError as exc:
        raise RasterReadError(f"Cannot read {path} as a raster: {exc}") from exc
    if crs is None:
        return None, None
    return transform, crs


def pair_georeferences(
    pairs: pd.DataFrame, raw_root: str | Path, column: str = "post_image"
) -> dict[str, Georef]:
    """:func:`georeference` of one image per pair of the pair index.

    Args:
        pairs: Rows of the pair index (``pair_id`` and ``column``, paths relative to
            ``raw_root``).
        raw_root: The raw root.
        column: Which image of the pair (``pre_image`` or ``post_image``).

    Returns:
        ``pair_id -> (transform, crs)`` or ``(None, None)``.

    Raises:
        KeyError: ``pairs`` lacks ``pair_id`` or ``column``.
    """
    missing = [c for c in ("pair_id", column) if c not in pairs.columns]
    if missing:
        raise KeyError(f"The pair index lacks column(s) {missing}.")
    root = Path(raw_root)
    return {
        str(pair_id): georeference(root / str(image))
        for pair_id, image in zip(pairs["pair_id"], pairs[column], strict=True)
    }


def _empty(crs: Any) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(
        {
            "pair_id": pd.Series(dtype=object),
            "damage": pd.Series(dtype=np.int64),
            "damage_name": pd.Series(dtype=object),
            "area_px": pd.Series(dtype=np.int64),
        }
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def damage_polygons(
    damage_mask: MaskLike,
    pair_id: str,
    transform: Affine | None = None,
    crs: CRS | str | None = None,
    *,
    connectivity: int = 4,
) -> gpd.GeoDataFrame:
    """One polygon per connected region of one predicted damage class (1..4).

    Args:
        damage_mask: ``(H, W)`` damage mask, values 0..4 (array, PIL image or loader).
        pair_id: The pair, written in every row.
        transform: Geotransform of the image (pixel corner to CRS), or None for pixel
            coordinates (x = column, y = row).
        crs: CRS of ``transform`` (None for pixel coordinates).
        connectivity: 4 or 8: which pixel neighbours join a region.

    Returns:
        Columns ``pair_id``, ``damage`` (int64, 1..4), ``damage_name`` (from
        :data:`DAMAGE_CLASSES`), ``area_px`` (int64, pixels of the region, holes excluded)
        and ``geometry`` (polygons along pixel edges, holes kept), in raster order.

    Raises:
        XView2MaskError: A bad mask (names the pair).
        ValueError: A CRS without a transform, or connectivity not 4 or 8.
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity={connectivity}: expected 4 or 8.")
    if crs is not None and transform is None:
        raise ValueError(f"Pair {pair_id!r}: a CRS ({crs}) was given without a transform.")
    mask = as_mask(damage_mask, f"pair {pair_id!r} damage mask")
    found = list(shapes(mask, mask=mask > 0, connectivity=connectivity))
    if not found:
        return _empty(crs)
    geoms = np.array([shapely.geometry.shape(geom) for geom, _ in found], dtype=object)
    damage = np.array([int(value) for _, value in found], dtype=np.int64)
    area = np.rint(shapely.area(geoms)).astype(np.int64)
    if transform is not None:
        a, b, c, d, e, f = tuple(transform)[:6]
        matrix, offset = np.array([[a, d], [b, e]]), np.array([c, f])
        geoms = shapely.transform(geoms, lambda xy: xy @ matrix + offset)
    frame = pd.DataFrame(
        {
            "pair_id": str(pair_id),
            "damage": damage,
            "damage_name": np.asarray(DAMAGE_CLASSES, dtype=object)[damage - 1],
            "area_px": area,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def collect_polygons(
    damage_masks: Mapping[str, MaskLike],
    georefs: Mapping[str, Georef] | None = None,
    *,
    crs: CRS | str | None = None,
    connectivity: int = 4,
) -> gpd.GeoDataFrame:
    """The polygons of many pairs in one layer.

    A layer has one coordinate system: either no pair is georeferenced (pixel
    coordinates, no CRS) or all are, reprojected to ``crs``; when ``crs`` is None, to the
    pairs' common CRS, or :data:`DEFAULT_LAYER_CRS` when they differ.

    Args:
        damage_masks: ``pair_id -> (H, W)`` damage mask (array, PIL image or loader).
        georefs: ``pair_id -> (transform, crs)`` from :func:`georeference` /
            :func:`pair_georeferences`; a missing pair is not georeferenced.
        crs: CRS of the layer, or None (see above). Ignored, with a warning, when no
            pair is georeferenced.
        connectivity: 4 or 8 (see :func:`damage_polygons`).

    Returns:
        The rows of :func:`damage_polygons` of every pair, in the mapping's order, with a
        fresh index.

    Raises:
        ValueError: Some pairs are georeferenced and others not (names a few of each).
        XView2MaskError: A bad mask (names the pair).
    """
    refs = {pair_id: (georefs or {}).get(pair_id, (None, None)) for pair_id in damage_masks}
    with_ref = [p for p, (t, c) in refs.items() if t is not None and c is not None]
    without = [p for p in refs if p not in set(with_ref)]
    if with_ref and without:
        raise ValueError(
            f"{len(with_ref)} pair(s) are georeferenced (e.g. {with_ref[:3]}) and {len(without)} "
            f"not (e.g. {without[:3]}); one layer cannot mix map and pixel coordinates."
        )
    layer_crs: CRS | None = None
    if with_ref:
        crss = {CRS.from_user_input(c) for _, c in refs.values()}
        if crs is not None:
            layer_crs = CRS.from_user_input(crs)
        elif len(crss) == 1:
            layer_crs = next(iter(crss))
        else:
            layer_crs = CRS.from_user_input(DEFAULT_LAYER_CRS)
            logger.info(
                "The pairs lie in %d CRSs; the polygon layer is in %s.", len(crss), layer_crs
            )
    elif crs is not None and damage_masks:
        logger.warning("No pair is georeferenced; crs=%s is ignored (pixel coordinates).", crs)
    parts = []
    for pair_id, mask in damage_masks.items():
        transform, pair_crs = refs[pair_id]
        part = damage_polygons(mask, pair_id, transform, pair_crs, connectivity=connectivity)
        if layer_crs is not None and not part.empty and CRS.from_user_input(pair_crs) != layer_crs:
            part = part.to_crs(layer_crs)
        parts.append(part.set_crs(layer_crs, allow_override=True) if part.empty else part)
    if not parts:
        return _empty(layer_crs)
    frame = pd.concat(parts, ignore_index=True)
    layer = gpd.GeoDataFrame(frame, geometry="geometry", crs=layer_crs)
    logger.info("%d damage polygons from %d pairs.", len(layer), len(parts))
    return layer
