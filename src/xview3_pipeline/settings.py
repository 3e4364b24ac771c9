"""Project settings for Kedro.

Parameters are deep-merged across environments, so ``conf/local/parameters.yml`` (or an
extra environment such as ``conf/xview3_full``) can override a single nested key without
restating the whole block.
"""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}
