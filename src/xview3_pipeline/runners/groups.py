"""Tasks of a distributed run: the nodes of a pipeline grouped by their in-memory channels.

A node output that has no file behind it (a ``MemoryDataset``, declared or the runner's
default for an undeclared name, or any dataset whose ``_EPHEMERAL`` flag is set) cannot
travel from one worker process to another. :func:`memory_outputs` finds those outputs;
:func:`group_nodes` puts every node that produces or consumes one of them into the same
task, so that between tasks only persisted catalog entries are read and written;
:func:`check_persisted_channels` refuses such outputs instead, naming them.

In the ``training`` pipeline the fold number ``fold_k.fold`` is such an output (of
``fold_k.check_fold_node``, read by the fold's two other nodes), so each fold namespace is
one task of three nodes.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node


class MemoryChannelError(ValueError):
    """Node outputs that only live in memory where only persisted entries may connect nodes."""


@dataclass(frozen=True)
class NodeGroup:
    """Nodes that run together, in order, as one task of a distributed run.

    Attributes:
        name: The group's name: its node's name, or the namespace all its nodes share
            (``fold_0``), or its first node's name and the number of the others.
        nodes: The nodes, in a topological order of the pipeline.
        dependencies: Names of the groups whose outputs these nodes read.
        free_memory_outputs: Outputs of the run (no node of the pipeline reads them)
            that only live in memory; the task hands them back to the runner.
    """

    name: str
    nodes: tuple[Node, ...]
    dependencies: tuple[str, ...]
    free_memory_outputs: tuple[str, ...]

    def has_tag(self, tags: Iterable[str]) -> bool:
        """Whether any node of the group carries one of ``tags``."""
        wanted = set(tags)
        return any(wanted & node.tags for node in self.nodes)


def memory_outputs(pipeline: Pipeline, catalog: Any) -> set[str]:
    """Node outputs of ``pipeline`` that ``catalog`` keeps only in memory.

    Args:
        pipeline: The pipeline of the run.
        catalog: The run's catalog (``kedro.io.DataCatalog`` or compatible).

    Returns:
        The names of outputs that are undeclared (the runner's default MemoryDataset),
        declared as ``MemoryDataset``, or otherwise ephemeral (``_EPHEMERAL``).
    """
    found = set()
    for name in pipeline.all_outputs():
        dataset = catalog.get(name, fallback_to_runtime_pattern=True)
        if dataset is None or getattr(dataset, "_EPHEMERAL", False):
            found.add(name)
    return found


def _consumers(pipeline: Pipeline) -> dict[str, list[Node]]:
    readers: dict[str, list[Node]] = defaultdict(list)
    for node in pipeline.nodes:
        for name in node.inputs:
            readers[name].append(node)
    return readers


def check_persisted_channels(pipeline: Pipeline, memory: set[str]) -> None:
    """Refuse a run whose nodes would hand each other data in memory.

    Args:
        pipeline: The pipeline of the run.
        memory: Its in-memory outputs (:func:`memory_outputs`).

    Raises:
        MemoryChannelError: Naming each in-memory output with its producer and readers.
    """
    if not memory:
        return
    readers = _consumers(pipeline)
    producers = {name: node.name for node in pipeline.nodes for name in node.outputs}
    lines = []
    for name in sorted(memory):
        read_by = ", ".join(sorted(n.name for n in readers.get(name, []))) or "the run's result"
        lines.append(f"  {name} ({producers[name]} -> {read_by})")
    raise MemoryChannelError(
        "On Dask only persisted catalog entries may connect nodes, but these node outputs "
        "only live in memory:\n" + "\n".join(lines) + "\nDeclare each in the catalog with "
        "a file-backed dataset, or run with --runner-params memory_datasets=group to run "
        "the nodes that share them together in one task."
    )


class _Partition:
    """Union-find over node names."""

    def __init__(self, names: Iterable[str]) -> None:
        self._parent = {name: name for name in names}

    def find(self, name: str) -> str:
        root = name
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[name] != root:
            self._parent[name], name = root, self._parent[name]
        return root

    def union(self, names: Iterable[str]) -> None:
        roots = [self.find(n) for n in names]
        for other in roots[1:]:
            self._parent[self.find(other)] = self.find(roots[0])


def _merge_cycles(pipeline: Pipeline, partition: _Partition) -> dict[str, set[str]]:
    """Merge groups until the graph of groups is acyclic; return root -> parent roots.

    Grouping ``A -> (memory) -> B`` where ``A -> C -> B`` through files would make the
    group {A, B} and C depend on each other: C joins the group.
    """
    while True:
        graph: dict[str, set[str]] = defaultdict(set)
        for node, parents in pipeline.node_dependencies.items():
            group = partition.find(node.name)
            graph[group] |= {partition.find(p.name) for p in parents} - {group}
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as cycle:
            partition.union(cycle.args[1])
        else:
            return graph


def _group_name(nodes: list[Node], pipeline_namespaces: Mapping[str, int]) -> str:
    if len(nodes) == 1:
        return nodes[0].name
    namespaces = {node.namespace for node in nodes}
    namespace = namespaces.pop() if len(namespaces) == 1 else None
    if namespace and pipeline_namespaces[namespace] == len(nodes):
        return namespace  # the whole namespace, e.g. a fold
    return f"{nodes[0].name} (+{len(nodes) - 1} nodes)"


def group_nodes(pipeline: Pipeline, memory: set[str]) -> list[NodeGroup]:
    """The tasks of a run: nodes joined by in-memory outputs run in one task.

    Args:
        pipeline: The pipeline of the run.
        memory: Its in-memory outputs (:func:`memory_outputs`).

    Returns:
        The groups in a topological order; a node without in-memory channels is a group
        of its own. Every producer and reader of an in-memory output share a group, and
        the groups' dependencies form a DAG (groups on a cycle are merged).
    """
    partition = _Partition(node.name for node in pipeline.nodes)
    readers = _consumers(pipeline)
    for node in pipeline.nodes:
        for name in set(node.outputs) & memory:
            partition.union([node.name, *(r.name for r in readers.get(name, []))])
    graph = _merge_cycles(pipeline, partition)
    members: dict[str, list[Node]] = defaultdict(list)
    for node in pipeline.nodes:  # topological order, kept inside each group
        members[partition.find(node.name)].append(node)
    counts: dict[str, int] = defaultdict(int)
    for node in pipeline.nodes:
        if node.namespace:
            counts[node.namespace] += 1
    names = {root: _group_name(nodes, counts) for root, nodes in members.items()}
    free = pipeline.outputs() & memory
    order = graphlib.TopologicalSorter({root: graph.get(root, set()) for root in members})
    return [
        NodeGroup(
            name=names[root],
            nodes=tuple(members[root]),
            dependencies=tuple(sorted(names[p] for p in graph.get(root, set()))),
            free_memory_outputs=tuple(sorted(free & {o for n in members[root] for o in n.outputs})),
        )
        for root in order.static_order()
    ]
