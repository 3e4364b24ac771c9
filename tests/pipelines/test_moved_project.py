"""A project and raw root moved elsewhere still read their own scenes."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pytest

from tests.conftest import make_project, run_kedro
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset


def test_moved_project_reads_its_scenes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "old"
    raw = old / "raw"
    generate_dataset(
        SyntheticConfig(
            n_locations=2,
            revisit_splits=("validation", "validation", "train"),
            height=64,
            width=64,
            objects_per_scene=6,
        ),
        raw,
    )
    project = make_project(old / "project")
    params = {
        "raw_root": str(raw),
        "folds": {"n_folds": 2},
        "encoding": {"preview_scenes": 2, "preview_crop": 64, "roundtrip_strides": [2]},
    }
    monkeypatch.chdir(project)
    run_kedro(project, ["ingestion", "locations", "folds"], params)

    new = tmp_path / "new"
    shutil.move(old, new)
    assert not raw.exists()
    monkeypatch.chdir(new / "project")
    index = gpd.read_parquet(new / "project/data/02_intermediate/scene_index.parquet")
    assert not any(Path(p).is_absolute() for p in index["vv_path"])

    # Encoding previews read VV/VH windows of the scenes through the index's paths.
    run_kedro(new / "project", ["encoding"], params | {"raw_root": str(new / "raw")})
    previews = sorted((new / "project/data/08_reporting/encoding_previews").glob("*.png"))
    assert len(previews) == 2 and all(p.stat().st_size > 1000 for p in previews)
