"""Model configuration: round trip, validation, presets and messages naming the parameter."""

from __future__ import annotations

import pytest

from xview3_pipeline.core.models import (
    PRESETS,
    ModelConfig,
    UnknownPresetError,
    build_model,
    resolve_config,
)


def test_config_round_trip_and_validation() -> None:
    for cfg in PRESETS.values():
        as_dict = cfg.to_dict()
        assert isinstance(as_dict["decoder_channels"], list)
        assert ModelConfig.from_dict(as_dict) == cfg
    with pytest.raises(ValueError, match="Unknown ModelConfig key"):
        ModelConfig.from_dict({"encoderz": "resnet18"})
    with pytest.raises(ValueError, match="num_groups"):
        ModelConfig(size_dim=24, num_groups=16)
    with pytest.raises(ValueError, match="upsample"):
        ModelConfig(upsample="bilinear")
    with pytest.raises(ValueError, match="not a timm model name"):
        ModelConfig(encoder="tf_efficientnet_b99")
    assert build_model({"preset": "cpu_small", "head_dropout": 0.0}).config.head_dropout == 0.0


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(KeyError) as excinfo:
        build_model("b7_unet_s2")
    for name in PRESETS:
        assert name in str(excinfo.value)


def test_preset_errors_name_the_parameter_and_the_presets() -> None:
    with pytest.raises(UnknownPresetError) as excinfo:
        resolve_config({"preset": "b7_unet_s2"}, what="training.model")
    error = excinfo.value
    assert isinstance(error, KeyError) and isinstance(error, ValueError)
    assert str(error) == (
        f"training.model.preset must be one of {sorted(PRESETS)}, got 'b7_unet_s2'."
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"encoderz": "x"}, r"Unknown training\.model key\(s\) \['encoderz'\]"),
        ({"block": "resnet"}, r"training\.model: block must be one of \('ir', 'unet'\)"),
        ({"head_blocks": "3"}, r"training\.model: .*head_blocks"),
        ({"decoder_channels": [64, 96]}, r"training\.model: decoder_channels needs 3"),
    ],
)
def test_override_errors_name_the_block(overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        resolve_config({"preset": "cpu_small", **overrides}, what="training.model")


def test_mapping_overrides_a_preset() -> None:
    config = resolve_config({"preset": "b5_unet_s2", "head_dropout": 0.0})
    assert config == PRESETS["b5_unet_s2"].replace(head_dropout=0.0)
    assert resolve_config("cpu_small") is PRESETS["cpu_small"]
