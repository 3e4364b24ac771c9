"""Training configuration: every bad value stops with the parameter, value and choices."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from kedro.config import OmegaConfigLoader

from xview3_pipeline.core.models import PRESETS
from xview3_pipeline.core.training.config import TrainingConfig

REPO = Path(__file__).resolve().parents[3]


def _block(env: str) -> dict[str, Any]:
    """The training parameters of an environment, as Kedro reads them (globals resolved)."""
    loader = OmegaConfigLoader(str(REPO / "conf"), base_env="base", default_run_env=env)
    return copy.deepcopy(dict(loader["parameters"]))


def _with(path: str, value: object) -> dict[str, Any]:
    """The base training block with one dotted key (below ``training``) set."""
    block = copy.deepcopy(_block("base")["training"])
    *parents, leaf = path.split(".")
    target = block
    for key in parents:
        target = target.setdefault(key, {})
    target[leaf] = value
    return block


def test_the_project_blocks_are_valid() -> None:
    assert TrainingConfig.from_dict(_block("base")["training"]).model["preset"] == "cpu_small"
    full = _block("xview3_full")
    assert TrainingConfig.from_dict(full["training"]).model["preset"] in PRESETS
    for preset, block in full["ensemble"].items():
        config = TrainingConfig.from_dict(block, what=f"ensemble.{preset}")
        assert config.model["preset"] == preset
    assert TrainingConfig.from_dict({}) == TrainingConfig()


def test_unknown_preset_names_the_parameter_and_the_presets() -> None:
    with pytest.raises(ValueError) as excinfo:
        TrainingConfig.from_dict(_with("model.preset", "b7_unet_s2"))
    assert str(excinfo.value) == (
        f"training.model.preset must be one of {sorted(PRESETS)}, got 'b7_unet_s2'."
    )


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("data.crop_size", 100, "training.data.crop_size must be a positive multiple of "
         "the encoder's total stride (32), got 100"),
        ("data.val_tile_size", 16, "training.data.val_tile_size must be a positive multiple"),
        ("data.batch_size", 0, "training.data.batch_size must be an integer >= 1, got 0"),
        ("data.epoch_samples", 4, "training.data.epoch_samples must be >= data.batch_size (8)"),
        ("data.num_workers", -1, "training.data.num_workers must be an integer >= 0"),
        ("data.normalization", "zscore", "training.data.normalization must be one of "
         "['centred', 'divide', 'linear', 'sigmoid'], got 'zscore'"),
        ("data.augmentations", "heavy", "training.data.augmentations: Unknown augmentation"),
        ("data.object_weighting", "random", "training.data.object_weighting: "),
        ("data.object_crop_p", 1.5, "training.data.object_crop_p must be in [0, 1], got 1.5"),
        ("data.crop_size", "256", "training.data.crop_size must be an integer, got '256' (str)"),
        ("data.crop_size", True, "training.data.crop_size must be an integer, got True"),
        ("data.cropsize", 256, "Unknown training.data key(s) ['cropsize']"),
        ("optimizer.name", "sgd", "training.optimizer.name must be one of "
         "['adamw', 'radam'], got 'sgd'"),
        ("optimizer.lr", 0, "training.optimizer.lr must be > 0, got 0"),
        ("optimizer.eta_min", 1.0, "training.optimizer.eta_min must be in [0, optimizer.lr"),
        ("trainer.max_epochs", 0, "training.trainer.max_epochs must be an integer >= 1, got 0"),
        ("trainer.patience", 0, "training.trainer.patience must be an integer >= 1"),
        ("trainer.accelerator", "npu", "training.trainer.accelerator must be one of"),
        ("trainer.devices", 0, "training.trainer.devices must be 'auto', a number of devices"),
        ("trainer.strategy", "horovod", "training.trainer.strategy must be a Lightning strategy"),
        ("trainer.precision", "fp16", "training.trainer.precision must be one of"),
        ("trainer.gradient_clip_val", -1.0, "training.trainer.gradient_clip_val must be null"),
        ("trainer.checkpoint_every_n_steps", 0, "training.trainer.checkpoint_every_n_steps "
         "must be an integer >= 1"),
        ("trainer.seed", -1, "training.trainer.seed must be an integer in [0, 2**32)"),
        ("trainer.progress_bar", "yes", "training.trainer.progress_bar must be a boolean"),
        ("validation.vessel_threshold", 2.0, "training.validation.vessel_threshold must be a "
         "probability in [0, 1], got 2.0"),
        ("validation.max_objects", 0, "training.validation.max_objects must be an integer >= 1"),
        ("model.upsample", "bilinear", "training.model: upsample must be one of"),
        ("model.encoder", "resnet_nope", "training.model: encoder 'resnet_nope' is not a timm"),
        ("model.encoder_weights", "/nowhere/b4.pth", "training.model.encoder_weights must be "
         "null (random initialisation) or an existing local file"),
        ("loss.variant", "focal", "training.loss: variant must be one of"),
        ("loss.weightz", 1.0, "training.loss: Unknown LossConfig key(s) ['weightz']"),
        ("coder.nms_kernel", 2, "training.coder: CoderConfig: invalid ['nms_kernel']"),
        ("coder.stride", 4, "training.coder.stride must be the model's output stride (2), got 4"),
        ("work_dir", "", "training.work_dir must be a folder path, got ''"),
        ("data", [256], "training.data must be a mapping of parameters, got [256]"),
        ("model", "cpu_small", "training.model must be a mapping, got 'cpu_small'"),
    ],
)  # fmt: skip
def test_bad_value_names_parameter_and_accepted_values(
    path: str, value: object, expected: str
) -> None:
    with pytest.raises(ValueError) as excinfo:
        TrainingConfig.from_dict(_with(path, value))
    assert expected in str(excinfo.value)


def test_unknown_top_level_key_lists_the_keys() -> None:
    with pytest.raises(ValueError, match=r"Unknown training key\(s\) \['modle'\]; valid keys"):
        TrainingConfig.from_dict({"modle": {"preset": "cpu_small"}})


def test_block_name_is_used_in_messages() -> None:
    block = copy.deepcopy(_block("xview3_full")["ensemble"]["b5_unet_s2"])
    block["trainer"] = {**block["trainer"], "max_epochs": 0}
    with pytest.raises(ValueError, match=r"^ensemble\.b5_unet_s2\.trainer\.max_epochs must"):
        TrainingConfig.from_dict(block, what="ensemble.b5_unet_s2")


def test_existing_encoder_weights_file_is_accepted(tmp_path: Path) -> None:
    weights = tmp_path / "b4.pth"
    weights.write_bytes(b"")
    config = TrainingConfig.from_dict(_with("model.encoder_weights", str(weights)))
    assert config.model["encoder_weights"] == str(weights)
