"""Pipeline ``folds``."""

from kedro.pipeline import Node, Pipeline

from .nodes import report_balance, split_folds


def create_pipeline(**kwargs: object) -> Pipeline:
    """Split folds and report their balance."""
    return Pipeline(
        [
            Node(
                func=split_folds,
                inputs=["labels", "scene_locations", "params:folds"],
                outputs="fold_assignments",
                name="split_folds_node",
            ),
            Node(
                func=report_balance,
                inputs=["fold_assignments", "labels", "scene_locations"],
                outputs=["fold_balance", "fold_balance_plot"],
                name="report_balance_node",
            ),
        ]
    )
