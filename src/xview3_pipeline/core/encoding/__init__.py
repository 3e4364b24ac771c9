"""CircleNet heat-map target encoding, decoding and the encode → decode round trip."""

from xview3_pipeline.core.encoding.coder import (
    DETECTION_COLUMNS,
    CircleNetCoder,
    CoderConfig,
    decode,
    detections_to_frame,
    encode_targets,
    labels_to_objects,
    output_shape,
)
from xview3_pipeline.core.encoding.roundtrip import (
    ROUNDTRIP_COLUMNS,
    roundtrip_centers,
    roundtrip_f1,
)

__all__ = [
    "DETECTION_COLUMNS",
    "ROUNDTRIP_COLUMNS",
    "CircleNetCoder",
    "CoderConfig",
    "decode",
    "detections_to_frame",
    "encode_targets",
    "labels_to_objects",
    "output_shape",
    "roundtrip_centers",
    "roundtrip_f1",
]
