"""``xview2_ingestion``: index the xBD image pairs, validate their labels, write target masks."""

from .pipeline import create_pipeline  # NOQA
