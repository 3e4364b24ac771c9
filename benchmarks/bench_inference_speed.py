"""Benchmark: where the time of scene inference goes, against the model's own forward time.

Run on demand (a few minutes on 2 CPU cores)::

    python benchmarks/bench_inference_speed.py [--size 4096] [--device cpu] [--repeats 2]

A synthetic ``N × N`` scene (default 4096²) is generated once (cached under ``--root``,
shared with ``bench_inference_memory.py``). The model is the ``cpu_small`` preset with
random weights in a one-model :class:`CircleNetEnsemble` with flip TTA, under the default
:class:`InferenceConfig` (tiles 512, step 384, batch 4, ``prefetch`` 2). Measured, each
``--repeats`` times (the best run is kept), after one warm-up batch:

* ``wall_s``: :func:`~xview3_pipeline.core.detection.cnn.predict_scene`, the whole
  pipeline (read, normalise, forward, blend, decode, scene columns);
* its split from ``frame.attrs["inference"]``: ``read_s`` and ``normalise_s`` (in the
  prefetch thread, overlapped with the model), ``wait_s`` (the model waiting for tiles),
  ``forward_s``, ``blend_s``, ``decode_s``;
* ``forward_pure_s``: the model alone on the same batches (collected beforehand through
  the same tile iterator: same tiles, batch sizes, model and TTA), already on the device
  in the model's memory format, synchronised;
* ``transfer_s``: the host → device copies of those batches alone, synchronised (0 on
  CPU; in the pipeline they overlap with the model: pinned, ``non_blocking``).

``ratio = wall_s / forward_pure_s``; the repeats alternate the two measurements so that a
change in the machine's load touches both. ``overhead_ratio = wall_s / forward_s`` compares
the wall time with the forward calls timed inside the same run (what the pipeline adds
around the model, free of the load drifting between two runs). The load average (at the
start and the end) and torch's thread count are recorded with the figures: other processes
on the machine inflate both sides unequally.
Writes ``benchmarks/results/inference_speed.csv`` and prints it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference_memory import scene_root

from xview3_pipeline.core.data.normalization import build_normalization
from xview3_pipeline.core.detection import Scene
from xview3_pipeline.core.detection.bands import SceneBands
from xview3_pipeline.core.detection.cnn import (
    InferenceConfig,
    TileGrid,
    build_ensemble,
    predict_scene,
)
from xview3_pipeline.core.detection.cnn.prefetch import TileBatch, tile_batches
from xview3_pipeline.core.io.scenes import discover_scenes
from xview3_pipeline.core.models import build_model

logger = logging.getLogger("bench")

#: Seconds of the pipeline's split (``frame.attrs["inference"]``).
SPLIT = ("read_s", "normalise_s", "wait_s", "forward_s", "blend_s", "decode_s")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def scene_batches(scene: Scene, config: InferenceConfig) -> list[torch.Tensor]:
    """The normalised tile batches :func:`predict_scene` runs, in order (CPU tensors)."""
    with SceneBands(scene, gdal_cache_mb=config.gdal_cache_mb) as bands:
        height, width = bands.shape
        grid = TileGrid.build(
            height, width, config.tile_size, config.step, coverage=config.coverage,
            stride=config.stride,
        )  # fmt: skip
        items = tile_batches(
            bands, grid, config.batch_size, build_normalization(config.normalization)
        )
        return [item.tiles for item in items if isinstance(item, TileBatch)]


def pure_forward_s(
    model: torch.nn.Module, batches: list[torch.Tensor], config: InferenceConfig
) -> tuple[float, float]:
    """Seconds of the model alone on the batches, and of their host → device copies."""
    device = config.resolve_device()
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    amp = config.amp and device.type == "cuda"
    dtype = torch.float16 if config.amp_dtype == "float16" else torch.bfloat16
    t0 = time.perf_counter()
    on_device = [b.pin_memory().to(device) if device.type == "cuda" else b for b in batches]
    _sync(device)
    transfer = time.perf_counter() - t0 if device.type == "cuda" else 0.0
    on_device = [b.contiguous(memory_format=fmt) for b in on_device]
    _sync(device)
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=amp):
        for x in on_device:
            model(x)
    _sync(device)
    return time.perf_counter() - t0, transfer


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Warm up, then time the pipeline and the pure forward passes (best of repeats)."""
    load_start = round(os.getloadavg()[0], 2)
    root = scene_root(args.root, (args.size, args.size), args.objects)
    (ref,) = discover_scenes(root)
    scene = Scene.from_folder(ref.scene_dir, split=ref.split)
    torch.manual_seed(0)
    config = InferenceConfig(
        tile_size=args.tile, step=args.step, batch_size=args.batch, progress=False,
        prefetch=args.prefetch, device=args.device,
    )  # fmt: skip
    device = config.resolve_device()
    model = build_ensemble([build_model(args.preset)], config).eval().to(device)
    model.to(memory_format=torch.channels_last)
    batches = scene_batches(scene, config)
    pure_forward_s(model, batches[:1], config)  # warm-up
    walls, pures, transfers, stats = [], [], [], {}
    for _ in range(args.repeats):
        pure, transfer = pure_forward_s(model, batches, config)
        pures.append(pure)
        transfers.append(transfer)
        t0 = time.perf_counter()
        frame = predict_scene(model, scene, config)
        _sync(device)
        walls.append(time.perf_counter() - t0)
        if walls[-1] == min(walls):
            stats = dict(frame.attrs["inference"])
        logger.info("wall %.2f s, pure forward %.2f s", walls[-1], pure)
    wall, pure = min(walls), min(pures)
    return {
        "size": args.size,
        "device": str(device),
        "preset": args.preset,
        "tile": args.tile,
        "step": args.step,
        "batch": args.batch,
        "prefetch": args.prefetch,
        "flip_tta": True,
        "tiles_run": stats.get("tiles_run"),
        "batches": len(batches),
        "candidates": len(frame),
        "wall_s": round(wall, 3),
        "forward_pure_s": round(pure, 3),
        "ratio": round(wall / pure, 4),
        "overhead_ratio": round(wall / float(stats["forward_s"]), 4),
        **{k: round(float(stats.get(k, 0.0)), 3) for k in SPLIT},
        "transfer_s": round(min(transfers), 3),
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "loadavg_1m_start": load_start,
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    """Measure and write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--step", type=int, default=384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prefetch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--objects", type=float, default=300.0)
    parser.add_argument("--root", type=Path, default=Path("/tmp/xview3_bench_inference"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    row = measure(args)
    table = pd.DataFrame([row])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "inference_speed.csv"
    table.to_csv(path, index=False)
    sys.stdout.write(table.T.to_string(header=False) + "\n")
    logger.info("Wrote %s", path)


if __name__ == "__main__":
    main()
