"""Pipeline ``locations``."""

from kedro.pipeline import Node, Pipeline

from .nodes import cluster_scenes, map_locations


def create_pipeline(**kwargs: object) -> Pipeline:
    """Cluster scenes into locations and draw the map."""
    return Pipeline(
        [
            Node(
                func=cluster_scenes,
                inputs=["scene_index", "params:locations"],
                outputs="scene_locations",
                name="cluster_scenes_node",
            ),
            Node(
                func=map_locations,
                inputs=["scene_index", "scene_locations"],
                outputs="locations_map",
                name="map_locations_node",
            ),
        ]
    )
