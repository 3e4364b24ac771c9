"""A generator of synthetic building-damage image pairs in the exact xBD layout."""

from xview3_pipeline.core.xview2.synthetic.config import Xview2SyntheticConfig
from xview3_pipeline.core.xview2.synthetic.generator import (
    BUILDING_COLUMNS,
    MARKER_FILE,
    TRUTH_SPLIT,
    GeneratedXview2Dataset,
    generate_xview2_dataset,
)
from xview3_pipeline.core.xview2.synthetic.misalign import Misalignment
from xview3_pipeline.core.xview2.synthetic.xbd import (
    DISASTER_TYPES,
    METADATA_KEYS,
    SUBTYPES,
    XVIEW2_SPLITS,
    image_path,
    label_path,
)

__all__ = (
    "BUILDING_COLUMNS",
    "DISASTER_TYPES",
    "MARKER_FILE",
    "METADATA_KEYS",
    "SUBTYPES",
    "TRUTH_SPLIT",
    "XVIEW2_SPLITS",
    "GeneratedXview2Dataset",
    "Misalignment",
    "Xview2SyntheticConfig",
    "generate_xview2_dataset",
    "image_path",
    "label_path",
)
