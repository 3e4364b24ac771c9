"""``xview2_inference``: out-of-fold and test probabilities of every architecture."""

from .pipeline import create_pipeline  # NOQA
