"""The official xView3 metric: matching and scoring."""

from xview3_pipeline.core.metric.matching import match_points
from xview3_pipeline.core.metric.xview3 import (
    MetricResult,
    PreparedMatch,
    prepare,
    score,
    score_thresholds,
)

__all__ = ("MetricResult", "PreparedMatch", "match_points", "prepare", "score", "score_thresholds")
