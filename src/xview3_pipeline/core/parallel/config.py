"""Where per-scene work runs: the ``executor`` parameter and the ``dask`` block beside it.

``executor: local`` runs the scenes of a stage one after the other in the Kedro process;
``executor: dask`` sends one task per scene to a Dask distributed cluster, the one at
``dask.address`` or, when no address is given, a ``LocalCluster`` of worker processes
built from the block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xview3_pipeline.core.config import check_keys

__all__ = ["EXECUTORS", "DaskConfig", "ExecutorConfig"]

#: Accepted values of ``executor``.
EXECUTORS: tuple[str, ...] = ("local", "dask")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class DaskConfig:
    """The ``dask`` parameter block.

    Attributes:
        address: Scheduler address (``tcp://host:8786``) of a running cluster; ``None``
            builds a ``LocalCluster`` of worker processes on this machine from the fields
            below, for the stage or (in a Kedro run) for the whole run.
        n_workers: Worker processes of the ``LocalCluster`` (``None``: Dask's choice from
            the CPU count). Ignored with an ``address``.
        threads_per_worker: Scenes a worker runs at the same time (``LocalCluster`` only).
            Dask sets ``OMP_NUM_THREADS=1`` in its workers, so on a CPU ``n_workers ×
            threads_per_worker`` is the number of busy cores.
        resources: Abstract resources each scene's task needs, e.g. ``{"GPU": 1}``: a
            worker runs a task only while it has them free (one scene per GPU at a
            time). The ``LocalCluster`` gives each of its workers these amounts; workers
            of an existing cluster declare theirs (``dask worker ... --resources GPU=1``).
        retries: Times a failing scene is tried again before it is reported as failed.
        dashboard_address: Where the ``LocalCluster`` serves its dashboard (``":8787"``;
            another free port is taken when that one is busy; ``None``: no dashboard).
    """

    address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    resources: Mapping[str, float] = field(default_factory=dict)
    retries: int = 1
    dashboard_address: str | None = ":8787"

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError("Invalid dask parameters: " + "; ".join(problems) + ".")
        object.__setattr__(self, "resources", {str(k): float(v) for k, v in self.resources.items()})

    def _problems(self) -> list[str]:
        problems = []
        address: object = self.address
        if address is not None and (not isinstance(address, str) or not address):
            problems.append(
                f"dask.address={address!r}: expected a scheduler address such as "
                "'tcp://scheduler:8786', or null for a LocalCluster"
            )
        if self.n_workers is not None and (not _is_int(self.n_workers) or self.n_workers < 1):
            problems.append(f"dask.n_workers={self.n_workers!r}: expected an integer >= 1 or null")
        if not _is_int(self.threads_per_worker) or self.threads_per_worker < 1:
            problems.append(
                f"dask.threads_per_worker={self.threads_per_worker!r}: expected an integer >= 1"
            )
        if not _is_int(self.retries) or self.retries < 0:
            problems.append(f"dask.retries={self.retries!r}: expected an integer >= 0")
        resources: object = self.resources  # as configured: any YAML value
        if not isinstance(resources, Mapping):
            problems.append(
                f"dask.resources={resources!r}: expected a mapping of resource names to "
                "amounts per scene, e.g. {GPU: 1}"
            )
        else:
            bad = {
                k: v
                for k, v in resources.items()
                if not isinstance(k, str)
                or isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or v <= 0
            }
            if bad:
                problems.append(
                    f"dask.resources has {bad}: expected names with positive amounts per "
                    "scene, e.g. {GPU: 1}"
                )
        dashboard: object = self.dashboard_address
        if dashboard is not None and not isinstance(dashboard, str):
            problems.append(
                f"dask.dashboard_address={dashboard!r}: expected ':port', 'host:port' or null"
            )
        return problems

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> DaskConfig:
        """Build from the ``dask`` parameter block, rejecting unknown keys.

        Raises:
            ValueError: On an unknown key or a bad value (named, with what is accepted).
        """
        if params is not None and not isinstance(params, Mapping):
            raise ValueError(f"dask={params!r}: expected a mapping of settings.")
        values = check_keys(cls, params, what="dask")
        if values.get("resources") is None:
            values.pop("resources", None)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping of the fields."""
        return {
            "address": self.address,
            "n_workers": self.n_workers,
            "threads_per_worker": self.threads_per_worker,
            "resources": dict(self.resources),
            "retries": self.retries,
            "dashboard_address": self.dashboard_address,
        }


@dataclass(frozen=True)
class ExecutorConfig:
    """Where a stage's scenes run.

    Attributes:
        executor: ``local`` (one after the other, in this process) or ``dask``.
        dask: The cluster settings (used with ``dask``).
    """

    executor: str = "local"
    dask: DaskConfig = field(default_factory=DaskConfig)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(
                f"executor={self.executor!r} is not accepted; expected one of {list(EXECUTORS)} "
                "(e.g. kedro run --params executor=dask,dask.n_workers=4)."
            )

    @property
    def distributed(self) -> bool:
        """Whether scenes go to a Dask cluster."""
        return self.executor == "dask"

    @classmethod
    def from_params(
        cls, executor: str | None, dask: Mapping[str, Any] | None = None
    ) -> ExecutorConfig:
        """Build from the ``executor`` parameter and the ``dask`` block.

        Args:
            executor: ``local``, ``dask`` or ``None`` (``local``).
            dask: The ``dask`` block (``None``: defaults).

        Raises:
            ValueError: On an unknown executor or a bad ``dask`` value.
        """
        return cls(
            executor="local" if executor is None else executor, dask=DaskConfig.from_dict(dask)
        )
