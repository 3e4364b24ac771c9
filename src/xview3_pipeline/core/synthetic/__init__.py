"""A generator of realistic synthetic Sentinel-1 scenes in the exact xView3 layout."""

from xview3_pipeline.core.synthetic.config import LabelNoiseConfig, SyntheticConfig
from xview3_pipeline.core.synthetic.generator import MARKER_FILE, GeneratedDataset, generate_dataset

__all__ = (
    "MARKER_FILE",
    "GeneratedDataset",
    "LabelNoiseConfig",
    "SyntheticConfig",
    "generate_dataset",
)
