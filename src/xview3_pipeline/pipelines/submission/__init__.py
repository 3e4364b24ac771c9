"""``submission``: tuned thresholds applied to the test candidates; official CSV, GIS layers, score report."""

from .pipeline import create_pipeline  # NOQA
