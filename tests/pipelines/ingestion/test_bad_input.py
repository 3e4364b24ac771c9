"""A strict ingestion that stops on bad input leaves every file under ``data/`` unchanged.

One tiny good run is made once; each bad case copies its project and raw root, breaks one
raw input, runs ``ingestion`` through Kedro on the copy and compares the content hashes of
every file under ``data/`` with those before the run.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_project, run_kedro
from tests.core.rasters import write_raster
from xview3_pipeline.core.constants import NODATA, VH_FILE, VV_FILE
from xview3_pipeline.core.errors import (
    LabelValidationError,
    RasterReadError,
    SceneGeometryError,
    SceneNotFoundError,
)
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset

TINY = SyntheticConfig(
    n_locations=1,
    revisit_splits=("validation", "validation", "train", "public"),
    height=64,
    width=64,
    objects_per_scene=6,
)


def data_hashes(project: Path) -> dict[str, str | None]:
    """SHA-256 of every file under ``data/`` (None for a folder), by relative path."""
    data = project / "data"
    return {
        p.relative_to(data).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        )
        for p in sorted(data.rglob("*"))
    }


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project that holds one good ingestion of a tiny raw root."""
    base = tmp_path_factory.mktemp("ingestion")
    raw = base / "raw"
    generate_dataset(TINY, raw)
    project = make_project(base / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        run_kedro(project, ["ingestion"], {"raw_root": str(raw)})
    assert (project / "data/02_intermediate/scene_index.parquet").is_file()
    return project, raw


@pytest.fixture
def copied(
    good_run: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A copy of the good project, and a copy of its raw root without its test scene.

    Without the test scene a new index differs from the saved one, so a run that wrote
    its index before stopping would change ``scene_index.parquet``.
    """
    project = shutil.copytree(good_run[0], tmp_path / "project")
    raw = shutil.copytree(good_run[1], tmp_path / "raw")
    for public in (raw / "public").iterdir():
        shutil.rmtree(public)
    monkeypatch.chdir(project)
    return project, raw


def _scene(raw: Path) -> Path:
    return sorted((raw / "validation").iterdir())[0]


def _rewrite_labels(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(raw: Path) -> None:
        path = raw / "validation.csv"
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(table).to_csv(path, index=False)

    return apply


def _set(column: str, value: str, row: int = 0) -> Callable[[Path], None]:
    def change(table: pd.DataFrame) -> pd.DataFrame:
        table.loc[row, column] = value
        return table

    return _rewrite_labels(change)


def _duplicate_detect_id(table: pd.DataFrame) -> pd.DataFrame:
    table.loc[1, "detect_id"] = table.loc[0, "detect_id"]
    return table


def _missing_vh(raw: Path) -> None:
    (_scene(raw) / VH_FILE).unlink()


def _corrupt_vv(raw: Path) -> None:
    path = _scene(raw) / VV_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a truncated download


def _shape_mismatch(raw: Path) -> None:
    write_raster(_scene(raw) / VH_FILE, np.full((48, 64), -20.0, np.float32))


BAD_INPUTS = {
    "unknown_scene": (_set("scene_id", "0000000000000000v"), LabelValidationError, "unknown scene"),
    "row_outside_scene": (_set("detect_scene_row", "100000"), LabelValidationError, "outside"),
    "nan_coordinates": (_set("detect_lat", "nan"), LabelValidationError, "detect_lat"),
    "path_like_scene_id": (_set("scene_id", "../evil"), LabelValidationError, "invalid scene id"),
    "duplicate_detect_id": (
        _rewrite_labels(_duplicate_detect_id),
        LabelValidationError,
        "duplicate detect_id",
    ),
    "missing_column": (
        _rewrite_labels(lambda t: t.drop(columns="confidence")),
        LabelValidationError,
        "confidence",
    ),
    "bad_confidence": (_set("confidence", "VERY"), LabelValidationError, "invalid confidence"),
    "missing_vh": (_missing_vh, SceneNotFoundError, VH_FILE),
    "corrupt_vv": (_corrupt_vv, RasterReadError, VV_FILE),
    "vv_vh_shape_mismatch": (_shape_mismatch, SceneGeometryError, "shape mismatch"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_changes_no_file_under_data(copied: tuple[Path, Path], case: str) -> None:
    project, raw = copied
    breaks, error, message = BAD_INPUTS[case]
    breaks(raw)
    before = data_hashes(project)
    with pytest.raises(error, match=message):
        run_kedro(project, ["ingestion"], {"raw_root": str(raw)})
    assert data_hashes(project) == before


def test_empty_label_file_still_runs(copied: tuple[Path, Path]) -> None:
    project, raw = copied
    for name in ("train.csv", "validation.csv"):
        header = (raw / name).read_text().splitlines()[0]
        (raw / name).write_text(header + "\n")
    run_kedro(project, ["ingestion"], {"raw_root": str(raw)})
    assert len(pd.read_parquet(project / "data/02_intermediate/labels.parquet")) == 0
    index = gpd.read_parquet(project / "data/02_intermediate/scene_index.parquet")
    assert "public" not in set(index["split"])


def test_all_nodata_scene_still_runs(copied: tuple[Path, Path]) -> None:
    project, raw = copied
    scene = _scene(raw)
    for name in (VV_FILE, VH_FILE):
        write_raster(scene / name, np.full((64, 64), NODATA, np.float32))
    run_kedro(project, ["ingestion"], {"raw_root": str(raw)})
    index = gpd.read_parquet(project / "data/02_intermediate/scene_index.parquet")
    row = index.set_index("scene_id").loc[scene.name]
    assert row["nodata_fraction"] == 1.0 and row.geometry.is_empty
