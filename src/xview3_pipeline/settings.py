"""Project settings for Kedro.

Parameters are deep-merged across environments, so ``conf/local/parameters.yml`` (or an
extra environment such as ``conf/xview3_full``) can override a single nested key without
restating the whole block. Before every run, :class:`~xview3_pipeline.hooks.RunSafetyHooks`
checks the parameter blocks the run uses and locks the project's data folder,
:class:`~xview3_pipeline.hooks.DaskClusterHooks` closes the run's Dask cluster at its end,
and :class:`~xview3_pipeline.tracking.ExperimentTracking` records the run in MLflow
(``conf/base/mlflow.yml``; ``XVIEW3_TRACKING=0`` turns it off).
"""

from kedro.config import OmegaConfigLoader

from xview3_pipeline.hooks import DaskClusterHooks, RunSafetyHooks
from xview3_pipeline.tracking import ExperimentTracking

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}

#: Parameters are validated and the project's data folder is locked before every run; the
#: per-scene stages of a run with ``executor: dask`` share one cluster, closed at its end;
#: the run is tracked in MLflow.
HOOKS = (RunSafetyHooks(), DaskClusterHooks(), ExperimentTracking())

#: kedro-mlflow's hook runs inside ExperimentTracking, in the Kedro process only (its own
#: node hook would log from Dask workers, where no MLflow run is active).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
