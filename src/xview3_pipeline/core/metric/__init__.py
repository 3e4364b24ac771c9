"""The official xView3 metric: reading inputs, matching and scoring.

``score(pred, gt, MetricConfig(...), shore_root=...)`` scores a submission;
``prepare`` matches once and :func:`score_thresholds` (or
:meth:`PreparedMatch.score`) then scores any vessel/fishing thresholds on the matched
pairs. The component names are :data:`COMPONENTS`.
"""

from xview3_pipeline.core.constants import COMPONENTS, DISTANCE_TOLERANCE_M
from xview3_pipeline.core.metric.config import MetricConfig
from xview3_pipeline.core.metric.inputs import label_from_probabilities
from xview3_pipeline.core.metric.matching import match_by_scene, match_points
from xview3_pipeline.core.metric.scoring import MetricResult, PreparedMatch, score_thresholds
from xview3_pipeline.core.metric.xview3 import PER_SCENE_COLUMNS, prepare, score

__all__ = (
    "COMPONENTS",
    "DISTANCE_TOLERANCE_M",
    "PER_SCENE_COLUMNS",
    "MetricConfig",
    "MetricResult",
    "PreparedMatch",
    "label_from_probabilities",
    "match_by_scene",
    "match_points",
    "prepare",
    "score",
    "score_thresholds",
)
