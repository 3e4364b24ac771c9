"""CircleNet models: configuration, presets, encoder, decoder, head and factory."""

from xview3_pipeline.core.models.circlenet import CircleNet, build_model
from xview3_pipeline.core.models.config import (
    PRESETS,
    ModelConfig,
    UnknownPresetError,
    resolve_config,
)
from xview3_pipeline.core.models.decoder import UNetDecoder
from xview3_pipeline.core.models.encoders import TimmEncoder, adapt_input_channels
from xview3_pipeline.core.models.heads import DecoupledHeadGroupNormLateShuffle

__all__ = [
    "PRESETS",
    "CircleNet",
    "DecoupledHeadGroupNormLateShuffle",
    "ModelConfig",
    "TimmEncoder",
    "UNetDecoder",
    "UnknownPresetError",
    "adapt_input_channels",
    "build_model",
    "resolve_config",
]
