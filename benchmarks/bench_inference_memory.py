"""Benchmark: peak memory and time of whole-scene inference against scene size.

Run on demand (several minutes on 2 CPU cores)::

    python benchmarks/bench_inference_memory.py [--sizes 4096 8192] [--modes streaming]
    python benchmarks/bench_inference_memory.py --sizes 1024x8192 1024x29400 --modes streaming

For each size ``N`` a synthetic ``N × N`` scene is generated once (``generate_dataset``,
cached under ``--root``); an ``HxW`` size (a short wide strip, e.g. ``1024x29400`` against
``1024x8192``, to measure what grows with the scene width, which the generator's tilted
swath cannot make) is written directly: sea clutter, bright point targets and a nodata
corner, tiled 256² deflate GeoTIFFs as the generator writes. Then each mode runs in a
fresh subprocess so that its peak
resident set size (``VmHWM`` of ``/proc/self/status``) is its own:

* ``streaming``: :func:`~xview3_pipeline.core.detection.cnn.predict_scene` (band streaming);
* ``reference``: ``predict_scene_reference`` of ``tests/core/detection/reference.py``
  (whole-scene maps and input, the winner's way), for comparison; run from the
  repository root.

The model is the ``cpu_small`` preset with random weights (memory and time do not depend
on the weights) in a one-model :class:`CircleNetEnsemble` with flip TTA, and the default
CPU :class:`InferenceConfig` (tiles 512, step 384, batch 4). ``baseline_mb`` is the peak
after building the model and running one warm-up batch; ``inference_mb`` = peak −
baseline is what the scene itself costs. ``naive_maps_mb`` is the estimate for a
whole-scene accumulation: 6 float32 maps + weights at stride 2, ``7 · (H/2) · (W/2) · 4`` B;
``band_estimate_mb`` the streaming estimate of the ``core.detection.cnn.run`` docstring.
Writes ``benchmarks/results/inference_memory.csv`` (``--name``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _memory import vm_hwm_mb  # benchmarks/ is on sys.path: run as a script

logger = logging.getLogger("bench")

MB = 1024.0**2


def parse_size(text: str) -> tuple[int, int]:
    """``"N"`` → ``(N, N)``; ``"HxW"`` → ``(H, W)``."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--sizes: expected N or HxW, got {text!r}.")
    return (values[0], values[-1])


def size_label(size: tuple[int, int]) -> str:
    """``"N"`` for a square scene, else ``"HxW"``."""
    return str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"


def write_strip(folder: Path, height: int, width: int, objects: float) -> Path:
    """Write a one-scene ``H × W`` strip (``VH_dB.tif``, ``VV_dB.tif``) under ``folder``."""
    import numpy as np  # noqa: PLC0415
    import rasterio  # noqa: PLC0415
    from affine import Affine  # noqa: PLC0415

    from xview3_pipeline.core.constants import NODATA, VH_FILE, VV_FILE  # noqa: PLC0415

    scene_dir = folder / "public" / "strip0000000000000000"
    scene_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_obj = max(1, int(objects * height * width / 8192**2))
    rows, cols = rng.integers(0, height, n_obj), rng.integers(0, width, n_obj)
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "height": height, "width": width,
        "crs": "EPSG:32631", "transform": Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
        "nodata": NODATA, "compress": "deflate", "predictor": 3, "tiled": True,
        "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    for name, level in ((VH_FILE, -30.0), (VV_FILE, -22.0)):
        band = (level + 2.0 * rng.standard_normal((height, width))).astype(np.float32)
        band[rows, cols] = level + 25.0
        r, c = np.ogrid[:height, :width]
        band[r + c < height // 2] = NODATA  # a nodata corner, as at a swath edge
        with rasterio.open(scene_dir / name, "w", **profile) as dst:
            dst.write(band, 1)
    (folder / ".xview3_synthetic.json").write_text("{}")
    return folder


def scene_root(root: Path, size: tuple[int, int], objects: float) -> Path:
    """Generate (once) a one-scene synthetic dataset of ``H × W`` pixels."""
    from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset  # noqa: PLC0415

    height, width = size
    folder = root / f"scene_{size_label(size)}"
    if height != width:
        if not (folder / ".xview3_synthetic.json").is_file():
            write_strip(folder, height, width, objects)
        return folder
    if not (folder / ".xview3_synthetic.json").is_file():
        t0 = time.perf_counter()
        generate_dataset(
            SyntheticConfig(
                n_locations=1,
                revisit_splits=("public",),
                height=height,
                width=width,
                objects_per_scene=objects,
            ),
            folder,
        )
        logger.info("Generated a %s scene in %.0f s", size_label(size), time.perf_counter() - t0)
    return folder


def worker(args: argparse.Namespace) -> None:
    """Run one scene in this process and write a JSON line of measurements to stdout."""
    import torch  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.core.detection
    from tests.core.detection.reference import predict_scene_reference  # noqa: PLC0415

    from xview3_pipeline.core.detection import Scene  # noqa: PLC0415
    from xview3_pipeline.core.detection.cnn import (  # noqa: PLC0415
        InferenceConfig,
        build_ensemble,
        predict_scene,
    )
    from xview3_pipeline.core.io.scenes import discover_scenes  # noqa: PLC0415
    from xview3_pipeline.core.models import build_model  # noqa: PLC0415

    torch.manual_seed(0)
    config = InferenceConfig(
        tile_size=args.tile, step=args.step, batch_size=args.batch, progress=False,
        prefetch=args.prefetch,
    )  # fmt: skip
    ensemble = build_ensemble([build_model(args.preset)], config).eval()
    ensemble.to(memory_format=torch.channels_last)  # as predict_scene does
    warm = torch.zeros(args.batch, 2, args.tile, args.tile)
    with torch.inference_mode():  # warm-up: the model's own activation peak
        for _ in range(2):
            ensemble(warm.contiguous(memory_format=torch.channels_last))
    baseline = vm_hwm_mb()
    (ref,) = discover_scenes(args.scene_root)
    scene = Scene.from_folder(ref.scene_dir, split=ref.split)
    run = predict_scene if args.mode == "streaming" else predict_scene_reference
    t0 = time.perf_counter()
    frame = run(ensemble, scene, config)
    seconds = time.perf_counter() - t0
    stats = frame.attrs.get("inference", {})
    result = {
        "baseline_mb": round(baseline, 1),
        "peak_rss_mb": round(vm_hwm_mb(), 1),
        "seconds": round(seconds, 1),
        "tiles": stats.get("tiles"),
        "tiles_run": stats.get("tiles_run"),
        "candidates": len(frame),
    }
    sys.stdout.write(json.dumps(result) + "\n")


def estimates_mb(size: tuple[int, int], tile: int, batch: int, stride: int = 2) -> dict[str, float]:
    """Whole-scene and band-streaming memory estimates for an ``H × W`` scene, MiB."""
    height, width = size
    out_h, out_w = math.ceil(height / stride), math.ceil(width / stride)
    read_w = width + tile  # at most one tile past the border
    chunk = -(-max(2048, tile) // 256) * 256  # prefetch.CHUNK_COLS
    band = (
        7 * (tile // stride) * out_w * 4  # accumulator
        + 2 * tile * read_w // 8  # packed validity of two bands
        + 3 * 6 * (64 + 1) * out_w * 4  # decoding 64 rows at a time, its temporaries
        + 2 * tile * (tile + chunk) * 4  # sliding column buffer
        + (2 + 2) * batch * 2 * tile * tile * 4  # prefetched (2), one built, one run
    )
    return {
        "naive_maps_mb": round(7 * out_h * out_w * 4 / MB, 1),
        "naive_maps_plus_input_mb": round((7 * out_h * out_w * 4 + 2 * height * width * 4) / MB, 1),
        "band_estimate_mb": round(band / MB, 1),
    }


def main() -> None:
    """Generate scenes, measure each (size, mode) in a subprocess, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(4096, 4096), (8192, 8192)])
    parser.add_argument("--modes", nargs="+", default=["streaming", "reference"])
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--step", type=int, default=384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--objects", type=float, default=300.0)
    parser.add_argument("--prefetch", type=int, default=2, help="inference.prefetch")
    parser.add_argument("--root", type=Path, default=Path("/tmp/xview3_bench_inference"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="inference_memory.csv", help="CSV file name")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="streaming", help=argparse.SUPPRESS)
    parser.add_argument("--scene-root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.worker:
        worker(args)
        return
    rows = []
    for size in args.sizes:
        root = scene_root(args.root, size, args.objects)
        for mode in args.modes:
            cmd = [
                sys.executable, __file__, "--worker", "--mode", mode, "--scene-root", str(root),
                "--preset", args.preset, "--tile", str(args.tile), "--step", str(args.step),
                "--batch", str(args.batch), "--prefetch", str(args.prefetch),
            ]  # fmt: skip
            logger.info("Running %s on %s ...", mode, size_label(size))
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                logger.error("Worker failed (%d):\n%s", done.returncode, done.stderr[-4000:])
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row = {
                "size": size_label(size),
                "mode": mode,
                "preset": args.preset,
                "tile": args.tile,
                "step": args.step,
                "batch": args.batch,
                "prefetch": args.prefetch,
                "flip_tta": True,
                **result,
                "inference_mb": round(result["peak_rss_mb"] - result["baseline_mb"], 1),
                **estimates_mb(size, args.tile, args.batch),
            }
            logger.info("%s", row)
            rows.append(row)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / args.name
    table.to_csv(path, index=False)
    sys.stdout.write(table.to_string(index=False) + "\n")
    logger.info("Wrote %s", path)


if __name__ == "__main__":
    main()
