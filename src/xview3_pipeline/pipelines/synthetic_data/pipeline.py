"""Pipeline ``synthetic_data``."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_synthetic_dataset, render_quicklooks


def create_pipeline(**kwargs: object) -> Pipeline:
    """Generate the synthetic dataset, then one quicklook per scene."""
    return Pipeline(
        [
            Node(
                func=generate_synthetic_dataset,
                inputs=["params:raw_root", "params:synthetic_data.generator"],
                outputs=["synthetic_manifest", "synthetic_test_truth", "synthetic_train_truth"],
                name="generate_synthetic_dataset_node",
            ),
            Node(
                func=render_quicklooks,
                inputs=[
                    "params:raw_root",
                    "synthetic_manifest",
                    "synthetic_test_truth",
                    "params:synthetic_data.quicklook",
                ],
                outputs="synthetic_quicklooks",
                name="render_quicklooks_node",
            ),
        ]
    )
