"""Benchmark: peak memory and time of whole-scene inference against scene size.

Run on demand (several minutes on 2 CPU cores)::

    python benchmarks/bench_inference_memory.py [--sizes 4096 8192] [--modes streaming]

For each size ``N`` a synthetic ``N × N`` scene is generated once (``generate_dataset``,
cached under ``--root``), then each mode runs in a fresh subprocess so that its peak
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
whole-scene accumulation: 6 float32 maps + weights at stride 2, ``7 · (N/2)² · 4`` B;
``band_estimate_mb`` the streaming estimate of the ``core.detection.cnn.run`` docstring.
Writes ``benchmarks/results/inference_memory.csv`` and prints it.
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

logger = logging.getLogger("bench")

MB = 1024.0**2


def _vm_hwm_mb() -> float:
    """Peak resident set size of this process, MiB (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
    import resource  # noqa: PLC0415 (non-Linux fallback)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def scene_root(root: Path, size: int, objects: float) -> Path:
    """Generate (once) a one-scene synthetic dataset of ``size × size`` pixels."""
    from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset  # noqa: PLC0415

    folder = root / f"scene_{size}"
    if not (folder / ".xview3_synthetic.json").is_file():
        t0 = time.perf_counter()
        generate_dataset(
            SyntheticConfig(
                n_locations=1,
                revisit_splits=("public",),
                height=size,
                width=size,
                objects_per_scene=objects,
            ),
            folder,
        )
        logger.info("Generated a %d² scene in %.0f s", size, time.perf_counter() - t0)
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
        tile_size=args.tile, step=args.step, batch_size=args.batch, progress=False
    )
    ensemble = build_ensemble([build_model(args.preset)], config).eval()
    ensemble.to(memory_format=torch.channels_last)  # as predict_scene does
    warm = torch.zeros(args.batch, 2, args.tile, args.tile)
    with torch.inference_mode():  # warm-up: the model's own activation peak
        for _ in range(2):
            ensemble(warm.contiguous(memory_format=torch.channels_last))
    baseline = _vm_hwm_mb()
    (ref,) = discover_scenes(args.scene_root)
    scene = Scene.from_folder(ref.scene_dir, split=ref.split)
    run = predict_scene if args.mode == "streaming" else predict_scene_reference
    t0 = time.perf_counter()
    frame = run(ensemble, scene, config)
    seconds = time.perf_counter() - t0
    stats = frame.attrs.get("inference", {})
    result = {
        "baseline_mb": round(baseline, 1),
        "peak_rss_mb": round(_vm_hwm_mb(), 1),
        "seconds": round(seconds, 1),
        "tiles": stats.get("tiles"),
        "tiles_run": stats.get("tiles_run"),
        "candidates": len(frame),
    }
    sys.stdout.write(json.dumps(result) + "\n")


def estimates_mb(size: int, tile: int, step: int, stride: int = 2) -> dict[str, float]:
    """Whole-scene and band-streaming memory estimates for an ``N × N`` scene, MiB."""
    out_w = math.ceil(size / stride)
    read_w = size + tile  # at most one tile past the border
    band = (
        7 * (tile // stride) * out_w * 4  # accumulator
        + 2 * tile * read_w * 4  # raw band
        + 2 * tile * read_w  # validity masks of two bands
        + 6 * (step // stride + 2) * out_w * 4  # finalised rows waiting for decoding
    )
    return {
        "naive_maps_mb": round(7 * out_w * out_w * 4 / MB, 1),
        "naive_maps_plus_input_mb": round((7 * out_w * out_w * 4 + 2 * size * size * 4) / MB, 1),
        "band_estimate_mb": round(band / MB, 1),
    }


def main() -> None:
    """Generate scenes, measure each (size, mode) in a subprocess, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--modes", nargs="+", default=["streaming", "reference"])
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--step", type=int, default=384)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--objects", type=float, default=300.0)
    parser.add_argument("--root", type=Path, default=Path("/tmp/xview3_bench_inference"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
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
                "--batch", str(args.batch),
            ]  # fmt: skip
            logger.info("Running %s on %d² ...", mode, size)
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                logger.error("Worker failed (%d):\n%s", done.returncode, done.stderr[-4000:])
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row = {
                "size": size,
                "mode": mode,
                "preset": args.preset,
                "tile": args.tile,
                "step": args.step,
                "batch": args.batch,
                "flip_tta": True,
                **result,
                "inference_mb": round(result["peak_rss_mb"] - result["baseline_mb"], 1),
                **estimates_mb(size, args.tile, args.step),
            }
            logger.info("%s", row)
            rows.append(row)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "inference_memory.csv"
    table.to_csv(path, index=False)
    sys.stdout.write(table.to_string(index=False) + "\n")
    logger.info("Wrote %s", path)


if __name__ == "__main__":
    main()
