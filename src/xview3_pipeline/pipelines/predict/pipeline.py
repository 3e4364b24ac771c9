"""Pipeline ``predict``: ``kedro run --pipelines predict --params predict_root=DIR``."""

from kedro.pipeline import Node, Pipeline

from .nodes import predict_folder


def create_pipeline(**kwargs: object) -> Pipeline:
    """Detections on new scenes with the exported ensemble (or CFAR) and tuned thresholds."""
    return Pipeline(
        [
            Node(
                func=predict_folder,
                inputs={
                    "ensemble": "ensemble_model",
                    "thresholds": "best_thresholds",
                    "cfar_thresholds": "cfar_best_thresholds",
                    "predict_root": "params:predict_root",
                    "method": "params:predict_method",
                    "inference": "params:inference",
                    "cfar": "params:cfar",
                },
                outputs=["predictions", "predictions_geo"],
                name="predict_folder_node",
            )
        ]
    )
