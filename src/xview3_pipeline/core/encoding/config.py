"""Settings of the CircleNet coder and the shape of its maps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xview3_pipeline.core.config import check_keys

__all__ = ["CoderConfig", "output_shape"]


@dataclass(frozen=True)
class CoderConfig:
    """Settings of the CircleNet coder (seed defaults: the b4/b5 models).

    Attributes:
        stride: Output stride ``s``: input pixels per output pixel.
        heatmap_radius: Objectness Gaussian (and LOW ignore disc) radius in output pixels;
            the kernel is ``2r + 1`` wide with ``σ = (2r + 1) / 6``.
        labels_radius: Radius of the vessel / fishing / length discs in output pixels
            (1 for b4/b5, 2 for v2s).
        ignore_low_confidence_detections: LOW objects paint a disc of 255 into the
            objectness map instead of a Gaussian.
        ignore_low_confidence_labels: LOW objects get unknown vessel, fishing and length.
        max_objects: Decoding keeps at most this many peaks per image (top-K).
        min_objectness: Decoding drops peaks with objectness below this (seed inference
            used 0.3; 0 keeps all top-K).
        length_clip_m: ``(min, max)`` metres to clip decoded lengths to; ``None`` (the
            seed) does not clip.
        nms_kernel: Max-pool NMS window in output pixels.
    """

    stride: int = 2
    heatmap_radius: int = 3
    labels_radius: int = 1
    ignore_low_confidence_detections: bool = True
    ignore_low_confidence_labels: bool = True
    max_objects: int = 2048
    min_objectness: float = 0.0
    length_clip_m: tuple[float, float] | None = None
    nms_kernel: int = 3

    def __post_init__(self) -> None:
        if self.length_clip_m is not None:
            clip = tuple(float(v) for v in self.length_clip_m)
            if len(clip) != 2 or not clip[0] <= clip[1]:
                raise ValueError(
                    f"CoderConfig.length_clip_m must be (min, max) with min <= max, "
                    f"got {self.length_clip_m!r}."
                )
            object.__setattr__(self, "length_clip_m", clip)
        checks = {
            "stride": self.stride >= 1,
            "heatmap_radius": self.heatmap_radius >= 0,
            "labels_radius": self.labels_radius >= 0,
            "max_objects": self.max_objects >= 1,
            "nms_kernel": self.nms_kernel >= 1 and self.nms_kernel % 2 == 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"CoderConfig: invalid {bad} in {self!r}; stride and max_objects must be "
                ">= 1, radii >= 0, nms_kernel odd."
            )

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> CoderConfig:
        """Build from a parameter mapping (e.g. Kedro parameters), rejecting unknown keys.

        Raises:
            ValueError: On a key that is not a field.
        """
        return cls(**check_keys(cls, params))


def output_shape(image_shape: tuple[int, int], stride: int) -> tuple[int, int]:
    """Map shape ``(ceil(H / s), ceil(W / s))`` of an ``(H, W)`` image at stride ``s``."""
    height, width = image_shape
    return math.ceil(height / stride), math.ceil(width / stride)
