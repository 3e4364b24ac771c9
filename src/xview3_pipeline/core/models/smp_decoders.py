"""segmentation-models-pytorch decoders over the CircleNet encoder features.

The CircleNet encoder gives maps at strides 4, 8, 16 and 32 and the head reads one map at
stride 4 (it upsamples to stride 2 itself). smp's decoders expect the features of an smp
encoder, whose first entry is the input (stride 1), and smp's models end at the input
resolution. The wrappers here adapt both ends:

* ``smp_unet`` (:class:`SmpUnetDecoder`) and ``smp_unetplusplus``
  (:class:`SmpUnetPlusPlusDecoder`): smp drops the first feature map; the wrappers pass the
  stride-4 map in its place (smp only reads its channel count and, for U-Net, the height
  and width of a stage that is not built). The stages merge the skips at strides 16, 8 and
  4; smp's final skip-less upsampling stage (to the input resolution, where smp's
  segmentation head reads) is left out, since the CircleNet head does that upsampling.
* ``smp_fpn`` (:class:`SmpFPNDecoder`): smp's FPN reads the last four maps (strides 4-32)
  and outputs the sum of its pyramid levels at stride 4, which the head reads as is (smp's
  FPN model upsamples it by 4 to the input; here the head's PixelShuffle(2) gives stride 2).

All three use smp's defaults otherwise: BatchNorm and ReLU, nearest-neighbour upsampling,
no attention; the FPN uses GroupNorm(32) and a ``Dropout2d`` of :data:`FPN_DROPOUT`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from segmentation_models_pytorch.decoders.unetplusplus.decoder import UnetPlusPlusDecoder
from torch import nn

from xview3_pipeline.core.models.config import FPN_GROUPS

#: Spatial dropout on the FPN output (smp's ``decoder_dropout`` default).
FPN_DROPOUT = 0.2


def _check_channels(
    encoder_channels: Sequence[int], decoder_channels: Sequence[int] | None
) -> None:
    """Raise ``ValueError`` unless there are 4 encoder and 3 positive decoder widths."""
    if len(encoder_channels) != 4:
        raise ValueError(
            "encoder_channels needs 4 entries (strides 4, 8, 16, 32), got "
            f"{list(encoder_channels)}."
        )
    if decoder_channels is not None and (
        len(decoder_channels) != 3 or any(c <= 0 for c in decoder_channels)
    ):
        raise ValueError(
            "decoder_channels needs 3 positive entries (strides 4, 8, 16), got "
            f"{list(decoder_channels)}."
        )


class SmpUnetDecoder(nn.Module):
    """smp's ``UnetDecoder`` from encoder strides 4-32 to a stride-4 map.

    Three stages (strides 16, 8, 4), each: nearest upsampling x2, concatenation with the
    encoder skip, (3x3 conv - BatchNorm - ReLU) x 2.

    Args:
        encoder_channels: Channels of the encoder maps at strides 4, 8, 16, 32.
        decoder_channels: Output channels of the stages at strides 4, 8, 16 (fine to
            coarse, as for the faithful decoder; smp lists them coarse to fine).

    Raises:
        ValueError: On wrong list lengths or non-positive channels.
    """

    def __init__(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int]) -> None:
        super().__init__()
        _check_channels(encoder_channels, decoder_channels)
        self.decoder = UnetDecoder(
            encoder_channels=[encoder_channels[0], *encoder_channels],
            decoder_channels=list(decoder_channels)[::-1],
            n_blocks=len(decoder_channels),
        )
        self.out_channels = int(decoder_channels[0])

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Decode the encoder maps.

        Args:
            features: Encoder maps at strides 4, 8, 16, 32, ``(B, C_i, H / s, W / s)``.

        Returns:
            ``(B, decoder_channels[0], H / 4, W / 4)``.
        """
        return self.decoder([features[0], *features])


class SmpUnetPlusPlusDecoder(nn.Module):
    """smp's ``UnetPlusPlusDecoder`` (nested dense skips) to a stride-4 map.

    The nested stages ``x_{i}_{j}`` of U-Net++ over the strides 4-32; the output is the
    finest stage of the outer path, ``x_0_2`` at stride 4.

    Args:
        encoder_channels: Channels of the encoder maps at strides 4, 8, 16, 32.
        decoder_channels: Output channels of the outer stages at strides 4, 8, 16 (fine to
            coarse); the inner stages take the widths of the skips they rebuild.

    Raises:
        ValueError: On wrong list lengths or non-positive channels.
    """

    def __init__(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int]) -> None:
        super().__init__()
        _check_channels(encoder_channels, decoder_channels)
        # A fourth, empty (0-channel, parameter-free) stage is smp's skip-less upsampling
        # to the input resolution; it is replaced by an identity, so the decoder ends at
        # the stride-4 stage and the head upsamples.
        self.decoder = UnetPlusPlusDecoder(
            encoder_channels=[encoder_channels[0], *encoder_channels],
            decoder_channels=[*list(decoder_channels)[::-1], 0],
            n_blocks=len(decoder_channels) + 1,
        )
        last = f"x_0_{self.decoder.depth}"
        if last not in self.decoder.blocks:
            raise RuntimeError(f"smp's UnetPlusPlusDecoder has no final stage {last!r}.")
        self.decoder.blocks[last] = nn.Identity()
        self.out_channels = int(decoder_channels[0])

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Decode the encoder maps.

        Args:
            features: Encoder maps at strides 4, 8, 16, 32, ``(B, C_i, H / s, W / s)``.

        Returns:
            ``(B, decoder_channels[0], H / 4, W / 4)``.
        """
        return self.decoder([features[0], *features])


class SmpFPNDecoder(nn.Module):
    """smp's ``FPNDecoder``: a feature pyramid summed at stride 4.

    1x1 lateral convs to ``pyramid_channels`` with top-down nearest upsampling, then per
    level (3x3 conv - GroupNorm(32) - ReLU [- bilinear x2]) up to stride 4, summed, then
    ``Dropout2d(FPN_DROPOUT)``.

    Args:
        encoder_channels: Channels of the encoder maps at strides 4, 8, 16, 32.
        pyramid_channels: Width of the pyramid levels.
        segmentation_channels: Width of the output; a multiple of :data:`FPN_GROUPS`.
            At 32 (one channel per group) the stride-32 map must have more than one
            pixel, i.e. the input must be larger than 32 x 32.

    Raises:
        ValueError: On a wrong list length or widths.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        pyramid_channels: int = 256,
        segmentation_channels: int = 128,
    ) -> None:
        super().__init__()
        _check_channels(encoder_channels, None)
        if pyramid_channels <= 0:
            raise ValueError(f"FPN pyramid_channels must be positive, got {pyramid_channels}.")
        if segmentation_channels <= 0 or segmentation_channels % FPN_GROUPS:
            raise ValueError(
                f"FPN segmentation_channels must be a positive multiple of {FPN_GROUPS} "
                f"(GroupNorm groups), got {segmentation_channels}."
            )
        self.decoder = FPNDecoder(
            encoder_channels=list(encoder_channels),
            encoder_depth=len(encoder_channels) - 1,
            pyramid_channels=pyramid_channels,
            segmentation_channels=segmentation_channels,
            dropout=FPN_DROPOUT,
        )
        self.out_channels = int(segmentation_channels)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Decode the encoder maps.

        Args:
            features: Encoder maps at strides 4, 8, 16, 32, ``(B, C_i, H / s, W / s)``.

        Returns:
            ``(B, segmentation_channels, H / 4, W / 4)``.
        """
        return self.decoder(features)
