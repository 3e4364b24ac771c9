"""Decoding CircleNet maps into candidates (batched, CPU or CUDA).

The peaks of the NMS'd objectness map are read with the shared candidate builder
(:mod:`~xview3_pipeline.core.encoding.candidates`), as scene inference reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.encoding.candidates import candidate_table, finite_or_zero, peak_values
from xview3_pipeline.core.encoding.functional import heatmap_nms, topk_peaks
from xview3_pipeline.core.types import Detections

__all__ = ["decode", "detections_to_frame"]


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
    :func:`~xview3_pipeline.core.encoding.functional.heatmap_nms`; the top
    ``min(max_objects, h * w)`` pixels are taken per image. With ``min_objectness > 0`` the
    candidates are cut to the largest per-image count of scores ``>= min_objectness`` in
    the batch (exact for ``B = 1``); other images of the batch may keep lower-scored rows,
    which :func:`detections_to_frame` drops.

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
    objectness = heatmap_nms(finite_or_zero(objectness_prob), nms_kernel)
    scores, index, ys, xs = topk_peaks(objectness, max_objects)
    if min_objectness > 0 and scores.numel() > 0:
        keep = int((scores >= min_objectness).sum(dim=1).max())
        scores, index, ys, xs = scores[:, :keep], index[:, :keep], ys[:, :keep], xs[:, :keep]
    maps = torch.cat(
        [finite_or_zero(m) for m in (vessel_prob, fishing_prob, length, offset)], dim=1
    )
    peaks = peak_values(maps, index, xs, ys, stride=stride)
    length_m = peaks["length_m"]
    if length_clip_m is not None:
        length_m = length_m.clamp(float(length_clip_m[0]), float(length_clip_m[1]))
    return Detections(
        centers=torch.stack([peaks["x"], peaks["y"]], dim=-1),
        objectness=scores,
        vessel=peaks["vessel"],
        fishing=peaks["fishing"],
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
        Columns :data:`~xview3_pipeline.core.encoding.candidates.DETECTION_COLUMNS`:
        ``scene_id``, ``detect_scene_row`` and ``detect_scene_column`` (int64), ``x`` /
        ``y`` (float centre, input pixels), ``objectness_p``, ``vessel_p``, ``fishing_p``
        (probabilities) and ``vessel_length_m``; per image in descending objectness.
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
    return candidate_table(
        np.repeat(np.asarray(ids, dtype=object), k)[keep],
        x=centers[keep, 0],
        y=centers[keep, 1],
        objectness=scores[keep],
        vessel=flat(detections.vessel)[keep],
        fishing=flat(detections.fishing)[keep],
        length_m=flat(detections.length_m)[keep],
    )
