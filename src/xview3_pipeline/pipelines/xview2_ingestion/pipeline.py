"""Pipeline ``xview2_ingestion``."""

from kedro.pipeline import Node, Pipeline

from .nodes import index_xview2_pairs, rasterize_xview2_targets


def create_pipeline(**kwargs: object) -> Pipeline:
    """Index and validate the xBD pairs, then rasterise their target masks."""
    return Pipeline(
        [
            Node(
                func=index_xview2_pairs,
                inputs=[
                    "params:xview2.raw_root",
                    "params:xview2.truth_root",
                    "params:xview2.ingestion",
                ],
                outputs=["xview2_pair_index", "xview2_label_rejects", "xview2_ingestion_report"],
                name="index_xview2_pairs_node",
            ),
            Node(
                func=rasterize_xview2_targets,
                inputs=[
                    "xview2_pair_index",
                    "params:xview2.raw_root",
                    "params:xview2.truth_root",
                    "params:xview2.ingestion",
                ],
                outputs="xview2_target_masks",
                name="rasterize_xview2_targets_node",
            ),
        ]
    )
