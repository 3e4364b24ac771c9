"""Whole-scene inference: tiling, ensemble + flip TTA, export, streaming decoding, tables."""

from xview3_pipeline.core.inference.ensemble import (
    CircleNetEnsemble,
    export_ensemble,
    flip_offset_x,
    load_exported,
)
from xview3_pipeline.core.inference.postprocess import (
    CANDIDATE_COLUMNS,
    add_scene_columns,
    owi_land_distance_km,
    pixel_to_latlon,
    shoreline_distance_km,
)
from xview3_pipeline.core.inference.predict import (
    MAP_CHANNELS,
    InferenceConfig,
    InferenceScene,
    accumulate_scene_maps,
    build_ensemble,
    predict_scene,
    predict_scene_reference,
    predict_scenes,
)
from xview3_pipeline.core.inference.tiling import (
    COVERAGES,
    TileGrid,
    pyramid_weight,
    tile_starts,
    uncovered_border,
)

__all__ = [
    "CANDIDATE_COLUMNS",
    "COVERAGES",
    "MAP_CHANNELS",
    "CircleNetEnsemble",
    "InferenceConfig",
    "InferenceScene",
    "TileGrid",
    "accumulate_scene_maps",
    "add_scene_columns",
    "build_ensemble",
    "export_ensemble",
    "flip_offset_x",
    "load_exported",
    "owi_land_distance_km",
    "pixel_to_latlon",
    "predict_scene",
    "predict_scene_reference",
    "predict_scenes",
    "pyramid_weight",
    "shoreline_distance_km",
    "tile_starts",
    "uncovered_border",
]
