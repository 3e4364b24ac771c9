"""Pipeline ``tuning``: the tuning step of the CNN's evaluation.

Kept as a name for ``kedro run --pipelines tuning``: the ``tune`` node of
:mod:`xview3_pipeline.pipelines.evaluation` in the ``cnn`` namespace.
"""

from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.evaluation.pipeline import TUNE, evaluation_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Tune the CNN's thresholds on the private holdout (``cnn.best_thresholds``)."""
    return evaluation_steps("cnn", TUNE)
