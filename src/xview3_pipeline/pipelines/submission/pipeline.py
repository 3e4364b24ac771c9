"""Pipeline ``submission``."""

from kedro.pipeline import Node, Pipeline

from .nodes import make_submission, report_scores


def create_pipeline(**kwargs: object) -> Pipeline:
    """Thresholds on test candidates, deliverables, and the score report."""
    return Pipeline(
        [
            Node(
                func=make_submission,
                inputs=["test_candidates", "best_thresholds"],
                outputs=["submission", "detections_geo", "detections_geojson", "test_detections"],
                name="make_submission_node",
            ),
            Node(
                func=report_scores,
                inputs={
                    "detections": "test_detections",
                    "candidates": "test_candidates",
                    "truth": "synthetic_test_truth",
                    "thresholds": "best_thresholds",
                    "raw_root": "params:raw_root",
                    "name": "params:submission.detector_name",
                },
                outputs=["test_score_report", "test_score_per_scene", "test_pr_curve"],
                name="report_test_scores_node",
            ),
        ]
    )
