"""``xview2_synthetic_data``: write a synthetic building-damage dataset in the xBD layout."""

from .pipeline import create_pipeline  # NOQA
