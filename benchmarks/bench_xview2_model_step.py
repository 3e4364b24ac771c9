"""Benchmark: time of one training step of xView2 models on the CPU.

Run on demand, on quiet cores (it reports the load average before and after)::

    python benchmarks/bench_xview2_model_step.py [--batch 4] [--crop 256] [--models ...]

Each ``--models`` entry is a preset name of ``XVIEW2_PRESETS`` or a JSON mapping for
``xview2_model_config`` (``'{"preset": "cpu_siamese_unet", "encoder_depth": 4,
"decoder_channels": [128, 64, 32, 16]}'``). The default compares the two CPU presets with
a depth-4 encoder and with smp's default U-Net widths. A step is zero_grad, forward,
cross-entropy, backward and an AdamW step on one fixed random batch ``(B, 6, crop, crop)``.
The models take turns step by step (so a change of load hits all), the first ``--warmup``
steps of each are dropped, and the minimum and median of the rest are reported. Writes
``benchmarks/results/xview2_model_step.csv``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch.nn import functional as F

from xview3_pipeline.core.xview2.models import build_xview2_model, xview2_model_config

logger = logging.getLogger("bench")

DEFAULT_MODELS = (
    "cpu_siamese_unet",
    "cpu_early_fusion_unet",
    '{"preset": "cpu_siamese_unet", "encoder_depth": 4, "decoder_channels": [128, 64, 32, 16]}',
    '{"preset": "cpu_siamese_unet", "decoder_channels": [256, 128, 64, 32, 16]}',
)


def main() -> None:
    """Parse arguments, measure, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 6, args.crop, args.crop)
    y = torch.randint(0, 5, (args.batch, args.crop, args.crop))
    configs = [
        xview2_model_config(json.loads(m) if m.lstrip().startswith("{") else m) for m in args.models
    ]
    models = [build_xview2_model(c).train() for c in configs]
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in models]
    times: list[list[float]] = [[] for _ in models]
    load_before = os.getloadavg()[0]
    for _ in range(args.steps):
        for model, optimizer, own in zip(models, optimizers, times, strict=True):
            t0 = time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            own.append(time.perf_counter() - t0)
    load_after = os.getloadavg()[0]
    rows = []
    for name, config, model, own in zip(args.models, configs, models, times, strict=True):
        kept = own[args.warmup :]
        rows.append(
            {
                "model": name,
                "architecture": config.architecture,
                "encoder": config.encoder,
                "encoder_depth": config.encoder_depth,
                "decoder_channels": list(config.decoder_channels),
                "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                "batch": args.batch,
                "crop": args.crop,
                "torch_threads": torch.get_num_threads(),
                "step_s_min": round(min(kept), 3),
                "step_s_median": round(statistics.median(kept), 3),
                "load_before": round(load_before, 2),
                "load_after": round(load_after, 2),
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "xview2_model_step.csv", index=False)
    logger.info("\n%s", table.to_string(index=False))


if __name__ == "__main__":
    main()
