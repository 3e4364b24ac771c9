"""``encoding``: heatmap label encoding of the training scenes and its round-trip check."""

from .pipeline import create_pipeline  # NOQA
