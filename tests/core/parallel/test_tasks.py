"""run_tasks on a LocalCluster of 2 worker processes: same results as local, the shared
object sent once per worker, retries, failures isolated, resources checked, one connection
per run scope."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from xview3_pipeline.core.parallel import (
    ClusterResourceError,
    DaskConfig,
    ExecutorConfig,
    RemoteTaskError,
    SceneTask,
    TaskFailure,
    close_clusters,
    keep_clusters,
    run_tasks,
)
from xview3_pipeline.core.parallel import cluster as cluster_module


def _on(address: str, **settings: Any) -> ExecutorConfig:
    return ExecutorConfig("dask", DaskConfig(address=address, **settings))


class Shared:
    """A stand-in for a detector: notes every process it is unpickled in."""

    def __init__(self, log: str, offset: int) -> None:
        self.log, self.offset = log, offset

    def __reduce__(self) -> tuple[Any, ...]:
        return _arrive, (self.log, self.offset)


def _arrive(log: str, offset: int) -> Shared:
    with open(log, "a") as out:
        out.write(f"{os.getpid()}\n")
    return Shared(log, offset)


def _square(shared: Shared, x: int) -> tuple[int, int]:
    return shared.offset + x * x, os.getpid()


def _flaky(shared: None, marker: str) -> str:
    """Fails on its first try (a transient error), succeeds on the next."""
    path = Path(marker)
    with path.open("a") as out:
        out.write("try\n")
    if len(path.read_text().splitlines()) == 1:
        raise OSError(f"{marker}: transient read error")
    return "ok"


def _broken(shared: None, marker: str) -> str:
    with Path(marker).open("a") as out:
        out.write("try\n")
    raise ValueError(f"{marker}: corrupt raster")


def _tasks(shared: Shared, n: int) -> list[SceneTask]:
    return [SceneTask(f"s{i}", f"raw/s{i}", _square, (i,), shared) for i in range(n)]


def test_dask_gives_the_local_results_and_ships_the_shared_object_once(
    dask_cluster: str, tmp_path: Path
) -> None:
    log = tmp_path / "arrivals.txt"
    shared = Shared(str(log), 10)
    local = {t.name: r[0] for t, r in run_tasks(_tasks(shared, 12))}
    assert not log.exists()  # nothing is pickled locally
    remote = dict(run_tasks(_tasks(shared, 12), _on(dask_cluster), label="square"))
    expected = {f"s{i}": 10 + i * i for i in range(12)}
    assert {t.name: r[0] for t, r in remote.items()} == local == expected
    pids = {r[1] for r in remote.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # Sent to the workers with the scatter (Dask's replication may hand a worker a second
    # copy), never with each of the 12 tasks.
    arrivals = log.read_text().splitlines()
    assert len(set(arrivals)) <= 2 and len(arrivals) <= 2 * len(set(arrivals)) < 12


def test_a_failing_task_is_retried_then_reported_while_the_others_finish(
    dask_cluster: str, tmp_path: Path
) -> None:
    flaky, broken = tmp_path / "flaky.txt", tmp_path / "broken.txt"
    tasks = [
        SceneTask("flaky", "raw/flaky", _flaky, (str(flaky),)),
        SceneTask("broken", "raw/broken", _broken, (str(broken),)),
        *_tasks(Shared(str(tmp_path / "log.txt"), 0), 2),
    ]
    results = {t.name: r for t, r in run_tasks(tasks, _on(dask_cluster, retries=1))}
    assert results["flaky"] == "ok" and len(flaky.read_text().splitlines()) == 2
    failure = results["broken"]
    assert isinstance(failure, TaskFailure) and failure.source == "raw/broken"
    assert failure.error == f"ValueError: {broken}: corrupt raster"
    assert isinstance(failure.exception, RemoteTaskError)
    assert "in _broken" in failure.exception.remote_traceback
    assert len(broken.read_text().splitlines()) == 2  # the first try and one retry
    assert [results["s0"][0], results["s1"][0]] == [0, 1]
    # without retries the transient error is reported
    flaky.unlink()
    [(_, again)] = run_tasks(tasks[:1], _on(dask_cluster, retries=0))
    assert isinstance(again, TaskFailure) and "transient read error" in again.error


def test_resources_no_worker_offers_fail_before_any_task(dask_cluster: str) -> None:
    tasks = _tasks(Shared("unused", 0), 1)
    with pytest.raises(ClusterResourceError, match=r"\{'GPU': 1.0\}.*--resources GPU=1"):
        list(run_tasks(tasks, _on(dask_cluster, resources={"GPU": 1})))


def test_no_tasks_start_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(config: DaskConfig) -> None:
        raise AssertionError("a cluster was started for nothing")

    monkeypatch.setattr(cluster_module, "_connect", refuse)
    assert list(run_tasks([], ExecutorConfig("dask"))) == []


def test_a_run_scope_keeps_one_connection(
    dask_cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    connect = cluster_module._connect

    def counting(config: DaskConfig) -> Any:
        opened.append(connect(config))
        return opened[-1]

    monkeypatch.setattr(cluster_module, "_connect", counting)
    tasks = _tasks(Shared(str(tmp_path / "log.txt"), 1), 2)
    keep_clusters()
    try:
        for _ in range(2):
            assert len(list(run_tasks(tasks, _on(dask_cluster)))) == 2
        assert len(opened) == 1 and opened[0].client.status == "running"
    finally:
        close_clusters()
    assert opened[0].client.status == "closed"
    list(run_tasks(tasks, _on(dask_cluster)))  # outside a scope: its own, closed at once
    assert len(opened) == 2 and opened[1].client.status == "closed"


def _stage_inside_a_worker(address: str) -> str:
    """What a per-scene stage with ``executor: dask`` would do inside a DaskRunner task."""
    with cluster_module.dask_client(DaskConfig(address=address)):
        return "connected"


def test_a_dask_stage_inside_a_dask_worker_is_refused(dask_cluster: str) -> None:
    from distributed import Client

    with Client(dask_cluster) as client:
        future = client.submit(_stage_inside_a_worker, dask_cluster, pure=False)
        with pytest.raises(cluster_module.NestedClusterError, match="do not nest"):
            future.result(timeout=60)
