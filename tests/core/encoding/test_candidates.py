"""The one candidate-table builder shared by the coder's decoder and scene inference."""

from __future__ import annotations

import numpy as np
import torch

from xview3_pipeline.core.encoding import DETECTION_COLUMNS, candidate_table, decode
from xview3_pipeline.core.encoding.candidates import finite_or_zero, peak_values


def test_finite_or_zero_and_peak_values() -> None:
    x = torch.tensor([1.0, float("nan"), float("inf"), -2.0], dtype=torch.float16)
    assert finite_or_zero(x).tolist() == [1.0, 0.0, 0.0, -2.0]
    maps = torch.zeros(1, 5, 4, 6)
    maps[0, :, 2, 3] = torch.tensor([0.9, 0.1, np.log1p(3.0), 0.25, 0.75])
    index = torch.tensor([[2 * 6 + 3]])
    peaks = peak_values(maps, index, index % 6, index // 6, stride=2, row0=10, dtype=torch.float64)
    assert peaks["x"].dtype == torch.float64
    assert (peaks["x"].item(), peaks["y"].item()) == ((3 + 0.25) * 2, (2 + 10 + 0.75) * 2)
    assert peaks["length_m"].item() == np.float32(30.0)


def test_candidate_table_columns_and_truncation() -> None:
    frame = candidate_table(
        ["a", "a"], x=[3.9, 0.2], y=[7.5, 1.0], objectness=[0.9, 0.5], vessel=[1, 0],
        fishing=[0, 1], length_m=[12.0, 30.0],
    )  # fmt: skip
    assert tuple(frame.columns) == DETECTION_COLUMNS
    assert frame["detect_scene_row"].tolist() == [7, 1]
    assert frame["detect_scene_column"].tolist() == [3, 0]
    assert frame["detect_scene_row"].dtype == np.int64 and frame["vessel_p"].dtype == np.float64


def test_decode_reads_non_finite_maps_as_zero() -> None:
    maps = [torch.rand(1, 1, 8, 8) for _ in range(4)] + [torch.rand(1, 2, 8, 8)]
    dirty = [m.clone() for m in maps]
    for m in dirty:
        m[0, 0, 1, 1] = float("nan")
    clean = [torch.where(torch.isfinite(m), m, 0.0) for m in dirty]
    a = decode(*dirty, stride=2, max_objects=5)
    b = decode(*clean, stride=2, max_objects=5)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y)
