"""``kedro airflow create`` (kedro-airflow 0.11) writes a DAG of the default pipeline.

``--group-by namespace`` gives one task per top-level namespace (each fold, ``cnn``,
``cfar``, ``ingestion``) and one per node outside a namespace. The DAG imports Airflow, which the project does not install: the file is read with ``ast``.
"""

from __future__ import annotations

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_airflow.plugin import commands as airflow_commands

from tests.conftest import make_project
from xview3_pipeline.pipelines.structure import fold_namespaces
from xview3_pipeline.runners.groups import memory_outputs


def _tasks(dag: ast.Module) -> dict[str, tuple[str, list[str]]]:
    """task_id -> ("namespaces" or "node_names", what the task runs)."""
    found = {}
    for function in ast.walk(dag):
        if not isinstance(function, ast.FunctionDef):
            continue
        for decorator in function.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "task":
                (task_id,) = (k.value.value for k in decorator.keywords if k.arg == "task_id")
                body = ast.Module(body=function.body, type_ignores=[])
                (call,) = (n for n in ast.walk(body) if isinstance(n, ast.Call))
                (argument,) = call.keywords
                found[task_id] = (argument.arg, [e.value for e in argument.value.elts])
    return found


def _edges(dag: ast.Module) -> dict[str, set[str]]:
    """task_id -> the task ids it waits for (``tasks["a"] >> tasks["b"]``)."""
    parents: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(dag):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            parent, child = (side.slice.value for side in (node.left, node.right))
            parents[child].add(parent)
    return parents


def test_airflow_dag_of_the_default_pipeline_has_a_task_per_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "project")
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump({"folds": {"n_folds": 2}}))
    monkeypatch.chdir(project)
    # `kedro airflow create ...`, the plugin's click command, in this process
    metadata = bootstrap_project(project)
    command = ["airflow", "create", "--pipelines", "__default__", "--group-by", "namespace"]
    result = CliRunner().invoke(airflow_commands, command, obj=metadata)
    assert result.exit_code == 0, result.output[-3000:]
    dag = ast.parse((project / "airflow_dags/xview3_pipeline_dag.py").read_text())

    default = pipelines["__default__"]
    namespaces = {n.namespace.split(".")[0] for n in default.nodes if n.namespace}
    assert set(fold_namespaces()) | {"ingestion", "cnn", "cfar"} <= namespaces
    tasks = _tasks(dag)
    runs = {tuple(what) for kind, what in tasks.values() if kind == "namespaces"}
    assert runs == {(ns,) for ns in namespaces}  # one task per namespace
    plain = [what for kind, what in tasks.values() if kind == "node_names"]
    assert sorted(n for names in plain for n in names) == sorted(
        n.name for n in default.nodes if not n.namespace
    )
    parents = _edges(dag)
    assert set(parents) | {p for ps in parents.values() for p in ps} <= set(tasks)
    tuple(graphlib.TopologicalSorter(parents).static_order())  # acyclic
    assert {ns.replace("_", "-") for ns in fold_namespaces()} <= parents["cnn"]

    # Tasks share only persisted entries: an in-memory output stays inside its task.
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
    task_of = {n.name: n.namespace.split(".")[0] if n.namespace else n.name for n in default.nodes}
    for name in memory_outputs(default, catalog):
        (producer,) = default.only_nodes_with_outputs(name).nodes
        readers = default.only_nodes_with_inputs(name).nodes
        assert {task_of[r.name] for r in readers} <= {task_of[producer.name]}, name
