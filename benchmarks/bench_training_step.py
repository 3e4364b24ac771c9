"""Benchmark: time per training step of a preset against data-loading time per batch.

Run on demand after the ``ingestion`` and ``folds`` stages (it reads their outputs)::

    python benchmarks/bench_training_step.py [--preset cpu_small] [--crop 256] [--batch 8]

Measures, on fold 0's training scenes, (a) the time to produce one batch with the
training dataset (crop sampling, windowed reads, augmentations, encoding) in the main
process, and (b) the time of one optimisation step (forward, loss, backward, AdamW
step) on a fixed batch. Writes ``benchmarks/results/training_step.csv``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import torch

from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig
from xview3_pipeline.core.losses import CircleNetLoss
from xview3_pipeline.core.models import build_model
from xview3_pipeline.core.training.config import TrainingConfig
from xview3_pipeline.core.training.system import batch_targets
from xview3_pipeline.core.training.train import build_loaders, select_fold

logger = logging.getLogger("bench")


def main() -> None:
    """Parse arguments, measure, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    index = gpd.read_parquet(args.data / "02_intermediate/scene_index.parquet")
    labels = pd.read_parquet(args.data / "02_intermediate/labels.parquet")
    folds = pd.read_csv(args.data / "03_primary/fold_assignments.csv", dtype={"scene_id": str})
    config = TrainingConfig.from_dict(
        {
            "model": {"preset": args.preset},
            "data": {
                "crop_size": args.crop,
                "batch_size": args.batch,
                "epoch_samples": args.batch * args.batches,
                "num_workers": 0,
            },
        }
    )
    coder = CircleNetCoder(CoderConfig())
    loader, _ = build_loaders(config, select_fold(index, folds, labels, 0, {}), coder)

    load_times = []
    t0 = time.perf_counter()
    batches = []
    for batch in loader:
        load_times.append(time.perf_counter() - t0)
        batches.append(batch)
        t0 = time.perf_counter()

    model = build_model(args.preset)
    loss_fn = CircleNetLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    step_times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        optimizer.zero_grad()
        terms = loss_fn(model(batch["image"]), batch_targets(batch), batch["sample_weight"])
        terms["total"].backward()
        optimizer.step()
        if i > 0:  # the first step includes one-off allocations
            step_times.append(time.perf_counter() - t0)

    row = {
        "preset": args.preset,
        "crop": args.crop,
        "batch": args.batch,
        "torch_threads": torch.get_num_threads(),
        "load_s_per_batch_median": round(statistics.median(load_times), 4),
        "step_s_median": round(statistics.median(step_times), 4),
        "load_over_step": round(statistics.median(load_times) / statistics.median(step_times), 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([row])
    table.to_csv(args.out / "training_step.csv", index=False)
    logger.info("\n%s", table.to_string(index=False))


if __name__ == "__main__":
    main()
