"""xView2 damage segmentation networks on segmentation_models_pytorch (smp) parts.

:class:`SiameseSegmentation` is the winner's network (``xview/models/unetv2.py`` and
``fpn_v2.py`` of BloodAxe/xView2-Solution): one encoder, shared by the pre and the post
image and run on both in one batch, whose feature maps are concatenated channel-wise
level by level before an smp U-Net or FPN decoder. The write-up reports that this
tolerates the small misalignment of the pair, whereas the 6-channel early fusion of
:class:`EarlyFusionSegmentation` (the baseline) "could barely reach 0.7". Both map
``(B, 6, H, W)`` (pre RGB, post RGB, ImageNet-normalised) to logits ``(B, 5, H, W)``.

smp 0.6 does not re-export ``UnetDecoder`` and ``FPNDecoder``; their imports are kept to
this module. The configuration and presets are :mod:`.model_config`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.base.initialization import initialize_decoder, initialize_head
from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder
from segmentation_models_pytorch.decoders.unet.decoder import UnetDecoder
from segmentation_models_pytorch.encoders import get_encoder
from torch import nn

from xview3_pipeline.core.models.encoders import adapt_input_channels, load_state_dict_file
from xview3_pipeline.core.xview2.model_config import (
    ARCHITECTURES,
    DECODERS,
    IMAGE_CHANNELS,
    INPUT_CHANNELS,
    XVIEW2_PRESETS,
    Xview2ModelConfig,
    xview2_model_config,
    xview2_preset,
)

logger = logging.getLogger(__name__)

__all__ = (
    "ARCHITECTURES",
    "DECODERS",
    "XVIEW2_PRESETS",
    "EarlyFusionSegmentation",
    "SiameseSegmentation",
    "Xview2ModelConfig",
    "build_xview2_model",
    "load_encoder_weights",
    "tile_input_channels",
    "xview2_model_config",
    "xview2_preset",
)


class _Xview2Segmentation(nn.Module):
    """Encoder, decoder and head of either architecture; subclasses define ``forward``.

    Args:
        config: The architecture.
        encoder_in_channels: Input channels of the encoder (3 siamese, 6 early fusion).
        channel_factor: Multiplier of the encoder's feature channels seen by the decoder
            (2 when pre and post features are concatenated).
    """

    def __init__(
        self, config: Xview2ModelConfig, *, encoder_in_channels: int, channel_factor: int
    ) -> None:
        super().__init__()
        self.config = config
        #: Input height and width must be multiples of this (pad to it).
        self.input_multiple = config.input_multiple
        self.encoder = get_encoder(
            config.encoder,
            in_channels=encoder_in_channels,
            depth=config.encoder_depth,
            weights=config.encoder_weights,
        )
        channels = [channel_factor * c for c in self.encoder.out_channels]
        self.decoder: nn.Module
        if config.decoder == "unet":
            self.decoder = UnetDecoder(
                encoder_channels=channels,
                decoder_channels=config.decoder_channels,
                n_blocks=config.encoder_depth,
                add_center_block=config.encoder.startswith("vgg"),  # as smp.Unet
            )
            head_channels, kernel, upsampling = config.decoder_channels[-1], 3, 1
        else:
            pyramid, segmentation = config.decoder_channels
            # No dropout: the write-up trained "with ... no dropout".
            fpn = FPNDecoder(
                encoder_channels=channels,
                encoder_depth=config.encoder_depth,
                pyramid_channels=pyramid,
                segmentation_channels=segmentation,
                dropout=0.0,
                merge_policy="cat",
            )
            self.decoder = fpn
            # The FPN reads the last four feature maps; the finest is at stride
            # 2 ** (depth - 3), upsampled to the input by the head.
            head_channels, kernel = int(fpn.out_channels), 1
            upsampling = 2 ** (config.encoder_depth - 3)
        self.segmentation_head = SegmentationHead(
            in_channels=head_channels,
            out_channels=config.classes,
            kernel_size=kernel,
            upsampling=upsampling,
        )
        initialize_decoder(self.decoder)
        initialize_head(self.segmentation_head)
        if config.weights_path is not None:
            load_encoder_weights(self.encoder, config.weights_path)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != INPUT_CHANNELS:
            raise ValueError(
                f"Expected input (B, {INPUT_CHANNELS}, H, W) (pre RGB, post RGB), got "
                f"{tuple(x.shape)}."
            )
        h, w = x.shape[-2:]
        m = self.input_multiple
        if h % m or w % m:
            raise ValueError(
                f"Input height and width must be multiples of {m} (encoder_depth="
                f"{self.config.encoder_depth}), got {h} x {w}; pad to "
                f"{-(-h // m) * m} x {-(-w // m) * m}."
            )

    def _decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        out: torch.Tensor = self.segmentation_head(self.decoder(features))
        return out


class SiameseSegmentation(_Xview2Segmentation):
    """The winner's siamese network: one shared encoder for the pre and the post image.

    The pre and post images go through the encoder as one batch of ``2B`` (BatchNorm
    statistics of training batches span both), and the feature maps of each level are
    concatenated channel-wise ``[pre, post]`` before the decoder, which is built for
    twice the encoder's channels.

    Args:
        config: The architecture (``architecture="siamese"``).

    Raises:
        ValueError: If ``config`` is for another architecture.
    """

    def __init__(self, config: Xview2ModelConfig) -> None:
        if config.architecture != "siamese":
            raise ValueError(
                f"SiameseSegmentation needs architecture='siamese', got {config.architecture!r}."
            )
        super().__init__(config, encoder_in_channels=IMAGE_CHANNELS, channel_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Damage logits of image pairs.

        Args:
            x: ``(B, 6, H, W)`` float: channels 0:3 the pre image, 3:6 the post image;
                ``H`` and ``W`` multiples of :attr:`input_multiple`.

        Returns:
            Logits ``(B, classes, H, W)``.
        """
        self._check_input(x)
        batch = x.shape[0]
        pre, post = x[:, :IMAGE_CHANNELS], x[:, IMAGE_CHANNELS:]
        features = self.encoder(torch.cat([pre, post], dim=0))
        fused = [torch.cat([f[:batch], f[batch:]], dim=1) for f in features]
        return self._decode(fused)


class EarlyFusionSegmentation(_Xview2Segmentation):
    """The 6-channel early-fusion baseline: smp U-Net/FPN on the stacked pair.

    Equivalent to ``smp.Unet``/``smp.FPN`` with ``in_channels=6`` (and the FPN's
    concatenating merge), built from the same parts as :class:`SiameseSegmentation`.

    Args:
        config: The architecture (``architecture="early_fusion"``).

    Raises:
        ValueError: If ``config`` is for another architecture.
    """

    def __init__(self, config: Xview2ModelConfig) -> None:
        if config.architecture != "early_fusion":
            raise ValueError(
                "EarlyFusionSegmentation needs architecture='early_fusion', got "
                f"{config.architecture!r}."
            )
        super().__init__(config, encoder_in_channels=INPUT_CHANNELS, channel_factor=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Damage logits of image pairs.

        Args:
            x: ``(B, 6, H, W)`` float: channels 0:3 the pre image, 3:6 the post image;
                ``H`` and ``W`` multiples of :attr:`input_multiple`.

        Returns:
            Logits ``(B, classes, H, W)``.
        """
        self._check_input(x)
        return self._decode(self.encoder(x))


def build_xview2_model(
    config: Xview2ModelConfig | str | Mapping[str, object],
) -> SiameseSegmentation | EarlyFusionSegmentation:
    """The network of a configuration, a preset name or a parameters mapping.

    Args:
        config: See :func:`xview2_model_config`.

    Returns:
        A :class:`SiameseSegmentation` or :class:`EarlyFusionSegmentation`, randomly
        initialised unless the config names encoder weights.
    """
    config = xview2_model_config(config)
    if config.architecture == "siamese":
        return SiameseSegmentation(config)
    return EarlyFusionSegmentation(config)


def tile_input_channels(
    state_dict: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Fit a state dict to a model with more input channels, as smp does for pretrained stems.

    Every 4-D weight that has fewer input channels (dimension 1) than the model's, a
    divisor of them, and otherwise the same shape, is tiled and rescaled: channel ``i``
    gets input slice ``i % c`` times ``c / C`` (``c`` file, ``C`` model channels), so an
    RGB stem ``(K, 3, k, k)`` becomes ``(K, 6, k, k)`` that sees the pre and the post image
    alike and keeps its activation scale when they agree. Fewer channels are sliced by
    :func:`~xview3_pipeline.core.models.encoders.adapt_input_channels`.

    Args:
        state_dict: Pretrained tensors by name.
        reference: The target model's ``state_dict()``.

    Returns:
        A new dict with the input-channel tiles or slices taken.

    Raises:
        ValueError: If a shared tensor differs otherwise, naming it and both shapes.
    """
    out = dict(state_dict)
    for name, tensor in state_dict.items():
        target = reference.get(name)
        if (
            target is not None
            and tensor.ndim == 4
            and target.ndim == 4
            and tensor.shape[1] < target.shape[1]
            and target.shape[1] % tensor.shape[1] == 0
            and tensor.shape[0] == target.shape[0]
            and tensor.shape[2:] == target.shape[2:]
        ):
            have, want = tensor.shape[1], target.shape[1]
            logger.info("Tiling the %d input channels of %r to %d.", have, name, want)
            out[name] = tensor.repeat(1, want // have, 1, 1) * (have / want)
    return adapt_input_channels(out, reference)


def load_encoder_weights(encoder: nn.Module, path: str | Path) -> None:
    """Load a local state dict into an smp encoder, fitting its stem's input channels.

    Args:
        encoder: An smp encoder (``get_encoder(...)``).
        path: A file of ``torch.save(encoder.state_dict())``, of the backbone's
            torchvision/pretrainedmodels classifier (the classifier tensors are dropped by
            the smp encoder), or of a whole model whose encoder tensors start with
            ``encoder.``. Read with ``weights_only=True``.

    Raises:
        FileNotFoundError: If the file does not exist (nothing is downloaded).
        ValueError: If it is no state dict or a tensor's shape does not fit.
        RuntimeError: If tensors are missing or foreign, naming the file and examples.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"Encoder weights file {str(path)!r} does not exist. Weights are never "
            "downloaded: save an smp encoder state dict there "
            "(torch.save(model.encoder.state_dict(), path)) or set weights_path to None."
        )
    state = load_state_dict_file(path)
    own = encoder.state_dict()
    if not set(state) & set(own) and any(k.startswith("encoder.") for k in state):
        state = {
            k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")
        }
    state = tile_input_channels(state, own)
    try:
        encoder.load_state_dict(state)
    except RuntimeError as exc:
        raise RuntimeError(
            f"Weights file {str(path)!r} does not fit encoder {type(encoder).__name__}: {exc}"
        ) from None
    logger.info("Loaded encoder weights from %s (%d tensors).", path, len(own))
