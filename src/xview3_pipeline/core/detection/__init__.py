"""Detection: one scene handle, one contract, two detectors (CircleNet and CFAR).

``detector.detect(scene)`` turns a :class:`Scene` into a candidate table with
:data:`CANDIDATE_COLUMNS`; ``detector.fingerprint()`` identifies the weights and settings.
"""

from xview3_pipeline.core.detection.cfar.run import CfarDetector
from xview3_pipeline.core.detection.cnn.run import CnnDetector
from xview3_pipeline.core.detection.contract import (
    CANDIDATE_COLUMNS,
    Detector,
    detect_candidates,
    empty_candidates,
)
from xview3_pipeline.core.detection.scene import Scene

__all__ = [
    "CANDIDATE_COLUMNS",
    "CfarDetector",
    "CnnDetector",
    "Detector",
    "Scene",
    "detect_candidates",
    "empty_candidates",
]
