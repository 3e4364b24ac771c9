"""Nodes of the ``locations`` pipeline."""

from typing import Any

import geopandas as gpd
import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.locations import LocationConfig, cluster_locations, plot_locations


def cluster_scenes(scene_index: gpd.GeoDataFrame, parameters: dict[str, Any]) -> pd.DataFrame:
    """Group scenes into locations by footprint overlap or centroid distance.

    Args:
        scene_index: The scene index.
        parameters: Keys of ``LocationConfig`` (``parameters_locations.yml``).

    Returns:
        The scene -> location table.
    """
    return cluster_locations(scene_index, LocationConfig.from_dict(parameters))


def map_locations(scene_index: gpd.GeoDataFrame, scene_locations: pd.DataFrame) -> Figure:
    """Map of scene footprints coloured by location."""
    return plot_locations(scene_index, scene_locations)
