"""Benchmark: fp32 against bf16 autocast on the CPU, for training steps and inference.

Run on demand, on quiet cores (it reports the load average before and after)::

    python benchmarks/bench_cpu_precision.py [--preset cpu_small] [--crop 256] [--batch 8]

Builds one synthetic 1024² scene (sea clutter with Gamma speckle and bright vessels) in a
temporary folder and draws fixed batches from it with the training dataset (no
augmentation). Then, on the same batches and from the same initial weights:

* **training step** (zero_grad, forward and loss, backward, AdamW step) in fp32 and under
  ``torch.autocast("cpu", dtype=torch.bfloat16)`` (forward and loss inside the autocast,
  as Lightning's ``bf16-mixed``; weights and optimizer state stay fp32);
* **inference** (``torch.inference_mode``, eval mode, one forward of the batch);
* a **short run** of ``--steps`` optimisation steps per precision from the same weights
  on the same batch sequence, whose losses are compared.

Timings alternate between the precisions (so a change of load hits both), drop
``--warmup`` calls, and report the median of ``--repeats``. Writes
``benchmarks/results/cpu_precision.csv`` (one row per precision) and
``benchmarks/results/cpu_precision_loss.csv`` (the loss curves).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import torch
from affine import Affine

from xview3_pipeline.core.data import CircleNetCropDataset, SamplerConfig
from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig
from xview3_pipeline.core.losses import CircleNetLoss
from xview3_pipeline.core.models import build_model
from xview3_pipeline.core.training.system import batch_targets

logger = logging.getLogger("bench")

PRECISIONS = ("fp32", "bf16")
SCENE = 1024


def _write(path: Path, array: np.ndarray) -> None:
    profile = {
        "driver": "GTiff", "height": array.shape[0], "width": array.shape[1], "count": 1,
        "dtype": "float32", "crs": "EPSG:32631", "nodata": -32768.0,
        "transform": Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array.astype(np.float32), 1)


def _scene(root: Path, n_objects: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One speckled sea scene with bright 3x3 vessels; its scene table and labels."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(16, SCENE - 16, n_objects)
    cols = rng.integers(16, SCENE - 16, n_objects)
    paths = {}
    for name, sea_db, peak_db in (("VH", -27.0, 0.0), ("VV", -17.0, 10.0)):
        power = 10 ** (sea_db / 10) * rng.gamma(4.4, 1 / 4.4, (SCENE, SCENE))
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                power[rows + dr, cols + dc] += 10 ** ((peak_db - 6 * (abs(dr) + abs(dc))) / 10)
        paths[name] = root / f"{name}_dB.tif"
        _write(paths[name], 10 * np.log10(power + 1e-5))
    scenes = pd.DataFrame(
        [{"scene_id": "s", "vh_path": str(paths["VH"]), "vv_path": str(paths["VV"]),
          "width": SCENE, "height": SCENE}]
    )  # fmt: skip
    vessel = rng.random(n_objects) < 0.8
    labels = pd.DataFrame(
        {
            "scene_id": "s",
            "detect_scene_row": rows,
            "detect_scene_column": cols,
            "confidence": pd.Categorical(
                ["HIGH"] * n_objects, categories=["LOW", "MEDIUM", "HIGH"], ordered=True
            ),
            "is_vessel": pd.array(vessel, dtype="boolean"),
            "is_fishing": pd.array(vessel & (rng.random(n_objects) < 0.4), dtype="boolean"),
            "vessel_length_m": rng.uniform(15, 200, n_objects),
            "is_near_shore": False,
        }
    )
    return scenes, labels


def _batches(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    scenes, labels = _scene(root, n_objects=150, seed=args.seed)
    dataset = CircleNetCropDataset(
        scenes, labels, sampler=SamplerConfig(object_crop_p=0.8),
        coder=CircleNetCoder(CoderConfig()), augmentations=None,
        crop_size=args.crop, length=args.batch * args.n_batches, seed=args.seed,
    )  # fmt: skip
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, num_workers=0)
    return list(loader)


def _autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class _Trainer:
    """A model, its loss and AdamW, stepping in one precision."""

    def __init__(self, state: dict[str, torch.Tensor], preset: str, precision: str) -> None:
        self.model = build_model(preset)
        self.model.load_state_dict(state)
        self.model.train()
        self.loss_fn = CircleNetLoss()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.precision = precision

    def step(self, batch: dict[str, Any]) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.precision):
            outputs = self.model(batch["image"])
            terms = self.loss_fn(outputs, batch_targets(batch), batch["sample_weight"])
        terms["total"].float().backward()
        self.optimizer.step()
        return float(terms["total"].detach())

    def infer(self, batch: dict[str, Any]) -> None:
        self.model.eval()
        with torch.inference_mode(), _autocast(self.precision):
            self.model(batch["image"])
        self.model.train()


def _timed(call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def _alternate(
    trainers: dict[str, _Trainer], batches: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Step and inference times per precision, alternating precisions call by call."""
    times: dict[str, dict[str, list[float]]] = {p: {"step": [], "infer": []} for p in trainers}
    for i in range(args.warmup + args.repeats):
        batch = batches[i % len(batches)]
        for precision, trainer in trainers.items():
            step = _timed(lambda t=trainer, b=batch: t.step(b))
            infer = _timed(lambda t=trainer, b=batch: t.infer(b))
            if i >= args.warmup:
                times[precision]["step"].append(step)
                times[precision]["infer"].append(infer)
    return times


def _loss_curves(
    state: dict[str, torch.Tensor], batches: list[dict[str, Any]], args: argparse.Namespace
) -> pd.DataFrame:
    curves: dict[str, list[float]] = {}
    for precision in PRECISIONS:
        torch.manual_seed(args.seed)
        trainer = _Trainer(state, args.preset, precision)
        curves[precision] = [trainer.step(batches[i % len(batches)]) for i in range(args.steps)]
    frame = pd.DataFrame({"step": np.arange(1, args.steps + 1), **curves})
    frame["rel_diff"] = (frame["bf16"] - frame["fp32"]) / frame["fp32"].abs()
    return frame


def main() -> None:
    """Parse arguments, measure, write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--n-batches", type=int, default=8, help="distinct batches drawn")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--steps", type=int, default=40, help="steps of the loss comparison")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        batches = _batches(args, Path(tmp))
    torch.manual_seed(args.seed)
    state = copy.deepcopy(build_model(args.preset).state_dict())
    trainers = {p: _Trainer(state, args.preset, p) for p in PRECISIONS}
    times = _alternate(trainers, batches, args)
    curves = _loss_curves(state, batches, args)
    load_after = os.getloadavg()[0]
    last = curves.tail(max(args.steps // 4, 1))
    rows = []
    for precision in PRECISIONS:
        step_s = statistics.median(times[precision]["step"])
        infer_s = statistics.median(times[precision]["infer"])
        rows.append(
            {
                "preset": args.preset, "crop": args.crop, "batch": args.batch,
                "precision": precision, "torch_threads": torch.get_num_threads(),
                "repeats": args.repeats, "step_s_median": round(step_s, 4),
                "infer_s_median": round(infer_s, 4),
                "step_speedup_vs_fp32": None, "infer_speedup_vs_fp32": None,
                "loss_first": round(curves[precision].iloc[0], 4),
                "loss_last_quarter_mean": round(float(last[precision].mean()), 4),
                "load1_before": round(load_before, 2), "load1_after": round(load_after, 2),
            }
        )  # fmt: skip
    for row in rows:
        row["step_speedup_vs_fp32"] = round(rows[0]["step_s_median"] / row["step_s_median"], 3)
        row["infer_speedup_vs_fp32"] = round(rows[0]["infer_s_median"] / row["infer_s_median"], 3)
    args.out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "cpu_precision.csv", index=False)
    curves.round(5).to_csv(args.out / "cpu_precision_loss.csv", index=False)
    logger.info("\n%s", table.to_string(index=False))
    logger.info(
        "loss curves: max |rel diff| %.3f, last-quarter mean rel diff %+.3f",
        float(curves["rel_diff"].abs().max()),
        float(last["rel_diff"].mean()),
    )


if __name__ == "__main__":
    main()
