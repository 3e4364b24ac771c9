"""Benchmark: time and peak memory of every per-scene stage, up to full-size scenes.

Run on demand (the full size takes about an hour on 2 CPU cores; never in tests)::

    python benchmarks/bench_full_scene.py --sizes 8192 16384 full --root /work/bench_scenes
    python benchmarks/bench_full_scene.py --sizes full --stages inference cfar

``--sizes`` takes ``N`` (an ``N × N`` scene), ``HxW`` (height × width) or ``full`` (a real
Sentinel-1 IW GRD scene, 24,400 rows × 29,400 columns). For each size, one coastal
synthetic scene is generated (``generate_dataset`` with one location and one ``public``
revisit) into ``--root/scene_<H>x<W>`` and reused by later runs; each stage then runs in a
fresh subprocess, so that its peak resident set size (``VmHWM`` of ``/proc/self/status``)
is its own:

* ``generation``: writing the scene (SAR bands, ancillary rasters, shoreline, labels);
  always run (and the cached scene replaced) when asked for, else only when the scene is
  missing;
* ``ingestion``: :func:`~xview3_pipeline.core.ingestion.build_scene_index` (footprint and
  statistics) and :func:`~xview3_pipeline.core.ingestion.validate_labels_in_root` on that
  one-scene raw root;
* ``inference``: :func:`~xview3_pipeline.core.detection.cnn.predict_scene` with the
  ``cpu_small`` preset (random weights: time and memory do not depend on them) in a
  one-model ensemble and the :class:`InferenceConfig` of
  ``conf/base/parameters_inference.yml`` (tiles 512, step 384, flip TTA);
* ``cfar``: :class:`~xview3_pipeline.core.detection.cfar.CfarDetector` with the
  ``conf/base/parameters_cfar_baseline.yml`` settings;
* ``crop``: one training crop (``--crop`` px, the ``crop_size`` of the training
  parameters) read through :class:`~xview3_pipeline.core.data.scene_reader.
  MultiSceneReader`, the reader of the training datasets; ``seconds`` is the median of
  ``--crops`` reads at random positions (the first read, which opens the files, is in
  ``detail``).

``baseline_mb`` is the peak after the imports (and, for inference, after building the
model and two warm-up batches), ``stage_mb = peak_rss_mb − baseline_mb`` what the stage
itself costs. Rows are merged into ``benchmarks/results/full_scene.csv`` (a rerun replaces
the rows of the sizes and stages it measures) and the table is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from _memory import vm_hwm_mb  # benchmarks/ is on sys.path: run as a script

logger = logging.getLogger("bench")

REPO = Path(__file__).resolve().parents[1]
STAGES = ("generation", "ingestion", "inference", "cfar", "crop")
#: A real Sentinel-1 IW GRD scene of xView3: rows × columns.
FULL_SIZE = (24_400, 29_400)
COLUMNS = (
    "size", "height", "width", "megapixels", "stage", "seconds", "baseline_mb",
    "peak_rss_mb", "stage_mb", "detail",
)  # fmt: skip


def parse_size(text: str) -> tuple[int, int]:
    """``"8192"`` → ``(8192, 8192)``, ``"24400x29400"`` → ``(24400, 29400)``, ``"full"``."""
    if text.lower() == "full":
        return FULL_SIZE
    match = re.fullmatch(r"(\d+)(?:[xX×](\d+))?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"--sizes value {text!r}: expected N, HxW (height x width) or 'full'."
        )
    height = int(match.group(1))
    width = int(match.group(2) or height)
    if min(height, width) < 64:
        raise argparse.ArgumentTypeError(f"--sizes value {text!r}: scenes need >= 64 px a side.")
    return height, width


def size_label(height: int, width: int) -> str:
    """``"8192"`` for a square scene, ``"full"`` for the real size, else ``"HxW"``."""
    if (height, width) == FULL_SIZE:
        return "full"
    return str(height) if height == width else f"{height}x{width}"


def _parameters(name: str, key: str) -> dict[str, Any]:
    import yaml  # noqa: PLC0415

    return dict(yaml.safe_load((REPO / "conf" / "base" / name).read_text())[key])


def _the_scene(root: Path) -> Any:
    from xview3_pipeline.core.io.scenes import discover_scenes  # noqa: PLC0415

    (scene,) = discover_scenes(root)
    return scene


# ----------------------------------------------------------------------------------------
# Stages (each in its own process; each returns baseline, seconds and a detail string)
# ----------------------------------------------------------------------------------------
def stage_generation(args: argparse.Namespace) -> dict[str, Any]:
    """Write the one-scene raw root ``args.scene_root``."""
    from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset  # noqa: PLC0415

    config = SyntheticConfig(
        seed=args.seed,
        n_locations=1,
        coastal_fraction=1.0,
        revisit_splits=("public",),
        height=args.height,
        width=args.width,
        objects_per_scene=args.objects,
    )
    baseline = vm_hwm_mb()
    t0 = time.perf_counter()
    done = generate_dataset(config, args.scene_root)
    seconds = time.perf_counter() - t0
    disk = sum(p.stat().st_size for p in args.scene_root.rglob("*") if p.is_file()) / 2**30
    n_objects = int(done.manifest["n_objects"].sum())
    return {
        "baseline": baseline,
        "seconds": seconds,
        "detail": f"objects={n_objects} disk_gb={disk:.2f}",
    }


def stage_ingestion(args: argparse.Namespace) -> dict[str, Any]:
    """Index the scene and validate the label files of its raw root."""
    from xview3_pipeline.core.ingestion import (  # noqa: PLC0415
        build_scene_index,
        validate_labels_in_root,
    )

    baseline = vm_hwm_mb()
    t0 = time.perf_counter()
    index = build_scene_index(args.scene_root)
    labels = validate_labels_in_root(args.scene_root, index)
    seconds = time.perf_counter() - t0
    row = index.iloc[0]
    detail = (
        f"decimation={int(row['decimation'])} nodata={float(row['nodata_fraction']):.3f} "
        f"labels={len(labels.labels)}"
    )
    return {"baseline": baseline, "seconds": seconds, "detail": detail}


def stage_inference(args: argparse.Namespace) -> dict[str, Any]:
    """CNN inference of the scene with the CPU preset and the default inference settings."""
    import torch  # noqa: PLC0415

    from xview3_pipeline.core.detection.cnn import (  # noqa: PLC0415
        InferenceConfig,
        build_ensemble,
        predict_scene,
    )
    from xview3_pipeline.core.models import build_model  # noqa: PLC0415

    torch.manual_seed(0)
    params = _parameters("parameters_inference.yml", "inference") | {"progress": False}
    config = InferenceConfig.from_dict(params)
    ensemble = build_ensemble([build_model(args.preset)], config).eval()
    if config.channels_last:
        ensemble.to(memory_format=torch.channels_last)  # as predict_scene does
    warm = torch.zeros(config.batch_size, 2, config.tile_size, config.tile_size)
    with torch.inference_mode():  # warm-up: the model's own activation peak
        for _ in range(2):
            ensemble(warm.contiguous(memory_format=torch.channels_last))
    scene = _the_scene(args.scene_root)
    baseline = vm_hwm_mb()
    t0 = time.perf_counter()
    frame = predict_scene(ensemble, scene, config)
    seconds = time.perf_counter() - t0
    stats = frame.attrs.get("inference", {})
    estimate = band_estimate_mb(scene.width, config)
    detail = (
        f"tiles={stats.get('tiles')} tiles_run={stats.get('tiles_run')} "
        f"candidates={len(frame)} threads={torch.get_num_threads()} "
        f"band_estimate_mb={estimate:.0f}"
    )
    return {"baseline": baseline, "seconds": seconds, "detail": detail}


def band_estimate_mb(width: int, config: Any) -> float:
    """The streaming estimate of the ``core.detection.cnn.run`` docstring, MiB.

    Growing with the width: the accumulator ``7 · t · w · 4`` B, the packed validity of
    two bands ``2 · T · W / 8`` B and the decoding temporaries of 64 rows
    ``3 · 6 · 65 · w · 4`` B (``w = ceil(W / s)``); constant: the sliding column buffer
    ``2 · T · (T + 2048) · 4`` B and the prefetched batches ``(prefetch + 2) · B · 2 · T² · 4``
    B. GDAL's block cache and the model's activations are not included.
    """
    tile, stride = config.tile_size, config.stride
    out_w = math.ceil(width / stride)
    grows = 7 * (tile // stride) * out_w * 4 + 2 * tile * width / 8 + 3 * 6 * 65 * out_w * 4
    prefetch = int(getattr(config, "prefetch", 0))
    fixed = 2 * tile * (tile + 2048) * 4 + (prefetch + 2) * config.batch_size * 2 * tile**2 * 4
    return (grows + fixed) / 2**20


def stage_cfar(args: argparse.Namespace) -> dict[str, Any]:
    """The CFAR baseline on the scene with the default settings."""
    from xview3_pipeline.core.detection.cfar import CfarConfig, CfarDetector  # noqa: PLC0415

    detector = CfarDetector(
        CfarConfig.from_dict(_parameters("parameters_cfar_baseline.yml", "cfar"))
    )
    scene = _the_scene(args.scene_root)
    baseline = vm_hwm_mb()
    t0 = time.perf_counter()
    frame = detector.detect(scene)
    seconds = time.perf_counter() - t0
    return {"baseline": baseline, "seconds": seconds, "detail": f"detections={len(frame)}"}


def stage_crop(args: argparse.Namespace) -> dict[str, Any]:
    """Median time of one training crop read at random positions of the scene."""
    import numpy as np  # noqa: PLC0415

    from xview3_pipeline.core.data.scene_reader import MultiSceneReader  # noqa: PLC0415

    scene = _the_scene(args.scene_root)
    reader = MultiSceneReader({scene.scene_id: (scene.vh_path, scene.vv_path)})
    rng = np.random.default_rng(args.seed)
    size = args.crop
    height, width = scene.height, scene.width
    baseline = vm_hwm_mb()
    times = []
    for _ in range(args.crops + 1):
        row0 = int(rng.integers(0, height - size + 1))
        col0 = int(rng.integers(0, width - size + 1))
        t0 = time.perf_counter()
        reader.read(scene.scene_id, row0, col0, size, size)
        times.append(time.perf_counter() - t0)
    reader.close()
    first, rest = times[0], np.asarray(times[1:])
    detail = (
        f"crop={size} reads={len(rest)} first_s={first:.4f} "
        f"p90_s={float(np.quantile(rest, 0.9)):.4f}"
    )
    return {"baseline": baseline, "seconds": float(np.median(rest)), "detail": detail}


_WORKERS = {
    "generation": stage_generation,
    "ingestion": stage_ingestion,
    "inference": stage_inference,
    "cfar": stage_cfar,
    "crop": stage_crop,
}


def worker(args: argparse.Namespace) -> None:
    """Run one stage in this process and write a JSON line of measurements to stdout."""
    sys.path.insert(0, str(REPO / "src"))
    result = _WORKERS[args.stage](args)
    out = {
        "seconds": round(result["seconds"], 4 if args.stage == "crop" else 2),
        "baseline_mb": round(result["baseline"], 1),
        "peak_rss_mb": round(vm_hwm_mb(), 1),
        "detail": result["detail"],
    }
    sys.stdout.write(json.dumps(out) + "\n")


# ----------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------
def run_stage(args: argparse.Namespace, stage: str, height: int, width: int) -> dict | None:
    """Run one stage in a subprocess; the table row, or None when it failed."""
    scene_root = args.root / f"scene_{height}x{width}"
    cmd = [
        sys.executable, __file__, "--worker", "--stage", stage, "--scene-root", str(scene_root),
        "--height", str(height), "--width", str(width), "--objects", str(args.objects),
        "--seed", str(args.seed), "--preset", args.preset, "--crop", str(args.crop),
        "--crops", str(args.crops),
    ]  # fmt: skip
    logger.info("Running %s on %d x %d ...", stage, height, width)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        logger.error("%s failed (%d):\n%s", stage, done.returncode, done.stderr[-4000:])
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row = {
        "size": size_label(height, width),
        "height": height,
        "width": width,
        "megapixels": round(height * width / 1e6, 1),
        "stage": stage,
        **result,
        "stage_mb": round(result["peak_rss_mb"] - result["baseline_mb"], 1),
    }
    logger.info("%s (%.0f s with start-up)", row, time.perf_counter() - t0)
    return row


def merge_results(path: Path, rows: list[dict]) -> pd.DataFrame:
    """Replace the (size, stage) rows of ``path`` by ``rows``; sorted by area and stage."""
    new = pd.DataFrame(rows, columns=list(COLUMNS))
    if path.is_file():
        old = pd.read_csv(path, dtype={"size": str})
        keys = set(zip(new["size"], new["stage"], strict=True))
        keep = [(s, g) not in keys for s, g in zip(old["size"], old["stage"], strict=True)]
        new = pd.concat([old[keep], new], ignore_index=True) if len(new) else old
    order = {stage: i for i, stage in enumerate(STAGES)}
    new = new.assign(_area=new["height"] * new["width"], _stage=new["stage"].map(order))
    new = new.sort_values(["_area", "_stage"]).drop(columns=["_area", "_stage"])
    path.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(path, index=False)
    return new.reset_index(drop=True)


def main() -> None:
    """Generate (or reuse) scenes, measure each (size, stage) in a subprocess, merge the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=["8192", "16384", "full"])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--root", type=Path, default=Path("/tmp/xview3_bench_full_scene"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--objects", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--crops", type=int, default=50)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--scene-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--height", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.worker:
        worker(args)
        return
    sizes = [parse_size(s) if isinstance(s, str) else s for s in args.sizes]
    rows = []
    for height, width in sizes:
        marker = args.root / f"scene_{height}x{width}" / ".xview3_synthetic.json"
        for stage in STAGES:
            wanted = stage in args.stages
            if stage == "generation" and not wanted and not marker.is_file():
                wanted = True  # a missing scene is generated (and measured) anyway
            if not wanted:
                continue
            row = run_stage(args, stage, height, width)
            if row is not None:
                rows.append(row)
            elif stage == "generation":
                break
        table = merge_results(args.out / "full_scene.csv", rows)  # after each size
    sys.stdout.write(table.to_string(index=False) + "\n")
    logger.info("Wrote %s", args.out / "full_scene.csv")


if __name__ == "__main__":
    main()
