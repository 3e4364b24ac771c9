"""``ingestion``: index the scenes of the raw root and validate the labels."""

from .pipeline import create_pipeline  # NOQA
