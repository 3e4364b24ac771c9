"""Shoreline contours and the near-shore test of the official xView3 scorer.

Shoreline files are read by :mod:`xview3_pipeline.core.io.ancillary` (re-exported here for
the metric's callers).

The official scorer calls a prediction *near shore* when some contour point lies within
``shore_tolerance_km + distance_tolerance_m / 1000`` km (2.2 km = 220 px on the leaderboard)
of it. It reads a ``KDTree.sparse_distance_matrix``: pairs at most that far are kept
(inclusive), and every zero entry is read as "not within range", so a contour point at
distance exactly 0 does **not** count. :func:`near_shore_mask` reproduces this with two
ball counts on the same KD-tree (``d <= r`` minus ``d <= 0``), without materialising the
distance matrix.
"""

from __future__ import annotations

import numpy as np

from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.io.ancillary import (
    Shoreline,
    contour_points,
    find_shoreline_file,
    load_shoreline,
    load_shorelines,
)

__all__ = [
    "Shoreline",
    "contour_points",
    "find_shoreline_file",
    "load_shoreline",
    "load_shorelines",
    "near_shore_mask",
    "shore_radius_px",
]


def shore_radius_px(
    shore_tolerance_km: float, distance_tolerance_m: float, pix_to_m: float = PIX_TO_M
) -> float:
    """Radius of the near-shore test for predictions, computed as the official code does.

    Args:
        shore_tolerance_km: Near-shore tolerance of the ground truth, km (2 on the leaderboard).
        distance_tolerance_m: Detection distance tolerance, metres (200 on the leaderboard).
        pix_to_m: Metres per pixel.

    Returns:
        ``(shore_tolerance_km + distance_tolerance_m / 1000) * 1000 / pix_to_m``, pixels
        (220.0 on the leaderboard).
    """
    return (shore_tolerance_km + distance_tolerance_m / 1000) * 1000 / pix_to_m


def near_shore_mask(
    points_rc: np.ndarray, shoreline: Shoreline | np.ndarray, radius_px: float
) -> np.ndarray:
    """Near-shore test of the official scorer for prediction points.

    A point is near shore when some contour point lies at a distance ``d`` with
    ``0 < d <= radius_px`` (squared distances compared with ``radius_px ** 2``, as scipy's
    KD-tree does). A contour point at distance exactly 0 does not count (official quirk).

    Args:
        points_rc: ``(n, 2)`` (row, col) pixel positions of the predictions.
        shoreline: The scene's shoreline (:class:`Shoreline` or contours).
        radius_px: Test radius, pixels (see :func:`shore_radius_px`; 220 on the leaderboard).

    Returns:
        ``(n,)`` bool mask, all False when the scene has no shore.
    """
    points_rc = np.asarray(points_rc, dtype=np.float64).reshape(-1, 2)
    if not isinstance(shoreline, Shoreline):
        shoreline = Shoreline(shoreline)
    tree = shoreline.tree
    if tree is None or len(points_rc) == 0:
        return np.zeros(len(points_rc), dtype=bool)
    within = tree.query_ball_point(points_rc, radius_px, p=2, return_length=True)
    at_zero = tree.query_ball_point(points_rc, 0.0, p=2, return_length=True)
    return (np.asarray(within) - np.asarray(at_zero)) > 0
