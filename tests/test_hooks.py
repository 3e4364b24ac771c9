"""Runs stopped before any work: bad parameters are refused by the run-start hook."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_project, run_kedro
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset
from xview3_pipeline.hooks import parameter_blocks
from xview3_pipeline.validation import (
    ParameterError,
    check_holdout_size,
    check_tile_multiple,
    validate_parameters,
)

#: (runtime parameters, pattern of the message: the parameter and the accepted values).
BAD_PARAMETERS = {
    "tile_not_multiple_of_32": (
        {"inference": {"tile_size": 100, "step": 64}},
        r"inference\.tile_size=100: expected a positive multiple of 32 .*e\.g\. 96 or 128",
    ),
    "step_zero": (
        {"inference": {"step": 0}},
        r"'inference'.*step=0 must be .* in \(0, tile_size\]",
    ),
    "step_larger_than_tile": (
        {"inference": {"step": 1024}},
        r"'inference'.*step=1024 must be .* in \(0, tile_size\]",
    ),
    "unknown_model_preset": (
        {"training": {"model": {"preset": "b9_unet"}}},
        r"training\.model\.preset must be one of \[.*'cpu_small'.*\], got 'b9_unet'",
    ),
    "one_fold": ({"folds": {"n_folds": 1}}, r"'folds'.*n_folds must be an integer >= 2, got 1"),
    "cfar_pfa_one": ({"cfar": {"pfa": 1.0}}, r"'cfar'.*pfa must be in \(0, 0\.5\)"),
    "cfar_pfa_zero": ({"cfar": {"pfa": 0.0}}, r"'cfar'.*pfa must be in \(0, 0\.5\)"),
    "unknown_scene_error_policy": (
        {"detection": {"on_scene_error": "skip"}},
        r"detection\.on_scene_error = 'skip' is not accepted; expected one of \['continue', 'raise'\]",
    ),
}


def _no_node_ran(caplog: pytest.LogCaptureFixture) -> bool:
    return not any("Running node" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("case", sorted(BAD_PARAMETERS))
def test_full_run_stops_before_the_first_node(
    kedro_project: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    params, message = BAD_PARAMETERS[case]
    caplog.set_level(logging.INFO)
    with pytest.raises(ParameterError, match=message):
        run_kedro(kedro_project, None, params)  # __default__: ingestion ... cfar_baseline
    assert _no_node_ran(caplog)
    assert not any((kedro_project / "data").iterdir())  # nothing written, no lock left


def test_raw_root_that_is_a_file(kedro_project: Path, caplog: pytest.LogCaptureFixture) -> None:
    raw = kedro_project / "raw.tif"
    raw.write_bytes(b"not a folder")
    caplog.set_level(logging.INFO)
    with pytest.raises(ParameterError, match=r"raw_root='.*raw\.tif' is a file, not a folder"):
        run_kedro(kedro_project, ["ingestion"], {"raw_root": str(raw)})
    assert _no_node_ran(caplog)


@pytest.fixture(scope="module")
def located_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project that holds ingestion and locations of two locations x two train scenes."""
    base = tmp_path_factory.mktemp("holdout")
    raw = base / "raw"
    config = SyntheticConfig(
        n_locations=2,
        revisit_splits=("validation", "validation", "train", "train"),
        height=64,
        width=64,
        objects_per_scene=6,
    )
    generate_dataset(config, raw)
    project = make_project(base / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        run_kedro(project, ["ingestion", "locations"], {"raw_root": str(raw)})
    return project


def test_holdout_larger_than_locations_stops_folds(
    located_project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(located_project)
    caplog.set_level(logging.INFO)
    message = r"folds\.holdout_per_location=3 asks for more 'train' scenes than 2 location"
    with pytest.raises(ParameterError, match=message + r".*expected at most 2"):
        run_kedro(located_project, ["folds"], {"folds": {"holdout_per_location": 3}})
    assert _no_node_ran(caplog)
    assert not (located_project / "data/03_primary/default/fold_assignments.csv").exists()
    # Exactly as many scenes as a location has is accepted.
    run_kedro(located_project, ["folds"], {"folds": {"holdout_per_location": 2, "n_folds": 2}})
    folds = pd.read_csv(located_project / "data/03_primary/default/fold_assignments.csv")
    assert (folds["fold"] == -1).sum() == 4


def test_holdout_check_in_the_folds_node(located_project: Path) -> None:
    # The node checks too: in a full run the scene table is made by the same run.
    from xview3_pipeline.pipelines.folds.nodes import split_folds

    locations = pd.read_csv(located_project / "data/03_primary/scene_locations.csv", dtype=str)
    labels = pd.read_parquet(located_project / "data/02_intermediate/labels.parquet")
    with pytest.raises(ParameterError, match="holdout_per_location=5"):
        split_folds(labels, locations, {"holdout_per_location": 5})


def test_check_holdout_ignores_locations_without_holdout_split() -> None:
    table = pd.DataFrame(
        {
            "scene_id": ["a", "b", "c"],
            "split": ["train", "train", "validation"],
            "location_id": ["L0", "L0", "L1"],
        }
    )
    check_holdout_size(table, {"holdout_per_location": 2})
    check_holdout_size(table, {"holdout_per_location": 9, "holdout_enabled": False})
    with pytest.raises(ParameterError, match=r"L0: 2"):
        check_holdout_size(table, {"holdout_per_location": 3})


def test_parameter_blocks_of_the_default_pipeline() -> None:
    from kedro.framework.project import configure_project, pipelines

    configure_project("xview3_pipeline")
    blocks = parameter_blocks(pipelines["__default__"])
    assert {"raw_root", "ingestion", "folds", "training", "inference", "cfar", "tuning"} <= blocks
    assert "synthetic_data" not in blocks


def test_validate_parameters_checks_only_named_blocks() -> None:
    bad = {"inference": {"tile_size": 100, "step": 64}, "folds": {"n_folds": 3}}
    assert validate_parameters(bad, ["folds", "fold_0", "unknown"]) == ["folds"]
    with pytest.raises(ParameterError, match="tile_size=100"):
        validate_parameters(bad, ["inference"])
    with pytest.raises(ParameterError, match=r"ingestion\.splits=\['test'\]: expected a list of"):
        validate_parameters({"ingestion": {"splits": ["test"]}}, ["ingestion"])
    check_tile_multiple({"tile_size": 2048})


def test_fold_count_differing_from_the_registry_stops_a_run_reading_fold_models(
    tmp_path: Path,
) -> None:
    from kedro.io import DataCatalog
    from kedro.pipeline import Node, Pipeline

    from xview3_pipeline.hooks import RunSafetyHooks
    from xview3_pipeline.pipelines.structure import n_folds

    pipeline = Pipeline([Node(func=len, inputs="fold_0.model", outputs="n", name="n_node")])
    catalog = DataCatalog()
    run_params = {"project_path": str(tmp_path), "run_id": "r", "pipeline_names": ["x"]}
    hooks = RunSafetyHooks()
    catalog["parameters"] = {"folds": {"n_folds": n_folds() + 1}}
    with pytest.raises(ValueError, match=r"folds\.n_folds is"):
        hooks.before_pipeline_run(run_params, pipeline, catalog)
    catalog["parameters"] = {"folds": {"n_folds": n_folds()}}
    hooks.before_pipeline_run(run_params, pipeline, catalog)
    hooks.after_pipeline_run(run_params)


def test_predict_block_is_validated() -> None:
    with pytest.raises(ParameterError, match=r"predict\.detector = 'yolo' is not accepted"):
        validate_parameters({"predict": {"detector": "yolo"}}, ["predict"])
    with pytest.raises(ParameterError, match=r"predict: unknown key\(s\) \['model'\]"):
        validate_parameters({"predict": {"model": "cnn"}}, ["predict"])
    assert validate_parameters({"predict": {"detector": "cfar"}}, ["predict"]) == ["predict"]


def test_label_cleaning_block_is_validated() -> None:
    with pytest.raises(ParameterError, match=r"label_cleaning\.rounds must be an integer >= 1"):
        validate_parameters({"label_cleaning": {"rounds": 0}}, ["label_cleaning"])
    with pytest.raises(ParameterError, match=r"both 'train' and 'train_cleaned'"):
        validate_parameters(
            {"label_cleaning": {"rounds": 2, "teacher_sources": {"train": 0.25}}},
            ["label_cleaning"],
        )
    assert validate_parameters({"label_cleaning": {"rounds": 2}}, ["label_cleaning"]) == [
        "label_cleaning"
    ]
