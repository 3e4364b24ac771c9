"""CircleNet models: configuration, presets, encoder, decoders, head and factory."""

from xview3_pipeline.core.models.circlenet import CircleNet, build_decoder, build_model
from xview3_pipeline.core.models.config import (
    DECODER_KINDS,
    PRESETS,
    ModelConfig,
    UnknownPresetError,
    resolve_config,
)
from xview3_pipeline.core.models.decoder import UNetDecoder
from xview3_pipeline.core.models.encoders import TimmEncoder, adapt_input_channels
from xview3_pipeline.core.models.heads import DecoupledHeadGroupNormLateShuffle
from xview3_pipeline.core.models.smp_decoders import (
    SmpFPNDecoder,
    SmpUnetDecoder,
    SmpUnetPlusPlusDecoder,
)

__all__ = [
    "DECODER_KINDS",
    "PRESETS",
    "CircleNet",
    "DecoupledHeadGroupNormLateShuffle",
    "ModelConfig",
    "SmpFPNDecoder",
    "SmpUnetDecoder",
    "SmpUnetPlusPlusDecoder",
    "TimmEncoder",
    "UNetDecoder",
    "UnknownPresetError",
    "adapt_input_channels",
    "build_decoder",
    "build_model",
    "resolve_config",
]
