"""``DaskRunner``: a Kedro runner that runs a pipeline's nodes as tasks on Dask distributed.

``kedro run --runner xview3_pipeline.runners.DaskRunner --pipelines training`` trains the
fold namespaces as concurrent tasks. How it works:

* **Tasks.** Each node is a task whose dependencies are the tasks of the nodes that
  write its inputs. Nodes joined by an output that only lives in memory run together in
  one task, in order (:mod:`xview3_pipeline.runners.groups`; ``memory_datasets="error"``
  refuses such outputs instead, naming them, before anything runs). So between tasks
  only persisted catalog entries are written and read: a training fold (whose fold
  number ``fold_k.fold`` is in memory) is one task of three nodes.
* **Catalog.** The workers get a plain ``DataCatalog`` of the pipeline's datasets,
  pickled once (paths are absolute, versioned entries carry the run's save version);
  every task unpickles its own copy, so in-memory data never leaks between tasks.
  Relative parameters (``raw_root``, ``training.work_dir``) resolve against the working
  directory, so a task refuses to run on a worker started elsewhere.
* **GPUs.** A task with a node tagged ``gpu`` (the fold training node) asks for
  ``{"GPU": 1}`` (``dask.resources``) when a worker of the cluster declares that
  resource (``dask worker ... --resources GPU=1``), so each fold trains on a GPU of its
  own. The runner's own ``LocalCluster`` on a machine with N GPUs has N workers, each
  declaring one GPU and seeing only its own (``CUDA_VISIBLE_DEVICES``).
* **Cluster.** ``address`` (runner argument), else ``XVIEW3_DASK_ADDRESS``, else the
  ``dask.address`` parameter; without one, a ``LocalCluster`` that lives for the run
  (``dask.n_workers``, ``dask.threads_per_worker``). The dashboard link is logged.
* **Errors.** A failing node raises :class:`NodeFailedError` naming the node and the
  worker (its traceback is logged). No node starts after a failure; the runner's own
  cluster is closed at once, while on an external cluster the nodes already running
  finish first (Dask cannot interrupt them), so nothing writes to ``data/`` once the
  run has ended. ``--runner-params retries=N`` retries a failed task first.
* **Hooks.** The session calls the pipeline hooks (``before_pipeline_run``: validation and
  the run lock; ``after_pipeline_run`` / ``on_pipeline_error``: its release) around the
  runner, as for every runner. Node and dataset hooks run in the workers, with a hook
  manager built there from the project's settings (as Kedro's ``ParallelRunner`` does);
  their state stays in the worker. ``node_hooks=False`` turns them off.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import kedro.framework.project as kedro_project
from distributed import Client, Event, LocalCluster, as_completed, get_worker, wait
from distributed.diagnostics.plugin import WorkerPlugin
from kedro.framework.hooks.manager import (
    _create_hook_manager,
    _NullPluginManager,
    _register_hooks,
    _register_hooks_entry_points,
)
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner, Task

from xview3_pipeline.runners.groups import (
    NodeGroup,
    check_persisted_channels,
    group_nodes,
    memory_outputs,
)
from xview3_pipeline.runners.settings import DaskSettings

if TYPE_CHECKING:
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)

#: Node tags whose tasks ask for the GPU resources.
GPU_TAGS: tuple[str, ...] = ("gpu",)
MEMORY_MODES = ("group", "error")


class NodeFailedError(RuntimeError):
    """A node of a distributed run raised; names the node and the worker."""

    def __init__(self, node_name: str, worker: str, error: str, remote_traceback: str = "") -> None:
        super().__init__(node_name, worker, error, remote_traceback)
        self.node_name = node_name
        self.worker = worker
        self.error = error
        self.remote_traceback = remote_traceback

    def __str__(self) -> str:
        return f"Node {self.node_name!r} failed on Dask worker {self.worker}: {self.error}"


@dataclass(frozen=True)
class TaskReport:
    """What one task of a run did.

    Attributes:
        name: The task's group name (a node's name, or a namespace such as ``fold_0``).
        nodes: The nodes it ran, in order.
        worker: The worker's address.
        started: Start, seconds since the epoch (worker clock).
        finished: End, seconds since the epoch (worker clock).
        resources: The resources the task held on the worker (``{"GPU": 1.0}``).
        skipped: Whether it stopped before its last node because the run had failed.
    """

    name: str
    nodes: tuple[str, ...]
    worker: str
    started: float
    finished: float
    resources: dict[str, float]
    skipped: bool = False


@dataclass(frozen=True)
class _TaskSpec:
    """Everything a worker needs besides the catalog to run one group."""

    group: NodeGroup
    run_id: str | None
    is_async: bool
    package_name: str | None
    node_hooks: bool
    stop_event: str
    cwd: str


def _worker_hook_manager(package_name: str | None, enabled: bool) -> PluginManager:
    """The project's hook manager, built in the worker (a ``PluginManager`` cannot travel)."""
    if not enabled or package_name is None:
        return cast("PluginManager", _NullPluginManager())  # what Kedro's runners use
    if package_name != kedro_project.PACKAGE_NAME:
        kedro_project.configure_project(package_name)
    manager = _create_hook_manager()
    _register_hooks(manager, kedro_project.settings.HOOKS)
    _register_hooks_entry_points(manager, kedro_project.settings.DISABLE_HOOKS_FOR_PLUGINS)
    return manager


def _run_group(
    spec: _TaskSpec, catalog_bytes: bytes, *dependencies: object
) -> tuple[TaskReport, dict[str, Any]]:
    """Run one group's nodes on a worker (``dependencies`` only order the tasks).

    Returns:
        The task's report and the group's free in-memory outputs.

    Raises:
        NodeFailedError: If a node fails (or the worker runs in another directory).
    """
    worker_state = get_worker()
    worker, started = worker_state.address, time.time()
    task = worker_state.state.tasks.get(worker_state.get_current_task())
    resources = dict(task.resource_restrictions or {}) if task is not None else {}
    if Path.cwd().resolve() != Path(spec.cwd):
        raise NodeFailedError(
            spec.group.nodes[0].name,
            worker,
            f"the worker runs in {Path.cwd()}, but the run in {spec.cwd}; relative "
            "parameters (raw_root, training.work_dir) resolve against it: start the "
            "workers from the project's root folder",
        )
    catalog = pickle.loads(catalog_bytes)  # a copy of this task's own
    hook_manager = _worker_hook_manager(spec.package_name, spec.node_hooks)
    stop = Event(spec.stop_event)
    ran: list[str] = []
    for node in spec.group.nodes:
        if stop.is_set():
            report = TaskReport(
                spec.group.name, tuple(ran), worker, started, time.time(), resources, True
            )
            return report, {}
        try:
            Task(
                node=node,
                catalog=catalog,
                is_async=spec.is_async,
                hook_manager=hook_manager,
                run_id=spec.run_id,
            ).execute()
        except Exception as error:
            raise NodeFailedError(
                node.name, worker, f"{type(error).__name__}: {error}", traceback.format_exc()
            ) from None
        ran.append(node.name)
    outputs = {name: catalog.load(name) for name in spec.group.free_memory_outputs}
    return TaskReport(spec.group.name, tuple(ran), worker, started, time.time(), resources), outputs


class _PinCudaDevice(WorkerPlugin):
    """Show each worker of a local cluster one GPU (before CUDA starts in it)."""

    def __init__(self, devices: tuple[str, ...]) -> None:
        self.devices = devices

    def setup(self, worker: Any) -> None:
        index = int(worker.name) if str(worker.name).isdigit() else 0  # LocalCluster: 0..n-1
        os.environ["CUDA_VISIBLE_DEVICES"] = self.devices[index % len(self.devices)]


def _cuda_devices() -> tuple[str, ...]:
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES`` or all of them)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(d.strip() for d in visible.split(",") if d.strip())
    import torch  # noqa: PLC0415  (only for a LocalCluster of the runner's own: workers stay light)

    return tuple(str(i) for i in range(torch.cuda.device_count()))


def _worker_catalog(pipeline: Pipeline, catalog: Any) -> bytes:
    """The pipeline's datasets as a plain, pickled ``DataCatalog`` for the workers.

    Raises:
        TypeError: Naming the datasets that cannot be pickled.
    """
    datasets = {n: catalog.get(n, fallback_to_runtime_pattern=True) for n in pipeline.datasets()}
    broken = []
    for name, dataset in sorted(datasets.items()):
        try:
            pickle.dumps(dataset)
        except Exception as error:  # any pickling failure: name the dataset
            broken.append(f"{name} ({type(error).__name__}: {error})")
    if broken:
        raise TypeError(
            "These datasets cannot be sent to Dask workers (they must pickle): " + "; ".join(broken)
        )
    return pickle.dumps(DataCatalog(datasets=datasets))


def _task_key(name: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.]+', '_', name).strip('_')}-{uuid.uuid4().hex}"


class DaskRunner(AbstractRunner):
    """Run a pipeline's nodes as tasks on a Dask distributed cluster (see the module doc).

    Every argument can be given on the command line, e.g.
    ``--runner-params address=tcp://10.0.0.5:8786,retries=1`` or
    ``--runner-params n_workers=2,dashboard=false``.
    """

    def __init__(
        self,
        *,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        resources: Mapping[str, float] | None = None,
        retries: int | None = None,
        gpu_tags: str | list[str] | tuple[str, ...] = GPU_TAGS,
        memory_datasets: str = "group",
        node_hooks: bool = True,
        dashboard: bool = True,
        is_async: bool = False,
    ) -> None:
        """Set up the runner; the client connects when a run starts.

        Args:
            address: Scheduler address (``tcp://host:8786``); see :class:`DaskSettings`
                for the environment variable and the ``dask`` parameters.
            n_workers: Workers of the runner's own ``LocalCluster``.
            threads_per_worker: Threads per worker of that cluster (default 1).
            resources: What a task of ``gpu_tags`` nodes asks for (default ``{"GPU": 1}``).
            retries: Retries of a failed task (default 0).
            gpu_tags: Node tags that need a GPU (one tag or several).
            memory_datasets: ``group`` (nodes joined by in-memory outputs share a task)
                or ``error`` (such outputs are refused before the run starts).
            node_hooks: Run the project's node and dataset hooks in the workers.
            dashboard: Serve the dashboard of the runner's own cluster
                (``dask.dashboard_address``, default ``:8787``).
            is_async: Load and save a node's datasets in threads (Kedro's option).

        Raises:
            ValueError: If ``memory_datasets`` is not one of ``group``, ``error``.
        """
        super().__init__(is_async=is_async)
        if memory_datasets not in MEMORY_MODES:
            raise ValueError(
                f"memory_datasets={memory_datasets!r}: expected one of {list(MEMORY_MODES)}."
            )
        self._arguments = {
            "address": address,
            "n_workers": n_workers,
            "threads_per_worker": threads_per_worker,
            "resources": dict(resources) if resources is not None else None,
            "retries": retries,
        }
        self._gpu_tags = (gpu_tags,) if isinstance(gpu_tags, str) else tuple(gpu_tags)
        self._memory_datasets = memory_datasets
        self._node_hooks = node_hooks
        self._dashboard = dashboard
        self._reports: list[TaskReport] = []

    @property
    def reports(self) -> tuple[TaskReport, ...]:
        """The tasks of the last run, in the order they finished."""
        return tuple(self._reports)

    def _get_executor(self, max_workers: int) -> None:
        return None  # the tasks go to Dask, not to an executor of Kedro's

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Check the pipeline, connect to the cluster and run the groups as tasks.

        Raises:
            MemoryChannelError: With ``memory_datasets="error"``, if nodes would hand
                each other data in memory (before any node runs).
            NodeFailedError: If a node fails.
        """
        self._reports = []
        if not pipeline.nodes:  # e.g. --only-missing-outputs with every output there
            return
        memory = memory_outputs(pipeline, catalog)
        if self._memory_datasets == "error":
            check_persisted_channels(pipeline, memory)
        groups = group_nodes(pipeline, memory)
        parameters = catalog.load("parameters") if "parameters" in catalog else {}
        settings = DaskSettings.resolve(self._arguments, parameters)
        catalog_bytes = _worker_catalog(pipeline, catalog)
        stop_event = f"xview3-stop-{uuid.uuid4().hex}"
        specs = {
            g.name: _TaskSpec(
                group=g,
                run_id=run_id,
                is_async=self._is_async,
                package_name=kedro_project.PACKAGE_NAME,
                node_hooks=self._node_hooks,
                stop_event=stop_event,
                cwd=str(Path.cwd().resolve()),
            )
            for g in groups
        }
        with self._client(settings) as (client, owned):
            resources = self._resources_for(client, settings, groups)
            shared = client.scatter(catalog_bytes, broadcast=True)
            futures: dict[str, Any] = {}
            for group in groups:
                futures[group.name] = client.submit(
                    _run_group,
                    specs[group.name],
                    shared,
                    *(futures[d] for d in group.dependencies),
                    key=_task_key(group.name),
                    resources=resources if group.has_tag(self._gpu_tags) else None,
                    retries=settings.retries,
                    pure=False,
                )
            stop = Event(stop_event, client=client)
            self._collect(futures, pipeline=pipeline, catalog=catalog, owned=owned, stop=stop)

    def _collect(
        self,
        futures: dict[str, Any],
        *,
        pipeline: Pipeline,
        catalog: Any,
        owned: bool,
        stop: Event,
    ) -> None:
        """Wait for the tasks; on the first failure stop the run and raise it."""
        done_nodes: list[Node] = []
        by_name = {node.name: node for node in pipeline.nodes}
        try:
            for future in as_completed(list(futures.values())):
                report, outputs = future.result()
                for name, data in outputs.items():
                    catalog.save(name, data)
                self._reports.append(report)
                done_nodes.extend(by_name[n] for n in report.nodes)
                logger.info(
                    "Completed %s on %s in %.1f s: %s",
                    report.name,
                    report.worker,
                    report.finished - report.started,
                    ", ".join(report.nodes),
                )
                logger.info("Completed %d out of %d tasks", len(self._reports), len(futures))
        except Exception as error:
            stop.set()
            if isinstance(error, NodeFailedError) and error.remote_traceback:
                logger.error("Node %s failed:\n%s", error.node_name, error.remote_traceback)
            if not owned:
                running = [f for f in futures.values() if not f.done()]
                if running:
                    logger.warning(
                        "Waiting for %d task(s) already running on the cluster to finish "
                        "(Dask cannot interrupt them); no new node starts.",
                        len(running),
                    )
                wait(running)
            self._suggest_resume_scenario(pipeline, done_nodes, catalog)
            raise

    @contextmanager
    def _client(self, settings: DaskSettings) -> Iterator[tuple[Client, bool]]:
        """A client on the configured scheduler, or on a ``LocalCluster`` of the run's own."""
        cluster = None
        if settings.address:
            try:
                client = Client(settings.address)
            except OSError as error:
                raise OSError(
                    f"Could not reach the Dask scheduler at {settings.address} (from "
                    f"{settings.address_source}): {error}"
                ) from error
        else:
            devices = _cuda_devices()
            cluster = self._local_cluster(settings, n_gpus=len(devices))
            client = Client(cluster)
            if devices:
                client.register_plugin(_PinCudaDevice(devices), name="xview3-pin-gpu")
        try:
            logger.info(
                "Dask %s with %d worker(s); dashboard: %s",
                f"scheduler {settings.address}" if settings.address else "LocalCluster",
                len(client.scheduler_info()["workers"]),
                client.dashboard_link
                if settings.address or (self._dashboard and settings.dashboard_address)
                else "off",
            )
            yield client, cluster is not None
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _local_cluster(self, settings: DaskSettings, n_gpus: int) -> LocalCluster:
        """One worker per GPU (each declaring ``GPU=1``), else one per CPU core."""
        n_workers = settings.n_workers or n_gpus or os.cpu_count() or 1
        dashboard = settings.dashboard_address if self._dashboard else None
        threads = settings.threads_per_worker
        env = {}
        if "OMP_NUM_THREADS" not in os.environ:  # torch's threads: the cores, shared out
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // (n_workers * threads)))
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            resources={"GPU": 1} if n_gpus else None,
            dashboard_address=dashboard,
            # without a dashboard the scheduler's HTTP routes still need a port: any free one
            scheduler_kwargs=None if dashboard else {"dashboard_address": ":0"},
            env=env,
        )

    def _resources_for(
        self, client: Client, settings: DaskSettings, groups: list[NodeGroup]
    ) -> dict[str, float] | None:
        """The GPU resources, if a worker declares them (else a task would wait forever)."""
        wanted = settings.gpu_resources
        gpu_groups = [g.name for g in groups if g.has_tag(self._gpu_tags)]
        if not gpu_groups:
            return None
        workers = client.scheduler_info()["workers"].values()
        if any(
            all(w.get("resources", {}).get(k, 0) >= v for k, v in wanted.items()) for w in workers
        ):
            logger.info("Tasks %s each ask for %s.", ", ".join(gpu_groups), wanted)
            return wanted
        logger.info(
            "No worker declares %s: the tasks %s run on any worker (start workers with "
            "`dask worker ... --resources GPU=1` to give each a GPU of its own).",
            wanted,
            ", ".join(gpu_groups),
        )
        return None
