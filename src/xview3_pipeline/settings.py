"""Project settings for Kedro.

Parameters are deep-merged across environments, so ``conf/local/parameters.yml`` (or an
extra environment such as ``conf/xview3_full``) can override a single nested key without
restating the whole block. Before every run, :class:`~xview3_pipeline.hooks.RunSafetyHooks`
checks the parameter blocks the run uses and locks the project's data folder, and
:class:`~xview3_pipeline.hooks.DaskClusterHooks` closes the run's Dask cluster at its end.
"""

from kedro.config import OmegaConfigLoader

from xview3_pipeline.hooks import DaskClusterHooks, RunSafetyHooks

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}

#: Parameters are validated and the project's data folder is locked before every run; the
#: per-scene stages of a run with ``executor: dask`` share one cluster, closed at its end.
HOOKS = (RunSafetyHooks(), DaskClusterHooks())
