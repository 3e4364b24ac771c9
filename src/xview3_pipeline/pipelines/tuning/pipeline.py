"""Pipeline ``tuning``: the tuning step of the CNN's evaluation.

Kept as a name for ``kedro run --pipelines tuning``: the ``tune`` node of
:mod:`xview3_pipeline.pipelines.evaluation` in the ``cnn`` namespace.
"""

from kedro.pipeline import Pipeline


def create_pipeline(**kwargs: object) -> Pipeline:
    """Tune the CNN's thresholds on the private holdout (``cnn.best_thresholds``)."""
    # Imported here: the evaluation nodes import this package's nodes (``tune``), and
    # importing the package runs this module first.
    from xview3_pipeline.pipelines.evaluation.pipeline import (  # noqa: PLC0415
        TUNE,
        evaluation_steps,
    )

    return evaluation_steps("cnn", TUNE)
