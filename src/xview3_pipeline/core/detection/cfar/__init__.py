"""The CFAR detector: config, Gamma threshold, box sums, clusters, land masks, run."""

from xview3_pipeline.core.detection.cfar.config import CFAR_COLUMNS, CfarConfig
from xview3_pipeline.core.detection.cfar.run import (
    CfarDetector,
    detect_array,
    detect_scene,
    estimate_effective_looks,
)
from xview3_pipeline.core.detection.cfar.threshold import (
    gamma_pfa,
    gamma_threshold,
    gaussian_threshold,
)

__all__ = [
    "CFAR_COLUMNS",
    "CfarConfig",
    "CfarDetector",
    "detect_array",
    "detect_scene",
    "estimate_effective_looks",
    "gamma_pfa",
    "gamma_threshold",
    "gaussian_threshold",
]
