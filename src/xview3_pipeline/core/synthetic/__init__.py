"""A generator of realistic synthetic Sentinel-1 scenes in the exact xView3 layout."""

from xview3_pipeline.core.synthetic.config import LabelNoiseConfig, SyntheticConfig
from xview3_pipeline.core.synthetic.domain import (
    OOD_AXES,
    OOD_DOMAIN,
    DomainConfig,
    DomainDraw,
    OODConfig,
)
from xview3_pipeline.core.synthetic.generator import MARKER_FILE, GeneratedDataset, generate_dataset

__all__ = (
    "MARKER_FILE",
    "OOD_AXES",
    "OOD_DOMAIN",
    "DomainConfig",
    "DomainDraw",
    "GeneratedDataset",
    "LabelNoiseConfig",
    "OODConfig",
    "SyntheticConfig",
    "generate_dataset",
)
