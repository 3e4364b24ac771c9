"""Optimal one-to-one matching of predicted and true object centres, as the xView3 scorer.

The official scorer (``DIUx-xView/xview3-reference``, ``reference/metric.py``) builds a
cost matrix of Euclidean pixel distances times 10 m, replaces every cost strictly above
the tolerance by ``9999999 * 10`` (``--costly_dist``, the leaderboard setting), solves a
rectangular linear assignment (``scipy.optimize.linear_sum_assignment``) and keeps the
assigned pairs whose cost is strictly below the tolerance. A pair at exactly the
tolerance is not a match but keeps its finite cost, so it can still take an assignment
slot. Without ``costly_dist`` the plain sum of distances is minimised, which can leave
obvious matches unmatched (official issue #9).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from xview3_pipeline.core.constants import PIX_TO_M

#: Distance tolerance of the leaderboard, metres.
DISTANCE_TOLERANCE_M = 200.0
#: Cost given to pairs beyond the tolerance with ``costly_dist`` (the official value).
COSTLY_DISTANCE = 9999999.0 * 10.0


def match_points(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    tolerance_m: float = DISTANCE_TOLERANCE_M,
    costly_dist: bool = True,
    pix_to_m: float = PIX_TO_M,
) -> tuple[np.ndarray, np.ndarray]:
    """Match predictions to ground truth like the official scorer.

    Args:
        pred: ``(n, 2)`` predicted (row, column) pixel positions.
        gt: ``(m, 2)`` true (row, column) pixel positions.
        tolerance_m: A pair is a match when its distance is strictly below this, metres.
        costly_dist: Replace costs above the tolerance by a huge constant before solving
            (the leaderboard setting); otherwise minimise the plain sum of distances.
        pix_to_m: Metres per pixel.

    Returns:
        ``(pred_index, gt_index)``: int64 arrays of the matched pairs (true positives),
        sorted by ``pred_index``. Unmatched predictions are false positives, unmatched truth
        false negatives.

    Raises:
        ValueError: If a coordinate is not finite (the official code fails there too).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 2)
    empty = np.zeros(0, dtype=np.int64)
    if len(pred) == 0 or len(gt) == 0:
        return empty, empty.copy()
    if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
        raise ValueError("match_points: coordinates must be finite (NaN or inf found).")
    # Predictions as rows, truth as columns, as the official code: this orientation
    # decides which pair wins an exact tie.
    cost = cdist(pred, gt) * pix_to_m
    if costly_dist:
        cost = np.where(cost > tolerance_m, COSTLY_DISTANCE, cost)
    pred_idx, gt_idx = linear_sum_assignment(cost)
    keep = cost[pred_idx, gt_idx] < tolerance_m
    return pred_idx[keep].astype(np.int64), gt_idx[keep].astype(np.int64)
