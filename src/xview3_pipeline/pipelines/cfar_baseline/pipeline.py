"""Pipeline ``cfar_baseline``: detect, tune on the holdout, submit and score like the model."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.submission.nodes import make_submission, report_scores
from xview3_pipeline.pipelines.tuning.nodes import tune

from .nodes import cfar_candidates


def create_pipeline(**kwargs: object) -> Pipeline:
    """CFAR candidates, thresholds tuned on the holdout, test submission and score report."""
    return Pipeline(
        [
            Node(
                func=cfar_candidates,
                inputs=[
                    "scene_index",
                    "fold_assignments",
                    "params:raw_root",
                    "params:cfar",
                    "params:inference_cache_dir",
                ],
                outputs=["cfar_holdout_candidates", "cfar_test_candidates"],
                name="cfar_candidates_node",
            ),
            Node(
                func=tune,
                inputs=[
                    "cfar_holdout_candidates",
                    "labels",
                    "params:raw_root",
                    "params:cfar_tuning",
                    "params:tuning_storage",
                ],
                outputs=[
                    "cfar_best_thresholds",
                    "cfar_tuning_trials",
                    "cfar_tuning_comparison",
                    "cfar_tuning_history_plot",
                    "cfar_tuning_slices_plot",
                    "cfar_tuning_grid_plot",
                ],
                name="cfar_tune_thresholds_node",
            ),
            Node(
                func=make_submission,
                inputs=["cfar_test_candidates", "cfar_best_thresholds"],
                outputs=[
                    "cfar_submission",
                    "cfar_detections_geo",
                    "cfar_detections_geojson",
                    "cfar_test_detections",
                ],
                name="cfar_make_submission_node",
            ),
            Node(
                func=report_scores,
                inputs={
                    "detections": "cfar_test_detections",
                    "candidates": "cfar_test_candidates",
                    "truth": "synthetic_test_truth",
                    "thresholds": "cfar_best_thresholds",
                    "raw_root": "params:raw_root",
                    "name": "params:cfar_detector_name",
                },
                outputs=["cfar_score_report", "cfar_score_per_scene", "cfar_pr_curve"],
                name="cfar_report_scores_node",
            ),
        ]
    )
