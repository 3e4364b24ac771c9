"""Prepared matchings of one candidate table, one per objectness threshold (LRU).

The objectness threshold decides which predictions exist, so the matching depends on it;
the vessel and fishing thresholds only relabel the matched pairs. Both searches discretise
the objectness threshold (Optuna's ``step``, the grid), so at most one matching per grid
value is ever computed and a cached match is exactly the match of that threshold.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd

from xview3_pipeline.core.constants import (
    FISHING_PROBABILITY_COLUMN,
    OBJECTNESS_COLUMN,
    VESSEL_PROBABILITY_COLUMN,
)
from xview3_pipeline.core.metric import MetricConfig, PreparedMatch, prepare
from xview3_pipeline.core.metric.inputs import PRED_REQUIRED
from xview3_pipeline.core.metric.inputs import logger as metric_input_logger
from xview3_pipeline.core.tuning.config import TuningConfig

__all__ = ["CANDIDATE_COLUMNS", "PreparedCache", "clean_threshold", "quiet_repeats"]

#: Candidate columns the metric reads (the objectness column comes on top).
CANDIDATE_COLUMNS: tuple[str, ...] = (
    *PRED_REQUIRED,
    VESSEL_PROBABILITY_COLUMN,
    FISHING_PROBABILITY_COLUMN,
)


def clean_threshold(value: float) -> float:
    """A threshold without floating-point noise (``0.30000000000000004`` -> ``0.3``)."""
    return round(float(value), 10)


class PreparedCache:
    """Prepared matchings of one candidate table, one per objectness threshold (LRU).

    Thresholds are keyed after rounding to 10 decimals, which only removes floating-point
    noise: callers discretise, so a hit is exactly the matching that
    :func:`~xview3_pipeline.core.metric.prepare` would return.

    Args:
        candidates: Candidate detections (see
            :func:`~xview3_pipeline.core.tuning.tune_thresholds`).
        truth: Holdout labels in the official layout.
        metric: The metric options (None: the leaderboard's).
        shorelines: Preloaded shorelines (scene id -> Shoreline); None turns the shore
            term off (0).
        objectness_column: Candidate column with the detection score.
        maxsize: Most matchings kept.

    Attributes:
        hits: Lookups answered from the cache.
        misses: Lookups that computed a matching.
    """

    def __init__(
        self,
        candidates: pd.DataFrame,
        truth: pd.DataFrame,
        metric: MetricConfig | None = None,
        *,
        shorelines: Mapping[str, Any] | None = None,
        objectness_column: str = OBJECTNESS_COLUMN,
        maxsize: int = 256,
    ) -> None:
        columns = [c for c in (*CANDIDATE_COLUMNS, objectness_column) if c in candidates]
        self._candidates = candidates.loc[:, list(dict.fromkeys(columns))]
        self._truth = truth
        self._metric = MetricConfig() if metric is None else metric
        self._shorelines = shorelines
        self._objectness_column = objectness_column
        self._maxsize = int(maxsize)
        self._store: OrderedDict[float, PreparedMatch] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_config(
        cls,
        candidates: pd.DataFrame,
        truth: pd.DataFrame,
        config: TuningConfig,
        shorelines: Mapping[str, Any] | None = None,
    ) -> PreparedCache:
        """A cache with the metric options, objectness column and size of ``config``."""
        return cls(
            candidates,
            truth,
            config.metric,
            shorelines=shorelines,
            objectness_column=config.objectness_column,
            maxsize=config.cache_size,
        )

    def __len__(self) -> int:
        return len(self._store)

    def get(self, objectness_threshold: float) -> PreparedMatch:
        """The matching of the candidates with ``objectness >= objectness_threshold``."""
        key = clean_threshold(objectness_threshold)
        prepared = self._store.get(key)
        if prepared is not None:
            self.hits += 1
            self._store.move_to_end(key)
            return prepared
        self.misses += 1
        prepared = prepare(
            self._candidates,
            self._truth,
            self._metric,
            shorelines=self._shorelines,
            objectness_threshold=key,
            objectness_column=self._objectness_column,
        )
        self._store[key] = prepared
        if len(self._store) > self._maxsize:
            self._store.popitem(last=False)
        return prepared


class _RepeatFilter(logging.Filter):
    """Drops log records whose message was already emitted (one per distinct text)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@contextmanager
def quiet_repeats() -> Iterator[None]:
    """Log each metric warning once while the same data is scored many times."""
    repeat = _RepeatFilter()
    metric_input_logger.addFilter(repeat)
    try:
        yield
    finally:
        metric_input_logger.removeFilter(repeat)
