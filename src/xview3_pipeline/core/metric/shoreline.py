"""Shoreline contours and the near-shore test of the official xView3 scorer.

A shoreline file ``<shore_root>/<scene_id>_shoreline.npy`` holds the coastline of one scene
as (row, column) pixel points: either a 1-D object array of ``(k, 2)`` contours (the
official format, also written by the synthetic generator) or a plain ``(N, 2)`` float array
(the metric fixtures). An empty array means the scene has no shore. Files are also looked up
in the ``<shore_root>/<split>/`` subfolders (``train``, ``validation``, ``public``), as the
winner's code did; the project layout is ``<raw_root>/shoreline/<split>/``.

The official scorer calls a prediction *near shore* when some contour point lies within
``shore_tolerance_km + distance_tolerance_m / 1000`` km (2.2 km = 220 px on the leaderboard)
of it. It reads a ``KDTree.sparse_distance_matrix``: pairs at most that far are kept
(inclusive), and every zero entry is read as "not within range", so a contour point at
distance exactly 0 does **not** count. :func:`near_shore_mask` reproduces this with two
ball counts on the same KD-tree (``d <= r`` minus ``d <= 0``), without materialising the
distance matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from xview3_pipeline.core.constants import PIX_TO_M, SHORELINE_SUFFIX, SPLITS
from xview3_pipeline.core.io.layout import validate_scene_id

logger = logging.getLogger(__name__)

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


def contour_points(contours: object) -> np.ndarray:
    """Stack shoreline contours into one ``(N, 2)`` float64 array of (row, col) points.

    Args:
        contours: An object array (or list) of ``(k, 2)`` contours, or a plain ``(N, 2)``
            array, as stored in a shoreline file. An empty container means no shore.

    Returns:
        ``(N, 2)`` float64 points (``N`` may be 0), like ``np.vstack`` in the official code.

    Raises:
        ValueError: If the contours cannot be read as (row, col) points.
    """
    try:
        empty = contours is None or len(contours) == 0  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(f"Shoreline contours must be a sequence of contours: {exc}") from exc
    if empty:
        return np.zeros((0, 2), dtype=np.float64)
    try:
        points = np.vstack(contours).astype(np.float64)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Shoreline contours are not (k, 2) point arrays: {exc}") from exc
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f"Shoreline contours stack to shape {points.shape}; expected (N, 2) (row, col) points."
        )
    return points


class Shoreline:
    """Contour points of one scene with a lazily built KD-tree (reused across calls).

    Args:
        contours: Contours in any form accepted by :func:`contour_points`.
        scene_id: Scene id, for messages only.

    Attributes:
        points: ``(N, 2)`` float64 (row, col) contour points, read-only; non-finite points
            are removed (with a warning).
        scene_id: Scene id or ``""``.
    """

    __slots__ = ("_tree", "points", "scene_id")

    def __init__(self, contours: object, scene_id: str = "") -> None:
        points = contour_points(contours)
        finite = np.isfinite(points).all(axis=1)
        if not finite.all():
            logger.warning(
                "Shoreline of scene %r has %d non-finite contour points; they are ignored.",
                scene_id,
                int((~finite).sum()),
            )
            points = points[finite]
        points = np.ascontiguousarray(points)
        points.setflags(write=False)
        self.points: np.ndarray = points
        self.scene_id = scene_id
        self._tree: cKDTree | None = None

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        return f"Shoreline(scene_id={self.scene_id!r}, n_points={len(self.points)})"

    @property
    def tree(self) -> cKDTree | None:
        """KD-tree of the contour points (``None`` when there is no shore)."""
        if self._tree is None and len(self.points):
            self._tree = cKDTree(self.points)
        return self._tree

    def near_mask(self, points_rc: np.ndarray, radius_px: float) -> np.ndarray:
        """Which points are near this shoreline; see :func:`near_shore_mask`."""
        return near_shore_mask(points_rc, self, radius_px)


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


def find_shoreline_file(shore_root: str | Path, scene_id: str) -> Path | None:
    """Locate ``<scene_id>_shoreline.npy`` in ``shore_root`` or its split subfolders.

    Looks in ``shore_root`` itself, then in ``shore_root/<split>/`` for each split of
    :data:`~xview3_pipeline.core.constants.SPLITS` (``train``, ``validation``, ``public``).

    Args:
        shore_root: Folder of shoreline files.
        scene_id: Scene id; validated before it is joined to a path.

    Returns:
        The first existing file, or ``None``.

    Raises:
        InvalidSceneIdError: If ``scene_id`` is not a plain identifier.
    """
    name = f"{validate_scene_id(scene_id, where='shoreline lookup')}{SHORELINE_SUFFIX}"
    root = Path(shore_root)
    for folder in (root, *(root / split for split in SPLITS)):
        path = folder / name
        if path.is_file():
            return path
    return None


def load_shoreline(shore_root: str | Path, scene_id: str) -> Shoreline | None:
    """Load the shoreline of one scene.

    Args:
        shore_root: Folder of shoreline files (see :func:`find_shoreline_file`).
        scene_id: Scene id.

    Returns:
        The scene's :class:`Shoreline` (possibly without points), or ``None`` if no file
        exists.

    Raises:
        InvalidSceneIdError: If ``scene_id`` is not a plain identifier.
        ValueError: If the file does not hold (row, col) contours.
    """
    path = find_shoreline_file(shore_root, scene_id)
    if path is None:
        return None
    # Object arrays need pickle; only files inside shore_root named after a validated id
    # are ever loaded.
    contours = np.load(path, allow_pickle=True)
    try:
        return Shoreline(contours, scene_id=scene_id)
    except ValueError as exc:
        raise ValueError(f"Shoreline file {path}: {exc}") from exc


def load_shorelines(shore_root: str | Path, scene_ids: Iterable[str]) -> dict[str, Shoreline]:
    """Load the shorelines of several scenes (for repeated scoring).

    Pass the result as ``shorelines=`` to the scorer to avoid reloading files and
    rebuilding KD-trees on every call.

    Args:
        shore_root: Folder of shoreline files.
        scene_ids: Scene ids.

    Returns:
        Scene id -> :class:`Shoreline`; scenes without a file are left out.
    """
    out: dict[str, Shoreline] = {}
    for scene_id in dict.fromkeys(scene_ids):
        shoreline = load_shoreline(shore_root, scene_id)
        if shoreline is not None:
            out[scene_id] = shoreline
    return out
