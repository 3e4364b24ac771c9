"""Pipeline ``cfar_baseline``: the whole evaluation of the CFAR detector.

Kept as a name for ``kedro run --pipelines cfar_baseline``: the ``cfar`` namespace of
:mod:`xview3_pipeline.pipelines.evaluation` (detect, tune, submit, report).
"""

from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.evaluation.pipeline import evaluation_steps


def create_pipeline(**kwargs: object) -> Pipeline:
    """CFAR candidates, thresholds tuned on the holdout, test submission and score report."""
    return evaluation_steps("cfar")
