"""CircleNet target encoding and prediction decoding (the seed's ``MultilabelCircleNetCoder``).

One strategy per target, no string dispatch: a fixed-radius Gaussian objectness heatmap
("umich"), filled discs for vessel / fishing / length ("circle"), and a sub-pixel offset at
the peak. :func:`encode_targets` (numpy, one image) and :func:`decode` (torch, batched) are
the functional core; :class:`CircleNetCoder` holds a :class:`CoderConfig` so callers do not
pass the stride around.

Conventions (differences from the seed are marked):

* Maps have shape ``(ceil(H / s), ceil(W / s))``: a partial last row/column of cells is
  kept, and objects whose centre falls in it are encoded like any other. The seed used
  ``H // s`` (its crops are always multiples of the stride, where both agree; an object in
  a dropped partial cell would have crashed its offset write).
* Objects whose centre lies outside ``[0, W) × [0, H)`` (or is not finite) are skipped;
  objects inside paint whatever part of their kernel falls inside the map.
* Drawing order: LOW → MEDIUM → HIGH, by descending length within each group, unknown (NaN)
  length last within its group (the seed filled NaN with 0 before sorting, the same
  order). Ties keep the input order (stable sort; the seed's ``argsort`` was not stable).
  Every map is merged with ``max`` except the offset, which is last-writer-wins, so the
  order only decides the offset of objects sharing an output cell.
* LOW ignore discs (value 255) and Gaussians (≤ 1) are both merged by ``max``, so 255 wins
  wherever a disc is painted, whatever the order, as in the seed. A HIGH/MEDIUM object
  whose peak lies within ``heatmap_radius`` cells of a LOW one therefore loses its peak.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import NEAR_SHORE_KM, PIX_TO_M
from xview3_pipeline.core.encoding.functional import (
    draw_discs,
    draw_gaussians,
    gather_features,
    heatmap_nms,
    length_from_log,
    length_to_log,
    topk_peaks,
    write_at_cells,
)
from xview3_pipeline.core.types import (
    CONFIDENCE_CODES,
    IGNORE_INDEX,
    CircleNetOutputs,
    Detections,
    EncodedTargets,
    ObjectLabels,
)

logger = logging.getLogger(__name__)

__all__ = [
    "DETECTION_COLUMNS",
    "CircleNetCoder",
    "CoderConfig",
    "decode",
    "detections_to_frame",
    "encode_targets",
    "labels_to_objects",
    "output_shape",
]

#: Columns of :func:`detections_to_frame`, in order.
DETECTION_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "detect_scene_row",
    "detect_scene_column",
    "x",
    "y",
    "objectness_p",
    "vessel_p",
    "fishing_p",
    "vessel_length_m",
)

_LOW = CONFIDENCE_CODES["LOW"]


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


def labels_to_objects(labels: pd.DataFrame) -> ObjectLabels:
    """Objects from a validated labels frame (:mod:`xview3_pipeline.core.io.labels`).

    Uses whatever rows it is given (one scene, a crop, or more); no confidence handling is
    applied here (see :attr:`CoderConfig.ignore_low_confidence_labels`).

    Args:
        labels: Rows with ``detect_scene_row``, ``detect_scene_column``, ``is_vessel``,
            ``is_fishing`` (nullable boolean), ``vessel_length_m`` (metres, NaN unknown),
            ``confidence`` (LOW/MEDIUM/HIGH) and ``is_near_shore`` (or
            ``distance_from_shore_km``, ``<= 2`` km; NaN is not near shore).

    Returns:
        Centres ``(x, y) = (column, row)`` float32; vessel / fishing 1, 0 or NaN; length in
        pixels (metres / 10) or NaN; confidence codes; near-shore flags.

    Raises:
        ValueError: On a missing column or a confidence outside LOW/MEDIUM/HIGH.
    """
    needed = [
        "detect_scene_row",
        "detect_scene_column",
        "is_vessel",
        "is_fishing",
        "vessel_length_m",
        "confidence",
    ]
    missing = [c for c in needed if c not in labels.columns]
    if missing:
        raise ValueError(f"labels_to_objects: labels lack columns {missing}; expected {needed}.")

    def flag(column: str) -> np.ndarray:
        values = pd.array(labels[column], dtype="boolean")
        return values.to_numpy(dtype="float32", na_value=np.nan)

    confidence = labels["confidence"].astype(object).map(CONFIDENCE_CODES)
    if confidence.isna().any():
        bad = labels["confidence"][confidence.isna()].unique().tolist()
        raise ValueError(
            f"labels_to_objects: confidence values {bad} are not in {list(CONFIDENCE_CODES)}."
        )
    if "is_near_shore" in labels.columns:
        near_shore = labels["is_near_shore"].fillna(False).to_numpy(dtype=bool)
    elif "distance_from_shore_km" in labels.columns:
        near_shore = (labels["distance_from_shore_km"] <= NEAR_SHORE_KM).to_numpy(dtype=bool)
    else:
        raise ValueError("labels_to_objects: labels need is_near_shore or distance_from_shore_km.")
    centers = np.stack(
        [
            labels["detect_scene_column"].to_numpy(dtype="float32"),
            labels["detect_scene_row"].to_numpy(dtype="float32"),
        ],
        axis=1,
    ).reshape(-1, 2)
    length_m = pd.to_numeric(labels["vessel_length_m"]).to_numpy(dtype="float32", na_value=np.nan)
    return ObjectLabels(
        centers=centers,
        is_vessel=flag("is_vessel"),
        is_fishing=flag("is_fishing"),
        length_px=(length_m / np.float32(PIX_TO_M)).astype(np.float32),
        confidence=confidence.to_numpy(dtype=np.int8),
        near_shore=near_shore,
    )


def _drawing_order(confidence: np.ndarray, length_px: np.ndarray) -> np.ndarray:
    """Indices in drawing order: LOW → MEDIUM → HIGH, descending length, NaN length last.

    Stable: equal keys keep their input order.
    """
    length_key = np.where(np.isnan(length_px), np.inf, -np.asarray(length_px, dtype=np.float64))
    return np.lexsort((length_key, np.asarray(confidence)))


@dataclass(frozen=True)
class ObjectTargets:
    """Per-object targets at the output stride, in drawing order.

    Attributes:
        index: ``(n,)`` positions of the objects in the input :class:`ObjectLabels`.
        cells: ``(n, 2)`` int64 ``(x, y)`` peak cells, ``floor(center / s)``.
        offsets: ``(n, 2)`` float32 sub-cell offsets ``center / s - cell`` in [0, 1).
        is_low: ``(n,)`` LOW confidence (an ignore disc when ignoring LOW detections).
        vessel: ``(n,)`` float32 0, 1 or 255 (unknown).
        fishing: ``(n,)`` float32 0, 1 or 255 (unknown).
        length: ``(n,)`` float32 ``log(1 + length_px)``, 0 when unknown.
    """

    index: np.ndarray
    cells: np.ndarray
    offsets: np.ndarray
    is_low: np.ndarray
    vessel: np.ndarray
    fishing: np.ndarray
    length: np.ndarray


def object_targets(
    objects: ObjectLabels, image_shape: tuple[int, int], config: CoderConfig
) -> ObjectTargets:
    """The targets of each object inside an image, in the seed's drawing order.

    Objects whose centre is outside ``[0, W) x [0, H)`` or not finite are skipped. LOW
    objects lose their labels when ``ignore_low_confidence_labels``. The order is LOW,
    MEDIUM, HIGH, longest first within each group (unknown length last): every map is
    merged by maximum except the offset, where the last object written wins.

    Args:
        objects: Objects with centres ``(x, y)`` in pixels of this image.
        image_shape: ``(H, W)`` of the image in input pixels.
        config: Stride and confidence handling.

    Returns:
        The per-object targets, drawing order.
    """
    s = config.stride
    height, width = image_shape
    centers = np.asarray(objects.centers, dtype=np.float32).reshape(-1, 2)
    inside = (
        np.isfinite(centers).all(axis=1)
        & (centers[:, 0] >= 0)
        & (centers[:, 0] < width)
        & (centers[:, 1] >= 0)
        & (centers[:, 1] < height)
    )
    if not inside.all():
        logger.debug("encode_targets: skipped %d objects outside the image.", (~inside).sum())
    confidence = np.asarray(objects.confidence)[inside]
    is_low = confidence == _LOW
    is_vessel = np.asarray(objects.is_vessel, dtype=np.float32)[inside]
    is_fishing = np.asarray(objects.is_fishing, dtype=np.float32)[inside]
    length_px = np.asarray(objects.length_px, dtype=np.float32)[inside]
    if config.ignore_low_confidence_labels:
        is_vessel = np.where(is_low, np.nan, is_vessel)
        is_fishing = np.where(is_low, np.nan, is_fishing)
        length_px = np.where(is_low, np.nan, length_px)
    order = _drawing_order(confidence, length_px)
    scaled = centers[inside][order] / np.float32(s)
    cells = np.floor(scaled).astype(np.int64)
    return ObjectTargets(
        index=np.flatnonzero(inside)[order],
        cells=cells,
        offsets=(scaled - cells.astype(np.float32)).astype(np.float32),
        is_low=is_low[order],
        vessel=np.nan_to_num(is_vessel[order], nan=float(IGNORE_INDEX)).astype(np.float32),
        fishing=np.nan_to_num(is_fishing[order], nan=float(IGNORE_INDEX)).astype(np.float32),
        length=np.asarray(length_to_log(length_px[order]), dtype=np.float32),
    )


def encode_targets(
    objects: ObjectLabels, image_shape: tuple[int, int], config: CoderConfig
) -> EncodedTargets:
    """Dense CircleNet training targets of one image.

    Args:
        objects: Objects with centres ``(x, y)`` in pixels of this image.
        image_shape: ``(H, W)`` of the image in input pixels.
        config: Stride, radii and confidence handling.

    Returns:
        float32 maps of shape ``(C, ceil(H / s), ceil(W / s))``:

        * objectness ``(1, h, w)``: Gaussians of radius ``heatmap_radius``, peak 1.0 at
          ``floor(center / s)``; 255 on the discs of LOW objects when
          ``ignore_low_confidence_detections``;
        * vessel, fishing ``(1, h, w)``: discs of radius ``labels_radius`` with 0, 1 or 255
          (unknown), 0 elsewhere;
        * length ``(1, h, w)``: discs of ``log(1 + length_px)`` (input pixels, not divided
          by the stride), 0 where unknown or elsewhere;
        * offset ``(2, h, w)``: ``center / s - floor(center / s)`` at the peak cell only.
    """
    s = config.stride
    h, w = output_shape(image_shape, s)
    objectness = np.zeros((1, h, w), np.float32)
    vessel = np.zeros((1, h, w), np.float32)
    fishing = np.zeros((1, h, w), np.float32)
    length = np.zeros((1, h, w), np.float32)
    offset = np.zeros((2, h, w), np.float32)
    targets = EncodedTargets(objectness, vessel, fishing, length, offset)
    if len(objects) == 0:
        return targets

    t = object_targets(objects, image_shape, config)
    cells, is_low = t.cells, t.is_low
    if config.ignore_low_confidence_detections:
        draw_gaussians(objectness[0], cells[~is_low], config.heatmap_radius)
        draw_discs(objectness[0], cells[is_low], config.heatmap_radius, float(IGNORE_INDEX))
    else:
        draw_gaussians(objectness[0], cells, config.heatmap_radius)
    r = config.labels_radius
    draw_discs(vessel[0], cells, r, t.vessel)
    draw_discs(fishing[0], cells, r, t.fishing)
    draw_discs(length[0], cells, r, t.length)
    write_at_cells(offset, cells, t.offsets)
    return targets


@torch.no_grad()
def decode(
    objectness_prob: torch.Tensor,
    vessel_prob: torch.Tensor,
    fishing_prob: torch.Tensor,
    length: torch.Tensor,
    offset: torch.Tensor,
    *,
    stride: int,
    max_objects: int = 2048,
    min_objectness: float = 0.0,
    length_clip_m: tuple[float, float] | None = None,
    nms_kernel: int = 3,
) -> Detections:
    """Decode CircleNet maps into top-K candidates per image (CPU or CUDA, batched).

    Non-finite values of every map become 0; the objectness map goes through
    :func:`heatmap_nms`; the top ``min(max_objects, h * w)`` pixels are taken per image.
    With ``min_objectness > 0`` the candidates are cut to the largest per-image count of
    scores ``>= min_objectness`` in the batch (exact for ``B = 1``); other images of the
    batch may keep lower-scored rows, which :func:`detections_to_frame` drops.

    Args:
        objectness_prob: ``(B, 1, h, w)`` objectness probabilities.
        vessel_prob: ``(B, 1, h, w)`` vessel probabilities.
        fishing_prob: ``(B, 1, h, w)`` fishing probabilities.
        length: ``(B, 1, h, w)`` ``log(1 + length_px)``.
        offset: ``(B, 2, h, w)`` sub-pixel ``(dx, dy)`` in output pixels.
        stride: Output stride ``s``.
        max_objects: Top-K per image.
        min_objectness: Threshold on objectness (``>=`` keeps).
        length_clip_m: Optional ``(min, max)`` metres for the lengths.
        nms_kernel: NMS window.

    Returns:
        :class:`Detections` of ``(B, K)`` float32 tensors on the input device: centres
        ``((x_idx + dx) * s, (y_idx + dy) * s)`` in input pixels, objectness, vessel and
        fishing probabilities at the peak, length ``(exp(relu(size)) - 1) * 10`` metres.
    """

    def clean(x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return torch.where(torch.isfinite(x), x, torch.zeros((), dtype=x.dtype, device=x.device))

    objectness = heatmap_nms(clean(objectness_prob), nms_kernel)
    scores, index, ys, xs = topk_peaks(objectness, max_objects)
    if min_objectness > 0 and scores.numel() > 0:
        keep = int((scores >= min_objectness).sum(dim=1).max())
        scores, index, ys, xs = scores[:, :keep], index[:, :keep], ys[:, :keep], xs[:, :keep]
    maps = torch.cat([clean(vessel_prob), clean(fishing_prob), clean(length), clean(offset)], dim=1)
    features = gather_features(maps, index)  # (B, K, 5)
    centers = torch.stack([xs + features[..., 3], ys + features[..., 4]], dim=-1) * stride
    length_m = length_from_log(features[..., 2])
    if length_clip_m is not None:
        length_m = length_m.clamp(float(length_clip_m[0]), float(length_clip_m[1]))
    return Detections(
        centers=centers,
        objectness=scores,
        vessel=features[..., 0],
        fishing=features[..., 1],
        length_m=length_m,
    )


def detections_to_frame(
    detections: Detections,
    scene_ids: str | Sequence[str],
    *,
    min_objectness: float = 0.0,
    offsets: np.ndarray | None = None,
) -> pd.DataFrame:
    """Flatten batched detections into a candidate table.

    Pixel columns are the float centres (plus ``offsets``) cast with ``astype(int)``, i.e.
    truncated toward zero, as the seed (the same as ``floor`` for non-negative centres).

    Args:
        detections: ``(B, K)`` detections.
        scene_ids: One scene id per image, or one id for all.
        min_objectness: Rows with ``objectness_p < min_objectness`` are dropped.
        offsets: ``(B, 2)`` ``(x0, y0)`` input pixels added to each image's centres (e.g.
            the scene position of a tile's top-left pixel), or ``None``.

    Returns:
        Columns :data:`DETECTION_COLUMNS`: ``scene_id``, ``detect_scene_row`` and
        ``detect_scene_column`` (int64), ``x`` / ``y`` (float centre, input pixels),
        ``objectness_p``, ``vessel_p``, ``fishing_p`` (probabilities) and
        ``vessel_length_m``; per image in descending objectness.
    """
    batch, k = detections.objectness.shape
    ids = [scene_ids] * batch if isinstance(scene_ids, str) else list(scene_ids)
    if len(ids) != batch:
        raise ValueError(f"detections_to_frame: {len(ids)} scene ids for a batch of {batch}.")

    def flat(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy().reshape(batch * k, *t.shape[2:])

    centers = flat(detections.centers).reshape(batch, k, 2).astype(np.float64)
    if offsets is not None:
        shift = np.asarray(offsets, dtype=np.float64)
        if shift.shape != (batch, 2):
            raise ValueError(
                f"detections_to_frame: offsets must have shape ({batch}, 2), got {shift.shape}."
            )
        centers = centers + shift[:, None, :]
    centers = centers.reshape(-1, 2)
    scores = flat(detections.objectness)
    keep = scores >= min_objectness
    frame = pd.DataFrame(
        {
            "scene_id": np.repeat(np.asarray(ids, dtype=object), k)[keep],
            "detect_scene_row": centers[keep, 1].astype(np.int64),
            "detect_scene_column": centers[keep, 0].astype(np.int64),
            "x": centers[keep, 0],
            "y": centers[keep, 1],
            "objectness_p": scores[keep].astype(np.float64),
            "vessel_p": flat(detections.vessel)[keep].astype(np.float64),
            "fishing_p": flat(detections.fishing)[keep].astype(np.float64),
            "vessel_length_m": flat(detections.length_m)[keep].astype(np.float64),
        },
        columns=list(DETECTION_COLUMNS),
    )
    return frame.reset_index(drop=True)


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
