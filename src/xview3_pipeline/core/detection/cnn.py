"""The CircleNet detector: tiled ensemble inference on one scene."""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from xview3_pipeline.core.detection.ancillary import load_shoreline_file
from xview3_pipeline.core.detection.contract import module_fingerprint
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.inference.predict import InferenceConfig, InferenceScene, predict_scene

__all__ = ["CnnDetector"]

#: Settings that never change the candidates (only how they are reported).
_OUTPUT_NEUTRAL = ("progress",)


class CnnDetector:
    """Tiled inference of a CircleNet model (the exported ensemble or one fold model).

    Args:
        model: The ensemble (:func:`~xview3_pipeline.core.inference.predict.
            build_ensemble`), its exported artefact or one fold's model wrapped as an
            ensemble of one.
        config: Tiling, TTA and decoding settings.
    """

    name = "cnn"

    def __init__(self, model: nn.Module, config: InferenceConfig) -> None:
        self.model = model
        self.config = config
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        return f"CnnDetector(model={type(self.model).__name__}, config={self.config!r})"

    def fingerprint(self) -> str:
        """SHA-256 of the weights and of the settings that change the candidates."""
        if self._fingerprint is None:
            settings = {k: v for k, v in self.config.to_dict().items() if k not in _OUTPUT_NEUTRAL}
            self._fingerprint = module_fingerprint(self.model, {"cnn": settings})
        return self._fingerprint

    def detect(self, scene: Scene) -> pd.DataFrame:
        """Candidates of one scene, by descending objectness (``CANDIDATE_COLUMNS``)."""
        ref = InferenceScene(
            scene_id=scene.scene_id,
            vh_path=scene.vh_path,
            vv_path=scene.vv_path,
            height=scene.height,
            width=scene.width,
            crs=scene.crs,
            transform=scene.transform,
            owi_mask_path=scene.owi_mask_path,
        )
        with torch.inference_mode():
            return predict_scene(
                self.model,
                ref,
                self.config,
                shoreline=load_shoreline_file(scene.shoreline_path, scene.scene_id),
                owi_mask_path=scene.owi_mask_path,
            )
