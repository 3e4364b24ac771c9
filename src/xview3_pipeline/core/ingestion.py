"""Ingestion: index the scenes of a raw root and validate its label files.

Thin orchestration over :mod:`xview3_pipeline.core.io.scenes` and
:mod:`xview3_pipeline.core.io.labels`; memory per scene is bounded by the decimated read of
:func:`~xview3_pipeline.core.io.scenes.read_scene_info` (at most ``max_side ** 2`` pixels).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from xview3_pipeline.core.constants import LABEL_FILES, SPLITS
from xview3_pipeline.core.errors import DatasetLayoutError
from xview3_pipeline.core.io import layout
from xview3_pipeline.core.io.labels import LabelValidationResult, read_label_file, validate_labels
from xview3_pipeline.core.io.scene import Scene
from xview3_pipeline.core.io.scenes import SceneSummary, discover_scenes, read_scene_info

logger = logging.getLogger(__name__)

#: Columns of the scene index, in order (plus ``geometry``, the WGS84 footprint).
SCENE_INDEX_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "split",
    "scene_dir",
    "vv_path",
    "vh_path",
    "crs",
    "transform",
    "width",
    "height",
    "pixel_size_m",
    "nodata_fraction",
    "vv_mean",
    "vv_std",
    "vv_min",
    "vv_max",
    "vh_mean",
    "vh_std",
    "vh_min",
    "vh_max",
    "centroid_lon",
    "centroid_lat",
    "footprint_area_km2",
    "ancillary_missing",
    "shoreline_path",
    "decimation",
)


def _record(info: SceneSummary, root: Path | None) -> dict[str, Any]:
    """One scene-index row (without geometry); paths relative to ``root`` when given."""
    scene = info.scene
    return {
        "scene_id": scene.scene_id,
        "split": scene.split,
        "scene_dir": layout.relative_to_root(scene.scene_dir, root),
        "vv_path": layout.relative_to_root(scene.vv_path, root),
        "vh_path": layout.relative_to_root(scene.vh_path, root),
        "crs": info.crs,
        "transform": [float(v) for v in info.transform],
        "width": scene.width,
        "height": scene.height,
        "pixel_size_m": info.pixel_size_m,
        "nodata_fraction": info.nodata_fraction,
        "vv_mean": info.vv.mean,
        "vv_std": info.vv.std,
        "vv_min": info.vv.min,
        "vv_max": info.vv.max,
        "vh_mean": info.vh.mean,
        "vh_std": info.vh.std,
        "vh_min": info.vh.min,
        "vh_max": info.vh.max,
        "centroid_lon": info.centroid_lon,
        "centroid_lat": info.centroid_lat,
        "footprint_area_km2": info.footprint_area_km2,
        "ancillary_missing": ",".join(info.ancillary_missing),
        "shoreline_path": (
            layout.relative_to_root(scene.shoreline_path, root) if scene.shoreline_path else None
        ),
        "decimation": info.decimation,
    }


def build_scene_index(
    raw_root: str | Path, *, splits: Iterable[str] = SPLITS, max_side: int = 2048
) -> gpd.GeoDataFrame:
    """Index every scene of a raw root.

    Args:
        raw_root: Root of the xView3 layout.
        splits: Splits to index (missing split folders are skipped).
        max_side: Longest side (pixels) of the decimated read of each scene.

    Returns:
        One row per scene, columns ``SCENE_INDEX_COLUMNS`` plus ``geometry`` (footprint of the
        valid data, EPSG:4326). ``transform`` is a list of 6 floats ``(a, b, c, d, e, f)``;
        ``ancillary_missing`` a comma-joined list of ``ANCILLARY_FILES`` keys (``""`` if none);
        ``shoreline_path`` a path or None. The path columns (``scene_dir``, ``vv_path``,
        ``vh_path``, ``shoreline_path``) are POSIX paths relative to ``raw_root``, so the
        index stays valid when the project and raw root are moved; open them with
        :func:`~xview3_pipeline.core.io.layout.resolve_scene_paths`. Survives
        ``to_parquet``/``read_parquet``.

    Raises:
        FileNotFoundError: If the raw root does not exist.
        DatasetLayoutError: If the raw root holds no scene folder.
        SceneNotFoundError, RasterReadError, SceneGeometryError, InvalidSceneIdError: On a bad
            scene (see :func:`~xview3_pipeline.core.io.scenes.read_scene_info`).
    """
    splits = tuple(splits)
    scenes = discover_scenes(raw_root, splits)
    if not scenes:
        root = Path(raw_root).expanduser().absolute()
        raise DatasetLayoutError(
            f"No scene folder found under raw root {root} (splits {list(splits)}); expected "
            "<raw root>/<split>/<scene_id>/VV_dB.tif and VH_dB.tif."
        )
    return index_scenes(scenes, max_side=max_side, root=raw_root)


def index_scenes(
    scenes: Sequence[Scene], *, max_side: int = 2048, root: str | Path | None = None
) -> gpd.GeoDataFrame:
    """Index given scene folders (see :func:`build_scene_index` for the columns).

    Args:
        scenes: Scene handles with a split (e.g. from
            :func:`~xview3_pipeline.core.io.scenes.discover_scenes`).
        max_side: Longest side (pixels) of the decimated read of each scene.
        root: Store the path columns relative to this folder (the raw root); None stores
            absolute paths (scenes that are not under one raw root).

    Returns:
        One row per scene, in the order of ``scenes``.
    """
    root_path = Path(root) if root is not None else None
    records: list[dict[str, Any]] = []
    geometries = []
    for i, scene in enumerate(scenes, start=1):
        info = read_scene_info(scene, max_side=max_side)
        records.append(_record(info, root_path))
        geometries.append(info.footprint)
        logger.info(
            "Indexed scene %d/%d: %s/%s (%dx%d px, nodata %.1f%%, decimation %d).",
            i,
            len(scenes),
            scene.split,
            scene.scene_id,
            info.scene.height,
            info.scene.width,
            100.0 * info.nodata_fraction,
            info.decimation,
        )
    frame = pd.DataFrame.from_records(records, columns=list(SCENE_INDEX_COLUMNS))
    frame["width"] = frame["width"].astype("int64")
    frame["height"] = frame["height"].astype("int64")
    frame["decimation"] = frame["decimation"].astype("int64")
    # Object dtype keeps None (a string dtype would turn it into NaN).
    frame["shoreline_path"] = pd.Series(
        [r["shoreline_path"] for r in records], index=frame.index, dtype=object
    )
    return gpd.GeoDataFrame(frame, geometry=geometries, crs="EPSG:4326")


def validate_labels_in_root(
    raw_root: str | Path,
    scene_index: pd.DataFrame,
    *,
    strict: bool = True,
    near_shore_km: float = 2.0,
) -> LabelValidationResult:
    """Read and validate the label files of a raw root against its scene index.

    ``train.csv`` and ``validation.csv`` are read when they exist. A labelled split with
    scenes in the index but no label file is an error; a label file whose split has no scene
    is read, and its rows are then "unknown scene" problems.

    Args:
        raw_root: Root of the xView3 layout.
        scene_index: Scene table with columns ``scene_id``, ``split``, ``width``, ``height``
            (e.g. the output of :func:`build_scene_index`).
        strict: Raise on any invalid row (default), else set invalid rows aside.
        near_shore_km: Threshold (km) of the ``is_near_shore`` flag.

    Returns:
        Normalised labels and rejected rows (see
        :func:`~xview3_pipeline.core.io.labels.validate_labels`).

    Raises:
        FileNotFoundError: If a labelled split has scenes but no label file.
        LabelValidationError: On invalid rows (strict mode) or missing columns.
    """
    root = Path(raw_root).expanduser().absolute()
    splits_with_scenes = set(scene_index["split"].astype(str)) if len(scene_index) else set()
    frames: dict[str, pd.DataFrame] = {}
    names: dict[str, str] = {}
    for split in LABEL_FILES:
        path = layout.label_file(root, split)
        if path.is_file():
            frames[split] = read_label_file(path)
            names[split] = path.name
        elif split in splits_with_scenes:
            raise FileNotFoundError(
                f"Label file {path} does not exist but {root / split} holds scenes; expected "
                f"the official {path.name} next to the split folders."
            )
        else:
            logger.info("No %s and no %s scene; skipping.", path.name, split)
    return validate_labels(
        frames,
        scene_index,
        strict=strict,
        near_shore_km=near_shore_km,
        label_files=names,
    )


def ingestion_report(
    scene_index: pd.DataFrame, labels: pd.DataFrame, rejects: pd.DataFrame
) -> dict[str, Any]:
    """Summary of an ingestion run, for a person to read.

    Args:
        scene_index: Output of :func:`build_scene_index`.
        labels: Validated labels.
        rejects: Rejected label rows (with a ``reason`` column).

    Returns:
        A JSON-serialisable mapping: scenes, labels and rejected rows per split, the
        reasons of rejection with their counts, scenes with missing ancillary rasters and
        the mean nodata share.
    """
    reasons: dict[str, int] = {}
    if len(rejects):
        for reason in rejects["reason"].astype(str).str.split("; ").explode():
            key = reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    per_split = {}
    for split in SPLITS:
        per_split[split] = {
            "scenes": int((scene_index["split"] == split).sum()),
            "labels": int((labels["split"] == split).sum()) if len(labels) else 0,
            "rejected": int((rejects["split"] == split).sum()) if len(rejects) else 0,
        }
    return {
        "scenes": len(scene_index),
        "labels": len(labels),
        "rejected_rows": len(rejects),
        "per_split": per_split,
        "reject_reasons": reasons,
        "scenes_missing_ancillary": sorted(
            scene_index.loc[scene_index["ancillary_missing"] != "", "scene_id"].tolist()
        ),
        "mean_nodata_fraction": float(scene_index["nodata_fraction"].mean()),
    }
