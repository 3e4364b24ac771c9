"""GPU check: B4 training steps (AMP, channels_last, DDP + SyncBN) and full-scene inference.

One prepared command for a CUDA machine, from the repository root::

    python benchmarks/gpu_check.py                      # CUDA, full sizes (~5 min on an H200)
    python benchmarks/gpu_check.py --device cpu --quick # tiny sizes: checks that it runs

Sections (each recorded, even when another fails; the exit code is 1 if any failed):

1. ``train_amp``: training steps of the B4 preset (``conf/xview3_full``: the
   ``b4_unet_s2`` block of ``ensemble``, or ``training.model``) on synthetic crops with
   Lightning, mixed precision (``bf16-mixed`` where supported, else ``16-mixed``; 32 on
   CPU) and channels_last: seconds per step (median after warm-up), crops per second,
   peak GPU memory (``torch.cuda.max_memory_allocated``).
2. ``train_ddp_syncbn``: the same with ``strategy=ddp``, ``sync_batchnorm=True`` on one
   device (one process; the code path of a multi-GPU run). On CPU (``--quick``) DDP runs
   without SyncBN, which Lightning accepts on GPUs only.
3. ``infer_b4`` / ``infer_ensemble``: inference of a synthetic ``29,400 × 24,400`` scene
   (written once, uncompressed, under ``--scene-dir``) with one B4 model and with the
   ensemble of the architectures of ``ensemble_presets()`` of the full configuration, flip
   TTA, AMP fp16, channels_last, the winner's 2048 / 1536 tiles (``--batch`` tiles per
   call): wall seconds of ``predict_scene``, its split, the pure forward passes on
   batches of the same sizes (same model and TTA, synchronised), their ratio, and peak GPU
   memory.

Sizes are options (``--height``, ``--width``, ``--crop``, ``--train-batch``,
``--train-steps``, ``--tile``, ``--step``, ``--batch``). The estimate for an H200 at the
defaults: B4 U-Net ≈ 0.4 TFLOP per 2048² tile and pass; 16 × 19 = 304 tiles × 2 (flip)
× 2 (pipeline + pure forward) ≈ 0.5 PFLOP for B4 and ≈ 2 PFLOP for the three-model
ensemble, i.e. 1-3 min at the 20-40 effective TFLOP/s of EfficientNet convolutions; the
scene (5.7 GB) is written in about a minute; training 2 × 25 steps of 8 × 768² crops in
under a minute. Writes ``gpu_check.json`` and ``gpu_check.csv`` to ``$OUT`` when set,
else to ``benchmarks/results/``, and prints them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

logger = logging.getLogger("gpu_check")

ROOT = Path(__file__).resolve().parents[1]
FULL_CONF = ROOT / "conf" / "xview3_full" / "parameters_training.yml"


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 1024**3, 3)


def full_parameters() -> dict[str, Any]:
    """``conf/xview3_full/parameters_training.yml`` (YAML merge keys resolved)."""
    return yaml.safe_load(FULL_CONF.read_text())


def b4_block(params: dict[str, Any]) -> dict[str, Any]:
    """The training block of the B4 preset in the full configuration."""
    for block in (params.get("ensemble") or {}).values():
        if block.get("model", {}).get("preset") == "b4_unet_s2":
            return block
    return params["training"]


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
class SyntheticCrops(torch.utils.data.Dataset):
    """Random SAR-like crops with a few objects and their dense targets (stride 2)."""

    def __init__(self, n: int, crop: int, objects: int = 8) -> None:
        self.n, self.crop, self.objects = n, crop, objects

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        h = self.crop // 2
        image = torch.rand(2, self.crop, self.crop, generator=g)
        ys = torch.randint(0, h, (self.objects,), generator=g)
        xs = torch.randint(0, h, (self.objects,), generator=g)
        maps = {k: torch.zeros(c, h, h) for k, c in (
            ("objectness", 1), ("vessel", 1), ("fishing", 1), ("length", 1), ("offset", 2),
        )}  # fmt: skip
        maps["objectness"][0, ys, xs] = 1.0
        maps["vessel"][0, ys, xs] = 1.0
        maps["length"][0, ys, xs] = math.log1p(20.0)
        maps["offset"][:, ys, xs] = 0.5
        return {"image": image, "sample_weight": torch.tensor(1.0), **maps}


def train_steps(args: argparse.Namespace, device: torch.device, *, ddp: bool) -> dict[str, Any]:
    """Lightning training steps of the B4 preset; seconds per step and peak memory."""
    import lightning.pytorch as pl  # noqa: PLC0415 (heavy, only here)

    from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig  # noqa: PLC0415
    from xview3_pipeline.core.losses import CircleNetLoss, LossConfig  # noqa: PLC0415
    from xview3_pipeline.core.models import build_model  # noqa: PLC0415
    from xview3_pipeline.core.training.config import TrainingConfig  # noqa: PLC0415
    from xview3_pipeline.core.training.system import CircleNetSystem  # noqa: PLC0415

    block = b4_block(full_parameters())
    config = TrainingConfig.from_dict(
        {k: block[k] for k in ("model", "loss", "coder", "optimizer")}
    )
    model = build_model(dict(config.model))
    system = CircleNetSystem(
        model, CircleNetLoss(LossConfig.from_dict(config.loss)),
        CircleNetCoder(CoderConfig.from_dict(config.coder)), optim=config.optimizer,
        validation=config.validation, max_epochs=1, channels_last=True,
    )  # fmt: skip
    steps = args.train_steps + args.warmup_steps
    loader = torch.utils.data.DataLoader(
        SyntheticCrops(steps * args.train_batch, args.crop), batch_size=args.train_batch,
        num_workers=min(4, os.cpu_count() or 1), pin_memory=device.type == "cuda",
    )  # fmt: skip
    times: list[float] = []

    class StepTimer(pl.Callback):
        def on_train_batch_start(self, *_: Any) -> None:
            _sync(device)
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, *_: Any) -> None:
            _sync(device)
            times.append(time.perf_counter() - self.t0)

    if device.type == "cuda":
        precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    else:
        precision = "32-true"
    sync_bn = ddp and device.type == "cuda"  # Lightning refuses SyncBatchNorm on CPU
    _reset_peak(device)
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
        strategy="ddp" if ddp else "auto", sync_batchnorm=sync_bn, precision=precision,
        max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, callbacks=[StepTimer()], default_root_dir="/tmp/gpu_check_pl",
    )  # fmt: skip
    trainer.fit(system, loader)
    synced = sum(isinstance(m, torch.nn.SyncBatchNorm) for m in system.model.modules())
    cl = next(p for p in system.model.parameters() if p.dim() == 4)
    step = statistics.median(times[args.warmup_steps :] or times)
    return {
        "preset": "b4_unet_s2",
        "precision": precision,
        "strategy": "ddp" if ddp else "auto",
        "sync_batchnorm": sync_bn,
        "sync_batchnorm_layers": synced,
        "channels_last": cl.is_contiguous(memory_format=torch.channels_last),
        "crop": args.crop,
        "batch": args.train_batch,
        "steps_timed": len(times[args.warmup_steps :]),
        "seconds_per_step": round(step, 4),
        "crops_per_s": round(args.train_batch / step, 2),
        "peak_gpu_gb": _peak_gb(device),
    }


# ----------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------
def write_scene(folder: Path, height: int, width: int, rows_per_write: int = 1024) -> Path:
    """Write (once) an uncompressed tiled ``H × W`` scene band by band (bounded memory)."""
    import rasterio  # noqa: PLC0415
    from affine import Affine  # noqa: PLC0415
    from rasterio.windows import Window  # noqa: PLC0415

    from xview3_pipeline.core.constants import NODATA, VH_FILE, VV_FILE  # noqa: PLC0415

    scene_dir = folder / f"gpu_check_{height}x{width}"
    done = scene_dir / ".complete"
    if done.is_file():
        return scene_dir
    scene_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "height": height, "width": width,
        "crs": "EPSG:32631", "transform": Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
        "nodata": NODATA, "tiled": True, "blockxsize": 256, "blockysize": 256,
    }  # fmt: skip
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((rows_per_write, 4096)).astype(np.float32)
    for name, level in ((VH_FILE, -30.0), (VV_FILE, -22.0)):
        with rasterio.open(scene_dir / name, "w", **profile) as dst:
            for r0 in range(0, height, rows_per_write):
                n = min(rows_per_write, height - r0)
                reps = -(-width // noise.shape[1])
                band = level + 2.0 * np.tile(np.roll(noise, r0, axis=1)[:n], (1, reps))[:, :width]
                pts = rng.integers(0, [n, width], size=(max(1, n * width // 2_000_000), 2))
                band[pts[:, 0], pts[:, 1]] = level + 25.0  # bright point targets
                dst.write(band.astype(np.float32), 1, window=Window(0, r0, width, n))
    done.write_text("ok")
    logger.info("Wrote the %d x %d scene in %.0f s", height, width, time.perf_counter() - t0)
    return scene_dir


def batch_sizes(height: int, width: int, tile: int, step: int, batch: int) -> list[int]:
    """Batch sizes of the scene's forward calls when every tile holds valid pixels."""
    from xview3_pipeline.core.detection.cnn import TileGrid  # noqa: PLC0415

    grid = TileGrid.build(height, width, tile, step)
    n = len(grid.col_starts)
    per_band = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    return per_band * grid.n_bands


def pure_forward_s(
    model: torch.nn.Module, sizes: list[int], tile: int, device: torch.device
) -> float:
    """Seconds of the model alone on device batches of the given sizes (fp16, channels_last)."""
    inputs = {b: torch.rand(b, 2, tile, tile, device=device).contiguous(
        memory_format=torch.channels_last) for b in set(sizes)}  # fmt: skip
    amp = device.type == "cuda"
    with torch.inference_mode(), torch.autocast(device.type, torch.float16, enabled=amp):
        model(inputs[sizes[0]])  # warm-up (cuDNN algorithm choice)
        _sync(device)
        t0 = time.perf_counter()
        for b in sizes:
            model(inputs[b])
        _sync(device)
    return time.perf_counter() - t0


def infer(
    args: argparse.Namespace, device: torch.device, presets: list[str], scene_dir: Path
) -> dict[str, Any]:
    """``predict_scene`` on the synthetic scene with the given architectures."""
    from xview3_pipeline.core.detection import Scene  # noqa: PLC0415
    from xview3_pipeline.core.detection.cnn import InferenceConfig, build_ensemble, predict_scene  # noqa: PLC0415
    from xview3_pipeline.core.models import build_model  # noqa: PLC0415

    torch.manual_seed(0)
    config = InferenceConfig.winner(
        batch_size=args.batch, tile_size=args.tile, step=args.step, device=str(device),
        amp=True, amp_dtype="float16", channels_last=True, progress=False,
        min_objectness=0.3, coverage="full",
    )  # fmt: skip
    models = [build_model(p).eval() for p in presets]
    ensemble = build_ensemble(models, config).eval().to(device)
    ensemble.to(memory_format=torch.channels_last)
    scene = Scene.from_folder(scene_dir)
    sizes = batch_sizes(args.height, args.width, args.tile, args.step, args.batch)
    _reset_peak(device)
    pure = pure_forward_s(ensemble, sizes, args.tile, device)
    pure_peak = _peak_gb(device)
    _reset_peak(device)
    t0 = time.perf_counter()
    frame = predict_scene(ensemble, scene, config)
    _sync(device)
    wall = time.perf_counter() - t0
    stats = frame.attrs["inference"]
    split = ("read_s", "normalise_s", "wait_s", "forward_s", "blend_s", "decode_s")
    return {
        "presets": "+".join(presets),
        "scene": f"{args.height}x{args.width}",
        "tile": args.tile, "step": args.step, "batch": args.batch, "flip_tta": True,
        "tiles_run": stats["tiles_run"], "forward_calls": stats["forward_calls"],
        "candidates": len(frame),
        "wall_s": round(wall, 2), "forward_pure_s": round(pure, 2),
        "ratio": round(wall / pure, 3),
        **{k: round(float(stats.get(k, 0.0)), 2) for k in split},
        "peak_gpu_gb": _peak_gb(device), "peak_gpu_gb_pure_forward": pure_peak,
    }  # fmt: skip


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------
def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a CPU smoke run)")
    parser.add_argument("--height", type=int, default=24_400)
    parser.add_argument("--width", type=int, default=29_400)
    parser.add_argument("--tile", type=int, default=2048)
    parser.add_argument("--step", type=int, default=1536)
    parser.add_argument("--batch", type=int, default=2, help="tiles per forward call")
    parser.add_argument("--crop", type=int, default=768)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["train_amp", "train_ddp_syncbn", "infer_b4", "infer_ensemble"],
    )
    parser.add_argument("--scene-dir", type=Path, default=Path("/tmp/gpu_check_scene"))
    args = parser.parse_args()
    if args.quick:
        args.height, args.width, args.tile, args.step, args.batch = 256, 448, 128, 96, 2
        args.crop, args.train_batch, args.train_steps, args.warmup_steps = 64, 2, 2, 1
    return args


def main() -> int:
    """Run the sections, write and print the results; 1 if a section failed."""
    args = _parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    from xview3_pipeline.pipelines.structure import ensemble_presets  # noqa: PLC0415

    params = full_parameters()
    ensemble = [params["ensemble"][k]["model"]["preset"] for k in ensemble_presets(params)]
    env = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "torch": torch.__version__, "quick": args.quick, "ensemble": ensemble,
    }  # fmt: skip
    logger.info("%s", env)
    results: dict[str, Any] = {"env": env}
    scene_dir: Path | None = None
    for name in args.sections:
        t0 = time.perf_counter()
        logger.info("-- %s", name)
        try:
            if name.startswith("train"):
                results[name] = train_steps(args, device, ddp=name == "train_ddp_syncbn")
            else:
                scene_dir = scene_dir or write_scene(args.scene_dir, args.height, args.width)
                presets = ["b4_unet_s2"] if name == "infer_b4" else ensemble
                results[name] = infer(args, device, presets, scene_dir)
        except Exception as exc:  # recorded; the other sections still run
            logger.error("%s failed:\n%s", name, traceback.format_exc())
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["section_s"] = round(time.perf_counter() - t0, 1)
        logger.info("%s: %s", name, results[name])
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (out / f"gpu_check{suffix}.json").write_text(json.dumps(results, indent=2, default=str))
    rows = [{"section": k, **v} for k, v in results.items() if k != "env"]
    table = pd.DataFrame(rows)
    table.to_csv(out / f"gpu_check{suffix}.csv", index=False)
    sys.stdout.write(json.dumps(env) + "\n" + table.T.to_string(header=False) + "\n")
    return int(any("error" in v for k, v in results.items() if k != "env"))


if __name__ == "__main__":
    sys.exit(main())
