"""Peaks → candidate table: the one builder behind the coder's decoder and scene inference.

Both decoders read peaks of an NMS'd objectness map the same way: non-finite map values
are 0 (:func:`finite_or_zero`), the centre of a peak at output cell ``(x_idx, y_idx)`` is
``((x_idx + dx) · s, (y_idx + dy) · s)`` input pixels, its length
``(exp(relu(size)) − 1) · 10`` m (:func:`peak_values`), and the table has
:data:`DETECTION_COLUMNS` with the detection pixel the truncated centre
(:func:`candidate_table`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from xview3_pipeline.core.encoding.functional import gather_features, length_from_log

__all__ = ["DETECTION_COLUMNS", "candidate_table", "finite_or_zero", "peak_values"]

#: Columns of a candidate table without georeference, in order.
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


def finite_or_zero(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float with non-finite values replaced by 0 (same device)."""
    x = x.float()
    return torch.where(torch.isfinite(x), x, torch.zeros((), dtype=x.dtype, device=x.device))


def peak_values(
    maps: torch.Tensor,
    index: torch.Tensor,
    xs: torch.Tensor,
    ys: torch.Tensor,
    *,
    stride: int,
    row0: int = 0,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Centres, classes and lengths of peaks.

    Args:
        maps: ``(B, 5, h, w)`` vessel, fishing probabilities, ``log(1 + length_px)``,
            offset x, offset y (finite).
        index: ``(B, K)`` flat peak indices into ``h · w``.
        xs: ``(B, K)`` peak columns (output pixels).
        ys: ``(B, K)`` peak rows (output pixels, relative to ``row0``).
        stride: Output stride ``s``.
        row0: Output row of ``maps[..., 0, :]`` in the scene.
        dtype: Precision of the centres (float32 for the batched decoder, float64 for
            scene inference, whose centres reach ~30,000 px).

    Returns:
        ``(B, K)`` tensors ``x``, ``y`` (input pixels, ``dtype``), ``vessel``,
        ``fishing`` (probabilities) and ``length_m`` (metres), float32.
    """
    features = gather_features(maps, index)  # (B, K, 5)
    x = (xs.to(dtype) + features[..., 3].to(dtype)) * stride
    y = (ys.to(dtype) + row0 + features[..., 4].to(dtype)) * stride
    return {
        "x": x,
        "y": y,
        "vessel": features[..., 0],
        "fishing": features[..., 1],
        "length_m": length_from_log(features[..., 2]),
    }


def candidate_table(
    scene_ids: np.ndarray | Sequence[str],
    *,
    x: np.ndarray,
    y: np.ndarray,
    objectness: np.ndarray,
    vessel: np.ndarray,
    fishing: np.ndarray,
    length_m: np.ndarray,
) -> pd.DataFrame:
    """A candidate table with :data:`DETECTION_COLUMNS` from flat arrays.

    The detection pixel is the centre cast to ``int64`` (truncated toward zero, as the
    seed; the same as ``floor`` for the non-negative centres of a scene).

    Args:
        scene_ids: ``(n,)`` scene id of each row.
        x: ``(n,)`` centre columns, input pixels.
        y: ``(n,)`` centre rows, input pixels.
        objectness: ``(n,)`` objectness probabilities.
        vessel: ``(n,)`` vessel probabilities.
        fishing: ``(n,)`` fishing probabilities.
        length_m: ``(n,)`` lengths, metres.

    Returns:
        One row per candidate, in the given order; integer pixel columns are int64, the
        others float64.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return pd.DataFrame(
        {
            "scene_id": np.asarray(scene_ids, dtype=object).reshape(-1),
            "detect_scene_row": y.astype(np.int64),
            "detect_scene_column": x.astype(np.int64),
            "x": x,
            "y": y,
            "objectness_p": np.asarray(objectness, dtype=np.float64),
            "vessel_p": np.asarray(vessel, dtype=np.float64),
            "fishing_p": np.asarray(fishing, dtype=np.float64),
            "vessel_length_m": np.asarray(length_m, dtype=np.float64),
        },
        columns=list(DETECTION_COLUMNS),
    )
