"""Benchmark: training data loading (read, augment, normalise, encode) per batch.

Run on demand (not part of the tests), from the repository root, after the data pipelines
have produced the scene index, labels and fold table of the synthetic data::

    python benchmarks/bench_dataloading.py [--crops 256 512] [--workers 0 2] [--batches 40]

Builds :class:`CircleNetCropDataset` over the fold-0 training scenes of
``data/01_raw/xview3`` with the winner's augmentations and the sigmoid normalisation, and
times batches of 8 through a ``DataLoader`` for every (crop size, num_workers) pair. The
first ``--warmup`` batches (worker start-up, file opening) are excluded. Writes
``dataloading.csv`` with seconds per batch (mean, median, max) and samples per second.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from xview3_pipeline.core.data import CircleNetCropDataset, build_augmentations, fold_scenes
from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig

logger = logging.getLogger("bench")


def bench(
    scenes: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    crop: int,
    workers: int,
    batch_size: int,
    batches: int,
    warmup: int,
) -> dict[str, float]:
    """Time ``batches`` batches after ``warmup`` ones; returns one result row."""
    dataset = CircleNetCropDataset(
        scenes,
        labels,
        None,  # shorelines from the scene index's shoreline_path column
        None,  # default sampler settings (the winner's code: object_crop_p 0.8, balanced weighting)
        CircleNetCoder(CoderConfig(stride=2)),
        augmentations=build_augmentations("winner"),
        crop_size=crop,
        length=batch_size * (batches + warmup),
        seed=0,
    )
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    times = []
    t_prev = time.perf_counter()
    for batch in loader:
        now = time.perf_counter()
        times.append(now - t_prev)
        t_prev = now
        assert batch["image"].shape == (batch_size, 2, crop, crop)
    timed = np.asarray(times[warmup:])
    return {
        "crop_px": crop,
        "batch_size": batch_size,
        "num_workers": workers,
        "batches": len(timed),
        "s_per_batch_mean": round(float(timed.mean()), 4),
        "s_per_batch_median": round(float(np.median(timed)), 4),
        "s_per_batch_max": round(float(timed.max()), 4),
        "samples_per_s": round(batch_size / float(timed.mean()), 1),
    }


def main() -> None:
    """Parse arguments, run the benchmark, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument(
        "--scene-index", type=Path, default=Path("data/02_intermediate/scene_index.parquet")
    )
    parser.add_argument("--labels", type=Path, default=Path("data/02_intermediate/labels.parquet"))
    parser.add_argument("--folds", type=Path, default=Path("data/03_primary/fold_assignments.csv"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    scenes = fold_scenes(
        pd.read_parquet(args.scene_index), pd.read_csv(args.folds), args.fold, "train"
    )
    labels = pd.read_parquet(args.labels)
    logger.info(
        "%d training scenes (%s px), %d CPUs",
        len(scenes),
        sorted({f"{h}x{w}" for h, w in zip(scenes["height"], scenes["width"], strict=True)}),
        os.cpu_count() or 0,
    )
    rows = [
        bench(
            scenes,
            labels,
            crop=crop,
            workers=workers,
            batch_size=args.batch_size,
            batches=args.batches,
            warmup=args.warmup,
        )
        for crop in args.crops
        for workers in args.workers
    ]
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "dataloading.csv", index=False)
    logger.info("\n%s", table.to_string(index=False))


if __name__ == "__main__":
    main()
