"""Nodes joined by in-memory outputs share a task; persisted entries connect the tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.pickle import PickleDataset

from xview3_pipeline.runners.groups import (
    MemoryChannelError,
    check_persisted_channels,
    group_nodes,
    memory_outputs,
)


def _identity(x: object) -> object:
    return x


def _pair(x: object, y: object) -> object:
    return (x, y)


def _split(x: object) -> tuple[object, object]:
    return x, x


def _node(inputs: str | list[str], output: str, name: str) -> Node:
    func = _pair if isinstance(inputs, list) else _identity
    return Node(func=func, inputs=inputs, outputs=output, name=name)


def _files(tmp_path: Path, *names: str) -> DataCatalog:
    return DataCatalog(
        datasets={n: PickleDataset(filepath=str(tmp_path / f"{n}.pkl")) for n in names}
    )


def test_memory_outputs_are_undeclared_or_ephemeral(tmp_path: Path) -> None:
    pipe = Pipeline(
        [_node("raw", "file", "a"), _node("file", "declared", "b"), _node("declared", "x", "c")]
    )
    catalog = _files(tmp_path, "raw", "file")
    catalog["declared"] = MemoryDataset()
    assert memory_outputs(pipe, catalog) == {"declared", "x"}


def test_groups_join_memory_channels_and_keep_file_channels_apart() -> None:
    pipe = Pipeline(
        [
            _node("raw", "mem", "make"),
            _node("mem", "file_a", "use_a"),
            _node("mem", "file_b", "use_b"),
            _node("file_a", "file_c", "later"),
        ]
    )
    groups = group_nodes(pipe, {"mem"})
    by_name = {g.name: g for g in groups}
    assert set(by_name) == {"make (+2 nodes)", "later"}
    joined = by_name["make (+2 nodes)"]
    assert joined.nodes[0].name == "make" and {n.name for n in joined.nodes} == {
        "make",
        "use_a",
        "use_b",
    }
    assert by_name["later"].dependencies == ("make (+2 nodes)",)
    assert [g.name for g in groups] == ["make (+2 nodes)", "later"]  # topological


def test_a_group_that_would_wait_on_itself_takes_in_the_node_between() -> None:
    # make -> (memory) -> finish, and make -> (file) -> middle -> (file) -> finish: grouping
    # {make, finish} alone would make it and middle depend on each other.
    pipe = Pipeline(
        [
            Node(func=_split, inputs="raw", outputs=["mem", "file_1"], name="make"),
            _node("file_1", "file_2", "middle"),
            _node(["mem", "file_2"], "out", "finish"),
        ]
    )
    (group,) = group_nodes(pipe, {"mem"})
    assert [n.name for n in group.nodes] == ["make", "middle", "finish"]
    assert group.dependencies == ()


def test_namespace_groups_are_named_after_it_and_free_memory_outputs_come_back() -> None:
    fold = Pipeline([_node("shared", "fold", "check"), _node("fold", "model", "train")])
    pipe = Pipeline([Pipeline(fold, namespace=f"fold_{k}", inputs={"shared"}) for k in (0, 1)])
    groups = group_nodes(pipe, {"fold_0.fold", "fold_1.fold", "fold_1.model"})
    assert sorted(g.name for g in groups) == ["fold_0", "fold_1"]
    by_name = {g.name: g for g in groups}
    assert by_name["fold_1"].free_memory_outputs == ("fold_1.model",)
    assert by_name["fold_0"].free_memory_outputs == ()


def test_error_mode_names_each_memory_output_with_its_producer_and_readers() -> None:
    pipe = Pipeline([_node("raw", "mem", "make"), _node("mem", "out", "use")])
    with pytest.raises(MemoryChannelError, match=r"mem \(make -> use\)\n  out \(use -> the run"):
        check_persisted_channels(pipe, {"mem", "out"})
    check_persisted_channels(pipe, set())
