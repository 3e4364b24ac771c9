"""Tiny GeoTIFF scenes in the xView3 layout, for tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from xview3_pipeline.core.constants import ANCILLARY_FILES, NODATA, VH_FILE, VV_FILE

#: Upper-left corner of the test scenes in EPSG:32631 (near 3°E, 45°N).
ORIGIN = (500_000.0, 5_000_000.0)


@dataclass
class TinyScene:
    """What was written, for assertions."""

    scene_dir: Path
    vv: np.ndarray
    vh: np.ndarray
    valid: np.ndarray  # pixels valid in both channels
    transform: Affine
    crs: str


def write_raster(
    path: Path,
    array: np.ndarray,
    *,
    transform: Affine | None = None,
    crs: str | None = "EPSG:32631",
    nodata: float | None = NODATA,
) -> Path:
    """Write a single-band float32 GeoTIFF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if transform is None:
        transform = Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1])
    profile = {
        "driver": "GTiff",
        "height": array.shape[0],
        "width": array.shape[1],
        "count": 1,
        "dtype": array.dtype.name,
        "transform": transform,
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return path


def corner_triangle(height: int, width: int, size: int) -> np.ndarray:
    """Boolean mask of the upper-left triangle ``row + col < size``."""
    rows, cols = np.indices((height, width))
    return (rows + cols) < size


def write_scene(
    root: Path,
    split: str,
    scene_id: str,
    *,
    height: int = 48,
    width: int = 64,
    pixel: float = 10.0,
    crs: str = "EPSG:32631",
    origin: tuple[float, float] = ORIGIN,
    triangle: int = 20,
    seed: int = 0,
    ancillary: tuple[str, ...] = tuple(ANCILLARY_FILES),
    shoreline: bool = False,
) -> TinyScene:
    """Write VV/VH (float32 dB, nodata -32768 in an upper-left triangle) and ancillaries."""
    rng = np.random.default_rng(seed)
    vv = rng.normal(-18.0, 3.0, (height, width)).astype(np.float32)
    vh = rng.normal(-25.0, 2.0, (height, width)).astype(np.float32)
    invalid = corner_triangle(height, width, triangle)
    vv[invalid] = NODATA
    vh[invalid] = NODATA
    transform = Affine(pixel, 0.0, origin[0], 0.0, -pixel, origin[1])
    scene_dir = root / split / scene_id
    write_raster(scene_dir / VV_FILE, vv, transform=transform, crs=crs)
    write_raster(scene_dir / VH_FILE, vh, transform=transform, crs=crs)
    for key in ancillary:
        small = np.zeros((max(1, height // 50), max(1, width // 50)), dtype=np.float32)
        anc_transform = Affine(pixel * 50, 0.0, origin[0], 0.0, -pixel * 50, origin[1])
        write_raster(scene_dir / ANCILLARY_FILES[key], small, transform=anc_transform, crs=crs)
    if shoreline:
        shore_dir = root / "shoreline" / split
        shore_dir.mkdir(parents=True, exist_ok=True)
        np.save(shore_dir / f"{scene_id}_shoreline.npy", np.empty(0, dtype=object))
    return TinyScene(scene_dir, vv, vh, ~invalid, transform, crs)
