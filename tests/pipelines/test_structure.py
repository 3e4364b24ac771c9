"""Fold namespaces and ensemble architectures read from the project configuration."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import click
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, make_project
from xview3_pipeline.pipelines import structure
from xview3_pipeline.pipelines.training.pipeline import create_ensemble_pipeline, create_pipeline


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project copy as working directory, without KEDRO_ENV."""
    from kedro.framework.project import configure_project

    configure_project("xview3_pipeline")  # the project's settings (soft parameter merge)
    root = make_project(tmp_path / "project")
    monkeypatch.chdir(root)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    yield root


def _in_kedro_run(**options: object) -> click.Context:
    """A click context as ``kedro run`` has while the registry is built."""
    context = click.Context(click.Command("run"))
    context.params = {"env": None, "conf_source": None, "params": {}, **options}
    return context


def test_base_configuration_gives_four_folds_and_the_winners_architectures(project: Path):
    assert structure.n_folds() == 4
    assert structure.fold_namespaces() == ("fold_0", "fold_1", "fold_2", "fold_3")
    assert structure.ensemble_presets() == structure.WINNER_ENSEMBLE_PRESETS


def test_local_environment_and_kedro_env_override_the_fold_count(
    project: Path, monkeypatch: pytest.MonkeyPatch
):
    _write(project / "conf/local/parameters.yml", {"folds": {"n_folds": 3}})
    assert structure.fold_namespaces() == ("fold_0", "fold_1", "fold_2")
    _write(project / "conf/five/parameters_folds.yml", {"folds": {"n_folds": 5}})
    monkeypatch.setenv("KEDRO_ENV", "five")
    assert structure.n_folds() == 5
    # the soft merge keeps the rest of the base block
    assert structure.project_parameters()["folds"]["group_by"] == "scene"


def test_kedro_run_options_env_and_params_count(project: Path):
    _write(project / "conf/five/parameters_folds.yml", {"folds": {"n_folds": 5}})
    with _in_kedro_run(env="five"):
        assert structure.n_folds() == 5
        assert len(create_pipeline().nodes) == 3 * 5  # check, train, clear per fold
    with _in_kedro_run(env="five", params={"folds": {"n_folds": 2}}):
        assert structure.fold_namespaces() == ("fold_0", "fold_1")


def test_xview3_full_environment_lists_its_ensemble(project: Path):
    shutil.copytree(REPO / "conf/xview3_full", project / "conf/xview3_full")
    with _in_kedro_run(env="xview3_full"):
        presets = structure.ensemble_presets()
        ensemble = create_ensemble_pipeline()
    assert presets == ("b4_unet_s2", "b5_unet_s2", "v2s_unet_s2")
    assert len(ensemble.nodes) == 3 * 3 * 4
    assert {f"params:ensemble.{p}" for p in presets} <= ensemble.inputs()
    assert "b5_unet_s2.fold_3.model" in ensemble.all_outputs()


def test_ensemble_block_keys_are_the_architectures():
    params = {"ensemble": {"b4_unet_s2": {}, "cpu_small": {}}}
    assert structure.ensemble_presets(params) == ("b4_unet_s2", "cpu_small")
    with pytest.raises(ValueError, match="ensemble must map"):
        structure.ensemble_presets({"ensemble": ["b4_unet_s2"]})


@pytest.mark.parametrize("bad", [1, 0, -2, True, 2.5, "4"])
def test_fewer_than_two_folds_or_a_non_integer_is_refused(bad: object):
    with pytest.raises(ValueError, match=r"folds.n_folds must be an integer >= 2") as err:
        structure.n_folds({"folds": {"n_folds": bad}})
    assert repr(bad) in str(err.value)


def test_a_refused_fold_count_stops_the_registry(project: Path):
    _write(project / "conf/local/parameters.yml", {"folds": {"n_folds": 1}})
    with pytest.raises(
        ValueError, match=r"folds.n_folds must be an integer >= 2 .*got 1 in the configuration"
    ):
        create_pipeline()


def test_check_fold_count_refuses_a_count_the_registry_did_not_build(project: Path):
    structure.check_fold_count({"folds": {"n_folds": 4}})
    with pytest.raises(ValueError, match=r"n_folds is 3 in this run's parameters.*built with 4"):
        structure.check_fold_count({"folds": {"n_folds": 3}})
    with pytest.raises(ValueError, match="built with 5"):
        structure.check_fold_count({"folds": {"n_folds": 4}}, registered=5)


def test_checked_fold_refuses_a_fold_table_of_another_fold_count():
    table = pd.DataFrame({"scene_id": list("abcd"), "fold": [-1, 0, 1, 2]})
    assert structure.checked_fold({"n_folds": 3}, table, fold=2, n_namespaces=3) == 2
    with pytest.raises(ValueError, match=r"holds folds \[0, 1, 2\].*Rerun the folds pipeline"):
        structure.checked_fold({"n_folds": 4}, table, fold=0, n_namespaces=4)
    with pytest.raises(ValueError, match="n_folds is 4"):
        structure.checked_fold({"n_folds": 4}, table, fold=0, n_namespaces=3)


def test_each_fold_namespace_checks_then_trains_its_fold(project: Path):
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner

    pipeline = create_pipeline()
    assert {n.name for n in pipeline.nodes} == {
        f"fold_{k}.{name}"
        for k in range(4)
        for name in ("check_fold_node", "train_fold_node", "clear_training_work_node")
    }
    checks = pipeline.only_nodes_with_namespaces(["fold_2"]).only_nodes("fold_2.check_fold_node")
    catalog = DataCatalog()
    catalog["fold_assignments"] = pd.DataFrame({"fold": [0, 1, 2, 3, -1]})
    catalog["params:folds"] = {"n_folds": 4}
    assert SequentialRunner().run(checks, catalog)["fold_2.fold"].load() == 2
    catalog["params:folds"] = {"n_folds": 3}
    with pytest.raises(ValueError, match="n_folds is 3"):
        SequentialRunner().run(checks, catalog)


CLEANED_SOURCES = {"folds": {"label_sources": {"validation": 1.0, "train_cleaned": 0.25}}}


def test_training_reads_cleaned_labels_only_with_the_train_cleaned_source(project: Path):
    from xview3_pipeline.pipeline_registry import register_pipelines

    assert not structure.trains_on_cleaned_labels()
    assert "train_cleaned_labels" not in create_pipeline().inputs()
    assert "label_cleaning" in register_pipelines()
    assert not any(
        n.name.startswith("label_cleaning.") for n in register_pipelines()["__default__"].nodes
    )
    _write(project / "conf/local/parameters.yml", CLEANED_SOURCES)
    assert structure.trains_on_cleaned_labels()
    training = create_pipeline()
    assert "train_cleaned_labels" in training.inputs()
    assert all(
        "train_cleaned_labels" in n.inputs
        for n in training.nodes
        if n.name.endswith("train_fold_node")
    )
    default = register_pipelines()["__default__"]
    assert "train_cleaned_labels" not in default.inputs()  # label_cleaning makes it
    assert "train_cleaned_labels" in default.all_outputs()
    assert "label_cleaning.round_1.fold_0.train_fold_node" in {n.name for n in default.nodes}


def test_a_run_whose_cleaned_source_differs_from_the_registry_is_refused(project: Path):
    structure.check_label_sources({"folds": {"label_sources": {"validation": 1.0}}})
    with pytest.raises(
        ValueError, match=r"has 'train_cleaned' in this run's parameters.*built without"
    ):
        structure.check_label_sources(CLEANED_SOURCES)
    with pytest.raises(ValueError, match=r"lacks 'train_cleaned'.*built with it"):
        structure.check_label_sources({"folds": {}}, registered=True)
    table = pd.DataFrame({"scene_id": list("abc"), "fold": [-1, 0, 1]})
    folds = {"n_folds": 2, **CLEANED_SOURCES["folds"]}
    assert structure.checked_fold(folds, table, fold=1, n_namespaces=2, cleaned_labels=True) == 1
    with pytest.raises(ValueError, match="built without it"):
        structure.checked_fold(folds, table, fold=1, n_namespaces=2, cleaned_labels=False)


def test_label_cleaning_rounds_come_from_the_configuration(project: Path):
    from xview3_pipeline.pipelines.label_cleaning import create_pipeline as cleaning

    assert structure.label_cleaning_rounds() == 1
    _write(project / "conf/local/parameters.yml", {"label_cleaning": {"rounds": 2}})
    pipeline = cleaning()
    names = {n.name for n in pipeline.nodes}
    assert {
        f"label_cleaning.round_{r}.fold_{k}.train_fold_node" for r in (1, 2) for k in range(4)
    } <= names
    (round_2_teacher,) = (
        n for n in pipeline.nodes if n.name == "label_cleaning.round_2.fold_0.train_fold_node"
    )
    assert "label_cleaning.round_1.train_cleaned_labels" in round_2_teacher.inputs
    assert "label_cleaning.round_2.fold_assignments" in round_2_teacher.inputs
    assert pipeline.outputs() >= {"train_cleaned_labels"}
    for bad in (0, True, "2"):
        with pytest.raises(ValueError, match=r"label_cleaning\.rounds must be an integer >= 1"):
            structure.label_cleaning_rounds({"label_cleaning": {"rounds": bad}})
