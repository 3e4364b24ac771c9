"""The CircleNet coder (the seed's ``MultilabelCircleNetCoder``) with one fixed config.

:func:`~xview3_pipeline.core.encoding.targets.encode_targets` (numpy, one image) and
:func:`~xview3_pipeline.core.encoding.decoding.decode` (torch, batched) are the functional
core; :class:`CircleNetCoder` holds a config so callers do not pass the stride around.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.encoding.config import CoderConfig
from xview3_pipeline.core.encoding.decoding import decode, detections_to_frame
from xview3_pipeline.core.encoding.targets import encode_targets
from xview3_pipeline.core.types import CircleNetOutputs, Detections, EncodedTargets, ObjectLabels

__all__ = ["CircleNetCoder"]


class CircleNetCoder:
    """The CircleNet coder: :func:`encode_targets` and :func:`decode` with a fixed config.

    Example:
        >>> coder = CircleNetCoder(CoderConfig(stride=2))
        >>> targets = coder.encode(ObjectLabels.empty(), (64, 64))
        >>> targets.objectness.shape
        (1, 32, 32)
    """

    def __init__(self, config: CoderConfig | None = None) -> None:
        self.config = config or CoderConfig()

    def __repr__(self) -> str:
        return f"CircleNetCoder({self.config!r})"

    @property
    def stride(self) -> int:
        """Output stride."""
        return self.config.stride

    def encode(self, objects: ObjectLabels, image_shape: tuple[int, int]) -> EncodedTargets:
        """Targets of one ``(H, W)`` image; see :func:`encode_targets`."""
        return encode_targets(objects, image_shape, self.config)

    def decode(
        self,
        outputs: CircleNetOutputs | torch.Tensor,
        vessel_prob: torch.Tensor | None = None,
        fishing_prob: torch.Tensor | None = None,
        length: torch.Tensor | None = None,
        offset: torch.Tensor | None = None,
        *,
        max_objects: int | None = None,
        min_objectness: float | None = None,
    ) -> Detections:
        """Decode model outputs or probability maps; see :func:`decode`.

        Args:
            outputs: Either raw :class:`CircleNetOutputs` (objectness, vessel and fishing
                are logits: a sigmoid is applied here), or the ``(B, 1, h, w)``
                objectness probability map, followed by the other four maps.
            vessel_prob: ``(B, 1, h, w)`` probabilities (with a probability map only).
            fishing_prob: ``(B, 1, h, w)`` probabilities (with a probability map only).
            length: ``(B, 1, h, w)`` ``log(1 + length_px)`` (with a probability map only).
            offset: ``(B, 2, h, w)`` offsets (with a probability map only).
            max_objects: Top-K per image; the config's when ``None``.
            min_objectness: Objectness threshold; the config's when ``None``.

        Returns:
            Top-K :class:`Detections` per image, with the config's length clipping.
        """
        if isinstance(outputs, CircleNetOutputs):
            maps = (
                outputs.objectness.float().sigmoid(),
                outputs.vessel.float().sigmoid(),
                outputs.fishing.float().sigmoid(),
                outputs.length,
                outputs.offset,
            )
        else:
            rest = (vessel_prob, fishing_prob, length, offset)
            if any(t is None for t in rest):
                raise ValueError(
                    "CircleNetCoder.decode: pass a CircleNetOutputs, or all five maps "
                    "(objectness, vessel, fishing probabilities, length, offset)."
                )
            maps = (outputs, *rest)  # type: ignore[assignment]
        cfg = self.config
        return decode(
            *maps,
            stride=cfg.stride,
            max_objects=cfg.max_objects if max_objects is None else max_objects,
            min_objectness=cfg.min_objectness if min_objectness is None else min_objectness,
            length_clip_m=cfg.length_clip_m,
            nms_kernel=cfg.nms_kernel,
        )

    def detections_to_frame(
        self,
        detections: Detections,
        scene_ids: str | Sequence[str],
        *,
        min_objectness: float | None = None,
        offsets: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """:func:`detections_to_frame`, by default with the config's ``min_objectness``."""
        threshold = self.config.min_objectness if min_objectness is None else min_objectness
        return detections_to_frame(detections, scene_ids, min_objectness=threshold, offsets=offsets)
