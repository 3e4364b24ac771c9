"""Dask clients: on a running scheduler, or on a ``LocalCluster`` built from the ``dask`` block.

:func:`dask_client` is what a stage uses: it yields a connected client and closes it at
the end (and the ``LocalCluster`` it started), also when the stage fails. ``distributed``
is imported only then: a run with the ``local`` executor never loads it. Inside
:func:`keep_clusters` (a Kedro run enters it for the whole run, through the project's
hooks) the connection is kept and reused by the next stage with the same settings, and
everything is closed when the scope ends; workers then also keep what they loaded once
(the exported ensemble) from one scene set to the next.

Paths travel as they are: a ``LocalCluster``'s workers share this process's working
directory, and workers of another cluster must see the same files at the same paths (a
shared file system), both the scenes and the output folders.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xview3_pipeline.core.parallel.config import DaskConfig

if TYPE_CHECKING:  # distributed is imported when a stage connects
    from distributed import Client, LocalCluster

__all__ = [
    "ClusterResourceError",
    "NestedClusterError",
    "close_clusters",
    "dask_client",
    "keep_clusters",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for the first worker of a cluster given by address.
WORKER_WAIT_S = 60.0


class ClusterResourceError(RuntimeError):
    """No worker of the cluster offers the resources a scene's task asks for."""


class NestedClusterError(RuntimeError):
    """A per-scene stage with ``executor: dask`` was started inside a Dask worker."""


def _check_not_in_worker() -> None:
    """Raise :class:`NestedClusterError` when called from a task on a Dask worker."""
    from distributed import get_worker  # noqa: PLC0415 (imported when a stage connects)

    try:
        worker = get_worker()
    except ValueError:  # not in a worker: the normal case
        return
    raise NestedClusterError(
        f"executor=dask was asked for inside the Dask worker {worker.address} (a node run by "
        "the DaskRunner): the two do not nest. Run the per-scene stages with "
        "--params executor=local under the DaskRunner, or with the sequential runner and "
        "executor=dask."
    )


@dataclass
class _Connection:
    client: Client
    cluster: LocalCluster | None
    address: str
    dashboard: str | None

    def alive(self) -> bool:
        return self.client.status == "running"

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _dashboard(client: Client, config: DaskConfig) -> str | None:
    """The dashboard's address; ``None`` for a ``LocalCluster`` built without one.

    (The scheduler's HTTP server runs also without the dashboard, so its ``services``
    cannot tell.)
    """
    if config.address is None and config.dashboard_address is None:
        return None
    services = client.scheduler_info(n_workers=0).get("services", {})
    return str(client.dashboard_link) if "dashboard" in services else None


def _check_resources(client: Client, config: DaskConfig, where: str) -> None:
    """Raise :class:`ClusterResourceError` when no worker has ``config.resources``."""
    if not config.resources:
        return
    workers = client.scheduler_info()["workers"].values()
    if not any(
        all(w.get("resources", {}).get(k, 0) >= v for k, v in config.resources.items())
        for w in workers
    ):
        offered = sorted({str(w.get("resources", {})) for w in workers})
        raise ClusterResourceError(
            f"dask.resources={dict(config.resources)} but no worker of {where} offers them "
            f"(workers offer {offered}); start workers with e.g. 'dask worker <scheduler> "
            "--resources GPU=1', or remove dask.resources."
        )


def _connect(config: DaskConfig) -> _Connection:
    """A client on ``config.address``, or on a new ``LocalCluster`` from the block."""
    from distributed import Client, LocalCluster  # noqa: PLC0415 (see the imports)

    if config.address is not None:
        client = Client(config.address)
        where, cluster = f"the cluster at {config.address}", None
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except Exception:
            client.close()
            raise
    else:
        cluster = LocalCluster(
            n_workers=config.n_workers,
            threads_per_worker=config.threads_per_worker,
            processes=True,
            dashboard_address=config.dashboard_address,
            resources=dict(config.resources) or None,
            silence_logs=logging.WARNING,
        )
        try:
            client, where = Client(cluster), "the LocalCluster"
        except Exception:
            cluster.close()
            raise
    address = config.address if cluster is None else cluster.scheduler_address
    connection = _Connection(client, cluster, str(address), None)
    try:
        connection.dashboard = _dashboard(client, config)
        _check_resources(client, config, where)
    except Exception:
        connection.close()
        raise
    workers = client.scheduler_info()["workers"]
    threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
    logger.info(
        "Dask: %s (%s), %d worker(s), %d thread(s); dashboard: %s",
        where,
        connection.address,
        len(workers),
        threads,
        connection.dashboard or "none",
    )
    return connection


class _Pool:
    """Connections kept open between stages, by settings."""

    def __init__(self) -> None:
        self.connections: dict[str, _Connection] = {}

    def get(self, config: DaskConfig) -> _Connection:
        key = json.dumps(config.to_dict(), sort_keys=True)
        connection = self.connections.get(key)
        if connection is None or not connection.alive():
            if connection is not None:
                logger.warning("Dask: the kept connection was lost; connecting again.")
                _close_quietly(connection)
            connection = self.connections[key] = _connect(config)
        else:
            logger.info(
                "Dask: reusing %s (dashboard: %s)",
                connection.address,
                connection.dashboard or "none",
            )
        return connection

    def close(self) -> None:
        while self.connections:
            _, connection = self.connections.popitem()
            _close_quietly(connection)


def _close_quietly(connection: _Connection) -> None:
    try:
        connection.close()
    except Exception as exc:  # closing must not hide the stage's own result or error
        logger.warning("Dask: closing a connection failed: %s: %s", type(exc).__name__, exc)


_LOCK = threading.Lock()
_POOL: _Pool | None = None


def keep_clusters() -> None:
    """From now on, keep connections (and ``LocalCluster`` s) open for the next stages.

    Call :func:`close_clusters` to end the scope (the project's Kedro hooks do both
    around every run).
    """
    global _POOL  # noqa: PLW0603 (one scope per process, shared by the runner's threads)
    with _LOCK:
        if _POOL is None:
            _POOL = _Pool()


def close_clusters() -> None:
    """Close every kept connection and ``LocalCluster``, and stop keeping new ones."""
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


@contextmanager
def dask_client(config: DaskConfig) -> Iterator[Client]:
    """A connected client for one stage.

    Args:
        config: The ``dask`` block.

    Yields:
        The client. Outside :func:`keep_clusters` it is closed at exit, with the
        ``LocalCluster`` it started; inside, it stays open for the next stage.

    Raises:
        ClusterResourceError: If no worker offers ``config.resources``.
        NestedClusterError: If called inside a Dask worker (a ``DaskRunner`` task).
        OSError, TimeoutError: If the scheduler at ``config.address`` cannot be reached
            or has no worker within :data:`WORKER_WAIT_S`.
    """
    _check_not_in_worker()
    with _LOCK:
        pool = _POOL
        connection = pool.get(config) if pool is not None else None
    if connection is not None:
        yield connection.client
        return
    connection = _connect(config)
    try:
        yield connection.client
    finally:
        _close_quietly(connection)
