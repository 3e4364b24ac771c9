"""Configuration of a CircleNet and the registry of named presets.

The presets reproduce ``configs/model/centernet/*.yaml`` of the xView3 winner (b4, b5, v2s)
with timm 1.0 encoder names, plus ``cpu_small`` for runs without a GPU, and ResNet
CircleNets with segmentation-models-pytorch decoders (``smp_*``, ``cpu_smp_unet``).
:func:`resolve_config` turns a preset name or a parameters mapping (``preset`` plus
overrides) into a validated :class:`ModelConfig`; its errors name the parameter
(``training.model.preset``) and list the accepted values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import timm

from xview3_pipeline.core.checks import check_field_types
from xview3_pipeline.core.config import check_keys

#: Decoder upsampling kinds: ``shuffle`` = PixelShuffle(2) (channels / 4); ``deconv`` =
#: ConvTranspose 3x3 stride 2 to C/4 plus a bilinear-additive residual.
UPSAMPLE_KINDS = ("shuffle", "deconv")
#: Decoder block kinds: ``ir`` = two timm InvertedResidual blocks (the second with an
#: effective-SE module); ``unet`` = (conv3x3 - BN - SiLU) x 2.
BLOCK_KINDS = ("ir", "unet")
#: Decoders: ``faithful`` = the winner's U-Net decoder (``upsample``, ``block``,
#: ``decoder_channels``); ``smp_unet``, ``smp_unetplusplus`` = smp's U-Net / U-Net++
#: decoders (``decoder_channels``); ``smp_fpn`` = smp's FPN (``fpn_pyramid_channels``,
#: ``fpn_segmentation_channels``). All end at stride 4; see ``smp_decoders``.
DECODER_KINDS = ("faithful", "smp_unet", "smp_fpn", "smp_unetplusplus")
#: GroupNorm groups of smp's FPN segmentation blocks (hard-coded in smp 0.6).
FPN_GROUPS = 32


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a CircleNet: timm encoder, decoder to stride 4, decoupled head.

    Attributes:
        encoder: timm model name; its features at strides 4, 8, 16 and 32 feed the decoder.
        encoder_weights: ``None`` (random init) or the path of a local state dict of the
            timm model (``torch.save(model.state_dict())``, loaded with
            ``weights_only=True``); a 3-channel stem keeps its first ``in_channels``
            input slices. No weights are ever downloaded.
        in_channels: Input channels, 2 for ``[VH, VV]``.
        drop_rate: timm ``drop_rate``; a no-op for ``features_only`` EfficientNets
            (it drives the classifier dropout, which they do not have), kept for fidelity.
        drop_path_rate: Stochastic depth of the encoder blocks.
        decoder: One of :data:`DECODER_KINDS`; ``faithful`` (the default, and the reading
            of a stored configuration without this key) is the winner's decoder.
        decoder_channels: Decoder stage outputs, fine (stride 4) to coarse (stride 16);
            read by the ``faithful``, ``smp_unet`` and ``smp_unetplusplus`` decoders.
        upsample: One of :data:`UPSAMPLE_KINDS` (``faithful`` decoder only).
        block: One of :data:`BLOCK_KINDS` (``faithful`` decoder only).
        fpn_pyramid_channels: Width of the pyramid levels (``smp_fpn`` only).
        fpn_segmentation_channels: Width of the ``smp_fpn`` output, a multiple of 32
            (``smp_fpn`` only).
        objectness_dim: Width of the objectness branch of the head.
        classifier_dim: Width of the vessel/fishing branch.
        size_dim: Width of the length branch.
        offset_dim: Width of the offset branch.
        head_blocks: Number of (3x3 conv - GroupNorm - SiLU) blocks per head branch.
        num_groups: GroupNorm groups in the head; must divide every head width.
        head_dropout: ``Dropout2d`` probability at the end of each head branch.
        output_stride: Stride of the outputs with respect to the input; only 2
            (encoder stride 4, head upsampling 2) is supported.
    """

    encoder: str = "tf_efficientnet_b4"
    encoder_weights: str | None = None
    in_channels: int = 2
    drop_rate: float = 0.0
    drop_path_rate: float = 0.0
    decoder: str = "faithful"
    decoder_channels: tuple[int, ...] = (256, 384, 512)
    upsample: str = "shuffle"
    block: str = "ir"
    fpn_pyramid_channels: int = 256
    fpn_segmentation_channels: int = 128
    objectness_dim: int = 128
    classifier_dim: int = 128
    size_dim: int = 64
    offset_dim: int = 16
    head_blocks: int = 3
    num_groups: int = 16
    head_dropout: float = 0.1
    output_stride: int = 2

    def __post_init__(self) -> None:
        # Lists from YAML/JSON become tuples so the config stays hashable and immutable.
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))
        if self.encoder_weights is not None:  # a Path becomes a plain string for to_dict()
            object.__setattr__(self, "encoder_weights", str(self.encoder_weights))
        self.validate()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Args:
            values: Keys of this dataclass (e.g. ``params:model`` or a checkpoint's
                stored ``to_dict()``).

        Returns:
            The validated configuration.

        Raises:
            ValueError: On unknown keys or invalid values.
        """
        return cls(**check_keys(cls, values))

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dictionary (lists, not tuples) for YAML, JSON and checkpoints."""
        out = dataclasses.asdict(self)
        out["decoder_channels"] = list(self.decoder_channels)
        return out

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed (validated; unknown names raise ``ValueError``)."""
        return ModelConfig.from_dict(self.to_dict() | overrides)

    def validate(self) -> None:
        """Check values and channel divisibility.

        Raises:
            ValueError: If a value has the wrong type or is out of range, or a channel
                count does not divide.
        """
        check_field_types(self, "")
        self._validate_decoder()
        if self.output_stride != 2:
            raise ValueError(
                f"Only output_stride=2 is supported (encoder stride 4 / head upsampling 2), "
                f"got {self.output_stride}."
            )
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {self.in_channels}.")
        for name in ("objectness_dim", "classifier_dim", "size_dim", "offset_dim"):
            dim = getattr(self, name)
            if dim <= 0 or dim % 4 or dim % self.num_groups:
                raise ValueError(
                    f"{name}={dim} must be a positive multiple of 4 (PixelShuffle(2)) and of "
                    f"num_groups={self.num_groups} (GroupNorm)."
                )
        if self.head_blocks < 1:
            raise ValueError(f"head_blocks must be >= 1, got {self.head_blocks}.")
        for name in ("drop_rate", "drop_path_rate", "head_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}.")
        if not isinstance(self.encoder, str) or not timm.is_model(self.encoder):
            raise ValueError(
                f"encoder {self.encoder!r} is not a timm model name (e.g. "
                f"{sorted({c.encoder for c in PRESETS.values()})}; see timm.list_models())."
            )

    def _validate_decoder(self) -> None:
        """Check the decoder kind and the fields of the decoders (all of them, always)."""
        if self.decoder not in DECODER_KINDS:
            raise ValueError(f"decoder must be one of {DECODER_KINDS}, got {self.decoder!r}.")
        if self.upsample not in UPSAMPLE_KINDS:
            raise ValueError(f"upsample must be one of {UPSAMPLE_KINDS}, got {self.upsample!r}.")
        if self.block not in BLOCK_KINDS:
            raise ValueError(f"block must be one of {BLOCK_KINDS}, got {self.block!r}.")
        if len(self.decoder_channels) != 3:
            raise ValueError(
                "decoder_channels needs 3 entries (strides 4, 8, 16 for encoder features at "
                f"4, 8, 16, 32), got {list(self.decoder_channels)}."
            )
        bad = [c for c in self.decoder_channels if c <= 0 or c % 4]
        if bad:
            raise ValueError(
                f"decoder_channels must be positive multiples of 4 (upsampling divides the "
                f"channels by 4), got {list(self.decoder_channels)}."
            )
        if self.fpn_pyramid_channels <= 0:
            raise ValueError(
                f"fpn_pyramid_channels must be positive, got {self.fpn_pyramid_channels}."
            )
        if self.fpn_segmentation_channels <= 0 or self.fpn_segmentation_channels % FPN_GROUPS:
            raise ValueError(
                f"fpn_segmentation_channels must be a positive multiple of {FPN_GROUPS} "
                f"(GroupNorm groups of the FPN), got {self.fpn_segmentation_channels}."
            )


#: Named architectures. b4/b5/v2s follow the winner's configs with timm 1.0 names
#: (``tf_efficientnet_b4_ns`` is now ``tf_efficientnet_b4``, weights tag ``.ns_jft_in1k``).
#: ``cpu_small`` is the default for CPU runs: MobileNetV3-Large with a narrow U-Net
#: decoder and head, about 0.7-0.9 s for forward+backward of 8 x 2 x 256 x 256 on 2 cores
#: (resnet18: 1.1 s, efficientnet_b0: 1.3 s, tf_efficientnet_lite0: 1.2-2.7 s).
#: ``smp_unet_resnet34``, ``smp_fpn_resnet34`` and ``smp_unetplusplus_resnet34`` put smp's
#: U-Net, FPN and U-Net++ decoders (smp's default widths for the strides 16-4) on a timm
#: ResNet-34, whose state dict has the keys of smp's ``resnet34`` encoder (torchvision), so
#: smp or torchvision ResNet weights load as ``encoder_weights``. ``cpu_smp_unet`` is the CPU
#: variant: ResNet-18, a narrow smp U-Net and the ``cpu_small`` head, about as fast
#: as ``cpu_small`` for forward+backward of 8 x 2 x 256 x 256 (measured side by side).
PRESETS: dict[str, ModelConfig] = {
    "b4_unet_s2": ModelConfig(
        encoder="tf_efficientnet_b4",
        drop_path_rate=0.2,
        upsample="shuffle",
        block="ir",
        size_dim=64,
        num_groups=16,
    ),
    "b5_unet_s2": ModelConfig(
        encoder="tf_efficientnet_b5",
        drop_path_rate=0.2,
        upsample="shuffle",
        block="ir",
        size_dim=64,
        num_groups=4,
    ),
    "v2s_unet_s2": ModelConfig(
        encoder="efficientnetv2_rw_s",
        drop_rate=0.1,
        drop_path_rate=0.1,
        upsample="deconv",
        block="unet",
        size_dim=128,
        num_groups=16,
    ),
    "cpu_small": ModelConfig(
        encoder="mobilenetv3_large_100",
        decoder_channels=(64, 96, 128),
        upsample="shuffle",
        block="unet",
        objectness_dim=64,
        classifier_dim=64,
        size_dim=32,
        offset_dim=16,
        num_groups=16,
    ),
    # smp U-Net on ResNet-34: stages (stride 4, 8, 16) of 64, 128, 256 channels.
    "smp_unet_resnet34": ModelConfig(
        encoder="resnet34", decoder="smp_unet", decoder_channels=(64, 128, 256)
    ),
    # smp FPN on ResNet-34: pyramid 256, output 128 channels at stride 4.
    "smp_fpn_resnet34": ModelConfig(
        encoder="resnet34",
        decoder="smp_fpn",
        fpn_pyramid_channels=256,
        fpn_segmentation_channels=128,
    ),
    # smp U-Net++ on ResNet-34: outer stages of 64, 128, 256 channels.
    "smp_unetplusplus_resnet34": ModelConfig(
        encoder="resnet34", decoder="smp_unetplusplus", decoder_channels=(64, 128, 256)
    ),
    # CPU: smp U-Net (32, 64, 128) on ResNet-18 with the narrow head of cpu_small.
    "cpu_smp_unet": ModelConfig(
        encoder="resnet18",
        decoder="smp_unet",
        decoder_channels=(32, 64, 128),
        objectness_dim=64,
        classifier_dim=64,
        size_dim=32,
        offset_dim=16,
        num_groups=16,
    ),
}


class UnknownPresetError(KeyError, ValueError):
    """A model preset name that is not a key of :data:`PRESETS`.

    A ``KeyError`` (a missing registry key) and a ``ValueError`` (a bad parameter value),
    with a plain message.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def preset(name: str, *, what: str = "preset") -> ModelConfig:
    """The configuration of a named preset.

    Args:
        name: A key of :data:`PRESETS`.
        what: The parameter's name in the message (e.g. ``training.model.preset``).

    Raises:
        UnknownPresetError: Naming the parameter, the value and the presets.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise UnknownPresetError(f"{what} must be one of {sorted(PRESETS)}, got {name!r}.")
    return PRESETS[name]


def resolve_config(
    preset_or_config: str | ModelConfig | Mapping[str, Any],
    *,
    what: str = "model",
    **overrides: Any,
) -> ModelConfig:
    """Turn a preset name, a config or a mapping into a :class:`ModelConfig`.

    Args:
        preset_or_config: A key of :data:`PRESETS`, a config, or a mapping of its fields;
            a mapping may name a preset under ``preset`` and override the rest.
        what: Name of the parameters block in messages (e.g. ``training.model``).
        **overrides: Fields to replace, e.g. ``encoder_weights="/path/b4.pth"``.

    Returns:
        The validated configuration.

    Raises:
        UnknownPresetError: For an unknown preset name (a ``KeyError`` and a
            ``ValueError``), naming ``<what>.preset`` and listing the presets.
        ValueError: For unknown fields or invalid values, naming the block.
    """
    if isinstance(preset_or_config, str):
        config = preset(preset_or_config, what=f"{what}.preset")
    elif isinstance(preset_or_config, ModelConfig):
        config = preset_or_config
    elif isinstance(preset_or_config, Mapping):
        values = dict(preset_or_config)
        name = values.pop("preset", None)
        config = preset(name, what=f"{what}.preset") if name is not None else ModelConfig()
        overrides = values | overrides
    else:
        raise TypeError(
            f"{what}: expected a preset name, ModelConfig or mapping, got "
            f"{type(preset_or_config).__name__}."
        )
    if not overrides:
        return config
    check_keys(ModelConfig, overrides, what=what)
    try:
        return ModelConfig.from_dict(config.to_dict() | overrides)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None
