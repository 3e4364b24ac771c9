"""Kedro runners of the project: :class:`DaskRunner` runs nodes as tasks on Dask distributed.

``kedro run --runner xview3_pipeline.runners.DaskRunner --pipelines training``
"""

from xview3_pipeline.runners.dask_runner import DaskRunner, NodeFailedError, TaskReport
from xview3_pipeline.runners.groups import MemoryChannelError, NodeGroup
from xview3_pipeline.runners.settings import ADDRESS_ENV, DaskSettings

__all__ = [
    "ADDRESS_ENV",
    "DaskRunner",
    "DaskSettings",
    "MemoryChannelError",
    "NodeFailedError",
    "NodeGroup",
    "TaskReport",
]
