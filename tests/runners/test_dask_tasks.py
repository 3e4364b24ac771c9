"""The DaskRunner on a LocalCluster of its own, with a few tiny nodes (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from kedro_datasets.pickle import PickleDataset

from xview3_pipeline.runners import DaskRunner, MemoryChannelError, NodeFailedError


def double(numbers: list[int]) -> list[int]:
    """Each number twice."""
    return [2 * n for n in numbers]


def total(numbers: list[int]) -> int:
    """The sum."""
    return sum(numbers)


def largest(numbers: list[int]) -> int:
    """The largest number."""
    return max(numbers)


def plus_one(number: int) -> int:
    """The number after."""
    return number + 1


def explode(numbers: list[int]) -> list[int]:
    """Refuse the numbers."""
    raise ValueError(f"bad value {numbers[-1]}")


def _catalog(tmp_path: Path, *names: str) -> DataCatalog:
    catalog = DataCatalog(
        datasets={n: PickleDataset(filepath=str(tmp_path / f"{n}.pkl")) for n in names}
    )
    catalog.save("numbers", [1, 2, 3])
    return catalog


#: ``doubled`` and ``largest`` are in memory: double, total and largest share one task.
PIPELINE = Pipeline(
    [
        Node(func=double, inputs="numbers", outputs="doubled", name="double_node"),
        Node(func=total, inputs="doubled", outputs="total", name="total_node"),
        Node(func=largest, inputs="doubled", outputs="largest", name="largest_node"),
        Node(func=plus_one, inputs="total", outputs="next", name="next_node"),
    ]
)


def test_memory_channels_share_a_task_and_files_connect_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    catalog = _catalog(tmp_path, "numbers", "total", "next")
    runner = DaskRunner(n_workers=1, dashboard=False)
    result = runner.run(PIPELINE, catalog)
    assert catalog.load("total") == 12 and catalog.load("next") == 13
    assert result["largest"].load() == 6  # a free in-memory output comes back
    expected = SequentialRunner().run(PIPELINE, _catalog(tmp_path / "seq", "numbers"))
    assert result["largest"].load() == expected["largest"].load()
    first, second = runner.reports
    assert first.name == "double_node (+2 nodes)" and second.name == "next_node"
    assert first.nodes[0] == "double_node"
    assert set(first.nodes) == {"double_node", "total_node", "largest_node"}
    assert first.finished <= second.started  # the file total connects them
    assert first.resources == {} and not first.skipped
    with pytest.raises(MemoryChannelError, match=r"doubled \(double_node -> largest_node"):
        DaskRunner(memory_datasets="error").run(PIPELINE, catalog)
    # nothing left to run: no cluster is started
    idle = DaskRunner(address="tcp://nowhere:1")
    assert idle.run(PIPELINE, catalog, only_missing_outputs=True) == {} and not idle.reports


def test_a_failing_node_is_named_and_its_readers_never_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    failing = Pipeline(
        [
            Node(func=explode, inputs="numbers", outputs="checked", name="explode_node"),
            Node(func=total, inputs="checked", outputs="total", name="total_node"),
        ]
    )
    catalog = _catalog(tmp_path, "numbers", "checked", "total")
    with pytest.raises(NodeFailedError, match=r"Node 'explode_node' failed on Dask worker") as info:
        DaskRunner(n_workers=1, dashboard=False).run(failing, catalog)
    assert info.value.node_name == "explode_node"
    assert "ValueError: bad value 3" in str(info.value)
    assert "raise ValueError" in info.value.remote_traceback
    assert not catalog.exists("checked") and not catalog.exists("total")
