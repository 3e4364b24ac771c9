"""CircleNet target encoding (the winner's ``MultilabelCircleNetCoder``, encoding half).

One strategy per target, no string dispatch: a fixed-radius Gaussian objectness heatmap
("umich"), filled discs for vessel / fishing / length ("circle"), and a sub-pixel offset at
the peak.

Conventions (differences from the winner's code are marked):

* Maps have shape ``(ceil(H / s), ceil(W / s))``: a partial last row/column of cells is
  kept, and objects whose centre falls in it are encoded like any other. The winner used
  ``H // s`` (its crops are always multiples of the stride, where both agree; an object in
  a dropped partial cell would have crashed its offset write).
* Objects whose centre lies outside ``[0, W) × [0, H)`` (or is not finite) are skipped;
  objects inside paint whatever part of their kernel falls inside the map.
* Drawing order: LOW → MEDIUM → HIGH, by descending length within each group, unknown (NaN)
  length last within its group (the winner filled NaN with 0 before sorting, the same
  order). Ties keep the input order (stable sort; the winner's ``argsort`` was not stable).
  Every map is merged with ``max`` except the offset, which is last-writer-wins, so the
  order only decides the offset of objects sharing an output cell.
* LOW ignore discs (value 255) and Gaussians (≤ 1) are both merged by ``max``, so 255 wins
  wherever a disc is painted, whatever the order, as in the winner's code. A HIGH/MEDIUM object
  whose peak lies within ``heatmap_radius`` cells of a LOW one therefore loses its peak.
* Objects flagged ``ignore`` (the labels table's optional bool ``ignore`` column, e.g. the
  unconfirmed rows of cleaned train labels) are drawn like LOW objects under both
  ``ignore_low_confidence_*`` flags, whatever the flags and their confidence say: a 255
  disc in objectness and unknown vessel, fishing and length. They are drawn first (before
  LOW), so they never decide the offset of a cell they share with a trusted object.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import NEAR_SHORE_KM, PIX_TO_M
from xview3_pipeline.core.encoding.config import CoderConfig, output_shape
from xview3_pipeline.core.encoding.functional import (
    draw_discs,
    draw_gaussians,
    length_to_log,
    write_at_cells,
)
from xview3_pipeline.core.types import (
    CONFIDENCE_CODES,
    IGNORE_INDEX,
    EncodedTargets,
    ObjectLabels,
)

logger = logging.getLogger(__name__)

__all__ = ["ObjectTargets", "encode_targets", "labels_to_objects", "object_targets"]

_LOW = CONFIDENCE_CODES["LOW"]


def labels_to_objects(labels: pd.DataFrame) -> ObjectLabels:
    """Objects from a validated labels frame (:mod:`xview3_pipeline.core.io.labels`).

    Uses whatever rows it is given (one scene, a crop, or more); no confidence handling is
    applied here (see :attr:`CoderConfig.ignore_low_confidence_labels`).

    Args:
        labels: Rows with ``detect_scene_row``, ``detect_scene_column``, ``is_vessel``,
            ``is_fishing`` (nullable boolean), ``vessel_length_m`` (metres, NaN unknown),
            ``confidence`` (LOW/MEDIUM/HIGH) and ``is_near_shore`` (or
            ``distance_from_shore_km``, ``<= 2`` km; NaN is not near shore); optionally
            a bool ``ignore`` (see :attr:`ObjectLabels.ignore`; an ignore row may have
            no confidence, it is then coded LOW).

    Returns:
        Centres ``(x, y) = (column, row)`` float32; vessel / fishing 1, 0 or NaN; length in
        pixels (metres / 10) or NaN; confidence codes; near-shore flags; ignore flags
        (all False without an ``ignore`` column).

    Raises:
        ValueError: On a missing column, a confidence outside LOW/MEDIUM/HIGH on a row
            that is not ignored, or an ``ignore`` column that is not boolean (or has NA).
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

    ignore = _ignore_flags(labels)
    confidence = labels["confidence"].astype(object).map(CONFIDENCE_CODES)
    confidence = confidence.where(~(ignore & confidence.isna().to_numpy()), _LOW)
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
        ignore=ignore,
    )


def _ignore_flags(labels: pd.DataFrame) -> np.ndarray:
    """The ``ignore`` column as ``(N,)`` bool (all False when the table has none).

    Raises:
        ValueError: If the column holds NA or values other than booleans.
    """
    if "ignore" not in labels.columns:
        return np.zeros(len(labels), bool)
    column = labels["ignore"]
    if not (pd.api.types.is_bool_dtype(column.dtype) and not column.isna().any()):
        valid = column.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        if not valid.all():
            raise ValueError(
                "labels_to_objects: the ignore column must hold True or False on every row; "
                f"rows {labels.index[~valid].tolist()[:5]} hold "
                f"{column[~valid].tolist()[:5]}."
            )
    return column.to_numpy(dtype=bool)


def _drawing_order(confidence: np.ndarray, length_px: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """Indices in drawing order: ignored, LOW, MEDIUM, HIGH; longest first, NaN length last.

    Stable: equal keys keep their input order.
    """
    length_key = np.where(np.isnan(length_px), np.inf, -np.asarray(length_px, dtype=np.float64))
    return np.lexsort((length_key, np.asarray(confidence), ~np.asarray(ignore, dtype=bool)))


@dataclass(frozen=True)
class ObjectTargets:
    """Per-object targets at the output stride, in drawing order.

    Attributes:
        index: ``(n,)`` positions of the objects in the input :class:`ObjectLabels`.
        cells: ``(n, 2)`` int64 ``(x, y)`` peak cells, ``floor(center / s)``.
        offsets: ``(n, 2)`` float32 sub-cell offsets ``center / s - cell`` in [0, 1).
        is_low: ``(n,)`` LOW confidence (an ignore disc when ignoring LOW detections).
        ignore: ``(n,)`` the object's ``ignore`` flag (always an ignore disc, no labels).
        vessel: ``(n,)`` float32 0, 1 or 255 (unknown).
        fishing: ``(n,)`` float32 0, 1 or 255 (unknown).
        length: ``(n,)`` float32 ``log(1 + length_px)``, 0 when unknown.
    """

    index: np.ndarray
    cells: np.ndarray
    offsets: np.ndarray
    is_low: np.ndarray
    ignore: np.ndarray
    vessel: np.ndarray
    fishing: np.ndarray
    length: np.ndarray

    def ignore_region(self, config: CoderConfig) -> np.ndarray:
        """``(n,)`` objects drawn as an objectness ignore disc under ``config``.

        The ``ignore`` objects, and the LOW ones when
        ``config.ignore_low_confidence_detections``.
        """
        return self.ignore | (self.is_low & config.ignore_low_confidence_detections)


def object_targets(
    objects: ObjectLabels, image_shape: tuple[int, int], config: CoderConfig
) -> ObjectTargets:
    """The targets of each object inside an image, in the winner's drawing order.

    Objects whose centre is outside ``[0, W) x [0, H)`` or not finite are skipped. LOW
    objects lose their labels when ``ignore_low_confidence_labels``. The order is LOW,
    MEDIUM, HIGH, longest first within each group (unknown length last): every map is
    merged by maximum except the offset, where the last object written wins. Objects
    flagged ``ignore`` lose their labels whatever the config, and are drawn first.

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
    ignore = objects.ignored[inside]
    is_vessel = np.asarray(objects.is_vessel, dtype=np.float32)[inside]
    is_fishing = np.asarray(objects.is_fishing, dtype=np.float32)[inside]
    length_px = np.asarray(objects.length_px, dtype=np.float32)[inside]
    if config.ignore_low_confidence_labels:
        is_vessel = np.where(is_low, np.nan, is_vessel)
        is_fishing = np.where(is_low, np.nan, is_fishing)
        length_px = np.where(is_low, np.nan, length_px)
    is_vessel = np.where(ignore, np.nan, is_vessel)
    is_fishing = np.where(ignore, np.nan, is_fishing)
    length_px = np.where(ignore, np.nan, length_px)
    order = _drawing_order(confidence, length_px, ignore)
    scaled = centers[inside][order] / np.float32(s)
    cells = np.floor(scaled).astype(np.int64)
    return ObjectTargets(
        index=np.flatnonzero(inside)[order],
        cells=cells,
        offsets=(scaled - cells.astype(np.float32)).astype(np.float32),
        is_low=is_low[order],
        ignore=ignore[order],
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
          ``floor(center / s)``; 255 on the discs (radius ``heatmap_radius``) of the
          ``ignore`` objects, and of LOW objects when ``ignore_low_confidence_detections``;
        * vessel, fishing ``(1, h, w)``: discs of radius ``labels_radius`` with 0, 1 or 255
          (unknown, always for ``ignore`` objects), 0 elsewhere;
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
    cells, ignored = t.cells, t.ignore_region(config)
    draw_gaussians(objectness[0], cells[~ignored], config.heatmap_radius)
    draw_discs(objectness[0], cells[ignored], config.heatmap_radius, float(IGNORE_INDEX))
    r = config.labels_radius
    draw_discs(vessel[0], cells, r, t.vessel)
    draw_discs(fishing[0], cells, r, t.fishing)
    draw_discs(length[0], cells, r, t.length)
    write_at_cells(offset, cells, t.offsets)
    return targets
