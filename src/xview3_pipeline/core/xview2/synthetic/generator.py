"""Writing a whole synthetic xBD dataset, atomically.

The raw root and the truth root are each written into a hidden sibling folder and
swapped in only when both are complete, so an interrupted run leaves neither half
written. A marker file records that a folder was generated; a non-empty folder without
it (for example the real xBD data) is never overwritten.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning

from xview3_pipeline.core.errors import DatasetLayoutError
from xview3_pipeline.core.xview2.synthetic.config import Xview2SyntheticConfig
from xview3_pipeline.core.xview2.synthetic.damage import apply_damage, assign_damage, hazard_field
from xview3_pipeline.core.xview2.synthetic.events import (
    Acquisition,
    PairPlan,
    plan_events,
    plan_pairs,
)
from xview3_pipeline.core.xview2.synthetic.labels import label_document, metadata, tile_transform
from xview3_pipeline.core.xview2.synthetic.layout import MAX_HEIGHT_M, TileLayout, plan_layout
from xview3_pipeline.core.xview2.synthetic.misalign import max_displacement_px
from xview3_pipeline.core.xview2.synthetic.render import finish, leaned_footprints, render_tile
from xview3_pipeline.core.xview2.synthetic.xbd import (
    IMAGE_SUFFIX,
    SUBTYPES,
    Phase,
    image_path,
    label_path,
)

logger = logging.getLogger(__name__)

#: File written at the top of a generated raw root and of its truth root.
MARKER_FILE = ".xview2_synthetic.json"
#: The split whose labels go to the truth root instead of the raw root.
TRUTH_SPLIT = "test"
#: Columns of :attr:`GeneratedXview2Dataset.buildings`.
BUILDING_COLUMNS = (
    "image_id", "split", "disaster", "disaster_type", "uid", "subtype", "height_m", "area_m2",
)  # fmt: skip


@dataclass(frozen=True)
class GeneratedXview2Dataset:
    """What the generator wrote.

    Attributes:
        raw_root: ``<raw_root>/<split>/{images,labels}/`` (``test`` has images only).
        truth_root: ``<truth_root>/test/labels/``: the labels of the test pairs.
        manifest: One row per image: image_id, split, phase, disaster, disaster_type,
            image and label paths (relative to their root; ``label_root`` says which),
            capture_date, sensor, gsd, off_nadir_angle, sun_azimuth, sun_elevation,
            target_azimuth, season, epsg, the misalignment (shift_x_px, shift_y_px,
            rotation_deg, scale; identity on pre rows), the lean of a roof per metre of
            height (lean_x_px_per_m, lean_y_px_per_m), n_buildings and one
            ``n_<subtype>`` count per subtype (post rows).
        buildings: One row per building and pair: image_id, split, disaster,
            disaster_type, uid, subtype, height_m and the ground footprint area in m².
    """

    raw_root: Path
    truth_root: Path
    manifest: pd.DataFrame
    buildings: pd.DataFrame


def _check_target(root: Path, what: str) -> None:
    if root.exists() and not root.is_dir():
        raise DatasetLayoutError(f"{what} {root} exists and is not a folder.")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER_FILE).is_file():
        raise DatasetLayoutError(
            f"Refusing to write a synthetic xBD dataset into {root}: it is not empty and has "
            f"no {MARKER_FILE} marker, so it may hold real data. Choose another {what} or "
            "empty it."
        )


def _check_roots(raw_root: Path, truth_root: Path) -> None:
    raw, truth = raw_root.resolve(), truth_root.resolve()
    if raw == truth or raw in truth.parents or truth in raw.parents:
        raise DatasetLayoutError(
            f"truth_root {truth_root} and raw_root {raw_root} must be separate folders, neither "
            "inside the other: the test truth must stay outside the raw data."
        )
    _check_target(raw_root, "raw_root")
    _check_target(truth_root, "truth_root")


def write_image(
    path: Path, rgb: np.ndarray, transform: Any = None, epsg: int | None = None
) -> None:
    """Write an RGB image as PNG, or as GeoTIFF when ``path`` ends with ``.tif``.

    Args:
        path: Target file.
        rgb: ``[H, W, 3]`` uint8.
        transform: Geotransform of a GeoTIFF.
        epsg: EPSG code of a GeoTIFF's CRS.
    """
    profile: dict[str, Any] = {
        "width": rgb.shape[1], "height": rgb.shape[0], "count": 3, "dtype": "uint8",
    }  # fmt: skip
    if path.suffix == ".tif":
        profile |= {"driver": "GTiff", "crs": CRS.from_epsg(epsg), "transform": transform,
                    "compress": "deflate", "photometric": "RGB"}  # fmt: skip
    else:
        profile |= {"driver": "PNG"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.moveaxis(rgb, -1, 0))


def _margin(config: Xview2SyntheticConfig, gsd: float) -> float:
    """Distance from the edge that keeps every misaligned, leaning post polygon inside."""
    lean = MAX_HEIGHT_M * math.tan(math.radians(config.off_nadir_deg[1])) / gsd
    shift = max_displacement_px(
        config.image_size,
        max_shift_px=config.max_shift_px,
        max_rotation_deg=config.max_rotation_deg,
        max_scale=config.max_scale,
    )
    return 1.0 + lean + shift


def _phases(plan: PairPlan) -> tuple[tuple[Phase, Acquisition], tuple[Phase, Acquisition]]:
    return ("pre", plan.pre), ("post", plan.post)


def _render_pair(
    plan: PairPlan, config: Xview2SyntheticConfig
) -> tuple[TileLayout, list[str], dict[Phase, tuple[np.ndarray, list[Any]]]]:
    """Layout, damage and both images of a pair with the polygons of each."""
    size, event = config.image_size, plan.event
    rng = np.random.default_rng(plan.seed)
    layout = plan_layout(
        rng, size=size, gsd=event.gsd, block_m=event.block_m, road_m=event.road_m,
        occupancy=config.occupancy, margin_px=_margin(config, event.gsd),
    )  # fmt: skip
    field = hazard_field(rng, size, event.gsd, event.disaster_type)
    subtypes = assign_damage(rng, layout, field, event.disaster_type, config.unclassified_share)
    out = {}
    for phase, acq in _phases(plan):
        roofs = leaned_footprints(layout, acq.lean_px_per_m(event.gsd))
        image, roof_ids = render_tile(layout, acq, rng, roofs)
        if phase == "post":
            image = apply_damage(
                image, roof_ids, subtypes, field=field, disaster_type=event.disaster_type,
                rng=rng, gsd=event.gsd,
            )  # fmt: skip
            image = plan.misalignment.apply_to_image(image)
            roofs = [plan.misalignment.apply_to_geometry(r, size) for r in roofs]
        out[phase] = (finish(image, acq, rng), roofs)
    return layout, subtypes, out


def _write_pair(
    plan: PairPlan, config: Xview2SyntheticConfig, raw: Path, truth: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    layout, subtypes, images = _render_pair(plan, config)
    size, event = config.image_size, plan.event
    transform = tile_transform(plan, size)
    uids = [b.uid for b in layout.buildings]
    suffix = IMAGE_SUFFIX[config.image_format]
    labels_root = truth if plan.split == TRUTH_SPLIT else raw
    rows = []
    for phase, acq in _phases(plan):
        rgb, polygons = images[phase]
        img = image_path(raw, plan.split, plan.image_id, phase, suffix)
        lab = label_path(labels_root, plan.split, plan.image_id, phase)
        img.parent.mkdir(parents=True, exist_ok=True)
        lab.parent.mkdir(parents=True, exist_ok=True)
        write_image(img, rgb, transform, event.epsg)
        doc = label_document(
            polygons, uids, subtypes if phase == "post" else None,
            meta=metadata(plan, phase, acq, size, suffix), transform=transform, epsg=event.epsg,
        )  # fmt: skip
        lab.write_text(json.dumps(doc))
        m = plan.misalignment if phase == "post" else None
        lean = acq.lean_px_per_m(event.gsd)
        counts = {f"n_{s}": (subtypes.count(s) if phase == "post" else 0) for s in SUBTYPES}
        rows.append({
            "image_id": plan.image_id, "split": plan.split, "phase": phase,
            "disaster": event.name, "disaster_type": event.disaster_type,
            "image": img.relative_to(raw).as_posix(), "label": lab.relative_to(labels_root).as_posix(),
            "label_root": "truth" if labels_root is truth else "raw",
            "capture_date": acq.capture_date, "sensor": event.sensor, "gsd": event.gsd,
            "off_nadir_angle": acq.off_nadir_deg, "sun_azimuth": acq.sun_azimuth_deg,
            "sun_elevation": acq.sun_elevation_deg, "target_azimuth": acq.target_azimuth_deg,
            "season": acq.season, "epsg": event.epsg,
            "shift_x_px": m.shift_x_px if m else 0.0, "shift_y_px": m.shift_y_px if m else 0.0,
            "rotation_deg": m.rotation_deg if m else 0.0, "scale": m.scale if m else 1.0,
            "lean_x_px_per_m": round(lean[0], 6), "lean_y_px_per_m": round(lean[1], 6),
            "n_buildings": len(uids), **counts,
        })  # fmt: skip
    buildings = [
        {"image_id": plan.image_id, "split": plan.split, "disaster": event.name,
         "disaster_type": event.disaster_type, "uid": b.uid, "subtype": s,
         "height_m": b.height_m, "area_m2": round(b.footprint.area * event.gsd**2, 2)}
        for b, s in zip(layout.buildings, subtypes, strict=True)
    ]  # fmt: skip
    return rows, buildings


def generate_xview2_dataset(
    config: Xview2SyntheticConfig, raw_root: str | Path, truth_root: str | Path
) -> GeneratedXview2Dataset:
    """Generate a synthetic dataset in the xBD layout.

    Writes ``<raw_root>/<split>/images/<disaster>_<id>_{pre,post}_disaster.png`` (``.tif``
    with ``image_format: geotiff``) for ``train``, ``test`` and ``hold``, the labels
    ``<raw_root>/<split>/labels/<same>.json`` of ``train`` and ``hold``, and the labels of
    ``test`` under ``<truth_root>/test/labels/``.

    Args:
        config: Generator configuration; the same configuration gives identical files.
        raw_root: The raw root; replaced as a whole if it holds an earlier synthetic
            dataset.
        truth_root: Folder of the test truth, outside the raw root; replaced likewise.

    Returns:
        The roots, the image manifest and the building table.

    Raises:
        DatasetLayoutError: If a root is a non-empty folder that was not generated, or if
            one root lies inside the other.
        ValueError: If the configuration is out of range.
    """
    config.validate()
    raw, truth = Path(raw_root), Path(truth_root)
    _check_roots(raw, truth)
    stages = []
    for root in (raw, truth):
        root.parent.mkdir(parents=True, exist_ok=True)
        stage = root.parent / f".{root.name}.partial-{os.getpid()}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
        stages.append(stage)
    t_start = time.perf_counter()
    try:
        pairs = plan_pairs(config, plan_events(config))
        rows: list[dict[str, Any]] = []
        buildings: list[dict[str, Any]] = []
        for i, plan in enumerate(pairs, start=1):
            t0 = time.perf_counter()
            pair_rows, pair_buildings = _write_pair(plan, config, stages[0], stages[1])
            rows += pair_rows
            buildings += pair_buildings
            logger.info(
                "Pair %d/%d %s (%s, %s): %d buildings, %.2f s", i, len(pairs), plan.image_id,
                plan.split, plan.event.disaster_type, len(pair_buildings), time.perf_counter() - t0,
            )  # fmt: skip
        marker = {"generator": "xview3_pipeline.core.xview2.synthetic", "config": asdict(config)}
        for stage in stages:
            (stage / MARKER_FILE).write_text(json.dumps(marker, indent=2, default=list))
        for stage, root in zip(stages, (raw, truth), strict=True):
            _swap_in(stage, root)
    except BaseException:
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    logger.info(
        "Wrote %d xBD pairs to %s in %.1f s", len(pairs), raw, time.perf_counter() - t_start
    )
    return GeneratedXview2Dataset(
        raw_root=raw,
        truth_root=truth,
        manifest=pd.DataFrame(rows),
        buildings=pd.DataFrame(buildings, columns=list(BUILDING_COLUMNS)),
    )


def _swap_in(stage: Path, root: Path) -> None:
    """Replace ``root`` by ``stage`` with renames; the old tree is deleted last."""
    old = None
    if root.exists():
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        root.rename(old)
    stage.rename(root)
    if old is not None:
        shutil.rmtree(old)
