"""One task per scene, run here or on a Dask cluster, with failures isolated per scene.

:func:`run_tasks` is the one loop every per-scene stage goes through. A
:class:`SceneTask` is ``fn(shared, *args)``: ``shared`` is the heavy object the tasks of a
stage have in common (the detector), ``args`` are small (the scene, an output path). With
the ``local`` executor the tasks run one after the other in this process. With ``dask``:

* every distinct ``shared`` object is sent once to every worker
  (``client.scatter(..., broadcast=True)``), and the tasks receive it from the worker's
  memory: a detector is never pickled into every task. (A detector can also pickle as a
  recipe; the exported CircleNet ensemble pickles as its file and is loaded once per
  worker process, see :mod:`xview3_pipeline.core.detection.cnn.transport`.)
* each task is submitted with ``dask.retries`` and ``dask.resources``; what it returns
  comes back to this process, so tasks return small things (a path, a row count, a
  candidate table), never rasters;
* results are yielded as tasks finish, with a progress bar; a task that still fails after
  its retries is yielded as a :class:`TaskFailure` with its error while the others go on;
* when the consumer stops early (it raises on the first failure, or is interrupted), the
  tasks not yet finished are cancelled, and the client (and a ``LocalCluster`` it started)
  is closed as for a normal end.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from xview3_pipeline.core.io.parquet import write_parquet_atomic
from xview3_pipeline.core.parallel.config import ExecutorConfig

__all__ = [
    "ClusterTaskLostError",
    "RemoteTaskError",
    "SceneTask",
    "TaskFailure",
    "run_tasks",
    "table_task",
]

logger = logging.getLogger(__name__)


class ClusterTaskLostError(RuntimeError):
    """The cluster lost a task without an error of its own (e.g. the scheduler went away)."""


class RemoteTaskError(Exception):
    """A task's error as it crosses from a worker: ``ExceptionType: message`` and traceback.

    Errors of any type cross intact this way (Dask hands back a bare ``Exception`` with
    the repr of an error that does not pickle, as rasterio's do), so a scene's error
    reads the same with both executors.

    Attributes:
        error: ``ExceptionType: message`` of the original error.
        remote_traceback: Its traceback on the worker, as text.
    """

    def __init__(self, error: str, remote_traceback: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.error, self.remote_traceback)


@dataclass(frozen=True)
class SceneTask:
    """The work on one scene: ``fn(shared, *args)``.

    Attributes:
        name: The scene id (names the task on the dashboard and in errors).
        source: The scene's file or folder, named when the task fails.
        fn: A module-level function (workers import it by name).
        args: Small picklable arguments.
        shared: The object the stage's tasks share (e.g. the detector), or ``None``.
    """

    name: str
    source: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    shared: Any = None


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised (after its retries, on a cluster).

    Attributes:
        name: The scene id.
        source: The scene's file or folder.
        error: ``ExceptionType: message``.
        exception: The exception itself (re-raised from the worker), for chaining.
    """

    name: str
    source: str
    error: str
    exception: BaseException | None = None


def table_task(
    shared: Any,
    run: Callable[..., pd.DataFrame],
    target: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> pd.DataFrame | int:
    """A task computing one table: ``run(shared)`` (``run()`` without ``shared``).

    With a ``target`` the process that ran it also writes the table there
    (:func:`~xview3_pipeline.core.io.parquet.write_parquet_atomic`, with ``metadata``) and
    returns only its number of rows, so the table does not cross the scheduler.

    Returns:
        The table, or its number of rows when written.
    """
    frame = run() if shared is None else run(shared)
    if target is None:
        return frame
    write_parquet_atomic(frame, target, metadata)
    return len(frame)


def _error_text(exc: BaseException) -> str:
    return exc.error if isinstance(exc, RemoteTaskError) else f"{type(exc).__name__}: {exc}"


def _failure(task: SceneTask, exc: BaseException) -> TaskFailure:
    return TaskFailure(task.name, task.source, _error_text(exc), exc)


def _call(fn: Callable[..., Any], shared: Any, args: tuple[Any, ...]) -> Any:
    """What a task runs (here or on a worker)."""
    return fn(shared, *args)


def _remote_call(fn: Callable[..., Any], shared: Any, args: tuple[Any, ...]) -> Any:
    """What a task runs on a worker; its error crosses as a :class:`RemoteTaskError`."""
    try:
        return fn(shared, *args)
    except Exception as exc:
        error = RemoteTaskError(_error_text(exc), traceback.format_exc())
    # Raised outside the handler, so that it carries no __context__: Dask pickles the
    # chain, and one unpicklable link would turn it into a bare Exception.
    raise error


def _run_local(tasks: Sequence[SceneTask]) -> Generator[tuple[SceneTask, Any], None, None]:
    for task in tasks:
        try:
            result = _call(task.fn, task.shared, task.args)
        except Exception as exc:
            yield task, _failure(task, exc)
            continue
        yield task, result


def _run_dask(
    tasks: Sequence[SceneTask], config: ExecutorConfig, label: str
) -> Generator[tuple[SceneTask, Any], None, None]:
    from distributed import as_completed  # noqa: PLC0415 (only with executor=dask)

    from xview3_pipeline.core.parallel.cluster import dask_client  # noqa: PLC0415

    settings = config.dask
    with dask_client(settings) as client:
        shared: dict[int, Any] = {}
        for task in tasks:
            if task.shared is not None and id(task.shared) not in shared:
                shared[id(task.shared)] = client.scatter(task.shared, broadcast=True, hash=False)
        run = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                _remote_call,
                task.fn,
                shared.get(id(task.shared)),
                task.args,
                key=f"{label}-{task.name}-{run}",
                pure=False,
                retries=settings.retries,
                resources=dict(settings.resources) or None,
            ): task
            for task in tasks
        }
        logger.info(
            "Dask: %d scene(s) of %s submitted (%d retries each, resources %s).",
            len(futures), label, settings.retries, dict(settings.resources) or "none",
        )  # fmt: skip
        try:
            with tqdm(total=len(futures), desc=label, unit="scene") as bar:
                for future in as_completed(futures):
                    task = futures[future]
                    bar.update()
                    if future.status == "error":
                        failure = _failure(task, future.exception())
                        remote = getattr(failure.exception, "remote_traceback", "")
                        logger.debug("Scene %s failed on a worker:\n%s", task.name, remote)
                        yield task, failure
                    elif future.status == "finished":
                        yield task, future.result()
                    else:
                        raise ClusterTaskLostError(
                            f"The Dask cluster lost the task of scene {task.name} "
                            f"({task.source}): status {future.status!r}. Nothing is published; "
                            "finished scenes are kept and skipped by the next run."
                        )
                    future.release()
        finally:
            client.cancel([f for f in futures if not f.done()])
            for future in shared.values():
                future.release()


def run_tasks(
    tasks: Sequence[SceneTask], executor: ExecutorConfig | None = None, *, label: str = "scenes"
) -> Generator[tuple[SceneTask, Any], None, None]:
    """Run per-scene tasks with the configured executor, isolating failures.

    Args:
        tasks: The tasks (none: nothing is started, no cluster either).
        executor: Where they run (``None``: ``local``).
        label: What the tasks do, for the progress bar, the log and the task keys
            (letters, digits, ``_``).

    Yields:
        ``(task, result)`` or ``(task, TaskFailure)``: in task order with ``local``, as
        tasks finish with ``dask``. Closing the iterator early cancels the rest.

    Raises:
        ClusterTaskLostError: If the cluster loses a task without an error of the task.
        ClusterResourceError: If no worker offers ``dask.resources``.
    """
    executor = executor or ExecutorConfig()
    if not tasks:
        return
    if executor.distributed:
        yield from _run_dask(tasks, executor, label)
    else:
        yield from _run_local(tasks)
