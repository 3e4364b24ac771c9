"""Configuration of per-fold training, built from the ``training`` parameters block."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xview3_pipeline.core.checks import check_field_types, require, require_choice
from xview3_pipeline.core.config import check_keys, resolve_alias
from xview3_pipeline.core.data import NORMALIZATIONS, SamplerConfig, build_augmentations
from xview3_pipeline.core.data.augmentations import AUGMENTATION_PRESET_ALIASES
from xview3_pipeline.core.data.sampler import OBJECT_WEIGHTING_ALIASES
from xview3_pipeline.core.encoding import CoderConfig
from xview3_pipeline.core.losses import LossConfig
from xview3_pipeline.core.models.config import resolve_config

#: Optimisers of :class:`OptimConfig`.
OPTIMIZERS = ("adamw", "radam")
#: Lightning precision strings accepted by ``trainer.precision`` (``auto``: see
#: :func:`~xview3_pipeline.core.training.fit.resolve_precision`).
PRECISIONS = (
    "auto", "64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed",
    "transformer-engine", "transformer-engine-float16", "64", "32", "16", "bf16",
)  # fmt: skip
#: Lightning accelerator names accepted by ``trainer.accelerator``.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
#: Lightning strategy names accepted by ``trainer.strategy`` (prefixes of its registry).
STRATEGY_PREFIXES = ("auto", "ddp", "fsdp", "deepspeed", "single_device", "single_xla", "xla")
#: Input side multiple of every CircleNet encoder (total stride 32).
ENCODER_STRIDE = 32


def config_block(cls: type, values: Mapping[str, Any] | None, what: str) -> Any:
    """A sub-block dataclass from its mapping; unknown keys and bad types name ``what``."""
    if values is not None and not isinstance(values, Mapping):
        raise ValueError(f"{what} must be a mapping of parameters, got {values!r}.")
    try:
        return cls(**check_keys(cls, values, what=what))
    except TypeError as exc:  # e.g. a value that breaks a __post_init__
        raise ValueError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class DataConfig:
    """How training crops and validation tiles are made.

    Attributes:
        crop_size: Side of a training crop, pixels (winner: 768 for B4/B5, 1024 for V2S).
        batch_size: Crops per batch and device.
        epoch_samples: Crops drawn per epoch over all devices (winner: 16,536).
        num_workers: DataLoader worker processes.
        normalization: Name of the dB normalisation (``sigmoid`` is the winner's).
        augmentations: Name of the augmentation set (``winner``, ``light``, ``none``;
            ``seed`` is the old spelling of ``winner``, accepted for one release).
        object_crop_p: Probability of an object-centred crop (winner's code 0.8, README 0.9).
        object_weighting: How the centre object is chosen (``balanced``, ``winner``,
            ``uniform``; ``seed_code`` is the old spelling of ``winner``).
        val_tile_size: Side of the non-overlapping validation tiles, pixels (winner: 2048).
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
    """Optimiser and cosine schedule (stepped per epoch, as the winner's ``cos`` schedulers).

    Attributes:
        name: ``adamw`` or ``radam``.
        lr: Base learning rate (multiplied by the number of devices under DDP, as the winner).
        weight_decay: Decoupled weight decay; not applied to biases and norm weights.
        eps: Adam epsilon.
        eta_min: Final learning rate of the cosine schedule.
        scale_lr_with_devices: Multiply ``lr`` by the world size (the winner's DDP rule).
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
        max_epochs: Upper bound on epochs (winner: 100).
        patience: Early-stopping patience on the validation aggregate, epochs (winner: 15).
        min_delta: Smallest improvement of the aggregate that counts.
        accelerator: ``auto``, ``cpu``, ``gpu``.
        devices: Number of devices or ``auto``.
        strategy: ``auto`` or ``ddp`` (several GPUs).
        sync_batchnorm: Convert BatchNorm to SyncBatchNorm under DDP (the winner did).
        precision: ``auto`` (bf16-mixed on GPUs that support it, else 16-mixed on GPU,
            32 on CPU) or any Lightning precision string.
        channels_last: Use the channels-last memory format on GPU.
        gradient_clip_val: Gradient norm clip, or None.
        log_every_n_steps: Logging interval, steps.
        checkpoint_every_n_steps: Also save a resumable checkpoint every this many steps.
        seed: Global random seed (42, as the winner).
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
        objectness_threshold: Detections below this are dropped (winner's inference: 0.3).
        vessel_threshold: ``is_vessel = p >= threshold``.
        fishing_threshold: ``is_fishing = p >= threshold``.
        max_objects: Top-K per tile.
    """

    objectness_threshold: float = 0.3
    vessel_threshold: float = 0.5
    fishing_threshold: float = 0.5
    max_objects: int = 2048


def _path_str(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _check_data(d: DataConfig, what: str) -> None:
    for name in ("crop_size", "val_tile_size"):
        value = getattr(d, name)
        require(
            value >= ENCODER_STRIDE and value % ENCODER_STRIDE == 0, f"{what}.{name}", value,
            f"a positive multiple of the encoder's total stride ({ENCODER_STRIDE})",
        )  # fmt: skip
    require(d.batch_size >= 1, f"{what}.batch_size", d.batch_size, "an integer >= 1")
    require(
        d.epoch_samples >= d.batch_size, f"{what}.epoch_samples", d.epoch_samples,
        f">= data.batch_size ({d.batch_size}): an epoch needs at least one full batch",
    )  # fmt: skip
    require(d.num_workers >= 0, f"{what}.num_workers", d.num_workers, "an integer >= 0")
    require(d.val_batch_size >= 1, f"{what}.val_batch_size", d.val_batch_size, ">= 1")
    require_choice(d.normalization, NORMALIZATIONS, f"{what}.normalization")
    require(0.0 <= d.object_crop_p <= 1.0, f"{what}.object_crop_p", d.object_crop_p, "in [0, 1]")
    # Option names are checked by the modules that own them.
    _owned(lambda: build_augmentations(d.augmentations), f"{what}.augmentations")
    weighting: Any = d.object_weighting  # any string: the sampler's own check names it
    _owned(lambda: SamplerConfig(object_weighting=weighting), f"{what}.object_weighting")


def _owned(check: Callable[[], object], what: str) -> None:
    """Run an owner's constructor; its ``KeyError`` / ``ValueError`` names ``what``."""
    try:
        check()
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc.args[0] if exc.args else exc}") from None


def check_optimizer(o: OptimConfig, what: str) -> None:
    """Check an optimiser block; messages name ``<what>.<field>``."""
    require_choice(o.name, OPTIMIZERS, f"{what}.name")
    require(o.lr > 0, f"{what}.lr", o.lr, "> 0")
    require(o.weight_decay >= 0, f"{what}.weight_decay", o.weight_decay, ">= 0")
    require(o.eps > 0, f"{what}.eps", o.eps, "> 0")
    require(0 <= o.eta_min <= o.lr, f"{what}.eta_min", o.eta_min, f"in [0, optimizer.lr={o.lr}]")


def check_trainer(t: TrainerConfig, what: str) -> None:
    """Check a trainer block; messages name ``<what>.<field>``."""
    require(t.max_epochs >= 1, f"{what}.max_epochs", t.max_epochs, "an integer >= 1")
    require(t.patience >= 1, f"{what}.patience", t.patience, "an integer >= 1 (epochs)")
    require(t.min_delta >= 0, f"{what}.min_delta", t.min_delta, ">= 0")
    require_choice(t.accelerator, ACCELERATORS, f"{what}.accelerator")
    devices = t.devices
    require(
        devices == "auto" or (isinstance(devices, int) and (devices >= 1 or devices == -1))
        or (isinstance(devices, str) and _device_list(devices)),
        f"{what}.devices", devices,
        "'auto', a number of devices >= 1, -1 (all) or a list of device ids such as '0,1'",
    )  # fmt: skip
    require(
        t.strategy.startswith(STRATEGY_PREFIXES), f"{what}.strategy", t.strategy,
        f"a Lightning strategy name starting with one of {list(STRATEGY_PREFIXES)}",
    )  # fmt: skip
    require_choice(t.precision, PRECISIONS, f"{what}.precision")
    clip = t.gradient_clip_val
    require(clip is None or clip > 0, f"{what}.gradient_clip_val", clip, "null or > 0")
    for name in ("log_every_n_steps", "checkpoint_every_n_steps"):
        require(getattr(t, name) >= 1, f"{what}.{name}", getattr(t, name), "an integer >= 1")
    require(0 <= t.seed < 2**32, f"{what}.seed", t.seed, "an integer in [0, 2**32)")


def _device_list(devices: str) -> bool:
    parts = [p.strip() for p in devices.split(",") if p.strip()]
    return bool(parts) and all(p.isdigit() or p == "-1" for p in parts)


def _check_validation(v: ValidationConfig, what: str) -> None:
    for name in ("objectness_threshold", "vessel_threshold", "fishing_threshold"):
        value = getattr(v, name)
        require(0.0 <= value <= 1.0, f"{what}.{name}", value, "a probability in [0, 1]")
    require(v.max_objects >= 1, f"{what}.max_objects", v.max_objects, "an integer >= 1")


def _check_components(cfg: TrainingConfig, what: str) -> None:
    """The model, loss and coder blocks, through the configurations that own them."""
    model = resolve_config(cfg.model, what=f"{what}.model")
    weights = model.encoder_weights
    require(
        weights is None or Path(weights).is_file(), f"{what}.model.encoder_weights", weights,
        "null (random initialisation) or an existing local file (weights are never downloaded)",
    )  # fmt: skip
    for name, owner in (("loss", LossConfig), ("coder", CoderConfig)):
        try:
            owner.from_dict(getattr(cfg, name))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{what}.{name}: {exc}") from None
    stride = CoderConfig.from_dict(cfg.coder).stride
    require(
        stride == model.output_stride, f"{what}.coder.stride", stride,
        f"the model's output stride ({model.output_stride})",
    )  # fmt: skip


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
    def from_dict(cls, values: Mapping[str, Any], *, what: str = "training") -> TrainingConfig:
        """Build from the ``training`` parameters block and validate every value.

        Everything that can be checked without data is checked here (keys, types,
        ranges, option names, the model preset and architecture, the loss and coder
        blocks), so a bad block stops a run before any work.

        Args:
            values: The block.
            what: Its name in messages (``training``, or ``ensemble.<preset>``).

        Raises:
            ValueError: On an unknown key or an invalid value; the message names the
                parameter (e.g. ``training.model.preset``), the value and what is accepted.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"{what} must be a mapping of parameters, got {values!r}.")
        values = check_keys(cls, values, what=what)
        blocks = {name: values.get(name) or {} for name in ("model", "loss", "coder")}
        for name, block in blocks.items():
            if not isinstance(block, Mapping):
                raise ValueError(f"{what}.{name} must be a mapping, got {block!r}.")
        cfg = cls(
            model=dict(blocks["model"] or {"preset": "cpu_small"}),
            loss=dict(blocks["loss"]),
            coder=dict(blocks["coder"]),
            data=config_block(DataConfig, values.get("data"), f"{what}.data"),
            optimizer=config_block(OptimConfig, values.get("optimizer"), f"{what}.optimizer"),
            trainer=config_block(TrainerConfig, values.get("trainer"), f"{what}.trainer"),
            validation=config_block(
                ValidationConfig, values.get("validation"), f"{what}.validation"
            ),
            work_dir=_path_str(values.get("work_dir", cls.work_dir)),
        )
        cfg.validate(what=what)
        return cfg

    def validate(self, *, what: str = "training") -> None:
        """Check every value that can be checked without data.

        Args:
            what: Name of the block in messages.

        Raises:
            ValueError: Naming the parameter, the value and what is accepted.
        """
        check_field_types(self.data, f"{what}.data")
        check_field_types(self.optimizer, f"{what}.optimizer")
        check_field_types(self.trainer, f"{what}.trainer")
        check_field_types(self.validation, f"{what}.validation")
        if not isinstance(self.work_dir, str) or not self.work_dir:
            raise ValueError(f"{what}.work_dir must be a folder path, got {self.work_dir!r}.")
        _check_data(self.data, f"{what}.data")
        check_optimizer(self.optimizer, f"{what}.optimizer")
        check_trainer(self.trainer, f"{what}.trainer")
        _check_validation(self.validation, f"{what}.validation")
        _check_components(self, what)

    def fold_work_dir(self, name: str) -> Path:
        """Folder of the resumable checkpoints of one training run (e.g. ``cpu_small/fold_0``)."""
        return Path(self.work_dir) / name
