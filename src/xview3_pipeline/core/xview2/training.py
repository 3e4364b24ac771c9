"""Training an xView2 damage-segmentation model with the project's Lightning engine.

:class:`Xview2System` wires a plain network (``(B, 6, H, W)`` pre/post images in, ``(B, 5,
H, W)`` logits out) to a weighted cross-entropy, RAdam with a cosine schedule, and a
validation on whole images scored with the official xView2 metric: per image the argmax
of the logits is the damage mask and ``damage > 0`` the localization mask, the padding
(and any pixel whose target is 255) is left out, the pixel counts of
:func:`~xview3_pipeline.core.xview2.metric.image_counts` are summed over the images and
the epoch logs ``val/score`` and its parts. The checkpoint is chosen, and early stopping
decided, on ``val/score``, as the winner did.

:func:`train_xview2_model` runs it through :func:`~xview3_pipeline.core.training.fit.fit`,
so a run resumes after an interruption and a finished run is returned without training
again, exactly as the xView3 folds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any, Final

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from xview3_pipeline.core.training.config import OptimConfig
from xview3_pipeline.core.training.fit import FitResult, fit
from xview3_pipeline.core.training.system import ChannelsLastSystem, cosine_optimizer
from xview3_pipeline.core.training.train import rank_and_world
from xview3_pipeline.core.xview2.losses import WeightedCrossEntropy
from xview3_pipeline.core.xview2.metric import (
    SCORE_KEYS,
    PixelCounts,
    image_counts,
    score_from_counts,
)
from xview3_pipeline.core.xview2.training_config import (
    IGNORE_INDEX,
    WINNER_CLASS_WEIGHTS,
    WINNER_OPTIMIZER,
    Xview2DataConfig,
    Xview2TrainingConfig,
)

__all__ = [
    "MONITOR",
    "EpochRandomSampler",
    "Xview2DataConfig",
    "Xview2System",
    "Xview2TrainingConfig",
    "batch_counts",
    "build_xview2_loaders",
    "train_xview2_model",
    "weighted_cross_entropy",
    "xview2_fingerprint",
]

logger = logging.getLogger(__name__)

#: Metric that chooses the best checkpoint and drives early stopping.
MONITOR: Final = "val/score"
_MASK_KINDS = (
    "predicted localization", "predicted damage", "target localization", "target damage",
)  # fmt: skip


def weighted_cross_entropy(
    weights: Sequence[float] = WINNER_CLASS_WEIGHTS, ignore_index: int = IGNORE_INDEX
) -> WeightedCrossEntropy:
    """The winner's loss: cross-entropy with class weights, mask value 255 ignored.

    Args:
        weights: Weights of classes 0..4.
        ignore_index: Mask value that contributes nothing.

    Returns:
        A loss mapping logits ``(B, 5, H, W)`` and an int64 mask ``(B, H, W)`` to the
        weighted mean over the non-ignored pixels (0 when every pixel is ignored).
    """
    return WeightedCrossEntropy(tuple(weights), ignore_index=ignore_index)


def batch_counts(
    logits: torch.Tensor,
    mask: torch.Tensor,
    *,
    heights: Any = None,
    widths: Any = None,
    pair_ids: Sequence[str] | None = None,
) -> PixelCounts:
    """Official xView2 pixel counts of a batch of predictions, summed over its images.

    The damage prediction is the argmax of the logits and the localization prediction is
    ``damage > 0``; the target mask gives both targets. Each image is cropped to its size
    before padding, and pixels whose target is 255 count for nothing (both masks are set
    to 0 there: no building predicted, none to find).

    Args:
        logits: ``(B, 5, H, W)``.
        mask: ``(B, H, W)`` int64 targets 0..4, 255 ignored.
        heights: ``B`` image heights before padding, pixels (tensor or sequence), or None
            (the full ``H``).
        widths: Likewise, widths.
        pair_ids: Names of the images in error messages.

    Returns:
        The counts of :func:`~xview3_pipeline.core.xview2.metric.image_counts`, summed.

    Raises:
        ValueError: A size outside ``(0, H]`` / ``(0, W]``, or a target value outside
            0..4 and 255 (:class:`~xview3_pipeline.core.xview2.metric.XView2MaskError`,
            naming the pair).
    """
    batch_size = mask.shape[0]
    ignored = mask == IGNORE_INDEX
    pred = logits.argmax(dim=1).masked_fill(ignored, 0).cpu().numpy()
    truth = mask.masked_fill(ignored, 0).cpu().numpy()
    rows = _sizes(heights, batch_size, mask.shape[-2])
    cols = _sizes(widths, batch_size, mask.shape[-1])
    names = list(pair_ids) if pair_ids is not None else [str(i) for i in range(batch_size)]
    total = PixelCounts.zeros()
    for i in range(batch_size):
        p, t = pred[i, : rows[i], : cols[i]], truth[i, : rows[i], : cols[i]]
        what = tuple(f"pair {names[i]} {kind}" for kind in _MASK_KINDS)
        total = total + image_counts(p, p, t, t, names=what)  # localization: > 0
    return total


class Xview2System(ChannelsLastSystem):
    """Trains a damage-segmentation network on crops and validates it on whole images.

    Args:
        model: The network; ``model(x)`` maps ``(B, 6, H, W)`` to logits ``(B, 5, H, W)``.
        loss: Module mapping ``(logits, mask)`` to a scalar; default
            :func:`weighted_cross_entropy` with the winner's weights.
        optim: Optimiser settings (default: the winner's RAdam, weight decay 1e-5).
        max_epochs: Length of the cosine schedule, epochs.
        validate: Score validation images with the xView2 metric; False skips validation.
        channels_last: Use the channels-last memory format on CUDA.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        *,
        optim: OptimConfig = WINNER_OPTIMIZER,
        max_epochs: int = 1,
        validate: bool = True,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss if loss is not None else weighted_cross_entropy()
        self.optim = optim
        self.max_epochs = max_epochs
        self.channels_last = channels_last
        self._validate = validate
        self._counts = PixelCounts.zeros()
        self._n_images = 0

    @property
    def validates(self) -> bool:
        """Whether validation runs (read by :func:`~xview3_pipeline.core.training.fit.fit`)."""
        return self._validate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 5, H, W)`` of normalised pre/post images ``(B, 6, H, W)``."""
        return self.model(x)

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self) -> None:
        """Give the training dataset the epoch, so augmentations and crops change with it."""
        loader = self.trainer.train_dataloader
        set_epoch = getattr(getattr(loader, "dataset", None), "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.current_epoch)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        """One optimisation step on a batch of crops; logs ``train/loss``."""
        loss = self.loss(self(self._image(batch)), batch["mask"])
        self.log(
            "train/loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True,
            batch_size=batch["image"].shape[0], sync_dist=True,
        )  # fmt: skip
        return loss

    # ---------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        """Reset the summed pixel counts."""
        self._counts = PixelCounts.zeros()
        self._n_images = 0

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """Loss and metric counts (:func:`batch_counts`) of whole, padded images.

        ``batch["height"]`` / ``batch["width"]``, when present, give each image's size
        before padding.
        """
        logits = self(self._image(batch))
        target = batch["mask"]
        batch_size = target.shape[0]
        loss = self.loss(logits, target)
        self.log("val/loss", loss, on_epoch=True, batch_size=batch_size, sync_dist=True)
        self._counts = self._counts + batch_counts(
            logits, target, heights=batch.get("height"), widths=batch.get("width"),
            pair_ids=batch.get("pair_id"),
        )  # fmt: skip
        self._n_images += batch_size

    def _gathered(self) -> tuple[PixelCounts, int]:
        """The counts summed over every device (the score is unchanged by duplicates)."""
        c = self._counts
        packed = np.concatenate([c.tp, c.fp, c.fn, [self._n_images]])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            tensor = torch.as_tensor(packed, dtype=torch.int64, device=self.device)
            torch.distributed.all_reduce(tensor)
            packed = tensor.cpu().numpy()
        tp, fp, fn = np.split(packed[:-1], 3)
        return PixelCounts(tp, fp, fn), int(packed[-1])

    def on_validation_epoch_end(self) -> None:
        """Score the epoch's images and log ``val/<key>`` for every key of ``SCORE_KEYS``."""
        counts, n_images = self._gathered()
        if n_images == 0:
            return
        scores = score_from_counts(counts)
        for key in SCORE_KEYS:
            self.log(f"val/{key}", scores[key], prog_bar=key == "score", sync_dist=False)
        self._counts = PixelCounts.zeros()
        self._n_images = 0

    # ----------------------------------------------------------------- optimiser
    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """RAdam (or AdamW) with decoupled weight decay and a per-epoch cosine schedule."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return cosine_optimizer(
            self.model, self.optim, max_epochs=self.max_epochs, world_size=world
        )


def _sizes(values: Any, batch_size: int, full: int) -> list[int]:
    """Per image of a batch, its size along one axis before padding (``full`` if unknown)."""
    if values is None:
        return [full] * batch_size
    sizes = [int(v) for v in torch.as_tensor(values).reshape(-1).tolist()]
    if len(sizes) != batch_size or any(not 0 < s <= full for s in sizes):
        raise ValueError(
            f"Image sizes {sizes} of a validation batch must be {batch_size} values in "
            f"(0, {full}] (the padded side)."
        )
    return sizes


class EpochRandomSampler(Sampler[int]):
    """``num_samples`` random indices per epoch, a function of ``(seed, epoch)``.

    Indices come from successive random permutations of the dataset, so every item is drawn
    about equally often. Lightning calls ``set_epoch`` at the start of every epoch (also
    when resuming mid-epoch), so a resumed run draws the same items as an uninterrupted
    one. Under DDP each rank takes every ``world_size``-th index of the epoch's draw.

    Args:
        n_items: Length of the dataset.
        num_samples: Draws per epoch over all ranks.
        seed: Base seed.
    """

    def __init__(self, n_items: int, num_samples: int, seed: int) -> None:
        if n_items < 1:
            raise ValueError("EpochRandomSampler needs a non-empty dataset, got 0 items.")
        self.n_items = n_items
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draw of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        rounds = -(-self.num_samples // self.n_items)
        draw = torch.cat([torch.randperm(self.n_items, generator=generator) for _ in range(rounds)])
        rank, world = rank_and_world()
        return iter(draw[: self.num_samples][rank::world].tolist())

    def __len__(self) -> int:
        rank, world = rank_and_world()
        return len(range(rank, self.num_samples, world))


def _length(dataset: Dataset) -> int:
    if not isinstance(dataset, Sized):
        raise TypeError(f"An xView2 dataset must have a length; {type(dataset).__name__} has none.")
    return len(dataset)


def build_xview2_loaders(
    train_dataset: Dataset,
    val_dataset: Dataset | None,
    config: Xview2TrainingConfig,
) -> tuple[DataLoader, DataLoader | None]:
    """The training loader (``samples_per_epoch`` random crops) and the validation loader.

    Args:
        train_dataset: Items ``{"image": (6, h, w) float32, "mask": (h, w) int64, ...}``
            of a fixed crop size.
        val_dataset: Whole padded images (batch size 1, as they may differ in size), or None.
        config: Training configuration.

    Returns:
        ``(train_loader, val_loader)``; the training loader drops an incomplete last batch.
    """
    d = config.data
    common: dict[str, Any] = {"num_workers": d.num_workers, "pin_memory": torch.cuda.is_available()}
    sampler = EpochRandomSampler(_length(train_dataset), d.samples_per_epoch, config.trainer.seed)
    train_loader = DataLoader(
        train_dataset, batch_size=d.batch_size, sampler=sampler, drop_last=True, **common
    )
    val_loader = (
        None
        if val_dataset is None
        else DataLoader(val_dataset, batch_size=1, shuffle=False, **common)
    )
    return train_loader, val_loader


def xview2_fingerprint(
    train_pair_ids: Iterable[str], val_pair_ids: Iterable[str] = (), *, labels: str = ""
) -> str:
    """A short hash of what a run trains and validates on.

    A work folder left by a run on other pairs (another fold) is then not resumed (see
    :func:`~xview3_pipeline.core.training.fit.fit`).

    Args:
        train_pair_ids: Pair ids of the training pairs (order does not matter).
        val_pair_ids: Pair ids of the validation pairs.
        labels: Anything else that defines the data, e.g. a hash of the damage masks or the
            name of their source.

    Returns:
        16 hex digits.
    """
    parts = [
        ",".join(sorted(map(str, train_pair_ids))),
        ",".join(sorted(map(str, val_pair_ids))),
        labels,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def train_xview2_model(
    model: nn.Module,
    train_dataset: Dataset,
    val_dataset: Dataset | None,
    config: Xview2TrainingConfig,
    run_name: str,
    *,
    loss: nn.Module | None = None,
    callbacks: Sequence[pl.Callback] = (),
    data_fingerprint: str = "",
) -> FitResult:
    """Train an xView2 model, resuming its run if it was interrupted.

    Args:
        model: The network, ``(B, 6, H, W) -> (B, 5, H, W)`` logits.
        train_dataset: Training crops of ``config.data.crop_size`` (items as
            :class:`~xview3_pipeline.core.xview2.data.Xview2PairDataset`'s).
        val_dataset: Whole validation images padded to a multiple of 32, or None (no
            validation: the last epoch's weights are returned).
        config: Training configuration.
        run_name: Name of the run's work folder under ``config.work_dir``
            (e.g. ``cpu_siamese_unet/fold_0``).
        loss: The loss; default :func:`weighted_cross_entropy` with ``config.class_weights``.
        callbacks: Extra Lightning callbacks.
        data_fingerprint: :func:`xview2_fingerprint` of the run's pairs; "" skips the check.

    Returns:
        The model with the weights of the best epoch by ``val/score`` (CPU, eval mode), its
        history, best score and epoch; ``model.checkpoint_metadata`` records them.

    Raises:
        TrainingInterruptedError: If the run was interrupted; its checkpoints are kept.
    """
    train_loader, val_loader = build_xview2_loaders(train_dataset, val_dataset, config)
    system = Xview2System(
        model,
        loss if loss is not None else weighted_cross_entropy(config.class_weights),
        optim=config.optimizer,
        max_epochs=config.trainer.max_epochs,
        validate=val_dataset is not None,
        channels_last=config.trainer.channels_last,
    )
    logger.info(
        "Training %s: %d training items, %s validation images, %d crops/epoch of %d px.",
        run_name, _length(train_dataset), "no" if val_dataset is None else _length(val_dataset),
        config.data.samples_per_epoch, config.data.crop_size,
    )  # fmt: skip
    result = fit(
        system,
        train_loader,
        val_loader,
        config,
        run_name,
        callbacks=callbacks,
        data_fingerprint=data_fingerprint,
        monitor=MONITOR,
    )
    result.model.checkpoint_metadata = {  # type: ignore[assignment]
        "run": run_name,
        "best_val_score": result.best_score,
        "best_epoch": result.best_epoch,
    }
    return result
