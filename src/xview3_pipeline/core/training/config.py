"""Configuration of per-fold training, built from the ``training`` parameters block."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xview3_pipeline.core.config import check_keys, resolve_alias
from xview3_pipeline.core.data.augmentations import AUGMENTATION_PRESET_ALIASES
from xview3_pipeline.core.data.sampler import OBJECT_WEIGHTING_ALIASES


def _from_dict(cls: type, values: Mapping[str, Any] | None) -> Any:
    return cls(**check_keys(cls, values))


@dataclass(frozen=True)
class DataConfig:
    """How training crops and validation tiles are made.

    Attributes:
        crop_size: Side of a training crop, pixels (seed: 768 for B4/B5, 1024 for V2S).
        batch_size: Crops per batch and device.
        epoch_samples: Crops drawn per epoch over all devices (seed: 16,536).
        num_workers: DataLoader worker processes.
        normalization: Name of the dB normalisation (``sigmoid`` is the seed's).
        augmentations: Name of the augmentation set (``winner``, ``light``, ``none``;
            ``seed`` is the old spelling of ``winner``, accepted for one release).
        object_crop_p: Probability of an object-centred crop (seed code 0.8, README 0.9).
        object_weighting: How the centre object is chosen (``balanced``, ``winner``,
            ``uniform``; ``seed_code`` is the old spelling of ``winner``).
        val_tile_size: Side of the non-overlapping validation tiles, pixels (seed: 2048).
        val_batch_size: Validation tiles per batch.
    """

    crop_size: int = 256
    batch_size: int = 8
    epoch_samples: int = 512
    num_workers: int = 2
    normalization: str = "sigmoid"
    augmentations: str = "winner"
    object_crop_p: float = 0.8
    object_weighting: str = "balanced"
    val_tile_size: int = 512
    val_batch_size: int = 2

    def __post_init__(self) -> None:
        for name, aliases in (
            ("augmentations", AUGMENTATION_PRESET_ALIASES),
            ("object_weighting", OBJECT_WEIGHTING_ALIASES),
        ):
            value = resolve_alias(getattr(self, name), aliases, what=f"training.data.{name}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and cosine schedule (stepped per epoch, as the seed's ``cos`` schedulers).

    Attributes:
        name: ``adamw`` or ``radam``.
        lr: Base learning rate (multiplied by the number of devices under DDP, as the seed).
        weight_decay: Decoupled weight decay; not applied to biases and norm weights.
        eps: Adam epsilon.
        eta_min: Final learning rate of the cosine schedule.
        scale_lr_with_devices: Multiply ``lr`` by the world size (the seed's DDP rule).
    """

    name: Literal["adamw", "radam"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    eps: float = 1e-8
    eta_min: float = 1e-6
    scale_lr_with_devices: bool = True


@dataclass(frozen=True)
class TrainerConfig:
    """Lightning trainer settings.

    Attributes:
        max_epochs: Upper bound on epochs (seed: 100).
        patience: Early-stopping patience on the validation aggregate, epochs (seed: 15).
        min_delta: Smallest improvement of the aggregate that counts.
        accelerator: ``auto``, ``cpu``, ``gpu``.
        devices: Number of devices or ``auto``.
        strategy: ``auto`` or ``ddp`` (several GPUs).
        sync_batchnorm: Convert BatchNorm to SyncBatchNorm under DDP (the seed did).
        precision: ``auto`` (bf16-mixed on GPUs that support it, else 16-mixed on GPU,
            32 on CPU) or any Lightning precision string.
        channels_last: Use the channels-last memory format on GPU.
        gradient_clip_val: Gradient norm clip, or None.
        log_every_n_steps: Logging interval, steps.
        checkpoint_every_n_steps: Also save a resumable checkpoint every this many steps.
        seed: Global seed (seed: 42).
        progress_bar: Show a progress bar.
    """

    max_epochs: int = 8
    patience: int = 15
    min_delta: float = 1e-6
    accelerator: str = "auto"
    devices: int | str = "auto"
    strategy: str = "auto"
    sync_batchnorm: bool = True
    precision: str = "auto"
    channels_last: bool = True
    gradient_clip_val: float | None = 5.0
    log_every_n_steps: int = 5
    checkpoint_every_n_steps: int = 50
    seed: int = 42
    progress_bar: bool = True


@dataclass(frozen=True)
class ValidationConfig:
    """How the per-epoch validation aggregate is computed.

    Validation tiles are decoded at a fixed low objectness threshold and scored with the
    project's xView3 metric (leaderboard configuration) against the fold's validation
    scenes; the aggregate drives early stopping and checkpoint selection.

    Attributes:
        objectness_threshold: Detections below this are dropped (seed inference: 0.3).
        vessel_threshold: ``is_vessel = p >= threshold``.
        fishing_threshold: ``is_fishing = p >= threshold``.
        max_objects: Top-K per tile.
    """

    objectness_threshold: float = 0.3
    vessel_threshold: float = 0.5
    fishing_threshold: float = 0.5
    max_objects: int = 2048


@dataclass(frozen=True)
class TrainingConfig:
    """Everything needed to train one fold.

    ``model``, ``loss`` and ``coder`` stay mappings here and are turned into their own
    typed configurations by the modules that own them.
    """

    model: Mapping[str, Any] = field(default_factory=lambda: {"preset": "cpu_small"})
    loss: Mapping[str, Any] = field(default_factory=dict)
    coder: Mapping[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    work_dir: str = "data/06_models/training_work"

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingConfig:
        """Build from the ``training`` parameters block, rejecting unknown keys.

        Raises:
            ValueError: On unknown keys or invalid values.
        """
        values = check_keys(cls, values, what="training")
        cfg = cls(
            model=dict(values.get("model") or {"preset": "cpu_small"}),
            loss=dict(values.get("loss") or {}),
            coder=dict(values.get("coder") or {}),
            data=_from_dict(DataConfig, values.get("data")),
            optimizer=_from_dict(OptimConfig, values.get("optimizer")),
            trainer=_from_dict(TrainerConfig, values.get("trainer")),
            validation=_from_dict(ValidationConfig, values.get("validation")),
            work_dir=str(values.get("work_dir", cls.work_dir)),
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Check values a user is likely to get wrong.

        Raises:
            ValueError: If a value is out of range.
        """
        d, t = self.data, self.trainer
        if d.crop_size < 32 or d.crop_size % 32:
            raise ValueError(f"data.crop_size must be a multiple of 32, got {d.crop_size}.")
        if d.val_tile_size % 32:
            raise ValueError(f"data.val_tile_size must be a multiple of 32, got {d.val_tile_size}.")
        if d.batch_size < 1 or d.epoch_samples < d.batch_size:
            raise ValueError("data.batch_size must be >= 1 and <= data.epoch_samples.")
        if not 0.0 <= d.object_crop_p <= 1.0:
            raise ValueError(f"data.object_crop_p must be in [0, 1], got {d.object_crop_p}.")
        if self.optimizer.name not in ("adamw", "radam"):
            raise ValueError(
                f"optimizer.name must be 'adamw' or 'radam', got {self.optimizer.name!r}."
            )
        if t.max_epochs < 1:
            raise ValueError("trainer.max_epochs must be >= 1.")

    def fold_work_dir(self, name: str) -> Path:
        """Folder of the resumable checkpoints of one training run (e.g. ``cpu_small/fold_0``)."""
        return Path(self.work_dir) / name
