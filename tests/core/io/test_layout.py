"""Paths of the scene index: stored relative to the raw root, resolved by consumers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from xview3_pipeline.core.io.layout import (
    INDEX_PATH_COLUMNS,
    relative_to_root,
    resolve_index_path,
    resolve_scene_paths,
)


def test_relative_to_root_inside_outside_and_none(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    assert relative_to_root(root / "train" / "a" / "VV_dB.tif", root) == "train/a/VV_dB.tif"
    outside = tmp_path / "elsewhere" / "VV_dB.tif"
    assert relative_to_root(outside, root) == outside.as_posix()
    assert relative_to_root(root / "x.tif", None) == (root / "x.tif").as_posix()


def test_resolve_index_path_relative_absolute_missing(tmp_path: Path) -> None:
    assert resolve_index_path(tmp_path, "train/a/VV_dB.tif") == tmp_path / "train/a/VV_dB.tif"
    assert resolve_index_path("data/raw", "train/a") == Path("data/raw/train/a")
    old = "/old/project/raw/train/a/VV_dB.tif"
    assert resolve_index_path(tmp_path, old) == Path(old)
    for missing in (None, np.nan, pd.NA, ""):
        assert resolve_index_path(tmp_path, missing) is None


def test_resolve_scene_paths_keeps_rows_and_other_columns(tmp_path: Path) -> None:
    index = pd.DataFrame(
        {
            "scene_id": ["a", "b"],
            "scene_dir": ["train/a", "/abs/b"],
            "vv_path": ["train/a/VV_dB.tif", "/abs/b/VV_dB.tif"],
            "vh_path": ["train/a/VH_dB.tif", "/abs/b/VH_dB.tif"],
            "shoreline_path": pd.Series(["shoreline/train/a_shoreline.npy", None], dtype=object),
            "width": [64, 32],
        },
        index=[5, 7],
    )
    out = resolve_scene_paths(index, tmp_path)
    assert list(out.index) == [5, 7] and list(out.columns) == list(index.columns)
    assert out.loc[5, "vv_path"] == (tmp_path / "train/a/VV_dB.tif").as_posix()
    assert out.loc[7, "vh_path"] == "/abs/b/VH_dB.tif"
    assert out.loc[7, "shoreline_path"] is None
    assert out["width"].tolist() == [64, 32]
    assert index.loc[5, "vv_path"] == "train/a/VV_dB.tif"  # the input is not changed
    assert set(INDEX_PATH_COLUMNS) <= set(out.columns)
