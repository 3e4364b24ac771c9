"""Encode → decode round trip of ground truth: how much localisation a stride loses.

The seed justified output stride 2 with this measurement (README: F1 0.9672 at stride 16,
0.9948 at 8, 0.9997 at 4, 0.9999 at 2, 1.0 at 1). Ground truth is encoded into objectness
and offset targets, the targets are decoded as if they were predictions, and the peaks
are scored with the official matching (:func:`~xview3_pipeline.core.metric.matching.match_points`,
200 m, ``costly_dist``). Peaks are lost when two objects share an output cell (one peak,
one offset: the last writer's), or when a LOW ignore disc covers a peak.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.encoding.config import CoderConfig, output_shape
from xview3_pipeline.core.encoding.decoding import decode
from xview3_pipeline.core.encoding.functional import heatmap_nms
from xview3_pipeline.core.encoding.targets import encode_targets
from xview3_pipeline.core.metric.matching import match_points
from xview3_pipeline.core.types import CONFIDENCE_CODES, IGNORE_INDEX, ObjectLabels

logger = logging.getLogger(__name__)

__all__ = ["ROUNDTRIP_COLUMNS", "roundtrip_centers", "roundtrip_f1"]

#: Columns of :func:`roundtrip_f1`.
ROUNDTRIP_COLUMNS: tuple[str, ...] = (
    "stride",
    "f1",
    "precision",
    "recall",
    "tp",
    "fp",
    "fn",
    "n_objects",
)

_LOW = CONFIDENCE_CODES["LOW"]


def _inside(objects: ObjectLabels, image_shape: tuple[int, int]) -> np.ndarray:
    height, width = image_shape
    c = objects.centers
    return (
        np.isfinite(c).all(axis=1)
        & (c[:, 0] >= 0)
        & (c[:, 0] < width)
        & (c[:, 1] >= 0)
        & (c[:, 1] < height)
    )


def _tiles_touched(
    cells: np.ndarray, reach: int, tile_cells: int, shape: tuple[int, int]
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """Tiles reached by the ``±reach`` box of some object cell, with those objects' indices.

    Needs ``tile_cells > 2 * reach``, so one box touches at most 2 × 2 tiles.
    """
    if len(cells) == 0:
        return []
    limit = np.asarray(shape[::-1]) - 1  # (x, y)
    low = np.clip(cells - reach, 0, limit) // tile_cells
    high = np.clip(cells + reach, 0, limit) // tile_cells
    pairs = []
    for dx in (0, 1):
        for dy in (0, 1):
            tile = low + np.asarray([dx, dy])
            ok = (tile <= high).all(axis=1)
            pairs.append(np.column_stack([tile[ok, 1], tile[ok, 0], np.flatnonzero(ok)]))
    table = np.concatenate(pairs)
    table = table[np.lexsort((table[:, 2], table[:, 1], table[:, 0]))]
    keys, starts = np.unique(table[:, :2], axis=0, return_index=True)
    groups = np.split(table[:, 2], starts[1:])
    return [((int(r), int(c)), g) for (r, c), g in zip(keys, groups, strict=True)]


def roundtrip_centers(
    objects: ObjectLabels,
    image_shape: tuple[int, int],
    config: CoderConfig,
    *,
    min_objectness: float = 0.5,
    tile_cells: int = 256,
) -> np.ndarray:
    """Centres decoded from the encoded targets of one scene, tile by tile.

    A full-scene map is never allocated: the output grid is cut into tiles of
    ``tile_cells × tile_cells`` output pixels, and only tiles within ``heatmap_radius``
    of an object cell are visited (nothing is non-zero further away). A tile's interior
    is the tile cut to the bounding box of those objects' ``±heatmap_radius`` boxes; it is
    encoded with a margin of ``heatmap_radius + nms_kernel // 2 + 1`` cells, together with
    every object whose cell lies in that window. Objects outside the window cannot reach
    the interior (their kernels end inside the margin and the NMS window sees one cell
    further), so the interior equals the same region of a full-scene encoding, and only
    its peaks are kept: every peak is decoded exactly once. Memory is bounded by
    ``(tile_cells + 2 * margin)²`` cells per channel.

    A decoded peak is not always on an object cell: when an ignore disc (decoded as 0)
    covers a peak, a Gaussian shoulder (0.69) may become a local maximum.

    Target value 255 (LOW ignore discs) is decoded as 0; offsets come from the targets.

    Args:
        objects: Objects of the scene, centres in scene pixels.
        image_shape: ``(H, W)`` of the scene in input pixels.
        config: Coder settings (stride, radii, LOW handling, NMS window).
        min_objectness: Peaks below this are not detections (drawn peaks are 1.0).
        tile_cells: Tile side in output pixels.

    Returns:
        ``(n, 2)`` float32 decoded ``(x, y)`` centres in scene pixels.
    """
    s = config.stride
    height, width = image_shape
    h, w = output_shape(image_shape, s)
    margin = config.heatmap_radius + config.nms_kernel // 2 + 1
    objects = objects.subset(_inside(objects, image_shape))
    cells = np.floor(objects.centers / np.float32(s)).astype(np.int64)
    reach = config.heatmap_radius  # nothing is non-zero further from an object cell
    if tile_cells <= 2 * reach:
        raise ValueError(
            f"roundtrip_centers: tile_cells must exceed {2 * reach}, got {tile_cells}."
        )
    found: list[np.ndarray] = []
    for (tile_row, tile_col), touching in _tiles_touched(cells, reach, tile_cells, (h, w)):
        # The interior: the tile cut to the bounding box of the reach of the objects
        # touching it (a decoded peak is not always an object cell: when an ignore disc,
        # decoded as 0, covers a peak, a Gaussian shoulder can become a local maximum).
        grown = cells[touching]
        r0 = max(int(grown[:, 1].min()) - reach, tile_row * tile_cells)
        c0 = max(int(grown[:, 0].min()) - reach, tile_col * tile_cells)
        r1 = min(int(grown[:, 1].max()) + 1 + reach, (tile_row + 1) * tile_cells, h)
        c1 = min(int(grown[:, 0].max()) + 1 + reach, (tile_col + 1) * tile_cells, w)
        wr0, wr1 = max(r0 - margin, 0), min(r1 + margin, h)
        wc0, wc1 = max(c0 - margin, 0), min(c1 + margin, w)
        in_window = (
            (cells[:, 0] >= wc0) & (cells[:, 0] < wc1) & (cells[:, 1] >= wr0) & (cells[:, 1] < wr1)
        )
        window = objects.subset(in_window).shifted(-wc0 * s, -wr0 * s)
        window_shape = (min(height, wr1 * s) - wr0 * s, min(width, wc1 * s) - wc0 * s)
        targets = encode_targets(window, window_shape, config)
        heat = torch.from_numpy(targets.objectness[None])
        heat = torch.where(heat == IGNORE_INDEX, torch.zeros(()), heat)
        # NMS over the whole window, then only interior peaks may be decoded (the second
        # NMS inside ``decode`` keeps every surviving peak).
        peaks = heatmap_nms(heat, config.nms_kernel)
        keep = torch.zeros_like(peaks)
        keep[..., r0 - wr0 : r1 - wr0, c0 - wc0 : c1 - wc0] = 1
        peaks = peaks * keep
        n_peaks = int((peaks >= min_objectness).sum())
        if n_peaks == 0:
            continue
        zeros = torch.zeros_like(heat)
        detections = decode(
            peaks,
            zeros,
            zeros,
            zeros,
            torch.from_numpy(targets.offset[None]),
            stride=s,
            max_objects=n_peaks,
            min_objectness=min_objectness,
            nms_kernel=config.nms_kernel,
        )
        scores = detections.objectness[0].numpy()
        centers = detections.centers[0].numpy()[scores >= min_objectness]
        found.append(centers + np.asarray([wc0 * s, wr0 * s], dtype=np.float32))
    if not found:
        return np.zeros((0, 2), np.float32)
    return np.concatenate(found).astype(np.float32)


def _score_scene(
    pred_xy: np.ndarray, objects: ObjectLabels, include_low: bool
) -> tuple[int, int, int]:
    """(tp, fp, fn) of decoded centres against HIGH + MEDIUM objects.

    Predictions are truncated to integer pixels as a submission (``astype(int)``). With
    ``include_low``, predictions matched to any LOW object are dropped first (the official
    ``--drop_low_detect``).
    """
    pred_rc = np.trunc(pred_xy[:, ::-1]).astype(np.float64)
    gt_rc = objects.centers[:, ::-1].astype(np.float64)
    is_low = objects.confidence == _LOW
    if include_low and is_low.any() and len(pred_rc):
        pred_idx, gt_idx = match_points(pred_rc, gt_rc)
        drop = pred_idx[is_low[gt_idx]]
        pred_rc = np.delete(pred_rc, drop, axis=0)
    gt_rc = gt_rc[~is_low]
    tp = len(match_points(pred_rc, gt_rc)[0])
    return tp, len(pred_rc) - tp, len(gt_rc) - tp


def roundtrip_f1(
    objects_by_scene: Mapping[str, ObjectLabels],
    image_shapes: Mapping[str, tuple[int, int]],
    strides: Iterable[int] = (1, 2, 4, 8, 16),
    config: CoderConfig | None = None,
    *,
    include_low: bool = False,
    min_objectness: float = 0.5,
    tile_cells: int = 256,
) -> pd.DataFrame:
    """Localisation F1 of ground truth encoded and decoded at each stride.

    Each scene is encoded tile by tile at its full size (:func:`roundtrip_centers`; never
    a full-scene map), the objectness peaks ``>= min_objectness`` are decoded with the
    target offsets, and scored with the official matching against the HIGH + MEDIUM
    objects. Objects with centres outside their scene are dropped (with a warning).

    ``include_low=False`` (default) removes LOW objects before encoding: every remaining
    object gets a Gaussian, so at stride 1 on objects with distinct pixel centres F1 is
    exactly 1.0. ``include_low=True`` encodes LOW objects as training does (an ignore
    disc with ``ignore_low_confidence_detections``, which also hides HIGH/MEDIUM peaks
    within ``heatmap_radius`` cells of it, or a Gaussian otherwise) and scores as the
    official metric (predictions matched to LOW truth are dropped); with ignore discs
    F1 < 1 is then possible even at stride 1. The seed's README table ("all ground truth
    encoded") is closest to ``include_low=True`` with the ignore disc off.

    Args:
        objects_by_scene: Objects per scene id, centres in scene pixels.
        image_shapes: ``(H, W)`` per scene id, input pixels.
        strides: Output strides to evaluate.
        config: Coder settings (the stride is replaced by each of ``strides``).
        include_low: Encode LOW objects (see above).
        min_objectness: Decoded peaks below this are not detections.
        tile_cells: Tile side in output pixels.

    Returns:
        One row per stride with :data:`ROUNDTRIP_COLUMNS` (counts summed over scenes;
        precision, recall and F1 from the sums; NaN where undefined).
    """
    config = config or CoderConfig()
    missing = sorted(set(objects_by_scene) - set(image_shapes))
    if missing:
        raise ValueError(f"roundtrip_f1: no image shape for scenes {missing[:10]}.")
    scenes: dict[str, ObjectLabels] = {}
    for scene_id, objects in objects_by_scene.items():
        inside = _inside(objects, image_shapes[scene_id])
        if not inside.all():
            logger.warning(
                "roundtrip_f1: %d objects of scene %s lie outside its %s image; dropped.",
                int((~inside).sum()),
                scene_id,
                tuple(image_shapes[scene_id]),
            )
        kept = objects.subset(inside)
        scenes[scene_id] = kept if include_low else kept.subset(kept.confidence != _LOW)

    rows = []
    # Many small windows: intra-op threading only adds overhead (and stalls on busy CPUs).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for stride in strides:
            rows.append(
                _roundtrip_stride(
                    scenes,
                    image_shapes,
                    dataclasses.replace(config, stride=int(stride)),
                    include_low=include_low,
                    min_objectness=min_objectness,
                    tile_cells=tile_cells,
                )
            )
    finally:
        torch.set_num_threads(threads)
    return pd.DataFrame(rows, columns=list(ROUNDTRIP_COLUMNS))


def _roundtrip_stride(
    scenes: Mapping[str, ObjectLabels],
    image_shapes: Mapping[str, tuple[int, int]],
    config: CoderConfig,
    *,
    include_low: bool,
    min_objectness: float,
    tile_cells: int,
) -> dict[str, float]:
    """One row of :func:`roundtrip_f1`, at ``config.stride``."""
    stride = config.stride
    tp = fp = fn = 0
    for scene_id, objects in scenes.items():
        pred = roundtrip_centers(
            objects,
            image_shapes[scene_id],
            config,
            min_objectness=min_objectness,
            tile_cells=tile_cells,
        )
        t, f_p, f_n = _score_scene(pred, objects, include_low)
        tp, fp, fn = tp + t, fp + f_p, fn + f_n
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    logger.info("Round trip at stride %d: F1 %.4f (tp %d, fp %d, fn %d).", stride, f1, tp, fp, fn)
    return {
        "stride": stride,
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_objects": tp + fn,
    }
