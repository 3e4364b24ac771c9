"""``xview2_submission``: the official PNGs, the score reports, polygons and examples."""

from .pipeline import create_pipeline  # NOQA
