"""Pipeline ``tuning``."""

from kedro.pipeline import Node, Pipeline

from .nodes import tune


def create_pipeline(**kwargs: object) -> Pipeline:
    """Tune thresholds on the private holdout."""
    return Pipeline(
        [
            Node(
                func=tune,
                inputs=[
                    "holdout_candidates",
                    "labels",
                    "params:raw_root",
                    "params:tuning",
                    "params:tuning_storage",
                ],
                outputs=[
                    "best_thresholds",
                    "tuning_trials",
                    "tuning_comparison",
                    "tuning_history_plot",
                    "tuning_slices_plot",
                    "tuning_grid_plot",
                ],
                name="tune_thresholds_node",
            )
        ]
    )
