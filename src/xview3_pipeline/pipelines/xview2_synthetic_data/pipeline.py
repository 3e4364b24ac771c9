"""Pipeline ``xview2_synthetic_data``."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_xview2_synthetic_dataset


def create_pipeline(**kwargs: object) -> Pipeline:
    """Generate the synthetic xBD dataset and record its manifest and buildings."""
    return Pipeline(
        [
            Node(
                func=generate_xview2_synthetic_dataset,
                inputs=[
                    "params:xview2.raw_root",
                    "params:xview2.truth_root",
                    "params:xview2.synthetic",
                ],
                outputs=["xview2_synthetic_manifest", "xview2_synthetic_buildings"],
                name="generate_xview2_synthetic_dataset_node",
            ),
        ]
    )
