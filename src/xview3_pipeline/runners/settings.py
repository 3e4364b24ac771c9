"""Where a distributed run goes: the runner's arguments, ``XVIEW3_DASK_ADDRESS``, the ``dask`` block.

Each setting is taken from the first of: the runner's argument (``kedro run --runner-params
key=value``), for the address the environment variable :data:`ADDRESS_ENV`, the ``dask``
block of the project's parameters (the block the per-scene stages' ``executor: dask``
reads too: ``address``, ``n_workers``, ``threads_per_worker``, ``resources``,
``dashboard_address``), then the default. ``retries`` comes from the runner's argument
only: the block's ``dask.retries`` retries scenes, whereas a task of the runner may be a
whole fold's training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xview3_pipeline.validation import ParameterError

#: Environment variable holding a Dask scheduler address (``tcp://host:8786``).
ADDRESS_ENV = "XVIEW3_DASK_ADDRESS"
#: What a GPU node's task asks of a worker, unless configured otherwise.
DEFAULT_GPU_RESOURCES: dict[str, float] = {"GPU": 1}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(name: str, value: object, source: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(f"{name}={value!r} (from {source}): expected an integer >= {minimum}.")
    return value


def _resources(value: object, source: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and _number(v) and v > 0 for k, v in value.items()
    ):
        raise ParameterError(
            f"dask.resources={value!r} (from {source}): expected a mapping of resource "
            "names to positive amounts, e.g. {GPU: 1}."
        )
    return {str(k): float(v) for k, v in value.items()}


@dataclass(frozen=True)
class DaskSettings:
    """The cluster of a run and what its tasks ask for.

    Attributes:
        address: Scheduler address; ``None`` for a ``LocalCluster`` of the runner's own.
        address_source: Where the address came from (for error messages).
        n_workers: Worker processes of the runner's ``LocalCluster`` (``None``: one per
            GPU, else one per CPU core).
        threads_per_worker: Threads of each of those workers.
        gpu_resources: Resources a task of GPU nodes asks for (``{"GPU": 1}``), applied
            only when a worker of the cluster declares them.
        retries: How often a failed task is tried again.
        dashboard_address: Dashboard of the runner's own cluster (``None``: none).
    """

    address: str | None = None
    address_source: str = "the default"
    n_workers: int | None = None
    threads_per_worker: int = 1
    gpu_resources: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GPU_RESOURCES))
    retries: int = 0
    dashboard_address: str | None = ":8787"

    @classmethod
    def resolve(cls, arguments: Mapping[str, Any], parameters: Mapping[str, Any]) -> DaskSettings:
        """Settings from the runner's arguments, the environment and the parameters.

        Args:
            arguments: The runner's arguments (``None`` values are unset).
            parameters: The run's parameters (the ``dask`` block is read, if any).

        Returns:
            The settings of the run.

        Raises:
            ParameterError: If a setting has a wrong type or value (naming it and its
                source).
        """
        block = parameters.get("dask") or {}
        if not isinstance(block, Mapping):
            raise ParameterError(f"dask={block!r}: expected a mapping (the dask block).")

        def pick(key: str) -> tuple[Any, str]:
            if arguments.get(key) is not None:
                return arguments[key], f"the runner argument {key}"
            if key == "address" and os.environ.get(ADDRESS_ENV):
                return os.environ[ADDRESS_ENV], f"the environment variable {ADDRESS_ENV}"
            if key == "retries":
                return None, "the default"
            return block.get(key), f"the parameter dask.{key}"

        address, address_source = pick("address")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ParameterError(
                f"address={address!r} (from {address_source}): expected a scheduler "
                "address such as tcp://10.0.0.5:8786."
            )
        n_workers, source = pick("n_workers")
        threads, threads_source = pick("threads_per_worker")
        resources, resources_source = pick("resources")
        retries, retries_source = pick("retries")
        dashboard = block.get("dashboard_address", ":8787")
        if dashboard is not None and not isinstance(dashboard, str):
            raise ParameterError(
                f"dask.dashboard_address={dashboard!r}: expected an address such as ':8787' "
                "or null (no dashboard)."
            )
        return cls(
            address=address.strip() if address else None,
            address_source=address_source if address else "the default",
            n_workers=None if n_workers is None else _count("n_workers", n_workers, source, 1),
            threads_per_worker=1
            if threads is None
            else _count("threads_per_worker", threads, threads_source, 1),
            # an empty mapping (no resources configured) keeps the default
            gpu_resources=_resources(resources, resources_source)
            if resources
            else dict(DEFAULT_GPU_RESOURCES),
            retries=0 if retries is None else _count("retries", retries, retries_source, 0),
            dashboard_address=dashboard,
        )
