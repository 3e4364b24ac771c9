"""CircleNet: timm encoder + decoder to stride 4 + decoupled head, and its factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from xview3_pipeline.core.models.config import DECODER_KINDS, ModelConfig, resolve_config
from xview3_pipeline.core.models.decoder import UNetDecoder
from xview3_pipeline.core.models.encoders import TimmEncoder
from xview3_pipeline.core.models.heads import DecoupledHeadGroupNormLateShuffle
from xview3_pipeline.core.models.smp_decoders import (
    SmpFPNDecoder,
    SmpUnetDecoder,
    SmpUnetPlusPlusDecoder,
)
from xview3_pipeline.core.types import CircleNetOutputs

logger = logging.getLogger(__name__)


#: The decoders :func:`build_decoder` returns; each has an ``out_channels`` attribute.
Decoder = UNetDecoder | SmpUnetDecoder | SmpFPNDecoder | SmpUnetPlusPlusDecoder


def build_decoder(config: ModelConfig, encoder_channels: tuple[int, ...]) -> Decoder:
    """The decoder named by ``config.decoder``, over encoder maps at strides 4-32.

    Args:
        config: Architecture; ``decoder`` picks :class:`UNetDecoder` (``faithful``),
            :class:`SmpUnetDecoder`, :class:`SmpFPNDecoder` or :class:`SmpUnetPlusPlusDecoder`.
        encoder_channels: Channels of the encoder maps at strides 4, 8, 16, 32.

    Returns:
        A module mapping the four maps to ``(B, out_channels, H/4, W/4)``.

    Raises:
        ValueError: For an unknown ``decoder``.
    """
    if config.decoder == "faithful":
        return UNetDecoder(
            encoder_channels, config.decoder_channels, upsample=config.upsample, block=config.block
        )
    if config.decoder == "smp_unet":
        return SmpUnetDecoder(encoder_channels, config.decoder_channels)
    if config.decoder == "smp_unetplusplus":
        return SmpUnetPlusPlusDecoder(encoder_channels, config.decoder_channels)
    if config.decoder == "smp_fpn":
        return SmpFPNDecoder(
            encoder_channels,
            pyramid_channels=config.fpn_pyramid_channels,
            segmentation_channels=config.fpn_segmentation_channels,
        )
    raise ValueError(f"decoder must be one of {DECODER_KINDS}, got {config.decoder!r}.")


class CircleNet(nn.Module):
    """CenterNet-style point detector of the xView3 winner (``CenterNetUNetModel``).

    ``features = encoder(x)`` (strides 4-32) -> ``decoder(features)`` (stride 4; the
    winner's U-Net decoder or an smp U-Net, FPN or U-Net++) -> ``head(...)`` (stride 2).
    The model returns raw outputs; activations, gradients (``torch.inference_mode``) and
    devices are the caller's business.

    Args:
        config: Architecture; see :class:`ModelConfig`.

    Attributes:
        output_stride: Stride of the outputs, 2.
        input_divisor: ``H`` and ``W`` of the input must be multiples of this (32).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = TimmEncoder(
            config.encoder,
            in_channels=config.in_channels,
            drop_rate=config.drop_rate,
            drop_path_rate=config.drop_path_rate,
            weights=config.encoder_weights,
        )
        self.decoder = build_decoder(config, self.encoder.out_channels)
        self.head = DecoupledHeadGroupNormLateShuffle(
            self.decoder.out_channels,
            objectness_dim=config.objectness_dim,
            classifier_dim=config.classifier_dim,
            size_dim=config.size_dim,
            offset_dim=config.offset_dim,
            num_blocks=config.head_blocks,
            num_groups=config.num_groups,
            dropout=config.head_dropout,
        )
        self.output_stride = self.encoder.strides[0] // self.head.upsample_factor
        self.input_divisor = self.encoder.strides[-1]

    def check_input_shape(self, x: torch.Tensor) -> None:
        """Raise if ``x`` is not ``(B, in_channels, H, W)`` with ``H, W`` multiples of 32.

        Raises:
            RuntimeError: With the padded shape to use.
        """
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise RuntimeError(
                f"CircleNet expects (B, {self.config.in_channels}, H, W) input ([VH, VV]), "
                f"got {tuple(x.shape)}."
            )
        h, w = int(x.shape[-2]), int(x.shape[-1])
        d = self.input_divisor
        if h % d or w % d:
            new_h, new_w = -(-h // d) * d, -(-w // d) * d
            raise RuntimeError(
                f"Input height and width must be multiples of {d}, got {h} x {w}. "
                f"Consider padding the image to shape ({new_h}, {new_w})."
            )

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        """Predict the stride-2 maps of a batch.

        Args:
            x: ``(B, 2, H, W)`` normalised ``[VH, VV]``; ``H``, ``W`` multiples of 32.

        Returns:
            :class:`CircleNetOutputs`, every map ``(B, C, H/2, W/2)``: objectness, vessel
            and fishing logits (C=1), length = ``log(1 + length_px)`` >= 0 (C=1) and
            offset ``(dx, dy)`` in [0, 1] (C=2).
        """
        if not torch.jit.is_tracing() and not torch.jit.is_scripting():
            self.check_input_shape(x)
        return self.head(self.decoder(self.encoder(x)))


def build_model(
    preset_or_config: str | ModelConfig | Mapping[str, Any], **overrides: Any
) -> CircleNet:
    """Build a CircleNet from a preset name, a config or a parameters mapping.

    Example:
        >>> model = build_model("cpu_small")
        >>> out = model(torch.zeros(1, 2, 64, 64))
        >>> tuple(out.objectness.shape)
        (1, 1, 32, 32)

    Args:
        preset_or_config: A key of :data:`PRESETS` (``b4_unet_s2``, ``b5_unet_s2``,
            ``v2s_unet_s2``, ``cpu_small``, ``smp_unet_resnet34``, ``smp_fpn_resnet34``,
            ``smp_unetplusplus_resnet34``, ``cpu_smp_unet``), a :class:`ModelConfig` or a
            mapping of its fields (optionally with ``preset``).
        **overrides: Fields to replace.

    Returns:
        The model, in training mode, on the CPU.

    Raises:
        UnknownPresetError: For an unknown preset name (a ``KeyError``), listing them.
        ValueError: For unknown fields or invalid values.
    """
    config = resolve_config(preset_or_config, **overrides)
    model = CircleNet(config)
    logger.info(
        "Built CircleNet (%s, %s decoder, %.1fM parameters).",
        config.encoder,
        config.decoder,
        sum(p.numel() for p in model.parameters()) / 1e6,
    )
    return model
