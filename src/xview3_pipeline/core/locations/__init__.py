"""Scenes clustered into geographic locations (:mod:`.clustering`) and their map (:mod:`.plots`)."""

from xview3_pipeline.core.locations.clustering import (
    EARTH_RADIUS_KM,
    EQUAL_AREA_CRS,
    LOCATION_COLUMNS,
    LocationConfig,
    cluster_locations,
)
from xview3_pipeline.core.locations.plots import plot_locations

__all__ = (
    "EARTH_RADIUS_KM",
    "EQUAL_AREA_CRS",
    "LOCATION_COLUMNS",
    "LocationConfig",
    "cluster_locations",
    "plot_locations",
)
