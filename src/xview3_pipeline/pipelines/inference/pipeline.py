"""Pipeline ``inference``: the detection step of the CNN's evaluation.

Kept as a name for ``kedro run --pipelines inference``: the ensemble export, the CNN
detector, its holdout, test and out-of-fold candidates, the CV report and the failed
scenes (the ``detect`` nodes of :mod:`xview3_pipeline.pipelines.evaluation`).
"""

from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.evaluation.pipeline import DETECT, evaluation_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """Ensemble export and CNN detection (``cnn.*_candidates``, ``cnn.cv_scores``)."""
    return evaluation_steps("cnn", DETECT)
