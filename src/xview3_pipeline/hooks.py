"""Project hooks: check the parameters and lock the data folder before a run starts.

:class:`RunSafetyHooks` runs before the first node of every ``kedro run`` (and every
``KedroSession.run``):

1. it validates every parameter block the run's pipeline uses
   (:func:`xview3_pipeline.validation.validate_parameters`), so a bad ``inference.*`` value
   stops a full run before the folds train, not after; and the holdout size against the
   scene table when that table is an input of the run that already exists;
2. it takes the project's run lock (:class:`xview3_pipeline.run_lock.RunLock` on
   ``data/``), so a second run in the same project waits (``run_lock.wait_s``) or stops
   with a message naming the holder instead of corrupting the catalog.

The lock is released when the run ends, successfully or not.

:class:`DaskClusterHooks` scopes Dask connections to the run: the per-scene stages of one
run (``executor: dask``) share one client and, without ``dask.address``, one
``LocalCluster``, which is closed when the run ends, successfully or not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from xview3_pipeline.core.parallel import close_clusters, keep_clusters
from xview3_pipeline.pipelines.structure import check_fold_count, check_label_sources
from xview3_pipeline.run_lock import LockHolder, RunLock
from xview3_pipeline.validation import ParameterError, check_holdout_size, validate_parameters

logger = logging.getLogger(__name__)

_PARAMS = "params:"
#: A dataset of an xView3 fold namespace (``fold_2.model``, ``b4_unet_s2.fold_0.model``);
#: the xView2 namespaces (``xview2.<architecture>.fold_k``) are checked by their own nodes.
_FOLD_DATASET = re.compile(r"^(?!xview2\.)(.*\.)?fold_\d+\.")


def parameter_blocks(pipeline: Pipeline) -> set[str]:
    """Top-level parameter names a pipeline reads (``params:training.coder`` → ``training``)."""
    return {
        name[len(_PARAMS) :].split(".", 1)[0]
        for name in pipeline.all_inputs()
        if name.startswith(_PARAMS)
    }


def _lock_settings(parameters: Mapping[str, Any]) -> tuple[float, float]:
    settings = parameters.get("run_lock") or {}
    if not isinstance(settings, Mapping) or set(settings) - {"wait_s", "poll_s"}:
        raise ParameterError(
            f"run_lock={settings!r}: expected a mapping with keys wait_s and poll_s (seconds)."
        )
    wait, poll = settings.get("wait_s", 0.0), settings.get("poll_s", 0.5)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (wait, poll))
    if not numbers or wait < 0 or poll <= 0:
        raise ParameterError(
            f"run_lock.wait_s={wait!r} and run_lock.poll_s={poll!r}: expected seconds, "
            "wait_s >= 0 and poll_s > 0."
        )
    return float(wait), float(poll)


class RunSafetyHooks:
    """Validate parameters and hold the project's run lock for the length of a run."""

    def __init__(self) -> None:
        self._locks: dict[str, RunLock] = {}

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Check the parameters the pipeline uses, then take the run lock.

        Raises:
            ParameterError: On a bad parameter (nothing has run, no lock is taken).
            RunLockError: If another run holds the project's data folder.
        """
        parameters: Mapping[str, Any] = catalog.load("parameters")
        checked = validate_parameters(parameters, parameter_blocks(pipeline))
        if any(_FOLD_DATASET.search(name) for name in pipeline.datasets()):
            # The fold namespaces were built when the registry was; a run whose
            # folds.n_folds differs would train or ensemble the wrong folds, and one whose
            # train_cleaned label source differs would train on the wrong train labels.
            check_fold_count(parameters)
            check_label_sources(parameters)
        self._check_holdout(pipeline, catalog, parameters)
        logger.info("Parameters checked before the run: %s.", ", ".join(checked) or "none")
        wait_s, poll_s = _lock_settings(parameters)
        holder = LockHolder.this_process(
            run_id=str(run_params.get("run_id") or ""),
            pipelines=list(run_params.get("pipeline_names") or []),
        )
        lock = RunLock(
            Path(run_params["project_path"]) / "data", holder, wait_s=wait_s, poll_s=poll_s
        )
        lock.acquire()
        self._locks[holder.run_id] = lock

    @staticmethod
    def _check_holdout(pipeline: Pipeline, catalog: Any, parameters: Mapping[str, Any]) -> None:
        """The holdout size, when the run splits folds from an existing scene table."""
        inputs = pipeline.inputs()
        if "params:folds" not in inputs or "scene_locations" not in inputs:
            return
        if catalog.exists("scene_locations"):
            check_holdout_size(catalog.load("scene_locations"), parameters.get("folds") or {})

    def _release(self, run_params: dict[str, Any]) -> None:
        lock = self._locks.pop(str(run_params.get("run_id") or ""), None)
        if lock is not None:
            lock.release()

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Release the run lock."""
        self._release(run_params)

    @hook_impl
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        """Release the run lock of a failed run."""
        self._release(run_params)


class DaskClusterHooks:
    """One Dask client (and ``LocalCluster``) for all per-scene stages of a run."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Keep the connections the stages open until the run ends."""
        keep_clusters()

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Close the run's connections and ``LocalCluster``."""
        close_clusters()

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Close them after a failed run too."""
        close_clusters()
