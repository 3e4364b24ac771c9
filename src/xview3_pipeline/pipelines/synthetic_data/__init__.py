"""``synthetic_data``: write a realistic synthetic dataset in the xView3 layout."""

from .pipeline import create_pipeline  # NOQA
