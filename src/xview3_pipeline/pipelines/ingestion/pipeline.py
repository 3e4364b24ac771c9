"""Pipeline ``ingestion``."""

from kedro.pipeline import Node, Pipeline

from .nodes import index_scenes, validate_labels


def create_pipeline(**kwargs: object) -> Pipeline:
    """Index scenes, then validate labels against the index and save both together.

    The two nodes hand the index over in memory (it is saved only with the labels), so
    they share the namespace ``ingestion``: a deployment that runs one namespace per task
    (``kedro airflow create --group-by namespace``) keeps them together. Only the node
    names carry it (``ingestion.index_scenes_node``); datasets and parameters do not.
    """
    nodes = Pipeline(
        [
            Node(
                func=index_scenes,
                inputs=["params:raw_root", "params:ingestion"],
                outputs="indexed_scenes",
                name="index_scenes_node",
            ),
            Node(
                func=validate_labels,
                inputs=["params:raw_root", "indexed_scenes", "params:ingestion"],
                outputs=["scene_index", "labels", "label_rejects", "ingestion_report"],
                name="validate_labels_node",
            ),
        ]
    )
    return Pipeline(nodes, namespace="ingestion", prefix_datasets_with_namespace=False)
