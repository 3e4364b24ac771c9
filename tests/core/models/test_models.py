"""Tests of the CircleNet models: shapes, head priors, stem weights, tracing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import timm
import torch

from xview3_pipeline.core.models import (
    PRESETS,
    CircleNet,
    TimmEncoder,
    UNetDecoder,
    build_model,
)
from xview3_pipeline.core.models.decoder import ResidualDeconvUpsample
from xview3_pipeline.core.types import CircleNetOutputs

CHANNELS = {"objectness": 1, "vessel": 1, "fishing": 1, "length": 1, "offset": 2}


@pytest.fixture(scope="module")
def cpu_model() -> CircleNet:
    torch.manual_seed(0)
    return build_model("cpu_small").eval()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_outputs_named_maps_at_stride_2(preset: str) -> None:
    torch.manual_seed(0)
    model = build_model(preset).eval()
    assert model.output_stride == 2
    with torch.no_grad():
        out = model(torch.randn(2, 2, 64, 96))
    assert isinstance(out, CircleNetOutputs)
    assert out._fields == tuple(CHANNELS)
    for name, channels in CHANNELS.items():
        assert getattr(out, name).shape == (2, channels, 32, 48), name
        assert torch.isfinite(getattr(out, name)).all(), name
    assert out.length.min() >= 0
    assert 0 <= out.offset.min() and out.offset.max() <= 1


def test_preset_encoders_match_the_winner_channels() -> None:
    expected = {
        "b4_unet_s2": (32, 56, 160, 448),
        "b5_unet_s2": (40, 64, 176, 512),
        "v2s_unet_s2": (48, 64, 160, 272),
    }
    for preset, channels in expected.items():
        cfg = PRESETS[preset]
        model = timm.create_model(
            cfg.encoder, features_only=True, out_indices=(1, 2, 3, 4), in_chans=2
        )
        assert tuple(model.feature_info.channels()) == channels, preset
    assert PRESETS["b5_unet_s2"].num_groups == 4
    assert PRESETS["v2s_unet_s2"].size_dim == 128
    assert (PRESETS["v2s_unet_s2"].upsample, PRESETS["v2s_unet_s2"].block) == ("deconv", "unet")
    assert (PRESETS["b4_unet_s2"].upsample, PRESETS["b4_unet_s2"].block) == ("shuffle", "ir")


def test_decoder_channel_flow_of_b4() -> None:
    decoder = UNetDecoder((32, 56, 160, 448), (256, 384, 512), upsample="shuffle", block="ir")
    # Stages are built coarse to fine: 448/4 + 160 -> 512, 512/4 + 56 -> 384, 384/4 + 32 -> 256.
    assert [b.ir1.conv_pw.in_channels for b in decoder.blocks] == [272, 184, 128]
    assert [b.ir2.conv_pwl.out_channels for b in decoder.blocks] == [512, 384, 256]
    assert isinstance(decoder.blocks[0].ir1.se, torch.nn.Identity)
    assert type(decoder.blocks[0].ir2.se).__name__ == "EffectiveSEModule"
    feats = [
        torch.randn(1, c, 64 // s, 64 // s)
        for c, s in zip((32, 56, 160, 448), (4, 8, 16, 32), strict=True)
    ]
    assert decoder(feats).shape == (1, 256, 16, 16)


def test_residual_deconv_upsample_shapes() -> None:
    up = ResidualDeconvUpsample(272)
    assert up(torch.randn(1, 272, 3, 5)).shape == (1, 68, 6, 10)


def test_head_biases_set_the_priors(cpu_model: CircleNet) -> None:
    head = cpu_model.head
    assert torch.all(head.objectness_up[-1].bias == -5)
    assert torch.all(head.classifier_up[-1].bias == -1)
    assert torch.all(head.size_up[-1].bias == 2)
    gn = [m for m in head.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert gn and all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in gn)
    # The objectness path has no other bias: a zero decoder map gives sigmoid(-5) everywhere.
    with torch.no_grad():
        out = head(torch.zeros(1, cpu_model.decoder.out_channels, 8, 8))
    torch.testing.assert_close(
        out.objectness.sigmoid(), torch.full_like(out.objectness, 1 / (1 + math.exp(5)))
    )
    # Vessel/fishing and length start near sigmoid(-1) = 0.27 and Softplus(2) = 2.13.
    assert abs(out.vessel.sigmoid().mean().item() - 1 / (1 + math.e)) < 0.05
    assert abs(out.length.mean().item() - math.log1p(math.exp(2))) < 0.5


def test_offset_and_length_ranges_with_large_inputs(cpu_model: CircleNet) -> None:
    with torch.no_grad():
        out = cpu_model(100 * torch.randn(2, 2, 64, 64))
    assert out.offset.min() >= 0 and out.offset.max() <= 1
    assert out.length.min() >= 0


def test_forward_backward_and_channels_last() -> None:
    torch.manual_seed(0)
    model = build_model("cpu_small")
    x = torch.randn(2, 2, 64, 64)
    out = model(x)
    sum(t.mean() for t in out).backward()
    assert all(p.grad is not None for p in model.head.parameters())
    model.eval()
    with torch.no_grad():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    for a, b in zip(ref, cl, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")
def test_torch_jit_trace_matches_eager(cpu_model: CircleNet) -> None:
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        traced = torch.jit.trace(cpu_model, x)
        eager, scripted = cpu_model(x), traced(x)
    assert len(scripted) == len(eager)
    for a, b in zip(eager, scripted, strict=True):
        torch.testing.assert_close(a, b)


def test_two_channel_stem_keeps_first_slices_of_rgb_weights(tmp_path: Path) -> None:
    torch.manual_seed(1)
    encoder = PRESETS["cpu_small"].encoder
    rgb = timm.create_model(encoder, in_chans=3)
    path = tmp_path / "rgb.pth"
    torch.save(rgb.state_dict(), path)  # full model: classifier tensors are dropped
    model = build_model("cpu_small", encoder_weights=str(path))
    stem = model.encoder.model.conv_stem.weight
    assert stem.shape[1] == 2
    torch.testing.assert_close(stem, rgb.conv_stem.weight[:, :2])
    own, ref = model.encoder.model.state_dict(), rgb.state_dict()
    for name, tensor in own.items():
        if name != "conv_stem.weight":
            torch.testing.assert_close(tensor, ref[name])
    # Also through TimmEncoder directly, with a checkpoint-style wrapper.
    torch.save({"state_dict": rgb.state_dict()}, path)
    stem = TimmEncoder(encoder, weights=path).model.conv_stem.weight
    torch.testing.assert_close(stem, rgb.conv_stem.weight[:, :2])


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        TimmEncoder("resnet18", weights=tmp_path / "nope.pth")


def test_wrong_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"foo.weight": torch.zeros(3)}}, path)
    with pytest.raises(RuntimeError, match="lacks"):
        TimmEncoder("resnet18", weights=path)
    torch.save(timm.create_model("efficientnet_b0").state_dict(), path)  # shares "bn1"
    with pytest.raises(ValueError, match="expects"):
        TimmEncoder("resnet18", weights=path)
    torch.save(timm.create_model("resnet34").state_dict(), path)  # a superset of resnet18
    with pytest.raises(RuntimeError, match="not part of"):
        TimmEncoder("resnet18", weights=path)


def test_bad_input_shape_says_how_to_pad(cpu_model: CircleNet) -> None:
    with pytest.raises(RuntimeError, match=r"padding the image to shape \(64, 96\)"):
        cpu_model(torch.zeros(1, 2, 50, 70))
