"""``locations``: cluster scenes into geographic locations."""

from .pipeline import create_pipeline  # NOQA
