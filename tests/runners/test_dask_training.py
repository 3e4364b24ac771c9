"""Fold training through Kedro on a Dask LocalCluster: the sequential runner's models, in parallel.

One test function on purpose: pytest-xdist spreads the tests of a module over its workers,
and each would prepare the project (data, folds, a sequential training) and a cluster.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner
from distributed import LocalCluster
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import TINY_SYNTHETIC, TINY_TRAINING, make_project, run_kedro
from xview3_pipeline.pipelines.structure import fold_namespaces
from xview3_pipeline.run_lock import LOCK_FILE
from xview3_pipeline.runners import DaskRunner, MemoryChannelError, NodeFailedError

#: Timings differ from run to run; everything else in a history must not.
TIMING_COLUMNS = ["epoch_time_s"]


def _artefacts(project: Path) -> dict[str, tuple[dict[str, torch.Tensor], pd.DataFrame]]:
    """Each fold's newest checkpoint's weights and its history (without timings)."""
    found = {}
    for namespace in fold_namespaces():
        newest = sorted(
            (project / "data/06_models/default" / namespace / "model.pt").glob("*/model.pt")
        )
        weights = torch.load(newest[-1], weights_only=True)["state_dict"]
        history = pd.read_csv(
            project / "data/08_reporting/default/training" / namespace / "history.csv"
        )
        found[namespace] = (weights, history.drop(columns=TIMING_COLUMNS))
    return found


def _assert_same_models(ours: dict, reference: dict) -> None:
    assert set(ours) == set(reference)
    for namespace, (weights, history) in ours.items():
        expected, expected_history = reference[namespace]
        assert list(weights) == list(expected)
        assert all(weights[k].shape == expected[k].shape for k in expected)
        # seeded CPU training is deterministic: the very same weights, bit for bit
        assert all(torch.equal(weights[k], expected[k]) for k in expected), namespace
        pd.testing.assert_frame_equal(history, expected_history)


def _check_folds_ran_concurrently(runner: DaskRunner, project: Path) -> None:
    reports = {r.name: r for r in runner.reports}
    assert set(reports) == set(fold_namespaces())  # one task per fold namespace
    first, second = reports.values()
    assert len(first.nodes) == 3 and first.nodes[0].endswith(".check_fold_node")
    assert first.worker != second.worker
    assert first.started < second.finished and second.started < first.finished
    assert first.resources == second.resources == {"GPU": 1.0}  # one GPU each
    work = project / "data/06_models/default/training_work/cpu_small"
    assert not any(work.glob("fold_*"))  # each fold's work folder was cleared


def _memory_channels_refused_on_the_command_line(project: Path, address: str) -> None:
    # `kedro run ...`: Kedro's click command, in this process
    command = [
        "--runner",
        "xview3_pipeline.runners.DaskRunner",
        "--runner-params",
        f"address={address},memory_datasets=error",
        "--pipelines",
        "training",
    ]
    result = CliRunner().invoke(kedro_run, command)
    assert isinstance(result.exception, MemoryChannelError), result.output[-3000:]
    assert "fold_0.fold (fold_0.check_fold_node ->" in str(result.exception)
    assert not (project / "data" / LOCK_FILE).exists()  # on_pipeline_error released it


def _failing_fold_is_named(project: Path, address: str) -> None:
    blocker = project / "data/06_models/default/fold_1"
    models_before = sorted((project / "data/06_models").rglob("model.pt"))
    moved = blocker.rename(blocker.with_name("fold_1.saved"))
    blocker.write_text("a file where the model's folder should be")  # the save fails
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        with pytest.raises(NodeFailedError, match=r"Node 'fold_1.train_fold_node' failed") as info:
            session.run(
                pipeline_names=["training"],
                namespaces=["fold_1"],
                runner=DaskRunner(address=address),
            )
    assert "fold_1.model" in info.value.error
    assert not (project / "data" / LOCK_FILE).exists()  # on_pipeline_error released it
    blocker.unlink()
    moved.rename(blocker)
    assert sorted((project / "data/06_models").rglob("model.pt")) == models_before


def test_fold_training_on_dask_matches_the_sequential_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "project")
    local = {"folds": {"n_folds": 2}} | TINY_TRAINING
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump(local))
    monkeypatch.chdir(project)
    run_kedro(project, ["synthetic_data"], TINY_SYNTHETIC)
    # Dask's nannies give each worker one thread (OMP_NUM_THREADS=1); CPU kernels sum in
    # another order with more threads, so the reference trains with one thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_kedro(project, ["ingestion", "locations", "folds", "training"], TINY_SYNTHETIC)
    finally:
        torch.set_num_threads(threads)
    reference = _artefacts(project)

    # Workers start in the project (relative parameters resolve there) and declare a GPU.
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        resources={"GPU": 1},
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
    ) as cluster:
        runner = DaskRunner(address=cluster.scheduler_address)
        bootstrap_project(project)
        with KedroSession.create(project_path=project) as session:
            session.run(pipeline_names=["training"], runner=runner)
        _assert_same_models(_artefacts(project), reference)
        _check_folds_ran_concurrently(runner, project)
        _memory_channels_refused_on_the_command_line(project, cluster.scheduler_address)
        _failing_fold_is_named(project, cluster.scheduler_address)
