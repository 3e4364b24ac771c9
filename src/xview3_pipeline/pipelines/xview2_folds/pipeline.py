"""Pipeline ``xview2_folds``."""

from kedro.pipeline import Node, Pipeline

from .nodes import report_xview2_fold_balance, split_xview2_folds


def create_pipeline(**kwargs: object) -> Pipeline:
    """Split the xView2 pairs into folds and report their balance."""
    return Pipeline(
        [
            Node(
                func=split_xview2_folds,
                inputs=["xview2_pair_index", "params:xview2.folds"],
                outputs="xview2_fold_assignments",
                name="split_xview2_folds_node",
            ),
            Node(
                func=report_xview2_fold_balance,
                inputs=["xview2_fold_assignments", "xview2_pair_index"],
                outputs=["xview2_fold_balance", "xview2_fold_balance_plot"],
                name="report_xview2_fold_balance_node",
            ),
        ]
    )
