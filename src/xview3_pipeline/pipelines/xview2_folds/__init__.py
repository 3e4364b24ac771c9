"""``xview2_folds``: cross-validation folds of the xView2 image pairs and their balance."""

from .pipeline import create_pipeline  # NOQA
