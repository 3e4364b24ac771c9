"""The CircleNet detector: config, tiling, blending, streaming decode, run, ensemble."""

from xview3_pipeline.core.detection.cnn.blending import MAP_CHANNELS, pyramid_weight
from xview3_pipeline.core.detection.cnn.config import ENCODER_STRIDE, InferenceConfig
from xview3_pipeline.core.detection.cnn.ensemble import (
    CircleNetEnsemble,
    export_ensemble,
    flip_offset_x,
    load_exported,
)
from xview3_pipeline.core.detection.cnn.run import (
    CnnDetector,
    NonFiniteOutputError,
    build_ensemble,
    predict_scene,
)
from xview3_pipeline.core.detection.cnn.tiling import COVERAGES, TileGrid, tile_starts

__all__ = [
    "COVERAGES",
    "ENCODER_STRIDE",
    "MAP_CHANNELS",
    "CircleNetEnsemble",
    "CnnDetector",
    "InferenceConfig",
    "NonFiniteOutputError",
    "TileGrid",
    "build_ensemble",
    "export_ensemble",
    "flip_offset_x",
    "load_exported",
    "predict_scene",
    "pyramid_weight",
    "tile_starts",
]
