"""Training one fold end to end: datasets, loaders, model, loss, Lightning fit."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import lightning.pytorch as pl
import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler

from xview3_pipeline.core.data import (
    CircleNetCropDataset,
    CircleNetTileDataset,
    SamplerConfig,
    fold_scenes,
)
from xview3_pipeline.core.data.sampler import ObjectWeighting
from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig
from xview3_pipeline.core.losses import CircleNetLoss, LossConfig
from xview3_pipeline.core.metric.shoreline import Shoreline, load_shorelines
from xview3_pipeline.core.models import build_model
from xview3_pipeline.core.training.config import TrainingConfig
from xview3_pipeline.core.training.fit import FitResult, fit
from xview3_pipeline.core.training.system import CircleNetSystem

logger = logging.getLogger(__name__)


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)`` of the process group, ``(0, 1)`` outside distributed runs."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class EpochSampler(Sampler[int]):
    """Indices ``0 .. n-1`` of the current rank that tell the dataset the epoch.

    Lightning calls ``set_epoch`` on a loader's sampler at the start of every epoch
    (also when resuming mid-epoch); this forwards it to the dataset, whose items are a
    function of ``(seed, epoch, index)``. Under DDP each rank takes every
    ``world_size``-th index, so the ranks draw different crops.

    Args:
        dataset: A dataset with ``__len__`` and ``set_epoch``.
    """

    def __init__(self, dataset: CircleNetCropDataset) -> None:
        self.dataset = dataset

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the dataset."""
        self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        rank, world = rank_and_world()
        return iter(range(rank, len(self.dataset), world))

    def __len__(self) -> int:
        rank, world = rank_and_world()
        return len(range(rank, len(self.dataset), world))


@dataclass(frozen=True)
class FoldData:
    """Scenes and labels of one fold.

    Attributes:
        train_scenes: Scene-index rows of the training scenes with ``sample_weight``.
        val_scenes: Scene-index rows of the fold's validation scenes.
        labels: Validated labels of (at least) those scenes.
        val_truth: Official label columns of the validation scenes (all confidences).
        shorelines: Shorelines of the validation scenes for the shore term.
    """

    train_scenes: pd.DataFrame
    val_scenes: pd.DataFrame
    labels: pd.DataFrame
    val_truth: pd.DataFrame
    shorelines: Mapping[str, Shoreline]


def fold_fingerprint(data: FoldData) -> str:
    """A short hash of what a fold trains and validates on.

    It covers the training and validation scene ids, the training scenes' sample weights and
    every label row (positions, classes, lengths, confidence, ignore flags), so a work folder
    left by a run on other folds or labels is not resumed (see :func:`fit`).
    """
    weights = data.train_scenes.get("sample_weight")
    parts = [
        ",".join(sorted(map(str, data.train_scenes["scene_id"]))),
        ",".join(sorted(map(str, data.val_scenes["scene_id"]))),
        "" if weights is None else ",".join(f"{float(w):.6g}" for w in weights),
        str(int(pd.util.hash_pandas_object(data.labels, index=False).sum())),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def select_fold(
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    labels: pd.DataFrame,
    fold: int,
    shorelines: Mapping[str, Shoreline],
) -> FoldData:
    """Split the scenes of the fold table into the training and validation scenes of a fold.

    Label rows flagged ``ignore`` (cleaned train labels) enter the validation truth as LOW:
    the metric neither rewards nor penalises a detection of them.

    Raises:
        ValueError: If the fold has no validation or no training scene.
    """
    train = fold_scenes(scene_index, fold_assignments, fold, "train")
    val = fold_scenes(scene_index, fold_assignments, fold, "valid")
    if train.empty or val.empty:
        folds = sorted(int(f) for f in fold_assignments["fold"].unique() if f >= 0)
        raise ValueError(
            f"Fold {fold} has {len(train)} training and {len(val)} validation scenes; the fold "
            f"table has folds {folds}. Rerun the folds pipeline or train only existing folds."
        )
    used = set(train["scene_id"]) | set(val["scene_id"])
    fold_labels = labels[labels["scene_id"].isin(used)]
    val_truth = labels[labels["scene_id"].isin(set(val["scene_id"]))].copy()
    val_truth["confidence"] = val_truth["confidence"].astype(str)
    if "ignore" in val_truth.columns:
        val_truth.loc[val_truth["ignore"].fillna(False).astype(bool), "confidence"] = "LOW"
    return FoldData(
        train_scenes=train,
        val_scenes=val,
        labels=fold_labels,
        val_truth=val_truth,
        shorelines={s: shorelines[s] for s in val["scene_id"] if s in shorelines},
    )


def build_loaders(
    config: TrainingConfig, data: FoldData, coder: CircleNetCoder
) -> tuple[DataLoader, DataLoader]:
    """Training loader of sampled crops and validation loader of scene tiles."""
    d = config.data
    # The training config holds the resolved name as a string; SamplerConfig checks it.
    weighting = cast(ObjectWeighting, d.object_weighting)
    sampler_config = SamplerConfig(object_crop_p=d.object_crop_p, object_weighting=weighting)
    train_set = CircleNetCropDataset(
        data.train_scenes,
        data.labels,
        sampler=sampler_config,
        coder=coder,
        normalization=d.normalization,
        augmentations=d.augmentations,
        crop_size=d.crop_size,
        length=d.epoch_samples,
        seed=config.trainer.seed,
    )
    val_set = CircleNetTileDataset(
        data.val_scenes,
        data.labels,
        coder=coder,
        normalization=d.normalization,
        tile_size=d.val_tile_size,
    )
    common: dict[str, Any] = {
        "num_workers": d.num_workers,
        "pin_memory": torch.cuda.is_available(),
    }
    train_loader = DataLoader(
        train_set,
        batch_size=d.batch_size,
        sampler=EpochSampler(train_set),
        drop_last=True,
        **common,
    )
    val_loader = DataLoader(val_set, batch_size=d.val_batch_size, shuffle=False, **common)
    return train_loader, val_loader


def train_fold(
    config: TrainingConfig, data: FoldData, run_name: str, *, callbacks: Sequence[pl.Callback] = ()
) -> FitResult:
    """Train a CircleNet on one fold.

    Args:
        config: Training configuration.
        data: Scenes, labels and validation truth of the fold (:func:`select_fold`).
        run_name: Name of the run (its resumable work folder), e.g. ``cpu_small/fold_0``.
        callbacks: Extra Lightning callbacks.

    Returns:
        The best model and its history; ``model.checkpoint_metadata`` records the fold's
        best score and epoch.
    """
    coder = CircleNetCoder(CoderConfig.from_dict(config.coder))
    # The initial weights come from the seed too: the same seed, the same model.
    pl.seed_everything(config.trainer.seed, workers=True, verbose=False)
    model = build_model(dict(config.model))
    loss = CircleNetLoss(LossConfig.from_dict(config.loss))
    train_loader, val_loader = build_loaders(config, data, coder)
    system = CircleNetSystem(
        model,
        loss,
        coder,
        optim=config.optimizer,
        validation=config.validation,
        val_truth=data.val_truth,
        shorelines=data.shorelines,
        scene_shapes={
            str(r.scene_id): (int(r.height), int(r.width))
            for r in data.val_scenes.itertuples(index=False)
        },
        max_epochs=config.trainer.max_epochs,
        channels_last=config.trainer.channels_last,
    )
    logger.info(
        "Training %s: %d training scenes, %d validation scenes, %d crops/epoch of %d px.",
        run_name, len(data.train_scenes), len(data.val_scenes), config.data.epoch_samples, config.data.crop_size,
    )  # fmt: skip
    result = fit(
        system,
        train_loader,
        val_loader,
        config,
        run_name,
        callbacks=callbacks,
        data_fingerprint=fold_fingerprint(data),
    )
    result.model.checkpoint_metadata = {  # type: ignore[assignment]
        "run": run_name,
        "best_val_aggregate": result.best_score,
        "best_epoch": result.best_epoch,
        "train_scenes": sorted(map(str, data.train_scenes["scene_id"])),
        "val_scenes": sorted(map(str, data.val_scenes["scene_id"])),
    }
    return result


def run_fold(
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    shore_root: str,
    config: TrainingConfig,
    fold: int,
    run_prefix: str = "",
) -> FitResult:
    """Select a fold's scenes, load their shorelines and train it.

    Args:
        scene_index: The scene index (paths and sizes).
        fold_assignments: The fold table.
        labels: Validated labels.
        shore_root: Folder of ``<split>/<scene_id>_shoreline.npy`` files.
        config: Training configuration.
        fold: Fold to train (its scenes validate, the other folds train).
        run_prefix: Prefix of the run's name (:func:`fold_run_name`), which keeps the work
            folders of fold models trained for other purposes (e.g. the label-cleaning
            teachers) apart.

    Returns:
        See :func:`train_fold`. The run's work folder (:func:`fold_run_name`) is kept
        until :func:`~xview3_pipeline.core.training.fit.clear_run`.
    """
    val_ids = fold_assignments.loc[fold_assignments["fold"] == fold, "scene_id"].astype(str)
    shorelines = load_shorelines(shore_root, val_ids)
    data = select_fold(scene_index, fold_assignments, labels, fold, shorelines)
    return train_fold(config, data, fold_run_name(config, fold, run_prefix))


def fold_run_name(config: TrainingConfig, fold: int, prefix: str = "") -> str:
    """Name of a fold's training run and work folder, ``<prefix><preset>/fold_<k>``."""
    return f"{prefix}{config.model.get('preset', 'custom')}/fold_{int(fold)}"
