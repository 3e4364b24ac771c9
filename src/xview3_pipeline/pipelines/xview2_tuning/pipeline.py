"""Pipeline ``xview2_tuning``: per architecture, class weights fitted out of fold."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.xview2_structure import xview2_structure

from .nodes import fit_xview2_class_weights


def create_pipeline(**kwargs: object) -> Pipeline:
    """One class-weight fit per architecture (the winner's Nelder–Mead, or Optuna)."""
    return Pipeline(
        [
            Node(
                func=fit_xview2_class_weights,
                inputs=[
                    f"xview2.{a}.oof_probabilities",
                    "xview2_target_masks",
                    "xview2_pair_index",
                    "params:xview2.tuning",
                ],
                outputs=f"xview2.{a}.class_weights",
                name="fit_xview2_class_weights_node",
                namespace=f"xview2.{a}",
            )
            for a in xview2_structure().architectures
        ]
    )
