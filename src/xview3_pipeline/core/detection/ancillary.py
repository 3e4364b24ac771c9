"""Ancillary data of a scene: its shoreline contours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xview3_pipeline.core.metric.shoreline import Shoreline

__all__ = ["load_shoreline_file"]


def load_shoreline_file(path: str | Path | None, scene_id: str = "") -> Shoreline | None:
    """The shoreline stored in one ``<scene_id>_shoreline.npy`` file.

    Args:
        path: The file, or ``None``.
        scene_id: Scene id, for messages.

    Returns:
        The :class:`~xview3_pipeline.core.metric.shoreline.Shoreline` (possibly without
        points), or ``None`` when ``path`` is ``None`` or no such file exists.

    Raises:
        ValueError: If the file does not hold (row, col) contours.
    """
    if path is None or not Path(path).is_file():
        return None
    # Object arrays need pickle; only the scene's own shoreline file is loaded.
    contours = np.load(path, allow_pickle=True)
    try:
        return Shoreline(contours, scene_id=scene_id)
    except ValueError as exc:
        raise ValueError(f"Shoreline file {path}: {exc}") from exc
