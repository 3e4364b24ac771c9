"""Writing a whole synthetic xView3 dataset, atomically.

The dataset is written into a hidden sibling folder of the raw root and swapped in only
when complete, so an interrupted run never leaves a half-written raw root. A marker file
records that the folder was generated; a raw root without it (for example the real
xView3 data) is never overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import LABEL_COLUMNS, LABEL_FILES, SHORELINE_DIR
from xview3_pipeline.core.errors import DatasetLayoutError
from xview3_pipeline.core.io.layout import scene_dir, shoreline_file
from xview3_pipeline.core.synthetic.config import SyntheticConfig
from xview3_pipeline.core.synthetic.labels import TRAIN_TRUTH_COLUMNS, noisy_labels, truth_table
from xview3_pipeline.core.synthetic.render import shoreline_contours, write_ancillary, write_sar
from xview3_pipeline.core.synthetic.scenario import ScenePlan, plan_dataset

logger = logging.getLogger(__name__)

#: File written at the top of a generated raw root.
MARKER_FILE = ".xview3_synthetic.json"


@dataclass(frozen=True)
class GeneratedDataset:
    """What the generator wrote, besides the files under the raw root.

    Attributes:
        root: The raw root.
        manifest: One row per scene: scene_id, split, true location_id, revisit,
            coastal, epsg, centre_lat, centre_lon, wind_speed_ms, wind_from_deg,
            tilt_deg, pass_direction, height, width, n_objects (in valid data),
            n_labels (rows written to its label file, or to the test truth), domain
            (``in``, or ``ood`` for the out-of-distribution ``public`` scenes) and one
            ``domain_<parameter>`` column per randomised parameter holding the scene's
            draw (see :class:`~xview3_pipeline.core.synthetic.domain.DomainConfig`).
        test_truth: Official label rows of the ``public`` scenes, which are written to
            no file under the raw root.
        train_truth: One row per true object of every ``train`` scene
            (:data:`~xview3_pipeline.core.synthetic.labels.TRAIN_TRUTH_COLUMNS`): the
            official columns with the true values, ``kind``, ``contrast_db`` and the noise
            record of its label (whether ``train.csv`` has a row for it, with the same
            ``detect_id``; flipped and blank fields; position and length errors).
    """

    root: Path
    manifest: pd.DataFrame
    test_truth: pd.DataFrame
    train_truth: pd.DataFrame


def _manifest_row(plan: ScenePlan, n_objects: int, n_labels: int) -> dict[str, object]:
    loc = plan.location
    return {
        "scene_id": plan.scene_id,
        "split": plan.split,
        "location_id": loc.location_id,
        "location_name": loc.name,
        "revisit": plan.revisit,
        "coastal": loc.coastal,
        "epsg": loc.epsg,
        "centre_lat": loc.lat,
        "centre_lon": loc.lon,
        "wind_speed_ms": round(plan.wind_speed, 2),
        "wind_from_deg": round(plan.wind_from_deg, 1),
        "tilt_deg": round(plan.tilt_deg, 2),
        "pass_direction": "ascending" if plan.near_range_left else "descending",
        "height": plan.height,
        "width": plan.width,
        "n_objects": n_objects,
        "n_labels": n_labels,
        "domain": "ood" if plan.ood else "in",
        **plan.domain.manifest_columns(),
    }


def _check_target(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise DatasetLayoutError(f"Raw root {root} exists and is not a folder.")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER_FILE).is_file():
        raise DatasetLayoutError(
            f"Refusing to write a synthetic dataset into {root}: it is not empty and has no "
            f"{MARKER_FILE} marker, so it may hold real data. Choose another raw_root or empty it."
        )


def _write_scene(plan: ScenePlan, root: Path) -> None:
    folder = scene_dir(root, plan.split, plan.scene_id)
    folder.mkdir(parents=True)
    write_sar(plan, folder)
    write_ancillary(plan, folder)
    shore = shoreline_file(root, plan.split, plan.scene_id)
    shore.parent.mkdir(parents=True, exist_ok=True)
    np.save(shore, shoreline_contours(plan), allow_pickle=True)


def generate_dataset(config: SyntheticConfig, root: str | Path) -> GeneratedDataset:
    """Generate a synthetic dataset in the exact xView3 layout.

    Writes ``<root>/<split>/<scene_id>/{VV_dB,VH_dB,bathymetry,owiMask,owiWindSpeed,
    owiWindDirection,owiWindQuality}.tif``, ``<root>/train.csv``, ``<root>/validation.csv``
    (official columns, header only when a split has no scenes) and
    ``<root>/shoreline/<split>/<scene_id>_shoreline.npy``. The truth of the ``public``
    scenes and of the ``train`` scenes is returned, not written under the root.

    Args:
        config: Generator configuration; the same configuration gives identical files.
        root: The raw root. It is replaced as a whole if it holds an earlier synthetic
            dataset; an existing non-empty folder without the generator's marker is an
            error.

    Returns:
        The manifest, the test truth and the train truth.

    Raises:
        DatasetLayoutError: If ``root`` exists, is not empty and was not generated.
        ValueError: If the configuration is out of range (see
            :meth:`SyntheticConfig.validate`).
    """
    config.validate()
    root = Path(root)
    _check_target(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        plans = plan_dataset(config)
        labels: dict[str, list[pd.DataFrame]] = {
            split: [] for split in ("train", "validation", "public")
        }
        train_truth: list[pd.DataFrame] = []
        manifest = []
        t_start = time.perf_counter()
        for i, plan in enumerate(plans, start=1):
            t0 = time.perf_counter()
            _write_scene(plan, staging)
            truth = truth_table(plan)
            rows, record = noisy_labels(truth, plan, config.label_noise[plan.split], plan.split)
            labels[plan.split].append(rows)
            if plan.split == "train":
                train_truth.append(pd.concat([truth, record], axis=1))
            manifest.append(_manifest_row(plan, len(truth), len(rows)))
            logger.info(
                "Scene %d/%d %s (%s, %s, %s): %d objects, %d labels, %.1f s",
                i, len(plans), plan.scene_id, plan.split, "ood" if plan.ood else "in",
                plan.location.location_id, len(truth), len(rows), time.perf_counter() - t0,
            )  # fmt: skip
        for split, filename in LABEL_FILES.items():
            frame = (
                pd.concat(labels[split], ignore_index=True)
                if labels[split]
                else pd.DataFrame(columns=list(LABEL_COLUMNS))
            )
            frame.to_csv(staging / filename, index=False)
        (staging / SHORELINE_DIR).mkdir(exist_ok=True)
        marker = {"generator": "xview3_pipeline.core.synthetic", "config": asdict(config)}
        (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2, default=list))
        _swap_in(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    test_truth = _concat(labels["public"], LABEL_COLUMNS)
    logger.info("Wrote %d scenes to %s in %.1f s", len(plans), root, time.perf_counter() - t_start)
    return GeneratedDataset(
        root=root,
        manifest=pd.DataFrame(manifest),
        test_truth=test_truth,
        train_truth=_concat(train_truth, TRAIN_TRUTH_COLUMNS),
    )


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows of all frames, or an empty frame with ``columns`` when there are none."""
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True).loc[:, list(columns)]


def _swap_in(staging: Path, root: Path) -> None:
    """Replace ``root`` by ``staging`` with renames; the old tree is deleted last."""
    old = None
    if root.exists():
        _check_target(root)
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        root.rename(old)
    staging.rename(root)
    if old is not None:
        shutil.rmtree(old)
