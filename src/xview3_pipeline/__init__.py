"""xview3_pipeline: dark-vessel detection in Sentinel-1 SAR scenes as a Kedro project."""

__version__ = "0.1.0"
