"""The CFAR detector on one scene."""

from __future__ import annotations

import dataclasses

import pandas as pd

from xview3_pipeline.core.cfar import CfarConfig, detect_scene
from xview3_pipeline.core.detection.ancillary import load_shoreline_file
from xview3_pipeline.core.detection.contract import settings_fingerprint
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.inference.postprocess import add_scene_columns

__all__ = ["CfarDetector"]


class CfarDetector:
    """The classical CFAR baseline, reporting the candidate columns of the CNN.

    Args:
        config: Detector settings.
    """

    name = "cfar"

    def __init__(self, config: CfarConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"CfarDetector(config={self.config!r})"

    def fingerprint(self) -> str:
        """SHA-256 of the settings (CFAR has no weights)."""
        return settings_fingerprint({"cfar": dataclasses.asdict(self.config)})

    def detect(self, scene: Scene) -> pd.DataFrame:
        """Candidates of one scene with latitude, longitude and shore distance."""
        shoreline = load_shoreline_file(scene.shoreline_path, scene.scene_id)
        owi = scene.owi_mask_path
        frame = detect_scene(
            scene.vh_path,
            scene.vv_path,
            self.config,
            scene_id=scene.scene_id,
            shoreline=shoreline,
            owi_mask_path=owi,
        )
        return add_scene_columns(
            frame,
            transform=scene.transform,
            crs=scene.crs,
            shoreline=shoreline,
            owi_mask_path=owi,
        )
