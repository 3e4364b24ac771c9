"""Tests of the xView2 networks: shapes, the shared encoder, presets, configs, weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import segmentation_models_pytorch as smp
import torch
from segmentation_models_pytorch.encoders import get_encoder

from xview3_pipeline.core.models.config import UnknownPresetError
from xview3_pipeline.core.xview2.models import (
    XVIEW2_PRESETS,
    EarlyFusionSegmentation,
    SiameseSegmentation,
    Xview2ModelConfig,
    build_xview2_model,
    tile_input_channels,
    xview2_model_config,
)

#: Tiny decoders: the U-Net and FPN widths of the fast test models.
TINY = {"unet": (32, 16, 16, 8, 8), "fpn": (16, 32)}
#: One heavy preset per encoder family and decoder (resnet101_unet and densenet201_unet
#: repeat an encoder and a decoder of these).
HEAVY = (
    "resnet34_unet",
    "resnet101_fpn",
    "seresnext50_unet",
    "densenet169_unet",
    "densenet201_fpn",
    "inceptionv4_fpn",
    "efficientnet_b4_fpn",
)


def tiny(architecture: str = "siamese", decoder: str = "unet", **kw: object) -> Xview2ModelConfig:
    values: dict[str, object] = {
        "architecture": architecture,
        "encoder": "resnet18",
        "decoder": decoder,
        "decoder_channels": TINY[decoder],
    }
    return Xview2ModelConfig.from_dict(values | kw)


def pair_batch(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 6, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def siamese() -> SiameseSegmentation:
    torch.manual_seed(0)
    model = build_xview2_model(tiny())
    assert isinstance(model, SiameseSegmentation)
    return model.eval()


@pytest.mark.parametrize("decoder", ["unet", "fpn"])
@pytest.mark.parametrize("architecture", ["siamese", "early_fusion"])
def test_logits_have_the_input_resolution(architecture: str, decoder: str) -> None:
    torch.manual_seed(0)
    model = build_xview2_model(tiny(architecture, decoder)).eval()
    expected = SiameseSegmentation if architecture == "siamese" else EarlyFusionSegmentation
    assert isinstance(model, expected)
    assert model.input_multiple == 32
    with torch.no_grad():
        out = model(torch.randn(2, 6, 64, 96))
    assert out.shape == (2, 5, 64, 96)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("decoder", "depth"), [("unet", 4), ("unet", 3), ("fpn", 4), ("fpn", 3)])
def test_shallower_encoders_need_smaller_multiples(decoder: str, depth: int) -> None:
    channels = TINY["unet"][:depth] if decoder == "unet" else TINY["fpn"]
    config = tiny(decoder=decoder, encoder_depth=depth, decoder_channels=channels)
    assert config.input_multiple == 2**depth
    model = build_xview2_model(config).eval()
    assert model.input_multiple == 2**depth
    size = 3 * 2**depth  # not a multiple of 32
    with torch.no_grad():
        assert model(pair_batch(1, size)).shape == (1, 5, size, size)


def test_the_encoder_is_one_three_channel_network_shared_by_pre_and_post(
    siamese: SiameseSegmentation,
) -> None:
    encoders = [m for m in siamese.modules() if type(m) is type(siamese.encoder)]
    assert encoders == [siamese.encoder]
    assert siamese.encoder.conv1.in_channels == 3
    alone = sum(p.numel() for p in get_encoder("resnet18", depth=5).parameters())
    assert sum(p.numel() for p in siamese.encoder.parameters()) == alone
    # The decoder sees both images' features: its first block reads 2 x 512 + 2 x 256.
    decoder: Any = siamese.decoder
    assert decoder.blocks[0].conv1[0].in_channels == 2 * 512 + 2 * 256


def test_features_are_concatenated_pre_then_post_level_by_level(
    siamese: SiameseSegmentation,
) -> None:
    x = pair_batch()
    with torch.no_grad():
        pre, post = siamese.encoder(x[:, :3]), siamese.encoder(x[:, 3:])
        fused = [torch.cat([a, b], dim=1) for a, b in zip(pre, post, strict=True)]
        manual = siamese.segmentation_head(siamese.decoder(fused))
        out = siamese(x)
    torch.testing.assert_close(out, manual, rtol=1e-4, atol=1e-5)


def test_swapping_pre_and_post_changes_the_output(siamese: SiameseSegmentation) -> None:
    x = pair_batch()
    swapped = torch.cat([x[:, 3:], x[:, :3]], dim=1)
    with torch.no_grad():
        a, b = siamese(x), siamese(swapped)
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("architecture", ["siamese", "early_fusion"])
def test_gradients_reach_every_parameter_and_both_images(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_xview2_model(tiny(architecture)).train()
    x = pair_batch(2, 32).requires_grad_(True)
    target = torch.randint(0, 5, (2, 32, 32), generator=torch.Generator().manual_seed(1))
    torch.nn.functional.cross_entropy(model(x), target).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == []
    assert x.grad is not None
    assert x.grad[:, :3].abs().sum() > 0
    assert x.grad[:, 3:].abs().sum() > 0


def test_bad_inputs_are_refused_with_the_padding_to_use(siamese: SiameseSegmentation) -> None:
    with pytest.raises(ValueError, match=r"multiples of 32.*got 64 x 80; pad to 64 x 96"):
        siamese(torch.zeros(1, 6, 64, 80))
    with pytest.raises(ValueError, match=r"\(B, 6, H, W\).*\(1, 3, 64, 64\)"):
        siamese(torch.zeros(1, 3, 64, 64))


@pytest.mark.parametrize("decoder", ["unet", "fpn"])
def test_early_fusion_has_the_tensors_of_smp_with_six_channels(decoder: str) -> None:
    model = build_xview2_model(tiny("early_fusion", decoder))
    if decoder == "unet":
        reference = smp.Unet(
            "resnet18",
            encoder_weights=None,
            in_channels=6,
            classes=5,
            decoder_channels=TINY["unet"],
        )
    else:
        pyramid, segmentation = TINY["fpn"]
        reference = smp.FPN(
            "resnet18",
            encoder_weights=None,
            decoder_pyramid_channels=pyramid,
            decoder_segmentation_channels=segmentation,
            decoder_merge_policy="cat",
            in_channels=6,
            classes=5,
        )
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in reference.state_dict().items()}


def test_the_classes_refuse_the_other_architecture() -> None:
    with pytest.raises(ValueError, match="architecture='siamese'"):
        SiameseSegmentation(tiny("early_fusion"))
    with pytest.raises(ValueError, match="architecture='early_fusion'"):
        EarlyFusionSegmentation(tiny("siamese"))


def test_preset_table_follows_the_winner() -> None:
    expected = {
        "resnet34_unet": ("resnet34", "unet"),
        "resnet101_fpn": ("resnet101", "fpn"),
        "seresnext50_unet": ("se_resnext50_32x4d", "unet"),
        "densenet169_unet": ("densenet169", "unet"),
        "densenet201_unet": ("densenet201", "unet"),
        "efficientnet_b4_fpn": ("efficientnet-b4", "fpn"),
    }
    for name, (encoder, decoder) in expected.items():
        config = XVIEW2_PRESETS[name]
        assert (config.architecture, config.encoder, config.decoder) == (
            "siamese",
            encoder,
            decoder,
        )
        assert config.encoder_weights is None
    assert XVIEW2_PRESETS["resnet34_unet"].decoder_channels == (256, 256, 128, 64, 64)
    assert XVIEW2_PRESETS["cpu_siamese_unet"].architecture == "siamese"
    early = XVIEW2_PRESETS["cpu_early_fusion_unet"]
    assert early.architecture == "early_fusion"
    assert (
        early.to_dict() | {"architecture": "siamese"}
        == XVIEW2_PRESETS["cpu_siamese_unet"].to_dict()
    )


@pytest.mark.parametrize("name", sorted(XVIEW2_PRESETS))
def test_every_preset_round_trips_through_its_dict(name: str) -> None:
    config = XVIEW2_PRESETS[name]
    assert Xview2ModelConfig.from_dict(config.to_dict()) == config
    assert xview2_model_config(name) is config
    assert config.input_multiple == 32


def test_heavy_presets_wire_their_decoders_on_the_meta_device() -> None:
    # Parameters on "meta" have shapes but no storage: the full networks are checked
    # for channel wiring and output size without memory or compute.
    for name in HEAVY:
        with torch.device("meta"):
            model = build_xview2_model(name)
            out = model(torch.empty(1, 6, 64, 64))
        assert out.shape == (1, 5, 64, 64), name


@pytest.mark.parametrize("name", ["cpu_siamese_unet", "cpu_early_fusion_unet"])
def test_cpu_presets_build_and_run(name: str) -> None:
    torch.manual_seed(0)
    model = build_xview2_model(name).eval()
    with torch.no_grad():
        assert model(pair_batch(1, 64)).shape == (1, 5, 64, 64)


def test_mapping_names_a_preset_plus_overrides() -> None:
    config = xview2_model_config({"preset": "cpu_siamese_unet", "classes": 3})
    assert config.classes == 3
    assert config.encoder == "resnet18"
    # A new decoder or depth drops the preset's widths for the new decoder's defaults.
    fpn = xview2_model_config({"preset": "resnet34_unet", "decoder": "fpn"})
    assert fpn.decoder_channels == (256, 256)
    shallow = xview2_model_config({"preset": "resnet34_unet", "encoder_depth": 4})
    assert shallow.decoder_channels == (256, 128, 64, 32)
    assert xview2_model_config({}) == Xview2ModelConfig()
    assert Xview2ModelConfig().decoder_channels == (256, 128, 64, 32, 16)
    lists = Xview2ModelConfig.from_dict({"decoder_channels": [8, 8, 8, 8, 8]})
    assert lists.decoder_channels == (8, 8, 8, 8, 8)
    assert lists.to_dict()["decoder_channels"] == [8, 8, 8, 8, 8]
    path = Xview2ModelConfig(weights_path=Path("/w/enc.pt"))  # type: ignore[arg-type]
    assert path.weights_path == "/w/enc.pt"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"encodr": "resnet18"}, r"Unknown model key\(s\) \['encodr'\]; valid keys"),
        ({"encoder": "resnet181"}, r"'resnet181' is not an smp encoder; did you mean \['resnet18'"),
        ({"encoder": "tu-no_such_net"}, r"'no_such_net' is not a timm model name"),
        ({"decoder": "deeplab"}, r"decoder must be one of \['unet', 'fpn'\], got 'deeplab'"),
        ({"architecture": "late"}, r"architecture must be one of \['siamese', 'early_fusion'\]"),
        ({"decoder_channels": [64, 32]}, r"needs encoder_depth=5 entries"),
        ({"decoder": "fpn", "decoder_channels": [256, 100]}, r"multiple of 32, got \[256, 100\]"),
        ({"decoder": "fpn", "encoder_depth": 2}, r"encoder_depth must be in \[3, 5\]"),
        ({"encoder_depth": 6}, r"encoder_depth must be in \[1, 5\]"),
        ({"decoder_channels": [8, 8, 8, 8, 0]}, r"must be positive"),
        ({"decoder_channels": [8, 8, 8, 8, 8.5]}, r"must be integers"),
        ({"classes": 1}, r"classes must be >= 2"),
        ({"classes": True}, r"classes must be an integer"),
        ({"encoder_weights": "imagenet21k"}, r"must be one of \['imagenet'\] or None"),
        ({"encoder_weights": "imagenet", "weights_path": "/w.pt"}, r"not both"),
        ({"encoder": "tu-resnet18", "encoder_weights": "imagenet"}, r"must be None for the timm"),
    ],
)
def test_bad_mappings_are_refused_naming_the_block(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        xview2_model_config(values)
    assert "model" in str(info.value)


def test_unknown_presets_and_types_are_refused() -> None:
    with pytest.raises(
        UnknownPresetError, match=r"xview2\.model must be one of \[.*'cpu_siamese_unet'"
    ):
        xview2_model_config("resnet35_unet", what="xview2.model")
    with pytest.raises(KeyError, match=r"model\.preset must be one of"):
        xview2_model_config({"preset": "nope"})
    with pytest.raises(TypeError, match="expected a preset name"):
        xview2_model_config(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Unknown Xview2ModelConfig key\(s\) \['depth'\]"):
        Xview2ModelConfig.from_dict({"depth": 4})


def test_weights_path_round_trip(tmp_path: Path, siamese: SiameseSegmentation) -> None:
    path = tmp_path / "encoder.pt"
    torch.save(siamese.encoder.state_dict(), path)
    torch.manual_seed(1)
    loaded = build_xview2_model(tiny(weights_path=str(path)))
    for name, tensor in siamese.encoder.state_dict().items():
        torch.testing.assert_close(loaded.encoder.state_dict()[name], tensor, msg=name)
    torch.manual_seed(1)
    fresh = build_xview2_model(tiny())
    assert not torch.equal(fresh.encoder.conv1.weight, siamese.encoder.conv1.weight)
    # A whole model's state dict: its "encoder." tensors are taken.
    whole = tmp_path / "model.pt"
    torch.save({"state_dict": siamese.state_dict()}, whole)
    again = build_xview2_model(tiny(weights_path=str(whole)))
    torch.testing.assert_close(
        again.encoder.layer4[1].conv2.weight, siamese.encoder.layer4[1].conv2.weight
    )


def test_an_rgb_stem_is_tiled_for_early_fusion(
    tmp_path: Path, siamese: SiameseSegmentation
) -> None:
    path = tmp_path / "encoder.pt"
    state = siamese.encoder.state_dict()
    torch.save(state, path)
    model = build_xview2_model(tiny("early_fusion", weights_path=str(path)))
    stem = model.encoder.conv1.weight.detach()
    assert stem.shape == (64, 6, 7, 7)
    rgb = state["conv1.weight"]
    torch.testing.assert_close(stem[:, :3], rgb / 2)
    torch.testing.assert_close(stem[:, 3:], rgb / 2)
    torch.testing.assert_close(model.encoder.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_tile_input_channels_slices_fewer_and_refuses_other_shapes() -> None:
    six = {"w": torch.zeros(4, 6, 3, 3)}
    two = tile_input_channels(
        {"w": torch.arange(4 * 6 * 9.0).reshape(4, 6, 3, 3)}, {"w": torch.zeros(4, 2, 3, 3)}
    )
    assert two["w"].shape == (4, 2, 3, 3)
    with pytest.raises(
        ValueError, match=r"'w' has shape \(4, 4, 3, 3\), the model expects \(4, 6, 3, 3\)"
    ):
        tile_input_channels({"w": torch.zeros(4, 4, 3, 3)}, six)


def test_bad_weights_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match=r"absent\.pt.*never downloaded"):
        build_xview2_model(tiny(weights_path=str(missing)))
    other = tmp_path / "resnet34.pt"
    torch.save(get_encoder("resnet34", depth=5).state_dict(), other)
    with pytest.raises(RuntimeError, match=r"resnet34\.pt' does not fit encoder ResNetEncoder"):
        build_xview2_model(tiny(weights_path=str(other)))
