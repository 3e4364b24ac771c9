"""CircleNets with segmentation-models-pytorch decoders: shapes, config, weights, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import torch

from xview3_pipeline.core.models import (
    DECODER_KINDS,
    PRESETS,
    CircleNet,
    ModelConfig,
    SmpFPNDecoder,
    SmpUnetDecoder,
    SmpUnetPlusPlusDecoder,
    UNetDecoder,
    build_model,
    resolve_config,
)

SMP_DECODERS = {
    "smp_unet": SmpUnetDecoder,
    "smp_fpn": SmpFPNDecoder,
    "smp_unetplusplus": SmpUnetPlusPlusDecoder,
}
SMP_PRESETS = ("smp_unet_resnet34", "smp_fpn_resnet34", "smp_unetplusplus_resnet34", "cpu_smp_unet")
#: A small ResNet-18 CircleNet; only ``decoder`` changes between the tests' models.
TINY = ModelConfig(
    encoder="resnet18",
    decoder_channels=(32, 64, 128),
    block="unet",
    fpn_pyramid_channels=64,
    fpn_segmentation_channels=32,
    objectness_dim=16,
    classifier_dim=16,
    size_dim=16,
    offset_dim=16,
    head_blocks=1,
)


def tiny(decoder: str) -> CircleNet:
    torch.manual_seed(0)
    return build_model(TINY.replace(decoder=decoder))


def test_decoder_kinds_and_presets() -> None:
    assert set(DECODER_KINDS) == {"faithful", *SMP_DECODERS}
    assert {PRESETS[name].decoder for name in SMP_PRESETS} == set(SMP_DECODERS)
    for decoder, kind in SMP_DECODERS.items():
        assert type(tiny(decoder).decoder) is kind


def test_every_decoder_gives_the_faithful_head_shapes() -> None:
    x = torch.randn(1, 2, 64, 96)
    shapes = {}
    for decoder in DECODER_KINDS:
        model = tiny(decoder).eval()
        assert model.output_stride == 2 and model.input_divisor == 32
        with torch.no_grad():
            features = model.decoder(model.encoder(x))
            out = model(x)
        assert features.shape == (1, model.decoder.out_channels, 16, 24), decoder
        assert model.head.objectness[0].in_channels == model.decoder.out_channels
        assert all(torch.isfinite(t).all() for t in out), decoder
        shapes[decoder] = {name: tuple(t.shape) for name, t in out._asdict().items()}
    assert shapes["faithful"]["offset"] == (1, 2, 32, 48)
    for decoder in SMP_DECODERS:
        assert shapes[decoder] == shapes["faithful"], decoder


def test_decoder_widths_follow_the_config() -> None:
    assert tiny("smp_unet").decoder.out_channels == 32
    assert tiny("smp_unetplusplus").decoder.out_channels == 32
    assert tiny("smp_fpn").decoder.out_channels == 32
    fpn = build_model(TINY.replace(decoder="smp_fpn", fpn_segmentation_channels=64)).decoder
    assert fpn.out_channels == 64 and fpn.decoder.p5.out_channels == 64
    # smp lists the U-Net stages coarse to fine: strides 16, 8, 4.
    unet = tiny("smp_unet").decoder.decoder
    assert [b.conv2[0].out_channels for b in unet.blocks] == [128, 64, 32]
    assert [b.conv1[0].in_channels for b in unet.blocks] == [512 + 256, 128 + 128, 64 + 64]
    # U-Net++ keeps its nested stages but not smp's skip-less final upsampling.
    nested = tiny("smp_unetplusplus").decoder.decoder.blocks
    assert sorted(nested) == ["x_0_0", "x_0_1", "x_0_2", "x_0_3", "x_1_1", "x_1_2", "x_2_2"]
    assert isinstance(nested["x_0_3"], torch.nn.Identity)


@pytest.mark.parametrize("decoder", sorted(SMP_DECODERS))
def test_forward_backward_reaches_every_parameter(decoder: str) -> None:
    model = tiny(decoder).train()
    out = model(torch.randn(1, 2, 64, 64))
    sum(t.float().mean() for t in out).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing[:5]
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_default_stays_faithful_and_old_configs_load() -> None:
    assert ModelConfig().decoder == "faithful"
    for name in ("b4_unet_s2", "b5_unet_s2", "v2s_unet_s2", "cpu_small"):
        cfg = PRESETS[name]
        assert cfg.decoder == "faithful"
        stored = cfg.to_dict()  # a configuration stored before the decoder choice existed
        for key in ("decoder", "fpn_pyramid_channels", "fpn_segmentation_channels"):
            del stored[key]
        assert ModelConfig.from_dict(stored) == cfg
    assert type(build_model("cpu_small").decoder) is UNetDecoder


@pytest.mark.parametrize("name", SMP_PRESETS)
def test_preset_round_trip_through_the_config_dict(name: str) -> None:
    cfg = PRESETS[name]
    as_dict = cfg.to_dict()
    assert as_dict["decoder"] == cfg.decoder
    assert ModelConfig.from_dict(as_dict) == cfg
    assert resolve_config({"preset": name}) is cfg
    assert resolve_config({"preset": name, "decoder": "smp_fpn"}).decoder == "smp_fpn"
    assert resolve_config(as_dict) == cfg


def test_unknown_decoder_and_bad_widths_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"decoder must be one of \('faithful', 'smp_unet'"):
        ModelConfig(decoder="deeplabv3")
    with pytest.raises(ValueError, match=r"training\.model: decoder must be one of"):
        resolve_config({"preset": "cpu_smp_unet", "decoder": "unet"}, what="training.model")
    with pytest.raises(ValueError, match=r"training\.model: decoder must be a string"):
        resolve_config({"preset": "cpu_smp_unet", "decoder": None}, what="training.model")
    with pytest.raises(ValueError, match="fpn_segmentation_channels must be a positive multiple"):
        TINY.replace(decoder="smp_fpn", fpn_segmentation_channels=48)
    with pytest.raises(ValueError, match="fpn_pyramid_channels must be positive"):
        TINY.replace(fpn_pyramid_channels=0)
    with pytest.raises(ValueError, match="encoder_channels needs 4 entries"):
        SmpUnetDecoder((16, 24, 40), (32, 64, 128))
    with pytest.raises(ValueError, match="decoder_channels needs 3 positive entries"):
        SmpUnetPlusPlusDecoder((16, 24, 40, 80), (32, 64))


@pytest.mark.parametrize("decoder", sorted(SMP_DECODERS))
def test_checkpoint_loads_weights_only(tmp_path: Path, decoder: str) -> None:
    model = tiny(decoder).eval()
    path = tmp_path / "model.pt"
    # The layout of CircleNetCheckpointDataset: a plain config dict and the tensors.
    torch.save(
        {"format": 1, "model_config": model.config.to_dict(), "state_dict": model.state_dict()},
        path,
    )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    restored = build_model(ModelConfig.from_dict(checkpoint["model_config"])).eval()
    restored.load_state_dict(checkpoint["state_dict"])  # strict: same keys and shapes
    assert restored.config == model.config
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), restored(x), strict=True):
            torch.testing.assert_close(a, b)


def test_smp_resnet_encoder_weights_load_into_the_encoder(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = smp.encoders.get_encoder("resnet18", in_channels=3, depth=5, weights=None).eval()
    path = tmp_path / "smp_resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("cpu_smp_unet", encoder_weights=str(path)).eval()
    x = torch.randn(1, 2, 32, 32)
    with torch.no_grad():
        ours = model.encoder(x)
        # A third, zero input channel: the 2-channel stem keeps the first two RGB slices.
        theirs = reference(torch.cat([x, torch.zeros_like(x[:, :1])], dim=1))[2:]
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b)
