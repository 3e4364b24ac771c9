"""``cfar_baseline``: a classical CFAR ship detector, tuned and scored like the learned model."""

from .pipeline import create_pipeline  # NOQA
