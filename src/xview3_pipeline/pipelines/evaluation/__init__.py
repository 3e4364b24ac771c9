"""``evaluation``: detect → tune → submit → report, one template per detector (``cnn``, ``cfar``)."""

from .pipeline import create_pipeline  # NOQA
