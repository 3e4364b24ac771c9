"""Pipeline ``encoding``."""

from kedro.pipeline import Node, Pipeline

from .nodes import encode_training_scenes, roundtrip_report, target_previews


def create_pipeline(**kwargs: object) -> Pipeline:
    """Encoded object tables, the round-trip F1 table and target previews."""
    return Pipeline(
        [
            Node(
                func=encode_training_scenes,
                inputs=["labels", "scene_index", "fold_assignments", "params:training.coder"],
                outputs="encoded_objects",
                name="encode_training_scenes_node",
            ),
            Node(
                func=roundtrip_report,
                inputs=["labels", "scene_index", "params:training.coder", "params:encoding"],
                outputs="encoding_roundtrip_f1",
                name="roundtrip_report_node",
            ),
            Node(
                func=target_previews,
                inputs={
                    "labels": "labels",
                    "scene_index": "scene_index",
                    "fold_assignments": "fold_assignments",
                    "coder": "params:training.coder",
                    "parameters": "params:encoding",
                    "raw_root": "params:raw_root",
                },
                outputs="encoding_previews",
                name="target_previews_node",
            ),
        ]
    )
