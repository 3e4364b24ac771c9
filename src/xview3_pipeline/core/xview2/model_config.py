"""Configuration of the xView2 damage segmentation models and their named presets.

The winner (BloodAxe/xView2-Solution) ensembled 13 siamese models, ``*_unet_v2`` (U-Net)
and ``*_fpncatv2_256`` (FPN whose pyramid levels are concatenated), on ResNet34/101,
SE-ResNeXt50, DenseNet169/201, InceptionV4 and EfficientNet-B4 encoders. The presets
rebuild them on segmentation_models_pytorch (smp) encoders and decoders; the U-Net widths
are the winner's ``unet_channels`` in smp's coarse-to-fine order plus the width of its last
(stride 1) upsampling block, e.g. ``[64, 128, 256, 256]`` becomes
``(256, 256, 128, 64, 64)``. :func:`xview2_model_config` turns a preset name or a
parameters mapping (``preset`` plus overrides) into a validated
:class:`Xview2ModelConfig`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import timm
from segmentation_models_pytorch.encoders import encoders as smp_encoders

from xview3_pipeline.core.checks import check_field_types
from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.models.config import UnknownPresetError

Xview2Architecture = Literal["siamese", "early_fusion"]
Xview2Decoder = Literal["unet", "fpn"]

#: ``siamese``: one shared encoder on the pre and the post image, features concatenated
#: level by level; ``early_fusion``: one encoder on the 6-channel stack.
ARCHITECTURES: Final[tuple[str, ...]] = get_args(Xview2Architecture)
DECODERS: Final[tuple[str, ...]] = get_args(Xview2Decoder)
#: Prefix of smp's timm-universal encoder names (``tu-<timm model name>``).
TIMM_PREFIX: Final = "tu-"
#: Channels of one image of the pair (RGB) and of the model input (pre + post).
IMAGE_CHANNELS: Final = 3
INPUT_CHANNELS: Final = 2 * IMAGE_CHANNELS
#: smp's own U-Net widths, coarse to fine; the first ``encoder_depth`` are the default.
UNET_DEFAULT_CHANNELS: Final = (256, 128, 64, 32, 16)
#: The winner's FPN: 256 pyramid channels, four 256-channel levels concatenated.
FPN_DEFAULT_CHANNELS: Final = (256, 256)
#: smp's FPN segmentation blocks use ``GroupNorm(32, segmentation_channels)``.
FPN_GROUPS: Final = 32


@dataclass(frozen=True)
class Xview2ModelConfig:
    """Architecture of an xView2 damage segmentation model.

    Input ``(B, 6, H, W)`` (pre RGB, post RGB), output logits ``(B, classes, H, W)``.

    Attributes:
        architecture: One of :data:`ARCHITECTURES`.
        encoder: smp encoder name (``segmentation_models_pytorch.encoders.
            get_encoder_names()``, e.g. ``resnet34``, ``se_resnext50_32x4d``,
            ``efficientnet-b4``) or ``tu-<timm model name>``.
        decoder: One of :data:`DECODERS`.
        encoder_depth: Encoder stages (3-5 for FPN, 1-5 for U-Net); inputs must be
            multiples of ``2 ** encoder_depth`` pixels.
        decoder_channels: U-Net: one width per block, coarse to fine, ``encoder_depth``
            entries; FPN: ``(pyramid_channels, segmentation_channels)``, the second a
            multiple of 32. Empty means smp's U-Net widths or the winner's FPN ``(256, 256)``.
        classes: Output classes (5: no building, no / minor / major damage, destroyed).
        encoder_weights: ``None`` or an smp pretrained-weights name (e.g. ``imagenet``),
            fetched by smp from the Hugging Face hub (its local cache when offline).
        weights_path: ``None`` or a local encoder state dict (``torch.save(encoder.
            state_dict())``, a torchvision/pretrainedmodels classifier state dict of the
            same backbone, or a whole model's with ``encoder.`` keys), loaded with
            ``weights_only=True``. Excludes ``encoder_weights``.
    """

    architecture: Xview2Architecture = "siamese"
    encoder: str = "resnet34"
    decoder: Xview2Decoder = "unet"
    encoder_depth: int = 5
    decoder_channels: tuple[int, ...] = ()
    classes: int = 5
    encoder_weights: str | None = None
    weights_path: str | None = None

    def __post_init__(self) -> None:
        # Lists from YAML/JSON become tuples so the config stays hashable and immutable.
        channels = tuple(self.decoder_channels)
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in channels):
            raise ValueError(f"decoder_channels must be integers, got {list(channels)}.")
        if not channels:
            channels = default_decoder_channels(self.decoder, self.encoder_depth)
        object.__setattr__(self, "decoder_channels", channels)
        path: object = self.weights_path  # a Path becomes a plain string for to_dict()
        if isinstance(path, os.PathLike):
            object.__setattr__(self, "weights_path", os.fspath(path))
        self.validate()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Xview2ModelConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Args:
            values: Keys of this dataclass (e.g. ``params:xview2_training.model`` or a
                checkpoint's stored ``to_dict()``).

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

    @property
    def input_multiple(self) -> int:
        """Input height and width must be multiples of this (``2 ** encoder_depth``)."""
        return int(2**self.encoder_depth)

    def validate(self) -> None:
        """Check the choices, the encoder name, the depth and the decoder widths.

        Raises:
            ValueError: Naming the field, the value and what is accepted.
        """
        check_field_types(self, "")
        _check_encoder(self.encoder)
        low = 3 if self.decoder == "fpn" else 1
        if not low <= self.encoder_depth <= 5:
            raise ValueError(
                f"encoder_depth must be in [{low}, 5] for the {self.decoder} decoder, "
                f"got {self.encoder_depth}."
            )
        channels = list(self.decoder_channels)
        if any(c <= 0 for c in channels):
            raise ValueError(f"decoder_channels must be positive, got {channels}.")
        if self.decoder == "unet" and len(channels) != self.encoder_depth:
            raise ValueError(
                f"decoder_channels needs encoder_depth={self.encoder_depth} entries for "
                f"the unet decoder (one per block, coarse to fine), got {channels}."
            )
        if self.decoder == "fpn" and (len(channels) != 2 or channels[1] % FPN_GROUPS):
            raise ValueError(
                "decoder_channels of the fpn decoder must be (pyramid_channels, "
                f"segmentation_channels), the second a multiple of {FPN_GROUPS}, "
                f"got {channels}."
            )
        if self.classes < 2:
            raise ValueError(f"classes must be >= 2, got {self.classes}.")
        if self.encoder_weights is not None:
            if self.weights_path is not None:
                raise ValueError(
                    "Set encoder_weights or weights_path, not both (got "
                    f"{self.encoder_weights!r} and {self.weights_path!r})."
                )
            _check_pretrained_name(self.encoder, self.encoder_weights)


def default_decoder_channels(decoder: str, encoder_depth: int) -> tuple[int, ...]:
    """The U-Net widths of smp for ``encoder_depth`` blocks, or the winner's FPN widths."""
    if decoder == "fpn":
        return FPN_DEFAULT_CHANNELS
    return UNET_DEFAULT_CHANNELS[: max(encoder_depth, 0)]


def _check_encoder(name: str) -> None:
    if name.startswith(TIMM_PREFIX):
        if not timm.is_model(name[len(TIMM_PREFIX) :]):
            raise ValueError(
                f"encoder {name!r}: {name[len(TIMM_PREFIX) :]!r} is not a timm model name "
                "(see timm.list_models())."
            )
        return
    if name not in smp_encoders:
        close = difflib.get_close_matches(name, list(smp_encoders), n=3, cutoff=0.5)
        hint = f"did you mean {close}? " if close else ""
        raise ValueError(
            f"encoder {name!r} is not an smp encoder; {hint}presets use "
            f"{sorted({c.encoder for c in XVIEW2_PRESETS.values()})}; see "
            "segmentation_models_pytorch.encoders.get_encoder_names(), or name a timm "
            f"model as '{TIMM_PREFIX}<name>'."
        )


def _check_pretrained_name(encoder: str, weights: str) -> None:
    if encoder.startswith(TIMM_PREFIX):
        raise ValueError(
            f"encoder_weights must be None for the timm encoder {encoder!r} (smp names its "
            f"weights in the encoder name); use weights_path for a local file, got {weights!r}."
        )
    known = sorted(smp_encoders[encoder]["pretrained_settings"])
    if weights not in known:
        raise ValueError(
            f"encoder_weights of {encoder!r} must be one of {known} or None, got {weights!r}."
        )


def _siamese(encoder: str, decoder: Xview2Decoder, channels: tuple[int, ...]) -> Xview2ModelConfig:
    return Xview2ModelConfig(
        architecture="siamese", encoder=encoder, decoder=decoder, decoder_channels=channels
    )


#: ``unet_channels`` of the winner's ``unetv2.py`` (``[64, 128, 256, 256]`` for most
#: encoders), in smp's order plus the last upsampling block.
_UNET_V2: Final = (256, 256, 128, 64, 64)

#: Named architectures. The winner's table: ``resnet34_unet`` (5 of the 13 models),
#: ``resnet101_fpn``, ``resnet101_unet``, ``seresnext50_unet``, ``densenet169_unet``,
#: ``densenet201_fpn``, ``inceptionv4_fpn``, ``efficientnet_b4_fpn``; ``densenet201_unet``
#: applies DenseNet169's U-Net widths to DenseNet201 (the winner's DenseNet201 was an
#: FPN). ``cpu_siamese_unet`` and ``cpu_early_fusion_unet`` train in minutes on a CPU:
#: ResNet18 with a narrow U-Net, a training step of 4 x 6 x 256 x 256 taking about 1.4 s
#: and 0.8 s on 2 shared cores; a depth-4 encoder (1.7 s, wider maps at high resolution)
#: or smp's widths (1.9 s) are slower, halving the coarse widths saves about 12 %
#: (``benchmarks/bench_xview2_model_step.py``).
XVIEW2_PRESETS: dict[str, Xview2ModelConfig] = {
    "resnet34_unet": _siamese("resnet34", "unet", _UNET_V2),
    "resnet101_unet": _siamese("resnet101", "unet", (384, 256, 128, 64, 64)),
    "resnet101_fpn": _siamese("resnet101", "fpn", FPN_DEFAULT_CHANNELS),
    "seresnext50_unet": _siamese("se_resnext50_32x4d", "unet", _UNET_V2),
    "densenet169_unet": _siamese("densenet169", "unet", (256, 256, 128, 128, 128)),
    "densenet201_unet": _siamese("densenet201", "unet", (256, 256, 128, 128, 128)),
    "densenet201_fpn": _siamese("densenet201", "fpn", FPN_DEFAULT_CHANNELS),
    "inceptionv4_fpn": _siamese("inceptionv4", "fpn", FPN_DEFAULT_CHANNELS),
    "efficientnet_b4_fpn": _siamese("efficientnet-b4", "fpn", FPN_DEFAULT_CHANNELS),
    "cpu_siamese_unet": _siamese("resnet18", "unet", (128, 64, 32, 16, 8)),
    "cpu_early_fusion_unet": Xview2ModelConfig(
        architecture="early_fusion",
        encoder="resnet18",
        decoder="unet",
        decoder_channels=(128, 64, 32, 16, 8),
    ),
}


def xview2_preset(name: str, *, what: str = "preset") -> Xview2ModelConfig:
    """The configuration of a named preset.

    Args:
        name: A key of :data:`XVIEW2_PRESETS`.
        what: The parameter's name in the message (e.g. ``xview2_training.model.preset``).

    Raises:
        UnknownPresetError: Naming the parameter, the value and the presets (a
            ``KeyError`` and a ``ValueError``).
    """
    if not isinstance(name, str) or name not in XVIEW2_PRESETS:
        raise UnknownPresetError(f"{what} must be one of {sorted(XVIEW2_PRESETS)}, got {name!r}.")
    return XVIEW2_PRESETS[name]


def xview2_model_config(
    name_or_mapping: str | Xview2ModelConfig | Mapping[str, Any], *, what: str = "model"
) -> Xview2ModelConfig:
    """Turn a preset name, a config or a mapping into an :class:`Xview2ModelConfig`.

    Args:
        name_or_mapping: A key of :data:`XVIEW2_PRESETS`, a config, or a mapping of its
            fields; a mapping may name a preset under ``preset`` and override the rest
            (``{"preset": "cpu_siamese_unet", "decoder_channels": [64, 32, 16, 16, 8]}``).
            Without ``preset`` a mapping starts from the dataclass defaults.
        what: Name of the parameters block in messages (e.g. ``xview2_training.model``).

    Returns:
        The validated configuration.

    Raises:
        UnknownPresetError: For an unknown preset name, naming ``<what>.preset`` (or
            ``<what>`` for a bare name) and listing the presets.
        ValueError: For unknown keys or invalid values, naming the block.
        TypeError: For a value of another type.
    """
    if isinstance(name_or_mapping, Xview2ModelConfig):
        return name_or_mapping
    if isinstance(name_or_mapping, str):
        return xview2_preset(name_or_mapping, what=what)
    if not isinstance(name_or_mapping, Mapping):
        raise TypeError(
            f"{what}: expected a preset name, Xview2ModelConfig or mapping, got "
            f"{type(name_or_mapping).__name__}."
        )
    overrides = dict(name_or_mapping)
    name = overrides.pop("preset", None)
    base = xview2_preset(name, what=f"{what}.preset") if name is not None else None
    check_keys(Xview2ModelConfig, overrides, what=what)
    values = base.to_dict() if base is not None else {}
    if base is not None and ("decoder" in overrides or "encoder_depth" in overrides):
        # The preset's widths belong to its decoder and depth; let them default anew.
        values.pop("decoder_channels")
    try:
        return Xview2ModelConfig.from_dict(values | overrides)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None
