"""``predict`` through Kedro on a fresh project that never trained a CNN: CFAR only, an empty
sea, a corrupt scene among good ones, the same predictions on a Dask cluster, and the
choice of the detector."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from tests.conftest import TINY_SYNTHETIC, make_project, run_kedro
from xview3_pipeline.core.config import RenamedOptionWarning
from xview3_pipeline.core.constants import SUBMISSION_COLUMNS, VH_FILE, VV_FILE
from xview3_pipeline.core.detection import CfarDetector
from xview3_pipeline.core.detection.cfar import CfarConfig
from xview3_pipeline.pipelines.predict.nodes import predict_folder
from xview3_pipeline.pipelines.predict.pipeline import create_pipeline, resolve_detector

OUTPUT = Path("data/07_model_output/default/predictions")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic scenes only (no ingestion, no training), CFAR chosen in conf/local."""
    project = make_project(tmp_path_factory.mktemp("predict") / "project")
    cwd = Path.cwd()
    os.chdir(project)
    try:
        run_kedro(project, ["synthetic_data"], TINY_SYNTHETIC)
    finally:
        os.chdir(cwd)
    (project / "conf/local/parameters.yml").write_text(
        yaml.safe_dump({"predict": {"detector": "cfar"}})
    )
    return project


def _public(project: Path) -> Path:
    return project / "data/01_raw/xview3/public"


def _outputs(project: Path) -> tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    return (
        pd.read_csv(project / OUTPUT / "predictions.csv"),
        gpd.read_file(project / OUTPUT / "predictions.gpkg"),
        pd.read_csv(project / OUTPUT / "failed_scenes.csv"),
    )


def test_predict_loads_only_the_chosen_detectors_artefacts() -> None:
    cfar = create_pipeline("cfar")
    assert cfar.inputs() >= {"cfar.best_thresholds", "params:cfar"}
    assert not {"ensemble_model", "cnn.best_thresholds", "params:inference"} & cfar.inputs()
    assert {"ensemble_model", "cnn.best_thresholds"} <= create_pipeline("cnn").inputs()


def test_detector_choice_and_the_deprecated_key() -> None:
    assert resolve_detector({"predict": {"detector": "cfar"}, "predict_method": None}) == "cfar"
    with pytest.warns(RenamedOptionWarning, match="predict_method"):
        assert (
            resolve_detector({"predict": {"detector": "cfar"}, "predict_method": "model"}) == "cnn"
        )
    with pytest.raises(ValueError, match=r"predict.detector = 'svm'.*\['cnn', 'cfar'\]"):
        resolve_detector({"predict": {"detector": "svm"}})


def test_a_pipeline_built_for_another_detector_says_how_to_choose() -> None:
    class Built:
        name = "cnn"

    with pytest.raises(ValueError, match=r"predict.detector is 'cfar'.*built for 'cnn'.*--params"):
        predict_folder(
            detector=Built(),  # type: ignore[arg-type]
            thresholds=None,
            predict_root="unused",
            detection={},
            chosen="cfar",
        )


def test_cfar_predict_on_a_project_that_never_trained(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fresh)
    run_kedro(fresh, ["predict"], TINY_SYNTHETIC | {"predict_root": str(_public(fresh))})
    assert not (fresh / "data/06_models").exists()  # no model, no thresholds: defaults
    predictions, geo, failed = _outputs(fresh)
    assert tuple(predictions.columns) == SUBMISSION_COLUMNS and len(predictions)
    scenes = {p.name for p in _public(fresh).iterdir() if p.is_dir()}
    assert set(predictions["scene_id"]) <= scenes
    assert len(geo) == len(predictions) and geo.crs.to_epsg() == 4326
    assert failed.empty and list(failed.columns) == ["scene_id", "source", "error"]


def _empty_sea(source: Path, target: Path) -> None:
    """A copy of a scene whose SAR bands are plain Gamma speckle: nothing to detect."""
    shutil.copytree(source, target)
    rng = np.random.default_rng(0)
    for name in (VH_FILE, VV_FILE):
        with rasterio.open(target / name, "r+") as dst:
            shape = (dst.height, dst.width)
            sea = 10 * np.log10(rng.gamma(4.4, 1 / 4.4, size=shape) * 10**-2.2)
            dst.write(sea.astype(dst.dtypes[0]), 1)


def test_empty_sea_writes_empty_outputs_with_their_columns(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(fresh)
    scene = next(p for p in sorted(_public(fresh).iterdir()) if p.is_dir())
    _empty_sea(scene, tmp_path / "sea" / "emptysea01")
    run_kedro(fresh, ["predict"], TINY_SYNTHETIC | {"predict_root": str(tmp_path / "sea")})
    predictions, geo, failed = _outputs(fresh)
    assert predictions.empty and tuple(predictions.columns) == SUBMISSION_COLUMNS
    assert geo.empty and failed.empty


def test_a_corrupt_scene_is_reported_and_the_others_are_written(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(fresh)
    folder = tmp_path / "batch"
    scenes = sorted(p for p in _public(fresh).iterdir() if p.is_dir())
    for scene in scenes:
        shutil.copytree(scene, folder / scene.name)
    bad = folder / scenes[0].name
    (bad / VH_FILE).write_bytes(b"not a GeoTIFF")
    params = TINY_SYNTHETIC | {"predict_root": str(folder)}
    run_kedro(fresh, ["predict"], params)
    predictions, _, failed = _outputs(fresh)
    assert list(failed["scene_id"]) == [bad.name] and failed["source"].iloc[0] == str(bad)
    assert VH_FILE in failed["error"].iloc[0]
    assert bad.name not in set(predictions["scene_id"])
    assert set(predictions["scene_id"]) <= {s.name for s in scenes[1:]}
    with pytest.raises(Exception, match=rf"scene {bad.name} \({bad}\)"):
        run_kedro(fresh, ["predict"], params | {"detection": {"on_scene_error": "raise"}})


def test_dask_predicts_what_the_local_executor_does(
    fresh: Path, tmp_path: Path, dask_cluster: str
) -> None:
    folder = tmp_path / "batch"
    scenes = sorted(p for p in _public(fresh).iterdir() if p.is_dir())
    for scene in scenes:
        shutil.copytree(scene, folder / scene.name)
    (folder / "corrupt01").mkdir()
    (folder / "corrupt01" / VH_FILE).write_bytes(b"not a GeoTIFF")
    shutil.copy(scenes[0] / VV_FILE, folder / "corrupt01" / VV_FILE)
    detector = CfarDetector(CfarConfig())
    common = {"thresholds": None, "predict_root": str(folder), "chosen": "cfar"}
    local = predict_folder(detector=detector, detection={}, **common)
    remote = predict_folder(
        detector=detector,
        detection={},
        executor="dask",
        dask={"address": dask_cluster, "retries": 0},
        **common,
    )
    pd.testing.assert_frame_equal(remote[0], local[0], check_exact=True)
    assert len(local[0]) and list(remote[2]["scene_id"]) == ["corrupt01"]
    pd.testing.assert_frame_equal(remote[2], local[2])


def test_kedro_run_command_line_chooses_the_detector(fresh: Path, tmp_path: Path) -> None:
    local = fresh / "conf/local/parameters.yml"
    saved = local.read_text()
    local.unlink()  # only the command line chooses CFAR here
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "kedro",
                "run",
                "--pipelines",
                "predict",
                "--params",
                f"predict.detector=cfar,predict_root={_public(fresh)}",
            ],
            check=False,
            cwd=fresh,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        local.write_text(saved)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "cfar.predict_folder_node" in done.stdout + done.stderr
    predictions, _, _ = _outputs(fresh)
    assert tuple(predictions.columns) == SUBMISSION_COLUMNS
