"""The detector contract: a scene in, a candidate table out.

Every detector (the CircleNet ensemble or one fold model, :class:`~xview3_pipeline.core.
detection.cnn.CnnDetector`; the CFAR baseline, :class:`~xview3_pipeline.core.detection.
cfar.CfarDetector`) implements :class:`Detector`: ``detect(scene)`` returns one row per
candidate with :data:`CANDIDATE_COLUMNS`, and ``fingerprint()`` identifies the weights and
every setting that changes the output (a resume cache keys on it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from torch import nn

from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.encoding.candidates import DETECTION_COLUMNS

__all__ = [
    "CANDIDATE_COLUMNS",
    "CANDIDATE_DTYPES",
    "Detector",
    "detect_candidates",
    "empty_candidates",
    "module_fingerprint",
    "settings_fingerprint",
]

#: Columns of a per-scene candidate table, in order.
CANDIDATE_COLUMNS: tuple[str, ...] = (
    *DETECTION_COLUMNS[:5],
    "detect_lat",
    "detect_lon",
    *DETECTION_COLUMNS[5:],
    "distance_from_shore_km",
)
#: dtype of each candidate column.
CANDIDATE_DTYPES: Mapping[str, Any] = {
    name: (
        object
        if name == "scene_id"
        else np.int64
        if name in ("detect_scene_row", "detect_scene_column")
        else np.float64
    )
    for name in CANDIDATE_COLUMNS
}


@runtime_checkable
class Detector(Protocol):
    """What every detector provides.

    Attributes:
        name: ``"cnn"`` or ``"cfar"``.
    """

    name: str

    def fingerprint(self) -> str:
        """Hex digest of the weights and of every setting that changes the output."""
        ...

    def detect(self, scene: Scene) -> pd.DataFrame:
        """One row per candidate of ``scene``, columns :data:`CANDIDATE_COLUMNS`."""
        ...


def empty_candidates() -> pd.DataFrame:
    """A candidate table with no row: :data:`CANDIDATE_COLUMNS` with their dtypes."""
    return pd.DataFrame(
        {name: pd.Series([], dtype=dtype) for name, dtype in CANDIDATE_DTYPES.items()}
    )


def detect_candidates(detector: Detector, scene: Scene, *, check: bool = False) -> pd.DataFrame:
    """One scene's candidates; a table without rows still has :data:`CANDIDATE_COLUMNS`.

    A module-level function, so that a job ``partial(detect_candidates, scene=s)`` pickles
    to a worker process by name.

    Args:
        detector: The detector.
        scene: The scene.
        check: First check that its SAR rasters exist and read its size
            (:meth:`Scene.checked`), inside the job, so a broken folder fails only its
            own scene.

    Returns:
        The candidate table.
    """
    if check:
        scene = scene.checked()
    frame = detector.detect(scene)
    return frame if len(frame) or set(CANDIDATE_COLUMNS) <= set(frame) else empty_candidates()


def module_fingerprint(module: nn.Module, extra: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a module's tensors (names, shapes, bytes) and of settings.

    Args:
        module: Any module (also an exported one).
        extra: Settings that change the output (e.g. the inference configuration).

    Returns:
        A hex digest.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    digest.update(json.dumps(dict(extra or {}), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def settings_fingerprint(settings: Mapping[str, Any]) -> str:
    """SHA-256 of JSON settings (for detectors without weights, such as CFAR)."""
    return hashlib.sha256(
        json.dumps(dict(settings), sort_keys=True, default=str).encode()
    ).hexdigest()
