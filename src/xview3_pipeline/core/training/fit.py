"""Training one fold with PyTorch Lightning, resumable after an interruption.

A run keeps its checkpoints in a work folder of its own (``<work_dir>/<run name>``, see
:mod:`~xview3_pipeline.core.training.checkpoints`): the best by validation aggregate,
the last at each epoch end and a rolling one every ``checkpoint_every_n_steps`` steps.
The monitored metric is ``val/aggregate`` (xView3) unless the caller names another
(``val/score`` for xView2); it is always maximised.
When a run is started and that folder holds a checkpoint, training continues from the
newest readable one (model, optimiser, schedule, epoch, early-stopping state and
history) instead of starting again; an unreadable newest checkpoint is skipped with a
warning. A run that ends marks its folder finished and keeps it: the caller clears it
with :func:`clear_run` once the model is saved, so a kill or a failed save in between
loses nothing (the next run returns the finished result without training).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

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
from xview3_pipeline.core.training.checkpoints import (
    AtomicCheckpointIO,
    FinishedRun,
    best_weights,
    clear_work_dir,
    read_finished,
    remove_partial_writes,
    resumable_checkpoint,
    same_data,
    write_data_fingerprint,
    write_finished,
)
from xview3_pipeline.core.training.config import TrainerConfig

logger = logging.getLogger(__name__)

#: Default monitored metric: the xView3 validation aggregate.
MONITOR = "val/aggregate"


class FitConfig(Protocol):
    """What :func:`fit` needs of a training configuration.

    A dataclass (e.g. :class:`~xview3_pipeline.core.training.config.TrainingConfig` or
    :class:`~xview3_pipeline.core.xview2.training_config.Xview2TrainingConfig`) with the
    trainer settings and the runs' work folders; every field enters the fingerprint of
    :func:`config_fingerprint`.
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def trainer(self) -> TrainerConfig:
        """Lightning trainer settings."""
        ...

    def fold_work_dir(self, name: str) -> Path:
        """Work folder of the run ``name``."""
        ...


class TrainingInterruptedError(RuntimeError):
    """Training stopped before its end (e.g. Ctrl-C); the run can be resumed."""


@dataclass(frozen=True)
class FitResult:
    """Outcome of training one fold.

    Attributes:
        model: The network with the weights of the best epoch, on CPU, in eval mode.
        history: One row per epoch (losses, validation metrics, learning rate, time).
        best_score: Best value of the monitored metric (NaN without validation).
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


def config_fingerprint(config: FitConfig) -> str:
    """A short hash of every training parameter (a finished run is reused only if equal)."""
    text = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_precision(precision: str) -> str:
    """``auto``: bf16 mixed precision on GPUs with bf16, fp16 mixed on other GPUs, fp32 on CPU."""
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _callbacks(
    config: FitConfig, work: Path, has_val: bool, extra: Sequence[pl.Callback], monitor: str
) -> tuple[EpochHistory, ModelCheckpoint, list[pl.Callback]]:
    """The history, the best/last checkpoint and every callback of a run.

    Checkpoints are written at the end of the training epoch, after :class:`EpochHistory`
    has added the epoch's row (Lightning runs checkpoint callbacks last), so the row of
    every finished epoch is in ``last.ckpt``.
    """
    t = config.trainer
    history = EpochHistory()
    best = ModelCheckpoint(
        dirpath=work, filename="best", monitor=monitor if has_val else None, mode="max",
        save_top_k=1, save_last=True, enable_version_counter=False,
        save_on_train_epoch_end=True,
    )  # fmt: skip
    rolling = ModelCheckpoint(
        dirpath=work, filename="step", every_n_train_steps=t.checkpoint_every_n_steps,
        save_top_k=1, enable_version_counter=False,
    )  # fmt: skip
    callbacks: list[pl.Callback] = [history, best, rolling, *extra]
    if has_val:
        callbacks.append(
            EarlyStopping(monitor, mode="max", patience=t.patience, min_delta=t.min_delta)
        )
    if t.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, t.log_every_n_steps)))
    return history, best, callbacks


def _trainer(
    config: FitConfig, work: Path, callbacks: list[pl.Callback], has_val: bool
) -> pl.Trainer:
    t = config.trainer
    return pl.Trainer(
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        sync_batchnorm=t.sync_batchnorm and t.strategy.startswith("ddp"),
        precision=resolve_precision(t.precision),  # type: ignore[arg-type]
        max_epochs=t.max_epochs,
        gradient_clip_val=t.gradient_clip_val,
        log_every_n_steps=t.log_every_n_steps,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=t.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_val else 0,
        use_distributed_sampler=False,
        default_root_dir=str(work),
    )


def _result(
    model: nn.Module, work: Path, run: FinishedRun, resumed_from: str | None, seconds: float
) -> FitResult:
    """The result of a finished run: ``model`` with the recorded weights, in eval mode."""
    model = model.to("cpu")
    model.load_state_dict(best_weights(work / run.weights, work))
    model.eval()
    return FitResult(
        model, pd.DataFrame(run.history), run.best_score, run.best_epoch, resumed_from, seconds
    )


def _network(system: pl.LightningModule) -> nn.Module:
    """The plain network a system trains (its ``model`` attribute)."""
    model = getattr(system, "model", None)
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{type(system).__name__} has no `model` network (an nn.Module attribute); "
            "fit() returns the weights of that attribute."
        )
    return model


def fit(
    system: pl.LightningModule,
    train_loader: torch.utils.data.DataLoader,
    val_loader: torch.utils.data.DataLoader | None,
    config: FitConfig,
    run_name: str,
    *,
    callbacks: Sequence[pl.Callback] = (),
    data_fingerprint: str = "",
    monitor: str = MONITOR,
) -> FitResult:
    """Train a system, resuming from its work folder if a previous run was interrupted.

    The work folder is kept (marked finished); clear it with :func:`clear_run` once the
    returned model has been saved. A folder left by a run on other data (another
    ``data_fingerprint``: other folds, scenes or labels) is cleared with a warning and
    training starts from scratch; a change of training parameters alone resumes.

    Args:
        system: The Lightning system; its ``model`` attribute is the network whose weights
            are returned, and a ``validates`` attribute that is False (e.g. an xView3
            system without validation truth) skips validation even with a loader.
        train_loader: Batches of training crops.
        val_loader: Batches of validation tiles, or None (no early stopping then).
        config: Training configuration (see :class:`FitConfig`).
        run_name: Name of the run's work folder under ``config.work_dir``
            (e.g. ``cpu_small/fold_0``).
        callbacks: Extra Lightning callbacks.
        data_fingerprint: Hash of the run's training and validation data (e.g.
            :func:`~xview3_pipeline.core.training.train.fold_fingerprint`); "" skips the check.
        monitor: Logged validation metric (maximised) that chooses the best checkpoint and
            drives early stopping: ``val/aggregate`` (xView3) or ``val/score`` (xView2).

    Returns:
        The best model and the history.

    Raises:
        TrainingInterruptedError: If the run was interrupted; its checkpoints are kept.
        ModelFileError: If the finished run's weights checkpoint is unreadable.
        TypeError: If ``system`` has no ``model`` network.
    """
    network = _network(system)
    work = config.fold_work_dir(run_name)
    fingerprint = config_fingerprint(config)
    if not same_data(work, data_fingerprint):
        logger.warning(
            "%s holds a run on other data (other folds, scenes or labels); it is cleared and "
            "%s trains from scratch.",
            work,
            run_name,
        )
        clear_work_dir(work)
    finished = read_finished(work, fingerprint)
    if finished is not None:
        logger.info("%s finished before (%s); returning its result.", run_name, work)
        return _result(network, work, finished, str(work / finished.weights), 0.0)
    work.mkdir(parents=True, exist_ok=True)
    write_data_fingerprint(work, data_fingerprint)
    remove_partial_writes(work)
    pl.seed_everything(config.trainer.seed, workers=True, verbose=False)
    has_val = val_loader is not None and bool(getattr(system, "validates", True))
    history, best, all_callbacks = _callbacks(config, work, has_val, callbacks, monitor)
    trainer = _trainer(config, work, all_callbacks, has_val)
    resume = resumable_checkpoint(work)
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
    frame = history.frame()
    if has_val and best.best_model_path:
        weights = Path(best.best_model_path).name
        score = best.best_model_score
        best_score = float(score) if score is not None else float("nan")
    else:
        weights, best_score = Path(best.last_model_path).name, float("nan")
    best_epoch = (
        int(frame.loc[frame[monitor].idxmax(), "epoch"])
        if monitor in frame and frame[monitor].notna().any()
        else int(trainer.current_epoch)
    )
    run = FinishedRun(weights, best_score, best_epoch, history.rows, fingerprint)
    if trainer.is_global_zero:
        write_finished(work, run)
    logger.info(
        "%s: best %s %.4f at epoch %d (%.0f s)", run_name, monitor, best_score, best_epoch, seconds
    )
    return _result(network, work, run, str(resume) if resume else None, seconds)


def clear_run(config: FitConfig, run_name: str) -> bool:
    """Remove the work folder of a run whose model has been saved.

    Args:
        config: Training configuration (its ``work_dir``).
        run_name: As given to :func:`fit`.

    Returns:
        Whether a folder was removed.
    """
    return clear_work_dir(config.fold_work_dir(run_name))
