"""Discovery of xView3 scene folders and a bounded-memory summary of each scene.

A scene lives in ``<raw root>/<split>/<scene_id>/`` with ``VV_dB.tif`` and ``VH_dB.tif``
(float dB, 10 m UTM pixels, nodata -32768) and optional 500 m ancillary rasters.

Memory bound: :func:`read_scene_info` never reads a full-resolution scene. Each SAR channel is
read once, decimated by rasterio/GDAL (``out_shape``, nearest neighbour) so that its longer side
is at most ``max_side`` pixels; the largest arrays held are a few arrays of at most
``max_side ** 2`` elements (about 16 MiB each for float32 at the default ``max_side=2048``),
whatever the size of the scene on disk. The reads run under a GDAL block cache of
:data:`GDAL_CACHE_MB`: a decimated read of a raster without overviews (the real xView3 files)
decodes every block of the scene, and GDAL's default cache (5 % of RAM) would keep them all.
For scenes not larger than ``max_side`` the read is at
full resolution and every statistic is exact; otherwise statistics, the nodata fraction and the
footprint are computed on the decimated grid.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from shapely.geometry import MultiPolygon, Polygon

from xview3_pipeline.core.constants import (
    ANCILLARY_FILES,
    NODATA,
    SHORELINE_DIR,
    SPLITS,
    VH_FILE,
    VV_FILE,
)
from xview3_pipeline.core.errors import (
    DatasetLayoutError,
    RasterReadError,
    SceneGeometryError,
    SceneNotFoundError,
)
from xview3_pipeline.core.io import layout
from xview3_pipeline.core.io.ancillary import find_shoreline_file
from xview3_pipeline.core.io.footprint import footprint_in_crs, metric_summary, to_wgs84
from xview3_pipeline.core.io.scene import Scene

logger = logging.getLogger(__name__)

#: GDAL block cache (``GDAL_CACHEMAX``, MiB) of the decimated reads of a scene.
GDAL_CACHE_MB = 64

_EXPECTED_LAYOUT = (
    "expected the xView3 layout <raw root>/<split>/<scene_id>/VV_dB.tif, VH_dB.tif "
    f"with <split> one of {list(SPLITS)}"
)


class _RawRootNotFoundError(DatasetLayoutError, FileNotFoundError):
    """The raw root does not exist (both a layout error and a missing file)."""


@dataclass(frozen=True)
class ChannelStats:
    """Statistics of one SAR channel over its valid pixels, in dB.

    Attributes:
        mean: Mean (dB); NaN when no pixel is valid.
        std: Population standard deviation (dB, ``ddof=0``); NaN when no pixel is valid.
        min: Minimum (dB); NaN when no pixel is valid.
        max: Maximum (dB); NaN when no pixel is valid.
        valid_count: Number of valid pixels on the (possibly decimated) grid.
    """

    mean: float
    std: float
    min: float
    max: float
    valid_count: int


@dataclass(frozen=True)
class SceneSummary:
    """Statistics of one scene, computed from a bounded decimated read, with its handle.

    Attributes:
        scene: The scene (paths, split, shoreline file), with its full-resolution
            ``shape`` ``(height, width)`` in pixels set.
        crs: CRS of the SAR rasters (``CRS.to_string()``, e.g. ``"EPSG:32631"``).
        transform: Full-resolution affine transform ``(a, b, c, d, e, f)`` in CRS units.
        pixel_size_m: Mean of the pixel width and height in metres.
        nodata_fraction: Fraction (0..1) of pixels of the decimated grid where VV or VH is
            invalid (nodata -32768, the raster's own nodata, or non-finite).
        vv: VV statistics over pixels where VV is valid (dB).
        vh: VH statistics over pixels where VH is valid (dB).
        footprint: Footprint of pixels where both channels are valid, WGS84 lon/lat
            (``Polygon`` or ``MultiPolygon``; an empty ``Polygon`` if no pixel is valid).
        centroid_lon: Footprint centroid longitude (degrees, computed in the scene CRS).
        centroid_lat: Footprint centroid latitude (degrees).
        footprint_area_km2: Footprint area in km² (computed in the scene CRS).
        ancillary_present: Keys of ``ANCILLARY_FILES`` whose file exists.
        ancillary_missing: Keys of ``ANCILLARY_FILES`` whose file is absent.
        decimation: Integer decimation factor of the read (1 = full resolution).
        decimated_shape: Shape ``(rows, cols)`` of the decimated read.
    """

    scene: Scene
    crs: str
    transform: tuple[float, float, float, float, float, float]
    pixel_size_m: float
    nodata_fraction: float
    vv: ChannelStats
    vh: ChannelStats
    footprint: Polygon | MultiPolygon
    centroid_lon: float
    centroid_lat: float
    footprint_area_km2: float
    ancillary_present: tuple[str, ...]
    ancillary_missing: tuple[str, ...]
    decimation: int
    decimated_shape: tuple[int, int]


def discover_scenes(raw_root: str | Path, splits: Iterable[str] = SPLITS) -> list[Scene]:
    """List the scene folders of a raw root, without opening their rasters.

    Split folders that do not exist are skipped. Every folder inside a split folder must be
    named by a plain scene id; regular files there are ignored. Each scene's shoreline file
    is ``<raw root>/shoreline/<split>/<scene_id>_shoreline.npy`` when it exists. Whether the
    SAR rasters exist and can be read is checked by :func:`read_scene_info` (or
    :meth:`Scene.checked`), one scene at a time.

    Args:
        raw_root: Root of the xView3 layout.
        splits: Splits to look into (each one of ``SPLITS``).

    Returns:
        Scene handles (size read lazily) sorted by split (in the order of ``splits``) then by scene id.

    Raises:
        FileNotFoundError: If ``raw_root`` does not exist (the error is also a
            ``DatasetLayoutError``).
        DatasetLayoutError: If ``raw_root`` or a split path is not a folder.
        InvalidSceneIdError: If a folder name is not a plain scene id (names the folder).
        ValueError: If a split name is unknown.
    """
    root = Path(raw_root).expanduser().absolute()
    if not root.exists():
        raise _RawRootNotFoundError(f"Raw root {root} does not exist; {_EXPECTED_LAYOUT}.")
    if not root.is_dir():
        raise DatasetLayoutError(f"Raw root {root} is not a folder; {_EXPECTED_LAYOUT}.")
    located: list[Scene] = []
    for split in dict.fromkeys(splits):
        layout.validate_split(split)
        split_dir = root / split
        if not split_dir.exists():
            logger.debug("No %s folder under %s; skipping the split.", split, root)
            continue
        if not split_dir.is_dir():
            raise DatasetLayoutError(f"{split_dir} is not a folder; {_EXPECTED_LAYOUT}.")
        found: list[Scene] = []
        for entry in split_dir.iterdir():
            if not entry.is_dir():
                continue
            scene_id = layout.validate_scene_id(entry.name, where=f"scene folder {entry}")
            shore = layout.shoreline_file(root, split, scene_id)
            found.append(
                Scene.locate(entry, split=split, shoreline_path=shore if shore.is_file() else None)
            )
        found.sort(key=lambda scene: scene.scene_id)
        located.extend(found)
    logger.debug("Found %d scene folders under %s.", len(located), root)
    return located


def _decimated_shape(width: int, height: int, max_side: int) -> tuple[int, tuple[int, int]]:
    """Integer decimation factor and decimated ``(rows, cols)`` with the longer side <= max_side."""
    factor = max(1, math.ceil(max(width, height) / max_side))
    return factor, (max(1, math.ceil(height / factor)), max(1, math.ceil(width / factor)))


def _open_checked(path: Path) -> rasterio.io.DatasetReader:
    """Open a raster, turning rasterio errors into ``RasterReadError`` naming the file."""
    try:
        return rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise RasterReadError(f"Cannot open raster {path}: {exc}") from exc


def _check_geometry(vv: rasterio.io.DatasetReader, vh: rasterio.io.DatasetReader) -> None:
    """Check that VV and VH share shape, transform and CRS, and that both have a CRS."""
    for src in (vv, vh):
        if src.crs is None:
            raise SceneGeometryError(
                f"Raster {src.name} has no CRS; expected a georeferenced raster (UTM, 10 m)."
            )
        if src.count < 1:
            raise SceneGeometryError(f"Raster {src.name} has no band.")
    if (vv.height, vv.width) != (vh.height, vh.width):
        raise SceneGeometryError(
            f"VV/VH shape mismatch: {vv.name} is {vv.height}x{vv.width} (rows x cols) but "
            f"{vh.name} is {vh.height}x{vh.width}; expected identical grids."
        )
    t1 = np.array(tuple(vv.transform)[:6], dtype=np.float64)
    t2 = np.array(tuple(vh.transform)[:6], dtype=np.float64)
    pix = float(np.max(np.abs(t1[[0, 1, 3, 4]])))
    atol = np.array([1e-6, 1e-6, 1e-3, 1e-6, 1e-6, 1e-3]) * max(pix, 1e-12)
    if not np.all(np.abs(t1 - t2) <= atol):
        raise SceneGeometryError(
            f"VV/VH transform mismatch: {vv.name} has {tuple(t1.tolist())} but {vh.name} has "
            f"{tuple(t2.tolist())}; expected identical grids."
        )
    if vv.crs != vh.crs:
        raise SceneGeometryError(
            f"VV/VH CRS mismatch: {vv.name} is {vv.crs.to_string()} but {vh.name} is "
            f"{vh.crs.to_string()}; expected identical grids."
        )


def _read_decimated(src: rasterio.io.DatasetReader, out_shape: tuple[int, int]) -> np.ndarray:
    """Read band 1 decimated to ``out_shape`` (nearest) as float32; errors name the file."""
    try:
        return src.read(1, out_shape=out_shape, resampling=Resampling.nearest, out_dtype=np.float32)
    except (RasterioError, OSError) as exc:
        raise RasterReadError(f"Cannot read raster {src.name}: {exc}") from exc


def _valid_mask(values: np.ndarray, own_nodata: float | None) -> np.ndarray:
    """Valid pixels: finite, not -32768 and not the raster's own nodata value."""
    valid = np.isfinite(values) & (values != np.float32(NODATA))
    if own_nodata is not None and not math.isnan(own_nodata) and own_nodata != NODATA:
        valid &= values != np.float32(own_nodata)
    return valid


def _channel_stats(values: np.ndarray, valid: np.ndarray) -> ChannelStats:
    """Mean/std/min/max (float64 accumulation) over the valid pixels."""
    count = int(valid.sum())
    if count == 0:
        nan = float("nan")
        return ChannelStats(mean=nan, std=nan, min=nan, max=nan, valid_count=0)
    data = values[valid]
    return ChannelStats(
        mean=float(np.mean(data, dtype=np.float64)),
        std=float(np.std(data, dtype=np.float64)),
        min=float(data.min()),
        max=float(data.max()),
        valid_count=count,
    )


def _check_files(scene: Scene) -> None:
    """Raise ``SceneNotFoundError`` naming the folder when it or a SAR raster is missing."""
    if not scene.scene_dir.is_dir():
        raise SceneNotFoundError(
            f"Scene folder {scene.scene_dir} does not exist; {_EXPECTED_LAYOUT}."
        )
    missing = [p.name for p in (scene.vv_path, scene.vh_path) if not p.is_file()]
    if missing:
        raise SceneNotFoundError(
            f"Scene folder without SAR files: {scene.scene_dir} lacks {', '.join(missing)}; "
            f"expected both {VV_FILE} and {VH_FILE}."
        )


def read_scene_info(scene: Scene, *, max_side: int = 2048) -> SceneSummary:
    """Summarise one scene from a decimated read of its VV and VH rasters.

    Args:
        scene: The scene to read (e.g. from :func:`discover_scenes`); it needs a split.
        max_side: Longest side (pixels) of the decimated read; a scene whose longer side is
            at most ``max_side`` is read at full resolution (exact statistics).

    Returns:
        The scene summary (see :class:`SceneSummary`), whose ``scene`` has its size set.

    Raises:
        SceneNotFoundError: If the scene folder, ``VV_dB.tif`` or ``VH_dB.tif`` is missing.
        RasterReadError: If a SAR raster cannot be opened or read (names the file).
        SceneGeometryError: If a raster has no CRS, or VV and VH differ in shape, transform
            or CRS (names both files and both values).
        ValueError: If ``max_side`` < 1 or the split is unknown or missing.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}.")
    layout.validate_split(str(scene.split))
    _check_files(scene)

    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB),
        _open_checked(scene.vv_path) as vv_src,
        _open_checked(scene.vh_path) as vh_src,
    ):
        _check_geometry(vv_src, vh_src)
        width, height = vv_src.width, vv_src.height
        crs: CRS = vv_src.crs
        transform: Affine = vv_src.transform
        decimation, out_shape = _decimated_shape(width, height, max_side)
        vv = _read_decimated(vv_src, out_shape)
        vv_valid = _valid_mask(vv, vv_src.nodata)
        vv_stats = _channel_stats(vv, vv_valid)
        del vv
        vh = _read_decimated(vh_src, out_shape)
        vh_valid = _valid_mask(vh, vh_src.nodata)
        vh_stats = _channel_stats(vh, vh_valid)
        del vh

    valid = vv_valid & vh_valid
    del vv_valid, vh_valid
    nodata_fraction = float(1.0 - valid.mean())
    dec_transform = transform @ Affine.scale(width / out_shape[1], height / out_shape[0])
    footprint_crs = footprint_in_crs(valid, dec_transform)
    if footprint_crs.is_empty:
        logger.warning(
            "Scene %s (%s) has no pixel valid in both VV and VH: empty footprint, NaN statistics.",
            scene.scene_id,
            scene.scene_dir,
        )
    footprint = to_wgs84(footprint_crs, crs)
    pixel_size_m, area_km2, lon, lat = metric_summary(
        crs,
        transform,
        width=width,
        height=height,
        footprint_crs=footprint_crs,
        footprint_wgs84=footprint,
    )
    present = tuple(k for k, name in ANCILLARY_FILES.items() if (scene.scene_dir / name).is_file())
    return SceneSummary(
        scene=replace(scene, shape=(int(height), int(width))),
        crs=crs.to_string(),
        transform=(
            float(transform.a),
            float(transform.b),
            float(transform.c),
            float(transform.d),
            float(transform.e),
            float(transform.f),
        ),
        pixel_size_m=float(pixel_size_m),
        nodata_fraction=nodata_fraction,
        vv=vv_stats,
        vh=vh_stats,
        footprint=footprint,
        centroid_lon=lon,
        centroid_lat=lat,
        footprint_area_km2=area_km2,
        ancillary_present=present,
        ancillary_missing=tuple(k for k in ANCILLARY_FILES if k not in present),
        decimation=decimation,
        decimated_shape=out_shape,
    )


def discover_prediction_scenes(root: str | Path) -> list[Scene]:
    """Scene folders of a folder of new scenes: the xView3 split layout or a flat folder.

    With ``train/``, ``validation/`` or ``public/`` sub-folders the split layout is read
    (:func:`discover_scenes`); otherwise every sub-folder that holds ``VV_dB.tif`` and
    ``VH_dB.tif`` is a scene (reported as split ``public``; other sub-folders are skipped
    with a log line). Each scene's shoreline file is looked up in ``<root>/shoreline/`` and
    its split sub-folders; no raster is opened.

    Args:
        root: The folder.

    Returns:
        Scene handles (size read lazily), sorted.

    Raises:
        FileNotFoundError: If ``root`` does not exist.
        DatasetLayoutError: If it holds no scene.
        InvalidSceneIdError: If a scene folder name is not a plain identifier.
    """
    base = Path(root).expanduser().absolute()
    if not base.is_dir():
        raise _RawRootNotFoundError(f"Prediction folder {base} does not exist or is not a folder.")
    if any((base / split).is_dir() for split in SPLITS):
        located = discover_scenes(base)
    else:
        located = []
        for entry in sorted(p for p in base.iterdir() if p.is_dir()):
            if not ((entry / VV_FILE).is_file() and (entry / VH_FILE).is_file()):
                logger.info("Skipping %s: no %s and %s in it.", entry, VV_FILE, VH_FILE)
                continue
            scene_id = layout.validate_scene_id(entry.name, where=f"scene folder {entry}")
            located.append(Scene.locate(entry, scene_id=scene_id, split="public"))
    if not located:
        raise DatasetLayoutError(
            f"No scene under {base}: expected <dir>/<split>/<scene_id>/ or <dir>/<scene_id>/ "
            f"folders with {VV_FILE} and {VH_FILE}."
        )
    shore_root = base / SHORELINE_DIR
    if shore_root.is_dir():
        located = [
            replace(s, shoreline_path=find_shoreline_file(shore_root, s.scene_id)) for s in located
        ]
    return located
