"""Pipeline ``training_ensemble``: the fold template per architecture and fold.

A folder of its own, because Kedro imports only the requested pipeline folders for
``kedro run --pipelines training_ensemble``; the namespaces (``<preset>.fold_k``) are
built by :func:`xview3_pipeline.pipelines.training.pipeline.create_ensemble_pipeline`.
"""

from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.training.pipeline import create_ensemble_pipeline


def create_pipeline(**kwargs: object) -> Pipeline:
    """One namespaced copy of the fold template per architecture and fold."""
    return create_ensemble_pipeline()
