"""Per-scene work on the local process or a Dask distributed cluster.

``ExecutorConfig.from_params(executor, dask)`` reads the ``executor`` parameter and the
``dask`` block; :func:`run_tasks` runs one :class:`SceneTask` per scene with it;
:func:`keep_clusters` / :func:`close_clusters` scope one cluster to a whole run.
``distributed`` is imported only when a stage really uses ``dask``.
"""

from xview3_pipeline.core.parallel.cluster import (
    ClusterResourceError,
    close_clusters,
    dask_client,
    keep_clusters,
)
from xview3_pipeline.core.parallel.config import EXECUTORS, DaskConfig, ExecutorConfig
from xview3_pipeline.core.parallel.tasks import (
    ClusterTaskLostError,
    RemoteTaskError,
    SceneTask,
    TaskFailure,
    run_tasks,
    table_task,
)

__all__ = [
    "EXECUTORS",
    "ClusterResourceError",
    "ClusterTaskLostError",
    "DaskConfig",
    "ExecutorConfig",
    "RemoteTaskError",
    "SceneTask",
    "TaskFailure",
    "close_clusters",
    "dask_client",
    "keep_clusters",
    "run_tasks",
    "table_task",
]
