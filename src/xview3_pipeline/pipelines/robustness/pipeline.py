"""Pipeline ``robustness``: the comparison step of the evaluation.

``kedro run --pipelines robustness`` after ``submission`` and ``cfar_baseline``: the
``compare`` node of :mod:`xview3_pipeline.pipelines.evaluation`, reading both
``{detector}.test_score_report`` entries.
"""

from kedro.pipeline import Pipeline

from xview3_pipeline.pipelines.evaluation.pipeline import robustness_pipeline


def create_pipeline(**kwargs: object) -> Pipeline:
    """``robustness_report`` and ``robustness_plot`` from the two test score reports."""
    return robustness_pipeline()
