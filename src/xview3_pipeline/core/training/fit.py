"""Training one fold with PyTorch Lightning, resumable after an interruption.

A run keeps its checkpoints in a work folder of its own (``<work_dir>/<run name>``): the
best by validation aggregate, the last at each epoch end and a rolling one every
``checkpoint_every_n_steps`` steps. When a run is started and that folder holds a
checkpoint, training continues from the newest one (model, optimiser, schedule, epoch,
early-stopping state and history) instead of starting again. A run that finishes
removes its work folder, so the next run of the same fold starts from scratch.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import pandas as pd
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    ModelCheckpoint,
    TQDMProgressBar,
)
from torch import nn

from xview3_pipeline.core.training.callbacks import EpochHistory
from xview3_pipeline.core.training.config import TrainingConfig
from xview3_pipeline.core.training.system import CircleNetSystem

logger = logging.getLogger(__name__)

MONITOR = "val/aggregate"


class TrainingInterruptedError(RuntimeError):
    """Training stopped before its end (e.g. Ctrl-C); the run can be resumed."""


@dataclass(frozen=True)
class FitResult:
    """Outcome of training one fold.

    Attributes:
        model: The network with the weights of the best epoch, on CPU, in eval mode.
        history: One row per epoch (losses, validation metrics, learning rate, time).
        best_score: Best validation aggregate (NaN without validation).
        best_epoch: Epoch of the best score.
        resumed_from: Checkpoint the run continued from, or None.
        seconds: Wall time of the run.
    """

    model: nn.Module
    history: pd.DataFrame
    best_score: float
    best_epoch: int
    resumed_from: str | None
    seconds: float


def resolve_precision(precision: str) -> str:
    """``auto``: bf16 mixed precision on GPUs with bf16, fp16 mixed on other GPUs, fp32 on CPU."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def newest_checkpoint(folder: Path) -> Path | None:
    """The most recently written ``.ckpt`` in a folder (``last`` or the rolling step one)."""
    candidates = (
        [p for p in folder.glob("*.ckpt") if p.name != "best.ckpt"] if folder.is_dir() else []
    )
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def _best_state(path: str | Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    prefix = "model."
    return {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }


def fit(
    system: CircleNetSystem,
    train_loader: torch.utils.data.DataLoader,
    val_loader: torch.utils.data.DataLoader | None,
    config: TrainingConfig,
    run_name: str,
    *,
    callbacks: Sequence[pl.Callback] = (),
) -> FitResult:
    """Train a system, resuming from its work folder if a previous run was interrupted.

    Args:
        system: The Lightning system (model, loss, coder, validation truth).
        train_loader: Batches of training crops.
        val_loader: Batches of validation tiles, or None (no early stopping then).
        config: Training configuration.
        run_name: Name of the run's work folder under ``config.work_dir``
            (e.g. ``cpu_small/fold_0``).
        callbacks: Extra Lightning callbacks.

    Returns:
        The best model and the history.

    Raises:
        TrainingInterruptedError: If the run was interrupted; its checkpoints are kept.
    """
    t = config.trainer
    work = config.fold_work_dir(run_name)
    work.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(t.seed, workers=True, verbose=False)
    history = EpochHistory()
    has_val = val_loader is not None and system.val_truth is not None
    best = ModelCheckpoint(
        dirpath=work, filename="best", monitor=MONITOR if has_val else None, mode="max",
        save_top_k=1, save_last=True, enable_version_counter=False,
    )  # fmt: skip
    rolling = ModelCheckpoint(
        dirpath=work, filename="step", every_n_train_steps=t.checkpoint_every_n_steps,
        save_top_k=1, enable_version_counter=False,
    )  # fmt: skip
    all_callbacks: list[pl.Callback] = [history, best, rolling, *callbacks]
    if has_val:
        all_callbacks.append(
            EarlyStopping(MONITOR, mode="max", patience=t.patience, min_delta=t.min_delta)
        )
    if t.progress_bar:
        all_callbacks.append(TQDMProgressBar(refresh_rate=max(1, t.log_every_n_steps)))
    trainer = pl.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        sync_batchnorm=t.sync_batchnorm and t.strategy.startswith("ddp"),
        precision=resolve_precision(t.precision),  # type: ignore[arg-type]
        max_epochs=t.max_epochs,
        gradient_clip_val=t.gradient_clip_val,
        log_every_n_steps=t.log_every_n_steps,
        callbacks=all_callbacks,
        logger=False,
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_val else 0,
        use_distributed_sampler=False,
        default_root_dir=str(work),
    )
    resume = newest_checkpoint(work)
    if resume is not None:
        logger.info("Resuming %s from %s", run_name, resume)
    t0 = time.perf_counter()
    trainer.fit(
        system,
        train_dataloaders=train_loader,
        val_dataloaders=val_loader if has_val else None,
        ckpt_path=str(resume) if resume else None,
        weights_only=True,
    )
    seconds = time.perf_counter() - t0
    if trainer.interrupted:
        raise TrainingInterruptedError(
            f"Training of {run_name} was interrupted; its checkpoints are kept in {work} and the "
            "next run of the same fold resumes from the newest one."
        )
    model = system.model.to("cpu")
    if has_val and best.best_model_path:
        model.load_state_dict(_best_state(best.best_model_path))
        best_score = (
            float(best.best_model_score) if best.best_model_score is not None else float("nan")
        )
    else:
        best_score = float("nan")
    model.eval()
    frame = history.frame()
    best_epoch = (
        int(frame.loc[frame[MONITOR].idxmax(), "epoch"])
        if MONITOR in frame and frame[MONITOR].notna().any()
        else int(trainer.current_epoch)
    )
    if trainer.is_global_zero:
        shutil.rmtree(work, ignore_errors=True)
    logger.info(
        "%s: best %s %.4f at epoch %d (%.0f s)", run_name, MONITOR, best_score, best_epoch, seconds
    )
    return FitResult(model, frame, best_score, best_epoch, str(resume) if resume else None, seconds)
