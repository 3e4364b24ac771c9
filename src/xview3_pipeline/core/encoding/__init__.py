"""CircleNet heat-map target encoding, decoding and the encode → decode round trip."""

from xview3_pipeline.core.encoding.candidates import DETECTION_COLUMNS, candidate_table
from xview3_pipeline.core.encoding.coder import CircleNetCoder
from xview3_pipeline.core.encoding.config import CoderConfig, output_shape
from xview3_pipeline.core.encoding.decoding import decode, detections_to_frame
from xview3_pipeline.core.encoding.roundtrip import (
    ROUNDTRIP_COLUMNS,
    roundtrip_centers,
    roundtrip_f1,
)
from xview3_pipeline.core.encoding.targets import encode_targets, labels_to_objects

__all__ = [
    "DETECTION_COLUMNS",
    "ROUNDTRIP_COLUMNS",
    "CircleNetCoder",
    "CoderConfig",
    "candidate_table",
    "decode",
    "detections_to_frame",
    "encode_targets",
    "labels_to_objects",
    "output_shape",
    "roundtrip_centers",
    "roundtrip_f1",
]
