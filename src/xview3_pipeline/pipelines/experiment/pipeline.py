"""Pipeline ``experiment``: ``__default__`` without the shared stages.

``kedro run --env exp_raw_train --pipelines experiment`` runs one label-source experiment
on data that ingestion and locations have already prepared. Kedro imports only the
pipeline packages a command names, so this package builds the stages itself (from
:func:`xview3_pipeline.pipeline_registry.experiment_stages`) rather than relying on the
registry having found the others.
"""

import importlib

from kedro.pipeline import Pipeline

from xview3_pipeline.pipeline_registry import experiment_stages


def create_pipeline(**kwargs: object) -> Pipeline:
    """The default stages except ``ingestion`` and ``locations``, built from their packages."""
    return sum(
        (
            importlib.import_module(f"xview3_pipeline.pipelines.{name}").create_pipeline()
            for name in experiment_stages()
        ),
        Pipeline([]),
    )
