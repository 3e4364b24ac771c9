"""Configuration of xView2 damage-segmentation training, from the ``xview2_training`` block.

The block has the shape of the xView3 ``training`` block and reuses its optimiser and
trainer settings (:class:`~xview3_pipeline.core.training.config.OptimConfig`,
:class:`~xview3_pipeline.core.training.config.TrainerConfig`), with the winner's xView2
defaults where they differ: RAdam with decoupled weight decay 1e-5 (write-up of
BloodAxe/xView2-Solution) and a cross-entropy weighted ``(1, 1, 3, 3, 3)``. The winner
trained on 512 px crops and validated on whole 1024 px images; the defaults here are
CPU-sized. An :class:`Xview2TrainingConfig` is what
:func:`~xview3_pipeline.core.training.fit.fit` takes (``trainer`` and ``fold_work_dir``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from xview3_pipeline.core.checks import check_field_types, require, require_choice
from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.training.config import (
    OptimConfig,
    TrainerConfig,
    check_optimizer,
    check_trainer,
    config_block,
)
from xview3_pipeline.core.xview2.augmentations import XVIEW2_AUGMENTATION_PRESETS

#: The winner's cross-entropy weights of classes 0..4 (no building, no / minor / major
#: damage, destroyed).
WINNER_CLASS_WEIGHTS: Final[tuple[float, ...]] = (1.0, 1.0, 3.0, 3.0, 3.0)
#: Number of classes of the damage masks.
N_CLASSES: Final = 5
#: Mask value of pixels without a target (image padding); the loss and the metric skip them.
IGNORE_INDEX: Final = 255
#: Names of the augmentation presets of :mod:`xview3_pipeline.core.xview2.augmentations`.
AUGMENTATION_PRESETS: Final[tuple[str, ...]] = XVIEW2_AUGMENTATION_PRESETS
#: Input side multiple of every xView2 model (total encoder stride).
INPUT_STRIDE: Final = 32
#: The winner's optimiser: RAdam, decoupled weight decay 1e-5. Its ``train.sh`` uses
#: lr 1e-4 or 1e-3 over 150 epochs; 1e-3 suits the few epochs of a CPU run.
WINNER_OPTIMIZER: Final = OptimConfig(name="radam", lr=1e-3, weight_decay=1e-5)


@dataclass(frozen=True)
class Xview2DataConfig:
    """How training crops are drawn.

    Attributes:
        crop_size: Side of a training crop, pixels, a multiple of 32 (winner: 512).
        batch_size: Crops per batch and device (winner: 16 to 64).
        samples_per_epoch: Crops drawn per epoch over all devices; pairs are drawn by
            random permutations, so an epoch may visit a pair several times or not at all.
        augmentations: Augmentation preset (``winner``, ``light`` or ``none``).
        num_workers: DataLoader worker processes.
    """

    crop_size: int = 256
    batch_size: int = 4
    samples_per_epoch: int = 64
    augmentations: str = "winner"
    num_workers: int = 2


def _path_str(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _class_weights(value: Any, what: str) -> tuple[float, ...]:
    """The class weights as a tuple of floats, or a ``ValueError`` naming ``what``."""
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValueError(f"{what} must be a list of {N_CLASSES} weights, got {value!r}.")
    weights = list(value)
    ok = len(weights) == N_CLASSES and all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w > 0
        for w in weights
    )
    require(ok, what, value, f"a list of {N_CLASSES} finite weights > 0 (classes 0..4)")
    return tuple(float(w) for w in weights)


@dataclass(frozen=True)
class Xview2TrainingConfig:
    """Everything needed to train one xView2 model on one fold.

    Attributes:
        data: Training crops.
        optimizer: Optimiser and cosine schedule (default :data:`WINNER_OPTIMIZER`).
        trainer: Lightning settings: ``max_epochs`` (epochs), ``patience`` (early stopping
            on ``val/score``), ``precision``, ``seed``, ``checkpoint_every_n_steps``, ...
        class_weights: Cross-entropy weights of classes 0..4 (winner: 1, 1, 3, 3, 3).
        work_dir: Folder of the runs' resumable work folders.
    """

    data: Xview2DataConfig = field(default_factory=Xview2DataConfig)
    optimizer: OptimConfig = WINNER_OPTIMIZER
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    class_weights: tuple[float, ...] = WINNER_CLASS_WEIGHTS
    work_dir: str = "data/06_models/xview2_training_work"

    @classmethod
    def from_dict(
        cls, values: Mapping[str, Any] | None, *, what: str = "xview2_training"
    ) -> Xview2TrainingConfig:
        """Build from the parameters block and validate every value.

        Args:
            values: The block: optional ``data``, ``optimizer`` and ``trainer`` mappings,
                ``class_weights`` and ``work_dir``; a missing key keeps its default, and
                an ``optimizer`` block only overrides the winner's values it names.
            what: Its name in messages.

        Raises:
            ValueError: On an unknown key or an invalid value; the message names the
                parameter (e.g. ``xview2_training.data.crop_size``), the value and what is
                accepted.
        """
        if values is not None and not isinstance(values, Mapping):
            raise ValueError(f"{what} must be a mapping of parameters, got {values!r}.")
        values = check_keys(cls, values, what=what)
        optimizer = values.get("optimizer") or {}
        if not isinstance(optimizer, Mapping):
            raise ValueError(
                f"{what}.optimizer must be a mapping of parameters, got {optimizer!r}."
            )
        check_keys(OptimConfig, optimizer, what=f"{what}.optimizer")
        cfg = cls(
            data=config_block(Xview2DataConfig, values.get("data"), f"{what}.data"),
            optimizer=config_block(
                OptimConfig,
                {**dataclasses.asdict(WINNER_OPTIMIZER), **optimizer},
                f"{what}.optimizer",
            ),
            trainer=config_block(TrainerConfig, values.get("trainer"), f"{what}.trainer"),
            class_weights=_class_weights(
                values.get("class_weights", WINNER_CLASS_WEIGHTS), f"{what}.class_weights"
            ),
            work_dir=_path_str(values.get("work_dir", cls.work_dir)),
        )
        cfg.validate(what=what)
        return cfg

    def validate(self, *, what: str = "xview2_training") -> None:
        """Check every value that can be checked without data.

        Raises:
            ValueError: Naming the parameter, the value and what is accepted.
        """
        d = self.data
        check_field_types(d, f"{what}.data")
        check_field_types(self.optimizer, f"{what}.optimizer")
        check_field_types(self.trainer, f"{what}.trainer")
        require(
            d.crop_size >= INPUT_STRIDE and d.crop_size % INPUT_STRIDE == 0,
            f"{what}.data.crop_size", d.crop_size,
            f"a positive multiple of the models' total stride ({INPUT_STRIDE})",
        )  # fmt: skip
        require(d.batch_size >= 1, f"{what}.data.batch_size", d.batch_size, "an integer >= 1")
        require(
            d.samples_per_epoch >= d.batch_size, f"{what}.data.samples_per_epoch",
            d.samples_per_epoch,
            f">= data.batch_size ({d.batch_size}): an epoch needs at least one full batch",
        )  # fmt: skip
        require(d.num_workers >= 0, f"{what}.data.num_workers", d.num_workers, "an integer >= 0")
        require_choice(d.augmentations, AUGMENTATION_PRESETS, f"{what}.data.augmentations")
        check_optimizer(self.optimizer, f"{what}.optimizer")
        check_trainer(self.trainer, f"{what}.trainer")
        _class_weights(self.class_weights, f"{what}.class_weights")
        if not isinstance(self.work_dir, str) or not self.work_dir:
            raise ValueError(f"{what}.work_dir must be a folder path, got {self.work_dir!r}.")

    def fold_work_dir(self, name: str) -> Path:
        """Folder of the resumable checkpoints of one run (e.g. ``cpu_siamese_unet/fold_0``)."""
        return Path(self.work_dir) / name
