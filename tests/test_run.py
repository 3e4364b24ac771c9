"""The project through Kedro: registry, the four first stages on tiny data, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from tests.conftest import TINY_SYNTHETIC, TINY_TRAINING, make_project, run_kedro
from xview3_pipeline.core.errors import LabelValidationError


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``synthetic_data`` then ``__default__`` once on tiny scenes."""
    project = make_project(tmp_path_factory.mktemp("demo") / "project")
    cwd = Path.cwd()
    os.chdir(project)
    try:
        run_kedro(project, ["synthetic_data"], TINY_SYNTHETIC)
        run_kedro(project, ["ingestion", "locations", "folds"], TINY_SYNTHETIC)
    finally:
        os.chdir(cwd)
    return project


@pytest.mark.parametrize(
    "name",
    [
        "training_ensemble",
        "inference",
        "tuning",
        "submission",
        "cfar_baseline",
        "robustness",
        "predict",
        "experiment",
    ],
)
def test_pipeline_loads_alone_as_the_cli_requests_it(name: str) -> None:
    """``kedro run --pipelines NAME`` imports only the folder named NAME."""
    from kedro.framework.project import configure_project, find_pipelines

    configure_project("xview3_pipeline")
    found = find_pipelines(raise_errors=True, pipelines_to_find=[name])
    assert list(found) == [name]
    assert found[name].nodes


def test_registry_names_and_default() -> None:
    from kedro.framework.project import configure_project, pipelines

    configure_project("xview3_pipeline")
    assert {"synthetic_data", "ingestion", "locations", "folds", "__default__"} <= set(pipelines)
    default = {n.name for n in pipelines["__default__"].nodes}
    assert {"ingestion.index_scenes_node", "cluster_scenes_node", "split_folds_node"} <= default
    assert {"roundtrip_report_node", "fold_0.train_fold_node", "fold_3.train_fold_node"} <= default
    assert "generate_synthetic_dataset_node" not in default
    training = {n.name for n in pipelines["training"].nodes}
    steps = ("check_fold_node", "train_fold_node", "clear_training_work_node")
    assert training == {f"fold_{k}.{step}" for k in range(4) for step in steps}
    ensemble = pipelines["training_ensemble"]
    assert len(ensemble.nodes) == 3 * 4 * len(steps)
    assert "v2s_unet_s2.fold_3.model" in ensemble.all_outputs()
    assert "params:ensemble.b5_unet_s2" in ensemble.inputs()


def test_synthetic_data_writes_layout_and_quicklooks(demo_project: Path) -> None:
    manifest = pd.read_csv(demo_project / "data/01_raw/synthetic/manifest.csv", dtype=str)
    assert len(manifest) == 12  # 2 locations x 5 revisits, plus 1 out-of-distribution each
    ood = manifest[manifest["domain"] == "ood"]
    assert len(ood) == 2 and (ood["split"] == "public").all()
    raw = demo_project / "data/01_raw/xview3"
    for row in manifest.itertuples():
        assert (raw / row.split / row.scene_id / "VV_dB.tif").is_file()
    assert (raw / "train.csv").is_file() and (raw / "validation.csv").is_file()
    quicklooks = sorted((demo_project / "data/08_reporting/quicklooks").glob("*.png"))
    assert len(quicklooks) == len(manifest)
    truth = pd.read_csv(demo_project / "data/01_raw/synthetic/public_truth.csv", dtype=str)
    assert set(truth["scene_id"]) <= set(manifest.loc[manifest["split"] == "public", "scene_id"])
    assert set(ood["scene_id"]) <= set(truth["scene_id"])
    train_truth = pd.read_csv(demo_project / "data/01_raw/synthetic/train_truth.csv", dtype=str)
    train_ids = set(manifest.loc[manifest["split"] == "train", "scene_id"])
    assert set(train_truth["scene_id"]) == train_ids


def test_ingestion_outputs(demo_project: Path) -> None:
    index = gpd.read_parquet(demo_project / "data/02_intermediate/scene_index.parquet")
    assert len(index) == 12 and index.crs.to_epsg() == 4326
    assert index.geometry.is_valid.all() and (~index.geometry.is_empty).all()
    labels = pd.read_parquet(demo_project / "data/02_intermediate/labels.parquet")
    assert set(labels["split"]) == {"train", "validation"}
    assert labels["confidence"].cat.ordered
    report = json.loads((demo_project / "data/08_reporting/ingestion_report.json").read_text())
    assert report["scenes"] == 12 and report["rejected_rows"] == 0


def test_locations_recover_true_locations(demo_project: Path) -> None:
    manifest = pd.read_csv(demo_project / "data/01_raw/synthetic/manifest.csv", dtype=str)
    found = pd.read_csv(demo_project / "data/03_primary/scene_locations.csv", dtype=str)
    merged = manifest.merge(found, on="scene_id", suffixes=("_true", "_found"))
    assert len(merged) == len(manifest)
    assert adjusted_rand_score(merged["location_id_true"], merged["location_id_found"]) == 1.0
    assert (demo_project / "data/08_reporting/locations_map.png").stat().st_size > 10_000


def test_folds_and_holdout(demo_project: Path) -> None:
    folds = pd.read_csv(
        demo_project / "data/03_primary/default/fold_assignments.csv", dtype={"scene_id": str}
    )
    assert folds["scene_id"].is_unique
    holdout = folds[folds["fold"] == -1]
    assert (holdout["split"] == "train").all()
    assert holdout.groupby("location_id").size().eq(1).all() and len(holdout) == 2
    training = folds[folds["fold"] >= 0]
    assert (training["split"] == "validation").all() and len(training) == 6
    assert set(training["fold"]) == {0, 1, 2, 3}
    balance = pd.read_csv(demo_project / "data/08_reporting/default/fold_balance.csv")
    assert sorted(balance["fold"]) == [-1, 0, 1, 2, 3]
    assert (demo_project / "data/08_reporting/default/fold_balance.png").is_file()


def test_invalid_label_row_strict_and_lenient(
    demo_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    raw = tmp_path / "raw"
    import shutil

    shutil.copytree(demo_project / "data/01_raw/xview3", raw)
    table = pd.read_csv(raw / "validation.csv", dtype=str, keep_default_na=False)
    bad = table.iloc[0].copy()
    bad["detect_id"] = "bad_row"
    bad["detect_scene_row"] = "100000"
    pd.concat([table, bad.to_frame().T], ignore_index=True).to_csv(
        raw / "validation.csv", index=False
    )
    line = len(table) + 2

    params = {"raw_root": str(raw)}
    with pytest.raises(LabelValidationError, match=rf"validation\.csv.*line {line}"):
        run_kedro(project, ["ingestion"], params)
    assert not (project / "data/02_intermediate/labels.parquet").exists()

    run_kedro(project, ["ingestion"], params | {"ingestion": {"strict": False}})
    rejects = pd.read_csv(project / "data/02_intermediate/label_rejects.csv", dtype=str)
    assert list(rejects["detect_id"]) == ["bad_row"]
    assert "outside" in rejects["reason"].iloc[0]
    labels = pd.read_parquet(project / "data/02_intermediate/labels.parquet")
    assert "bad_row" not in set(labels["detect_id"]) and len(labels) > 0


def test_cli_raw_root_override(demo_project: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    raw = demo_project / "data/01_raw/xview3"
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    kedro = Path(sys.executable).with_name("kedro")
    result = subprocess.run(
        [str(kedro), "run", "--pipelines", "ingestion", "--params", f"raw_root={raw}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    index = gpd.read_parquet(project / "data/02_intermediate/scene_index.parquet")
    assert len(index) == 12
    assert all(not Path(p).is_absolute() and (raw / p).is_file() for p in index["vv_path"])


@pytest.mark.parametrize("group_by", ["scene", "location"])
def test_folds_pipeline_group_by(demo_project: Path, group_by: str) -> None:
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    from xview3_pipeline.pipelines.folds import create_pipeline

    catalog = DataCatalog()
    catalog["labels"] = pd.read_parquet(demo_project / "data/02_intermediate/labels.parquet")
    catalog["scene_locations"] = pd.read_csv(
        demo_project / "data/03_primary/scene_locations.csv", dtype={"scene_id": str}
    )
    catalog["params:folds"] = {"n_folds": 2, "group_by": group_by}
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    assert len(outputs["fold_balance"].load()) == 3
    split_only = create_pipeline().only_nodes("split_folds_node")
    folds = SequentialRunner().run(split_only, catalog)["fold_assignments"].load()
    training = folds[folds["fold"] >= 0]
    per_location = training.groupby("location_id")["fold"].nunique()
    if group_by == "location":
        assert per_location.max() == 1
    else:
        assert per_location.max() == 2
    assert set(folds.loc[folds["fold"] == -1, "split"]) == {"train"}


def test_encoding_pipeline(demo_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo_project)
    run_kedro(demo_project, ["encoding"], TINY_SYNTHETIC)
    table = pd.read_csv(demo_project / "data/08_reporting/encoding_roundtrip_f1.csv")
    assert list(table["stride"]) == [1, 2, 4, 8, 16]
    assert table.loc[table["stride"] == 1, "f1"].item() == 1.0
    assert table["f1"].is_monotonic_decreasing or table["f1"].diff().dropna().le(1e-12).all()
    encoded = sorted(
        (demo_project / "data/05_model_input/default/encoded_objects").glob("*.parquet")
    )
    folds = pd.read_csv(
        demo_project / "data/03_primary/default/fold_assignments.csv", dtype={"scene_id": str}
    )
    assert {p.stem for p in encoded} == set(folds.loc[folds["fold"] >= 0, "scene_id"])
    one = pd.read_parquet(encoded[0])
    assert {"cell_x", "cell_y", "offset_x", "vessel", "length_log"} <= set(one.columns)
    assert (one["stride"] == 2).all()
    assert len(list((demo_project / "data/08_reporting/encoding_previews").glob("*.png"))) == 2


def test_training_one_namespace(demo_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(demo_project)
    bootstrap_project(demo_project)
    params = TINY_SYNTHETIC | TINY_TRAINING
    with KedroSession.create(project_path=demo_project, runtime_params=params) as session:
        session.run(pipeline_names=["training"], namespaces=["fold_1"])
    models = list((demo_project / "data/06_models/default").glob("fold_*/model.pt/*/model.pt"))
    assert [m.parts[-4] for m in models] == ["fold_1"]
    history = pd.read_csv(demo_project / "data/08_reporting/default/training/fold_1/history.csv")
    assert len(history) == 1 and history["train/total"].notna().all()
    assert (demo_project / "data/08_reporting/default/training/fold_1/curves.png").is_file()
    with KedroSession.create(project_path=demo_project, runtime_params=params) as session:
        model = session.load_context().catalog.load("fold_1.model")
    assert model.checkpoint_metadata["run"] == "cpu_small/fold_1"
    assert not model.training
