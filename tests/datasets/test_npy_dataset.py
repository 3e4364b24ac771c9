"""``NpyDataset``: numeric arrays in .npy files, never pickled."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io.core import DatasetError

from xview3_pipeline.datasets import NpyDataset


def test_round_trip_keeps_values_dtype_and_shape(tmp_path):
    data = NpyDataset(filepath=str(tmp_path / "sub" / "p.npy"))
    array = np.random.default_rng(0).random((5, 7, 9)).astype(np.float16)
    assert not data.exists()
    data.save(array)
    assert data.exists()
    loaded = data.load()
    assert loaded.dtype == np.float16 and loaded.shape == (5, 7, 9)
    np.testing.assert_array_equal(loaded, array)
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name != "p.npy"]  # no temp file


def test_object_arrays_are_refused_on_save_and_on_load(tmp_path):
    path = tmp_path / "o.npy"
    with pytest.raises(DatasetError, match="numeric"):
        NpyDataset(filepath=str(path)).save(np.array([{"a": 1}], dtype=object))
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=r"o\.npy"):
        NpyDataset(filepath=str(path)).load()


def test_a_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.zeros((64, 64), np.float32))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"t\.npy"):
        NpyDataset(filepath=str(path)).load()
