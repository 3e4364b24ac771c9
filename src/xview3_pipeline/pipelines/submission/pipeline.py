"""Pipeline ``submission``: the submission and report steps of the CNN's evaluation.

Kept as a name for ``kedro run --pipelines submission``: the ``submit`` nodes of
:mod:`xview3_pipeline.pipelines.evaluation` in the ``cnn`` namespace.
"""

from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.evaluation.pipeline import SUBMIT, evaluation_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Thresholds on the CNN's test candidates, deliverables, and the score report."""
    return evaluation_steps("cnn", SUBMIT)
